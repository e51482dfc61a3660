"""Register commands: ``planner import``, ``planner validate``, ``planner summary``.

Exit codes: 0 done (an import with row errors is done: those records are kept in the register
and excluded from analysis); 1 ``validate`` found errors; 2 the command could not be carried
out (a file that cannot be used, a bad option, an output that already exists). A problem that
stops a command is one line ``error: ...`` on stderr, never a traceback.

Output files (``--problems``, ``--csv``) are never overwritten unless ``--force`` is given, and
are written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from planner.cli import app
from planner.errors import PlannerError
from planner.readers import KINDS

_KIND_HELP = f"Reader to use: {', '.join(KINDS)} (auto: decided from the file's columns)."
_MAPPING_HELP = "TOML file describing the columns of a file no reader knows (see docs/mapping.md); implies --kind mapped."
_POSTCODES_HELP = ("Postcode centroids to place records with no coordinates: a CSV with postcode, easting, "
                   "northing columns, or 'national' for the full-country table (optional package).")
_LOCATIONS_HELP = ("NHS ERIC returns give no coordinates: a CSV or XLSX of site_code with easting and "
                   "northing (EPSG:27700) or a full postcode, to place their sites.")
_FORCE_HELP = "Overwrite an existing --problems / --csv file (by default the command refuses)."


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, soft_wrap=False, width=160)  # piped: do not fold at 80
    return console


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {message}", markup=False)
    return typer.Exit(code)


def _check_output(path: Path | None, force: bool, option: str) -> None:
    if path is None:
        return
    if path.exists() and not force:
        raise _fail(f"{path} already exists; it was not overwritten. Fix: give another {option} file name, "
                    "or add --force to replace it.")
    if path.exists() and path.is_dir():
        raise _fail(f"{path} is a folder. Fix: give a file name for {option}.")


def _check_kind(kind: str, mapping: Path | None) -> None:
    if kind not in KINDS:
        raise _fail(f"unknown --kind {kind!r}. Fix: use one of {', '.join(KINDS)}.")
    if kind == "mapped" and mapping is None:
        raise _fail("--kind mapped needs a mapping file. Fix: add --mapping MAP.toml (see docs/mapping.md).")


def _file_table(stats: list[dict], title: str) -> Table:
    t = Table(title=title)
    for col, just in (("file", "left"), ("reader", "left"), ("rows read", "right"), ("stored", "right"),
                      ("unreadable", "right"), ("sites", "right"), ("services", "right"),
                      ("zones", "right"), ("errors", "right"), ("warnings", "right")):
        t.add_column(col, justify=just, overflow="fold")
    for s in stats:
        t.add_row(s["file"], s["reader"], f"{s['rows_read']:,}", f"{s['rows_stored']:,}",
                  f"{s['rows_unreadable']:,}", f"{s['sites']:,}", f"{s['services']:,}", f"{s['zones']:,}",
                  str(s["errors"]), str(s["warnings"]))
    return t


def _print_notes(console: Console, stats: list[dict]) -> None:
    notes = [(s["file"], n) for s in stats for n in s["notes"]]
    if notes:
        console.print("[bold]Decisions made while reading[/bold]")
        for f, n in notes:
            console.print(f"  {f}: {n}", markup=False)


def _stats_of(results) -> list[dict]:
    out = []
    for r in results:
        c = r.problems.counts()
        out.append({"file": Path(r.file).name, "reader": r.reader, "rows_read": r.rows_read,
                    "rows_stored": r.rows_stored, "rows_unreadable": r.rows_unreadable,
                    "sites": len(r.sites), "services": len(r.services), "zones": len(r.zones),
                    "errors": c["error"], "warnings": c["warning"], "notes": list(r.notes)})
    return out


def _by_place(report):
    """The report sorted by file and row (file-level problems first), for reading."""
    from planner.problems import ProblemReport

    return ProblemReport(sorted(report.problems, key=lambda p: (Path(p.file).name if p.file else "",
                                                                -1 if p.row is None else p.row)))


def _write_problems(console: Console, report, path: Path | None) -> None:
    if path is not None:
        report.to_csv(path)
        console.print(f"Wrote {len(report):,} problems to {path}", markup=False)


@app.command("import")
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="Files to import (CSV, XLSX, GeoJSON, GeoPackage).",
                                                show_default=False)],
    agency: Annotated[str, typer.Option("--agency", help="Owning body of the files' records: council, nhs, police, fire or another name.",
                                        show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="The register GeoPackage to create or update (written atomically).",
                                      show_default=False)],
    kind: Annotated[str, typer.Option("--kind", help=_KIND_HELP)] = "auto",
    mapping: Annotated[Path | None, typer.Option("--mapping", help=_MAPPING_HELP, show_default=False)] = None,
    postcodes: Annotated[str | None, typer.Option("--postcodes", help=_POSTCODES_HELP, show_default=False)] = None,
    locations: Annotated[Path | None, typer.Option("--locations", help=_LOCATIONS_HELP, show_default=False)] = None,
    problems: Annotated[Path | None, typer.Option("--problems", help="Also write every problem to this CSV file.",
                                                  show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help=_FORCE_HELP)] = False,
) -> None:
    """Import files into a register. Re-importing a file of the same name replaces the agency's records from it; other records are kept. Records with errors are stored but excluded from analysis."""
    from planner.register import import_files

    _check_kind(kind, mapping)
    _check_output(problems, force, "--problems")
    console = _console()
    try:
        reg, report, stats = import_files(files, agency, out, kind=kind, mapping=mapping, postcodes=postcodes,
                                          locations=locations)
        report = _by_place(report)
    except PlannerError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write the register {out} ({exc.strerror or exc}). Fix: check the folder exists and you may write to it.") from None
    console.print(_file_table(stats, f"Imported into {out}"))
    _print_notes(console, stats)
    report.render(console)
    sites = reg.sites
    excluded = int((~sites["in_analysis"].fillna(True).astype(bool)).sum())
    unlocated = int((~sites["located"].fillna(False).astype(bool)).sum())
    console.print(f"The register now holds {len(sites):,} sites ({excluded:,} excluded from analysis, "
                  f"{unlocated:,} unlocated), {len(reg.services):,} services and {len(reg.zones):,} zones.",
                  markup=False)
    _write_problems(console, report, problems)


