"""The scoring stage: per-site measures, an opportunity score and a recommendation with reasons.

Before any optimisation, an estates manager needs to see which buildings are under-used,
costly or in poor condition, and where buildings of different agencies stand close enough
to share. ``score_sites(sites, services)`` gives, for every site (index-aligned with
``sites``):

- measures: occupancy, vacant floor area, space per FTE (office-type use), running cost per
  m2 and per FTE, backlog per m2 and critical backlog (high + significant risk), condition,
  functional suitability, energy rating, lease events within N years; each with a
  ``<measure>_missing_reason`` where it is missing (a missing measure is never 0);
- ``score``: a 0-100 opportunity score, a weighted mean of 0..1 components (weights and
  thresholds in ``planner/weights.toml``, overridable by a user file);
- ``recommendation``: "retain", "share", "review for disposal", "not a building" (land) or
  "check data" (excluded from analysis), with ``reasons`` in plain words.

Measure functions take values (Series) and return a Series aligned with their input index
(momepy style); ``score_sites`` strings them together, vectorised. Definitions, units and
rules: docs/scoring.md.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from planner import candidates as cand
from planner.count import capacity_m2 as _capacity_m2
from planner.count import gia_repeated, in_analysis, site_positions, space_used
from planner.errors import ScenarioError
from planner.schema import is_estimated

RECOMMENDATIONS = ("retain", "share", "review for disposal", "not a building", "check data")
CONDITION_ORDER = ("A", "B", "C", "D")
ENERGY_ORDER = ("A+", "A", "B", "C", "D", "E", "F", "G")
COMPONENTS = ("occupancy", "running_cost", "condition", "backlog", "space_per_fte",
              "functional_suitability", "energy", "lease_event")

TYPE_PLURAL = {
    "office": "offices", "library": "libraries", "leisure": "leisure centres",
    "gp": "GP surgeries", "hospital": "hospitals", "fire_station": "fire stations",
    "police_station": "police stations", "depot": "depots", "community": "community buildings",
    "education": "education buildings", "other": "other buildings", "clinic": "clinics",
    "health_centre": "health centres", "jobcentre": "jobcentres", "care": "care homes",
    "cemetery": "cemeteries", "car_park": "car parks", "open_space": "open spaces",
    "park_building": "park buildings", "commercial": "commercial buildings",
    "residential": "residential buildings", "mental_health": "mental health buildings",
}


def _plural_one(t: str) -> str:
    if t in TYPE_PLURAL:
        return TYPE_PLURAL[t]
    words = t.replace("_", " ").strip()
    return f"{words}s" if words.endswith(("building", "centre", "station", "office", "hall")) else f"{words} buildings"


# =========================================================================== weights

def default_weights_text() -> str:
    """The packaged default ``weights.toml``, as text (with its comments)."""
    return importlib.resources.files("planner").joinpath("weights.toml").read_text(encoding="utf-8")


def default_weights() -> dict[str, dict[str, Any]]:
    return tomllib.loads(default_weights_text())


def _kind_ok(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


def _kind_name(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, (int, float)):
        return "a number"
    if isinstance(default, list):
        return "a list of text values"
    return "text"


def load_weights(source: str | os.PathLike | Mapping | None = None) -> dict[str, dict[str, Any]]:
    """The scoring settings: the packaged defaults, overridden key by key by ``source`` (a
    TOML file path or a mapping of the same shape). Unknown sections or keys, values of the
    wrong type and impossible values are all reported in one ``ScenarioError`` naming the
    file and the key."""
    cfg = default_weights()
    if source is None:
        return cfg
    if isinstance(source, Mapping):
        user, origin = dict(source), "weights"
    else:
        path = Path(source)
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(f"{path}: weights file not found. Fix: give the path of a TOML "
                                "file like planner/weights.toml") from None
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read the weights file ({exc})") from None
        try:
            user = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: not valid TOML ({exc}). Fix: compare it with "
                                "planner/weights.toml") from None
    problems: list[str] = []
    for section, values in user.items():
        if section not in cfg:
            problems.append(f"unknown section [{section}] (known: {', '.join(cfg)})")
            continue
        if not isinstance(values, Mapping):
            problems.append(f"[{section}] must be a table of keys")
            continue
        for key, value in values.items():
            if key not in cfg[section]:
                problems.append(f"unknown key {key!r} in [{section}] (known: {', '.join(cfg[section])})")
                continue
            default = cfg[section][key]
            if not _kind_ok(default, value):
                problems.append(f"[{section}] {key} = {value!r} must be {_kind_name(default)}")
                continue
            cfg[section][key] = float(value) if isinstance(default, float) and not isinstance(value, bool) else value
    if not problems:
        problems.extend(_check_values(cfg))
    if problems:
        raise ScenarioError(f"{origin}: " + "; ".join(problems)
                            + ". Fix: use the keys and kinds of planner/weights.toml")
    return cfg


def _check_values(cfg: Mapping[str, Mapping[str, Any]]) -> list[str]:
    out = []
    w = cfg["weights"]
    out += [f"[weights] {k} = {v} must not be negative" for k, v in w.items() if v < 0]
    if sum(w.values()) <= 0:
        out.append("[weights] must have at least one weight above 0")
    s = cfg["score"]
    if not s["cost_ratio_high"] > s["cost_ratio_low"]:
        out.append("[score] cost_ratio_high must be above cost_ratio_low")
    if s["backlog_per_m2_full_gbp"] <= 0:
        out.append("[score] backlog_per_m2_full_gbp must be above 0")
    if s["space_per_fte_ratio_full"] <= 1:
        out.append("[score] space_per_fte_ratio_full must be above 1")
    for g in "abcd":
        v = s[f"condition_{g}"]
        if not 0 <= v <= 1:
            out.append(f"[score] condition_{g} = {v} must be between 0 and 1")
    m = cfg["measures"]
    if m["office_benchmark_m2_per_fte"] <= 0:
        out.append("[measures] office_benchmark_m2_per_fte must be above 0")
    if m["lease_event_years"] < 0:
        out.append("[measures] lease_event_years must not be negative")
    if m["min_type_count"] < 1:
        out.append("[measures] min_type_count must be at least 1")
    c = cfg["candidates"]
    for k in ("max_distance_m", "hub_distance_m"):
        if c[k] <= 0:
            out.append(f"[candidates] {k} must be above 0")
    if c["min_spare_m2"] < 0:
        out.append("[candidates] min_spare_m2 must not be negative")
    if c["hub_min_agencies"] < 1:
        out.append("[candidates] hub_min_agencies must be at least 1")
    r = cfg["rules"]
    for k in ("disposal_conditions", "share_conditions"):
        bad = [g for g in r[k] if g.upper() not in CONDITION_ORDER]
        if bad:
            out.append(f"[rules] {k} has {bad}: grades are A, B, C, D")
    return out


# =========================================================================== measures

def _f(values) -> pd.Series:
    """float64 Series (missing = NaN) keeping the index."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    return pd.to_numeric(s, errors="coerce").astype("float64")


