"""The ``planner`` command line (typer + rich). Each group of commands lives in its own module
and registers itself on ``app`` here."""

from __future__ import annotations

import inspect

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
    _one_line_listing(app)


def _one_line_listing(group: typer.Typer) -> None:
    """Give every command of ``group`` (and of its sub-groups) the first paragraph of its
    docstring as one line for the commands' list of ``--help``: Typer keeps the docstring's own
    line breaks there, which broke the list's sentences mid-line (its own ``--help`` reflows)."""
    for info in group.registered_commands:
        doc = inspect.getdoc(info.callback) if info.callback is not None else None
        if info.short_help is None and info.help is None and doc:
            info.short_help = " ".join(doc.split("\n\n")[0].split())
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _one_line_listing(sub.typer_instance)


def main() -> None:
    _register_commands()
    app()
