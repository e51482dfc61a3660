"""From the spec's inputs to an explained plan (../shared/spec/model.md, version 1).

Stages, each a function here:

1. ``read_inputs`` / ``inputs_from_frames`` / ``inputs_from_register``: load sites, services,
   zones and pair costs (CSV files with the spec's column names, pandas frames, or the
   register's GeoPackage) and validate them strictly: a missing column, an id that appears
   twice, a service whose site does not exist, an impossible value are refused before any
   solving, every problem at once, each naming the file, row, column and what is expected.
2. ``build_instance``: the derived quantities (d, a, benefits, effective capacities, which
   sites are disposable or forced), the allowed pairs found with a spatial index (a k-d tree on
   EPSG:27700 metres, so memory grows with the allowed pairs, not with sites x services), their
   costs, and the access rows; the result is a ``planner.model.ModelData``.
3. ``split_parts``: independent parts (no move, access row or coupling rule joins them), each
   solved on its own; the budget and the disposal limit join everything, the partner rule joins
   each agency's sites and services.
4. ``solve_instance``: solve the parts (HiGHS by default), combine, check the plan against every
   rule; when there is no plan, ``diagnose`` says which sites, services and rules stand in the
   way and why.
5. ``make_plan`` / ``Plan.write``: decisions, placements, totals (overall and by agency) and
   explanations, written atomically into a new output folder.

``optimise(...)`` runs them all; ``planner optimise`` on the command line calls it.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputFileError, PlannerError, SolverError, ValidationError
from planner.highs_direct import (
    HighsStopper,
    call_stoppable,
    feasible_without,
    solve_elastic,
    solve_highs,
)
from planner.model import (
    DISPOSE,
    FEASIBLE,
    FREE,
    INFEASIBLE,
    KEEP,
    NO_SOLUTION,
    OPTIMAL,
    ModelData,
    Solution,
    SolveOptions,
    finish_solution,
)
from planner.problems import Problem, ProblemReport, write_text_atomic
from planner.scenario import Scenario, load_scenario
from planner.schema import NIA_TO_GIA

# ---------------------------------------------------------------------------------------------
# 1. Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A column of an input table: kind, whether the column and a value are required, the
    default of an empty cell and the allowed range."""

    name: str
    kind: str  # id | text | float | year | bool
    column_required: bool = False
    value_required: bool = False
    default: object = None
    low: float | None = None
    low_strict: bool = False
    aliases: tuple[str, ...] = ()
    help: str = ""


TABLES: dict[str, list[Col]] = {
    "sites": [
        Col("site_id", "id", True, True, help="a unique text id"),
        Col("agency", "text", True, True, help="the owning body, e.g. council, nhs, police, fire"),
        Col("easting", "float", False, False, help="EPSG:27700 metres (or give lon and lat)"),
        Col("northing", "float", False, False, help="EPSG:27700 metres (or give lon and lat)"),
        Col("lon", "float", False, False, aliases=("longitude",), help="WGS84 degrees, when there is no easting"),
        Col("lat", "float", False, False, aliases=("latitude",), help="WGS84 degrees, when there is no northing"),
        Col("capacity_m2", "float", False, False, low=0.0, help="floor area services may occupy, m2"),
        Col("gia_m2", "float", False, False, low=0.0, help="gross internal area, m2 (capacity = 0.8 x GIA when capacity_m2 is empty)"),
        Col("running_cost_gbp", "float", False, False, 0.0, low=0.0, help="yearly running cost, GBP"),
        Col("backlog_gbp", "float", False, False, 0.0, low=0.0, help="backlog to condition B, GBP"),
        Col("market_value_gbp", "float", False, False, 0.0, low=0.0, help="gross receipt if sold, GBP"),
        Col("disposal_cost_gbp", "float", False, False, None, low=0.0, help="sale fees and costs, GBP"),
        Col("exit_cost_gbp", "float", False, False, 0.0, low=0.0, help="lease exit cost, GBP"),
        Col("available_year", "year", False, False, 0, low=0.0, help="first year it can be vacated (0 = now)"),
        Col("locked", "bool", False, False, False, help="true or false"),
        Col("can_receive", "bool", False, False, True, help="true or false"),
        Col("accepts", "text", False, False, "", help="service types separated by ';' (empty: any)"),
        Col("name", "text", False, False, ""),
    ],
    "services": [
        Col("service_id", "id", True, True, help="a unique text id"),
        Col("site_id", "text", False, False, "", help="the id of the site it occupies now (empty: needs a home)"),
        Col("agency", "text", True, True, help="the body that runs it"),
        Col("service_type", "text", True, True, help="e.g. office, library, gp"),
        Col("space_m2", "float", True, True, low=0.0, low_strict=True, help="floor area it needs, m2 (> 0)"),
        Col("fte", "float", False, False, 0.0, low=0.0, help="staff (FTE)"),
        Col("movable", "bool", False, False, True, help="true or false"),
        Col("max_move_m", "float", False, False, None, low=0.0, help="metres (empty: the scenario's max_move_m)"),
        Col("easting", "float", False, False, help="EPSG:27700 metres, only for a service with no site"),
        Col("northing", "float", False, False, help="EPSG:27700 metres, only for a service with no site"),
        Col("lon", "float", False, False, aliases=("longitude",)),
        Col("lat", "float", False, False, aliases=("latitude",)),
        Col("name", "text", False, False, ""),
    ],
    "zones": [
        Col("zone_id", "id", True, True, help="a unique text id"),
        Col("population", "float", True, True, low=0.0, help="residents (>= 0)"),
        Col("easting", "float", False, False, help="EPSG:27700 metres (or give lon and lat)"),
        Col("northing", "float", False, False, help="EPSG:27700 metres (or give lon and lat)"),
        Col("lon", "float", False, False, aliases=("longitude",)),
        Col("lat", "float", False, False, aliases=("latitude",)),
        Col("name", "text", False, False, ""),
    ],
    "pair_costs": [
        Col("service_id", "text", True, True, help="a service id from the services table"),
        Col("site_id", "text", True, True, help="a site id from the sites table"),
        Col("one_off_gbp", "float", False, False, 0.0, help="GBP, once"),
        Col("annual_gbp", "float", False, False, 0.0, help="GBP a year"),
        Col("allowed", "bool", False, False, True, help="true or false"),
    ],
}
POINT_REQUIRED = {"sites": True, "services": False, "zones": True, "pair_costs": False}


@dataclass
class Inputs:
    """Validated input tables (spec column names, typed, defaults filled where the spec gives
    one), the scenario, and every warning or note found on the way."""

    sites: pd.DataFrame
    services: pd.DataFrame
    zones: pd.DataFrame | None
    pair_costs: pd.DataFrame | None
    scenario: Scenario
    problems: ProblemReport = field(default_factory=ProblemReport)
    sources: dict[str, str] = field(default_factory=dict)


def _norm(h: str) -> str:
    return "".join(ch for ch in str(h).strip().lower() if ch.isalnum())


def _is_empty(s: pd.Series) -> np.ndarray:
    if len(s) == 0:
        return np.zeros(0, dtype=bool)
    na = s.isna().to_numpy(dtype=bool)
    txt = s.astype("object").map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                                 else str(v).strip())
    return na | (txt == "").to_numpy(dtype=bool)


