"""The scenario store in the register's GeoPackage: save, list, load, compare, reproducibility,
atomic writes."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyogrio
import pytest

from planner import scenarios
from planner.errors import ScenarioError
from planner.finance import (
    FinanceSettings,
    Plan,
    build_schedule,
    current_first_year,
    spec_objective,
)
from planner.register import Register
from tests.test_finance import three_sites

FY = FinanceSettings(first_financial_year=2026)


def make_register(tmp_path, sites=None, services=None):
    s, u, *_ = three_sites()
    sites = s if sites is None else sites
    services = u if services is None else services
    sites = sites.assign(located=True, in_analysis=True)
    path = tmp_path / "place.gpkg"
    Register.from_frames(sites=sites, services=services).save(path)
    return path


def the_plan(**changes) -> Plan:
    return Plan.from_frames(*three_sites(**changes))


def other_plan() -> Plan:
    """The same place with C kept and u2 staying in C."""
    sites, services, decisions, placements, sc = three_sites()
    decisions.loc[2, "decision"] = "keep"
    placements.loc[1, ["to_site_id", "one_off_gbp"]] = ["C", 0.0]
    return Plan.from_frames(sites, services, decisions, placements, sc)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_save_list_load_round_trip(tmp_path):
    reg = make_register(tmp_path)
    plan = the_plan()
    saved = scenarios.save(reg, plan, FY, "base", solver="highs", status="optimal",
                           objective_gbp=spec_objective(plan))
    assert saved.scenario_id == 1 and saved.reproduced == ""
    listed = scenarios.list_scenarios(reg)
    assert list(listed["name"]) == ["base"]
    row = listed.iloc[0]
    original = build_schedule(plan, FY)
    assert row["npv_green_book_gbp"] == pytest.approx(original.npv_green_book_gbp)
    assert row["disposals"] == 2 and row["moves"] == 2
    assert row["status"] == "optimal" and row["solver"] == "highs"
    assert "horizon_years = 5" in row["scenario_toml"]
    # the plan comes back from the store alone, and costs the same
    back = scenarios.load(reg, "base")
    again = back.schedule()
    assert again.npv_green_book_gbp == pytest.approx(original.npv_green_book_gbp, rel=1e-12)
    assert again.npv_constant_gbp == pytest.approx(original.npv_constant_gbp, rel=1e-12)
    pd.testing.assert_frame_equal(again.disposals, original.disposals, check_dtype=False)
    assert scenarios.load(reg, 1).name == "base"
    # the register itself is untouched and still loads
    r = Register.load(reg)
    assert sorted(r.sites["site_id"]) == ["A", "B", "C"]
    assert {"scenarios", "scenario_sites", "scenario_placements"} <= {n for n, _ in pyogrio.list_layers(reg)}
    assert scenarios.register_matches(reg, back.record)
    # "the current financial year" is fixed when stored, so the scenario reads the same later
    scenarios.save(reg, plan, FinanceSettings(), "this year")
    assert scenarios.load(reg, "this year").settings.first_financial_year == current_first_year()


def test_same_inputs_same_answer_says_so(tmp_path):
    reg = make_register(tmp_path)
    first = scenarios.save(reg, the_plan(), FY, "base", status="optimal", objective_gbp=1.0)
    second = scenarios.save(reg, the_plan(), FY, "base again", status="optimal", objective_gbp=1.0)
    assert second.reproduces_id == first.scenario_id
    assert second.reproduced == "same answer"
    assert "reproduced" in second.message
    rows = scenarios.list_scenarios(reg)
    assert rows.loc[0, "inputs_sha256"] == rows.loc[1, "inputs_sha256"]
    assert rows.loc[0, "answer_sha256"] == rows.loc[1, "answer_sha256"]
    # same inputs, different answer (e.g. a time limit): said plainly
    third = scenarios.save(reg, other_plan(), FY, "cut short", status="feasible", objective_gbp=0.5)
    assert third.reproduced == "different answer" and "not reproduced" in third.message
    # different inputs: a changed finance setting is an input
    fourth = scenarios.save(reg, the_plan(), FinanceSettings(first_financial_year=2026, max_disposals_per_year=1),
                            "capped")
    assert fourth.reproduces_id is None
    # a changed register is a different input too
    sites = three_sites()[0]
    sites.loc[0, "running_cost_gbp"] = 51_000
    (tmp_path / "b").mkdir()
    reg2 = make_register(tmp_path / "b", sites=sites)
    h1 = scenarios.register_input_hashes(reg)
    h2 = scenarios.register_input_hashes(reg2)
    assert h1["sites"] != h2["sites"] and h1["services"] == h2["services"]


def test_compare_side_by_side(tmp_path):
    reg = make_register(tmp_path)
    scenarios.save(reg, the_plan(), FY, "sell both")
    scenarios.save(reg, other_plan(), FY, "keep C")
    c = scenarios.compare(reg, "sell both", "keep C")
    summ = c["summary"].set_index("key")
    a, b = build_schedule(the_plan(), FY), build_schedule(other_plan(), FY)
    assert summ.loc["npv_green_book_gbp", "A"] == pytest.approx(a.npv_green_book_gbp)
    assert summ.loc["npv_green_book_gbp", "B - A"] == pytest.approx(b.npv_green_book_gbp - a.npv_green_book_gbp)
    assert summ.loc["disposals", "A"] == 2 and summ.loc["disposals", "B"] == 1
    assert summ.loc["savings_gbp_per_year", "B - A"] == pytest.approx(-60_000)
    assert c["sites"].to_dict("records") == [{"site_id": "C", "A": "dispose", "B": "keep"}]
    assert c["moves"].to_dict("records") == [{"service_id": "u2", "from_site_id": "C", "A_to_site_id": "A",
                                              "B_to_site_id": "C"}]
    assert not bool(c["scenarios"].iloc[0]["same_answer"])


def test_unknown_scenario_and_bad_names(tmp_path):
    reg = make_register(tmp_path)
    scenarios.save(reg, the_plan(), FY, "base")
    with pytest.raises(ScenarioError, match="1 \\(base\\)"):
        scenarios.load(reg, "nope")
    with pytest.raises(ScenarioError):
        scenarios.save(reg, the_plan(), FY, "42")
    with pytest.raises(ScenarioError):
        scenarios.save(reg, the_plan(), FY, "  ")
    # the latest of a repeated name wins
    scenarios.save(reg, other_plan(), FY, "base")
    assert scenarios.load(reg, "base").scenario_id == 2


def test_a_failed_write_leaves_the_register_as_it_was(tmp_path, monkeypatch):
    reg = make_register(tmp_path)
    scenarios.save(reg, the_plan(), FY, "base")
    before = sha(reg)
    real = pyogrio.write_dataframe
    calls = {"n": 0}

    def failing(df, path, layer=None, **kw):
        calls["n"] += 1
        if layer == "scenario_placements":
            raise OSError("disk full")
        return real(df, path, layer=layer, **kw)

    monkeypatch.setattr(pyogrio, "write_dataframe", failing)
    with pytest.raises(OSError):
        scenarios.save(reg, other_plan(), FY, "second")
    assert calls["n"] >= 2
    assert sha(reg) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".place.gpkg.tmp")]
    monkeypatch.setattr(pyogrio, "write_dataframe", real)
    assert list(scenarios.list_scenarios(reg)["name"]) == ["base"]


def test_frame_hash_ignores_order_and_dtype_but_not_values():
    a = pd.DataFrame({"site_id": ["x", "y"], "v": [1.0, 2.5], "t": ["p", None]})
    b = pd.DataFrame({"v": pd.array([2.5, 1.0], dtype="Float64"), "t": [pd.NA, "p"], "site_id": ["y", "x"]})
    assert scenarios.frame_sha256(a, "site_id") == scenarios.frame_sha256(b, "site_id")
    c = a.copy()
    c.loc[1, "v"] = 2.6
    assert scenarios.frame_sha256(a, "site_id") != scenarios.frame_sha256(c, "site_id")
    d = a.copy()
    d["site_id"] = ["x", "z"]
    assert scenarios.frame_sha256(a, "site_id") != scenarios.frame_sha256(d, "site_id")
