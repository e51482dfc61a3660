"""Co-location candidates, hubs and area assignment against brute force on random sites."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from planner.candidates import (
    assign_areas,
    colocation_candidates,
    hubs,
    pairs_within,
    summarise_candidates,
)
from planner.schema import CRS_BNG, CRS_WGS84


def random_sites(n: int, seed: int, extent: float = 5000.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "site_id": [f"s{i}" for i in range(n)],
        "agency": rng.choice(["council", "nhs", "police", "fire"], n),
        "easting": 380_000 + rng.uniform(0, extent, n),
        "northing": 390_000 + rng.uniform(0, extent, n),
        "located": rng.random(n) > 0.05,
        "in_analysis": rng.random(n) > 0.05,
        "can_receive": rng.random(n) > 0.1,
        "holding_type": rng.choice(["Buildings", "Land/Buildings", "Land"], n, p=[0.6, 0.3, 0.1]),
        "gia_m2": rng.uniform(50, 2000, n),
    })
    land = df["holding_type"] == "Land"
    df.loc[land, "gia_m2"] = np.nan
    df.index = pd.Index(rng.permutation(np.arange(1000, 1000 + n)))
    return df


def _ok(df: pd.DataFrame) -> np.ndarray:
    land = (df["holding_type"] == "Land") & df["gia_m2"].isna()
    return (df["located"] & df["in_analysis"] & ~land).to_numpy()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_candidates_match_brute_force(seed):
    df = random_sites(300, seed)
    rng = np.random.default_rng(seed + 100)
    spare = pd.Series(np.where(rng.random(len(df)) < 0.2, np.nan, rng.uniform(0, 500, len(df))), index=df.index)
    used = pd.Series(rng.uniform(10, 400, len(df)), index=df.index)
    got = colocation_candidates(df, spare_m2=spare, space_used_m2=used, max_distance_m=700.0, min_spare_m2=50.0)
    x, y = df["easting"].to_numpy(), df["northing"].to_numpy()
    ok, ag = _ok(df), df["agency"].to_numpy()
    sp, us, cr = spare.to_numpy(), used.to_numpy(), df["can_receive"].to_numpy()
    ids = df["site_id"].to_numpy()
    expected = {}
    for i in range(len(df)):
        for j in range(len(df)):
            if i == j or not (ok[i] and ok[j]) or ag[i] == ag[j] or not cr[j]:
                continue
            if np.isnan(sp[j]) or sp[j] < 50:
                continue
            d = float(np.hypot(x[i] - x[j], y[i] - y[j]))
            if d <= 700.0:
                expected[(ids[i], ids[j])] = (d, sp[j] >= us[i])
    pairs = {(a, b): (d, f) for a, b, d, f in zip(got["site_id"], got["candidate_site_id"], got["distance_m"],
                                                     got["fits"], strict=True)}
    assert set(pairs) == set(expected)
    for k, (d, f) in expected.items():
        assert pairs[k][0] == pytest.approx(d, abs=0.05)
        assert bool(pairs[k][1]) == f
    # sorted by site (input order) then distance
    order = {sid: k for k, sid in enumerate(ids)}
    keys = [(order[s], d) for s, d in zip(got["site_id"], got["distance_m"], strict=True)]
    assert keys == sorted(keys)
    assert len(expected) > 20  # the test has something to find


def test_candidates_need_spare_capacity():
    df = random_sites(50, 9)
    with pytest.raises(ValueError, match="spare_m2"):
        colocation_candidates(df)


def test_summary_is_aligned_with_sites():
    df = random_sites(200, 4)
    spare = pd.Series(300.0, index=df.index)
    got = colocation_candidates(df, spare_m2=spare, max_distance_m=500.0)
    summ = summarise_candidates(df, got)
    assert summ.index.equals(df.index)
    counts = got.groupby("site_id").size()
    for idx, sid in df["site_id"].items():
        assert summ.loc[idx, "candidate_count"] == counts.get(sid, 0)
        if counts.get(sid, 0):
            first = got[got["site_id"] == sid].iloc[0]
            assert summ.loc[idx, "nearest_candidate_site_id"] == first["candidate_site_id"]
            assert summ.loc[idx, "nearest_candidate_m"] == first["distance_m"]
        else:
            assert pd.isna(summ.loc[idx, "nearest_candidate_site_id"])


def _brute_components(points: np.ndarray, d: float) -> list[set[int]]:
    n = len(points)
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i in range(n):
        for j in range(i + 1, n):
            if np.hypot(*(points[i] - points[j])) <= d:
                parent[find(i)] = find(j)
    groups: dict[int, set[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), set()).add(i)
    return list(groups.values())


@pytest.mark.parametrize("seed", [5, 6])
def test_hubs_match_brute_force_components(seed):
    df = random_sites(250, seed, extent=8000.0)
    hub_id, table = hubs(df, hub_distance_m=400.0, min_agencies=2)
    assert hub_id.index.equals(df.index)
    ok = _ok(df)
    sub = df[ok]
    comps = _brute_components(sub[["easting", "northing"]].to_numpy(), 400.0)
    ag = sub["agency"].to_numpy()
    ids = sub["site_id"].to_numpy()
    expected = {frozenset(ids[list(c)]) for c in comps if len(c) >= 2 and len(set(ag[list(c)])) >= 2}
    got = {frozenset(df.loc[hub_id == h, "site_id"]) for h in hub_id.dropna().unique()}
    assert got == expected
    assert len(expected) >= 3
    # the table agrees with the per-site ids
    for rec in table.itertuples():
        members = set(rec.site_ids.split(";"))
        assert members == set(df.loc[hub_id == rec.hub_id, "site_id"])
        assert rec.site_count == len(members)
        assert rec.agency_count == len(set(rec.agencies.split(";"))) >= 2
    # numbered by size, largest first
    assert list(table["site_count"]) == sorted(table["site_count"], reverse=True)
    # excluded, unlocated and land-only records are never in a hub
    assert hub_id[~ok].isna().all()


def test_three_agencies_chained_make_one_hub():
    df = pd.DataFrame({"site_id": ["a", "b", "c", "d", "e"],
                       "agency": ["council", "police", "nhs", "council", "council"],
                       "easting": [0.0, 350.0, 700.0, 5000.0, 5100.0], "northing": [0.0] * 5})
    hub_id, table = hubs(df, 400.0)
    assert list(hub_id.fillna("")) == ["H001", "H001", "H001", "", ""]  # d-e: one agency only
    assert table.loc[0, "agencies"] == "council;nhs;police"
    assert table.loc[0, "max_link_m"] == pytest.approx(350.0)


def test_pairs_within_is_symmetric_and_excludes_self():
    x = np.array([0.0, 100.0, 1000.0])
    y = np.zeros(3)
    i, j = pairs_within(x, y, 100.0)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_assign_areas_point_in_polygon_and_reprojection():
    bng = gpd.GeoDataFrame({"level": ["ward", "ward", "locality"], "code": ["W1", "W2", "North"],
                            "name": ["West", "East", "North"]},
                           geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000), box(0, 0, 2000, 2000)],
                           crs=CRS_BNG)
    sites = pd.DataFrame({"site_id": ["a", "b", "c", "d"], "easting": [500.0, 1500.0, 5000.0, np.nan],
                          "northing": [500.0, 500.0, 500.0, np.nan], "located": [True, True, True, False]},
                         index=[7, 3, 9, 1])
    out = assign_areas(sites, bng)
    assert out.index.equals(sites.index)
    assert list(out["ward"].fillna("-")) == ["W1", "W2", "-", "-"]
    assert list(out["ward_name"].fillna("-")) == ["West", "East", "-", "-"]
    assert list(out["locality"].fillna("-")) == ["North", "North", "-", "-"]
    assert "lsoa" not in out  # no such level in the boundaries
    # the same boundaries given in WGS84 give the same answer
    out2 = assign_areas(sites, bng.to_crs(CRS_WGS84))
    assert list(out2["ward"].fillna("-")) == list(out["ward"].fillna("-"))
