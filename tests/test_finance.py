"""Finance stage: schedules, NPVs, payback and sensitivity against hand calculations."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from planner.errors import ScenarioError, ValidationError
from planner.finance import (
    FinanceSettings,
    Plan,
    build_schedule,
    current_first_year,
    financial_year_label,
    green_book_factor,
    ope_measures,
    payback_year,
    sensitivity,
    spec_objective,
)

FY = FinanceSettings(first_financial_year=2026)


def three_sites(**scenario_changes):
    """The worked example used by several tests.

    Scenario: H = 5 years, r = 10%, optimism bias 20%, fit-out £100/m2, moves £1,000/FTE,
    disposal cost rate 2%, recharge £10/m2/year.

    Sites: A council, kept (value £1m, running £50k).
           B nhs, disposed, available now: value £500,000, disposal cost £10,000 (given),
             running £40,000/yr, backlog £20,000, 0.5 ha.
           C police, disposed, lease ends in year 2: value 0, exit cost £30,000,
             running £60,000/yr, 0.2 ha.
    Services: u1 nhs 200 m2, 10 FTE, B -> A: fit-out 20,000 + moves 10,000 + OB 6,000 = 36,000;
                 recharge 10 x 200 = £2,000/yr to the council.
              u2 police 100 m2, 5 FTE, C -> A: 10,000 + 5,000 + 3,000 = 18,000; recharge £1,000/yr.
              u3 council stays in A.

    Cash flow on paper (year: items = net):
      0: +500,000 receipt - 10,000 disposal + 20,000 backlog - 30,000 fit-out - 15,000 moves
         - 9,000 optimism bias = 456,000
      1: +40,000 (B's running cost)                        = 40,000
      2: +40,000 - 30,000 (C's exit cost, sold end of yr 2) = 10,000
      3, 4, 5: +40,000 + 60,000                             = 100,000 each
    NPV at 10%: 456,000 + 40,000/1.1 + 10,000/1.1^2 + 100,000 (1/1.1^3 + 1/1.1^4 + 1/1.1^5)
    Green Book: the same flows over 1.035^t.
    """
    sites = pd.DataFrame([
        dict(site_id="A", agency="council", capacity_m2=1000, running_cost_gbp=50_000, market_value_gbp=1_000_000,
             easting=380_000, northing=395_000),
        dict(site_id="B", agency="nhs", market_value_gbp=500_000, disposal_cost_gbp=10_000, running_cost_gbp=40_000,
             backlog_gbp=20_000, land_area_ha=0.5, easting=381_000, northing=396_000),
        dict(site_id="C", agency="police", available_year=2, exit_cost_gbp=30_000, running_cost_gbp=60_000,
             land_area_ha=0.2, easting=382_000, northing=397_000),
    ])
    services = pd.DataFrame([
        dict(service_id="u1", site_id="B", agency="nhs", service_type="gp", space_m2=200, fte=10),
        dict(service_id="u2", site_id="C", agency="police", service_type="office", space_m2=100, fte=5),
        dict(service_id="u3", site_id="A", agency="council", service_type="office", space_m2=300, fte=20),
    ])
    decisions = pd.DataFrame({"site_id": ["A", "B", "C"], "decision": ["keep", "dispose", "dispose"]})
    placements = pd.DataFrame({"service_id": ["u1", "u2", "u3"], "from_site_id": ["B", "C", "A"],
                               "to_site_id": ["A", "A", "A"], "distance_m": [1414.2, 2828.4, 0.0],
                               "one_off_gbp": [36_000.0, 18_000.0, 0.0]})
    scenario = dict(horizon_years=5, discount_rate=0.10, optimism_bias=0.2, fit_out_gbp_per_m2=100,
                    move_gbp_per_fte=1000, disposal_cost_rate=0.02, recharge_gbp_per_m2_year=10)
    scenario.update(scenario_changes)
    return sites, services, decisions, placements, scenario


def test_three_site_example_by_hand():
    plan = Plan.from_frames(*three_sites())
    sch = build_schedule(plan, FY)
    cf = sch.cash_flow
    assert list(cf["net_cash_flow_gbp"]) == pytest.approx([456_000, 40_000, 10_000, 100_000, 100_000, 100_000])
    assert list(cf["financial_year"]) == ["2026/27", "2027/28", "2028/29", "2029/30", "2030/31", "2031/32"]
    assert cf.loc[0, "optimism_bias_gbp"] == pytest.approx(-9_000)
    assert cf.loc[0, "fit_out_gbp"] == pytest.approx(-30_000)
    assert cf.loc[0, "moves_gbp"] == pytest.approx(-15_000)
    assert cf.loc[2, "exit_costs_gbp"] == pytest.approx(-30_000)
    npv10 = 456_000 + 40_000 / 1.1 + 10_000 / 1.1**2 + 100_000 * (1 / 1.1**3 + 1 / 1.1**4 + 1 / 1.1**5)
    assert sch.npv_constant_gbp == pytest.approx(npv10, rel=1e-12)
    gb = 456_000 + 40_000 / 1.035 + 10_000 / 1.035**2 + 100_000 * (1.035**-3 + 1.035**-4 + 1.035**-5)
    assert sch.npv_green_book_gbp == pytest.approx(gb, rel=1e-12)
    d = sch.disposals.set_index("site_id")
    assert d.loc["B", "financial_year"] == "2026/27"
    assert d.loc["C", "financial_year"] == "2028/29"
    assert d.loc["C", "saving_from_financial_year"] == "2029/30"
    assert d.loc["B", "net_receipt_gbp"] == 490_000
    assert sch.payback_year == 0


def independent_spec_objective(sites, services, decisions, placements, sc):
    """model.md's objective straight from the raw input frames."""
    H, r = sc["horizon_years"], sc["discount_rate"]

    def d(k):
        return (1 + r) ** -k

    def a(k):
        return sum(d(t) for t in range(k + 1, H + 1))

    dec = dict(zip(decisions["site_id"], decisions["decision"], strict=True))
    total = 0.0
    for s in sites.to_dict("records"):
        if dec[s["site_id"]] != "dispose":
            continue
        mv = s.get("market_value_gbp", 0) or 0
        mv = 0 if pd.isna(mv) else mv
        dc = s.get("disposal_cost_gbp")
        dc = sc["disposal_cost_rate"] * mv if dc is None or pd.isna(dc) else dc
        ex = 0 if pd.isna(s.get("exit_cost_gbp", np.nan)) else s["exit_cost_gbp"]
        rc = 0 if pd.isna(s.get("running_cost_gbp", np.nan)) else s["running_cost_gbp"]
        bl = 0 if pd.isna(s.get("backlog_gbp", np.nan)) else s["backlog_gbp"]
        k = 0 if pd.isna(s.get("available_year", np.nan)) else int(s["available_year"])
        total += d(k) * (mv - dc - ex) + a(k) * rc + bl
    sv = services.set_index("service_id")
    for p in placements.to_dict("records"):
        u = sv.loc[p["service_id"]]
        annual = p.get("annual_gbp", 0) or 0
        if p["from_site_id"] != p["to_site_id"]:
            c = (1 + sc["optimism_bias"]) * (sc["fit_out_gbp_per_m2"] * u["space_m2"] + sc["move_gbp_per_fte"] * u["fte"])
            c += p.get("pair_one_off", 0) + a(0) * annual
        else:
            c = p.get("pair_one_off", 0) + a(0) * annual
        total -= c
    return total


def random_plan(rng: np.random.Generator, n_sites: int = 8, n_services: int = 12):
    sites = pd.DataFrame({
        "site_id": [f"S{i}" for i in range(n_sites)],
        "agency": rng.choice(["council", "nhs", "police", "fire"], n_sites),
        "market_value_gbp": rng.integers(0, 3_000_000, n_sites).astype(float),
        "running_cost_gbp": rng.integers(0, 200_000, n_sites).astype(float),
        "backlog_gbp": rng.integers(0, 300_000, n_sites).astype(float),
        "exit_cost_gbp": rng.integers(0, 50_000, n_sites).astype(float),
        "available_year": rng.integers(0, 12, n_sites),
        "easting": rng.uniform(370_000, 390_000, n_sites), "northing": rng.uniform(390_000, 400_000, n_sites),
    })
    sites.loc[rng.random(n_sites) < 0.3, "disposal_cost_gbp"] = 12_345.0  # others from the rate
    disposed = rng.random(n_sites) < 0.5
    disposed[0] = False  # at least one site to move into
    decisions = pd.DataFrame({"site_id": sites["site_id"], "decision": np.where(disposed, "dispose", "keep")})
    kept = list(sites.loc[~disposed, "site_id"])
    svc = pd.DataFrame({
        "service_id": [f"U{i}" for i in range(n_services)],
        "site_id": rng.choice(sites["site_id"], n_services),
        "agency": rng.choice(["council", "nhs", "police", "fire"], n_services),
        "service_type": "office",
        "space_m2": rng.integers(50, 900, n_services).astype(float),
        "fte": rng.integers(0, 60, n_services).astype(float),
    })
    return sites, svc, decisions, kept


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_constant_rate_schedule_reproduces_spec_objective(seed):
    """With a constant rate, no cap and the spec's timing, the schedule's NPV is the spec's
    objective sum b_j (1 - y_j) - sum c_uj x_uj, computed here independently."""
    rng = np.random.default_rng(seed)
    sites, svc, decisions, kept = random_plan(rng)
    sc = dict(horizon_years=int(rng.integers(5, 40)), discount_rate=float(rng.choice([0.0, 0.035, 0.06])),
              optimism_bias=0.24, fit_out_gbp_per_m2=750, move_gbp_per_fte=1000, disposal_cost_rate=0.02,
              recharge_gbp_per_m2_year=25)
    dec = dict(zip(decisions["site_id"], decisions["decision"], strict=True))
    rows = []
    for u in svc.to_dict("records"):
        stay = dec[u["site_id"]] == "keep" and rng.random() < 0.5
        to = u["site_id"] if stay else str(rng.choice(kept))
        pair = float(rng.choice([0.0, 5_000.0]))
        annual = float(rng.choice([0.0, 700.0]))
        base = (1 + sc["optimism_bias"]) * (sc["fit_out_gbp_per_m2"] * u["space_m2"] + sc["move_gbp_per_fte"] * u["fte"])
        one_off = (base if to != u["site_id"] else 0.0) + pair
        rows.append({"service_id": u["service_id"], "from_site_id": u["site_id"], "to_site_id": to,
                     "distance_m": 1.0, "one_off_gbp": one_off, "annual_gbp": annual, "pair_one_off": pair})
    placements = pd.DataFrame(rows)
    plan = Plan.from_frames(sites, svc, decisions, placements.drop(columns="pair_one_off"), sc)
    sch = build_schedule(plan, FY)
    expected = independent_spec_objective(sites, svc, decisions, placements, sc)
    assert sch.npv_constant_gbp == pytest.approx(expected, rel=1e-11, abs=1e-6)
    assert spec_objective(plan) == pytest.approx(expected, rel=1e-11, abs=1e-6)


def two_ready_sites(cap_n=None, cap_g=None, priority="net_receipt"):
    """Sites P (value 2m) and Q (value 1m), both free now, H = 10, r = 5%; no moves."""
    sites = pd.DataFrame([
        dict(site_id="K", agency="council", capacity_m2=100),
        dict(site_id="Q", agency="council", market_value_gbp=1_000_000, disposal_cost_gbp=0,
             running_cost_gbp=50_000),
        dict(site_id="P", agency="nhs", market_value_gbp=2_000_000, disposal_cost_gbp=0,
             running_cost_gbp=10_000),
    ])
    services = pd.DataFrame(columns=["service_id", "site_id", "agency", "service_type", "space_m2", "fte"])
    decisions = pd.DataFrame({"site_id": ["K", "Q", "P"], "decision": ["keep", "dispose", "dispose"]})
    placements = pd.DataFrame(columns=["service_id", "from_site_id", "to_site_id", "distance_m", "one_off_gbp"])
    plan = Plan.from_frames(sites, services, decisions, placements, dict(horizon_years=10, discount_rate=0.05))
    st = FinanceSettings(first_financial_year=2026, max_disposals_per_year=cap_n, max_receipts_gbp_per_year=cap_g,
                         cap_priority=priority)
    return plan, st


def test_market_cap_moves_the_smaller_sale_a_year_later():
    plan, st = two_ready_sites(cap_n=1)
    sch = build_schedule(plan, st)
    d = sch.disposals.set_index("site_id")
    assert d.loc["P", "sale_year"] == 0 and d.loc["Q", "sale_year"] == 1
    assert d.loc["Q", "delayed_years"] == 1 and d.loc["Q", "financial_year"] == "2027/28"
    assert d.loc["Q", "saving_from_financial_year"] == "2028/29"
    # by hand: P sold now (2m, 10k a year for years 1..10); Q sold end of year 1 (1m), 50k years 2..10
    r = 1.05
    hand = 2_000_000 + sum(10_000 / r**t for t in range(1, 11)) + 1_000_000 / r + sum(50_000 / r**t for t in range(2, 11))
    assert sch.npv_constant_gbp == pytest.approx(hand, rel=1e-12)
    cf = sch.cash_flow
    assert cf.loc[1, "running_cost_saved_gbp"] == 10_000  # Q's saving not yet
    assert cf.loc[2, "running_cost_saved_gbp"] == 60_000
    # without the cap both go now
    free = build_schedule(plan, FinanceSettings(first_financial_year=2026))
    assert set(free.disposals["sale_year"]) == {0}
    assert free.npv_constant_gbp > sch.npv_constant_gbp


def test_market_cap_site_order_and_receipts_cap():
    plan, st = two_ready_sites(cap_n=1, priority="site_order")
    d = build_schedule(plan, st).disposals.set_index("site_id")
    assert d.loc["Q", "sale_year"] == 0 and d.loc["P", "sale_year"] == 1  # the sites table's order
    # receipts cap 1.5m: P (2m) is bigger than the cap alone, so it is sold alone; Q waits
    plan, st = two_ready_sites(cap_g=1_500_000)
    d = build_schedule(plan, st).disposals.set_index("site_id")
    assert d.loc["P", "sale_year"] == 0 and d.loc["Q", "sale_year"] == 1
    # receipts cap 3m: both fit in year 0
    plan, st = two_ready_sites(cap_g=3_000_000)
    assert set(build_schedule(plan, st).disposals["sale_year"]) == {0}


def test_cap_respected_with_many_sites():
    rng = np.random.default_rng(7)
    n = 12
    sites = pd.DataFrame({"site_id": [f"S{i}" for i in range(n)], "agency": "council",
                          "market_value_gbp": rng.integers(100_000, 900_000, n).astype(float),
                          "available_year": rng.integers(0, 4, n)})
    sites.loc[0, "market_value_gbp"] = 0
    decisions = pd.DataFrame({"site_id": sites["site_id"], "decision": ["keep"] + ["dispose"] * (n - 1)})
    empty_s = pd.DataFrame(columns=["service_id", "site_id", "agency", "space_m2", "fte"])
    empty_p = pd.DataFrame(columns=["service_id", "from_site_id", "to_site_id"])
    plan = Plan.from_frames(sites, empty_s, decisions, empty_p, dict(horizon_years=20, discount_rate=0.035))
    st = FinanceSettings(first_financial_year=2026, max_disposals_per_year=2, max_receipts_gbp_per_year=1_000_000)
    d = build_schedule(plan, st).disposals
    per_year = d.groupby("sale_year")
    assert (per_year.size() <= 2).all()
    for _, g in per_year:
        assert len(g) == 1 or g["gross_receipt_gbp"].sum() <= 1_000_000
    assert (d["sale_year"] >= d["ready_year"]).all()
    # no sale waits while its year had room: every year from the first sale to the last is used
    assert set(range(d["sale_year"].min(), d["sale_year"].max() + 1)) <= set(d["sale_year"])


def test_lease_ending_in_year_3():
    """A leasehold office: lease ends in year 3 (available_year 3), exit cost £25,000,
    rent and running £80,000 a year, H = 6, r = 0. Sold (surrendered) at the end of 2029/30,
    saving from 2030/31: 3 years x 80,000 - 25,000 = 215,000."""
    sites = pd.DataFrame([dict(site_id="HQ", agency="council", capacity_m2=500),
                          dict(site_id="L", agency="council", available_year=3, exit_cost_gbp=25_000,
                               running_cost_gbp=80_000, market_value_gbp=0)])
    services = pd.DataFrame([dict(service_id="o", site_id="L", agency="council", space_m2=100, fte=0)])
    decisions = pd.DataFrame({"site_id": ["HQ", "L"], "decision": ["keep", "dispose"]})
    placements = pd.DataFrame({"service_id": ["o"], "from_site_id": ["L"], "to_site_id": ["HQ"],
                               "one_off_gbp": [0.0]})
    plan = Plan.from_frames(sites, services, decisions, placements, dict(horizon_years=6, discount_rate=0.0))
    sch = build_schedule(plan, FY)
    row = sch.disposals.iloc[0]
    assert (row["sale_year"], row["financial_year"], row["saving_from_financial_year"]) == (3, "2029/30", "2030/31")
    assert list(sch.cash_flow["net_cash_flow_gbp"]) == [0, 0, 0, -25_000, 80_000, 80_000, 80_000]
    assert sch.npv_constant_gbp == 215_000
    assert sch.payback_year == 4


def test_green_book_factors_by_hand():
    assert green_book_factor(0) == 1.0
    assert green_book_factor(1) == pytest.approx(1 / 1.035, rel=1e-15)
    assert green_book_factor(30) == pytest.approx(1.035**-30, rel=1e-13)
    assert green_book_factor(31) == pytest.approx(1.035**-30 / 1.03, rel=1e-13)
    assert green_book_factor(40) == pytest.approx(1.035**-30 * 1.03**-10, rel=1e-13)
    assert green_book_factor(75) == pytest.approx(1.035**-30 * 1.03**-45, rel=1e-13)
    assert green_book_factor(76) == pytest.approx(1.035**-30 * 1.03**-45 / 1.025, rel=1e-13)
    # rounded to 4 places as the Green Book's tables show them
    assert round(green_book_factor(30), 4) == 0.3563
    assert round(green_book_factor(40), 4) == 0.2651


def test_green_book_rate_change_after_year_30_in_a_schedule():
    """£1,000 a year saved in years 1..40: 1000 (1 - 1.035^-30)/0.035 for years 1-30, plus
    1.035^-30 x 1000 (1 - 1.03^-10)/0.03 for years 31-40 (annuity formulas)."""
    sites = pd.DataFrame([dict(site_id="K", agency="council"),
                          dict(site_id="X", agency="council", running_cost_gbp=1000)])
    empty_s = pd.DataFrame(columns=["service_id", "site_id", "agency", "space_m2", "fte"])
    empty_p = pd.DataFrame(columns=["service_id", "from_site_id", "to_site_id"])
    decisions = pd.DataFrame({"site_id": ["K", "X"], "decision": ["keep", "dispose"]})
    plan = Plan.from_frames(sites, empty_s, decisions, empty_p, dict(horizon_years=40, discount_rate=0.035))
    sch = build_schedule(plan, FY)
    hand = 1000 * (1 - 1.035**-30) / 0.035 + 1.035**-30 * 1000 * (1 - 1.03**-10) / 0.03
    assert sch.npv_green_book_gbp == pytest.approx(hand, rel=1e-12)
    flat = 1000 * (1 - 1.035**-40) / 0.035  # the optimiser's constant 3.5%
    assert sch.npv_constant_gbp == pytest.approx(flat, rel=1e-12)
    assert sch.npv_green_book_gbp > sch.npv_constant_gbp


def test_payback_year_by_hand():
    """One-off spend £300,000 in year 0 (a 1,000 m2 move at £300/m2), £80,000 a year saved:
    cumulative -300k, -220k, -140k, -60k, +20k: payback in year 4 (2030/31)."""
    sites = pd.DataFrame([dict(site_id="K", agency="council", capacity_m2=5000),
                          dict(site_id="X", agency="council", running_cost_gbp=80_000)])
    services = pd.DataFrame([dict(service_id="s", site_id="X", agency="council", space_m2=1000, fte=0)])
    decisions = pd.DataFrame({"site_id": ["K", "X"], "decision": ["keep", "dispose"]})
    placements = pd.DataFrame({"service_id": ["s"], "from_site_id": ["X"], "to_site_id": ["K"],
                               "one_off_gbp": [300_000.0]})
    plan = Plan.from_frames(sites, services, decisions, placements,
                            dict(horizon_years=8, discount_rate=0.035, fit_out_gbp_per_m2=300))
    sch = build_schedule(plan, FY)
    assert list(sch.cash_flow["cumulative_gbp"][:5]) == [-300_000, -220_000, -140_000, -60_000, 20_000]
    assert sch.payback_year == 4 and sch.label(sch.payback_year) == "2030/31"
    # discounted at 3.5%: -300k + 80k x a(k) turns positive when sum 1.035^-t >= 3.75, in year 5
    k = next(k for k in range(1, 9) if sum(1.035**-t for t in range(1, k + 1)) * 80_000 >= 300_000)
    assert sch.discounted_payback_year == k == 5
    assert payback_year([-1, 2, -3, 4]) == 3
    assert payback_year([-1, -2]) is None
    assert payback_year([0, 1]) == 0


def test_sensitivity_is_a_recomputation():
    sites, services, decisions, placements, sc = three_sites()
    plan = Plan.from_frames(sites, services, decisions, placements, sc)
    table = sensitivity(plan, FY).set_index("case")
    base = build_schedule(plan, FY)
    # values +20%: only B has a value (500,000, sold in year 0): +100,000 at any rate
    assert table.loc["Values 20% higher", "npv_constant_gbp"] == pytest.approx(base.npv_constant_gbp + 100_000)
    assert table.loc["Values 20% lower", "gross_receipts_gbp"] == pytest.approx(400_000)
    # costs +20%: disposal 10,000 (yr 0), moves 54,000 (yr 0), exit 30,000 (yr 2) -> 20% of them
    extra = 0.2 * (10_000 + 54_000 + 30_000 / 1.1**2)
    assert table.loc["Costs 20% higher", "npv_constant_gbp"] == pytest.approx(base.npv_constant_gbp - extra)
    # and each case equals a schedule of inputs scaled before the plan is built
    s2, p2 = sites.copy(), placements.copy()
    s2["market_value_gbp"] *= 0.8
    s2["disposal_cost_gbp"] = s2["disposal_cost_gbp"] * 1.2
    s2.loc[s2["disposal_cost_gbp"].isna(), "disposal_cost_gbp"] = 0.02 * 1.2 * sites["market_value_gbp"].fillna(0)
    s2["exit_cost_gbp"] *= 1.2
    p2["one_off_gbp"] *= 1.2
    sc2 = dict(sc, fit_out_gbp_per_m2=120, move_gbp_per_fte=1200)
    again = build_schedule(Plan.from_frames(s2, services, decisions, p2, sc2), FY)
    row = table.loc["Values 20% lower and costs 20% higher"]
    assert row["npv_green_book_gbp"] == pytest.approx(again.npv_green_book_gbp, rel=1e-12)
    assert row["npv_constant_gbp"] == pytest.approx(again.npv_constant_gbp, rel=1e-12)
    assert row["net_receipts_gbp"] == pytest.approx(400_000 - 12_000)


def test_financial_year_labels():
    assert financial_year_label(0, 2026) == "2026/27"
    assert financial_year_label(3, 2026) == "2029/30"
    assert financial_year_label(0, 1999) == "1999/00"
    assert current_first_year(dt.date(2026, 3, 31)) == 2025
    assert current_first_year(dt.date(2026, 4, 1)) == 2026
    assert FinanceSettings().first_year == current_first_year()


def test_ope_measures_and_de_minimis():
    sites, services, decisions, placements, sc = three_sites()
    sites.loc[2, "market_value_gbp"] = 8_000  # C: a small receipt
    sch = build_schedule(Plan.from_frames(sites, services, decisions, placements, sc),
                         FinanceSettings(first_financial_year=2026, homes_per_ha=35))
    assert bool(sch.disposals.set_index("site_id").loc["C", "de_minimis"])
    m = ope_measures(sch).set_index("measure")["value"]
    assert m["Capital receipts (gross)"] == 500_000
    assert m["Small receipts below the de minimis"] == 8_000
    assert m["Land released"] == pytest.approx(0.7)
    assert m["Homes the land could take"] == math.floor(0.7 * 35)
    assert m["Running-cost savings a year (all sales complete)"] == 100_000
    assert pd.isna(m["Jobs"])
    sch2 = build_schedule(sch.plan, FinanceSettings(first_financial_year=2026, homes_per_ha=50, jobs=120))
    m2 = ope_measures(sch2).set_index("measure")["value"]
    assert m2["Homes the land could take"] == 35 and m2["Jobs"] == 120


def test_plan_problems_are_gathered():
    sites, services, decisions, placements, sc = three_sites()
    placements.loc[0, "to_site_id"] = "C"  # into a disposed site
    placements.loc[1, "to_site_id"] = "ZZ"  # unknown
    decisions.loc[3] = ["NOPE", "dispose"]
    with pytest.raises(ValidationError) as exc:
        Plan.from_frames(sites, services, decisions, placements, sc)
    codes = {p.code for p in exc.value.report.errors}
    assert {"placed_in_disposed", "unknown_site"} <= codes
    assert "u1" in str(exc.value) and "ZZ" in str(exc.value) and "NOPE" in str(exc.value)
    with pytest.raises(ScenarioError):
        Plan.from_frames(sites, services, decisions.iloc[:3], placements, {"discount_rate": 0.035})
    with pytest.raises(ScenarioError):
        FinanceSettings(max_disposals_per_year=0)
    with pytest.raises(ScenarioError):
        FinanceSettings.from_mapping({"homes_per_hectare": 30})


def test_sale_pushed_past_the_horizon_keeps_its_receipt():
    plan, _ = two_ready_sites()
    plan.horizon_years = 1
    st = FinanceSettings(first_financial_year=2026, max_disposals_per_year=1)
    sch = build_schedule(plan, st)
    d = sch.disposals.set_index("site_id")
    assert d.loc["Q", "sale_year"] == 1 and bool(d.loc["Q", "after_horizon"])
    assert d.loc["Q", "years_saved"] == 0
    assert sch.npv_constant_gbp == pytest.approx(2_000_000 + 10_000 / 1.05 + 1_000_000 / 1.05)


def test_optimiser_output_costs_to_its_own_npv(tmp_path):
    """Through the optimiser (planner.optimise) with pair costs: the schedule at the constant
    rate, no cap, reproduces the NPV the optimiser reports, and so does the independent spec
    objective of the test above."""
    optimise = pytest.importorskip("planner.optimise")
    sites, services, _, _, sc = three_sites()
    sites["capacity_m2"] = [1000, 250, 150]
    sc = dict(sc, max_move_m=100_000)
    pairs = pd.DataFrame({"service_id": ["u1", "u2", "u3"], "site_id": ["A", "A", "A"],
                          "one_off_gbp": [2_000.0, 0.0, 500.0], "annual_gbp": [300.0, 0.0, 100.0],
                          "allowed": ["true", "true", "true"]})
    res = optimise.optimise(sites=sites, services=services, scenario=sc, pair_costs=pairs, out_dir=tmp_path / "run")
    assert res.status == "optimal"
    plan = Plan.from_output_dir(tmp_path / "run", sites=sites, services=services)
    sch = build_schedule(plan, FY)
    # placements.csv holds pennies, so the two agree to a few pennies
    assert sch.npv_constant_gbp == pytest.approx(res.npv_gbp, abs=0.01 * len(plan.moves))
    dec = pd.read_csv(tmp_path / "run" / "site_decisions.csv", dtype=str)[["site_id", "decision"]]
    pl = pd.read_csv(tmp_path / "run" / "placements.csv", dtype=str, keep_default_na=False)
    rows = []
    pair = pairs.set_index("service_id")
    for r in pl.itertuples(index=False):
        listed = r.to_site_id == "A"
        rows.append({"service_id": r.service_id, "from_site_id": r.from_site_id, "to_site_id": r.to_site_id,
                     "pair_one_off": pair.loc[r.service_id, "one_off_gbp"] if listed else 0.0,
                     "annual_gbp": pair.loc[r.service_id, "annual_gbp"] if listed else 0.0})
    expected = independent_spec_objective(sites, services, dec, pd.DataFrame(rows), sc)
    assert res.npv_gbp == pytest.approx(expected, abs=1e-5)
    assert list(plan.moves.set_index("service_id").loc[["u1"], "annual_gbp"]) == pytest.approx([300.0], abs=0.01)
