"""Validation: check each table of the register and report every problem at once.

One validator per table, in the osmnx style: each gathers every problem it finds into a
``ProblemReport`` and returns it; the caller decides whether to raise. The validators also
*mark* the frame they are given, in place:

- ``in_analysis`` / ``exclusion_reason``: a record with an error gets ``in_analysis = False``
  and the reasons (``; ``-separated). An error excludes a record from scoring and optimising,
  never from the register. Validation starts from ``in_analysis = True`` on every record, so
  validating a register again gives the same marks (errors found by a *reader*, e.g. a value
  that is not a number, are applied afterwards with ``exclude_by_problems``).
- ``shared_uprn_sites`` (sites): the ids of other agencies' sites with the same UPRN. A UPRN
  held by two agencies is a *shared building*, reported as ``info`` (code ``shared_uprn``),
  not as a duplicate.
- ``gia_repeated`` (sites, boolean): true on a record whose gross internal area repeats that of
  an earlier part of the same site. Several records of one agency with the same ``gia_m2``
  that share a UPRN, or the same postcode district (outward code) and name stem, or an
  AssetCode part (``TMBC0259/J0000014``: records sharing ``TMBC0259`` or ``J0000014``) are the
  parts of one site whose published floor area is the whole site's. The first part keeps the
  area; each later part gets ``gia_repeated = True`` and a warning (code ``gia_repeated``), and
  the Total Place count (``planner.count``) adds the area once. The record's ``gia_m2`` itself
  is left as published. Estimated floor areas (``gia_m2`` in ``estimated_fields``) are never
  taken for repeats.
- capacity: ``gia_m2 <= 0`` and ``capacity_m2 < 0`` are errors; ``capacity_m2 = 0`` is allowed
  (a land holding has no floor space), with a warning on a building that has a floor area.
- swapped axes: a point whose easting and northing are clearly swapped (easting above 700,000
  and northing below 700,000, and swapping puts it inside Great Britain) is swapped back in
  ``easting``/``northing`` with a warning (code ``swapped_axes``).
- ``located`` is recomputed: a usable easting/northing inside Great Britain.

Services and zones get ``in_analysis`` / ``exclusion_reason`` columns too (they are kept
after the schema's columns and stored in the register).

Row numbers are the records' ``source_row`` (spreadsheet rows: header = 1) and files their
``source_file``; ``file_label`` names the file for records that have none.

Problem codes: ``missing_id``, ``duplicate_id``, ``missing_value``, ``shared_uprn``,
``bad_uprn``, ``outside_gb``, ``swapped_axes``, ``bad_area``, ``zero_capacity``, ``capacity_above_gia``,
``negative_value``, ``running_cost_high``, ``bad_condition``, ``bad_energy_rating``,
``bad_percentage``, ``gia_repeated``, ``unknown_site``, ``site_excluded``, ``bad_space``,
``overflow``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from planner.geo import GB_EASTING, GB_NORTHING
from planner.problems import Problem, ProblemReport
from planner.schema import CONDITION_GRADES, ENERGY_RATINGS, NIA_TO_GIA, is_estimated

MAX_AREA_M2 = 1_000_000.0  # larger than any single building: a typing error
CAPACITY_OVER_GIA = 1.2  # capacity above 1.2 x GIA is suspicious
MAX_RUNNING_COST_GBP_PER_M2 = 5_000.0  # a year; above this it is most likely wrong units
MIN_BNG_M = 1_000.0  # both coordinates below this: degrees, not metres

SITE_COSTS = ("running_cost_gbp", "market_value_gbp", "backlog_gbp", "disposal_cost_gbp",
              "exit_cost_gbp", "backlog_high_gbp", "backlog_significant_gbp",
              "backlog_moderate_gbp", "backlog_low_gbp")
SITE_PERCENTAGES = ("functional_suitability_pct", "empty_floor_pct", "underused_floor_pct")

__all__ = ["exclude_by_problems", "validate_services", "validate_sites", "validate_zones"]


# --------------------------------------------------------------------------- helpers

class _Checker:
    """Emits problems about the rows of one frame and remembers which rows have errors."""

    def __init__(self, df: pd.DataFrame, table: str, id_column: str, file_label: str | None):
        self.df = df
        self.table = table
        self.n = len(df)
        self.report = ProblemReport()
        label = file_label or ""
        files = (_text(df, "source_file") if "source_file" in df else np.full(self.n, "", dtype=object))
        self.files = np.where(files == "", label, files).astype(object)
        rows = (pd.to_numeric(df["source_row"], errors="coerce") if "source_row" in df
                else pd.Series(np.nan, index=df.index))
        self.rows = rows.to_numpy(dtype=float, na_value=np.nan)
        self.ids = _text(df, id_column)
        self.reasons: dict[int, list[str]] = {}

    def row(self, k: int) -> int | None:
        r = self.rows[k]
        return None if np.isnan(r) else int(r)

    def add(self, k: int, column: str | None, value, problem: str, fix: str, severity: str,
            code: str, reason: str | None = None) -> None:
        v = None if value is None or (isinstance(value, float) and np.isnan(value)) else _fmt(value)
        self.report.add(Problem(str(self.files[k]), self.row(k), column, v, problem, fix, severity,
                                self.table, self.ids[k] or None, code))
        if severity == "error":
            self.reasons.setdefault(k, []).append(reason or f"{column}: {problem}")

    def each(self, mask, column, values, problem, fix, severity, code, reason=None) -> None:
        """One problem per row where ``mask`` holds; ``problem``/``fix`` may be callables of k."""
        for k in np.flatnonzero(np.asarray(mask, dtype=bool)):
            p = problem(k) if callable(problem) else problem
            f = fix(k) if callable(fix) else fix
            v = None if values is None else (values(k) if callable(values) else values[k])
            self.add(int(k), column, v, p, f, severity, code, reason)

    def mark(self) -> None:
        """Set in_analysis / exclusion_reason from the errors found (starting from all in)."""
        inside = np.ones(self.n, dtype=bool)
        reason = np.full(self.n, None, dtype=object)
        for k, rs in self.reasons.items():
            inside[k] = False
            reason[k] = "; ".join(dict.fromkeys(rs))
        self.df["in_analysis"] = pd.array(inside, dtype="boolean")
        self.df["exclusion_reason"] = pd.array(reason, dtype="string")


def _text(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column as an object array of stripped text, '' for missing (or an absent column)."""
    if col not in df:
        return np.full(len(df), "", dtype=object)
    return df[col].astype("string").fillna("").str.strip().to_numpy(dtype=object)


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column as float, NaN for missing (or an absent column)."""
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _isin(values: np.ndarray, allowed) -> np.ndarray:
    """Hash-based membership (numpy's isin is quadratic on object arrays)."""
    return pd.Series(values, dtype=object).isin(pd.Series(allowed, dtype=object)).to_numpy(dtype=bool)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.12g}"
    return str(v)


