"""The Total Place count against hand-worked figures on hand-made sites."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from planner.count import COUNT_COLUMNS, gia_repeated, space_used, total_place_count
from planner.schema import CRS_BNG


def _sites() -> pd.DataFrame:
    # Two wards side by side: W1 = x in [0, 1000), W2 = x in [1000, 2000); y in [0, 1000].
    return pd.DataFrame({
        "site_id": ["c1", "c2", "c3", "c4", "n1", "n2", "p1", "p2"],
        "name": ["Town Hall", "Park, shelter", "Park, barn", "Field", "Clinic", "Old ward", "Station", "Lost"],
        "agency": ["council", "council", "council", "council", "nhs", "nhs", "police", "police"],
        "holding_type": ["Buildings", "Land/Buildings", "Land/Buildings", "Land", "Buildings", "Buildings", None, "Buildings"],
        "tenure": ["Freehold", "Freehold", "Freehold", "Freehold", "Leasehold", "Freehold", "Freehold", "Freehold"],
        "tenure_detail": ["Owner Occupied", "Other", "Other", "Vacant", "Leasehold In", "Vacant", "Owner Occupied", "Owner Occupied"],
        "gia_m2": [1000.0, 500.0, 500.0, np.nan, 400.0, 300.0, np.nan, 200.0],
        "capacity_m2": [800.0, 400.0, 400.0, np.nan, 320.0, 240.0, np.nan, 160.0],
        "gia_repeated": [False, False, True, False, False, False, False, False],
        "running_cost_gbp": [100_000.0, 5_000.0, 5_000.0, np.nan, 60_000.0, 20_000.0, np.nan, 9_000.0],
        "backlog_gbp": [50_000.0, np.nan, np.nan, np.nan, 10_000.0, 70_000.0, np.nan, 1_000.0],
        "market_value_gbp": [2e6, 1e5, np.nan, 3e5, 0.0, 5e5, np.nan, 9e5],
        "disposal_cost_gbp": [4e4, np.nan, np.nan, 6e3, np.nan, 1e4, np.nan, np.nan],
        "easting": [100.0, 200.0, 200.0, 1500.0, 1200.0, 1300.0, 900.0, np.nan],
        "northing": [100.0, 100.0, 100.0, 500.0, 500.0, 500.0, 900.0, np.nan],
        "located": [True, True, True, True, True, True, True, False],
        "in_analysis": [True, True, True, True, True, False, True, True],
    })


def _services() -> pd.DataFrame:
    return pd.DataFrame({
        "service_id": ["s1", "s2", "s3", "s4"],
        "site_id": ["c1", "c1", "n1", "p1"],
        "agency": ["council", "council", "nhs", "police"],
        "space_m2": [300.0, 200.0, 320.0, 100.0],
    })


def _zones() -> pd.DataFrame:
    return pd.DataFrame({
        "zone_id": ["L1", "L2", "L3"],
        "population": [3000.0, 1000.0, 1000.0],
        "easting": [500.0, 1500.0, 1600.0],
        "northing": [500.0, 500.0, 600.0],
    })


def _boundaries() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "level": ["ward", "ward", "ward"],
        "code": ["W1", "W2", "W3"],
        "name": ["West", "East", "Empty"],
        "population": [np.nan, np.nan, np.nan],
    }, geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000), box(5000, 5000, 6000, 6000)], crs=CRS_BNG)


def _row(table: pd.DataFrame, by: str, key: str) -> pd.Series:
    r = table[table[by] == key]
    assert len(r) == 1, f"expected one row {key!r} in {list(table[by])}"
    return r.iloc[0]


def test_count_by_agency_matches_hand_computation():
    t = total_place_count(_sites(), _services(), _zones(), by="agency")
    assert list(t.columns) == ["agency", *COUNT_COLUMNS]
    assert list(t["agency"]) == ["council", "nhs", "police", "Total"]
    c = _row(t, "agency", "council")
    # council: c1..c4 in analysis; buildings c1, c2, c3 (c4 is Land with no floor area)
    assert c["sites"] == 4 and c["buildings"] == 3
    assert c["gia_m2"] == 1000 + 500  # c3 repeats c2's floor area
    # vacant: c1 800 - 500 = 300; c2 no services, but council recorded services -> 400;
    # c3 repeated part not counted; c4 has no capacity -> unknown
    assert c["vacant_m2"] == pytest.approx(300 + 400)
    assert c["running_cost_gbp"] == pytest.approx(110_000)
    assert c["backlog_gbp"] == pytest.approx(50_000)
    # receipts: c1 2e6 - 4e4, c2 1e5, c4 3e5 - 6e3 (c3 unknown)
    assert c["receipts_potential_gbp"] == pytest.approx(1.96e6 + 1e5 + 2.94e5)
    assert c["residents"] == 5000
    assert c["cost_per_resident_gbp"] == pytest.approx(110_000 / 5000)
    assert c["gia_m2_per_1000_residents"] == pytest.approx(1500 / 5)
    assert c["sites_per_1000_residents"] == pytest.approx(4 / 5)

    n = _row(t, "agency", "nhs")
    # n2 is excluded: counted only in "excluded"
    assert n["sites"] == 1 and n["excluded"] == 1
    assert n["gia_m2"] == 400 and n["vacant_m2"] == 0
    assert n["receipts_potential_gbp"] is pd.NA or pd.isna(n["receipts_potential_gbp"])  # leasehold only
    assert n["backlog_gbp"] == 10_000

    p = _row(t, "agency", "police")
    assert p["sites"] == 2 and p["unlocated"] == 1 and p["buildings"] == 2
    assert p["gia_m2"] == 200
    # p1: capacity unknown -> vacant unknown; p2 no services but police recorded some -> 160
    assert p["vacant_m2"] == 160
    assert p["backlog_gbp"] == 1000

    tot = _row(t, "agency", "Total")
    assert tot["sites"] == 7 and tot["excluded"] == 1 and tot["unlocated"] == 1
    assert tot["gia_m2"] == 1500 + 400 + 200
    assert tot["running_cost_gbp"] == pytest.approx(110_000 + 60_000 + 9_000)
    assert tot["residents"] == 5000


def test_missing_values_stay_missing_not_zero():
    s = _sites()
    s["backlog_gbp"] = np.nan
    s.loc[s["agency"] == "police", "running_cost_gbp"] = np.nan
    t = total_place_count(s, _services(), _zones())
    assert pd.isna(_row(t, "agency", "Total")["backlog_gbp"])
    assert pd.isna(_row(t, "agency", "police")["running_cost_gbp"])
    assert pd.isna(_row(t, "agency", "police")["cost_per_resident_gbp"])
    # with no services table, vacancy is known only for vacant sites (used = 0)
    t2 = total_place_count(s, None, _zones())
    assert pd.isna(_row(t2, "agency", "nhs")["vacant_m2"])  # n1 unknown, n2 excluded
    assert pd.isna(_row(t2, "agency", "police")["vacant_m2"])
    # no zones: residents and per-resident figures are missing
    t3 = total_place_count(s, _services(), None)
    assert t3["residents"].isna().all() and t3["sites_per_1000_residents"].isna().all()


def test_count_by_ward_assigns_points_and_zone_population():
    t = total_place_count(_sites(), _services(), _zones(), by="ward", areas=_boundaries())
    assert list(t["ward"]) == ["W1", "W2", "W3", "(no area)", "Total"]
    assert list(t["name"].fillna("")) == ["West", "East", "Empty", "", ""]
    w1, w2, w3 = (_row(t, "ward", k) for k in ("W1", "W2", "W3"))
    # W1: c1, c2, c3, p1 (x < 1000); W2: c4, n1 (n2 excluded)
    assert w1["sites"] == 4 and w2["sites"] == 2 and w2["excluded"] == 1 and w3["sites"] == 0
    assert w1["gia_m2"] == 1500 and w2["gia_m2"] == 400
    assert w1["residents"] == 3000 and w2["residents"] == 2000
    assert pd.isna(w3["residents"]) and pd.isna(w3["gia_m2"])
    assert w1["running_cost_gbp"] / 3000 == pytest.approx(w1["cost_per_resident_gbp"])
    assert w2["gia_m2_per_1000_residents"] == pytest.approx(400 / 2)
    na = _row(t, "ward", "(no area)")
    assert na["sites"] == 1 and na["unlocated"] == 1 and pd.isna(na["residents"])
    tot = _row(t, "ward", "Total")
    assert tot["sites"] == 7 and tot["residents"] == 5000
    # The area rows add up to the total.
    body = t[t["ward"] != "Total"]
    assert body["sites"].sum() == tot["sites"]
    assert body["gia_m2"].sum() == tot["gia_m2"]


def test_count_by_lsoa_uses_zone_ids():
    s = _sites().assign(lsoa=["L1", "L1", "L1", "L2", "L2", "L2", "L1", None])
    t = total_place_count(s, _services(), _zones(), by="lsoa")
    assert _row(t, "lsoa", "L1")["residents"] == 3000
    assert _row(t, "lsoa", "L2")["residents"] == 1000
    assert _row(t, "lsoa", "L1")["sites"] == 4


def test_repeated_floor_area_detected_without_validator_column():
    s = _sites().drop(columns="gia_repeated")
    rep = gia_repeated(s)
    assert list(rep) == [False, False, True, False, False, False, False, False]
    t = total_place_count(s, _services(), _zones())
    assert _row(t, "agency", "council")["gia_m2"] == 1500


def test_space_used_sources():
    used, src = space_used(_sites(), _services())
    assert used.iloc[0] == 500 and src.iloc[0] == "services"
    assert used.iloc[3] == 0 and src.iloc[3] == "vacant"
    assert used.iloc[1] == 0 and src.iloc[1] == "no services recorded here"
    used2, src2 = space_used(_sites(), None)
    assert pd.isna(used2.iloc[0]) and src2.iloc[0].startswith("no services recorded for council")


def test_unknown_by_column_is_a_clear_error():
    with pytest.raises(ValueError, match="ward"):
        total_place_count(_sites(), by="ward")


def test_sample_place_count_by_ward_adds_up(tmp_path_factory):
    import subprocess
    import sys

    from planner.register import Register

    from .conftest import REPO

    gpkg = REPO / "data" / "trafford.gpkg"
    if not gpkg.exists():
        builder = REPO / "data" / "build_sample.py"
        if not builder.exists():
            pytest.skip("sample place not available: data/build_sample.py (H3) is not there yet")
        gpkg = tmp_path_factory.mktemp("sample") / "trafford.gpkg"
        done = subprocess.run([sys.executable, str(builder), "--out", str(gpkg), "--quiet"], capture_output=True,
                              text=True, timeout=300, cwd=REPO)
        if done.returncode != 0:
            pytest.skip(f"could not build the sample place: {done.stderr[-400:]}")
    reg = Register.load(gpkg)
    zones = reg.zones
    t = total_place_count(reg.sites, reg.services, zones, by="ward", areas=reg.boundaries)
    body, tot = t[t["ward"] != "Total"], _row(t, "ward", "Total")
    assert len(body[body["ward"] != "(no area)"]) == int((reg.boundaries["level"] == "ward").sum())
    assert body["sites"].sum() == tot["sites"] == int(reg.sites["in_analysis"].astype("boolean").fillna(True).sum())
    assert body["gia_m2"].sum() == pytest.approx(tot["gia_m2"])
    pop = float(pd.to_numeric(zones["population"]).sum())
    assert tot["residents"] == pytest.approx(pop)
    # every zone centroid falls in a ward: the wards' residents add up to the place
    assert body["residents"].sum() == pytest.approx(pop)
    # floor area counted once per site: the repeated parts add nothing
    rep = reg.sites["gia_repeated"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    inc = reg.sites["in_analysis"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    gia = pd.to_numeric(reg.sites["gia_m2"]).astype("float64").to_numpy(na_value=np.nan)
    assert tot["gia_m2"] == pytest.approx(np.nansum(gia[inc & ~rep]))
    by_agency = total_place_count(reg.sites, reg.services, zones, by="agency")
    assert _row(by_agency, "agency", "Total")["gia_m2"] == pytest.approx(tot["gia_m2"])
