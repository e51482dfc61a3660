"""Exports a finance lead can hand on: an Excel workbook, the same tables as CSV, and a
GeoPackage of the plan for QGIS.

Workbook sheets: Summary, Disposal schedule, Receipts by year and agency, Savings by year,
Cash flow, Moves, Site decisions, Partner ledger, Assumptions, Validation problems. Money in
pounds (£#,##0, negatives red), financial-year column headers (2026/27), frozen header rows,
column widths from the contents.

Formula injection: any text cell that begins with =, +, -, @, a tab or a carriage return is
written so that no spreadsheet runs it: in the workbook as a string cell (``write_string``,
never ``write``) with the quote-prefix style (Excel's leading apostrophe, which stays text
even when the cell is edited), and in CSV with a leading apostrophe. Numbers stay numbers.

Outputs are never overwritten (refused unless ``force``) and never half-written (each file is
written to a temporary file in the same folder and renamed).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.finance import (
    CASH_LINES,
    Schedule,
    assumptions,
    ope_measures,
    sensitivity,
)
from planner.ledger import Ledger, build_ledger, ledger_frame
from planner.problems import write_text_atomic

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FY_RE = re.compile(r"^\d{4}/\d{2}$")
MONEY = "£#,##0;[Red]-£#,##0"
FORMATS = {
    "money": MONEY,
    "factor": "0.000000",
    "rate": "0.0%",
    "ha": "#,##0.00",
    "int": "#,##0",
    "number": "#,##0.##",
}
SHEETS = ("Summary", "Disposal schedule", "Receipts by year and agency", "Savings by year", "Cash flow",
          "Moves", "Site decisions", "Partner ledger", "Assumptions", "Validation problems")


class OutputExistsError(PlannerError, FileExistsError):
    """An output file is already there; it is never overwritten without --force."""


def neutralise(value: str) -> str:
    """Text that a spreadsheet would run as a formula, made inert with a leading apostrophe
    (for CSV). Other text is returned as it is."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def is_dangerous(value) -> bool:
    return isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES)


# ------------------------------------------------------------------ tables


@dataclass
class Block:
    """One table on a sheet (and one CSV file)."""

    csv_name: str  # file stem of the CSV
    df: pd.DataFrame
    title: str | None = None
    col_formats: dict[str, str] = field(default_factory=dict)  # column -> FORMATS key
    row_formats: dict[str, str] = field(default_factory=dict)  # first-column value -> FORMATS key
    note: str | None = None


def column_label(col: str) -> str:
    """A header a finance lead reads: 'gross_receipt_gbp' -> 'Gross receipt (£)'."""
    col = str(col)
    if FY_RE.match(col) or col in ("Total", "A", "B", "B - A"):
        return col
    s, unit = col, ""
    for suffix, u in (("_gbp_per_year", " (£/year)"), ("_gbp", " (£)"), ("_m2", " (m²)"), ("_ha", " (ha)"),
                      ("_m", " (m)"), ("_s", " (s)")):
        if s.endswith(suffix):
            s, unit = s[: -len(suffix)], u
            break
    s = s.replace("_", " ").strip()
    s = re.sub(r"\bnpv\b", "NPV", s)
    s = re.sub(r"\bpv\b", "PV", s)
    s = re.sub(r"\bone off\b", "one-off", s)
    s = re.sub(r"\brule7\b", "rule 7", s)
    s = re.sub(r"\bfte\b", "FTE", s)
    s = re.sub(r"\bid\b", "id", s)
    return (s[:1].upper() + s[1:]) + unit


def _auto_format(col: str, s: pd.Series) -> str | None:
    c = str(col)
    if FY_RE.match(c) or c == "Total" or c.endswith(("_gbp", "_gbp_per_year")):
        return "money"
    if "factor" in c:
        return "factor" if c != "values_factor" and c != "costs_factor" else "number"
    if c.endswith("_rate") or c == "gap":
        return "rate"
    if c.endswith("_ha"):
        return "ha"
    if pd.api.types.is_integer_dtype(s.dtype) or c.endswith(("_year", "_years", "_m2", "_m")) or c in (
            "disposals", "moves", "sites_disposed", "services_moved", "year"):
        return "int"
    if pd.api.types.is_float_dtype(s.dtype):
        return "number"
    return None