def ratio(numerator, denominator) -> pd.Series:
    """numerator / denominator where both are known and the denominator is above 0."""
    n, d = _f(numerator), _f(denominator)
    return (n / d.where(d > 0)).astype("float64")


def occupancy_pct(space_used_m2, capacity_m2) -> pd.Series:
    """Space used by services / capacity, in % (may exceed 100 when over-full)."""
    return ratio(space_used_m2, capacity_m2) * 100


def vacant_floor_m2(space_used_m2, capacity_m2) -> pd.Series:
    """Capacity not used by services, m2, at least 0."""
    cap, used = _f(capacity_m2), _f(space_used_m2)
    return (cap - used).clip(lower=0)


def space_per_fte_m2(capacity_m2, fte, office) -> pd.Series:
    """Net floor area (capacity) per FTE, m2/FTE, for office-type sites only."""
    return ratio(capacity_m2, fte).where(pd.Series(office, index=_f(fte).index).astype(bool))


def running_cost_per_m2(running_cost_gbp, gia_m2) -> pd.Series:
    """Running cost a year per m2 of gross internal area, GBP/m2/year."""
    return ratio(running_cost_gbp, gia_m2)


def running_cost_per_fte(running_cost_gbp, fte) -> pd.Series:
    """Running cost a year per FTE working at the site, GBP/FTE/year."""
    return ratio(running_cost_gbp, fte)


def backlog_per_m2(backlog_gbp, gia_m2) -> pd.Series:
    """Backlog maintenance per m2 of gross internal area, GBP/m2."""
    return ratio(backlog_gbp, gia_m2)


def backlog_critical(backlog_high_gbp, backlog_significant_gbp) -> pd.Series:
    """High plus significant risk backlog, GBP (missing when neither is known)."""
    return pd.concat([_f(backlog_high_gbp), _f(backlog_significant_gbp)], axis=1).sum(axis=1, min_count=1)


def group_median(values, groups, min_count: int = 3) -> tuple[pd.Series, pd.Series]:
    """For each row, the median of ``values`` over the rows of its group when the group has
    at least ``min_count`` known values, else over all rows. Returns ``(median, basis)``
    where basis is the group name, or "" when the overall median was used."""
    v = _f(values)
    g = pd.Series(groups, index=v.index).astype("string").fillna("")
    known = v.notna()
    overall = float(v[known].median()) if known.any() else np.nan
    stats = v[known].groupby(g[known].to_numpy(dtype=object)).agg(["median", "size"])
    ok = stats[(stats["size"] >= min_count) & (stats.index != "")]
    med = pd.Series(g.map(ok["median"]).astype("float64").to_numpy(), index=v.index)
    basis = g.where(g.isin(ok.index), "")
    return med.fillna(overall), basis


def years_until(dates, today: dt.date) -> pd.Series:
    """Years (365.25 days) from ``today`` to each ISO date; negative in the past."""
    d = pd.to_datetime(pd.Series(dates).astype("string"), errors="coerce", format="%Y-%m-%d")
    return ((d - pd.Timestamp(today)).dt.days / 365.25).astype("float64")


def grade(values, order: tuple[str, ...]) -> pd.Series:
    """Upper-case, stripped grade where it is one of ``order``, else missing."""
    s = pd.Series(values).astype("string").str.strip().str.upper()
    return s.where(s.isin(list(order))).astype("string")


def scale(values, low: float, high: float) -> pd.Series:
    """0 at or below ``low``, 1 at or above ``high``, linear between; missing stays missing."""
    return ((_f(values) - low) / (high - low)).clip(0, 1)


def opportunity_score(components: pd.DataFrame, weights: Mapping[str, float]) -> tuple[pd.Series, pd.Series]:
    """Weighted mean of the known 0..1 components x 100, and the share of the total weight
    that was known (coverage, %). Missing when no component with a weight is known."""
    w = pd.Series({k: float(weights.get(k, 0.0)) for k in components.columns})
    w = w[w > 0]
    c = components[w.index].astype("float64")
    known = c.notna()
    wk = known.mul(w, axis=1)
    wsum = wk.sum(axis=1)
    num = c.fillna(0).mul(w, axis=1).sum(axis=1)
    score = (100 * num / wsum.where(wsum > 0)).round(1)
    coverage = (100 * wsum / w.sum()).round(1)
    return score, coverage