def _ensure(df: pd.DataFrame, col: str, dtype: str, default) -> None:
    if col not in df:
        df[col] = pd.Series([default] * len(df), index=df.index, dtype=dtype)


def _check_ids(c: _Checker, id_column: str, what: str) -> None:
    ids = c.ids
    missing = ids == ""
    c.each(missing, id_column, None, f"the {what} has no {id_column}",
           f"give every {what} a unique {id_column}", "error", "missing_id", f"no {id_column}")
    s = pd.Series(ids)
    dup = s.duplicated(keep="first").to_numpy() & ~missing
    if dup.any():
        first = pd.Series(np.arange(c.n)).groupby(s.to_numpy()).transform("min").to_numpy()

        def problem(k):
            j = first[k]
            where = f"row {c.row(j)}" + ("" if c.files[j] == c.files[k] else f" of {Path(str(c.files[j])).name}")
            return f"{id_column} {ids[k]!r} is used again: row {c.row(k)} repeats the id of {where}"

        c.each(dup, id_column, ids, problem,
               lambda k: f"give each {what} its own {id_column} (the first record, row {c.row(first[k])}, is the one analysed)",
               "error", "duplicate_id", f"duplicate {id_column}")


def _check_required_text(c: _Checker, df: pd.DataFrame, col: str, what: str) -> None:
    c.each(_text(df, col) == "", col, None, f"the {what} has no {col}", f"fill in {col}",
           "error", "missing_value", f"no {col}")


