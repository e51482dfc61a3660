"""Finance commands: ``planner schedule``, ``planner scenarios list|show|compare``,
``planner export``.

Exit codes: 0 done; 2 the command could not be carried out (a missing folder or register, an
unknown scenario, an output that already exists, a plan that cannot be costed). A problem that
stops a command is one line ``error: ...`` on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from planner.cli import app
from planner.errors import PlannerError

scenarios_app = typer.Typer(help="Stored scenarios in a register: list, show, compare.", no_args_is_help=True,
                            add_completion=False, pretty_exceptions_enable=False)
app.add_typer(scenarios_app, name="scenarios")

_REGISTER_HELP = ("The register GeoPackage that holds the scenarios (default: $PLANNER_REGISTER, else the sample "
                  "place's data/trafford.gpkg).")


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, soft_wrap=False, width=160)
    return console


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {message}", markup=False)
    return typer.Exit(code)


def _register(path: Path | None) -> Path:
    if path is not None:
        return path
    from planner.register import default_register_path

    return default_register_path()


def _gbp(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    v = float(v)
    return f"-£{-v:,.0f}" if v < 0 else f"£{v:,.0f}"


def _fmt(v, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if unit in ("GBP", "GBP/year") or (isinstance(unit, str) and unit.endswith("_gbp")):
        return _gbp(v) + ("/year" if unit == "GBP/year" else "")
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".") if not v.is_integer() else f"{v:,.0f}"
    return str(v)


def _finance_settings(finance_file: Path | None, **overrides):
    """Finance settings from a TOML file (keys at the top level or under [finance]) with the
    command line's options on top."""
    from planner.finance import FinanceSettings

    data: dict = {}
    if finance_file is not None:
        try:
            raw = tomllib.loads(finance_file.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise _fail(f"{finance_file}: cannot open ({exc.strerror}). Fix: check the path.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise _fail(f"{finance_file}: not valid TOML ({exc}). Fix: check that line.") from exc
        data = dict(raw.get("finance", raw))
    for k, v in overrides.items():
        if v is not None:
            data[k] = v
    return FinanceSettings.from_mapping(data, source=str(finance_file) if finance_file else "finance options")


def _table(df: pd.DataFrame, title: str, money: tuple[str, ...] = (), limit: int | None = None) -> Table:
    from planner.export import column_label

    t = Table(title=title, title_justify="left")
    for c in df.columns:
        t.add_column(column_label(str(c)), justify="right" if pd.api.types.is_numeric_dtype(df[c].dtype) else "left",
                     overflow="fold")
    rows = df if limit is None else df.head(limit)
    for rec in rows.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, rec, strict=True):
            if c in money or str(c).endswith(("_gbp", "_gbp_per_year")):
                cells.append(_gbp(v))
            else:
                cells.append(_fmt(v))
        t.add_row(*cells)
    return t


def print_schedule(console: Console, sch, ledger, record: dict | None = None) -> None:
    """The finance summary as the command line prints it."""
    from planner.finance import ope_measures, sensitivity

    plan = sch.plan
    t = sch.totals
    meta = plan.meta or {}
    rec = record or {}
    head = Table(title="Finance summary", title_justify="left", show_header=False)
    head.add_column("item")
    head.add_column("value", justify="right")
    head.add_column("note")
    obj = rec.get("objective_gbp", meta.get("objective_gbp"))
    head.add_row("Solver status", str(rec.get("status", meta.get("status", "")) or "-"),
                 str(rec.get("solver", meta.get("solver", "")) or ""))
    head.add_row("Optimiser NPV (spec, constant rate)", _gbp(obj),
                 f"{plan.discount_rate:.2%} a year, sales in each site's available year")
    head.add_row(f"Schedule NPV at {plan.discount_rate:.2%}", _gbp(sch.npv_constant_gbp),
                 "this schedule (market cap included) at the optimiser's rate")
    head.add_row("Schedule NPV, Green Book", _gbp(sch.npv_green_book_gbp),
                 "3.5% years 0-30, 3.0% years 31-75 (HM Treasury Green Book, Annex A6)")
    head.add_row("Payback year", sch.label(sch.payback_year), "cumulative cash flow stays >= 0 from then")
    head.add_row("Gross capital receipts", _gbp(t["gross_receipts_gbp"]), f"{t['disposals']} sites disposed")
    head.add_row("Net capital receipts", _gbp(t["net_receipts_gbp"]), "after disposal costs")
    head.add_row("Running-cost savings a year", _gbp(t["running_cost_saved_gbp_per_year"]), "once all sales are done")
    head.add_row("One-off spend", _gbp(t["one_off_spend_gbp"]),
                 f"{t['moves']} services move; optimism bias {_gbp(plan.moves['optimism_bias_gbp'].sum())} of it")
    head.add_row("Years", f"{sch.label(0)} to {sch.label(sch.years[-1])}", f"horizon {plan.horizon_years} years")
    console.print(head)
    d = sch.disposals[["site_id", "agency", "financial_year", "gross_receipt_gbp", "disposal_cost_gbp",
                       "net_receipt_gbp", "exit_cost_gbp", "running_cost_saved_gbp_per_year",
                       "saving_from_financial_year"]].rename(columns={
                           "financial_year": "sold in", "saving_from_financial_year": "saving from",
                           "running_cost_saved_gbp_per_year": "saved_gbp_per_year", "gross_receipt_gbp": "gross_gbp",
                           "disposal_cost_gbp": "disposal_costs_gbp", "net_receipt_gbp": "net_gbp",
                           "exit_cost_gbp": "exit_costs_gbp"})
    console.print(_table(d, f"Disposal programme ({len(d)} sites)", limit=40))
    if len(d) > 40:
        console.print(f"... and {len(d) - 40} more: see the export (planner export).")
    cf = sch.cash_flow
    years = cf[(cf["year"] <= 10) | (cf["year"] == cf["year"].max())]
    flows = pd.DataFrame({
        "year": years["financial_year"],
        "receipts_net_gbp": years["gross_receipts_gbp"] + years["disposal_costs_gbp"] + years["exit_costs_gbp"],
        "savings_gbp": years["running_cost_saved_gbp"] + years["backlog_avoided_gbp"],
        "one_off_gbp": years[["fit_out_gbp", "moves_gbp", "optimism_bias_gbp", "pair_one_off_gbp"]].sum(axis=1),
        "net_gbp": years["net_cash_flow_gbp"], "cumulative_gbp": years["cumulative_gbp"],
        "pv_green_book_gbp": years["pv_green_book_gbp"],
    })
    console.print(_table(flows, "Cash flow by financial year (first 10 years and the last)"))
    ope = ope_measures(sch)
    ot = Table(title="One Public Estate measures", title_justify="left")
    for c in ("measure", "value", "basis"):
        ot.add_column(c, overflow="fold")
    for r in ope.itertuples(index=False):
        if r.value is None or pd.isna(r.value):
            shown = "not given"
        elif r.unit in ("GBP", "GBP/year"):
            shown = _fmt(r.value, r.unit)
        else:
            shown = f"{r.value:,.2f}".rstrip("0").rstrip(".") + f" {r.unit}"
        ot.add_row(r.measure, shown, r.basis)
    console.print(ot)
    sens = sensitivity(plan, sch.settings)[["case", "gross_receipts_gbp", "npv_green_book_gbp", "npv_constant_gbp",
                                            "payback_financial_year"]]
    console.print(_table(sens, "Sensitivity (decisions fixed)"))
    lt = ledger.agencies[["agency", "net_receipts_gbp", "running_cost_saved_gbp_per_year", "one_off_spend_gbp",
                          "recharges_paid_gbp", "recharges_received_gbp", "npv_green_book_gbp", "rule7_value_gbp"]]
    lt = lt.merge(ledger.balance[["agency", "transfer_gbp"]], on="agency")
    console.print(_table(lt, "Partner ledger (present values)"))
    if len(ledger.shunting):
        console.print(_table(ledger.shunting[["service_id", "paying_agency", "one_off_paid_gbp", "from_site_id",
                                              "benefiting_agency"]], "Cost shunting", limit=20))
    console.print(ledger.message, markup=False)


@app.command("schedule")
def schedule_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of `planner optimise` (summary.json, "
                                                 "site_decisions.csv, placements.csv).", show_default=False)],
    register: Annotated[Path | None, typer.Option("--register", help="Register the plan was made from; the "
                                                  "scenario is stored in it. " + _REGISTER_HELP,
                                                  show_default=False)] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the stored scenario (default: the folder's "
                                             "name).", show_default=False)] = None,
    finance: Annotated[Path | None, typer.Option("--finance", help="TOML file of finance settings (keys at the "
                                                 "top or under \\[finance]: first_financial_year, "
                                                 "max_disposals_per_year, max_receipts_gbp_per_year, cap_priority, "
                                                 "homes_per_ha, jobs, de_minimis_gbp).", show_default=False)] = None,
    first_year: Annotated[int | None, typer.Option("--first-year", help="Calendar year the first financial year "
                                                   "starts (2026 for 2026/27; default: the current one).",
                                                   show_default=False)] = None,
    cap_disposals: Annotated[int | None, typer.Option("--cap-disposals", help="Market cap: at most this many "
                                                      "sales a year.", show_default=False)] = None,
    cap_receipts: Annotated[float | None, typer.Option("--cap-receipts", help="Market cap: at most this much gross "
                                                       "receipt (GBP) a year.", show_default=False)] = None,
    cap_order: Annotated[str | None, typer.Option("--cap-order", help="Which sales go first under a cap: "
                                                  "net_receipt (largest first) or site_order.",
                                                  show_default=False)] = None,
    homes_per_ha: Annotated[float | None, typer.Option("--homes-per-ha", help="Dwellings per hectare of land "
                                                       "released (assumption; default 35).",
                                                       show_default=False)] = None,
    jobs: Annotated[float | None, typer.Option("--jobs", help="Jobs the released land supports, if known.",
                                               show_default=False)] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the scenario in the register.")] = True,
) -> None:
    """Cost an optimiser answer year by year: disposal programme by financial year, cash flow,
    NPV (optimiser's constant rate and Green Book), payback, One Public Estate measures,
    sensitivity and the partner ledger; then store it as a scenario in the register."""
    from planner import scenarios
    from planner.finance import build_schedule, plan_from_output_dir
    from planner.ledger import build_ledger

    console = _console()
    try:
        settings = _finance_settings(finance, first_financial_year=first_year, max_disposals_per_year=cap_disposals,
                                     max_receipts_gbp_per_year=cap_receipts, cap_priority=cap_order,
                                     homes_per_ha=homes_per_ha, jobs=jobs)
        reg = _register(register)
        plan = plan_from_output_dir(run_dir, register=reg)
        sch = build_schedule(plan, settings)
        ledger = build_ledger(sch)
        for w in plan.warnings:
            console.print(f"warning: {w}", markup=False)
        print_schedule(console, sch, ledger)
        if save:
            summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
            scen = summary.get("scenario") or {}
            src = scen.get("source") or ""
            toml_text = None
            if src and Path(src).is_file():
                toml_text = Path(src).read_text(encoding="utf-8-sig")
            hashes = {"solver_settings": scenarios.json_sha256(
                {k: summary.get(k) for k in ("solver", "time_limit_s", "mip_rel_gap", "model")})}
            saved = scenarios.save(reg, plan, settings, name or run_dir.resolve().name, scenario_toml=toml_text,
                                   input_hashes=hashes, solver=str(summary.get("solver") or ""),
                                   status=str(summary.get("status") or ""), objective_gbp=summary.get("npv_gbp"),
                                   best_bound_gbp=summary.get("bound_gbp"), gap=summary.get("gap"),
                                   solve_time_s=summary.get("solve_seconds"))
            console.print(f"{saved.message} Register: {reg}", markup=False)
    except PlannerError as exc:
        raise _fail(str(exc)) from exc