# =========================================================================== formatting

_NULL = pa.scalar(None, pa.string())


def _format_unique(v: np.ndarray, one) -> pa.Array:
    """``one(x)`` for every value (null for NaN), formatting each distinct value once."""
    v = np.asarray(v, dtype="float64")
    out = np.full(len(v), None, dtype=object)
    ok = ~np.isnan(v)
    if ok.any():
        uniq, inv = np.unique(v[ok], return_inverse=True)
        texts = np.array([one(x) for x in uniq], dtype=object)
        out[ok] = texts[inv.reshape(-1)]
    return pa.array(out, type=pa.string())


def _money_one(x: float, suffix: str) -> str:
    if abs(x) >= 1e6:
        return f"£{x / 1e6:,.1f}m{suffix}"
    return f"£{x:,.0f}{suffix}"


def _money(v, suffix: str = "") -> pa.Array:
    """£1,234 (to the pound) or £1.2m, with ``suffix``; null for NaN."""
    v = np.asarray(v, dtype="float64")
    v = np.where(np.abs(v) >= 1e6, np.round(v, -5), np.round(v))
    return _format_unique(v, lambda x: _money_one(x, suffix))


def _num_text(v, decimals: int = 0) -> pa.Array:
    """1,234 (or 1,234.5 with ``decimals=1``); null for NaN."""
    v = np.round(np.asarray(v, dtype="float64"), decimals)
    fmt = f"{{:,.{int(decimals)}f}}"
    return _format_unique(v + 0.0, fmt.format)


def _text(values) -> pa.Array:
    """Arrow text; None, NA and "" become null."""
    arr = pd.Series(values, dtype=object).where(lambda s: s.notna() & (s != ""), None).to_numpy(dtype=object)
    return pa.array(arr, type=pa.string())


def _cat(*parts) -> pa.Array:
    """Concatenate element-wise; null when any part is null."""
    return pc.binary_join_element_wise(*parts, "")


def _when(mask: np.ndarray, value) -> pa.Array:
    """``value`` (text or array) where ``mask``, else null."""
    mask = pa.array(np.asarray(mask, dtype=bool))
    if isinstance(value, str):
        value = pa.scalar(value, pa.string())
    return pc.if_else(mask, value, _NULL)


def _join(parts: list, sep: str = "; ") -> pa.Array:
    """Join the non-null parts element-wise with ``sep``; null when every part is null."""
    acc = parts[0]
    for p in parts[1:]:
        acc = pc.coalesce(pc.binary_join_element_wise(acc, p, sep), acc, p)
    return acc


def _has(a: pa.Array) -> np.ndarray:
    return pc.is_valid(a).to_numpy(zero_copy_only=False)


def _why(n: int, rules: list[tuple[np.ndarray, str | np.ndarray]], measure: pd.Series) -> np.ndarray:
    """The first reason whose mask holds, for rows where ``measure`` is missing."""
    out = np.full(n, None, dtype=object)
    missing = measure.isna().to_numpy()
    todo = missing.copy()
    for mask, text in rules:
        m = todo & mask
        out[m] = text if isinstance(text, str) else text[m]
        todo &= ~m
    out[todo] = "not known"
    return out


def _plural(types: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(types.astype(str), return_inverse=True)
    names = np.array([_plural_one(t) for t in uniq], dtype=object)
    return names[inv.reshape(-1)]


# =========================================================================== scoring

def _col(frame: pd.DataFrame, name: str, kind: str = "float") -> pd.Series:
    if name not in frame:
        if kind == "float":
            return pd.Series(np.nan, index=frame.index, dtype="float64")
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    if kind == "float":
        return pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame[name].astype("string")


def _bool(frame: pd.DataFrame, name: str, default: bool) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), default)
    return frame[name].astype("boolean").fillna(default).to_numpy(dtype=bool)


