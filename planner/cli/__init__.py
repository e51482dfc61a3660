"""The ``planner`` command line (typer + rich). Each group of commands lives in its own module
and registers itself on ``app`` here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="planner",
    help="Total Place planner: the public estate of one place on one map, scored and optimised.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from planner.cli import register_cmds  # noqa: F401

    for optional in ("optimise_cmds", "score_cmds", "finance_cmds"):
        try:
            __import__(f"planner.cli.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"planner.cli.{optional}":
                raise


def main() -> None:
    _register_commands()
    app()
