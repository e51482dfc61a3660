"""Where buildings of different agencies stand close enough to share.

- ``colocation_candidates``: for each site, the nearby sites of *other* agencies with spare
  capacity that could take its services, within a distance (default 1,000 m), found with a
  spatial index (shapely STRtree ``dwithin`` query), never an n-by-n loop.
- ``hubs``: clusters of public buildings of several agencies within walking distance
  (default 400 m) of one another: the connected components of the "within 400 m" graph
  (scipy.sparse.csgraph), kept when they hold sites of at least two agencies.
- ``assign_areas``: the ward, LSOA and locality each site lies in (point in polygon).

All distances are straight lines in British National Grid (EPSG:27700) metres. Sites that
are not located, or are excluded from analysis, take no part.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from planner.schema import CRS_BNG

AREA_LEVELS = ("ward", "lsoa", "locality")
DEFAULT_MAX_DISTANCE_M = 1000.0
DEFAULT_HUB_DISTANCE_M = 400.0
DEFAULT_MIN_SPARE_M2 = 50.0

CANDIDATE_COLUMNS = ["site_id", "agency", "candidate_site_id", "candidate_agency",
                     "distance_m", "candidate_spare_m2", "fits"]


# --------------------------------------------------------------------------- helpers

def _usable(sites: pd.DataFrame) -> pd.Series:
    """Located, in analysis, with finite coordinates, and not land with no building."""
    n = len(sites)
    if "easting" in sites and "northing" in sites:
        x, y = _xy(sites)
        ok = np.isfinite(x) & np.isfinite(y)
    else:
        ok = np.zeros(n, dtype=bool)
    if "located" in sites:
        ok &= sites["located"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    if "in_analysis" in sites:
        ok &= sites["in_analysis"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    if "holding_type" in sites:  # land with no building is not a public building
        land = (sites["holding_type"].astype("string").str.strip().str.lower().fillna("") == "land").to_numpy(dtype=bool)
        gia = (pd.to_numeric(sites["gia_m2"], errors="coerce").astype("float64").to_numpy(na_value=np.nan)
               if "gia_m2" in sites else np.full(n, np.nan))
        ok &= ~(land & ~(gia > 0))
    return pd.Series(ok, index=sites.index)


def _xy(sites: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    x = pd.to_numeric(sites["easting"], errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    y = pd.to_numeric(sites["northing"], errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    return x, y


def _text(s: pd.Series) -> np.ndarray:
    return s.astype("string").fillna("").to_numpy(dtype=object)


def pairs_within(x: np.ndarray, y: np.ndarray, distance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i, j), i != j, of points no further apart than ``distance_m``, both
    directions, found with an STRtree ``dwithin`` query (no n-by-n loop)."""
    if len(x) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pts = shapely.points(x, y)
    tree = shapely.STRtree(pts)
    inp, tgt = tree.query(pts, predicate="dwithin", distance=float(distance_m))
    keep = inp != tgt
    return inp[keep].astype(np.int64), tgt[keep].astype(np.int64)


# --------------------------------------------------------------------------- candidates

def colocation_candidates(sites: pd.DataFrame, spare_m2: pd.Series | None = None,
                          space_used_m2: pd.Series | None = None,
                          max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
                          min_spare_m2: float = DEFAULT_MIN_SPARE_M2) -> pd.DataFrame:
    """For each usable site, the usable sites of other agencies within ``max_distance_m``
    that have at least ``min_spare_m2`` of spare capacity and can receive services.

    ``spare_m2``: spare capacity per site (aligned with ``sites``); missing = unknown, such a
    site is not offered as a host. ``space_used_m2``: space the site's services use now;
    ``fits`` says whether the candidate's spare capacity could take all of it (missing
    when the space used is unknown).

    Returns one row per (site, candidate) with the columns of ``CANDIDATE_COLUMNS``, sorted
    by site then distance.
    """
    if spare_m2 is None:
        raise ValueError("colocation_candidates needs spare_m2 (spare capacity per site)")
    usable = _usable(sites).to_numpy()
    idx = np.flatnonzero(usable)
    x, y = _xy(sites)
    i, j = pairs_within(x[idx], y[idx], max_distance_m)
    i, j = idx[i], idx[j]
    agency = _text(sites["agency"]) if "agency" in sites else np.full(len(sites), "", dtype=object)
    spare = pd.to_numeric(pd.Series(spare_m2, index=sites.index), errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    can_receive = (sites["can_receive"].astype("boolean").fillna(True).astype(bool).to_numpy()
                   if "can_receive" in sites else np.ones(len(sites), dtype=bool))
    keep = (agency[i] != agency[j]) & (spare[j] >= min_spare_m2) & can_receive[j]
    i, j = i[keep], j[keep]
    dist = np.hypot(x[i] - x[j], y[i] - y[j])
    sid = _text(sites["site_id"]) if "site_id" in sites else sites.index.to_numpy(dtype=object)
    if space_used_m2 is not None:
        used = pd.to_numeric(pd.Series(space_used_m2, index=sites.index), errors="coerce").astype("float64").to_numpy(na_value=np.nan)
        fits = pd.array(np.where(np.isnan(used[i]), False, spare[j] >= used[i]), dtype="boolean")
        fits[np.isnan(used[i])] = pd.NA
    else:
        fits = pd.array([pd.NA] * len(i), dtype="boolean")
    out = pd.DataFrame({
        "site_id": pd.array(sid[i], dtype="string"),
        "agency": pd.array(agency[i], dtype="string"),
        "candidate_site_id": pd.array(sid[j], dtype="string"),
        "candidate_agency": pd.array(agency[j], dtype="string"),
        "distance_m": dist.round(1),
        "candidate_spare_m2": spare[j],
        "fits": fits,
        "_i": i,
    })
    out = out.sort_values(["_i", "distance_m", "candidate_site_id"], kind="stable")
    return out.drop(columns="_i").reset_index(drop=True)


def _join_groups(texts: np.ndarray, keys: np.ndarray, sep: str) -> tuple[np.ndarray, list[str]]:
    """``texts`` sorted so that equal ``keys`` are adjacent: the distinct keys and the texts of
    each joined with ``sep``."""
    if len(keys) == 0:
        return keys, []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], [sep.join(chunk) for chunk in np.split(texts, starts[1:])]


