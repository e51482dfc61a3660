"""The Total Place "count": what the public estate of a place holds, by agency or by area.

``total_place_count(sites, services, zones, by="agency")`` gives one row per agency (or per
ward / LSOA / locality) and a ``Total`` row: records, buildings, floor area, vacant floor
area, running cost, backlog, potential receipts, residents, cost per resident, floor area and
sites per 1,000 residents, and how many records are unlocated or excluded.

Rules (also in docs/scoring.md, "The count"):
- Records excluded from analysis (``in_analysis`` false) are counted in ``excluded`` and in
  nothing else. ``sites`` counts the records in analysis; ``unlocated`` those of them with
  no usable point (they count by agency; by area they fall in the "(no area)" row).
- A floor area repeated across the parts of one site (``gia_repeated`` true, marked by
  validation; or, when that column is absent, the same agency and floor area on records
  with the same name stem or the same point) is counted once, on the first part.
- Missing values stay missing: every sum uses ``min_count=1``, so a group where nothing is
  known shows an empty cell, not 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.schema import NIA_TO_GIA

TOTAL_LABEL = "Total"
NO_AREA_LABEL = "(no area)"
AREA_BY = ("ward", "lsoa", "locality")

COUNT_COLUMNS = [
    "sites", "buildings", "gia_m2", "capacity_m2", "vacant_m2", "running_cost_gbp",
    "backlog_gbp", "receipts_potential_gbp", "residents", "cost_per_resident_gbp",
    "gia_m2_per_1000_residents", "sites_per_1000_residents", "unlocated", "excluded",
]


# --------------------------------------------------------------------------- helpers

def _num(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[col], errors="coerce").astype("float64")


def _flag(frame: pd.DataFrame, col: str, default: bool) -> pd.Series:
    if col not in frame:
        return pd.Series(default, index=frame.index, dtype=bool)
    return frame[col].astype("boolean").fillna(default).astype(bool)


def _lower(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[col].astype("string").fillna("").str.strip().str.lower()


def in_analysis(sites: pd.DataFrame) -> pd.Series:
    """True for records not excluded by validation (missing counts as true)."""
    return _flag(sites, "in_analysis", True)


def is_located(sites: pd.DataFrame) -> pd.Series:
    """True for records with a usable point."""
    e, n = _num(sites, "easting"), _num(sites, "northing")
    return _flag(sites, "located", True) & e.notna() & n.notna()


def is_building(sites: pd.DataFrame) -> pd.Series:
    """A building: holding type other than "Land" (missing counts as a building), or any
    floor area."""
    return (_lower(sites, "holding_type") != "land") | (_num(sites, "gia_m2") > 0)


def gia_repeated(sites: pd.DataFrame) -> pd.Series:
    """True for a record whose floor area repeats that of an earlier part of the same site
    (so it must not be added again). Uses the validator's ``gia_repeated`` column when
    present; otherwise marks records of the same agency with the same positive floor area
    and either the same name stem (text before the first , ( : ; or -) or the same point."""
    if "gia_repeated" in sites:
        return sites["gia_repeated"].astype("boolean").fillna(False).astype(bool)
    gia = _num(sites, "gia_m2")
    has = gia > 0
    agency = _lower(sites, "agency")
    if "name" in sites:
        stem = (sites["name"].astype("string").fillna("").str.replace(r"[,(:;\-].*$", "", regex=True)
                .str.lower().str.replace(r"\s+", " ", regex=True).str.strip().fillna(""))
    else:
        stem = pd.Series("", index=sites.index, dtype="string")
    e, n = _num(sites, "easting").round(0), _num(sites, "northing").round(0)
    key = pd.DataFrame({"a": agency, "g": gia.round(2), "s": stem, "e": e, "n": n})
    by_name = key.duplicated(["a", "g", "s"], keep="first") & (stem != "")
    located = e.notna() & n.notna()
    by_point = key.duplicated(["a", "g", "e", "n"], keep="first") & located
    return (has & (by_name | by_point)).astype(bool)


def capacity_m2(sites: pd.DataFrame) -> pd.Series:
    """capacity_m2, or NIA_TO_GIA x gia_m2 where capacity is missing (the loader's rule)."""
    cap = _num(sites, "capacity_m2")
    return cap.fillna(NIA_TO_GIA * _num(sites, "gia_m2"))


def site_positions(sites: pd.DataFrame, site_ids) -> np.ndarray:
    """For each id in ``site_ids``, the position of that site in ``sites`` (its first record
    when an id is repeated), or -1 when there is none."""
    sid = sites["site_id"].astype("string").fillna("").to_numpy(dtype=object)
    index = pd.Index(sid, dtype=object)
    if not index.is_unique:
        index = index.where(~index.duplicated(), None)
    ids = pd.Series(site_ids).astype("string").fillna("\x00").to_numpy(dtype=object)
    return index.get_indexer(ids)


def space_used(sites: pd.DataFrame, services: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """Floor area used by services at each site, and how that was found, aligned with
    ``sites``.

    In order: the sum of ``space_m2`` of the services recorded at the site ("services"; missing
    when one of them is excluded from analysis or has no space); 0 for a site recorded as
    vacant ("vacant"); capacity x (1 - empty_floor_pct/100) where ERIC gives the empty share
    ("empty_floor_pct"); missing for a site let to a tenant ("let out: use not recorded"); 0
    when the owning agency recorded services at other sites but none here ("no services
    recorded here"); otherwise missing ("no services recorded for <agency>").
    Returns ``(space_used_m2, source)``.
    """
    idx = sites.index
    n = len(sites)
    used = np.full(n, np.nan)
    source = np.full(n, None, dtype=object)
    agency = _lower(sites, "agency").to_numpy(dtype=object)
    reporting: set[str] = set()
    if services is not None and len(services) and "site_id" in sites:
        pos = site_positions(sites, services["site_id"])
        space = pd.to_numeric(services["space_m2"], errors="coerce").astype("float64").to_numpy(na_value=np.nan)
        bad = np.isnan(space)
        if "in_analysis" in services:
            bad |= ~services["in_analysis"].astype("boolean").fillna(True).to_numpy(dtype=bool)
        ok = pos >= 0
        count = np.bincount(pos[ok], minlength=n)
        total = np.bincount(pos[ok], weights=np.where(bad, 0.0, space)[ok], minlength=n)
        nbad = np.bincount(pos[ok], weights=bad[ok].astype(float), minlength=n)
        has = count > 0
        used[has] = total[has]
        used[has & (nbad > 0)] = np.nan
        source[has] = "services"
        source[has & (nbad > 0)] = "a service here is excluded from analysis or has no space"
        # agencies that recorded services at any of their own sites
        reporting = set(agency[np.unique(pos[ok])])
    tdetail = _lower(sites, "tenure_detail").to_numpy(dtype=object)
    cap = capacity_m2(sites).to_numpy()
    empty = _num(sites, "empty_floor_pct").to_numpy()
    todo = source == None  # noqa: E711 (element-wise)
    vacant = todo & (tdetail == "vacant")
    used[vacant] = 0.0
    source[vacant] = "vacant"
    todo &= ~vacant
    eric = todo & ~np.isnan(empty) & ~np.isnan(cap)
    used[eric] = (cap * (1 - np.clip(empty, 0, 100) / 100))[eric]
    source[eric] = "empty_floor_pct"
    todo &= ~eric
    let_out = todo & (tdetail == "leasehold out")
    source[let_out] = "let out: use not recorded"
    todo &= ~let_out
    none_here = todo & pd.Series(agency, dtype=object).isin(reporting).to_numpy()
    used[none_here] = 0.0
    source[none_here] = "no services recorded here"
    todo &= ~none_here
    source[todo] = "no services recorded for " + np.where(agency[todo] == "", "its agency", agency[todo]).astype(object)
    return (pd.Series(used, index=idx, dtype="float64"),
            pd.Series(pd.array(source, dtype="string"), index=idx))


def vacant_m2(sites: pd.DataFrame, services: pd.DataFrame | None) -> pd.Series:
    """capacity - space used, at least 0; missing where either is unknown."""
    used, _ = space_used(sites, services)
    return (capacity_m2(sites) - used).clip(lower=0)


def receipts_potential(sites: pd.DataFrame) -> pd.Series:
    """market value - disposal cost (where given), for records not held leasehold."""
    mv = _num(sites, "market_value_gbp")
    dc = _num(sites, "disposal_cost_gbp").fillna(0.0)
    lease = _lower(sites, "tenure").str.startswith("leasehold")
    return (mv - dc).where(~lease & mv.notna())


# --------------------------------------------------------------------------- residents

def _usable_zones(zones: pd.DataFrame | None) -> pd.DataFrame | None:
    """Zones not excluded by validation."""
    if zones is None or "in_analysis" not in zones:
        return zones
    return zones[zones["in_analysis"].astype("boolean").fillna(True).to_numpy(dtype=bool)]


def _zone_population(zones: pd.DataFrame | None) -> float:
    if zones is None or "population" not in zones or len(zones) == 0:
        return np.nan
    total = pd.to_numeric(zones["population"], errors="coerce").astype("float64").sum(min_count=1)
    return float(total) if pd.notna(total) else np.nan


def _area_population(by: str, zones: pd.DataFrame | None, areas) -> pd.Series:
    """Residents per area code of level ``by``: from zones (LSOA codes; assigned to wards
    and localities by their population-weighted centroid) or else from the boundaries'
    own population column."""
    if zones is not None and len(zones) and "population" in zones:
        pop = pd.to_numeric(zones["population"], errors="coerce").astype("float64")
        if by == "lsoa":
            key = zones["zone_id"].astype("string")
        elif by in zones:
            key = zones[by].astype("string")
        elif areas is not None:
            from planner.candidates import assign_areas

            key = assign_areas(zones, areas, levels=[by])[by]
        else:
            key = None
        if key is not None:
            return pop.groupby(key.to_numpy(dtype=object)).sum(min_count=1)
    if areas is not None and "population" in areas:
        lvl = areas[areas["level"].astype("string") == by]
        return pd.Series(pd.to_numeric(lvl["population"], errors="coerce").astype("float64").to_numpy(),
                         index=lvl["code"].astype(str).to_numpy()).groupby(level=0).sum(min_count=1)
    return pd.Series(dtype="float64")


# --------------------------------------------------------------------------- the count

def total_place_count(sites: pd.DataFrame, services: pd.DataFrame | None = None,
                      zones: pd.DataFrame | None = None, by: str = "agency",
                      areas=None) -> pd.DataFrame:
    """The Total Place count grouped by ``by`` (a column of ``sites``: ``agency``, or an area
    level ``ward``/``lsoa``/``locality`` - assigned from ``areas``, the boundaries layer,
    when the column is absent), one row per group (every area of the level when ``areas``
    is given) then a ``Total`` row.

    Columns: ``by`` (group label; for areas also ``name``), then ``COUNT_COLUMNS``.
    ``residents``: for agencies, the whole place's population (every agency serves the whole
    place); for areas, the area's own. Per-resident figures are missing where residents
    are unknown or zero.
    """
    area_names: pd.Series | None = None
    zones = _usable_zones(zones)
    s = sites
    if by not in s.columns:
        if by in AREA_BY and areas is not None:
            from planner.candidates import assign_areas

            s = assign_areas(s, areas, levels=[by])
        else:
            raise ValueError(f"cannot count by {by!r}: sites have no {by!r} column"
                             + (" and no boundaries were given to assign it" if by in AREA_BY else ""))
    is_area = by in AREA_BY
    if is_area and areas is not None:
        lvl = areas[areas["level"].astype("string") == by]
        area_names = pd.Series(lvl["name"].astype("string").to_numpy(), index=lvl["code"].astype(str).to_numpy())
        area_names = area_names[~area_names.index.duplicated()]
    elif is_area and f"{by}_name" in s:
        pairs = s[[by, f"{by}_name"]].dropna().drop_duplicates(by)
        area_names = pd.Series(pairs[f"{by}_name"].to_numpy(), index=pairs[by].astype(str).to_numpy())

    label = s[by].astype("string").fillna(NO_AREA_LABEL if is_area else "(none)")
    label = label.where(label.str.strip() != "", NO_AREA_LABEL if is_area else "(none)")
    inc = in_analysis(s)
    rep = gia_repeated(s)
    gia = _num(s, "gia_m2").where(~rep)
    cap = capacity_m2(s).where(~rep)
    vac = vacant_m2(s, services).where(~rep)
    per_record = pd.DataFrame({
        "sites": inc.astype("int64"),
        "buildings": (inc & is_building(s)).astype("int64"),
        "gia_m2": gia.where(inc),
        "capacity_m2": cap.where(inc),
        "vacant_m2": vac.where(inc),
        "running_cost_gbp": _num(s, "running_cost_gbp").where(inc),
        "backlog_gbp": _num(s, "backlog_gbp").where(inc),
        "receipts_potential_gbp": receipts_potential(s).where(inc),
        "unlocated": (inc & ~is_located(s)).astype("int64"),
        "excluded": (~inc).astype("int64"),
    }, index=s.index)
    counts = ["sites", "buildings", "unlocated", "excluded"]
    sums = [c for c in per_record.columns if c not in counts]
    g = per_record.groupby(label.to_numpy(dtype=object), sort=True)
    table = pd.concat([g[counts].sum(), g[sums].sum(min_count=1)], axis=1)
    if is_area and area_names is not None:
        order = list(area_names.index)
        extra = [k for k in table.index if k not in set(order)]
        table = table.reindex(order + sorted(extra, key=lambda k: (k == NO_AREA_LABEL, k)))
        table[counts] = table[counts].fillna(0)
    total = pd.concat([per_record[counts].sum(), per_record[sums].sum(min_count=1)])
    table.loc[TOTAL_LABEL] = total

    place = _zone_population(zones)
    if is_area:
        pop = _area_population(by, zones, areas)
        residents = pd.Series(pop.reindex(table.index).to_numpy(dtype="float64"), index=table.index)
        if np.isnan(place) and len(pop):
            place = float(pop.sum(min_count=1))
        residents[TOTAL_LABEL] = place
        if NO_AREA_LABEL in residents.index:
            residents[NO_AREA_LABEL] = np.nan
    else:
        if np.isnan(place) and areas is not None and "population" in areas:
            boro = areas[areas["level"].astype("string") == "borough"]
            place = float(pd.to_numeric(boro["population"], errors="coerce").sum(min_count=1)) if len(boro) else np.nan
        residents = pd.Series(place, index=table.index, dtype="float64")
    table["residents"] = residents
    res = residents.where(residents > 0)
    table["cost_per_resident_gbp"] = table["running_cost_gbp"] / res
    table["gia_m2_per_1000_residents"] = table["gia_m2"] / res * 1000
    table["sites_per_1000_residents"] = table["sites"] / res * 1000

    out = table[COUNT_COLUMNS].copy()
    for c in counts:
        out[c] = out[c].astype("Int64")
    for c in COUNT_COLUMNS:
        if c not in counts:
            out[c] = out[c].astype("Float64")
    out.index.name = by
    out = out.reset_index()
    out[by] = out[by].astype("string")
    if is_area:
        names = area_names if area_names is not None else pd.Series(dtype="string")
        out.insert(1, "name", pd.array(names.reindex(out[by].to_numpy(dtype=object)).to_numpy(dtype=object), dtype="string"))
    return out