UNIT_FORMATS = {"GBP": "money", "GBP/year": "money", "ha": "ha", "m2": "int", "homes": "int", "sites": "int", "services": "int",
                "jobs": "int", "per year": "rate", "share": "rate", "share of value": "rate",
                "GBP/m2": "money", "GBP/FTE": "money", "GBP/m2/year": "money", "years": "int",
                "dwellings/ha": "number", "sites/year": "int", "GBP/year cap": "money"}


def _wide(sch: Schedule, lines: tuple[str, ...] | str) -> pd.DataFrame:
    t = sch.by_year_agency(lines)
    return t.reset_index()


def _lines_wide(sch: Schedule, lines: tuple[str, ...]) -> pd.DataFrame:
    """Chosen cash-flow lines (rows) by financial year (columns), with a total row."""
    cf = sch.cash_flow.set_index("financial_year")
    names = dict(CASH_LINES)
    data = {"line": [names[c] for c in lines] + ["Total"]}
    for fy in cf.index:
        vals = [float(cf.at[fy, c]) for c in lines]
        data[fy] = [*vals, sum(vals)]
    df = pd.DataFrame(data)
    df["Total"] = df[list(cf.index)].sum(axis=1)
    return df


def cash_flow_wide(sch: Schedule) -> tuple[pd.DataFrame, dict[str, str]]:
    cf = sch.cash_flow.set_index("financial_year")
    rows = [(label, cf[c]) for c, label in CASH_LINES]
    rows += [("Net cash flow", cf["net_cash_flow_gbp"]), ("Cumulative cash flow", cf["cumulative_gbp"]),
             ("Green Book discount rate", cf["green_book_rate"]),
             ("Green Book discount factor", cf["green_book_factor"]),
             ("Present value (Green Book)", cf["pv_green_book_gbp"]),
             ("Cumulative present value (Green Book)", cf["cumulative_pv_green_book_gbp"]),
             (f"Discount factor at the constant rate {sch.plan.discount_rate:.2%}", cf["constant_factor"]),
             ("Present value (constant rate)", cf["pv_constant_gbp"])]
    data = {"line": [r[0] for r in rows]}
    for fy in cf.index:
        data[fy] = [float(r[1][fy]) for r in rows]
    df = pd.DataFrame(data)
    total = []
    for label, series in rows:
        total.append(float(series.sum()) if label not in ("Cumulative cash flow", "Green Book discount rate",
                                                          "Green Book discount factor",
                                                          "Cumulative present value (Green Book)")
                     and not label.startswith("Discount factor") else np.nan)
    df["Total"] = total
    fmts = {"Green Book discount rate": "rate", "Green Book discount factor": "factor"}
    fmts[rows[-2][0]] = "factor"
    return df, fmts


