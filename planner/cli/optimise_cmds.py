"""``planner optimise``: the co-location and disposal plan (../shared/spec/model.md, version 1)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from planner.cli import app
from planner.errors import PlannerError, ValidationError


@app.command("optimise")
def optimise_cmd(
    scenario: Annotated[Path, typer.Option("--scenario", help="Scenario TOML (model.md keys).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the outputs (created; existing outputs are never overwritten).")],
    sites: Annotated[Path | None, typer.Option("--sites", help="Sites CSV with the spec's column names.")] = None,
    services: Annotated[Path | None, typer.Option("--services", help="Services CSV with the spec's column names.")] = None,
    zones: Annotated[Path | None, typer.Option("--zones", help="Demand zones CSV: zone_id, population, easting, northing.")] = None,
    pair_costs: Annotated[Path | None, typer.Option("--pair-costs", help="Pair costs CSV: service_id, site_id, one_off_gbp, annual_gbp, allowed.")] = None,
    register: Annotated[Path | None, typer.Option("--register", help="A register GeoPackage instead of --sites/--services/--zones.")] = None,
    solver: Annotated[str, typer.Option("--solver", help="highs (default), cbc, or highs-pulp (the PuLP model on HiGHS).")] = "highs",
    time_limit_s: Annotated[float | None, typer.Option("--time-limit-s", help="Stop after this many seconds with the best plan found and its gap.")] = None,
    gap: Annotated[float, typer.Option("--gap", help="Relative optimality gap at which to stop (0.01 = 1%).")] = 1e-9,
    threads: Annotated[int | None, typer.Option("--threads", help="Solver threads.")] = None,
    no_split: Annotated[bool, typer.Option("--no-split", help="Solve as one model instead of independent parts.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the status line.")] = False,
) -> None:
    """Find the plan with the highest net present value, explain it, and write summary.json,
    site_decisions.csv, placements.csv, totals.csv and explanations.md into OUT."""
    from planner.model import SOLVERS, SolveOptions
    from planner.optimise import optimise

    console = Console()
    err = Console(stderr=True)
    if solver not in SOLVERS:
        err.print(f"[red]error:[/red] --solver must be one of {', '.join(SOLVERS)}, not {escape(repr(solver))}")
        raise typer.Exit(2)
    if register is None and (sites is None or services is None):
        err.print("[red]error:[/red] give --sites and --services (CSV files), or --register REGISTER.gpkg")
        raise typer.Exit(2)
    if register is not None and (sites is not None or services is not None or zones is not None):
        err.print("[red]error:[/red] give either --register or --sites/--services/--zones, not both")
        raise typer.Exit(2)
    previous_sigterm = _sigterm_as_interrupt()
    try:
        options = SolveOptions(solver=solver, time_limit_s=time_limit_s, mip_rel_gap=gap, threads=threads)
        with _Commentary(err, live=not quiet and err.is_terminal) as commentary:
            plan = optimise(sites=None if sites is None else str(sites),
                            services=None if services is None else str(services),
                            scenario=str(scenario), zones=None if zones is None else str(zones),
                            pair_costs=None if pair_costs is None else str(pair_costs),
                            register=None if register is None else str(register), options=options, out_dir=out,
                            decompose=not no_split, progress=commentary.stage, tick=commentary.tick)
    except ValidationError as exc:
        if exc.report is not None:
            exc.report.render(err, title="The input cannot be used")
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except PlannerError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:
        # the solve stops within a second or two of Ctrl-C or SIGTERM
        # (planner.optimise.solve_instance); summary.json is written last, so without it OUT
        # holds no complete plan
        word = "terminated" if isinstance(exc, _Terminated) else "interrupted"
        if (out / "summary.json").exists():
            err.print(f"[yellow]{word}[/yellow] after the outputs were written to {escape(str(out))}")
        else:
            err.print(f"[yellow]{word}:[/yellow] the run was stopped before its plan was complete; "
                      f"no plan was written to {escape(str(out))}")
        raise typer.Exit(143 if isinstance(exc, _Terminated) else 130) from None
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
    colour = {"optimal": "green", "feasible": "yellow"}.get(plan.status, "red")
    line = f"[{colour}]{plan.status}[/{colour}]"
    if plan.npv_gbp is not None:
        line += f"  NPV £{plan.npv_gbp:,.0f}  bound £{plan.bound_gbp:,.0f}  gap {plan.gap:.2e}" \
            if plan.bound_gbp is not None else f"  NPV £{plan.npv_gbp:,.0f}"
    line += f"  ({plan.solve_seconds:.1f} s, {plan.solver}, {plan.n_parts} parts)"
    console.print(line)
    if not quiet:
        if plan.message and not plan.findings and plan.message != "time limit reached":
            console.print(f"  - {escape(plan.message)}")  # why there is no plan, or where the plan is from
        if plan.findings:
            for f in plan.findings:
                console.print(f"  - {escape('[' + f.rule + ']')} {escape(f.message)}")
        elif plan.totals is not None:
            o = plan.totals.iloc[0]
            console.print(f"  {int(o.sites_disposed)} sites disposed, receipts £{o.gross_capital_receipts_gbp:,.0f}, "
                          f"running costs saved £{o.running_cost_saving_gbp_per_year:,.0f} a year, one-off spend "
                          f"£{o.one_off_spend_gbp:,.0f}, {o.floor_area_released_m2:,.0f} m2 released")
        console.print(f"  outputs in {escape(str(out))}")


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``kill``, a scheduler cancelling the job), taken as Ctrl-C is: the
    solve's HiGHS runs and searches stop and CBC's process is ended (Python's own default would
    end the planner at once and leave a CBC running to its end), nothing is written; exit 143."""


def _on_sigterm(_signum, _frame) -> None:
    raise _Terminated()


def _sigterm_as_interrupt():
    """Take SIGTERM as ``_Terminated`` for the length of the command; returns the handler to put
    back (None where signals cannot be set: not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


class _Commentary:
    """On a terminal, a live line on stderr while ``planner optimise`` runs: the stage (reading,
    building, solving (with the time limit), explaining, writing) and, while the solver runs,
    the seconds so far; it goes when the run ends. Elsewhere (a pipe, a log, --quiet) it
    prints nothing, so that scripts read only the result."""

    def __init__(self, err: Console, live: bool) -> None:
        self.err, self.live = err, live
        self.status = None
        self.message = ""
        self.since = 0.0

    def __enter__(self) -> _Commentary:
        if self.live:
            self.status = self.err.status("Starting...")
            self.status.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)

    def stage(self, message: str) -> None:
        self.message = message.rstrip(".")
        self.since = time.monotonic()
        if self.status is not None:
            self.status.update(escape(self.message) + "...")

    def tick(self) -> None:
        if self.status is not None:
            seconds = time.monotonic() - self.since
            self.status.update(f"{escape(self.message)}: {seconds:,.0f} s so far")