@scenarios_app.command("list")
def scenarios_list(
    register: Annotated[Path | None, typer.Option("--register", help=_REGISTER_HELP, show_default=False)] = None,
) -> None:
    """List the stored scenarios."""
    from planner import scenarios

    reg = _register(register)
    try:
        df = scenarios.list_scenarios(reg)
    except PlannerError as exc:
        raise _fail(str(exc)) from exc
    console = _console()
    if df.empty:
        console.print(f"No scenarios stored in {reg}. Store one with `planner schedule RUN_DIR --name NAME`.",
                      markup=False)
        return
    view = df[["scenario_id", "name", "created_at", "status", "npv_green_book_gbp", "gross_receipts_gbp",
               "savings_gbp_per_year", "disposals", "moves", "reproduced"]].rename(columns={"scenario_id": "id"})
    console.print(_table(view, f"Scenarios in {reg}"))


@scenarios_app.command("show")
def scenarios_show(
    scenario: Annotated[str, typer.Argument(help="Scenario id or name.", show_default=False)],
    register: Annotated[Path | None, typer.Option("--register", help=_REGISTER_HELP, show_default=False)] = None,
) -> None:
    """Show one stored scenario: its inputs, hashes, solver, and its finance summary."""
    from planner import scenarios
    from planner.ledger import build_ledger

    reg = _register(register)
    console = _console()
    try:
        st = scenarios.load(reg, scenario)
        rec = st.record
        info = Table(title=f"Scenario {st.scenario_id}: {st.name}", title_justify="left", show_header=False)
        info.add_column("item")
        info.add_column("value", overflow="fold")
        for k in ("created_at", "solver", "status", "register_sha256", "scenario_sha256", "inputs_sha256",
                  "answer_sha256", "reproduced", "planner_version"):
            info.add_row(k, str(rec.get(k) or ""))
        matches = scenarios.register_matches(reg, rec)
        info.add_row("register now", "matches the stored register hash" if matches else
                     "CHANGED since this scenario ran: re-run the optimiser to plan on the current data")
        for k, v in json.loads(rec.get("input_hashes") or "{}").items():
            info.add_row(f"input {k}", v)
        console.print(info)
        console.print("Scenario file:", markup=False)
        console.print(rec.get("scenario_toml") or "", markup=False)
        sch = st.schedule()
        print_schedule(console, sch, build_ledger(sch), record=rec)
    except PlannerError as exc:
        raise _fail(str(exc)) from exc