def export_blocks(sch: Schedule, ledger: Ledger | None = None, problems: pd.DataFrame | None = None,
                  record: dict | None = None) -> dict[str, list[Block]]:
    """Every sheet's tables (the workbook and the CSVs share them)."""
    ledger = ledger or build_ledger(sch)
    plan, st = sch.plan, sch.settings
    rec = record or {}
    t = sch.totals
    moves = plan.moves
    ob = float(moves["optimism_bias_gbp"].sum())
    meta = plan.meta or {}
    objective = rec.get("objective_gbp", meta.get("objective_gbp", meta.get("npv_gbp", meta.get("npv"))))

    scen_rows = [
        ("Scenario", f"{rec.get('scenario_id', '')} {rec.get('name', '')}".strip() or "(not stored)", ""),
        ("Run at", rec.get("created_at", ""), ""),
        ("Solver", rec.get("solver", meta.get("solver", "")), ""),
        ("Solver status", rec.get("status", meta.get("status", "")), ""),
        ("Register content hash (sha256)", rec.get("register_sha256", ""), ""),
        ("Inputs hash (sha256)", rec.get("inputs_sha256", ""), ""),
        ("Answer hash (sha256)", rec.get("answer_sha256", ""), ""),
        ("Reproducibility", rec.get("reproduced", "") or "no earlier run with the same inputs", ""),
        ("First financial year", sch.label(0), ""),
        ("Horizon", f"{plan.horizon_years} years ({sch.label(1)} to {sch.label(plan.horizon_years)})", ""),
    ]
    scen_df = pd.DataFrame(scen_rows, columns=["item", "value", "unit"])
    head_rows = [
        ("Optimiser NPV (spec objective, constant rate)", np.nan if objective is None else float(objective), "GBP",
         f"as the optimiser reported it, discounted at {plan.discount_rate:.2%} with sales in each site's available year"),
        (f"Schedule NPV at the constant rate {plan.discount_rate:.2%}", sch.npv_constant_gbp, "GBP",
         "this disposal schedule (market cap included) at the optimiser's rate"),
        ("Schedule NPV, Green Book rates", sch.npv_green_book_gbp, "GBP",
         "3.5% years 0-30, 3.0% years 31-75 (HM Treasury Green Book 2022, Annex A6)"),
        ("Payback year", sch.label(sch.payback_year), "", "first year from which cumulative cash flow stays >= 0"),
        ("Discounted payback year (Green Book)", sch.label(sch.discounted_payback_year), "", ""),
        ("Gross capital receipts", t["gross_receipts_gbp"], "GBP", ""),
        ("Net capital receipts", t["net_receipts_gbp"], "GBP", "gross receipts less disposal costs"),
        ("Lease exit costs", -t["exit_costs_gbp"], "GBP", ""),
        ("Running-cost savings a year (all sales complete)", t["running_cost_saved_gbp_per_year"], "GBP/year", ""),
        ("One-off spend (fit-out, moves, optimism bias, other)", t["one_off_spend_gbp"], "GBP", "year 0"),
        ("of which optimism bias", ob, "GBP", f"{plan.optimism_bias:.0%} on fit-out and moves"),
        ("Sites disposed", float(t["disposals"]), "sites", ""),
        ("Services moved", float(t["moves"]), "services", ""),
    ]
    head_df = pd.DataFrame(head_rows, columns=["measure", "value", "unit", "note"])
    sens = sensitivity(plan, st)
    summary = [
        Block("summary_scenario", scen_df, "Scenario"),
        Block("summary", head_df, "Headline figures"),
        Block("ope_measures", ope_measures(sch), "One Public Estate benefit measures"),
        Block("sensitivity", sens, "Sensitivity: market values and costs 20% lower and higher (decisions fixed)"),
        Block("partners_note", pd.DataFrame({"partners": [ledger.message]}), "Partners"),
    ]

    disp = sch.disposals.copy()
    disp_cols = ["site_id", "name", "agency", "financial_year", "sale_year", "ready_year", "delayed_years",
                 "gross_receipt_gbp", "disposal_cost_gbp", "net_receipt_gbp", "exit_cost_gbp",
                 "running_cost_saved_gbp_per_year", "saving_from_financial_year", "backlog_avoided_gbp",
                 "land_area_ha", "after_horizon", "de_minimis"]
    disp = disp[disp_cols]
    schedule_blocks = [Block("disposal_schedule", disp, None,
                             note=f"Sold at the end of the financial year shown; savings from the next year. "
                                  f"de_minimis: receipt below £{st.de_minimis_gbp:,.0f} (not a capital receipt "
                                  f"for a council, 2003 regulations reg. 10).")]

    receipts = [
        Block("receipts_gross_by_year_agency", _wide(sch, "gross_receipts_gbp"), "Gross capital receipts"),
        Block("receipts_net_by_year_agency", _wide(sch, ("gross_receipts_gbp", "disposal_costs_gbp")),
              "Net capital receipts (after disposal costs)"),
        Block("exit_costs_by_year_agency", _wide(sch, "exit_costs_gbp"), "Lease exit costs"),
    ]
    savings = [
        Block("savings_by_year_agency", _wide(sch, "running_cost_saved_gbp"), "Running costs saved"),
        Block("backlog_avoided_by_year_agency", _wide(sch, "backlog_avoided_gbp"), "Backlog maintenance avoided"),
        Block("one_off_spend_by_year", _lines_wide(sch, ("fit_out_gbp", "moves_gbp", "optimism_bias_gbp",
                                                         "pair_one_off_gbp")),
              "One-off spend (costs negative), optimism bias shown separately"),
        Block("one_off_spend_by_year_agency", _wide(sch, ("fit_out_gbp", "moves_gbp", "optimism_bias_gbp",
                                                          "pair_one_off_gbp")),
              "One-off spend by paying agency (fit-out, moves, optimism bias and other)"),
    ]
    cfw, cf_rows = cash_flow_wide(sch)
    cash = [Block("cash_flow", cfw, "Cash flow (costs negative)", row_formats=cf_rows)]

    mv = moves[moves["moved"]].copy()
    mv_cols = ["service_id", "service_name", "service_agency", "service_type", "from_site_id", "to_site_id",
               "host_agency", "distance_m", "space_m2", "fte", "fit_out_gbp", "move_gbp", "optimism_bias_gbp",
               "pair_one_off_gbp", "one_off_gbp", "annual_gbp", "recharge_gbp_per_year"]
    moves_blocks = [Block("moves", mv[mv_cols].reset_index(drop=True), None,
                          note="One-off costs are spent in the first financial year.")]

    sites = plan.sites.merge(sch.disposals[["site_id", "financial_year", "net_receipt_gbp"]], on="site_id",
                             how="left")
    sites = sites.rename(columns={"financial_year": "sale_financial_year"})
    sites["sale_financial_year"] = sites["sale_financial_year"].astype(object).where(
        sites["sale_financial_year"].notna(), "")
    s_cols = ["site_id", "name", "agency", "decision", "sale_financial_year", "available_year",
              "market_value_gbp", "disposal_cost_gbp", "net_receipt_gbp", "exit_cost_gbp", "running_cost_gbp",
              "backlog_gbp", "capacity_m2", "land_area_ha", "easting", "northing"]
    site_blocks = [Block("site_decisions", sites[s_cols], None)]

    ledger_blocks = [
        Block("partner_ledger", ledger_frame(ledger), "Partner ledger (present values at the Green Book rates "
                                                      "unless labelled constant)"),
        Block("balancing_transfers", ledger.transfers, "Balancing transfers (present value, paid now)",
              note=ledger.message),
        Block("cost_shunting", ledger.shunting, "Cost shunting: moves paid by one partner whose savings land "
                                                "with another"),
    ]
    assumption_blocks = [Block("assumptions", assumptions(plan, st), None)]
    if problems is None:
        problems = pd.DataFrame(columns=["severity", "file", "row", "column", "value", "problem", "fix"])
    warn = pd.DataFrame([{"severity": p.severity, "file": p.file, "row": p.row, "column": p.column,
                          "value": p.value, "problem": p.problem, "fix": p.fix} for p in plan.warnings])
    if len(warn):
        problems = pd.concat([problems, warn], ignore_index=True)
    problem_blocks = [Block("validation_problems", problems.reset_index(drop=True), None)]
    return {
        "Summary": summary, "Disposal schedule": schedule_blocks, "Receipts by year and agency": receipts,
        "Savings by year": savings, "Cash flow": cash, "Moves": moves_blocks, "Site decisions": site_blocks,
        "Partner ledger": ledger_blocks, "Assumptions": assumption_blocks, "Validation problems": problem_blocks,
    }