def summarise_candidates(sites: pd.DataFrame, candidates: pd.DataFrame, max_listed: int = 10) -> pd.DataFrame:
    """Per site (aligned with ``sites``): number of candidates, the nearest one and its
    distance, and the nearest ``max_listed`` as ``;``-separated ``id (agency, 350 m)`` text.
    ``candidates`` as returned by ``colocation_candidates`` (sorted by site, then distance)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from planner.count import site_positions

    n = len(sites)
    count = np.zeros(n, dtype="int64")
    nearest_id = np.full(n, None, dtype=object)
    nearest_m = np.full(n, np.nan)
    text = np.full(n, None, dtype=object)
    if len(candidates):
        pos = site_positions(sites, candidates["site_id"])
        ok = pos >= 0
        c = candidates[ok]
        pos = pos[ok]
        order = np.argsort(pos, kind="stable")  # already sorted by site then distance
        pos = pos[order]
        c = c.iloc[order]
        count = np.bincount(pos, minlength=n).astype("int64")
        starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        cid = c["candidate_site_id"].astype("string").to_numpy(dtype=object)
        dist = c["distance_m"].to_numpy(dtype="float64")
        nearest_id[pos[starts]] = cid[starts]
        nearest_m[pos[starts]] = dist[starts]
        rank = np.arange(len(pos)) - np.repeat(starts, np.diff(np.r_[starts, len(pos)]))
        keep = rank < max_listed
        piece = pc.binary_join_element_wise(
            pa.array(cid[keep], type=pa.string()), " (",
            pa.array(c["candidate_agency"].astype("string").to_numpy(dtype=object)[keep], type=pa.string()), ", ",
            pc.cast(pa.array(np.round(dist[keep]).astype("int64")), pa.string()), " m)", "")
        keys, joined = _join_groups(np.asarray(piece.to_pylist(), dtype=object), pos[keep], "; ")
        text[keys] = joined
    return pd.DataFrame({
        "candidate_count": count,
        "nearest_candidate_site_id": pd.array(nearest_id, dtype="string"),
        "nearest_candidate_m": nearest_m,
        "candidates": pd.array(text, dtype="string"),
    }, index=sites.index)


# --------------------------------------------------------------------------- hubs

def hubs(sites: pd.DataFrame, hub_distance_m: float = DEFAULT_HUB_DISTANCE_M,
         min_agencies: int = 2) -> tuple[pd.Series, pd.DataFrame]:
    """Clusters of usable sites chained together by links of at most ``hub_distance_m``
    (single linkage: the connected components of the within-distance graph), kept when
    they hold sites of at least ``min_agencies`` agencies.

    Returns ``(hub_id, table)``: ``hub_id`` aligned with ``sites`` ("H001", ... numbered by
    size, largest first; missing for a site in no hub), and one row per hub with its sites,
    agencies, number of sites and centre (mean easting/northing).
    """
    usable = _usable(sites).to_numpy()
    idx = np.flatnonzero(usable)
    x, y = _xy(sites)
    n = len(idx)
    hub_id = pd.Series(pd.NA, index=sites.index, dtype="string")
    cols = ["hub_id", "site_count", "agency_count", "agencies", "site_ids", "easting", "northing",
            "max_link_m"]
    if n == 0:
        return hub_id, pd.DataFrame(columns=cols)
    i, j = pairs_within(x[idx], y[idx], hub_distance_m)
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    agency = _text(sites["agency"])[idx]
    sid = _text(sites["site_id"])[idx]
    frame = pd.DataFrame({"label": labels, "agency": agency, "site_id": sid,
                          "x": x[idx], "y": y[idx]})
    stats = frame.groupby("label").agg(site_count=("site_id", "size"),
                                       agency_count=("agency", "nunique"))
    keep = stats[(stats["agency_count"] >= min_agencies) & (stats["site_count"] >= 2)]
    if keep.empty:
        return hub_id, pd.DataFrame(columns=cols)
    keep = keep.sort_values(["site_count", "agency_count"], ascending=False, kind="stable")
    names = {lab: f"H{k + 1:03d}" for k, lab in enumerate(keep.index)}
    lab_hub = pd.Series(labels).map(names)
    hub_id.iloc[idx] = lab_hub.to_numpy(dtype=object)
    kept = np.fromiter(names.keys(), dtype=np.int64)
    member = np.isin(labels, kept)
    sub = frame[member].sort_values(["label", "agency", "site_id"], kind="stable")
    lab = sub["label"].to_numpy()
    _, site_ids = _join_groups(sub["site_id"].to_numpy(dtype=object), lab, ";")
    ag = sub[["label", "agency"]].drop_duplicates()
    keys, agencies = _join_groups(ag["agency"].to_numpy(dtype=object), ag["label"].to_numpy(), ";")
    g = sub.groupby("label", sort=True)
    d = np.hypot(x[idx][i] - x[idx][j], y[idx][i] - y[idx][j])
    link = pd.Series(d).groupby(labels[i]).max()
    table = pd.DataFrame({
        "hub_id": [names[k] for k in keys],
        "site_count": g.size().to_numpy(),
        "agency_count": g["agency"].nunique().to_numpy(),
        "agencies": agencies,
        "site_ids": site_ids,
        "easting": g["x"].mean().round(1).to_numpy(),
        "northing": g["y"].mean().round(1).to_numpy(),
        "max_link_m": link.reindex(keys).round(1).to_numpy(),
    })
    table = table.sort_values("hub_id").reset_index(drop=True)
    return hub_id, table


# --------------------------------------------------------------------------- areas

def _points(frame: pd.DataFrame) -> gpd.GeoSeries:
    x, y = _xy(frame)
    ok = ~(np.isnan(x) | np.isnan(y))
    if "located" in frame:
        ok &= frame["located"].astype("boolean").fillna(True).astype(bool).to_numpy()
    geoms = np.full(len(frame), None, dtype=object)
    geoms[ok] = shapely.points(x[ok], y[ok])
    return gpd.GeoSeries(geoms, index=frame.index, crs=CRS_BNG)


def assign_areas(sites: pd.DataFrame, boundaries: gpd.GeoDataFrame,
                 levels: tuple[str, ...] | list[str] | None = None) -> pd.DataFrame:
    """A copy of ``sites`` with, for each boundary level (default ward, lsoa, locality,
    those present in ``boundaries``), a column ``<level>`` holding the code of the area
    the site's point lies in and ``<level>_name`` its name. Unlocated sites, and sites
    outside every area of a level, get missing values. A point on a shared edge takes the
    first area in ``boundaries`` order.

    ``boundaries``: the register's boundaries layer (level, code, name, geometry); it is
    reprojected to EPSG:27700 if needed. Works for any frame with easting/northing (e.g.
    zones)."""
    out = sites.copy()
    b = boundaries
    if b.crs is None:
        raise ValueError("the boundaries layer has no CRS; it should be EPSG:27700")
    if not b.crs.equals(CRS_BNG):
        b = b.to_crs(CRS_BNG)
    present = [str(v) for v in b["level"].astype("string").dropna().unique()]
    wanted = list(levels) if levels is not None else [lv for lv in AREA_LEVELS if lv in present]
    pts = gpd.GeoDataFrame({"_row": np.arange(len(out))}, geometry=_points(out).values, crs=CRS_BNG)
    pts = pts[~pts.geometry.isna()]
    for level in wanted:
        polys = b[b["level"].astype("string") == level][["code", "name", "geometry"]].reset_index(drop=True)
        code = np.full(len(out), None, dtype=object)
        name = np.full(len(out), None, dtype=object)
        if len(polys) and len(pts):
            joined = gpd.sjoin(pts, polys, how="inner", predicate="intersects")
            joined = joined.sort_values(["_row", "index_right"]).drop_duplicates("_row")
            rows = joined["_row"].to_numpy()
            code[rows] = joined["code"].astype(str).to_numpy()
            name[rows] = joined["name"].astype("string").fillna("").astype(str).to_numpy()
        out[level] = pd.array(code, dtype="string")
        out[f"{level}_name"] = pd.array(name, dtype="string")
    return out