def _fix_points(c: _Checker, df: pd.DataFrame, required: bool) -> None:
    """Swap clearly swapped axes, report points outside Great Britain, recompute ``located``."""
    e, n = _num(df, "easting"), _num(df, "northing")
    have = ~np.isnan(e) & ~np.isnan(n)

    def inside(a, b):
        return (a >= GB_EASTING[0]) & (a <= GB_EASTING[1]) & (b >= GB_NORTHING[0]) & (b <= GB_NORTHING[1])

    swapped = have & (e > GB_EASTING[1]) & (n < GB_EASTING[1]) & inside(n, e) & (n > MIN_BNG_M)
    c.each(swapped, "easting/northing", lambda k: f"{e[k]:.10g}, {n[k]:.10g}",
           "easting and northing look swapped (an easting above 700,000 m is outside Great Britain); they were swapped back",
           "put the easting (west-east, 0-700,000 m) in easting and the northing in northing", "warning", "swapped_axes")
    if swapped.any():
        e2, n2 = e.copy(), n.copy()
        e2[swapped], n2[swapped] = n[swapped], e[swapped]
        e, n = e2, n2
        df["easting"] = pd.array(e, dtype="Float64")
        df["northing"] = pd.array(n, dtype="Float64")
        df.loc[~have, ["easting", "northing"]] = pd.NA
    degrees = have & (np.abs(e) < MIN_BNG_M) & (np.abs(n) < MIN_BNG_M)
    outside = have & ~inside(e, n) & ~degrees

    def vals(k):
        return f"{e[k]:.10g}, {n[k]:.10g}"

    c.each(outside, "easting/northing", vals,
           "the point is outside Great Britain (easting must be 0-700,000 m and northing 0-1,300,000 m, EPSG:27700)",
           "give British National Grid easting/northing in metres for a point in Great Britain",
           "error", "outside_gb", "outside Great Britain")
    c.each(degrees, "easting/northing", vals,
           "the point looks like degrees (longitude/latitude), not British National Grid metres",
           "give easting/northing in metres (EPSG:27700), or put longitude/latitude in lon/lat columns so they are converted",
           "error", "outside_gb", "coordinates look like degrees")
    if required:
        c.each(~have, "easting/northing", None, "the point has no easting/northing",
               "give the point's easting and northing (EPSG:27700 metres)", "error", "missing_value",
               "no easting/northing")
    df["located"] = pd.array(have & inside(e, n) & ~degrees, dtype="boolean")


def _uprn_key(u: np.ndarray) -> np.ndarray:
    """UPRN text without leading zeros (and without a trailing '.0' from a spreadsheet)."""
    s = pd.Series(u, dtype="string").str.replace(r"\.0$", "", regex=True).str.lstrip("0")
    return s.fillna("").to_numpy(dtype=object)


_STEM_SPLIT = re.compile(r",|\s-\s|:|;|\((?!\s*\d+[a-z]?(\s*-\s*\d+[a-z]?)?\s*\))", re.IGNORECASE)


def _name_stem(name: str) -> str:
    """Lower-case text before the first ',', ' - ', ':', ';' or '(' (a parenthesis holding
    only a house number or range, such as '(38a)' or '(81-83)', is kept: it tells houses
    apart)."""
    stem = _STEM_SPLIT.split(name, maxsplit=1)[0]
    return " ".join(stem.lower().split())