# ------------------------------------------------------------------ writing helpers


def _check_free(paths: list[Path], force: bool) -> None:
    there = [p for p in paths if p.exists()]
    if there and not force:
        names = ", ".join(str(p) for p in there)
        raise OutputExistsError(f"{names}: already exist{'s' if len(there) == 1 else ''}; outputs are never "
                                "overwritten. Fix: choose another name, remove the file, or pass --force.")


def _tmp_beside(path: Path, suffix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}{suffix}"


def _is_missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT


def _cell(v):
    """A Python value for a cell: float, bool, str or None."""
    if _is_missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    return str(v)


# ------------------------------------------------------------------ Excel


def write_xlsx(blocks: dict[str, list[Block]], path: str | os.PathLike, force: bool = False) -> Path:
    """Write the workbook (atomically; refuses an existing file unless ``force``)."""
    import xlsxwriter

    path = Path(path)
    _check_free([path], force)
    tmp = _tmp_beside(path, ".xlsx")
    try:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_numbers": False,
                                            "strings_to_urls": False, "nan_inf_to_errors": False})
        fmt_cache: dict[tuple, object] = {}

        def fmt(key: str | None = None, **extra):
            k = (key, tuple(sorted(extra.items())))
            if k not in fmt_cache:
                props = dict(extra)
                if key:
                    props["num_format"] = FORMATS[key]
                fmt_cache[k] = wb.add_format(props)
            return fmt_cache[k]

        header = fmt(None, bold=True, text_wrap=True, valign="top", bg_color="#DDEBF7", bottom=1)
        title_f = fmt(None, bold=True, font_size=12)
        note_f = fmt(None, italic=True, font_color="#555555")
        text_safe = fmt(None, quote_prefix=True)
        for sheet, sheet_blocks in blocks.items():
            ws = wb.add_worksheet(sheet[:31])
            widths: dict[int, float] = {}
            row = 0
            first_header_row = None
            for b in sheet_blocks:
                if b.title:
                    _write_text(ws, row, 0, b.title, title_f, text_safe)
                    row += 1
                if b.note:
                    _write_text(ws, row, 0, b.note, note_f, text_safe)
                    row += 1
                df = b.df
                cols = list(df.columns)
                if first_header_row is None:
                    first_header_row = row
                for j, c in enumerate(cols):
                    lab = column_label(c)
                    _write_text(ws, row, j, lab, header, text_safe)
                    widths[j] = max(widths.get(j, 0), min(len(lab), 24) + 2)
                row += 1
                col_keys = {c: b.col_formats.get(c) or _auto_format(c, df[c]) for c in cols}
                has_unit = "unit" in cols and "value" in cols
                for rec in df.itertuples(index=False, name=None):
                    first = rec[0] if rec else None
                    row_key = b.row_formats.get(first) if isinstance(first, str) else None
                    unit_key = None
                    if has_unit:
                        unit_key = UNIT_FORMATS.get(str(rec[cols.index("unit")]))
                    for j, (c, v) in enumerate(zip(cols, rec, strict=True)):
                        v = _cell(v)
                        if v is None or v == "":
                            ws.write_blank(row, j, None)
                            continue
                        if isinstance(v, bool):
                            ws.write_boolean(row, j, v)
                            widths[j] = max(widths.get(j, 0), 7)
                        elif isinstance(v, float):
                            if not math.isfinite(v):
                                ws.write_blank(row, j, None)
                                continue
                            key = row_key if (row_key and j > 0) else (unit_key if (c == "value" and unit_key)
                                                                         else col_keys[c])
                            ws.write_number(row, j, v, fmt(key) if key else None)
                            widths[j] = max(widths.get(j, 0), len(f"{v:,.0f}") + 4)
                        else:
                            _write_text(ws, row, j, v, None, text_safe)
                            widths[j] = max(widths.get(j, 0), min(len(v), 60) + 2)
                    row += 1
                row += 1  # a blank row between blocks
            for j, w in widths.items():
                ws.set_column(j, j, max(8, min(w, 62)))
            if first_header_row is not None:
                ws.freeze_panes(first_header_row + 1, 0)
        wb.close()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _write_text(ws, row: int, col: int, text: str, cell_format, safe_format) -> None:
    """Text is always written with write_string (never as a formula); text that a spreadsheet
    would treat as a formula also gets the quote-prefix style."""
    if is_dangerous(text):
        ws.write_string(row, col, text, safe_format)
    elif cell_format is not None:
        ws.write_string(row, col, text, cell_format)
    else:
        ws.write_string(row, col, text)


