"""Scoring commands: ``planner score`` and ``planner count``.

Exit codes: 0 done; 2 the command could not be carried out (no register, a bad weights file,
an output that already exists, a bad option). A problem that stops a command is one line
``error: ...`` on stderr, never a traceback. Output files are written atomically and never
overwritten unless ``--force`` is given; the register itself is only changed by
``--write-layer``, which replaces its ``scores`` layer atomically.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from planner.cli import app
from planner.errors import PlannerError

_REGISTER_HELP = "The register (default: $PLANNER_REGISTER or data/trafford.gpkg)."
_FORCE_HELP = "Overwrite existing output files (by default the command refuses)."
AREA_LEVELS = ("ward", "lsoa", "locality")


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, soft_wrap=False, width=160)
    return console


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {message}", markup=False)
    return typer.Exit(code)


def _check_output(path: Path | None, force: bool, option: str) -> None:
    if path is None:
        return
    if path.exists() and path.is_dir():
        raise _fail(f"{path} is a folder. Fix: give a file name for {option}.")
    if path.exists() and not force:
        raise _fail(f"{path} already exists; it was not overwritten. Fix: give another {option} file name, "
                    "or add --force to replace it.")


def _load(register: Path | None):
    from planner.register import Register, default_register_path

    path = register or default_register_path()
    try:
        return path, Register.load(path)
    except PlannerError as exc:
        raise _fail(str(exc)) from None


def _zones_with_population(reg):
    zones = reg.zones
    if "in_analysis" in zones.columns:
        zones = zones[zones["in_analysis"].astype("boolean").fillna(True).astype(bool)]
    if len(zones) == 0 or not zones["population"].notna().any():
        return None
    return zones


def _write_csv(frame, path: Path) -> None:
    from planner.problems import write_text_atomic

    write_text_atomic(path, frame.to_csv(index=False))


@app.command("score")
def score_cmd(
    register: Annotated[Path | None, typer.Argument(help=_REGISTER_HELP, show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the scores (one row per site) to this CSV file.",
                                             show_default=False)] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="TOML file overriding the default weights and "
                                                 "thresholds (see planner/weights.toml).", show_default=False)] = None,
    max_distance_m: Annotated[float | None, typer.Option("--max-distance-m", help="Co-location candidates: other "
                              "agencies' sites within this distance in metres (default 1000, from the weights).",
                              show_default=False)] = None,
    hub_distance_m: Annotated[float | None, typer.Option("--hub-distance-m", help="Hubs: sites chained within this "
                              "walking distance in metres (default 400, from the weights).", show_default=False)] = None,
    candidates_out: Annotated[Path | None, typer.Option("--candidates", help="Also write every co-location candidate "
                              "pair to this CSV file.", show_default=False)] = None,
    hubs_out: Annotated[Path | None, typer.Option("--hubs", help="Also write the hubs (one row each) to this CSV file.",
                                                  show_default=False)] = None,
    write_layer: Annotated[bool, typer.Option("--write-layer", help="Also write the scores as a 'scores' layer of the "
                                              "register (replacing an earlier one; atomic).")] = False,
    today: Annotated[str | None, typer.Option("--today", help="Count lease events from this date (YYYY-MM-DD; "
                                              "default: today).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help=_FORCE_HELP)] = False,
) -> None:
    """Score every site of a register: occupancy, costs, backlog, condition, lease events, a
    0-100 opportunity score and a recommendation (retain, share, review for disposal) with
    its reasons; co-location candidates and multi-agency hubs."""
    from planner import candidates as cand
    from planner.scoring import load_weights, score_sites, scores_layer, write_layer_atomic

    if out is None and not write_layer:
        raise _fail("nothing to write. Fix: add --out scores.csv and/or --write-layer.")
    for path, option in ((out, "--out"), (candidates_out, "--candidates"), (hubs_out, "--hubs")):
        _check_output(path, force, option)
    for value, option in ((max_distance_m, "--max-distance-m"), (hub_distance_m, "--hub-distance-m")):
        if value is not None and not value > 0:
            raise _fail(f"{option} {value:g} must be above 0 metres.")
    try:
        day = dt.date.fromisoformat(today) if today else None
    except ValueError:
        raise _fail(f"--today {today!r} is not a date. Fix: write it as YYYY-MM-DD.") from None
    try:
        cfg = load_weights(weights)
    except PlannerError as exc:
        raise _fail(str(exc)) from None
    path, reg = _load(register)
    sites = reg.sites
    areas = reg.boundaries if len(reg.boundaries) else None
    try:
        scores = score_sites(sites, reg.services, weights=cfg, today=day, max_distance_m=max_distance_m,
                             hub_distance_m=hub_distance_m, areas=areas)
    except PlannerError as exc:
        raise _fail(str(exc)) from None
    console = _console()
    max_d = float(max_distance_m or cfg["candidates"]["max_distance_m"])
    hub_d = float(hub_distance_m or cfg["candidates"]["hub_distance_m"])

    t = Table(title=f"Recommendations: {path}")
    t.add_column("recommendation")
    t.add_column("sites", justify="right")
    for name in ("retain", "share", "review for disposal", "not a building", "check data"):
        k = int((scores["recommendation"] == name).sum())
        t.add_row(name, f"{k:,}")
    console.print(t)
    n_cand = int((scores.get("candidate_count", 0) > 0).sum()) if "candidate_count" in scores else 0
    n_hubs = scores["hub_id"].dropna().nunique() if "hub_id" in scores else 0
    console.print(f"{n_cand:,} sites have a co-location candidate (another agency's site within {max_d:,.0f} m "
                  f"with spare space); {n_hubs:,} hubs of several agencies within {hub_d:,.0f} m.", markup=False)

    if out is not None:
        _write_csv(scores, out)
        console.print(f"Wrote {len(scores):,} scored sites to {out}", markup=False)
    if candidates_out is not None or hubs_out is not None:
        if candidates_out is not None:
            spare = scores["vacant_m2"].where(scores["recommendation"].isin(["retain", "share"]))
            pairs = cand.colocation_candidates(sites, spare_m2=spare, space_used_m2=scores["space_used_m2"],
                                               max_distance_m=max_d, min_spare_m2=float(cfg["candidates"]["min_spare_m2"]))
            _write_csv(pairs, candidates_out)
            console.print(f"Wrote {len(pairs):,} candidate pairs to {candidates_out}", markup=False)
        if hubs_out is not None:
            _, table = cand.hubs(sites, hub_d, int(cfg["candidates"]["hub_min_agencies"]))
            _write_csv(table, hubs_out)
            console.print(f"Wrote {len(table):,} hubs to {hubs_out}", markup=False)
    if write_layer:
        try:
            write_layer_atomic(path, "scores", scores_layer(scores, sites))
        except OSError as exc:
            raise _fail(f"{path}: could not write the scores layer ({exc}); the register is unchanged.") from None
        console.print(f"Wrote the 'scores' layer into {path}", markup=False)


_COUNT_COLUMNS = [
    ("sites", "sites", "int"), ("buildings", "buildings", "int"), ("gia_m2", "floor area m2", "num"),
    ("vacant_m2", "vacant m2", "num"), ("running_cost_gbp", "running cost £/yr", "num"),
    ("backlog_gbp", "backlog £", "num"), ("residents", "residents", "num"),
    ("cost_per_resident_gbp", "£ per resident", "rate"),
    ("gia_m2_per_1000_residents", "m2 per 1,000 residents", "num"),
    ("unlocated", "unlocated", "int"), ("excluded", "excluded", "int"),
]


def _fmt(v, how: str) -> str:
    import pandas as pd

    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return "-"
    if how == "int":
        return f"{int(v):,}"
    if how == "rate":
        return f"{float(v):,.2f}"
    return f"{float(v):,.0f}"


@app.command("count")
def count_cmd(
    register: Annotated[Path | None, typer.Argument(help=_REGISTER_HELP, show_default=False)] = None,
    by: Annotated[str, typer.Option("--by", help="Group by agency, ward, lsoa or locality.")] = "agency",
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the table to this CSV file.",
                                             show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help=_FORCE_HELP)] = False,
) -> None:
    """The Total Place count by agency or by area: sites, floor area, vacant floor area,
    running cost, backlog, cost per resident, floor area per 1,000 residents."""
    import pandas as pd

    from planner.count import total_place_count

    by = by.strip().lower()
    if by not in ("agency", *AREA_LEVELS):
        raise _fail(f"unknown --by {by!r}. Fix: use agency, ward, lsoa or locality.")
    _check_output(csv, force, "--csv")
    path, reg = _load(register)
    areas = reg.boundaries if len(reg.boundaries) else None
    if by in AREA_LEVELS:
        levels = set(areas["level"].astype("string").dropna()) if areas is not None else set()
        if by not in levels:
            raise _fail(f"{path}: the register has no {by} boundaries (it has: {', '.join(sorted(levels)) or 'none'}). "
                        "Fix: count by another level, or add the boundaries to the register.")
    table = total_place_count(reg.sites, reg.services, _zones_with_population(reg), by=by, areas=areas)
    console = _console()
    t = Table(title=f"Total Place count by {by}: {path}")
    t.add_column(by)
    if "name" in table.columns:
        t.add_column("name", overflow="fold")
    for _, head, _ in _COUNT_COLUMNS:
        t.add_column(head, justify="right", overflow="fold")
    for rec in table.to_dict("records"):
        label = [str(rec[by])]
        if "name" in table.columns:
            label.append("" if pd.isna(rec["name"]) else str(rec["name"]))
        t.add_row(*label, *[_fmt(rec.get(c), how) for c, _, how in _COUNT_COLUMNS],
                  style="bold" if rec[by] == "Total" else None)
    console.print(t)
    if csv is not None:
        _write_csv(table, csv)
        console.print(f"Wrote {csv}", markup=False)