def _components(n: int, keys: list[np.ndarray]) -> np.ndarray:
    """Connected components of records joined by equal non-empty keys."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    src, dst = [], []
    idx = np.arange(n)
    for key in keys:
        ok = key != ""
        if not ok.any():
            continue
        s = pd.Series(idx[ok])
        first = s.groupby(key[ok]).transform("min").to_numpy()
        src.append(idx[ok])
        dst.append(first)
    if not src:
        return idx
    a, b = np.concatenate(src), np.concatenate(dst)
    m = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(m, directed=False)
    return labels


# --------------------------------------------------------------------------- sites

def validate_sites(sites: pd.DataFrame, file_label: str | None = None) -> ProblemReport:
    """Check the sites table; mark ``sites`` in place (see the module docstring); return
    every problem found."""
    df = sites
    for col, dtype, default in (("in_analysis", "boolean", True), ("exclusion_reason", "string", pd.NA),
                                ("shared_uprn_sites", "string", pd.NA), ("gia_repeated", "boolean", False),
                                ("located", "boolean", pd.NA)):
        _ensure(df, col, dtype, default)
    c = _Checker(df, "sites", "site_id", file_label)
    if c.n == 0:
        return c.report
    _check_ids(c, "site_id", "site")
    _check_required_text(c, df, "agency", "site")
    agency = _text(df, "agency")
    agency_key = np.array([a.lower() for a in agency], dtype=object)

    # UPRNs: shared buildings (two agencies) and obviously wrong values
    uprn = _text(df, "uprn")
    ukey = _uprn_key(uprn)
    bad_u = (uprn != "") & ~pd.Series(ukey, dtype="string").str.fullmatch(r"\d{1,12}").fillna(False).to_numpy()
    c.each(bad_u, "uprn", uprn, "not a UPRN (a UPRN is a number of up to 12 digits)",
           "give the UPRN as digits only, or leave it empty", "warning", "bad_uprn")
    ukey = np.where(bad_u, "", ukey)
    shared = np.full(c.n, "", dtype=object)
    has_u = ukey != ""
    if has_u.any():
        frame = pd.DataFrame({"u": ukey[has_u], "a": agency_key[has_u], "k": np.flatnonzero(has_u)})
        multi = frame.groupby("u")["a"].nunique()
        multi = multi[multi > 1].index
        for u, grp in frame[frame["u"].isin(multi)].groupby("u"):
            ks, ags = grp["k"].to_numpy(), grp["a"].to_numpy()
            for k, a in zip(ks, ags, strict=True):
                others = [c.ids[j] for j, b in zip(ks, ags, strict=True) if b != a and c.ids[j]]
                shared[k] = ";".join(dict.fromkeys(others))
                names = ", ".join(f"{c.ids[j]} ({agency[j]})" for j, b in zip(ks, ags, strict=True) if b != a)
                c.add(int(k), "uprn", uprn[k],
                      f"a shared building: UPRN {u} is also held by {names}",
                      "nothing to fix: the records are linked through shared_uprn_sites (check the UPRN if they are not the same building)",
                      "info", "shared_uprn")
    df["shared_uprn_sites"] = pd.array(np.where(shared == "", None, shared), dtype="string")

    _fix_points(c, df, required=False)

    # floor areas
    gia, cap = _num(df, "gia_m2"), _num(df, "capacity_m2")
    c.each(gia <= 0, "gia_m2", gia, "the floor area must be more than 0 m2",
           "give gia_m2 in square metres (leave it empty if unknown)", "error", "bad_area")
    c.each(cap < 0, "capacity_m2", cap, "the capacity cannot be negative",
           "give capacity_m2 in square metres (leave it empty if unknown)", "error", "bad_area")
    # capacity 0 is a land holding (or a site nothing may move into); on a building with a floor
    # area it is suspicious but possible
    land = pd.Series(_text(df, "holding_type")).str.lower().to_numpy(dtype=object) == "land"
    c.each((cap == 0) & (gia > 0) & ~land, "capacity_m2", cap,
           lambda k: f"the capacity is 0 m2 although the building has {gia[k]:,.0f} m2 of floor area; no service can move in",
           "give the floor area services may use (leave it empty to use 0.8 x gia_m2)", "warning", "zero_capacity")
    for col, v in (("gia_m2", gia), ("capacity_m2", cap)):
        c.each(v > MAX_AREA_M2, col, v, f"the floor area is over {MAX_AREA_M2:,.0f} m2, more than any building",
               f"check the units of {col} (square metres; not square feet or hectares)", "error", "bad_area")
    over = (cap > CAPACITY_OVER_GIA * gia) & (gia > 0) & (cap > 0)
    c.each(over, "capacity_m2", cap,
           lambda k: f"capacity {cap[k]:,.0f} m2 is more than {CAPACITY_OVER_GIA} x the gross internal area ({gia[k]:,.0f} m2)",
           "check capacity_m2 and gia_m2 (capacity is the floor area services may use, usually about 0.8 x GIA)",
           "warning", "capacity_above_gia")
    land = _num(df, "land_area_ha")
    c.each(land < 0, "land_area_ha", land, "the land area is negative", "give the land area in hectares (0 or more)",
           "error", "negative_value")

    # money
    for col in SITE_COSTS:
        v = _num(df, col)
        c.each(v < 0, col, v, "a cost or value cannot be negative",
               f"give {col} in pounds as 0 or more (leave it empty if unknown)", "error", "negative_value")
    run = _num(df, "running_cost_gbp")
    with np.errstate(divide="ignore", invalid="ignore"):
        per_m2 = run / gia
    high = (gia > 0) & (per_m2 > MAX_RUNNING_COST_GBP_PER_M2)
    c.each(high, "running_cost_gbp", run,
           lambda k: f"the running cost is {per_m2[k]:,.0f} GBP per m2 a year (over {MAX_RUNNING_COST_GBP_PER_M2:,.0f}), most likely wrong units or floor area",
           "check running_cost_gbp (pounds a year for the whole building) and gia_m2", "warning", "running_cost_high")

    # grades, percentages, years
    cond = pd.Series(_text(df, "condition")).str.upper().to_numpy(dtype=object)
    bad = (cond != "") & ~_isin(cond, CONDITION_GRADES)
    c.each(bad, "condition", _text(df, "condition"), "the condition grade is not A, B, C or D",
           "give a condition grade A (as new), B, C or D (bad), or leave it empty", "error", "bad_condition")
    if "condition" in df:
        df["condition"] = pd.array(np.where(bad | (cond == ""), _text(df, "condition"), cond), dtype="string")
        df.loc[_text(df, "condition") == "", "condition"] = pd.NA
    energy = pd.Series(_text(df, "energy_rating")).str.upper().str.replace(" ", "").to_numpy(dtype=object)
    bad = (energy != "") & ~_isin(energy, ENERGY_RATINGS)
    c.each(bad, "energy_rating", _text(df, "energy_rating"), "the energy rating is not a band A+ to G",
           "give an energy rating band A+, A, B, C, D, E, F or G, or leave it empty", "error", "bad_energy_rating")
    if "energy_rating" in df:
        df["energy_rating"] = pd.array(np.where(bad | (energy == ""), _text(df, "energy_rating"), energy), dtype="string")
        df.loc[_text(df, "energy_rating") == "", "energy_rating"] = pd.NA
    for col in SITE_PERCENTAGES:
        v = _num(df, col)
        c.each((v < 0) | (v > 100), col, v, "a percentage must be between 0 and 100",
               f"give {col} as a percentage 0-100", "error", "bad_percentage")
    year = _num(df, "available_year")
    c.each(year < 0, "available_year", year, "available_year is negative (0 is now)",
           "give the first year the site can be vacated as 0 (now) or more", "error", "negative_value")

    # floor area repeated across the parts of one site
    _mark_repeated_gia(c, df, gia, agency_key, ukey)
    c.mark()
    return c.report


def _mark_repeated_gia(c: _Checker, df: pd.DataFrame, gia: np.ndarray, agency_key: np.ndarray,
                       ukey: np.ndarray) -> None:
    # only published floor areas: an estimated one (a typical area for the building type) is
    # not a site's total repeated on its parts
    has = (gia > 0) & ~is_estimated(df, "gia_m2").to_numpy(dtype=bool)
    rep = np.zeros(c.n, dtype=bool)
    if has.sum() > 1:
        base = np.array([f"{a}|{g:.2f}|" for a, g in zip(agency_key, np.nan_to_num(gia), strict=True)], dtype=object)
        pc = pd.Series(_text(df, "postcode")).str.upper().str.split(" ").str[0].fillna("").to_numpy(dtype=object)
        stem = np.array([_name_stem(s) for s in _text(df, "name")], dtype=object)
        ids = c.ids
        parts = pd.Series(ids).str.split("/", n=1, expand=True) if any("/" in i for i in ids) else None
        keys = [np.where(has & (ukey != ""), "u|" + base + ukey, "")]
        keys.append(np.where(has & (pc != "") & (stem != ""), "n|" + base + pc + "|" + stem, ""))
        if parts is not None and parts.shape[1] == 2:
            slash = np.array(["/" in i for i in ids])
            head = parts[0].fillna("").to_numpy(dtype=object)
            tail = parts[1].fillna("").to_numpy(dtype=object)
            keys.append(np.where(has & slash & (head != ""), "h|" + base + head, ""))
            keys.append(np.where(has & slash & (tail != ""), "t|" + base + tail, ""))
        labels = _components(c.n, keys)
        first = pd.Series(np.arange(c.n)).groupby(labels).transform("min").to_numpy()
        rep = has & (first != np.arange(c.n))
        c.each(rep, "gia_m2", gia,
               lambda k: (f"the floor area {gia[k]:,.1f} m2 repeats that of {ids[first[k]] or 'another record'} "
                          f"(row {c.row(first[k])}), another part of the same site; it is counted once"),
               "if the parts really are separate buildings of the same size, nothing to fix; otherwise give each part its own floor area",
               "warning", "gia_repeated")
    df["gia_repeated"] = pd.array(rep, dtype="boolean")


# --------------------------------------------------------------------------- services

def validate_services(services: pd.DataFrame, sites: pd.DataFrame | None = None,
                      file_label: str | None = None) -> ProblemReport:
    """Check the services table against ``sites`` (validate the sites first: a service at an
    excluded site is excluded too); mark ``services`` in place; return every problem."""
    df = services
    _ensure(df, "in_analysis", "boolean", True)
    _ensure(df, "exclusion_reason", "string", pd.NA)
    c = _Checker(df, "services", "service_id", file_label)
    if c.n == 0:
        return c.report
    _check_ids(c, "service_id", "service")
    _check_required_text(c, df, "agency", "service")
    _check_required_text(c, df, "service_type", "service")
    space = _num(df, "space_m2")
    c.each(np.isnan(space), "space_m2", None, "the service has no floor area (space_m2)",
           "give the floor area the service needs in square metres (more than 0)", "error", "bad_space", "no space_m2")
    c.each(space <= 0, "space_m2", space, "the floor area a service needs must be more than 0 m2",
           "give space_m2 in square metres, more than 0", "error", "bad_space")
    c.each(space > MAX_AREA_M2, "space_m2", space, f"the floor area is over {MAX_AREA_M2:,.0f} m2",
           "check the units of space_m2 (square metres)", "error", "bad_space")
    for col, what in (("fte", "staff numbers"), ("max_move_m", "a distance")):
        v = _num(df, col)
        c.each(v < 0, col, v, f"{what} cannot be negative", f"give {col} as 0 or more (or leave it empty)",
               "error", "negative_value")
    site = _text(df, "site_id")
    has_site = site != ""
    if sites is not None and len(sites):
        sid = _text(sites, "site_id")
        known = _isin(site, sid)
        ok_sites = sid[pd.Series(sites["in_analysis"]).astype("boolean").fillna(True).to_numpy(dtype=bool)] \
            if "in_analysis" in sites else sid
        usable = _isin(site, ok_sites)
    else:
        known = np.zeros(c.n, dtype=bool)
        usable = known
    c.each(has_site & ~known, "site_id", site, "no site has this site_id",
           "give the site_id of a site in the register (import the sites first), or leave it empty for a service that needs a home",
           "error", "unknown_site", "unknown site")
    c.each(has_site & known & ~usable, "site_id", site,
           lambda k: f"its site {site[k]} is excluded from analysis by an error in the sites table",
           "fix the site's errors (see the problems of that site)", "error", "site_excluded", "its site is excluded")
    # a service that needs a home may give its own point
    if not has_site.all():
        sub = df.loc[~has_site]
        cc = _Checker(sub, "services", "service_id", file_label)
        _fix_points(cc, sub, required=False)
        idx = np.flatnonzero(~has_site)
        for p in cc.report:
            c.report.add(p)
        for k, rs in cc.reasons.items():
            c.reasons.setdefault(int(idx[k]), []).extend(rs)
        df.loc[~has_site, ["easting", "northing"]] = sub[["easting", "northing"]].to_numpy()
    c.mark()
    # overflow: services at a site need more than its capacity (a warning on the site)
    if sites is not None and len(sites) and (has_site & known).any():
        ok = has_site & known & (space > 0) & c.df["in_analysis"].to_numpy(dtype=bool)
        need = pd.Series(space[ok]).groupby(site[ok]).sum()
        sc = _Checker(sites, "sites", "site_id", file_label)
        cap_given = _num(sites, "capacity_m2")
        cap = np.where(np.isnan(cap_given), NIA_TO_GIA * _num(sites, "gia_m2"), cap_given)
        sid = _text(sites, "site_id")
        first = ~pd.Series(sid).duplicated().to_numpy()
        total = pd.Series(sid).map(need).to_numpy(dtype=float, na_value=np.nan)
        over = first & (total > cap)
        sc.each(over, "capacity_m2", cap,
                lambda k: (f"the services at site {sid[k]} need {total[k]:,.0f} m2 but its capacity is {cap[k]:,.0f} m2"
                           + (f" (estimated as {NIA_TO_GIA} x gia_m2)" if np.isnan(cap_given[k]) else "") + "; "
                           "the optimiser uses the larger figure (effective capacity), so no service is forced out"),
                "check the services' space_m2 and the site's capacity_m2", "warning", "overflow")
        c.report.extend(sc.report)
    return c.report


# --------------------------------------------------------------------------- zones

def validate_zones(zones: pd.DataFrame, file_label: str | None = None) -> ProblemReport:
    """Check the demand zones; mark ``zones`` in place; return every problem."""
    df = zones
    _ensure(df, "in_analysis", "boolean", True)
    _ensure(df, "exclusion_reason", "string", pd.NA)
    c = _Checker(df, "zones", "zone_id", file_label)
    if c.n == 0:
        return c.report
    _check_ids(c, "zone_id", "zone")
    pop = _num(df, "population")
    c.each(np.isnan(pop), "population", None, "the zone has no population",
           "give the number of residents (0 or more)", "error", "missing_value", "no population")
    c.each(pop < 0, "population", pop, "the population is negative", "give the number of residents (0 or more)",
           "error", "negative_value")
    _fix_points(c, df, required=True)
    c.mark()
    return c.report


# --------------------------------------------------------------------------- reader errors

def exclude_by_problems(frame: pd.DataFrame, problems, table: str) -> int:
    """Exclude from analysis the records of ``frame`` that an *error* in ``problems`` (e.g. a
    reader's "not a number") is about: matched on file name and ``source_row``. Returns how
    many records were newly excluded."""
    _ensure(frame, "in_analysis", "boolean", True)
    _ensure(frame, "exclusion_reason", "string", pd.NA)
    errs = [p for p in problems if p.severity == "error" and p.row is not None and p.table == table]
    if not errs or len(frame) == 0:
        return 0
    why: dict[tuple[str, int], list[str]] = {}
    for p in errs:
        why.setdefault((Path(p.file).name if p.file else "", int(p.row)), []).append(
            f"{p.column}: {p.problem}" if p.column else p.problem)
    files = [Path(f).name if f else "" for f in _text(frame, "source_file")]
    rows = pd.to_numeric(frame["source_row"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    inside = frame["in_analysis"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    reasons = _text(frame, "exclusion_reason")
    keys = [(f, int(r)) if not np.isnan(r) else None for f, r in zip(files, rows, strict=True)]
    newly = 0
    for k, key in enumerate(keys):
        rs = why.get(key) if key is not None else None
        if not rs:
            continue
        newly += int(inside[k])
        inside[k] = False
        reasons[k] = "; ".join(dict.fromkeys([r for r in reasons[k].split("; ") if r] + rs))
    frame["in_analysis"] = pd.array(inside, dtype="boolean")
    frame["exclusion_reason"] = pd.array(np.where(reasons == "", None, reasons), dtype="string")
    return newly