def _parse_float(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers (also '1,234' and '£5'); returns values (NaN where empty or bad) and a bad mask."""
    from planner.readers.base import parse_number

    empty = _is_empty(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        vals = np.full(len(s), np.nan)
        return vals, ~empty
    num = pd.to_numeric(s, errors="coerce")
    vals = np.asarray(num.astype("Float64").to_numpy(dtype=float, na_value=np.nan), dtype=float)
    bad = ~empty & ~np.isfinite(vals)
    for i in np.nonzero(bad)[0]:
        v = s.iloc[i]
        if isinstance(v, (bool, np.bool_)):
            continue
        try:
            p = parse_number(str(v))
        except ValueError:
            continue
        if p is not None and math.isfinite(p):
            vals[i] = p
            bad[i] = False
    vals[empty] = np.nan
    vals[bad] = np.nan
    return vals, bad


_BOOL = {"true": True, "t": True, "yes": True, "y": True, "1": True, "1.0": True,
         "false": False, "f": False, "no": False, "n": False, "0": False, "0.0": False}


def _parse_bool(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values, empty mask, bad mask."""
    empty = _is_empty(s)
    txt = s.astype("object").map(lambda v: str(v).strip().lower() if not (v is None or v is pd.NA or (
        isinstance(v, float) and math.isnan(v))) else "")
    mapped = txt.map(_BOOL).astype("object")
    bad = ~empty & mapped.isna().to_numpy(dtype=bool)
    vals = np.array([bool(v) if v is True or v is False else False for v in mapped], dtype=bool)
    return vals, empty, bad


def _text(s: pd.Series) -> pd.Series:
    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return s.astype("object").map(one)


def validate_table(raw: pd.DataFrame, table: str, file: str, rows: np.ndarray | None,
                   report: ProblemReport, note_unused: bool = True) -> pd.DataFrame:
    """Check one input table and return it typed, with the spec's names and defaults, plus a
    ``_row`` column (spreadsheet row: header = 1). Problems are added to ``report``."""
    spec = TABLES[table]
    rows = np.arange(2, len(raw) + 2) if rows is None else np.asarray(rows)
    by_norm: dict[str, list[str]] = {}
    for c in raw.columns:
        by_norm.setdefault(_norm(c), []).append(c)
    out = pd.DataFrame(index=raw.index)
    used: set[str] = set()
    n_before = len(report.errors)

    def err(row, col, value, problem, fix, rid=None, code=""):
        report.add(Problem(file, None if row is None else int(row), col, None if value is None else str(value)[:80],
                           problem, fix, "error", table, rid, code))

    ids = None
    for col in spec:
        names = [c for n in (col.name, *col.aliases) for c in by_norm.get(_norm(n), [])]
        if len(names) > 1:
            err(None, col.name, ", ".join(map(str, names)), f"more than one column gives {col.name}",
                "keep one of them", code="duplicate_column")
        if not names:
            if col.column_required:
                err(None, col.name, None, f"the {table} table has no {col.name} column",
                    f"add a column named {col.name} ({col.help})", code="missing_column")
            n = len(raw)
            if col.kind in ("float", "year"):
                out[col.name] = np.full(n, np.nan if col.default is None else float(col.default))
            elif col.kind == "bool":
                out[col.name] = np.full(n, bool(col.default))
            else:
                out[col.name] = pd.Series([col.default or ""] * n, index=raw.index, dtype="object")
            continue
        used.update(names)
        s = raw[names[0]]
        if col.kind in ("id", "text"):
            vals = _text(s)
            if col.value_required:
                for i in np.nonzero((vals == "").to_numpy())[0]:
                    err(rows[i], col.name, "", f"{col.name} is empty", f"give {col.help}",
                        code="missing_value")
            out[col.name] = vals
            if col.kind == "id":
                ids = vals
                dup = vals[(vals != "") & vals.duplicated(keep=False)]
                for v, grp in dup.groupby(dup, sort=False):
                    where = [int(rows[raw.index.get_loc(i)]) for i in grp.index]
                    for r in where[1:]:
                        err(r, col.name, v, f"the id {v!r} appears more than once (rows {', '.join(map(str, where))})",
                            "give every record its own id", v, "duplicate_id")
        elif col.kind in ("float", "year"):
            vals, bad = _parse_float(s)
            for i in np.nonzero(bad)[0]:
                err(rows[i], col.name, s.iloc[i], "not a number", f"write a plain number ({col.help})",
                    code="not_a_number")
            empty = np.isnan(vals) & ~bad
            if col.value_required:
                for i in np.nonzero(empty)[0]:
                    err(rows[i], col.name, "", f"{col.name} is empty", f"give {col.help}", code="missing_value")
            if col.low is not None:
                low_bad = (vals <= col.low) if col.low_strict else (vals < col.low)
                for i in np.nonzero(low_bad)[0]:
                    err(rows[i], col.name, s.iloc[i],
                        f"{col.name} must be {'greater than' if col.low_strict else 'at least'} {col.low:g}",
                        f"give {col.help}", code="out_of_range")
            if col.kind == "year":
                frac = ~np.isnan(vals) & (np.abs(vals - np.round(vals)) > 1e-9)
                for i in np.nonzero(frac)[0]:
                    err(rows[i], col.name, s.iloc[i], "not a whole number of years",
                        "give whole years from now (0 = now, 2 = two years from now)", code="not_whole")
                cal = vals >= 1000
                for i in np.nonzero(cal)[0]:
                    err(rows[i], col.name, s.iloc[i], "looks like a calendar year",
                        "give years from now (0 = now), e.g. 3 for a lease break three years ahead",
                        code="calendar_year")
            if col.default is not None:
                vals = np.where(np.isnan(vals), float(col.default), vals)
            out[col.name] = vals
        elif col.kind == "bool":
            vals, empty, bad = _parse_bool(s)
            for i in np.nonzero(bad)[0]:
                err(rows[i], col.name, s.iloc[i], "not a true/false value",
                    "write true or false (also yes/no, 1/0)", code="not_bool")
            out[col.name] = np.where(empty, bool(col.default), vals)
    if note_unused:
        unused = [c for c in raw.columns if c not in used and not str(c).startswith("_")]
        if unused:
            report.add(Problem(file, None, None, ", ".join(map(str, unused))[:200],
                               f"column{'s' if len(unused) > 1 else ''} not used by the optimiser",
                               "nothing to do; rename a column to the spec's name if it was meant to be used",
                               "info", table, None, "unused_column"))
    # coordinates: easting/northing, or lon/lat converted
    if "easting" in out.columns and "lon" in out.columns:
        _coordinates(out, table, file, rows, report, ids)
    out["_row"] = rows
    out.attrs["errors"] = len(report.errors) - n_before
    return out.reset_index(drop=True)


def _coordinates(out: pd.DataFrame, table: str, file: str, rows, report: ProblemReport, ids) -> None:
    from planner.geo import GB_LAT, GB_LON, wgs84_to_bng

    e = np.array(out["easting"].to_numpy(dtype=float, na_value=np.nan), dtype=float, copy=True)
    n = np.array(out["northing"].to_numpy(dtype=float, na_value=np.nan), dtype=float, copy=True)
    lon = np.asarray(out["lon"].to_numpy(dtype=float, na_value=np.nan), dtype=float)
    lat = np.asarray(out["lat"].to_numpy(dtype=float, na_value=np.nan), dtype=float)
    use_ll = np.isnan(e) & np.isnan(n) & ~np.isnan(lon) & ~np.isnan(lat)
    if use_ll.any():
        ok = use_ll & (lon >= GB_LON[0]) & (lon <= GB_LON[1]) & (lat >= GB_LAT[0]) & (lat <= GB_LAT[1])
        for i in np.nonzero(use_ll & ~ok)[0]:
            report.add(Problem(file, int(rows[i]), "lon", f"{lon[i]}, {lat[i]}", "lon/lat is not in Great Britain",
                               "give lon (-8.7..1.9) and lat (49.8..61.0) in WGS84 degrees, or easting/northing",
                               "error", table, None if ids is None else ids.iloc[i], "outside_gb"))
        if ok.any():
            ee, nn = wgs84_to_bng(lon[ok], lat[ok])
            e[ok], n[ok] = ee, nn
    half = np.isnan(e) != np.isnan(n)
    for i in np.nonzero(half)[0]:
        report.add(Problem(file, int(rows[i]), "easting" if np.isnan(e[i]) else "northing", "",
                           "only one of easting and northing is given", "give both (EPSG:27700 metres) or neither",
                           "error", table, None if ids is None else ids.iloc[i], "half_point"))
    if POINT_REQUIRED[table]:
        for i in np.nonzero(np.isnan(e) & np.isnan(n))[0]:
            report.add(Problem(file, int(rows[i]), "easting", "", "no location",
                               "give easting and northing (EPSG:27700 metres) or lon and lat",
                               "error", table, None if ids is None else ids.iloc[i], "missing_value"))
    out["easting"] = e
    out["northing"] = n
    del out["lon"]
    del out["lat"]


def _read_csv(path: str | Path, table: str, report: ProblemReport) -> pd.DataFrame:
    from planner.readers.base import read_raw_table

    path = Path(path)
    raw = read_raw_table(path)
    for p in raw.problems:
        report.add(p)
    seen: dict[str, int] = {}
    headers = []
    for h in raw.headers:
        h = h or "(no name)"
        seen[h] = seen.get(h, 0) + 1
        headers.append(h if seen[h] == 1 else f"{h} ({seen[h]})")
    df = pd.DataFrame(raw.records, columns=headers, dtype="object") if raw.records else pd.DataFrame(
        columns=headers, dtype="object")
    dup = [h for h, k in seen.items() if k > 1]
    if dup:
        report.add(Problem(str(path), 1, dup[0], dup[0], f"the column name {dup[0]!r} appears more than once",
                           "give every column its own name", "error", table, None, "duplicate_column"))
    return validate_table(df, table, str(path), np.asarray(raw.rows), report)


def _fill_disposal_cost(sites: pd.DataFrame, scenario: Scenario) -> None:
    dc = np.asarray(sites["disposal_cost_gbp"].to_numpy(dtype=float, na_value=np.nan), dtype=float)
    mv = sites["market_value_gbp"].to_numpy(dtype=float)
    sites["disposal_cost_from_rate"] = np.isnan(dc)
    sites["disposal_cost_gbp"] = np.where(np.isnan(dc), scenario.disposal_cost_rate * mv, dc)


def _fill_capacity(sites: pd.DataFrame, file: str, report: ProblemReport) -> None:
    cap = np.asarray(sites["capacity_m2"].to_numpy(dtype=float, na_value=np.nan), dtype=float)
    gia = np.asarray(sites["gia_m2"].to_numpy(dtype=float, na_value=np.nan), dtype=float)
    from_gia = np.isnan(cap) & ~np.isnan(gia)
    cap = np.where(from_gia, NIA_TO_GIA * gia, cap)
    for i in np.nonzero(np.isnan(cap))[0]:
        report.add(Problem(file, int(sites["_row"].iloc[i]), "capacity_m2", "", "no capacity_m2 and no gia_m2",
                           "give capacity_m2 (floor area services may occupy) or gia_m2 (capacity = 0.8 x GIA)",
                           "error", "sites", sites["site_id"].iloc[i], "missing_value"))
    if from_gia.any():
        report.add(Problem(file, None, "capacity_m2", None,
                           f"capacity_m2 of {int(from_gia.sum())} sites taken as {NIA_TO_GIA} x gia_m2",
                           "give capacity_m2 where it is known", "info", "sites", None, "capacity_from_gia"))
    sites["capacity_m2"] = cap
    sites["capacity_from_gia"] = from_gia


def check_inputs(inputs: Inputs) -> None:
    """Cross-table checks; raise ValidationError naming every problem (before any solving)."""
    sc, rep = inputs.scenario, inputs.problems
    S, U = inputs.sites, inputs.services
    fs, fu = inputs.sources.get("sites", "sites"), inputs.sources.get("services", "services")
    _fill_capacity(S, fs, rep)
    _fill_disposal_cost(S, sc)
    site_ids = set(S["site_id"])
    for i in np.nonzero(~U["site_id"].isin(site_ids).to_numpy() & (U["site_id"] != "").to_numpy())[0]:
        rep.add(Problem(fu, int(U["_row"].iloc[i]), "site_id", U["site_id"].iloc[i],
                        f"service {U['service_id'].iloc[i]!r} is in site {U['site_id'].iloc[i]!r}, which is not in the sites table",
                        "give the id of a site in the sites table, or leave site_id empty for a service that needs a home",
                        "error", "services", U["service_id"].iloc[i], "unknown_site"))
    has_site = (U["site_id"] != "").to_numpy()
    pt = ~np.isnan(U["easting"].to_numpy(dtype=float)) & has_site
    if pt.any():
        rep.add(Problem(fu, None, "easting", None,
                        f"{int(pt.sum())} services that have a site also give easting/northing; distances are "
                        "measured from their site, so these points are not used",
                        "leave easting/northing empty for services that have a site", "warning", "services", None,
                        "point_ignored"))
    U["max_move_m"] = np.where(np.isnan(U["max_move_m"].to_numpy(dtype=float)), sc.max_move_m,
                               U["max_move_m"].to_numpy(dtype=float))
    for key in ("dispose_site_ids", "keep_site_ids"):
        missing = [s for s in getattr(sc, key) if s not in site_ids]
        if missing:
            rep.add(Problem(sc.source or "scenario", None, key, ", ".join(missing)[:200],
                            f"scenario key {key} names sites that are not in the sites table",
                            "give ids from the sites table", "error", "scenario", None, "unknown_site"))
    ag = set(S["agency"].str.casefold()) | set(U["agency"].str.casefold())
    if sc.sharing is not None:
        names = set(sc.sharing) | {g for v in sc.sharing.values() for g in v}
        unknown = sorted(names - ag)
        if unknown:
            rep.add(Problem(sc.source or "scenario", None, "sharing", ", ".join(unknown),
                            "agencies named in [sharing] that own no site and run no service here",
                            "check the spelling (names are not case-sensitive)", "warning", "scenario", None,
                            "unknown_agency"))
    types = set(U["service_type"].str.casefold())
    unknown_t = sorted(set(sc.access) - types)
    if unknown_t:
        rep.add(Problem(sc.source or "scenario", None, "access", ", ".join(unknown_t),
                        "service types in [access] that no service has", "check the spelling of the service types",
                        "warning", "scenario", None, "unknown_type"))
    if sc.access and (inputs.zones is None or len(inputs.zones) == 0):
        rep.add(Problem(sc.source or "scenario", None, "access", None,
                        "the scenario has an [access] table but no zones were given, so no access rule applies",
                        "give a zones table (--zones) for the access rule", "warning", "scenario", None, "no_zones"))
    P = inputs.pair_costs
    if P is not None and len(P):
        fp = inputs.sources.get("pair_costs", "pair_costs")
        svc_ids = set(U["service_id"])
        for i in np.nonzero(~P["service_id"].isin(svc_ids).to_numpy() & (P["service_id"] != "").to_numpy())[0]:
            rep.add(Problem(fp, int(P["_row"].iloc[i]), "service_id", P["service_id"].iloc[i],
                            "no service has this id", "give an id from the services table", "error", "pair_costs",
                            None, "unknown_service"))
        for i in np.nonzero(~P["site_id"].isin(site_ids).to_numpy() & (P["site_id"] != "").to_numpy())[0]:
            rep.add(Problem(fp, int(P["_row"].iloc[i]), "site_id", P["site_id"].iloc[i],
                            "no site has this id", "give an id from the sites table", "error", "pair_costs",
                            None, "unknown_site"))
        key = P["service_id"] + "\x00" + P["site_id"]
        dup = key.duplicated(keep="first").to_numpy()
        for i in np.nonzero(dup)[0]:
            rep.add(Problem(fp, int(P["_row"].iloc[i]), "site_id", f"{P['service_id'].iloc[i]} / {P['site_id'].iloc[i]}",
                            "this service and site pair is listed more than once", "list each pair once", "error",
                            "pair_costs", None, "duplicate_id"))
    if rep.has_errors:
        raise ValidationError(_summarise_errors(rep), rep)


def _raise_if_unusable(rep: ProblemReport) -> None:
    """Stop before the cross-table checks only when a table lacks a column they need; else
    every problem of every table is gathered first."""
    if any(p.code in ("missing_column", "duplicate_column") for p in rep.errors):
        raise ValidationError(_summarise_errors(rep), rep)


def _summarise_errors(rep: ProblemReport) -> str:
    errs = rep.errors
    lines = [str(p) for p in errs[:20]]
    more = f"\n... and {len(errs) - 20} more" if len(errs) > 20 else ""
    return f"{len(errs)} problem{'s' if len(errs) != 1 else ''} in the input, nothing was solved:\n- " + \
        "\n- ".join(lines) + more


def read_inputs(sites: str | Path, services: str | Path, scenario: str | Path | Scenario,
                zones: str | Path | None = None, pair_costs: str | Path | None = None) -> Inputs:
    """Read and validate the spec's CSV files and scenario (every problem at once)."""
    rep = ProblemReport()
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    tables = {}
    for name, path in (("sites", sites), ("services", services), ("zones", zones), ("pair_costs", pair_costs)):
        if path is None:
            tables[name] = None
            continue
        if not Path(path).is_file():
            raise InputFileError(f"{path}: no such file (the {name.replace('_', ' ')} table). Fix: check the path.")
        tables[name] = _read_csv(path, name, rep)
    sources = {k: str(v) for k, v in (("sites", sites), ("services", services), ("zones", zones),
                                       ("pair_costs", pair_costs)) if v is not None}
    inputs = Inputs(tables["sites"], tables["services"], tables["zones"], tables["pair_costs"], sc, rep, sources)
    _raise_if_unusable(rep)
    check_inputs(inputs)
    return inputs


def inputs_from_frames(sites: pd.DataFrame, services: pd.DataFrame, scenario: Scenario | dict,
                       zones: pd.DataFrame | None = None, pair_costs: pd.DataFrame | None = None,
                       names: dict[str, str] | None = None, note_unused: bool = False) -> Inputs:
    """Validate tables given as pandas frames (rows are reported as record number + 1, as if
    the frame were a spreadsheet with a header row)."""
    from planner.scenario import scenario_from_dict

    sc = scenario if isinstance(scenario, Scenario) else scenario_from_dict(scenario, "scenario")
    rep = ProblemReport()
    names = names or {}
    out = {}
    for name, df in (("sites", sites), ("services", services), ("zones", zones), ("pair_costs", pair_costs)):
        if df is None:
            out[name] = None
            continue
        label = names.get(name, f"{name} table")
        rows = df["_row"].to_numpy() if "_row" in df.columns else None
        out[name] = validate_table(df.reset_index(drop=True), name, label, rows, rep, note_unused)
    sources = {k: names.get(k, f"{k} table") for k in out if out[k] is not None}
    inputs = Inputs(out["sites"], out["services"], out["zones"], out["pair_costs"], sc, rep, sources)
    _raise_if_unusable(rep)
    check_inputs(inputs)
    return inputs


def inputs_from_register(register: str | Path, scenario: Scenario | str | Path,
                         pair_costs: str | Path | pd.DataFrame | None = None) -> Inputs:
    """The register's GeoPackage -> the same inputs: sites in analysis and located, their
    services, the zones. Records left out are reported (never dropped silently)."""
    import pyogrio

    path = Path(register)
    if not path.is_file():
        raise InputFileError(f"{path}: no such register. Fix: check the path, or build one with `planner import`.")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    try:
        layers = {name for name, _geom in pyogrio.list_layers(path)}
    except Exception as exc:  # pyogrio raises several kinds for a file that is not a GeoPackage
        raise InputFileError(f"{path}: cannot read the register ({exc}). Fix: give a register GeoPackage.") from exc
    for need in ("sites", "services"):
        if need not in layers:
            raise InputFileError(f"{path}: the register has no {need} layer. Fix: give a register built by the planner.")

    def read(layer):
        df = pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
        return pd.DataFrame(df)

    rep = ProblemReport()
    S = read("sites")
    U = read("services")
    Z = read("zones") if "zones" in layers else None

    def flag(df, col, default):
        if col not in df.columns:
            return np.full(len(df), default)
        v, empty, bad = _parse_bool(df[col])
        return np.where(empty | bad, default, v)

    keep = flag(S, "in_analysis", True) & flag(S, "located", True)
    if (~keep).any():
        rep.add(Problem(str(path), None, "in_analysis", None,
                        f"{int((~keep).sum())} sites are out of analysis or have no location and are left out "
                        f"of the plan: {', '.join(map(str, S.loc[~keep, 'site_id'].head(10)))}"
                        f"{' ...' if (~keep).sum() > 10 else ''}",
                        "fix them in the register (see its problems layer) to include them", "warning", "sites",
                        None, "left_out"))
    S_rows = np.arange(2, len(S) + 2)[keep]
    S = S[keep].reset_index(drop=True)
    S["_row"] = S_rows
    sid = set(_text(S["site_id"]))
    u_site = _text(U["site_id"]) if "site_id" in U.columns else pd.Series([""] * len(U))
    gone = (u_site != "").to_numpy() & ~u_site.isin(sid).to_numpy()
    if gone.any():
        rep.add(Problem(str(path), None, "site_id", None,
                        f"{int(gone.sum())} services are in sites left out of the plan and are left out too: "
                        f"{', '.join(map(str, U.loc[gone, 'service_id'].head(10)))}{' ...' if gone.sum() > 10 else ''}",
                        "fix their sites in the register to include them", "warning", "services", None, "left_out"))
    U_rows = np.arange(2, len(U) + 2)[~gone]
    U = U[~gone].reset_index(drop=True)
    U["_row"] = U_rows
    if "estimated_fields" in S.columns:
        est = _text(S["estimated_fields"])
        n_est = int((est != "").sum())
        if n_est:
            rep.add(Problem(str(path), None, "estimated_fields", None,
                            f"{n_est} sites have estimated values (see estimated_fields); the plan uses them as given",
                            "replace estimates with known values where you can", "info", "sites", None, "estimated"))
    P = None
    if isinstance(pair_costs, (str, Path)):
        P = _read_csv(pair_costs, "pair_costs", rep)
    elif isinstance(pair_costs, pd.DataFrame):
        P = validate_table(pair_costs.reset_index(drop=True), "pair_costs", "pair costs", None, rep, False)
    names = {"sites": f"{path} (layer sites)", "services": f"{path} (layer services)", "zones": f"{path} (layer zones)"}
    inputs_rep = rep
    out = {}
    for name, df in (("sites", S), ("services", U), ("zones", Z)):
        if df is None:
            out[name] = None
            continue
        rows = df["_row"].to_numpy() if "_row" in df.columns else None
        out[name] = validate_table(df.drop(columns=[c for c in df.columns if c == "_row"]), name, names[name],
                                   rows, inputs_rep, note_unused=False)
    sources = dict(names)
    sources["register"] = str(path)
    if isinstance(pair_costs, (str, Path)):
        sources["pair_costs"] = str(pair_costs)
    inputs = Inputs(out["sites"], out["services"], out["zones"], P, sc, inputs_rep, sources)
    _raise_if_unusable(inputs_rep)
    check_inputs(inputs)
    return inputs


# ---------------------------------------------------------------------------------------------
# 2. The instance: derived quantities, allowed pairs, access rows
# ---------------------------------------------------------------------------------------------


@dataclass
class Instance:
    """Everything the model and the explanations need, as arrays aligned with the inputs."""

    inputs: Inputs
    data: ModelData
    benefit_parts: pd.DataFrame  # per site: receipt_pv, running_pv, backlog, benefit
    site_cur_load: np.ndarray
    site_fixed_reason: list[str]  # why a site is not free ("" when free)
    site_forced_out: np.ndarray
    service_site: np.ndarray  # current site index, -1 for none
    pair_distance: np.ndarray  # metres, NaN when the service has no point
    pair_one_off: np.ndarray  # one-off spend of the pair (moves; 0 for staying)
    pair_listed: np.ndarray  # a pair-cost row applies
    cover_type: list[str]
    cover_zone: list[list[str]]  # zones whose access row this is (deduplicated rows)
    cover_distance: list[float]
    unplaceable: list[int]  # services with no allowed pair
    empty_cover: list[tuple[str, str, float]]  # (type, zone, distance) rows that no pair can meet
    site_room: np.ndarray | None = None  # capacity less the space of services that can never leave
    build_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _annuity_table(sc: Scenario) -> tuple[np.ndarray, np.ndarray]:
    H = sc.horizon_years
    t = np.arange(0, H + 1)
    d = (1.0 + sc.discount_rate) ** (-t.astype(float))
    # a(k) = sum_{t=k+1}^{H} d(t): reverse cumulative sum
    a = np.zeros(H + 1)
    a[:H] = np.cumsum(d[::-1])[::-1][1:]
    return d, a


def _pairs_within(origin: np.ndarray, radius: np.ndarray, site_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(service, site) index pairs with distance <= radius, found with k-d trees."""
    from scipy.spatial import cKDTree

    if origin.shape[0] == 0 or site_xy.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    tree = cKDTree(site_xy)
    us, js = [], []
    radii = np.unique(radius)
    if radii.size <= 64:
        for R in radii:
            grp = np.nonzero(radius == R)[0]
            m = cKDTree(origin[grp]).sparse_distance_matrix(tree, float(R) * (1 + 1e-9) + 1e-6, output_type="ndarray")
            us.append(grp[m["i"]])
            js.append(m["j"].astype(np.int64))
    else:
        lists = tree.query_ball_point(origin, radius * (1 + 1e-9) + 1e-6, return_sorted=False)
        lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        us.append(np.repeat(np.arange(origin.shape[0]), lens))
        js.append(np.fromiter((j for x in lists for j in x), dtype=np.int64, count=int(lens.sum())))
    return np.concatenate(us), np.concatenate(js)


def build_instance(inputs: Inputs) -> Instance:
    """Derived quantities, allowed pairs and their costs, access rows: the model's arrays."""
    t0 = time.perf_counter()
    sc = inputs.scenario
    S, U, Z, P = inputs.sites, inputs.services, inputs.zones, inputs.pair_costs
    ns, nu = len(S), len(U)
    site_ids = S["site_id"].tolist()
    s_index = {s: j for j, s in enumerate(site_ids)}
    # agencies (case-insensitive), display names as first written
    ag_names: dict[str, str] = {}
    for name in list(S["agency"]) + list(U["agency"]):
        ag_names.setdefault(name.casefold(), name)
    ag_keys = list(ag_names)
    ag_index = {k: i for i, k in enumerate(ag_keys)}
    site_ag = np.array([ag_index[a.casefold()] for a in S["agency"]], dtype=np.int64)
    svc_ag = np.array([ag_index[a.casefold()] for a in U["agency"]], dtype=np.int64)

    # money
    _d, a = _annuity_table(sc)
    H = sc.horizon_years
    k = S["available_year"].to_numpy(dtype=float).astype(np.int64)
    k_c = np.minimum(k, H)
    dk = (1.0 + sc.discount_rate) ** (-k.astype(float))
    ak = a[k_c]
    mv = S["market_value_gbp"].to_numpy(dtype=float)
    dc = S["disposal_cost_gbp"].to_numpy(dtype=float)
    ec = S["exit_cost_gbp"].to_numpy(dtype=float)
    rc = S["running_cost_gbp"].to_numpy(dtype=float)
    bl = S["backlog_gbp"].to_numpy(dtype=float)
    receipt_pv = dk * (mv - dc - ec)
    running_pv = ak * rc
    benefit = receipt_pv + running_pv + bl
    a0 = float(a[0])

    # services now
    cur = np.array([s_index.get(s, -1) if s else -1 for s in U["site_id"]], dtype=np.int64)
    space = U["space_m2"].to_numpy(dtype=float)
    fte = U["fte"].to_numpy(dtype=float)
    movable = U["movable"].to_numpy(dtype=bool)
    load = np.bincount(cur[cur >= 0], weights=space[cur >= 0], minlength=ns)
    capacity = np.maximum(S["capacity_m2"].to_numpy(dtype=float), load)

    # disposable, forced
    locked = S["locked"].to_numpy(dtype=bool)
    keep_ids = set(sc.keep_site_ids)
    out_ids = set(sc.dispose_site_ids)
    in_keep = np.array([s in keep_ids for s in site_ids], dtype=bool)
    forced_out = np.array([s in out_ids for s in site_ids], dtype=bool)
    late = k >= H
    holds_fixed = np.zeros(ns, dtype=bool)
    holds_fixed[cur[(cur >= 0) & ~movable]] = True
    fixed_services: dict[int, list[str]] = {}
    for u in np.nonzero((cur >= 0) & ~movable)[0]:
        fixed_services.setdefault(int(cur[u]), []).append(U["service_id"].iloc[u])
    reasons = []
    for j in range(ns):
        r = []
        if locked[j]:
            r.append("locked")
        if in_keep[j]:
            r.append("in keep_site_ids")
        if late[j]:
            r.append(f"cannot be vacated within the horizon (available_year {k[j]} >= horizon {H})")
        if holds_fixed[j]:
            r.append("holds a service that cannot move (" + ", ".join(fixed_services[j][:5]) + ")")
        reasons.append("; ".join(r))
    not_disposable = locked | in_keep | late | holds_fixed
    fixed = np.full(ns, FREE, dtype=np.int8)
    fixed[not_disposable] = KEEP
    fixed[forced_out] = DISPOSE  # a conflict with not_disposable is reported by diagnose()
    for j in np.nonzero(forced_out & ~not_disposable)[0]:
        reasons[j] = "in dispose_site_ids"

    # allowed pairs -------------------------------------------------------------------------
    site_xy = np.column_stack([S["easting"].to_numpy(dtype=float), S["northing"].to_numpy(dtype=float)])
    receiving = S["can_receive"].to_numpy(dtype=bool) & ~forced_out
    recv_idx = np.nonzero(receiving)[0]
    u_xy = np.column_stack([U["easting"].to_numpy(dtype=float), U["northing"].to_numpy(dtype=float)])
    origin = np.where((cur >= 0)[:, None], site_xy[np.maximum(cur, 0)], u_xy)
    has_origin = ~np.isnan(origin).any(axis=1)
    radius = U["max_move_m"].to_numpy(dtype=float)
    cand = np.nonzero(movable & has_origin)[0]
    cu, cj = _pairs_within(origin[cand], radius[cand], site_xy[recv_idx])
    cu, cj = cand[cu], recv_idx[cj]
    far = np.nonzero(movable & ~has_origin)[0]
    if far.size and recv_idx.size:
        cu = np.concatenate([cu, np.repeat(far, recv_idx.size)])
        cj = np.concatenate([cj, np.tile(recv_idx, far.size)])
    dist = np.hypot(origin[cu, 0] - site_xy[cj, 0], origin[cu, 1] - site_xy[cj, 1])
    keep_pair = (cj != cur[cu]) & (~has_origin[cu] | (dist <= radius[cu]))
    # accepts
    types = U["service_type"].str.casefold()
    type_codes = {t: i for i, t in enumerate(dict.fromkeys(types))}
    nt = max(1, len(type_codes))
    u_type = np.array([type_codes[t] for t in types], dtype=np.int64)
    acc = S["accepts"].tolist()
    accept_any = np.array([not [x for x in str(s).split(";") if x.strip()] for s in acc], dtype=bool)
    acc_codes = np.array(sorted({j * nt + type_codes[x.strip().casefold()]
                                 for j, s in enumerate(acc) for x in str(s).split(";")
                                 if x.strip() and x.strip().casefold() in type_codes}), dtype=np.int64)
    ok_type = accept_any[cj] | np.isin(cj * nt + u_type[cu], acc_codes)
    # sharing
    n_ag = len(ag_keys)
    host = np.ones((n_ag, n_ag), dtype=bool)
    if sc.sharing is not None:
        for h in range(n_ag):
            for g in range(n_ag):
                host[h, g] = sc.may_host(ag_keys[h], ag_keys[g])
    ok_host = host[site_ag[cj], svc_ag[cu]]
    sel = keep_pair & ok_type & ok_host
    cu, cj, dist = cu[sel], cj[sel], dist[sel]
    # staying put (kept also for sites forced out, where y = 0 makes x = 0: the diagnosis of
    # an infeasible plan may then ask what keeping such a site would allow)
    st = np.nonzero(cur >= 0)[0]
    pu = np.concatenate([st, cu])
    pj = np.concatenate([cur[st], cj])
    pdist = np.concatenate([np.zeros(st.size), np.where(has_origin[cu], dist, np.nan)])
    stay = np.concatenate([np.ones(st.size, dtype=bool), np.zeros(cu.size, dtype=bool)])
    # pair-cost rows
    one_off_row = np.zeros(pu.size)
    annual_row = np.zeros(pu.size)
    listed = np.zeros(pu.size, dtype=bool)
    if P is not None and len(P):
        u_index = {s: i for i, s in enumerate(U["service_id"])}
        prow_u = np.array([u_index[s] for s in P["service_id"]], dtype=np.int64)
        prow_j = np.array([s_index[s] for s in P["site_id"]], dtype=np.int64)
        code = prow_u * max(ns, 1) + prow_j
        order = np.argsort(code)
        code_s = code[order]
        pc = pu * max(ns, 1) + pj
        pos = np.searchsorted(code_s, pc)
        pos_c = np.minimum(pos, max(code_s.size - 1, 0))
        hit = (code_s.size > 0) & (code_s[pos_c] == pc) if code_s.size else np.zeros(pc.size, dtype=bool)
        row_of = np.where(hit, order[pos_c], -1)
        listed = row_of >= 0
        one = P["one_off_gbp"].to_numpy(dtype=float)
        ann = P["annual_gbp"].to_numpy(dtype=float)
        allowed = P["allowed"].to_numpy(dtype=bool)
        one_off_row[listed] = one[row_of[listed]]
        annual_row[listed] = ann[row_of[listed]]
        forbid = listed & ~allowed[np.maximum(row_of, 0)]
        stay_forbid = forbid & stay
        if stay_forbid.any():
            inputs.problems.add(Problem(
                inputs.sources.get("pair_costs", "pair_costs"), None, "allowed", None,
                f"{int(stay_forbid.sum())} pair-cost rows forbid a service to stay in its own site; staying put is "
                "always allowed (model.md), so allowed = false is not applied to them (their costs are)",
                "remove allowed = false from those rows, or force the site out with dispose_site_ids",
                "warning", "pair_costs", None, "stay_forbidden"))
        keep_p = ~(forbid & ~stay)
        pu, pj, pdist, stay = pu[keep_p], pj[keep_p], pdist[keep_p], stay[keep_p]
        one_off_row, annual_row, listed = one_off_row[keep_p], annual_row[keep_p], listed[keep_p]
        n_unused = int(len(P) - np.unique(row_of[row_of >= 0]).size)
        if n_unused:
            inputs.problems.add(Problem(
                inputs.sources.get("pair_costs", "pair_costs"), None, None, None,
                f"{n_unused} pair-cost rows name pairs the rules do not allow (move limit, accepts, sharing, "
                "can_receive, movable, forced disposals), so they have no effect",
                "nothing to do, unless those moves were meant to be possible", "info", "pair_costs", None,
                "pair_not_allowed"))
    # moves that can never fit: the service is larger than the room the site can ever have
    # (its capacity less the space of services that can never leave it) - no plan uses them
    usable = ~forced_out[pj]
    n_opts = np.bincount(pu[usable], minlength=nu)
    stuck = (cur >= 0) & ~forced_out[np.maximum(cur, 0)] & (n_opts == 1)
    stuck_load = np.bincount(cur[stuck], weights=space[stuck], minlength=ns) if stuck.any() else np.zeros(ns)
    fits = stay | (space[pu] <= capacity[pj] - stuck_load[pj] + 1e-9)
    if not fits.all():
        pu, pj, pdist, stay = pu[fits], pj[fits], pdist[fits], stay[fits]
        one_off_row, annual_row, listed = one_off_row[fits], annual_row[fits], listed[fits]
    # order pairs by service for readability
    order = np.lexsort((pj, pu))
    pu, pj, pdist, stay = pu[order], pj[order], pdist[order], stay[order]
    one_off_row, annual_row, listed = one_off_row[order], annual_row[order], listed[order]
    fit = (1.0 + sc.optimism_bias) * (sc.fit_out_gbp_per_m2 * space[pu] + sc.move_gbp_per_fte * fte[pu])
    spend = np.where(stay, 0.0, fit + one_off_row)
    cost = np.where(stay, 0.0, fit) + one_off_row + a0 * annual_row
    recharge = np.where(~stay & (site_ag[pj] != svc_ag[pu]), a0 * sc.recharge_gbp_per_m2_year * space[pu], 0.0)
    usable = ~forced_out[pj]
    n_pairs_of = np.bincount(pu[usable], minlength=nu)  # placements in sites that may be kept
    unplaceable = np.nonzero(n_pairs_of == 0)[0].tolist()

    # access rows -----------------------------------------------------------------------------
    cover_rows: list[np.ndarray] = []
    cover_type: list[str] = []
    cover_zone: list[list[str]] = []
    cover_dist: list[float] = []
    empty_cover: list[tuple[str, str, float]] = []
    if sc.access and Z is not None and len(Z):
        from scipy.spatial import cKDTree

        zpop = Z["population"].to_numpy(dtype=float)
        zone_ids = Z["zone_id"].tolist()
        zxy = np.column_stack([Z["easting"].to_numpy(dtype=float), Z["northing"].to_numpy(dtype=float)])
        live = np.nonzero(zpop > 0)[0]
        ztree = cKDTree(zxy[live]) if live.size else None
        only_pair = usable & (n_pairs_of[pu] == 1)  # x is 1 for sure: a row holding it always holds
        by_site_order = np.argsort(pj, kind="stable")
        for t, D in sc.access.items():
            if t not in type_codes or ztree is None:
                continue
            tc = type_codes[t]
            today = np.unique(cur[(cur >= 0) & (u_type == tc)])
            if today.size == 0:
                continue
            m = cKDTree(site_xy[today]).sparse_distance_matrix(ztree, D * (1 + 1e-9) + 1e-6, output_type="ndarray")
            dd = np.hypot(site_xy[today[m["i"]], 0] - zxy[live[m["j"]], 0],
                          site_xy[today[m["i"]], 1] - zxy[live[m["j"]], 1])
            covered = np.unique(live[m["j"][dd <= D]])
            if covered.size == 0:
                continue
            tp = np.nonzero(u_type[pu] == tc)[0]  # pairs of this type
            tsites = np.unique(pj[tp])
            if tsites.size:
                m2 = cKDTree(site_xy[tsites]).sparse_distance_matrix(cKDTree(zxy[covered]), D * (1 + 1e-9) + 1e-6,
                                                                     output_type="ndarray")
                d2 = np.hypot(site_xy[tsites[m2["i"]], 0] - zxy[covered[m2["j"]], 0],
                              site_xy[tsites[m2["i"]], 1] - zxy[covered[m2["j"]], 1])
                ok = d2 <= D
                sz_site, sz_zone = tsites[m2["i"][ok]], m2["j"][ok]
            else:
                sz_site = sz_zone = np.zeros(0, dtype=np.int64)
            # pairs of this type grouped by site
            tp_sorted = tp[np.argsort(pj[tp], kind="stable")]
            starts = np.searchsorted(pj[tp_sorted], sz_site, side="left")
            ends = np.searchsorted(pj[tp_sorted], sz_site, side="right")
            rows_of_zone: dict[int, list[np.ndarray]] = {}
            for s0, e0, z in zip(starts, ends, sz_zone, strict=True):
                rows_of_zone.setdefault(int(z), []).append(tp_sorted[s0:e0])
            seen: dict[bytes, int] = {}
            for zi in range(covered.size):
                parts = rows_of_zone.get(zi)
                zid = zone_ids[covered[zi]]
                if not parts:
                    empty_cover.append((t, zid, D))
                    continue
                row = np.unique(np.concatenate(parts))
                if not usable[row].any():
                    empty_cover.append((t, zid, D))  # only sites forced out could serve it
                    continue
                if only_pair[row].any():
                    continue  # always met
                key = row.tobytes()
                if key in seen:
                    cover_zone[seen[key]].append(zid)
                    continue
                seen[key] = len(cover_rows)
                cover_rows.append(row)
                cover_type.append(t)
                cover_zone.append([zid])
                cover_dist.append(D)
        del by_site_order
    ptr = np.cumsum([0] + [r.size for r in cover_rows]).astype(np.int64)
    labels = [f"{t} within {D:,.0f} m of zone{'s' if len(z) > 1 else ''} {', '.join(z[:5])}"
              f"{' ...' if len(z) > 5 else ''}" for t, z, D in zip(cover_type, cover_zone, cover_dist, strict=True)]
    data = ModelData(
        site_ids=site_ids, benefit=benefit, capacity=capacity, fixed=fixed, site_agency=site_ag,
        service_ids=U["service_id"].tolist(), space=space, service_agency=svc_ag,
        pair_service=pu, pair_site=pj, pair_cost=cost, pair_spend=spend, pair_recharge=recharge, pair_stay=stay,
        agencies=[ag_names[k] for k in ag_keys], cover_ptr=ptr,
        cover_pairs=np.concatenate(cover_rows) if cover_rows else np.zeros(0, dtype=np.int64),
        cover_labels=labels, budget=sc.capex_budget_gbp, max_disposals=sc.max_disposals,
        partner=sc.partner_no_worse_off,
    )
    parts = pd.DataFrame({"site_id": site_ids, "receipt_pv_gbp": receipt_pv, "running_pv_gbp": running_pv,
                          "backlog_gbp": bl, "benefit_gbp": benefit})
    return Instance(inputs, data, parts, load, reasons, forced_out, cur, pdist, spend, listed,
                    cover_type, cover_zone, cover_dist, unplaceable, empty_cover, capacity - stuck_load,
                    build_seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# 3. Independent parts
# ---------------------------------------------------------------------------------------------


@dataclass
class Part:
    sites: np.ndarray
    services: np.ndarray
    pairs: np.ndarray
    cover_rows: np.ndarray
    n_components: int = 1

    @property
    def size(self) -> int:
        return int(self.sites.size + self.pairs.size)


def split_parts(data: ModelData, bundle_columns: int = 2000, small: int = 60) -> tuple[list[Part], int]:
    """Independent parts: the connected components of the graph joining a service to every site
    it may go to, the pairs of an access row together, and (partner rule) an agency's sites and
    services. A budget or a disposal limit joins everything. Components with at most ``small``
    columns are bundled (up to ``bundle_columns``) so that thousands of trivial parts take few
    solver calls; that changes nothing (they are still independent). Returns the parts and the
    number of components."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ns, nu, npairs = data.n_sites, data.n_services, data.n_pairs
    all_part = Part(np.arange(ns), np.arange(nu), np.arange(npairs), np.arange(data.n_cover))
    if data.budget is not None or data.max_disposals is not None:
        return [all_part], 1
    n_nodes = ns + nu + data.n_cover + (len(data.agencies) if data.partner else 0)
    a = [ns + data.pair_service]
    b = [data.pair_site]
    if data.n_cover:
        lens = np.diff(data.cover_ptr)
        a.append(ns + nu + np.repeat(np.arange(data.n_cover), lens))
        b.append(ns + data.pair_service[data.cover_pairs])
    if data.partner:
        base = ns + nu + data.n_cover
        a += [base + data.site_agency, base + data.service_agency]
        b += [np.arange(ns), ns + np.arange(nu)]
    a = np.concatenate(a)
    b = np.concatenate(b)
    g = coo_matrix((np.ones(a.size), (a, b)), shape=(n_nodes, n_nodes))
    n_comp, label = connected_components(g, directed=False)
    site_l = label[:ns]
    svc_l = label[ns:ns + nu]
    pair_l = svc_l[data.pair_service]
    row_l = label[ns + nu:ns + nu + data.n_cover]

    def groups(lab, n):
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(n + 1))
        return order, bounds

    so, sb = groups(site_l, n_comp)
    uo, ub = groups(svc_l, n_comp)
    po, pb = groups(pair_l, n_comp)
    ro, rb = groups(row_l, n_comp)
    sizes = (sb[1:] - sb[:-1]) + (pb[1:] - pb[:-1])
    nonempty = np.nonzero((sb[1:] - sb[:-1]) + (ub[1:] - ub[:-1]) > 0)[0]
    n_real = int(nonempty.size)
    parts: list[Part] = []
    bundle: list[int] = []
    bundle_size = 0

    def flush():
        nonlocal bundle, bundle_size
        if bundle:
            parts.append(Part(np.concatenate([so[sb[c]:sb[c + 1]] for c in bundle]),
                              np.concatenate([uo[ub[c]:ub[c + 1]] for c in bundle]),
                              np.concatenate([po[pb[c]:pb[c + 1]] for c in bundle]),
                              np.concatenate([ro[rb[c]:rb[c + 1]] for c in bundle]), len(bundle)))
        bundle, bundle_size = [], 0

    for c in nonempty[np.argsort(sizes[nonempty], kind="stable")]:
        if sizes[c] <= small:
            bundle.append(int(c))
            bundle_size += int(sizes[c])
            if bundle_size >= bundle_columns:
                flush()
        else:
            flush()
            parts.append(Part(so[sb[c]:sb[c + 1]], uo[ub[c]:ub[c + 1]], po[pb[c]:pb[c + 1]], ro[rb[c]:rb[c + 1]]))
    flush()
    return parts, n_real


# ---------------------------------------------------------------------------------------------
# 4. Solving and diagnosis
# ---------------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One reason why no plan exists."""

    rule: str  # forced_disposal | needs_home | capacity | budget | max_disposals | access | partner
    subject: str  # site, service, zone, agency or scenario key
    message: str


@dataclass
class Outcome:
    """The combined answer over all parts."""

    status: str
    solver: str
    solution: Solution | None  # over the whole model (None unless solved)
    solve_seconds: float
    n_parts: int
    n_solves: int
    findings: list[Finding] = field(default_factory=list)
    message: str = ""


def _solve_part(sub: ModelData, options: SolveOptions, limit: float | None, start=None,
                stopper: HighsStopper | None = None) -> Solution:
    opts = replace(options, time_limit_s=limit)
    if options.solver == "highs":
        return solve_highs(sub, opts, start=start, stopper=stopper)
    from planner.model import solve_pulp

    return solve_pulp(sub, opts, stopper=stopper)


def solve_instance(inst: Instance, options: SolveOptions | None = None, decompose: bool = True,
                   tick=None) -> Outcome:
    """Solve every independent part and combine the answers; diagnose when there is no plan.

    Ctrl-C (a KeyboardInterrupt) ends it within seconds, whatever the time limit (a HiGHS run
    in its presolve, which HiGHS does not interrupt, ends with the presolve): on
    the main thread the solve runs on a thread of its own while this one waits
    (``call_stoppable``), because a HiGHS run on the main thread holds Python's
    KeyboardInterrupt back until it returns, and a wait for the parts solved two at a time
    would last to their time limits; the interrupt stops every HiGHS run and search of the
    solve (``HighsStopper``) and is raised once they have ended. So does an error in one part
    solved two at a time: the other part stops with it.

    ``tick``: a function called about every 0.2 s while the solve runs (then on a thread of its
    own on any calling thread); when it raises, the solve is stopped the same way and its error
    raised once the runs have ended. This is how a front end stops a solve: the app's page
    shows the time taken from ``tick``, and Streamlit raises a stop or rerun request (the
    page's Stop button, the app's own Stop) from those calls."""
    stopper = HighsStopper()
    if tick is not None or threading.current_thread() is threading.main_thread():
        return call_stoppable(lambda: _solve_instance(inst, options, decompose, stopper), stopper, tick)
    return _solve_instance(inst, options, decompose, stopper)


def _solve_instance(inst: Instance, options: SolveOptions | None, decompose: bool,
                    stopper: HighsStopper) -> Outcome:
    options = options or SolveOptions()
    data = inst.data
    t0 = time.perf_counter()
    findings = structural_findings(inst)
    if findings:
        return Outcome(INFEASIBLE, options.solver, None, time.perf_counter() - t0, 0, 0, findings,
                       "the inputs and rules rule out every plan (found before solving)")
    if decompose:
        parts, n_comp = split_parts(data)
    else:
        parts, n_comp = [Part(np.arange(data.n_sites), np.arange(data.n_services), np.arange(data.n_pairs),
                              np.arange(data.n_cover))], 1
    parts.sort(key=lambda p: p.size)
    subs = [data.subset(p.sites, p.services, p.pairs, p.cover_rows) for p in parts]
    deadline = None if options.time_limit_s is None else t0 + options.time_limit_s
    results: list[Solution | None] = [None] * len(parts)
    # independent parts are solved two at a time on a machine with two cores or more (HiGHS
    # releases Python's lock while it works), each with one thread, smallest first: a small
    # part is mostly proven in a fraction of its share of the time, and what it leaves goes to
    # the larger parts after it. (Largest first, the large parts took the whole time and the
    # small ones, solved last, got 0.2 s each: on the 2,000-site place parts of 997 and 424
    # pairs stopped £10.4m and £9.2m below their bounds, against £0.6m and £1.1m.)
    workers = 1
    if options.solver == "highs" and len(parts) > 1 and (options.threads is None or options.threads > 1):
        workers = max(1, min(options.threads or 2, os.cpu_count() or 1, len(parts)))
    part_options = options if workers == 1 else replace(options, threads=1)
    order = list(range(len(parts)))  # parts are sorted by size
    lock = threading.Lock()
    state = {"rest": float(sum(p.size for p in parts)) or 1.0, "stop": False, "solves": 0}

    def work(k: int, opts: SolveOptions = part_options) -> None:
        with lock:
            if state["stop"] or stopper.is_set():
                return
            size, rest = float(parts[k].size), max(state["rest"], 1.0)
            state["rest"] -= size
        limit = None
        if deadline is not None:
            remaining = deadline - time.perf_counter()
            limit = max(0.2, remaining * min(1.0, workers * size / rest))
        try:
            r = _solve_part(subs[k], opts, limit, stopper=stopper)
        except BaseException:
            stopper.stop()  # the part beside it stops now, not at its time limit, and no part starts
            raise
        with lock:
            results[k] = r
            state["solves"] += 1
            if r.status == INFEASIBLE:
                state["stop"] = True

    # a part whose share is the whole time (with two threads: a part as large as all the others
    # together) is solved last, alone, with every thread: in the pool it would take the whole
    # time on one thread while the other threads soon ran out of parts (on the 500-site
    # place, one part of 11,000 pairs and 49 of a few). Alone, HiGHS and the searches run side
    # by side on it (planner.highs_direct._solve_beside).
    last = None
    if workers > 1 and workers * parts[order[-1]].size >= state["rest"]:
        last, order = order[-1], order[:-1]
    if workers == 1:
        for k in order:
            work(k)
            if state["stop"]:
                break
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done in as_completed([pool.submit(work, k) for k in order]):
                done.result()  # in the order they end, so that a failure is raised at once
    if last is not None and not state["stop"]:
        state["rest"] = float(parts[last].size)
        work(last, options)
    n_solves = state["solves"]
    # second pass: parts stopped by their share of the time get what is left
    if deadline is not None and not any(r is not None and r.status == INFEASIBLE for r in results):
        again = [k for k, r in enumerate(results) if r is not None and r.status in (FEASIBLE, NO_SOLUTION)]
        for n, k in enumerate(again):
            remaining = deadline - time.perf_counter()
            if remaining < 1.0 or stopper.is_set():
                break
            share = remaining / (len(again) - n)
            prev = results[k]
            start = (prev.y, prev.chosen) if prev.solved else None
            r = _solve_part(subs[k], options, share, start=start, stopper=stopper)  # one at a time: all threads
            n_solves += 1
            results[k] = _better(prev, r)
    seconds = time.perf_counter() - t0
    if any(r is not None and r.status == INFEASIBLE for r in results):
        bad = [k for k, r in enumerate(results) if r is not None and r.status == INFEASIBLE]
        found = []
        for k in bad:
            found += diagnose_part(subs[k], options, stopper)
        return Outcome(INFEASIBLE, options.solver, None, time.perf_counter() - t0, len(parts), n_solves, found,
                       "no plan meets every rule")
    notes = _part_notes(results)
    if any(r is None or not r.solved for r in results):
        return Outcome(NO_SOLUTION, options.solver, None, seconds, len(parts), n_solves, [],
                       "no plan was found within the time limit" + notes)
    # combine
    y = np.ones(data.n_sites, dtype=np.int8)
    chosen = np.full(data.n_services, -1, dtype=np.int64)
    bound_cost = 0.0
    any_bound_missing = False
    status = OPTIMAL
    for p, r in zip(parts, results, strict=True):
        y[p.sites] = r.y
        chosen[p.services] = p.pairs[r.chosen]
        if r.status == FEASIBLE:
            status = FEASIBLE
        b = r.bound_gbp
        if b is None:
            any_bound_missing = True
        else:
            bound_cost += float(data.benefit[p.sites].sum()) - b
    sol = finish_solution(data, status, options.solver, seconds, y, _x_from_chosen(data, chosen),
                          None if any_bound_missing else bound_cost,
                          "" if status == OPTIMAL else "time limit reached" + notes)
    sol.build_seconds = sum(r.build_seconds for r in results)
    return Outcome(status, options.solver, sol, seconds, n_comp, n_solves, message=sol.message if notes else "")


def _part_notes(results: list[Solution | None]) -> str:
    """The parts' own notes on their answers, where they have them (CBC ended for overrunning
    its time limit; a plan from before CBC ran), each as "; note", for the whole answer's
    message."""
    notes = sorted({r.message.removeprefix("time limit reached; ") for r in results
                    if r is not None and r.message and r.message not in ("time limit reached", "interrupted")})
    return "".join(f"; {n}" for n in notes)


def _x_from_chosen(data: ModelData, chosen: np.ndarray) -> np.ndarray:
    x = np.zeros(data.n_pairs)
    x[chosen] = 1.0
    return x


def _better(a: Solution, b: Solution) -> Solution:
    if b.status == OPTIMAL:
        return b
    if not a.solved:
        return b
    if not b.solved:
        return a
    best = a if a.npv_gbp >= b.npv_gbp else b
    bounds = [s.bound_cost for s in (a, b) if s.bound_cost is not None]
    if bounds:
        best.bound_cost = max(bounds)
    return best


def _money(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"-£{-v:,.0f}" if v < 0 else f"£{v:,.0f}"


def _why_no_place(inst: Instance, u: int) -> str:
    """Why service u has no allowed site, in words."""
    S, U, sc = inst.inputs.sites, inst.inputs.services, inst.inputs.scenario
    sid = U["service_id"].iloc[u]
    cur = inst.service_site[u]
    head = (f"service {sid} is in site {S['site_id'].iloc[cur]}, which is to be disposed (dispose_site_ids)"
            if cur >= 0 else f"service {sid} needs a home (it has no site)")
    if not bool(U["movable"].iloc[u]):
        if cur < 0:
            return head + ", but it is marked not movable, so it may go nowhere. Fix: set its movable to true " \
                          "(a service that needs a home has to move into a site)."
        return head + ", but it is marked not movable, so it may go nowhere else. Fix: set movable to true, " \
                      "or take its site out of dispose_site_ids."
    e, n = (S["easting"].iloc[cur], S["northing"].iloc[cur]) if cur >= 0 else (U["easting"].iloc[u], U["northing"].iloc[u])
    R = float(U["max_move_m"].iloc[u])
    if np.isnan(e):
        near = np.ones(len(S), dtype=bool)
        where = "anywhere"
    else:
        near = np.hypot(S["easting"].to_numpy(float) - e, S["northing"].to_numpy(float) - n) <= R
        where = f"within its move limit of {R:,.0f} m"
    if cur >= 0:
        near[cur] = False
    if not near.any():
        return head + f", and no other site is {where}. Fix: raise its max_move_m (or the scenario's max_move_m)."
    t = U["service_type"].iloc[u].casefold()
    g = U["agency"].iloc[u]
    why = []
    idx = np.nonzero(near)[0]
    no_recv = [S["site_id"].iloc[j] for j in idx if not S["can_receive"].iloc[j]]
    out = [S["site_id"].iloc[j] for j in idx if inst.site_forced_out[j]]
    acc = [S["site_id"].iloc[j] for j in idx
           if [x for x in str(S["accepts"].iloc[j]).split(";") if x.strip()]
           and t not in {x.strip().casefold() for x in str(S["accepts"].iloc[j]).split(";")}]
    share = [S["site_id"].iloc[j] for j in idx if not sc.may_host(S["agency"].iloc[j], g)]
    room = inst.site_room if inst.site_room is not None else np.full(len(S), np.inf)
    space_u = float(U["space_m2"].iloc[u])
    small = [f"{S['site_id'].iloc[j]} ({max(room[j], 0):,.0f} m2)" for j in idx if room[j] + 1e-9 < space_u]

    def lst(v):
        return ", ".join(v[:6]) + (" ..." if len(v) > 6 else "")

    if no_recv:
        why.append(f"{len(no_recv)} cannot receive services ({lst(no_recv)})")
    if out:
        why.append(f"{len(out)} are to be disposed ({lst(out)})")
    if acc:
        why.append(f"{len(acc)} do not accept {U['service_type'].iloc[u]} ({lst(acc)})")
    if share:
        why.append(f"{len(share)} belong to agencies that may not host {g} under [sharing] ({lst(share)})")
    if small:
        why.append(f"{len(small)} can never have room for its {space_u:,.0f} m2, even with every movable service "
                   f"gone ({lst(small)})")
    rest = f"{int(near.sum())} other site{'s are' if near.sum() > 1 else ' is'} {where}"
    if why:
        rest += ": " + "; ".join(why)
    else:
        rest += ", but pair-cost rows with allowed = false forbid them"
    return head + f", and none may take it: {rest}."


def structural_findings(inst: Instance) -> list[Finding]:
    """Reasons, found without solving, why no plan can exist."""
    out: list[Finding] = []
    S, sc, data = inst.inputs.sites, inst.inputs.scenario, inst.data
    for j in np.nonzero(inst.site_forced_out)[0]:
        r = inst.site_fixed_reason[j]
        if r and r != "in dispose_site_ids":
            out.append(Finding("forced_disposal", S["site_id"].iloc[j],
                               f"site {S['site_id'].iloc[j]} is in dispose_site_ids but cannot be disposed: it is {r}. "
                               "Fix: take it out of dispose_site_ids, or change what keeps it."))
    if sc.max_disposals is not None and len(sc.dispose_site_ids) > sc.max_disposals:
        out.append(Finding("max_disposals", "max_disposals",
                           f"dispose_site_ids forces {len(sc.dispose_site_ids)} disposals but max_disposals is "
                           f"{sc.max_disposals}. Fix: raise max_disposals or force fewer disposals."))
    for u in inst.unplaceable:
        out.append(Finding("needs_home", data.service_ids[u], _why_no_place(inst, u)))
    for t, z, D in inst.empty_cover:
        out.append(Finding("access", z, f"zone {z} is within {D:,.0f} m of a {t} today, but no {t} can be within "
                                        f"{D:,.0f} m of it after the plan (the sites near it are to be disposed, or "
                                        f"no {t} may move there). Fix: keep a site near it, or allow a {t} to move there."))
    if sc.capex_budget_gbp is not None:
        must = [u for u in range(data.n_services)
                if inst.service_site[u] < 0 or inst.site_forced_out[inst.service_site[u]]]
        if must:
            cheapest = np.full(data.n_services, np.inf)
            np.minimum.at(cheapest, data.pair_service, data.pair_spend)
            need = float(sum(cheapest[u] for u in must if np.isfinite(cheapest[u])))
            if need > sc.capex_budget_gbp * (1 + 1e-9) + 1e-6:
                out.append(Finding("budget", "capex_budget_gbp",
                                   f"{len(must)} services must move (they need a home, or their site is to be "
                                   f"disposed) and even their cheapest moves cost {_money(need)} one-off, more than "
                                   f"the budget of {_money(sc.capex_budget_gbp)}. Fix: raise capex_budget_gbp to at "
                                   f"least {_money(math.ceil(need))} or force fewer disposals."))
    return out


_RULE_NAMES = {"budget": "the budget (capex_budget_gbp)", "max_disposals": "the limit on disposals (max_disposals)",
               "access": "the access rule ([access])", "partner": "the partner rule (partner_no_worse_off)",
               "forced": "the forced disposals (dispose_site_ids)"}


def diagnose_part(sub: ModelData, options: SolveOptions, stopper: HighsStopper | None = None) -> list[Finding]:
    """Explain an infeasible part: the least the plan must break (an elastic model), and which
    rule groups, left out one at a time, would allow a plan (until ``stopper`` stops it)."""
    out: list[Finding] = []
    active = []
    if sub.budget is not None:
        active.append("budget")
    if sub.max_disposals is not None:
        active.append("max_disposals")
    if sub.n_cover:
        active.append("access")
    if sub.partner:
        active.append("partner")
    if (sub.fixed == DISPOSE).any():
        active.append("forced")
    limit = 10.0 if options.time_limit_s is None else min(10.0, max(1.0, options.time_limit_s))
    culprits = []
    for g in active:
        if feasible_without(sub, frozenset({g}), options, time_limit_s=limit, stopper=stopper) == OPTIMAL:
            culprits.append(g)
    if culprits:
        out.append(Finding("rules", ", ".join(culprits),
                           "a plan exists if any one of these is relaxed: " + "; ".join(_RULE_NAMES[g] for g in culprits)
                           + " - these rules cannot all be met together."))
    # what the plan that breaks the rules least breaks (each rule may give, at a cost): its
    # amounts are that plan's, not the least any plan needs (with several rules broken, another
    # plan may break one of them less and another more; the independent check of the spec
    # found "at least" claims that some plan beat), and the findings say so
    rel = solve_elastic(sub, options, time_limit_s=2 * limit, stopper=stopper)
    for kind, idx, amount in rel.broken:
        if kind == "unplaced":
            out.append(Finding("capacity", sub.service_ids[idx],
                               f"service {sub.service_ids[idx]} ({sub.space[idx]:,.0f} m2) cannot be given a place: "
                               "every site it may go to is full, or would have to be disposed, under the other rules."))
        elif kind == "capacity":
            out.append(Finding("capacity", sub.site_ids[idx],
                               f"in the plan that comes closest to meeting every rule, site {sub.site_ids[idx]} "
                               f"needs {amount:,.0f} m2 more than its {sub.capacity[idx]:,.0f} m2 to take the "
                               "services that have nowhere else to go."))
        elif kind == "forced":
            out.append(Finding("forced_disposal", sub.site_ids[idx],
                               f"site {sub.site_ids[idx]} is in dispose_site_ids, but disposing it leaves no plan "
                               "that meets the other rules (its services have nowhere to go within them)."))
        elif kind == "budget":
            out.append(Finding("budget", "capex_budget_gbp",
                               f"in the plan that comes closest to meeting every rule, the one-off spend of its "
                               f"moves exceeds the budget of {_money(sub.budget)} by {_money(amount)}."))
        elif kind == "max_disposals":
            out.append(Finding("max_disposals", "max_disposals",
                               f"the plan that comes closest to meeting every rule disposes of "
                               f"{sub.max_disposals + round(amount)} sites, more than max_disposals = "
                               f"{sub.max_disposals}."))
        elif kind == "access":
            out.append(Finding("access", sub.cover_labels[idx],
                               f"access cannot be kept: {sub.cover_labels[idx]}."))
        elif kind == "partner":
            out.append(Finding("partner", sub.agencies[idx],
                               f"in the plan that comes closest to meeting every rule, agency {sub.agencies[idx]} "
                               f"is {_money(amount)} worse off (its fit-out, move and recharge costs exceed what "
                               "it gains)."))
    if not out:
        out.append(Finding("unknown", "", "the solver found no plan that meets every rule, but could not say "
                                          "which rule is to blame within its time limit."))
    return out


# ---------------------------------------------------------------------------------------------
# 5. The plan: decisions, placements, totals, explanations, files
# ---------------------------------------------------------------------------------------------

OUTPUT_FILES = ("summary.json", "site_decisions.csv", "placements.csv", "totals.csv", "explanations.md",
                "infeasibility.csv", "problems.csv")


@dataclass
class Plan:
    """The answer: status, NPV, bound and gap (only when solved), decisions, placements,
    totals, explanations; or, when there is no plan, the reasons."""

    status: str
    solver: str
    npv_gbp: float | None
    bound_gbp: float | None
    gap: float | None
    solve_seconds: float
    build_seconds: float
    n_parts: int
    n_solves: int
    site_decisions: pd.DataFrame | None
    placements: pd.DataFrame | None
    totals: pd.DataFrame | None
    findings: list[Finding]
    problems: ProblemReport
    scenario: Scenario
    counts: dict
    message: str = ""
    options: SolveOptions | None = None
    sources: dict = field(default_factory=dict)

    def summary(self) -> dict:
        tot = None
        if self.totals is not None:
            t = self.totals.set_index("scope")
            tot = {"overall": _jsonable(t.loc["all"].to_dict()),
                   "by_agency": {k: _jsonable(v) for k, v in t.drop(index="all").to_dict("index").items()}}
        return {
            "status": self.status,
            "npv_gbp": self.npv_gbp,
            "bound_gbp": self.bound_gbp,
            "gap": self.gap,
            "solve_seconds": round(self.solve_seconds, 3),
            "build_seconds": round(self.build_seconds, 3),
            "solver": self.solver,
            "message": self.message,
            "parts": self.n_parts,
            "solver_calls": self.n_solves,
            "time_limit_s": None if self.options is None else self.options.time_limit_s,
            "mip_rel_gap": None if self.options is None else self.options.mip_rel_gap,
            "counts": self.counts,
            "totals": tot,
            "infeasibility": [f.__dict__ for f in self.findings],
            "scenario": self.scenario.to_dict(),
            "sources": dict(self.sources),
            "model": "../shared/spec/model.md version 1",
        }

    def explanations(self) -> str:
        s = self.summary()
        lines = ["# Plan explanations", ""]
        lines.append(f"Status: **{self.status}** (solver {self.solver}"
                     f"{', ' + self.message if self.message else ''}).")
        if self.status in (OPTIMAL, FEASIBLE):
            lines.append(f"Net present value {_money(self.npv_gbp)}; best possible (bound) {_money(self.bound_gbp)}; "
                         f"gap {self.gap:.2e}.")
            o = s["totals"]["overall"]
            lines += ["", f"- sites disposed: {o['sites_disposed']}",
                      f"- gross capital receipts: {_money(o['gross_capital_receipts_gbp'])}",
                      f"- yearly running-cost saving: {_money(o['running_cost_saving_gbp_per_year'])}",
                      f"- one-off spend: {_money(o['one_off_spend_gbp'])}",
                      f"- floor area released: {o['floor_area_released_m2']:,.0f} m2", ""]
            lines.append("## Sites")
            for r in self.site_decisions.itertuples(index=False):
                lines.append(f"- **{r.site_id}** ({r.agency}): {r.decision} - {r.reason}")
            lines += ["", "## Services that move or get a home"]
            moved = self.placements[self.placements["moved"]]
            if moved.empty:
                lines.append("- none")
            for r in moved.itertuples(index=False):
                lines.append(f"- **{r.service_id}** ({r.agency}): {r.reason}")
        else:
            lines += ["", "## Why there is no plan" if self.status == INFEASIBLE else "## No plan"]
            for f in self.findings:
                lines.append(f"- [{f.rule}] {f.message}")
            if self.status == NO_SOLUTION:
                lines.append("- no plan was found within the time limit: give more time (--time-limit-s).")
        if len(self.problems):
            lines += ["", "## Notes on the input"]
            for p in self.problems:
                lines.append(f"- {p.severity}: {p}")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write the outputs into ``out_dir`` (created if needed). Refuses when any output file
        already exists there; each file is written atomically."""
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise InputFileError(f"{out_dir}: exists and is not a folder. Fix: give a new folder for the outputs.")
        clash = [n for n in OUTPUT_FILES if (out_dir / n).exists()]
        if clash:
            raise InputFileError(f"{out_dir}: already holds {', '.join(clash)}; nothing was written. "
                                 f"Fix: give a new folder (e.g. {out_dir}-2) or move those files away.")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []

        def put(name, text):
            p = out_dir / name
            write_text_atomic(p, text)
            written.append(p)

        if self.site_decisions is not None:
            put("site_decisions.csv", self.site_decisions.to_csv(index=False))
            put("placements.csv", self.placements.to_csv(index=False))
            put("totals.csv", self.totals.to_csv(index=False))
        if self.findings:
            put("infeasibility.csv", pd.DataFrame([f.__dict__ for f in self.findings]).to_csv(index=False))
        if len(self.problems):
            put("problems.csv", self.problems.to_csv_text())
        put("explanations.md", self.explanations())
        put("summary.json", json.dumps(self.summary(), indent=2, default=_json_default) + "\n")
        return written


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(type(o).__name__)


def _jsonable(d: dict) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in d.items()}


def make_plan(inst: Instance, outcome: Outcome, options: SolveOptions) -> Plan:
    """Decisions, placements, totals and explanations from a solved instance."""
    inp, data, sc = inst.inputs, inst.data, inst.inputs.scenario
    counts = {"sites": data.n_sites, "services": data.n_services, "zones": 0 if inp.zones is None else len(inp.zones),
              "allowed_pairs": data.n_pairs, "access_rows": data.n_cover,
              "pair_cost_rows": 0 if inp.pair_costs is None else len(inp.pair_costs)}
    common = dict(solver=outcome.solver, solve_seconds=outcome.solve_seconds, build_seconds=inst.build_seconds,
                  n_parts=outcome.n_parts, n_solves=outcome.n_solves, findings=outcome.findings,
                  problems=inp.problems, scenario=sc, counts=counts, message=outcome.message, options=options,
                  sources=dict(inp.sources))
    sol = outcome.solution
    if sol is None or not sol.solved:
        return Plan(outcome.status, npv_gbp=None, bound_gbp=None, gap=None, site_decisions=None, placements=None,
                    totals=None, **common)
    S, U = inp.sites, inp.services
    y = sol.y.astype(int)
    chosen = sol.chosen
    to_site = data.pair_site[chosen]
    cur = inst.service_site
    moved = to_site != cur
    a0 = sc.a(0)
    # per-pair figures of the plan
    dist = inst.pair_distance[chosen]
    one_off = inst.pair_one_off[chosen]
    cost = data.pair_cost[chosen]
    rech = data.pair_recharge[chosen]
    # access reliance: rows met by exactly one chosen pair
    x = np.zeros(data.n_pairs, dtype=bool)
    x[chosen] = True
    needed_for: dict[int, list[str]] = {}
    for r in range(data.n_cover):
        row = data.cover_row(r)
        on = row[x[row]]
        sites_on = np.unique(data.pair_site[on])
        if sites_on.size == 1:
            needed_for.setdefault(int(sites_on[0]), []).append(
                f"{inst.cover_type[r]} within {inst.cover_distance[r]:,.0f} m of {', '.join(inst.cover_zone[r][:3])}"
                f"{' ...' if len(inst.cover_zone[r]) > 3 else ''}")
    incoming: dict[int, list[int]] = {}
    for u in np.nonzero(moved)[0]:
        incoming.setdefault(int(to_site[u]), []).append(int(u))
    leaving: dict[int, list[int]] = {}
    for u in np.nonzero(moved & (cur >= 0))[0]:
        leaving.setdefault(int(cur[u]), []).append(int(u))
    n_alt = np.bincount(data.pair_service[data.fixed[data.pair_site] != DISPOSE], minlength=data.n_services)
    bp = inst.benefit_parts
    H = sc.horizon_years
    sid = data.site_ids
    uid = data.service_ids
    # plain lists: fast element access for large places
    s_name, s_agency = S["name"].tolist(), S["agency"].tolist()
    s_year = S["available_year"].astype(int).tolist()
    s_mv, s_rc = S["market_value_gbp"].astype(float).tolist(), S["running_cost_gbp"].astype(float).tolist()
    b_receipt, b_running = bp["receipt_pv_gbp"].tolist(), bp["running_pv_gbp"].tolist()
    b_backlog = bp["backlog_gbp"].tolist()
    u_agency, u_type = U["agency"].tolist(), U["service_type"].tolist()
    now_in: dict[int, list[int]] = {}
    for u in np.nonzero(cur >= 0)[0]:
        now_in.setdefault(int(cur[u]), []).append(int(u))
    load_after = np.bincount(to_site, weights=data.space, minlength=data.n_sites)
    n_after = np.bincount(to_site, minlength=data.n_sites)
    rows = []
    for j in range(data.n_sites):
        b = float(data.benefit[j])
        k = s_year[j]
        parts_txt = (f"net receipt {_money(b_receipt[j])} (value now, sale in year {k}), running "
                     f"cost saved {_money(b_running[j])} ({_money(s_rc[j])} a "
                     f"year, years {k + 1}-{H}), backlog avoided {_money(b_backlog[j])}")
        if y[j] == 0:
            why = "forced disposal (dispose_site_ids); " if inst.site_forced_out[j] else ""
            reason = f"{why}disposed: benefit {_money(b)} = {parts_txt}"
            if j in leaving:
                reason += "; its services move: " + ", ".join(f"{uid[u]} to {sid[to_site[u]]}" for u in leaving[j][:8])
                if len(leaving[j]) > 8:
                    reason += f" and {len(leaving[j]) - 8} more"
        else:
            why = []
            if inst.site_fixed_reason[j]:
                why.append(inst.site_fixed_reason[j])
            if j in needed_for:
                why.append("needed for access: the only kept site with " + "; ".join(needed_for[j][:3])
                           + (f" and {len(needed_for[j]) - 3} more" if len(needed_for[j]) > 3 else ""))
            if j in incoming:
                why.append(f"a hub: takes in {len(incoming[j])} service{'s' if len(incoming[j]) > 1 else ''} ("
                           + ", ".join(f"{uid[u]}" + (f" from {sid[cur[u]]}" if cur[u] >= 0 else " (new)")
                                       for u in incoming[j][:6]) + (" ..." if len(incoming[j]) > 6 else "") + ")")
            if not why:
                stuck = [uid[u] for u in now_in.get(j, []) if n_alt[u] == 1]
                if b <= 0:
                    why.append(f"disposing it is worth nothing or less (benefit {_money(b)})")
                elif stuck:
                    why.append(f"its service{'s' if len(stuck) > 1 else ''} {', '.join(stuck[:5])} may go to no "
                               f"other site (move limit, accepts, sharing or can_receive), so it cannot be emptied; "
                               f"disposing it would be worth {_money(b)}")
                else:
                    why.append(f"keeping it is better value: disposing it would be worth {_money(b)}, but re-housing "
                               f"its services (fit-out, moves, room in other sites, the rules) costs more or is not "
                               f"possible together with the other decisions")
            reason = "kept: " + "; ".join(why)
        rows.append({
            "site_id": sid[j], "name": s_name[j], "agency": s_agency[j],
            "decision": "keep" if y[j] else "dispose", "reason": reason,
            "benefit_gbp": round(b, 2), "net_receipt_pv_gbp": round(b_receipt[j], 2),
            "running_saving_pv_gbp": round(b_running[j], 2),
            "backlog_avoided_gbp": round(b_backlog[j], 2),
            "market_value_gbp": s_mv[j],
            "running_cost_gbp": s_rc[j],
            "capacity_m2": float(data.capacity[j]),
            "space_used_before_m2": float(inst.site_cur_load[j]),
            "space_used_after_m2": float(load_after[j]),
            "services_after": int(n_after[j]),
            "forced": "dispose" if inst.site_forced_out[j] else ("keep" if data.fixed[j] == KEEP else ""),
        })
    sd = pd.DataFrame(rows)
    prow = []
    stay_cost_of: dict[int, float] = {}
    if data.pair_stay is not None:
        for p in np.nonzero(data.pair_stay)[0]:
            stay_cost_of[int(data.pair_service[p])] = float(data.pair_cost[p])
    for u in range(data.n_services):
        j = int(to_site[u])
        c = int(cur[u])
        host = s_agency[j]
        if not moved[u]:
            reason = "stays in its site"
        else:
            where = f"to {sid[j]} (host {host})"
            d_txt = "distance unknown (no point)" if np.isnan(dist[u]) else f"{dist[u]:,.0f} m"
            if c < 0:
                why = "needs a home"
            elif y[c] == 0:
                why = f"its site {sid[c]} is disposed"
            else:
                # its site is kept: say what the move gains (a dearer stay, or room for others)
                stay_cost = stay_cost_of.get(u)
                others_in = [v for v in incoming.get(c, []) if v != u]
                if stay_cost is None:
                    why = f"it may not stay in {sid[c]} (pair costs: staying is not allowed)"
                elif stay_cost > float(cost[u]) + 1e-9:
                    why = (f"cheaper there than in {sid[c]} (pair costs: staying costs {_money(stay_cost)}, "
                           f"this move {_money(float(cost[u]))})")
                elif others_in:
                    names = ", ".join(uid[v] for v in others_in[:3]) + (" ..." if len(others_in) > 3 else "")
                    why = f"it makes room in {sid[c]} for {names}, moving in from elsewhere"
                else:
                    why = f"the plan is as good with it in either site (no cost to the move beyond {_money(float(cost[u]))})"
            reason = f"{why}: moves {where}, {d_txt}, one-off {_money(one_off[u])}"
            if rech[u] > 0:
                reason += f", recharge {_money(rech[u] / a0 if a0 else 0)} over the horizon's value {_money(rech[u])}"
        prow.append({
            "service_id": uid[u], "agency": u_agency[u], "service_type": u_type[u],
            "space_m2": float(data.space[u]), "from_site_id": sid[c] if c >= 0 else "",
            "to_site_id": sid[j], "moved": bool(moved[u]),
            "distance_m": (0.0 if not moved[u] else (None if np.isnan(dist[u]) else round(float(dist[u]), 1))),
            "one_off_gbp": round(float(one_off[u]), 2), "cost_pv_gbp": round(float(cost[u]), 2),
            "host_agency": host, "recharge_pv_gbp": round(float(rech[u]), 2), "reason": reason,
        })
    pl = pd.DataFrame(prow)
    totals = _totals(inst, y, chosen)
    gap = sol.gap
    return Plan(outcome.status, npv_gbp=round(sol.npv_gbp, 6), bound_gbp=None if sol.bound_gbp is None else
                round(sol.bound_gbp, 6), gap=gap, site_decisions=sd, placements=pl, totals=totals, **common)


def _totals(inst: Instance, y: np.ndarray, chosen: np.ndarray) -> pd.DataFrame:
    data, S = inst.data, inst.inputs.sites
    disposed = y == 0
    su = data.service_agency
    n_ag = len(data.agencies)
    ag_site = data.site_agency

    def by(weights, index):
        return np.bincount(index, weights=weights, minlength=n_ag)

    mv = S["market_value_gbp"].to_numpy(float)
    rc = S["running_cost_gbp"].to_numpy(float)
    moved = ~data.pair_stay[chosen]
    one_off = np.where(moved, inst.pair_one_off[chosen], 0.0)
    npv_sites = data.benefit * disposed
    cost = data.pair_cost[chosen]
    rech = data.pair_recharge[chosen]
    cols = {
        "sites_disposed": by(disposed.astype(float), ag_site),
        "gross_capital_receipts_gbp": by(mv * disposed, ag_site),
        "running_cost_saving_gbp_per_year": by(rc * disposed, ag_site),
        "one_off_spend_gbp": by(one_off, su),
        "floor_area_released_m2": by(data.capacity * disposed, ag_site),
        "backlog_avoided_gbp": by(S["backlog_gbp"].to_numpy(float) * disposed, ag_site),
        "services_moved": by(moved.astype(float), su),
        "npv_gbp": by(npv_sites, ag_site) - by(cost, su),
        "recharge_net_pv_gbp": by(rech, ag_site[data.pair_site[chosen]]) - by(rech, su),
    }
    df = pd.DataFrame(cols)
    df["value_with_recharge_gbp"] = df["npv_gbp"] + df["recharge_net_pv_gbp"]
    df.insert(0, "scope", data.agencies)
    df.insert(1, "agency", data.agencies)
    allrow = {c: df[c].sum() for c in cols}
    allrow["value_with_recharge_gbp"] = df["value_with_recharge_gbp"].sum()
    allrow["scope"] = "all"
    allrow["agency"] = ""
    df = pd.concat([pd.DataFrame([allrow]), df], ignore_index=True)
    for c in ("sites_disposed", "services_moved"):
        df[c] = df[c].round().astype(int)
    for c in df.columns:
        if c.endswith("_gbp") or c.endswith("_year") or c.endswith("_m2"):
            df[c] = df[c].astype(float).round(2)
    return df


def optimise_inputs(inputs: Inputs, options: SolveOptions | None = None, decompose: bool = True,
                    progress=None, tick=None) -> Plan:
    """Build, solve and explain (inputs already validated). ``progress(message)`` is told each
    stage as it starts (the command line's and the app's running commentary); ``tick`` is
    ``solve_instance``'s (called about every 0.2 s while the solver runs; what it raises stops
    the solve)."""
    options = options or SolveOptions()
    say = progress or (lambda _message: None)
    say(f"Building the model: {len(inputs.sites):,} sites, {len(inputs.services):,} services, "
        f"{0 if inputs.zones is None else len(inputs.zones):,} zones...")
    inst = build_instance(inputs)
    say(f"Solving: {inst.data.n_pairs:,} allowed moves, {inst.data.n_cover:,} access rules"
        + (f", at most {options.time_limit_s:g} s" if options.time_limit_s else "") + "...")
    outcome = solve_instance(inst, options, decompose=decompose, tick=tick)
    say(f"Solver finished: {outcome.status} in {outcome.solve_seconds:.1f} s ({outcome.n_parts:,} parts). "
        "Explaining the decisions...")
    return make_plan(inst, outcome, options)


def optimise(sites=None, services=None, scenario=None, zones=None, pair_costs=None, register=None,
             options: SolveOptions | None = None, out_dir: str | Path | None = None,
             decompose: bool = True, progress=None, tick=None) -> Plan:
    """The whole optimiser from Python. ``sites``/``services``/``zones``/``pair_costs`` are CSV
    paths or pandas frames; or give ``register`` (a GeoPackage). ``scenario`` is a TOML path, a
    dict or a Scenario. Writes the outputs into ``out_dir`` when given. ``progress`` and
    ``tick``: see ``optimise_inputs``."""
    options = options or SolveOptions()
    say = progress or (lambda _message: None)
    if scenario is None:
        raise PlannerError("a scenario is needed (a TOML file, a dict or a Scenario)")
    if isinstance(scenario, (str, Path)):
        scenario = load_scenario(scenario)
    if out_dir is not None:
        clash = [n for n in OUTPUT_FILES if (Path(out_dir) / n).exists()]
        if clash:
            raise InputFileError(f"{out_dir}: already holds {', '.join(clash)}; nothing was solved or written. "
                                 f"Fix: give a new folder or move those files away.")
    say("Reading and checking the sites, services, zones and pair costs...")
    if register is not None:
        inputs = inputs_from_register(register, scenario, pair_costs)
    elif isinstance(sites, pd.DataFrame):
        inputs = inputs_from_frames(sites, services, scenario, zones, pair_costs)
    else:
        if sites is None or services is None:
            raise PlannerError("give sites and services (CSV files or frames), or a register")
        inputs = read_inputs(sites, services, scenario, zones, pair_costs)
    plan = optimise_inputs(inputs, options, decompose=decompose, progress=progress, tick=tick)
    if out_dir is not None:
        say(f"Writing the outputs to {out_dir}...")
        plan.write(out_dir)
    return plan


__all__ = ["OUTPUT_FILES", "TABLES", "Finding", "Inputs", "Instance", "Outcome", "Plan", "SolveOptions",
           "SolverError", "build_instance", "check_inputs", "inputs_from_frames", "inputs_from_register",
           "make_plan", "optimise", "optimise_inputs", "read_inputs", "solve_instance", "split_parts",
           "structural_findings", "validate_table"]