@scenarios_app.command("compare")
def scenarios_compare(
    a: Annotated[str, typer.Argument(help="First scenario (id or name).", show_default=False)],
    b: Annotated[str, typer.Argument(help="Second scenario (id or name).", show_default=False)],
    register: Annotated[Path | None, typer.Option("--register", help=_REGISTER_HELP, show_default=False)] = None,
) -> None:
    """Two scenarios side by side: receipts, savings, NPV, disposals, and the sites and moves
    that differ."""
    from planner import scenarios

    reg = _register(register)
    console = _console()
    try:
        c = scenarios.compare(reg, a, b)
    except PlannerError as exc:
        raise _fail(str(exc)) from exc
    h = c["scenarios"].iloc[0]
    t = Table(title=f"A = {h['A']}   B = {h['B']}", title_justify="left")
    for col in ("measure", "A", "B", "B - A"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    for r in c["summary"].itertuples(index=False):
        money = r.key.endswith(("_gbp", "_year")) and r.key != "payback_financial_year"
        f = _gbp if money else _fmt
        t.add_row(r.measure, f(r.A), f(r.B), "" if r[4] == "" else f(r[4]))
    console.print(t)
    console.print(f"Same inputs: {'yes' if h['same_inputs'] else 'no'}; same answer: "
                  f"{'yes' if h['same_answer'] else 'no'}.", markup=False)
    if len(c["sites"]):
        console.print(_table(c["sites"], f"Sites decided differently ({len(c['sites'])})", limit=60))
    else:
        console.print("Every site has the same decision.", markup=False)
    if len(c["moves"]):
        console.print(_table(c["moves"], f"Services placed differently ({len(c['moves'])})", limit=60))
    else:
        console.print("Every service is placed the same.", markup=False)


@app.command("export")
def export_cmd(
    scenario: Annotated[str, typer.Argument(help="Stored scenario id or name (planner scenarios list).",
                                            show_default=False)],
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="Excel workbook to write.", show_default=False)] = None,
    csv_dir: Annotated[Path | None, typer.Option("--csv", help="Folder for the same tables as CSV files.",
                                                 show_default=False)] = None,
    gpkg: Annotated[Path | None, typer.Option("--gpkg", help="GeoPackage of the plan for QGIS (sites with "
                                              "decisions, move lines).", show_default=False)] = None,
    register: Annotated[Path | None, typer.Option("--register", help=_REGISTER_HELP, show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing output files (by default the command "
                                        "refuses).")] = False,
) -> None:
    """Export a stored scenario: workbook (Summary, Disposal schedule, Receipts by year and
    agency, Savings by year, Cash flow, Moves, Site decisions, Partner ledger, Assumptions,
    Validation problems), the same tables as CSV, and a GeoPackage of the plan."""
    from planner import export, scenarios

    reg = _register(register)
    console = _console()
    if not (xlsx or csv_dir or gpkg):
        raise _fail("nothing to export. Fix: give --xlsx FILE, --csv DIR and/or --gpkg FILE.")
    try:
        st = scenarios.load(reg, scenario)
        sch = st.schedule()
        written = export.export_schedule(sch, xlsx=xlsx, csv_dir=csv_dir, gpkg=gpkg, force=force,
                                         problems=export.read_problems(reg), record=st.record)
    except (PlannerError, FileExistsError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"Scenario {st.scenario_id} ({st.name}): Green Book NPV {_gbp(sch.npv_green_book_gbp)}, "
                  f"gross receipts {_gbp(sch.totals['gross_receipts_gbp'])}.", markup=False)
    for p in written:
        if p.suffix != ".csv":
            console.print(f"Wrote {p}", markup=False)
    n_csv = sum(p.suffix == ".csv" for p in written)
    if n_csv:
        console.print(f"Wrote {n_csv} CSV files to {csv_dir}", markup=False)
