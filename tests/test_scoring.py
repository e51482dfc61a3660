"""The scoring stage: every measure against an independent computation on hand-made sites,
missing data, the score, the recommendation rules and their reasons, the weights file, the
CLI, and the reasons on the sample place."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
import tomllib

import numpy as np
import pandas as pd
import pytest

from planner.errors import ScenarioError
from planner.scoring import (
    RECOMMENDATIONS,
    default_weights,
    default_weights_text,
    load_weights,
    score_sites,
)

from .conftest import REPO

TODAY = dt.date(2026, 4, 1)

# site_id: (agency, building_type, holding, tenure, tenure_detail, gia, capacity, running cost,
#           backlog, condition, x, y)
_SITES = {
    "lib1": ("council", "library", "Buildings", "Freehold", "Owner Occupied", 1000, 800, 120_000, 20_000, "B", 0, 0),
    "lib2": ("council", "library", "Buildings", "Freehold", "Owner Occupied", 500, 400, 90_000, None, "B", 5000, 0),
    "lib3": ("council", "library", "Buildings", "Freehold", "Owner Occupied", 400, 320, 76_000, 0, "A", 10000, 0),
    "lib4": ("council", "library", "Buildings", "Freehold", "Owner Occupied", 1000, 800, 250_000, None, "B", 15000, 0),
    "lib5": ("council", "library", "Buildings", "Freehold", "Owner Occupied", 500, 400, 206_000, 75_000, "C", 20000, 0),
    "off1": ("council", "office", "Buildings", "Freehold", "Owner Occupied", 1250, 1000, 150_000, 10_000, "B", 30000, 0),
    "pol1": ("police", "police_station", "Land/Buildings", "Freehold", "Owner Occupied", 300, 240, 30_000, 3_000, "B", 30300, 0),
    "nhs1": ("nhs", "gp", "Buildings", "Leasehold", "Leasehold In", 600, 480, None, None, "D", 30000, 300),
    "vac1": ("council", "office", "Buildings", "Freehold", "Vacant", 200, 160, 20_000, None, None, 50000, 0),
    "lock1": ("council", "depot", "Buildings", "Freehold", "Owner Occupied", 1000, 800, 40_000, None, "B", 60000, 0),
    "land1": ("council", None, "Land", "Freehold", "Vacant", None, None, None, None, None, 70000, 0),
    "bad1": ("council", "office", "Buildings", "Freehold", "Owner Occupied", 100, 80, 5_000, None, "B", 80000, 0),
    "far1": ("fire", "fire_station", "Buildings", "Freehold", "Owner Occupied", 500, 400, 50_000, 1_000, "A", 90000, 0),
}
# services: (site, agency, type, space, fte)
_SERVICES = [
    ("lib1", "council", "library", 700, 5), ("lib2", "council", "library", 350, 3),
    ("lib3", "council", "library", 300, 2), ("lib4", "council", "library", 700, 6),
    ("lib5", "council", "library", 152, 2), ("off1", "council", "office", 600, 30),
    ("pol1", "police", "neighbourhood_policing", 200, 10), ("far1", "fire", "fire_operational", 200, 20),
]


def hand_sites() -> pd.DataFrame:
    rows = []
    for sid, (ag, bt, ht, ten, td, gia, cap, rc, bl, cond, x, y) in _SITES.items():
        rows.append({"site_id": sid, "name": f"{sid} name", "agency": ag, "building_type": bt,
                     "holding_type": ht, "tenure": ten, "tenure_detail": td, "gia_m2": gia,
                     "capacity_m2": cap, "running_cost_gbp": rc, "backlog_gbp": bl, "condition": cond,
                     "easting": float(x), "northing": float(y), "located": True, "in_analysis": True})
    df = pd.DataFrame(rows)
    for c in ("gia_m2", "capacity_m2", "running_cost_gbp", "backlog_gbp"):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    i = df["site_id"] == "nhs1"
    df.loc[i, "backlog_high_gbp"] = 10_000.0
    df.loc[i, "backlog_significant_gbp"] = 5_000.0
    df.loc[i, "energy_rating"] = "G"
    df.loc[i, "functional_suitability_pct"] = 70.0
    df.loc[i, "lease_break"] = "2028-04-01"
    df.loc[i, "lease_expiry"] = "2031-04-01"
    df["locked"] = df["site_id"] == "lock1"
    df.loc[df["site_id"] == "bad1", "in_analysis"] = False
    df.loc[df["site_id"] == "bad1", "exclusion_reason"] = "duplicate site_id"
    df["can_receive"] = True
    # a non-default, shuffled index: results must align with it, not with positions
    df.index = pd.Index([100 + 7 * k for k in range(len(df))])[::-1]
    return df


def hand_services() -> pd.DataFrame:
    return pd.DataFrame([{"service_id": f"u{k}", "site_id": s, "agency": a, "service_type": t,
                          "space_m2": float(sp), "fte": float(f)} for k, (s, a, t, sp, f) in enumerate(_SERVICES)])


@pytest.fixture(scope="module")
def scored() -> tuple[pd.DataFrame, pd.DataFrame]:
    sites = hand_sites()
    return sites, score_sites(sites, hand_services(), today=TODAY)


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("site_id", drop=False)


# --------------------------------------------------------------------------- measures

def test_output_is_index_aligned(scored):
    sites, out = scored
    assert out.index.equals(sites.index)
    assert (out["site_id"] == sites["site_id"]).all()


def test_every_measure_matches_an_independent_computation(scored):
    _, out = scored
    o = _by_id(out)
    used: dict[str, float] = {}
    fte: dict[str, float] = {}
    for s, _a, _t, sp, f in _SERVICES:
        used[s] = used.get(s, 0.0) + sp
        fte[s] = fte.get(s, 0.0) + f
    checked = 0
    for sid, (_ag, bt, _ht, _ten, td, gia, cap, rc, bl, _cond, _x, _y) in _SITES.items():
        if sid in ("land1", "bad1"):
            continue
        row = o.loc[sid]
        u = used.get(sid)
        if u is None and td == "Vacant":
            u = 0.0
        if u is None and sid == "lock1":
            u = 0.0  # the council recorded services elsewhere, none here
        if u is not None:
            assert row["occupancy_pct"] == pytest.approx(round(100 * u / cap, 1))
            assert row["vacant_m2"] == pytest.approx(max(cap - u, 0))
            checked += 1
        else:
            assert pd.isna(row["occupancy_pct"]) and pd.isna(row["vacant_m2"])
        if rc is not None:
            assert row["running_cost_per_m2_gbp"] == pytest.approx(rc / gia, abs=0.01)
            if sid in fte:
                assert row["running_cost_per_fte_gbp"] == pytest.approx(rc / fte[sid], abs=0.01)
        else:
            assert pd.isna(row["running_cost_per_m2_gbp"]) and pd.isna(row["running_cost_per_fte_gbp"])
        if bl is not None:
            assert row["backlog_per_m2_gbp"] == pytest.approx(bl / gia, abs=0.01)
        if bt == "office" and sid in fte:
            assert row["space_per_fte_m2"] == pytest.approx(cap / fte[sid], abs=0.01)
            assert row["space_per_fte_vs_benchmark"] == pytest.approx(cap / fte[sid] / 10, abs=0.001)
        else:
            assert pd.isna(row["space_per_fte_m2"])
    assert checked == 10
    # backlog from the risk categories when the total is not given; critical = high + significant
    assert o.loc["nhs1", "backlog_per_m2_gbp"] == pytest.approx(15_000 / 600, abs=0.01)
    assert o.loc["nhs1", "backlog_critical_gbp"] == 15_000
    assert o.loc["nhs1", "backlog_critical_per_m2_gbp"] == pytest.approx(25.0)
    assert o.loc["nhs1", "condition"] == "D" and o.loc["nhs1", "energy_rating"] == "G"
    assert o.loc["nhs1", "functional_suitability_pct"] == 70


def test_type_median_and_fallback_to_all_buildings(scored):
    _, out = scored
    o = _by_id(out)
    libs = sorted(rc / gia for sid, (_, bt, _, _, _, gia, _, rc, *_r) in _SITES.items() if bt == "library")
    assert o.loc["lib5", "type_median_cost_per_m2_gbp"] == pytest.approx(libs[len(libs) // 2])  # 190
    assert o.loc["lib5", "cost_median_basis"] == "library"
    # police stations: only one in the place -> median over every building with a cost per m2
    every = [rc / gia for sid, (_, _, ht, _, _, gia, _, rc, *_r) in _SITES.items()
             if rc is not None and gia is not None and sid != "bad1"]
    assert o.loc["pol1", "type_median_cost_per_m2_gbp"] == pytest.approx(float(np.median(every)), abs=0.01)
    assert o.loc["pol1", "cost_median_basis"] == "all buildings"
    assert o.loc["lib5", "cost_vs_type_median"] == pytest.approx(412 / 190, abs=0.001)


def test_lease_events_within_n_years(scored):
    _, out = scored
    o = _by_id(out)
    days_break = (dt.date(2028, 4, 1) - TODAY).days
    days_exp = (dt.date(2031, 4, 1) - TODAY).days
    assert o.loc["nhs1", "lease_break_years"] == pytest.approx(days_break / 365.25, abs=0.005)
    assert o.loc["nhs1", "lease_expiry_years"] == pytest.approx(days_exp / 365.25, abs=0.005)
    assert bool(o.loc["nhs1", "lease_event_within_n"]) is True
    assert pd.isna(o.loc["lib1", "lease_event_within_n"])
    assert o.loc["lib1", "lease_event_within_n_missing_reason"].startswith("not held on a lease")
    # with a horizon of 1 year neither event counts
    o1 = _by_id(score_sites(hand_sites(), hand_services(), today=TODAY, weights={"measures": {"lease_event_years": 1}},
                            find_candidates=False, find_hubs=False))
    assert bool(o1.loc["nhs1", "lease_event_within_n"]) is False
    # an expiry already passed counts, reported as so many years ago
    s = hand_sites()
    s.loc[s["site_id"] == "nhs1", ["lease_break", "lease_expiry"]] = [None, "2025-04-01"]
    o2 = _by_id(score_sites(s, hand_services(), today=TODAY, find_candidates=False, find_hubs=False))
    assert bool(o2.loc["nhs1", "lease_event_within_n"]) is True
    assert "lease expiry 2025-04-01 (1.0 years ago)" in o2.loc["nhs1", "reasons"]


def test_missing_measures_are_missing_with_a_reason_never_zero(scored):
    _, out = scored
    o = _by_id(out)
    nhs = o.loc["nhs1"]
    assert pd.isna(nhs["occupancy_pct"]) and nhs["occupancy_pct_missing_reason"] == "no services recorded for nhs"
    assert pd.isna(nhs["running_cost_per_m2_gbp"])
    assert nhs["running_cost_per_m2_gbp_missing_reason"] == "no running cost recorded"
    assert nhs["space_per_fte_m2_missing_reason"] == "not office-type use"
    assert o.loc["vac1", "space_per_fte_m2_missing_reason"] == "no staff (FTE) recorded"
    assert o.loc["vac1", "condition_missing_reason"] == "no condition survey recorded"
    assert o.loc["lib2", "backlog_per_m2_gbp_missing_reason"] == "no backlog recorded"
    assert o.loc["lib1", "backlog_critical_gbp_missing_reason"] == "no backlog by risk category recorded"
    land = o.loc["land1"]
    for m in ("occupancy_pct", "running_cost_per_m2_gbp", "backlog_per_m2_gbp", "condition", "score"):
        assert pd.isna(land[m]), m
        assert land[f"{m}_missing_reason"] == "land with no building", m
    bad = o.loc["bad1"]
    for m in ("occupancy_pct", "running_cost_per_m2_gbp", "condition", "score"):
        assert pd.isna(bad[m])
        assert bad[f"{m}_missing_reason"] == "excluded from analysis: duplicate site_id"
    # a reason is given exactly where the measure is missing
    for m in ("occupancy_pct", "running_cost_per_m2_gbp", "backlog_per_m2_gbp", "condition", "energy_rating",
              "space_per_fte_m2", "functional_suitability_pct", "score"):
        assert (out[m].isna() == out[f"{m}_missing_reason"].notna()).all(), m
    # no measure is silently 0 for a site that lacks its inputs
    assert not (out.loc[out["running_cost_per_m2_gbp_missing_reason"].notna(), "running_cost_per_m2_gbp"] == 0).any()


def test_repeated_floor_area_is_not_used_for_per_m2_measures():
    s = hand_sites()
    extra = s[s["site_id"] == "lib1"].copy()
    extra["site_id"] = "lib1b"
    extra.index = [999]
    extra["gia_repeated"] = True
    s["gia_repeated"] = False
    s = pd.concat([s, extra])
    o = _by_id(score_sites(s, hand_services(), today=TODAY, find_candidates=False, find_hubs=False))
    assert pd.isna(o.loc["lib1b", "occupancy_pct"]) and pd.isna(o.loc["lib1b", "running_cost_per_m2_gbp"])
    assert "whole site" in o.loc["lib1b", "occupancy_pct_missing_reason"]
    assert o.loc["lib1", "occupancy_pct"] == pytest.approx(87.5)


# --------------------------------------------------------------------------- score

def _independent_score(row, cfg) -> float:
    w = cfg["weights"]
    s = cfg["score"]
    comps = {}
    if not pd.isna(row["occupancy_pct"]):
        comps["occupancy"] = 1 - min(max(row["occupancy_pct"] / 100, 0), 1)
    if not pd.isna(row["cost_vs_type_median"]):
        r = row["running_cost_per_m2_gbp"] / row["type_median_cost_per_m2_gbp"]
        comps["running_cost"] = min(max((r - s["cost_ratio_low"]) / (s["cost_ratio_high"] - s["cost_ratio_low"]), 0), 1)
    if not pd.isna(row["condition"]):
        comps["condition"] = s[f"condition_{row['condition'].lower()}"]
    if not pd.isna(row["backlog_per_m2_gbp"]):
        comps["backlog"] = min(row["backlog_per_m2_gbp"] / s["backlog_per_m2_full_gbp"], 1)
    if not pd.isna(row["space_per_fte_m2"]):
        r = row["space_per_fte_m2"] / cfg["measures"]["office_benchmark_m2_per_fte"]
        comps["space_per_fte"] = min(max((r - 1) / (s["space_per_fte_ratio_full"] - 1), 0), 1)
    if not pd.isna(row["functional_suitability_pct"]):
        comps["functional_suitability"] = 1 - row["functional_suitability_pct"] / 100
    if not pd.isna(row["energy_rating"]):
        comps["energy"] = ["A+", "A", "B", "C", "D", "E", "F", "G"].index(row["energy_rating"]) / 7
    if not pd.isna(row["lease_event_within_n"]):
        comps["lease_event"] = float(bool(row["lease_event_within_n"]))
    num = sum(w[k] * v for k, v in comps.items() if w[k] > 0)
    den = sum(w[k] for k in comps if w[k] > 0)
    return round(100 * num / den, 1) if den else math.nan


def test_score_is_the_documented_weighted_mean(scored):
    _, out = scored
    o = _by_id(out)
    # lib5 by hand: occupancy 1 - 0.38 = 0.62 (w 30); cost 412/190 = 2.17 -> 1 (w 20);
    # condition C -> 0.7 (w 15); backlog 150/300 = 0.5 (w 10): (18.6 + 20 + 10.5 + 5) / 75
    assert o.loc["lib5", "score"] == pytest.approx(72.1)
    assert o.loc["lib5", "score_coverage_pct"] == pytest.approx(75.0)
    cfg = default_weights()
    for sid, row in o.iterrows():
        if pd.isna(row["score"]):
            continue
        assert row["score"] == pytest.approx(_independent_score(row, cfg), abs=0.051), sid
        assert 0 <= row["score"] <= 100


def test_weights_from_a_user_file_change_the_score(tmp_path):
    f = tmp_path / "w.toml"
    f.write_text("[weights]\noccupancy = 0\ncondition = 45\n", encoding="utf-8")
    cfg = load_weights(f)
    assert cfg["weights"]["occupancy"] == 0 and cfg["weights"]["running_cost"] == 20  # others kept
    o = _by_id(score_sites(hand_sites(), hand_services(), weights=f, today=TODAY, find_candidates=False,
                           find_hubs=False))
    # lib5: cost 1 (w 20), condition 0.7 (w 45), backlog 0.5 (w 10): (20 + 31.5 + 5) / 75
    assert o.loc["lib5", "score"] == pytest.approx(round(100 * 56.5 / 75, 1))


def test_packaged_weights_load_and_are_documented():
    cfg = default_weights()
    assert cfg == tomllib.loads(default_weights_text())
    assert cfg["measures"]["office_benchmark_m2_per_fte"] == 10.0
    assert cfg["candidates"]["hub_distance_m"] == 400.0
    doc = (REPO / "docs" / "scoring.md").read_text(encoding="utf-8")
    for section, values in cfg.items():
        for key in values:
            assert f"`{key}`" in doc, f"docs/scoring.md does not document [{section}] {key}"
    assert "Operational Efficiency Programme" in doc


@pytest.mark.parametrize("text,expected", [
    ("[weights]\nocupancy = 3\n", "unknown key 'ocupancy' in [weights]"),
    ("[wieghts]\noccupancy = 3\n", "unknown section [wieghts]"),
    ("[weights]\noccupancy = 'high'\n", "[weights] occupancy = 'high' must be a number"),
    ("[weights]\noccupancy = -1\n", "must not be negative"),
    ("[rules]\nshare_conditions = ['A', 'E']\n", "grades are A, B, C, D"),
    ("[score]\ncost_ratio_high = 0.5\n", "cost_ratio_high must be above cost_ratio_low"),
    ("[weights\n", "not valid TOML"),
])
def test_bad_weights_files_are_refused_with_the_key_named(tmp_path, text, expected):
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_weights(f)
    assert expected in str(err.value)
    assert str(f) in str(err.value)


def test_all_weight_problems_reported_at_once(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[weights]\nfoo = 1\nbar = 2\n[measures]\nlease_event_years = 'x'\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_weights(f)
    msg = str(err.value)
    assert "'foo'" in msg and "'bar'" in msg and "lease_event_years" in msg


# --------------------------------------------------------------------------- recommendations

def test_recommendations_and_their_reasons(scored):
    _, out = scored
    o = _by_id(out)
    rec = o["recommendation"]
    assert set(rec) <= set(RECOMMENDATIONS)
    assert rec["lib5"] == "review for disposal"
    assert o.loc["lib5", "reasons"].startswith(
        "38% occupied (152 of 400 m2 used); £412/m2 a year against a median of £190/m2 for libraries; "
        "condition C with £150/m2 backlog")
    assert rec["vac1"] == "review for disposal" and o.loc["vac1", "reasons"].startswith("recorded as vacant")
    # share: 60% occupied, 400 m2 spare, condition B, a police station 300 m away
    assert rec["off1"] == "share"
    r = o.loc["off1", "reasons"]
    assert "60% occupied (600 of 1,000 m2 used)" in r and "400 m2 spare" in r and "condition B" in r
    assert "nearest site of another agency: police, 300 m away" in r
    assert "could take services of 2 nearby sites of other agencies" in r  # pol1 and nhs1
    # the police station's services (200 m2) could move to the office
    assert o.loc["pol1", "candidate_count"] == 1 and o.loc["pol1", "nearest_candidate_site_id"] == "off1"
    assert o.loc["pol1", "nearest_candidate_m"] == pytest.approx(300.0)
    # locked: kept, with what would otherwise have triggered a review
    assert rec["lock1"] == "retain"
    assert o.loc["lock1", "reasons"].startswith("locked, so kept although: 0% occupied")
    # spare space but nobody within reach
    assert rec["far1"] == "retain"
    assert "no other agency's site within 1,000 m to share with" in o.loc["far1", "reasons"]
    # poor condition but low backlog, use unknown: retained, saying what is known and not
    assert rec["nhs1"] == "retain"
    r = o.loc["nhs1", "reasons"]
    assert "condition D" in r and "£25/m2 backlog" in r and "lease break 2028-04-01 (in 2.0 years)" in r
    assert "occupancy not known: no services recorded for nhs" in r
    assert rec["land1"] == "not a building" and "land with no building" in o.loc["land1", "reasons"]
    assert rec["bad1"] == "check data" and o.loc["bad1", "reasons"] == "excluded from analysis: duplicate site_id"
    assert rec["lib1"] == "retain"
    assert o.loc["lib1", "reasons"].startswith("88% occupied (700 of 800 m2 used); £120/m2 a year against a median "
                                               "of £190/m2 for libraries; condition B")
    assert out["reasons"].str.len().min() > 0


def test_recommendation_thresholds_come_from_the_weights():
    o = _by_id(score_sites(hand_sites(), hand_services(), today=TODAY, find_candidates=False, find_hubs=False,
                           weights={"rules": {"disposal_max_occupancy_pct": 30.0, "disposal_cost_ratio": 3.0,
                                              "disposal_backlog_per_m2_gbp": 200.0}}))
    # lib5 is 38% occupied, 2.2 x the median, £150/m2 backlog: no trigger left
    assert o.loc["lib5", "recommendation"] == "retain"
    o2 = _by_id(score_sites(hand_sites(), hand_services(), today=TODAY, max_distance_m=200.0,
                            find_candidates=False, find_hubs=False))
    assert o2.loc["off1", "recommendation"] == "retain"  # the police station is 300 m away


def test_unknown_condition_may_be_excluded_from_sharing():
    s = hand_sites()
    s.loc[s["site_id"] == "off1", "condition"] = None
    o = _by_id(score_sites(s, hand_services(), today=TODAY, find_candidates=False, find_hubs=False))
    assert o.loc["off1", "recommendation"] == "share"
    assert "condition not recorded" in o.loc["off1", "reasons"]
    o2 = _by_id(score_sites(s, hand_services(), today=TODAY, find_candidates=False, find_hubs=False,
                            weights={"rules": {"share_allow_unknown_condition": False}}))
    assert o2.loc["off1", "recommendation"] == "retain"


def test_no_services_table_leaves_occupancy_unknown():
    o = _by_id(score_sites(hand_sites(), None, today=TODAY, find_candidates=False, find_hubs=False))
    assert pd.isna(o.loc["lib1", "occupancy_pct"])
    assert o.loc["lib1", "occupancy_pct_missing_reason"] == "no services recorded for council"
    assert o.loc["vac1", "occupancy_pct"] == 0  # vacant: known to be empty
    assert o.loc["lib5", "recommendation"] == "review for disposal"  # still: cost and condition


def test_estimated_inputs_are_said_to_be_estimated():
    s = hand_sites()
    s["estimated_fields"] = ""
    s.loc[s["site_id"] == "lib5", "estimated_fields"] = "running_cost_gbp;condition"
    o = _by_id(score_sites(s, hand_services(), today=TODAY, find_candidates=False, find_hubs=False))
    assert "£412/m2 a year (estimated) against" in o.loc["lib5", "reasons"]
    assert "condition C (estimated)" in o.loc["lib5", "reasons"]


# --------------------------------------------------------------------------- CLI

def _register_file(tmp_path):
    from planner.register import Register

    path = tmp_path / "reg.gpkg"
    Register.from_frames(sites=hand_sites().reset_index(drop=True), services=hand_services()).save(path)
    return path


def _cli(args):
    from typer.testing import CliRunner

    from planner.cli import _register_commands, app

    _register_commands()
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_score_writes_csv_and_layer_atomically(tmp_path):
    import pyogrio

    reg = _register_file(tmp_path)
    out = tmp_path / "scores.csv"
    r = _cli(["score", reg, "--out", out, "--today", "2026-04-01", "--write-layer",
              "--candidates", tmp_path / "pairs.csv", "--hubs", tmp_path / "hubs.csv"])
    assert r.exit_code == 0, r.output
    csv = pd.read_csv(out)
    assert len(csv) == len(_SITES)
    assert csv.set_index("site_id").loc["lib5", "recommendation"] == "review for disposal"
    pairs = pd.read_csv(tmp_path / "pairs.csv")
    assert ("pol1", "off1") in set(zip(pairs["site_id"], pairs["candidate_site_id"], strict=True))
    hubs = pd.read_csv(tmp_path / "hubs.csv")
    assert len(hubs) == 1 and set(hubs.loc[0, "agencies"].split(";")) == {"council", "nhs", "police"}
    layers = {str(n) for n, _ in pyogrio.list_layers(reg)}
    assert "scores" in layers and "sites" in layers
    layer = pyogrio.read_dataframe(reg, layer="scores")
    assert len(layer) == len(_SITES) and layer.crs.to_epsg() == 27700
    # the register is still readable and its sites unchanged
    from planner.register import Register

    back = Register.load(reg)
    assert sorted(back.sites["site_id"]) == sorted(_SITES)
    # refuses to overwrite, then --force
    before = out.read_bytes()
    r2 = _cli(["score", reg, "--out", out])
    assert r2.exit_code == 2 and "already exists" in r2.output and out.read_bytes() == before
    r3 = _cli(["score", reg, "--out", out, "--force"])
    assert r3.exit_code == 0, r3.output


def test_cli_score_errors_are_one_line(tmp_path):
    reg = _register_file(tmp_path)
    bad = tmp_path / "w.toml"
    bad.write_text("[weights]\nocupancy = 1\n", encoding="utf-8")
    r = _cli(["score", reg, "--out", tmp_path / "s.csv", "--weights", bad])
    assert r.exit_code == 2 and "ocupancy" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "s.csv").exists()
    r = _cli(["score", tmp_path / "missing.gpkg", "--out", tmp_path / "s.csv"])
    assert r.exit_code == 2 and "no such register" in r.output
    r = _cli(["score", reg])
    assert r.exit_code == 2 and "--out" in r.output
    r = _cli(["score", reg, "--out", tmp_path / "s.csv", "--max-distance-m", "-5"])
    assert r.exit_code == 2 and "above 0" in r.output


def test_cli_count_by_agency(tmp_path):
    reg = _register_file(tmp_path)
    out = tmp_path / "count.csv"
    r = _cli(["count", reg, "--by", "agency", "--csv", out])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out).set_index("agency")
    assert t.loc["police", "sites"] == 1 and t.loc["Total", "excluded"] == 1
    assert t.loc["council", "gia_m2"] == sum(v[5] or 0 for k, v in _SITES.items() if v[0] == "council" and k != "bad1")
    r = _cli(["count", reg, "--by", "ward"])
    assert r.exit_code == 2 and "no ward boundaries" in r.output
    r = _cli(["count", reg, "--by", "parish"])
    assert r.exit_code == 2 and "unknown --by" in r.output


# --------------------------------------------------------------------------- the sample place

@pytest.fixture(scope="module")
def sample_register(tmp_path_factory):
    from planner.register import Register

    gpkg = REPO / "data" / "trafford.gpkg"
    if gpkg.exists():
        return Register.load(gpkg)
    builder = REPO / "data" / "build_sample.py"
    if not builder.exists():
        pytest.skip("sample place not available: data/build_sample.py (H3) is not there yet")
    out = tmp_path_factory.mktemp("sample") / "trafford.gpkg"
    done = subprocess.run([sys.executable, str(builder), "--out", str(out)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    if done.returncode != 0 or not out.exists():
        pytest.skip(f"could not build the sample place with data/build_sample.py: {done.stderr[-400:]}")
    return Register.load(out)


def test_sample_place_reasons(sample_register):
    reg = sample_register
    sites = reg.sites
    out = score_sites(sites, reg.services, today=TODAY, areas=reg.boundaries if len(reg.boundaries) else None)
    assert out.index.equals(sites.index)
    assert set(out["recommendation"]) <= set(RECOMMENDATIONS)
    assert out["reasons"].notna().all() and (out["reasons"].str.len() > 0).all()
    s = sites.assign(**{c: out[c] for c in ("recommendation", "reasons", "occupancy_pct", "cost_vs_type_median")})
    inc = s["in_analysis"].astype("boolean").fillna(True).astype(bool)
    land = (s["holding_type"].astype("string").str.lower() == "land") & ~(s["gia_m2"].astype("Float64") > 0).fillna(False)
    assert (s.loc[~inc, "recommendation"] == "check data").all()
    assert (s.loc[inc & land, "recommendation"] == "not a building").all()
    locked = s["locked"].astype("boolean").fillna(False).astype(bool)
    assert not (locked & (s["recommendation"] == "review for disposal")).any()
    disp = s[s["recommendation"] == "review for disposal"]
    assert len(disp) > 0
    vacant = disp["tenure_detail"].astype("string").str.lower() == "vacant"
    for _, row in disp.iterrows():
        reasons = row["reasons"]
        if str(row["tenure_detail"]).lower() == "vacant":
            assert reasons.startswith("recorded as vacant"), reasons
        elif not pd.isna(row["occupancy_pct"]) and row["occupancy_pct"] < 50:
            assert f"{round(row['occupancy_pct']):.0f}% occupied" in reasons, reasons
        if not pd.isna(row["cost_vs_type_median"]) and row["cost_vs_type_median"] > 1.5:
            assert "against a median of £" in reasons, reasons
    assert vacant.sum() + (disp["occupancy_pct"] < 50).sum() + (disp["cost_vs_type_median"] > 1.5).sum() > 0
    # independent medians of running cost per m2 by building type, quoted in the reasons
    b = sites[inc & ~land].copy()
    if "gia_repeated" in b:
        b = b[~b["gia_repeated"].astype("boolean").fillna(False).astype(bool)]
    b["cpm"] = pd.to_numeric(b["running_cost_gbp"], errors="coerce") / pd.to_numeric(b["gia_m2"], errors="coerce").where(lambda v: v > 0)
    b = b[b["cpm"] > 0]  # peers: buildings with a running cost above 0
    med = b.groupby(b["building_type"].astype("string").fillna(""))["cpm"].agg(["median", "size"])
    checked = 0
    for t_name, m in med[(med["size"] >= 5) & (med.index != "")].iterrows():
        rows = out[(sites["building_type"].astype("string") == t_name) & out["running_cost_per_m2_gbp"].notna()
                   & out["recommendation"].isin(["retain", "review for disposal"])]
        for r in rows["reasons"]:
            if "against a median of" in r:
                assert f"against a median of £{round(m['median']):,}/m2 for" in r, (t_name, r)
                checked += 1
    assert checked > 0
    # not every building is flagged: the recommendations discriminate
    share_disposal = (out.loc[inc & ~land, "recommendation"] == "review for disposal").mean()
    assert 0 < share_disposal < 0.9


def test_disposal_reasons_say_where_services_could_go():
    s = hand_sites()
    i = s["site_id"] == "lib5"
    s.loc[i, ["easting", "northing"]] = [90_000.0, 250.0]  # 250 m from the fire station (200 m2 spare)
    o = _by_id(score_sites(s, hand_services(), today=TODAY))
    assert o.loc["lib5", "recommendation"] == "review for disposal"
    assert o.loc["lib5", "reasons"].endswith(
        "its services (152 m2) could move to far1 name (fire, 250 m away, 200 m2 spare)")
    sv = hand_services()
    sv.loc[sv["site_id"] == "far1", "space_m2"] = 320.0  # 80 m2 spare left: too little for 152 m2
    o2 = _by_id(score_sites(s, sv, today=TODAY))
    assert o2.loc["lib5", "reasons"].endswith(
        "no other agency's site within 1,000 m has room for all its 152 m2 of services "
        "(nearest with spare space: far1 name (fire, 250 m away, 80 m2 spare))")


def test_cost_trigger_needs_peers_of_the_same_type():
    s = hand_sites()
    extra = s[s["site_id"] == "lib3"].copy()
    extra.index = [5]
    extra[["site_id", "name", "building_type", "running_cost_gbp", "easting"]] = [
        "hos1", "hos1 name", "hospital", 400 * 500.0, 12_000.0]
    s = pd.concat([s, extra])
    sv = pd.concat([hand_services(), pd.DataFrame([{"service_id": "h", "site_id": "hos1", "agency": "council",
                                                    "service_type": "acute", "space_m2": 300.0, "fte": 50.0}])])
    o = _by_id(score_sites(s, sv, today=TODAY, find_candidates=False, find_hubs=False))
    # £500/m2 against a median across all buildings: too few hospitals to judge -> no trigger
    assert o.loc["hos1", "cost_median_basis"] == "all buildings"
    assert o.loc["hos1", "recommendation"] == "retain"
    assert "£500/m2 a year against a median of £" in o.loc["hos1", "reasons"]
    assert "across all buildings" in o.loc["hos1", "reasons"]
    o2 = _by_id(score_sites(s, sv, today=TODAY, find_candidates=False, find_hubs=False,
                            weights={"rules": {"disposal_cost_needs_type_median": False}}))
    assert o2.loc["hos1", "recommendation"] == "review for disposal"


def test_failed_layer_write_leaves_the_register_as_it_was(tmp_path, monkeypatch):
    import pyogrio

    from planner.scoring import scores_layer, write_layer_atomic

    reg = _register_file(tmp_path)
    before = reg.read_bytes()
    sites = hand_sites()
    layer = scores_layer(score_sites(sites, hand_services(), today=TODAY), sites)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", boom)
    with pytest.raises(OSError, match="disk full"):
        write_layer_atomic(reg, "scores", layer)
    assert reg.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg.gpkg"]  # no temporary file left