# ------------------------------------------------------------------ CSV


def csv_text(df: pd.DataFrame) -> str:
    """A table as CSV with every text cell neutralised (numbers untouched)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180: a CR or LF inside a field is quoted
    w.writerow([neutralise(str(c)) for c in df.columns])
    for rec in df.itertuples(index=False, name=None):
        out = []
        for v in rec:
            v = _cell(v)
            if v is None:
                out.append("")
            elif isinstance(v, bool):
                out.append("true" if v else "false")
            elif isinstance(v, float):
                out.append(repr(v) if not v.is_integer() else str(int(v)) if abs(v) < 1e15 else repr(v))
            else:
                out.append(neutralise(v))
        w.writerow(out)
    return buf.getvalue()


def csv_names(blocks: dict[str, list[Block]]) -> list[str]:
    return [f"{b.csv_name}.csv" for sheet in blocks.values() for b in sheet]


def write_csvs(blocks: dict[str, list[Block]], out_dir: str | os.PathLike, force: bool = False) -> list[Path]:
    """One CSV per table in ``out_dir`` (created if missing); refuses existing files unless ``force``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir}: is a file, not a folder. Fix: give a folder for --csv.")
    targets = [out_dir / n for n in csv_names(blocks)]
    _check_free(targets, force)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for sheet in blocks.values():
        for b in sheet:
            p = out_dir / f"{b.csv_name}.csv"
            write_text_atomic(p, csv_text(b.df))
            written.append(p)
    return written


# ------------------------------------------------------------------ GeoPackage