@app.command("validate")
def validate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Files to check (nothing is imported or written).",
                                                show_default=False)],
    kind: Annotated[str, typer.Option("--kind", help=_KIND_HELP)] = "auto",
    agency: Annotated[str | None, typer.Option("--agency", help="Owning body, for files that do not say it (as for import).",
                                               show_default=False)] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help=_MAPPING_HELP, show_default=False)] = None,
    postcodes: Annotated[str | None, typer.Option("--postcodes", help=_POSTCODES_HELP, show_default=False)] = None,
    locations: Annotated[Path | None, typer.Option("--locations", help=_LOCATIONS_HELP, show_default=False)] = None,
    register: Annotated[Path | None, typer.Option("--register", help="Also check services against this register's sites.",
                                                  show_default=False)] = None,
    problems: Annotated[Path | None, typer.Option("--problems", help="Also write every problem to this CSV file.",
                                                  show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help=_FORCE_HELP)] = False,
) -> None:
    """Check files as an import would, without importing them. Exit 1 if any error was found."""
    from planner.register import Register, validate_files

    _check_kind(kind, mapping)
    _check_output(problems, force, "--problems")
    console = _console()
    try:
        reg = Register.load(register) if register is not None else None
        report, results = validate_files(files, agency=agency, kind=kind, mapping=mapping,
                                         postcodes=postcodes, register=reg, locations=locations)
        report = _by_place(report)
    except PlannerError as exc:
        raise _fail(str(exc)) from None
    stats = _stats_of(results)
    console.print(_file_table(stats, "Checked"))
    _print_notes(console, stats)
    report.render(console)
    _write_problems(console, report, problems)
    c = report.counts()
    if c["error"]:
        console.print(f"{c['error']:,} errors: those records would be kept but excluded from analysis.", markup=False)
        raise typer.Exit(1)
    console.print("No errors.", markup=False)


_SUMMARY_COLUMNS = [
    ("sites", "sites", "int"), ("buildings", "buildings", "int"), ("gia_m2", "floor area m2", "num"),
    ("running_cost_gbp", "running cost GBP/yr", "num"), ("backlog_gbp", "backlog GBP", "num"),
    ("receipts_potential_gbp", "receipts potential GBP", "num"),
    ("sites_per_1000_residents", "sites per 1,000 residents", "rate"),
    ("gia_m2_per_1000_residents", "m2 per 1,000 residents", "num"),
    ("cost_per_resident_gbp", "running cost GBP per resident", "rate"),
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


@app.command("summary")
def summary_cmd(
    register: Annotated[Path | None, typer.Argument(help="The register (default: $PLANNER_REGISTER or data/trafford.gpkg).",
                                                    show_default=False)] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the table to this CSV file.",
                                             show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help=_FORCE_HELP)] = False,
) -> None:
    """The Total Place count of a register by agency: sites, buildings, floor area, costs, receipts potential, per 1,000 residents (from the zones' population)."""
    from planner.count import TOTAL_LABEL, total_place_count
    from planner.problems import write_text_atomic
    from planner.register import Register, default_register_path

    path = register or default_register_path()
    _check_output(csv, force, "--csv")
    try:
        reg = Register.load(path)
    except PlannerError as exc:
        raise _fail(str(exc)) from None
    areas = reg.boundaries if len(reg.boundaries) else None
    zones = reg.zones
    if "in_analysis" in zones.columns:
        zones = zones[zones["in_analysis"].fillna(True).astype(bool)]
    if not zones["population"].notna().any():
        zones = None  # no residents known: per-resident figures stay empty
    table = total_place_count(reg.sites, reg.services, zones, by="agency", areas=areas)
    console = _console()
    t = Table(title=f"Total Place count: {path}")
    t.add_column("agency")
    for _, head, _ in _SUMMARY_COLUMNS:
        t.add_column(head, justify="right", overflow="fold")
    for rec in table.to_dict("records"):
        is_total = rec["agency"] == TOTAL_LABEL
        cells = [_fmt(rec.get(c), how) for c, _, how in _SUMMARY_COLUMNS]
        t.add_row(str(rec["agency"]), *cells, style="bold" if is_total else None, end_section=False)
    console.print(t)
    residents = table["residents"].dropna()
    if len(residents):
        console.print(f"Residents: {float(residents.iloc[-1]):,.0f} (the zones' population); per-resident figures use it.",
                      markup=False)
    else:
        console.print("No zones with population in the register: per-resident figures are empty.", markup=False)
    total = table[table["agency"] == TOTAL_LABEL].iloc[0]
    console.print(f"{int(total['unlocated']):,} records unlocated (off the map), {int(total['excluded']):,} excluded "
                  "from analysis by errors (see the register's problems layer).", markup=False)
    if csv is not None:
        write_text_atomic(csv, table.to_csv(index=False))
        console.print(f"Wrote {csv}", markup=False)