def _service_stats(sites: pd.DataFrame, services: pd.DataFrame | None,
                   office_types: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per site: FTE (sum, missing when no service there records FTE), number of services,
    and whether every service in it is office-type."""
    idx = sites.index
    n = len(sites)
    if services is None or len(services) == 0:
        return (pd.Series(np.nan, index=idx), pd.Series(0, index=idx, dtype="int64"),
                pd.Series(False, index=idx))
    pos = site_positions(sites, services["site_id"])
    ok = pos >= 0
    p = pos[ok]
    fte = (pd.to_numeric(services["fte"], errors="coerce").astype("float64").to_numpy(na_value=np.nan)
           if "fte" in services else np.full(len(services), np.nan))[ok]
    stype = (services["service_type"].astype("string").str.strip().str.lower()
             if "service_type" in services else pd.Series("", index=services.index, dtype="string"))
    office = stype.isin(office_types).to_numpy(dtype=bool)[ok]
    count = np.bincount(p, minlength=n)
    known = np.bincount(p, weights=(~np.isnan(fte)).astype(float), minlength=n)
    total = np.bincount(p, weights=np.nan_to_num(fte), minlength=n)
    n_office = np.bincount(p, weights=office.astype(float), minlength=n)
    return (pd.Series(np.where(known > 0, total, np.nan), index=idx),
            pd.Series(count.astype("int64"), index=idx),
            pd.Series((count > 0) & (n_office == count), index=idx))


def nearest_other_agency(sites: pd.DataFrame, max_distance_m: float,
                         usable: np.ndarray | None = None) -> tuple[pd.Series, pd.Series]:
    """For each usable site, the distance (m) to the nearest usable site of another agency
    within ``max_distance_m`` and that site's agency; missing when there is none. One
    k-d tree per agency (scipy cKDTree), never an n-by-n loop."""
    from scipy.spatial import cKDTree

    n = len(sites)
    usable = cand._usable(sites).to_numpy() if usable is None else usable
    x, y = cand._xy(sites)
    agency = cand._text(sites["agency"])
    dist = np.full(n, np.nan)
    near_agency = np.full(n, None, dtype=object)
    idx = np.flatnonzero(usable)
    for a in pd.unique(agency[idx]):
        mine = idx[agency[idx] == a]
        other = idx[agency[idx] != a]
        if len(other) == 0 or len(mine) == 0:
            continue
        tree = cKDTree(np.column_stack([x[other], y[other]]))
        d, k = tree.query(np.column_stack([x[mine], y[mine]]), k=1, distance_upper_bound=max_distance_m,
                          workers=-1)
        ok = np.isfinite(d)
        dist[mine[ok]] = d[ok]
        near_agency[mine[ok]] = agency[other[k[ok]]]
    return (pd.Series(dist, index=sites.index),
            pd.Series(pd.array(near_agency, dtype="string"), index=sites.index))


MEASURE_COLUMNS = [
    "space_used_m2", "capacity_m2", "occupancy_pct", "vacant_m2", "fte", "space_per_fte_m2",
    "space_per_fte_vs_benchmark", "running_cost_per_m2_gbp", "running_cost_per_fte_gbp",
    "type_median_cost_per_m2_gbp", "cost_vs_type_median", "backlog_per_m2_gbp",
    "backlog_critical_gbp", "backlog_critical_per_m2_gbp", "condition",
    "functional_suitability_pct", "energy_rating", "lease_expiry_years", "lease_break_years",
    "lease_event_within_n",
]
REASONED = ["occupancy_pct", "vacant_m2", "space_per_fte_m2", "running_cost_per_m2_gbp",
            "running_cost_per_fte_gbp", "backlog_per_m2_gbp", "backlog_critical_gbp", "condition",
            "functional_suitability_pct", "energy_rating", "lease_event_within_n", "score"]


def score_sites(sites: pd.DataFrame, services: pd.DataFrame | None = None,
                weights: str | os.PathLike | Mapping | None = None,
                today: dt.date | None = None, *, max_distance_m: float | None = None,
                hub_distance_m: float | None = None, find_candidates: bool = True,
                find_hubs: bool = True, areas=None) -> pd.DataFrame:
    """Score every site. Returns a DataFrame aligned with ``sites.index``: identity columns
    (site_id, name, agency, building_type), the measures (``MEASURE_COLUMNS``), each
    ``<measure>_missing_reason``, nearby-agency and candidate columns, ``hub_id``,
    ``score``, ``score_coverage_pct``, ``recommendation`` and ``reasons``.

    ``weights``: None (packaged defaults), a TOML path or a mapping overriding them.
    ``today``: the date lease events are counted from (default: today).
    ``max_distance_m`` / ``hub_distance_m`` override ``[candidates]`` of the weights.
    ``find_candidates`` / ``find_hubs``: also list co-location candidates (summarised
    per site) and hubs (``hub_id``); both use spatial indexes.
    ``areas``: the boundaries layer; when given, the ward / LSOA / locality of each site
    are added after the identity columns.
    """
    cfg = load_weights(weights)
    today = today or dt.date.today()
    mcfg, scfg, rcfg, ccfg = cfg["measures"], cfg["score"], cfg["rules"], cfg["candidates"]
    max_d = float(ccfg["max_distance_m"] if max_distance_m is None else max_distance_m)
    hub_d = float(ccfg["hub_distance_m"] if hub_distance_m is None else hub_distance_m)
    if max_d <= 0 or hub_d <= 0:
        raise ScenarioError("distances must be above 0 metres")
    if "site_id" not in sites:
        raise ValueError("sites have no site_id column")

    idx = sites.index
    n = len(sites)
    inc = in_analysis(sites).to_numpy()
    holding = _col(sites, "holding_type", "str").str.strip().str.lower().fillna("")
    gia = _col(sites, "gia_m2")
    land = ((holding == "land") & ~(gia > 0)).to_numpy()
    rep = gia_repeated(sites).to_numpy() & ~land
    building = inc & ~land
    excl_text = ("excluded from analysis: " + _col(sites, "exclusion_reason", "str").fillna("see the problems report")).to_numpy(dtype=object)
    tenure = _col(sites, "tenure", "str").str.strip().str.lower().fillna("")
    tdetail = _col(sites, "tenure_detail", "str").str.strip().str.lower().fillna("")
    btype = _col(sites, "building_type", "str").str.strip().str.lower().fillna("")
    locked = _bool(sites, "locked", False)
    can_receive = _bool(sites, "can_receive", True)

    # ---- occupancy and vacant floor area
    used, used_src = space_used(sites, services)
    cap = _capacity_m2(sites)
    floor_ok = building & ~rep
    cap_v = cap.where(floor_ok & (cap > 0).to_numpy())
    gia_v = gia.where(floor_ok & (gia > 0).to_numpy())
    used_v = used.where(building)
    occ = occupancy_pct(used_v, cap_v)
    vac = vacant_floor_m2(used_v, cap_v)
    base_rules = [(~inc, excl_text), (land, "land with no building"),
                  (rep, "floor area is recorded for the whole site on another of its parts")]
    occ_rules = [*base_rules, (cap.isna().to_numpy() | ~(cap > 0).to_numpy(), "no floor area or capacity recorded"),
                 (used.isna().to_numpy(), used_src.fillna("space used not known").to_numpy(dtype=object))]

    # ---- space per FTE (office-type use)
    office_types = [t.lower() for t in mcfg["office_service_types"]]
    fte, _n_services, all_office = _service_stats(sites, services, office_types)
    office = (btype.isin([t.lower() for t in mcfg["office_building_types"]]).to_numpy()
              | all_office.to_numpy())
    bench = float(mcfg["office_benchmark_m2_per_fte"])
    spf = space_per_fte_m2(cap_v, fte, office)
    spf_ratio = spf / bench
    no_fte = ~(fte > 0).to_numpy()
    spf_rules = [*base_rules, (~office, "not office-type use"),
                 (cap.isna().to_numpy(), "no floor area or capacity recorded"),
                 (no_fte, "no staff (FTE) recorded")]

    # ---- running cost
    rc = _col(sites, "running_cost_gbp").where(building)
    rc_m2 = running_cost_per_m2(rc, gia_v)
    rc_fte = running_cost_per_fte(rc, fte.where(building))
    no_rc = _col(sites, "running_cost_gbp").isna().to_numpy()
    no_gia = ~(gia > 0).to_numpy()
    rc_m2_rules = [*base_rules, (no_rc, "no running cost recorded"), (no_gia, "no floor area recorded")]
    rc_fte_rules = [(~inc, excl_text), (land, "land with no building"), (no_rc, "no running cost recorded"),
                    (no_fte, "no staff (FTE) recorded")]
    # peers: buildings with a running cost above 0 (a site let out at no cost to the holder
    # would drag the median down)
    med, med_basis = group_median(rc_m2.where(rc_m2 > 0), btype, int(mcfg["min_type_count"]))
    med = med.where(rc_m2.notna())
    cost_ratio = rc_m2 / med.where(med > 0)

    # ---- backlog
    bl = _col(sites, "backlog_gbp")
    parts = pd.concat([_col(sites, f"backlog_{k}_gbp") for k in ("high", "significant", "moderate", "low")], axis=1)
    bl = bl.fillna(parts.sum(axis=1, min_count=1)).where(building)
    bl_m2 = backlog_per_m2(bl, gia_v)
    crit = backlog_critical(_col(sites, "backlog_high_gbp"), _col(sites, "backlog_significant_gbp")).where(building)
    crit_m2 = backlog_per_m2(crit, gia_v)
    bl_rules = [*base_rules, (bl.isna().to_numpy() & building, "no backlog recorded"), (no_gia, "no floor area recorded")]
    crit_rules = [(~inc, excl_text), (land, "land with no building"),
                  (np.ones(n, dtype=bool), "no backlog by risk category recorded")]

    # ---- condition, suitability, energy
    cond_raw = _col(sites, "condition", "str")
    cond = grade(cond_raw, CONDITION_ORDER).where(building)
    cond_rules = [(~inc, excl_text), (land, "land with no building"),
                  (cond_raw.notna().to_numpy(), ("not a grade A-D: " + cond_raw.fillna("")).to_numpy(dtype=object)),
                  (np.ones(n, dtype=bool), "no condition survey recorded")]
    fs = _col(sites, "functional_suitability_pct").where(building)
    fs_rules = [(~inc, excl_text), (land, "land with no building"),
                (np.ones(n, dtype=bool), "functional suitability not recorded")]
    en_raw = _col(sites, "energy_rating", "str")
    energy = grade(en_raw, ENERGY_ORDER).where(building)
    en_rules = [(~inc, excl_text), (land, "land with no building"),
                (en_raw.notna().to_numpy(), ("not a rating A+ to G: " + en_raw.fillna("")).to_numpy(dtype=object)),
                (np.ones(n, dtype=bool), "no energy rating recorded")]

    # ---- lease events
    horizon = float(mcfg["lease_event_years"])
    exp_y = years_until(_col(sites, "lease_expiry", "str"), today).where(inc)
    brk_y = years_until(_col(sites, "lease_break", "str"), today).where(inc)
    leasehold = tenure.str.startswith("leasehold").to_numpy() | (tdetail == "leasehold in").to_numpy()
    has_dates = exp_y.notna().to_numpy() | brk_y.notna().to_numpy()
    within = ((exp_y <= horizon) | (brk_y <= horizon)).to_numpy()
    lease_flag = pd.array(np.where(has_dates, within, False), dtype="boolean")
    lease_flag[~has_dates] = pd.NA
    lease_flag[~inc] = pd.NA
    lease_flag = pd.Series(lease_flag, index=idx)
    lease_rules = [(~inc, excl_text), (~leasehold, "not held on a lease (no lease dates)"),
                   (np.ones(n, dtype=bool), "held on a lease with no expiry or break date recorded")]

    # ---- score components
    comp = pd.DataFrame({
        "occupancy": 1 - (occ / 100).clip(0, 1),
        "running_cost": scale(cost_ratio, scfg["cost_ratio_low"], scfg["cost_ratio_high"]),
        "condition": cond.map({g: scfg[f"condition_{g.lower()}"] for g in CONDITION_ORDER}).astype("float64"),
        "backlog": scale(bl_m2, 0.0, scfg["backlog_per_m2_full_gbp"]),
        "space_per_fte": scale(spf_ratio, 1.0, scfg["space_per_fte_ratio_full"]),
        "functional_suitability": 1 - (fs / 100).clip(0, 1),
        "energy": energy.map({g: i / (len(ENERGY_ORDER) - 1) for i, g in enumerate(ENERGY_ORDER)}).astype("float64"),
        "lease_event": pd.Series(lease_flag.astype("Float64").to_numpy(dtype="float64", na_value=np.nan), index=idx).where(building),
    }, index=idx)
    score, coverage = opportunity_score(comp, cfg["weights"])
    score = score.where(building)
    coverage = coverage.where(building)
    score_rules = [(~inc, excl_text), (land, "land with no building"),
                   (np.ones(n, dtype=bool), "no measure with a weight is known")]

    # ---- disposal triggers
    occ_a, vac_a, cap_a, used_a = occ.to_numpy(), vac.to_numpy(), cap_v.to_numpy(), used_v.to_numpy()
    t_vacant = building & (tdetail == "vacant").to_numpy()
    t_occ = building & ~t_vacant & (occ_a < rcfg["disposal_max_occupancy_pct"])
    ratio_a = cost_ratio.to_numpy()
    t_cost = building & (ratio_a > rcfg["disposal_cost_ratio"])
    if rcfg["disposal_cost_needs_type_median"]:  # too few peers of its type: no trigger
        t_cost &= med_basis.to_numpy(dtype=object) != ""
    cond_a = cond.fillna("").to_numpy(dtype=object)
    bl_m2_a = bl_m2.to_numpy()
    t_cond = building & np.isin(cond_a, [g.upper() for g in rcfg["disposal_conditions"]]) & (bl_m2_a > rcfg["disposal_backlog_per_m2_gbp"])
    trigger = t_vacant | t_occ | t_cost | t_cond
    disposal = trigger & ~locked

    # ---- where other agencies stand
    usable = cand._usable(sites).to_numpy()
    near_d, near_ag = nearest_other_agency(sites, max_d, usable)
    near_a = near_d.to_numpy()

    # ---- share
    share_conds = [g.upper() for g in rcfg["share_conditions"]]
    cond_ok = np.isin(cond_a, share_conds) | ((cond_a == "") & bool(rcfg["share_allow_unknown_condition"]))
    share = (building & ~disposal & (occ_a < rcfg["share_max_occupancy_pct"])
             & (vac_a >= rcfg["share_min_spare_m2"]) & cond_ok & can_receive & np.isfinite(near_a))

    rec = np.full(n, "retain", dtype=object)
    rec[share] = "share"
    rec[disposal] = "review for disposal"
    rec[land & inc] = "not a building"
    rec[~inc] = "check data"

    out = pd.DataFrame({
        "site_id": sites["site_id"].astype("string"),
        "name": _col(sites, "name", "str"),
        "agency": _col(sites, "agency", "str"),
        "building_type": _col(sites, "building_type", "str"),
        "space_used_m2": used_v,
        "space_used_source": used_src.where(building),
        "capacity_m2": cap_v,
        "occupancy_pct": occ.round(1),
        "vacant_m2": vac.round(1),
        "fte": fte.where(building),
        "space_per_fte_m2": spf.round(2),
        "space_per_fte_vs_benchmark": spf_ratio.round(3),
        "running_cost_per_m2_gbp": rc_m2.round(2),
        "running_cost_per_fte_gbp": rc_fte.round(2),
        "type_median_cost_per_m2_gbp": med.round(2),
        "cost_median_basis": pd.Series(np.where(med.notna(), np.where(med_basis.to_numpy(dtype=object) != "", med_basis.to_numpy(dtype=object), "all buildings"), None), index=idx).astype("string"),
        "cost_vs_type_median": cost_ratio.round(3),
        "backlog_per_m2_gbp": bl_m2.round(2),
        "backlog_critical_gbp": crit,
        "backlog_critical_per_m2_gbp": crit_m2.round(2),
        "condition": cond,
        "functional_suitability_pct": fs,
        "energy_rating": energy,
        "lease_expiry_years": exp_y.round(2),
        "lease_break_years": brk_y.round(2),
        "lease_event_within_n": lease_flag,
        "nearest_other_agency_m": near_d.round(1),
        "nearest_other_agency": near_ag,
    }, index=idx)
    if areas is not None and len(areas):
        placed = cand.assign_areas(sites[["easting", "northing"] + (["located"] if "located" in sites else [])], areas)
        extra = [c for c in placed.columns if c not in ("easting", "northing", "located")]
        for k, c in enumerate(extra):
            out.insert(4 + k, c, placed[c])
    measure_rules = {
        "occupancy_pct": occ_rules, "vacant_m2": occ_rules, "space_per_fte_m2": spf_rules,
        "running_cost_per_m2_gbp": rc_m2_rules, "running_cost_per_fte_gbp": rc_fte_rules,
        "backlog_per_m2_gbp": bl_rules, "backlog_critical_gbp": crit_rules, "condition": cond_rules,
        "functional_suitability_pct": fs_rules, "energy_rating": en_rules,
        "lease_event_within_n": lease_rules,
    }
    for m, rules in measure_rules.items():
        out[f"{m}_missing_reason"] = pd.array(_why(n, rules, out[m]), dtype="string")

    # ---- candidates and hubs
    cands = None
    if find_candidates:
        host_spare = vac.where(building & ~disposal & can_receive)
        cands = cand.colocation_candidates(sites, spare_m2=host_spare, space_used_m2=used_v,
                                           max_distance_m=max_d, min_spare_m2=float(ccfg["min_spare_m2"]))
        summary = cand.summarise_candidates(sites, cands)
        out = pd.concat([out, summary], axis=1)
    if find_hubs:
        hub_id, _ = cand.hubs(sites, hub_d, int(ccfg["hub_min_agencies"]))
        out["hub_id"] = hub_id

    out["score"] = score
    out["score_coverage_pct"] = coverage
    out["score_missing_reason"] = pd.array(_why(n, score_rules, score), dtype="string")
    out["recommendation"] = pd.array(rec, dtype="string")
    out["reasons"] = pd.array(_reasons(
        n=n, rec=rec, inc=inc, land=land, excl_text=excl_text, t_vacant=t_vacant, t_occ=t_occ,
        t_cost=t_cost, t_cond=t_cond, locked=locked, occ=occ_a, used=used_a, cap=cap_a, vac=vac_a,
        rc_m2=rc_m2.to_numpy(), med=med.to_numpy(), med_basis=med_basis.to_numpy(dtype=object),
        btype=btype.to_numpy(dtype=object), cond=cond_a, bl_m2=bl_m2_a,
        spf=spf.to_numpy(), bench=bench, exp_y=exp_y.to_numpy(), brk_y=brk_y.to_numpy(),
        exp_d=_col(sites, "lease_expiry", "str").fillna("").to_numpy(dtype=object),
        brk_d=_col(sites, "lease_break", "str").fillna("").to_numpy(dtype=object),
        horizon=horizon, near_d=near_a, near_ag=near_ag.fillna("").to_numpy(dtype=object),
        max_d=max_d, share=share, cfg=rcfg, tdetail=tdetail.to_numpy(dtype=object),
        est_cost=is_estimated(sites, "running_cost_gbp").to_numpy(),
        est_cond=is_estimated(sites, "condition").to_numpy(),
        est_backlog=is_estimated(sites, "backlog_gbp").to_numpy(),
        cands=cands, sites=sites, used_src=used_src.fillna("").to_numpy(dtype=object),
        occ_why=out["occupancy_pct_missing_reason"].fillna("").to_numpy(dtype=object),
    ), dtype="string")
    return out


def _reasons(*, n, rec, inc, land, excl_text, t_vacant, t_occ, t_cost, t_cond, locked, occ, used,
             cap, vac, rc_m2, med, med_basis, btype, cond, bl_m2, spf, bench, exp_y, brk_y,
             exp_d, brk_d, horizon, near_d, near_ag, max_d, share, cfg, tdetail, est_cost,
             est_cond, est_backlog, cands, sites, used_src, occ_why) -> np.ndarray:
    """The plain-words reasons of every recommendation, vectorised over the sites (Arrow
    string kernels)."""
    building = inc & ~land
    has_occ = building & np.isfinite(occ)
    has_cost = building & np.isfinite(rc_m2) & np.isfinite(med)
    has_cond = building & (cond != "")
    est = pa.scalar(" (estimated)", pa.string())
    empty = pa.scalar("", pa.string())

    # ---- facts (null where they do not apply)
    f_vacant = _when(t_vacant, "recorded as vacant")
    none_here = used_src == "no services recorded here"
    occ_txt = _when(has_occ, pc.if_else(
        pa.array(none_here),
        _cat(_num_text(occ), "% occupied (no services recorded in its ", _num_text(cap), " m2)"),
        _cat(_num_text(occ), "% occupied (", _num_text(used), " of ", _num_text(cap), " m2 used)")))
    basis_txt = pc.if_else(pa.array(med_basis != ""),
                           _cat("for ", _text(_plural(np.where(med_basis != "", med_basis, "other")))),
                           pa.scalar("across all buildings", pa.string()))
    cost_txt = _when(has_cost, _cat(_money(rc_m2, "/m2"), " a year",
                                    pc.if_else(pa.array(est_cost), est, empty),
                                    " against a median of ", _money(med, "/m2"), " ", basis_txt))
    cond_txt = _when(has_cond, _cat("condition ", _text(cond), pc.if_else(pa.array(est_cond), est, empty)))
    bl_txt = _when(building & (bl_m2 > 0), _cat(_money(bl_m2, "/m2"), " backlog",
                                               pc.if_else(pa.array(est_backlog), est, empty)))
    spf_txt = _when(building, _cat(_num_text(spf, 1), f" m2 per FTE against the {bench:g} m2 benchmark"))
    brk_on = inc & np.isfinite(brk_y) & (brk_y <= horizon)
    exp_on = inc & np.isfinite(exp_y) & (exp_y <= horizon) & ~brk_on
    years = np.where(brk_on, brk_y, exp_y)
    lease_txt = _when(brk_on | exp_on, _cat(
        pc.if_else(pa.array(brk_on), pa.scalar("lease break ", pa.string()), pa.scalar("lease expiry ", pa.string())),
        _text(np.where(brk_on, brk_d, exp_d)), " (",
        pc.if_else(pa.array(years >= 0), _cat("in ", _num_text(years, 1), " years"),
                   _cat(_num_text(-years, 1), " years ago")), ")"))
    near_txt = _when(building & np.isfinite(near_d), _cat(
        "nearest site of another agency: ", _text(near_ag), ", ", _num_text(near_d), " m away"))

    # ---- candidate hosts (for disposal) and guests (for sharing)
    move_txt = pa.nulls(n, pa.string())
    hosts_txt = pa.nulls(n, pa.string())
    if cands is not None and len(cands):
        pos = site_positions(sites, cands["site_id"])
        cpos = site_positions(sites, cands["candidate_site_id"])
        names = (sites["name"].astype("string").fillna("").to_numpy(dtype=object) if "name" in sites
                 else np.full(n, "", dtype=object))
        sid = sites["site_id"].astype("string").fillna("").to_numpy(dtype=object)
        fits_known = cands["fits"].notna().to_numpy(dtype=bool)
        fits = cands["fits"].fillna(False).to_numpy(dtype=bool)
        order = np.lexsort((cands["distance_m"].to_numpy(), ~fits, pos))
        first = order[np.r_[True, pos[order][1:] != pos[order][:-1]]]
        label = np.where(names[cpos[first]] != "", names[cpos[first]], sid[cpos[first]])
        where = _cat(_text(label), " (", _text(cands["candidate_agency"].to_numpy(dtype=object)[first]), ", ",
                     _num_text(cands["distance_m"].to_numpy()[first]), " m away, ",
                     _num_text(cands["candidate_spare_m2"].to_numpy()[first]), " m2 spare)")
        need = _num_text(used[pos[first]])
        f_yes, f_known = pa.array(fits[first]), pa.array(fits_known[first])
        piece = pc.if_else(
            f_yes, _cat("its services (", need, " m2) could move to ", where),
            pc.if_else(f_known,
                       _cat(f"no other agency's site within {max_d:,.0f} m has room for all its ", need,
                            " m2 of services (nearest with spare space: ", where, ")"),
                       _cat("could move to ", where, " if its services fit")))
        text = np.full(n, None, dtype=object)
        text[pos[first]] = np.asarray(piece.to_pylist(), dtype=object)
        text[~(np.isnan(used) | (used > 0))] = None  # nothing to move
        move_txt = _text(text)
        guests = np.bincount(cpos[cpos >= 0], minlength=n).astype(float)
        hosts_txt = _when(guests > 0, pc.if_else(
            pa.array(guests == 1), pa.scalar("could take services of 1 nearby site of another agency", pa.string()),
            _cat("could take services of ", _num_text(guests), " nearby sites of other agencies")))

    # ---- the triggers of a review (also quoted for a locked site)
    trig = _join([f_vacant, _when(t_occ, occ_txt), _when(t_cost, cost_txt),
                  _when(t_cond, _join([cond_txt, bl_txt], " with "))])
    has_trig = _has(trig)
    out = np.full(n, "", dtype=object)

    def put(mask: np.ndarray, build) -> None:
        """Compose the reasons of the rows in ``mask`` only (Arrow filter, then join)."""
        if not mask.any():
            return
        sel = pa.array(mask)

        def f(a):
            return pc.filter(a, sel)

        res = build(f, lambda v: v[mask])
        out[mask] = np.asarray(pc.fill_null(res, "").to_numpy(zero_copy_only=False), dtype=object)

    # ---- review for disposal: the triggers, then lease events and where services could go
    put(rec == "review for disposal", lambda f, m: _join([f(trig), f(lease_txt), f(move_txt)]))

    # ---- share: spare space, condition, who is near
    put(rec == "share", lambda f, m: _join([
        f(occ_txt), _cat(_num_text(m(vac)), " m2 spare"),
        pc.coalesce(f(cond_txt), pa.scalar("condition not recorded", pa.string())), f(near_txt), f(hosts_txt)]))

    # ---- retain: what is known, and why it is not offered for sharing
    spare_cond = has_occ & (occ < cfg["share_max_occupancy_pct"]) & (vac >= cfg["share_min_spare_m2"])
    poor = np.isin(cond, [g.upper() for g in cfg["share_conditions"]], invert=True) & (cond != "")
    quiet = locked & has_trig  # the triggers are quoted after "locked, so kept although:"
    unknown_use = building & ~has_occ & ~has_cost & ~has_cond

    def retain(f, m):
        locked_txt = pc.if_else(pa.array(m(quiet)), _cat("locked, so kept although: ", f(trig)),
                                _when(m(locked), "locked: must be kept"))
        why_not_share = pc.coalesce(
            _when(m(spare_cond & ~np.isfinite(near_d)), f"no other agency's site within {max_d:,.0f} m to share with"),
            _when(m(spare_cond & np.isfinite(near_d) & poor), "condition too poor to take in other services"))
        why = m(occ_why)
        occ_unknown = _when(m(building & ~has_occ & (occ_why != "") & ~unknown_use),
                            _cat("occupancy not known: ", _text(why)))
        body = _join([locked_txt, _when(~m(quiet), f(occ_txt)), _when(~m(quiet), f(cost_txt)), f(cond_txt),
                      f(bl_txt), f(spf_txt), f(lease_txt), why_not_share, occ_unknown])
        return pc.coalesce(body, pc.if_else(
            pa.array(m(unknown_use)),
            _cat("not enough data to judge it (occupancy not known: ", _text(np.where(why != "", why, "no data")),
                 "; no running cost per m2 or condition): kept until data is added"),
            pa.scalar("no reason to change", pa.string())))

    put(rec == "retain", retain)

    # ---- land, excluded
    land_m = inc & land
    out[land_m] = np.where(tdetail[land_m] == "vacant",
                           "land with no building; recorded as vacant land, worth a look for disposal",
                           "land with no building; floor-area measures do not apply")
    out[~inc] = excl_text[~inc]
    return out


# =========================================================================== output

def scores_layer(scores: pd.DataFrame, sites: pd.DataFrame):
    """``scores`` as a GeoDataFrame with the sites' points (EPSG:27700; none for an
    unlocated site), ready for a ``scores`` layer of the register."""
    import geopandas as gpd

    from planner.schema import CRS_BNG

    geom = cand._points(sites.loc[scores.index])
    return gpd.GeoDataFrame(scores.copy(), geometry=geom.values, crs=CRS_BNG)


def write_layer_atomic(path: str | os.PathLike, layer: str, frame) -> Path:
    """Write (or replace) one layer of the register atomically, keeping every other layer
    (see ``planner.register.replace_layers_atomic``)."""
    from planner.register import replace_layers_atomic

    return replace_layers_atomic(path, {layer: frame})