def plan_layers(sch: Schedule):
    """The plan for QGIS: ``sites`` (Point, every site with its decision and sale year) and
    ``moves`` (LineString from the old site, or a homeless service's own point, to the new
    site), EPSG:27700."""
    import geopandas as gpd
    import shapely

    plan = sch.plan
    s = plan.sites.merge(sch.disposals[["site_id", "sale_year", "financial_year", "gross_receipt_gbp",
                                        "net_receipt_gbp", "running_cost_saved_gbp_per_year"]],
                         on="site_id", how="left")
    s = s.rename(columns={"financial_year": "sale_financial_year"})
    e, n = s["easting"].to_numpy(float), s["northing"].to_numpy(float)
    ok = ~np.isnan(e) & ~np.isnan(n)
    geom = np.full(len(s), None, dtype=object)
    geom[ok] = shapely.points(e[ok], n[ok])
    s["sale_year"] = s["sale_year"].astype("Float64")
    s["sale_financial_year"] = s["sale_financial_year"].astype(object).where(s["sale_financial_year"].notna(), None)
    sites = gpd.GeoDataFrame(s, geometry=gpd.GeoSeries(geom, crs="EPSG:27700"), crs="EPSG:27700")
    xy = {sid: (x, y) for sid, x, y in zip(plan.sites["site_id"], e, n, strict=True)}
    m = plan.moves[plan.moves["moved"]].reset_index(drop=True)
    lines = []
    for r in m.itertuples(index=False):
        a = xy.get(r.from_site_id) if r.from_site_id else (r.from_easting, r.from_northing)
        b = xy.get(r.to_site_id)
        if a is None or b is None or any(v is None or math.isnan(v) for v in (*a, *b)):
            lines.append(None)
        else:
            lines.append(shapely.linestrings([a, b]))
    m = m.drop(columns=["from_easting", "from_northing"])
    moves = gpd.GeoDataFrame(m, geometry=gpd.GeoSeries(lines, crs="EPSG:27700"), crs="EPSG:27700")
    return sites, moves


def write_plan_gpkg(sch: Schedule, path: str | os.PathLike, force: bool = False) -> Path:
    import pyogrio

    path = Path(path)
    _check_free([path], force)
    sites, moves = plan_layers(sch)
    tmp = _tmp_beside(path, ".gpkg")
    try:
        pyogrio.write_dataframe(sites, tmp, layer="sites", driver="GPKG", geometry_type="Point")
        pyogrio.write_dataframe(moves, tmp, layer="moves", driver="GPKG", geometry_type="LineString")
        os.replace(tmp, path)
    finally:
        for p in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            if p.exists():
                p.unlink()
    return path


# ------------------------------------------------------------------ all of it


def read_problems(register_path: str | os.PathLike | None) -> pd.DataFrame | None:
    """The register's problems layer (validation problems), or None."""
    if register_path is None or not Path(register_path).exists():
        return None
    import pyogrio

    layers = {str(n) for n, _ in pyogrio.list_layers(register_path)}
    if "problems" not in layers:
        return None
    df = pd.DataFrame(pyogrio.read_dataframe(register_path, layer="problems", read_geometry=False))
    order = [c for c in ("severity", "agency", "file", "row", "column", "value", "problem", "fix", "table",
                         "record_id", "code", "stage") if c in df.columns]
    return df[order + [c for c in df.columns if c not in order]]


def export_schedule(sch: Schedule, xlsx=None, csv_dir=None, gpkg=None, force: bool = False,
                    problems: pd.DataFrame | None = None, record: dict | None = None) -> list[Path]:
    """Write whichever of the workbook, the CSVs and the GeoPackage are asked for. Every
    target is checked first, so a refusal writes nothing."""
    if not (xlsx or csv_dir or gpkg):
        raise PlannerError("nothing to export. Fix: give --xlsx FILE, --csv DIR and/or --gpkg FILE.")
    blocks = export_blocks(sch, problems=problems, record=record)
    targets = []
    if xlsx:
        targets.append(Path(xlsx))
    if gpkg:
        targets.append(Path(gpkg))
    if csv_dir:
        targets += [Path(csv_dir) / n for n in csv_names(blocks)]
    _check_free(targets, force)
    out = []
    if xlsx:
        out.append(write_xlsx(blocks, xlsx, force=force))
    if csv_dir:
        out += write_csvs(blocks, csv_dir, force=force)
    if gpkg:
        out.append(write_plan_gpkg(sch, gpkg, force=force))
    return out
