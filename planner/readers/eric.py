"""Reader of NHS ERIC (Estates Returns Information Collection) site data: one row per NHS
trust site, as NHS Digital publishes it (tested on the 2016/17 site sheet: 1,213 rows x 126
columns, CSV or XLSX).

Columns read (headers are matched ignoring case, spaces and punctuation; ``m²`` = ``m2``):

==========================================================  =================================
ERIC column                                                 site column
==========================================================  =================================
Site Code                                                   site_id (required)
Site Name                                                   name
Site Type                                                   building_type (see below)
Organisation Code                                           occupier_agency (the trust code)
Gross internal floor area (m²)                              gia_m2
Land area owned (Hectares)                                  land_area_ha
Cost to eradicate high / significant / moderate / low       backlog_high_gbp, backlog_significant_gbp,
risk backlog (£)                                            backlog_moderate_gbp, backlog_low_gbp;
                                                            backlog_gbp = their sum
Not functionally suitable - occupied floor area (%)         functional_suitability_pct = 100 - it
Floor area - empty (%)                                      empty_floor_pct
Floor area - under used (%)                                 underused_floor_pct
==========================================================  =================================

``agency`` is the ``agency`` argument (default ``nhs``): ERIC does not say who owns a site
(PFI and leased sites included).

``running_cost_gbp`` is the sum of these eight site-level yearly cost columns, the costs of
holding and running the building that stop when the site is vacated:

1. Estates and property maintenance (£)
2. Grounds and gardens maintenance (£)
3. Other Hard FM (Estates) costs (£)
4. Other Soft FM (Hotel Services) costs (£)
5. Energy costs (all energy supplies) (£)
6. Water cost (£)
7. Sewage cost (£)
8. Cleaning service cost (£)

Not included, and why:

- the four "Cost of cleaning ... (£)" columns by risk category (Red, Amber, Green, not
  requiring regular cleaning): they break "Cleaning service cost (£)" down (in 2016/17 they
  sum to it within £1 at 642 of the 922 sites that give all five, and to about it at most
  others), so adding them would count cleaning twice;
- "Estates and facilities finance costs (£)": capital charges (depreciation, PDC dividend,
  PFI financing), not a running cost; the planner counts the asset's value as
  ``market_value_gbp`` instead;
- "Electro Bio Medical Equipment maintenance cost (£)", "Inpatient food service cost (£)",
  "Laundry and linen service cost (£)", "Portering service cost (£)" and the four waste
  disposal costs (landfill, incineration, recycling, other recovery): they follow the clinical
  service (equipment, patients, activity), so they move with it rather than being saved when
  the building closes;
- the backlog and critical-infrastructure-risk costs (one-off costs, not yearly), parking fees
  per hour, "Cost of feeding one inpatient per day" (a rate), and the retail income.

The ERIC site sheet has no rent, lease or business rates column (rates and rent are not in
the site return), so ``running_cost_gbp`` understates leased sites.

Empty cells and ERIC's "Not Applicable" (written where a trust returned no site-level figure)
are read as "not published": one info problem per column says how many. When
some of the eight running-cost columns (or of the four backlog columns) are published and
others are not, the sum is of the published ones and the row gets a warning naming the
missing ones; when none is published the total is left empty with a warning (the model would
otherwise read it as 0).

Site Type -> building_type: a type naming mental health -> ``mental_health``; a hospital or
acute type (general acute, specialist, mixed service, community hospital) -> ``hospital``;
other community types -> ``community``; support, office or administrative types -> ``office``;
anything else (learning disabilities, other inpatient) -> ``other``. The original type of each
group and its count are kept in ``result.notes``.

Aggregate rows (Site Code ``AGGRE``, Site Type "Aggregate Site": a trust's totals, 172 in
2016/17) are not sites: each is one info problem and counted as unreadable, so
``rows_read == rows_stored + rows_unreadable`` holds.

Location: ERIC has none. ``locations`` (a DataFrame or a CSV/XLSX path) may give, per
``site_code``, ``easting``/``northing`` (EPSG:27700; WGS84 lon/lat values are recognised and
converted) and/or a ``postcode`` (placed at its centroid with the postcode table). Every site
left without a point is kept as unlocated with one warning.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputFileError
from planner.postcodes import PostcodeTable, normalise_postcode
from planner.problems import Problem, ProblemReport
from planner.readers.base import (
    ReadResult,
    finish,
    locate,
    match_columns,
    parse_numbers,
    read_raw_table,
)

RUNNING_COST_COLUMNS = (
    "Estates and property maintenance (£)",
    "Grounds and gardens maintenance (£)",
    "Other Hard FM (Estates) costs (£)",
    "Other Soft FM (Hotel Services) costs (£)",
    "Energy costs (all energy supplies) (£)",
    "Water cost (£)",
    "Sewage cost (£)",
    "Cleaning service cost (£)",
)
BACKLOG_COLUMNS = {
    "backlog_high_gbp": "Cost to eradicate high risk backlog (£)",
    "backlog_significant_gbp": "Cost to eradicate significant risk backlog (£)",
    "backlog_moderate_gbp": "Cost to eradicate moderate risk backlog (£)",
    "backlog_low_gbp": "Cost to eradicate low risk backlog (£)",
}
NUMBER_COLUMNS = {
    "gia_m2": "Gross internal floor area (m²)",
    "land_area_ha": "Land area owned (Hectares)",
    **BACKLOG_COLUMNS,
    "not_suitable_pct": "Not functionally suitable - occupied floor area (%)",
    "empty_floor_pct": "Floor area - empty (%)",
    "underused_floor_pct": "Floor area - under used (%)",
    **{f"rc{i}": c for i, c in enumerate(RUNNING_COST_COLUMNS)},
}
TEXT_COLUMNS = {
    "site_code": "Site Code",
    "site_name": "Site Name",
    "site_type": "Site Type",
    "org_code": "Organisation Code",
    "org_name": "Organisation Name",
}
NOT_PUBLISHED = {"not applicable", "n/a", "na", "not available", "-", ""}
AGGREGATE_CODES = {"AGGRE", "AGGREGATE"}


def _aliases() -> dict[str, tuple[str, ...]]:
    al: dict[str, tuple[str, ...]] = {k: (v,) for k, v in TEXT_COLUMNS.items()}
    for k, v in NUMBER_COLUMNS.items():
        al[k] = (v, v.replace("m²", "m2"), v.replace(" (£)", "").replace(" (%)", ""))
    return al


def building_type(site_type: str | None) -> str:
    """Planner building type of an ERIC Site Type."""
    t = (site_type or "").lower()
    if "mental health" in t:
        return "mental_health"
    if "hospital" in t or "acute" in t:
        return "hospital"
    if "community" in t:
        return "community"
    if any(w in t for w in ("support", "office", "admin")):
        return "office"
    return "other"


def _is_aggregate(code: str, name: str, site_type: str) -> bool:
    return (code.strip().upper() in AGGREGATE_CODES or site_type.strip().lower().startswith("aggregate")
            or name.strip().upper() == "AGGREGATE SITE")


def read_eric(path: str | Path, agency: str = "nhs", postcodes: PostcodeTable | None = None,
              locations: pd.DataFrame | str | Path | None = None) -> ReadResult:
    """Read an ERIC site sheet into sites (see the module docstring for every rule)."""
    path = Path(path)
    file = str(path)
    raw = read_raw_table(path)
    problems = ProblemReport()
    problems.extend(raw.problems)
    found, _unused = match_columns(raw.headers, _aliases())
    if "site_code" not in found:
        raise InputFileError(
            f"{path}: no 'Site Code' column, so this is not an ERIC site sheet (found: {', '.join(raw.headers[:12])}). "
            "Fix: give the ERIC site data sheet (one row per site), or another reader's file.")
    for idx in found.values():
        if len(idx) > 1:
            problems.add(Problem(file, 1, raw.headers[idx[0]], None,
                                 f"the column appears {len(idx)} times; the first was used",
                                 "delete or rename the duplicate columns", "warning", "sites", None, "duplicate_column"))
    wanted = {**TEXT_COLUMNS, **NUMBER_COLUMNS}
    for key, header in wanted.items():
        if key not in found and key not in ("site_code", "org_name"):
            problems.add(Problem(file, None, header, None,
                                 "the column is not in the file; the value it gives is left empty",
                                 "give the full ERIC site sheet", "warning", "sites", None, "missing_column"))

    def text(key: str) -> list[str]:
        i = found.get(key, [None])[0]
        return [("" if i is None else r[i]).strip() for r in raw.records]

    codes, names, types, orgs = text("site_code"), text("site_name"), text("site_type"), text("org_code")
    keep: list[int] = []
    unreadable = len(raw.blank_rows) + len(raw.bad_rows)
    for k, row in enumerate(raw.rows):
        if _is_aggregate(codes[k], names[k], types[k]):
            problems.add(Problem(file, row, TEXT_COLUMNS["site_code"], codes[k],
                                 f"an aggregate row (the totals of trust {orgs[k] or '?'}), not a site; not stored",
                                 "nothing to do: ERIC publishes one such row per trust", "info", "sites", None,
                                 "aggregate_row"))
            unreadable += 1
        elif codes[k] == "":
            problems.add(Problem(file, row, TEXT_COLUMNS["site_code"], None, "no Site Code: the site cannot be stored",
                                 "give the site's ODS site code", "error", "sites", None, "missing_id"))
            unreadable += 1
        else:
            keep.append(k)
    rows = [raw.rows[k] for k in keep]
    ids = [codes[k].upper() for k in keep]

    not_published: dict[str, int] = {}

    def numbers(key: str) -> np.ndarray:
        header = raw.headers[found[key][0]] if key in found else NUMBER_COLUMNS[key]
        if key not in found:
            return np.full(len(keep), np.nan)
        i = found[key][0]
        vals = [raw.records[k][i] for k in keep]
        marked = [v.strip().lower() in NOT_PUBLISHED for v in vals]
        if any(m and v.strip() for m, v in zip(marked, vals, strict=True)):
            not_published[header] = sum(bool(m and v.strip()) for m, v in zip(marked, vals, strict=True))
        out = parse_numbers(["" if m else v for m, v in zip(marked, vals, strict=True)], file, rows, header,
                            problems, "sites", ids)
        return np.array([np.nan if v is None else v for v in out], dtype=float)

    num = {key: numbers(key) for key in NUMBER_COLUMNS}
    for header, count in not_published.items():
        problems.add(Problem(file, None, header, "Not Applicable",
                             f"{count} sites have 'Not Applicable' here (no site-level figure was returned); read as not published",
                             "nothing to do, or fill in the site's figure", "info", "sites", None, "not_published"))

    def total(keys: list[str], target: str, what: str) -> np.ndarray:
        parts = np.vstack([num[k] for k in keys]) if keys else np.full((1, len(keep)), np.nan)
        present = ~np.isnan(parts)
        out = np.where(present.any(axis=0), np.nansum(np.where(present, parts, 0.0), axis=0), np.nan)
        in_file = [k for k in keys if k in found]
        for j in range(len(keep)):
            miss = [NUMBER_COLUMNS[k] for k in in_file if not present[keys.index(k), j]]
            if not in_file:
                continue
            if len(miss) == len(in_file):
                problems.add(Problem(file, rows[j], target, None,
                                     f"no {what} is published for this site; {target} is left empty",
                                     f"fill in the site's {what} (the model reads an empty {target} as 0)",
                                     "warning", "sites", ids[j], f"no_{target}"))
            elif miss:
                problems.add(Problem(file, rows[j], target, f"{out[j]:.0f}",
                                     f"{target} is the sum of the published parts only; not published: {'; '.join(miss)}",
                                     "fill in the missing parts", "warning", "sites", ids[j], f"partial_{target}"))
        return out

    rc_keys = [f"rc{i}" for i in range(len(RUNNING_COST_COLUMNS))]
    running = total(rc_keys, "running_cost_gbp", "running cost")
    backlog = total(list(BACKLOG_COLUMNS), "backlog_gbp", "backlog cost")

    site_types = [types[k] for k in keep]
    btypes = [building_type(t) for t in site_types]
    df = pd.DataFrame({
        "site_id": pd.array(ids, dtype="string"),
        "name": pd.array([names[k] or None for k in keep], dtype="string"),
        "agency": agency,
        "occupier_agency": pd.array([orgs[k].upper() or None for k in keep], dtype="string"),
        "building_type": pd.array(btypes, dtype="string"),
        "gia_m2": num["gia_m2"],
        "land_area_ha": num["land_area_ha"],
        **{k: num[k] for k in BACKLOG_COLUMNS},
        "backlog_gbp": backlog,
        "functional_suitability_pct": 100.0 - num["not_suitable_pct"],
        "empty_floor_pct": num["empty_floor_pct"],
        "underused_floor_pct": num["underused_floor_pct"],
        "running_cost_gbp": running,
        "source_file": path.name,
        "source_row": rows,
    })
    notes = [f"{len(keep)} sites read; {unreadable} rows not stored (aggregate, blank or without a Site Code)",
             f"agency set to {agency!r} for every site; occupier_agency is the trust's Organisation Code",
             "running_cost_gbp = sum of: " + "; ".join(RUNNING_COST_COLUMNS)]
    for (t, b), count in pd.Series(list(zip(site_types, btypes, strict=True))).value_counts(sort=False).items():
        notes.append(f"Site Type {t!r} -> building_type {b} ({count} sites)")

    x, y, pc, loc_notes = _locations(locations, ids, problems)
    notes.extend(loc_notes)
    tmp = ProblemReport()
    notes.extend(locate(df, x, y, pc, file, postcodes, tmp, x_name="easting", y_name="northing",
                        postcode_name="postcode"))
    for p in tmp:
        if p.code == "unlocated":
            p = dataclasses.replace(
                p, column=TEXT_COLUMNS["site_code"], value=p.record_id,
                problem=("ERIC gives no location, and the locations table has no usable point or postcode for this site"
                         if locations is not None else "ERIC gives no location and no locations table was given")
                + "; the site is kept in the register as unlocated (off the map and out of the optimiser)",
                fix="add the site to a locations table (columns site_code, easting, northing in EPSG:27700, or postcode)")
        problems.add(p)
    if pc.notna().any():
        df["postcode"] = pc.map(lambda v: normalise_postcode(v) if isinstance(v, str) else None).astype("string")
    result = ReadResult(file=file, reader="eric", sites=df, problems=problems, rows_read=raw.rows_read,
                        rows_unreadable=unreadable, notes=notes)
    return finish(result)


def _locations(locations, ids: list[str], problems: ProblemReport) -> tuple[pd.Series, pd.Series, pd.Series, list[str]]:
    """x, y and postcode (as text series aligned with ``ids``) from the locations table."""
    n = len(ids)
    empty = pd.Series([None] * n, dtype="object")
    if locations is None:
        return empty, empty.copy(), empty.copy().astype("string"), ["ERIC gives no locations and no locations table was given: every site is unlocated"]
    if isinstance(locations, pd.DataFrame):
        lfile = "locations table"
        headers = [str(c) for c in locations.columns]
        records = [["" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v) for v in rec]
                   for rec in locations.itertuples(index=False, name=None)]
        lrows = list(range(2, len(records) + 2))
    else:
        raw = read_raw_table(locations)
        lfile, headers, records, lrows = str(locations), raw.headers, raw.records, raw.rows
        problems.extend(raw.problems)
    found, _ = match_columns(headers, {
        "site_code": ("site_code", "Site Code", "site_id", "code"),
        "easting": ("easting", "x", "bng_e", "lon", "longitude"),
        "northing": ("northing", "y", "bng_n", "lat", "latitude"),
        "postcode": ("postcode", "post code"),
    })
    if "site_code" not in found or not ({"easting", "northing"} <= found.keys() or "postcode" in found):
        raise InputFileError(f"{lfile}: a locations table needs a site_code column and easting/northing or postcode "
                             f"columns (found: {', '.join(headers[:12])}). Fix: rename the columns.")
    by_code: dict[str, int] = {}
    for j, rec in enumerate(records):
        code = rec[found["site_code"][0]].strip().upper()
        if not code:
            continue
        if code in by_code:
            problems.add(Problem(lfile, lrows[j], headers[found["site_code"][0]], code,
                                 f"the site code is listed twice (first in row {lrows[by_code[code]]}); the first was used",
                                 "keep one row per site code", "warning", "sites", code, "duplicate_location"))
            continue
        by_code[code] = j
    unknown = sorted(set(by_code) - set(ids))
    if unknown:
        problems.add(Problem(lfile, None, headers[found["site_code"][0]], ", ".join(unknown)[:300],
                             f"{len(unknown)} site codes in the locations table are not sites of the ERIC file",
                             "check the codes", "info", "sites", None, "unknown_location"))

    def col(key: str) -> pd.Series:
        if key not in found:
            return empty.copy()
        i = found[key][0]
        return pd.Series([records[by_code[c]][i] if c in by_code else None for c in ids], dtype="object")

    def numeric(key: str) -> pd.Series:
        s = col(key)
        out = []
        for c, v in zip(ids, s, strict=True):
            if v is None or str(v).strip() == "":
                out.append(None)
                continue
            try:
                out.append(float(str(v).replace(",", "")))
            except ValueError:
                j = by_code[c]
                problems.add(Problem(lfile, lrows[j], headers[found[key][0]], str(v)[:80], "not a number",
                                     "write the coordinate as a plain number", "error", "sites", c, "not_a_number"))
                out.append(None)
        return pd.Series(out, dtype="object")

    hit = sum(c in by_code for c in ids)
    return numeric("easting"), numeric("northing"), col("postcode").astype("string"), [
        f"{hit} of {len(ids)} sites found in the locations table ({lfile})"]


__all__ = ["BACKLOG_COLUMNS", "RUNNING_COST_COLUMNS", "building_type", "read_eric"]
