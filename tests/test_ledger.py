"""Partner ledger: sums, cost shunting, balancing transfers, the optimiser's partner rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.finance import FinanceSettings, Plan, build_schedule
from planner.ledger import TOL_GBP, balancing_transfers, build_ledger, ledger_frame, rule7_values
from tests.test_finance import random_plan, three_sites

FY = FinanceSettings(first_financial_year=2026)


def test_three_site_ledger_by_hand():
    """The three-site example (see tests/test_finance.three_sites), H = 5, r = 10%:
    nhs:    receipt 490,000 (yr 0) + backlog 20,000 + 40,000 a year (yrs 1-5) - move 36,000
            - recharge 2,000 a year (yrs 1-5) to the council
    police: exit -30,000 (yr 2) + 60,000 a year (yrs 3-5) - move 18,000 - recharge 1,000 a year
    council: + 3,000 a year of recharges (yrs 1-5)."""
    plan = Plan.from_frames(*three_sites())
    sch = build_schedule(plan, FY)
    led = build_ledger(sch).agencies.set_index("agency")
    a0 = sum(1.1**-t for t in range(1, 6))
    a2 = sum(1.1**-t for t in range(3, 6))
    nhs = 490_000 + 20_000 + 40_000 * a0 - 36_000 - 2_000 * a0
    police = -30_000 / 1.1**2 + 60_000 * a2 - 18_000 - 1_000 * a0
    council = 3_000 * a0
    assert led.loc["nhs", "npv_constant_gbp"] == pytest.approx(nhs, rel=1e-12)
    assert led.loc["police", "npv_constant_gbp"] == pytest.approx(police, rel=1e-12)
    assert led.loc["council", "npv_constant_gbp"] == pytest.approx(council, rel=1e-12)
    # with no cap the schedule's constant-rate values are the spec's rule 7 values
    r7 = rule7_values(plan)
    for ag, v in (("nhs", nhs), ("police", police), ("council", council)):
        assert r7[ag] == pytest.approx(v, rel=1e-12)
    assert led.loc["council", "recharges_received_gbp_per_year"] == 3_000
    assert led.loc["nhs", "recharges_paid_gbp"] == 10_000
    assert led.loc["police", "exit_costs_gbp"] == 30_000
    assert led.loc["nhs", "one_off_spend_gbp"] == 36_000


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_ledger_sums_equal_the_plan_totals(seed):
    rng = np.random.default_rng(seed)
    sites, svc, decisions, kept = random_plan(rng, n_sites=10, n_services=15)
    dec = dict(zip(decisions["site_id"], decisions["decision"], strict=True))
    to = [u if dec[u] == "keep" else str(rng.choice(kept)) for u in svc["site_id"]]
    placements = pd.DataFrame({"service_id": svc["service_id"], "from_site_id": svc["site_id"], "to_site_id": to})
    sc = dict(horizon_years=25, discount_rate=0.035, optimism_bias=0.24, fit_out_gbp_per_m2=750,
              move_gbp_per_fte=1000, disposal_cost_rate=0.02, recharge_gbp_per_m2_year=40)
    plan = Plan.from_frames(sites, svc, decisions, placements, sc)
    sch = build_schedule(plan, FinanceSettings(first_financial_year=2026, max_disposals_per_year=2))
    led = build_ledger(sch).agencies
    t = sch.totals
    assert led["gross_receipts_gbp"].sum() == pytest.approx(t["gross_receipts_gbp"])
    assert led["net_receipts_gbp"].sum() == pytest.approx(t["net_receipts_gbp"])
    assert led["running_cost_saved_gbp"].sum() == pytest.approx(t["running_cost_saved_gbp"])
    assert led["one_off_spend_gbp"].sum() == pytest.approx(plan.moves["one_off_gbp"].sum())
    assert led["recharges_paid_gbp"].sum() == pytest.approx(led["recharges_received_gbp"].sum())
    assert led["npv_green_book_gbp"].sum() == pytest.approx(sch.npv_green_book_gbp, rel=1e-11)
    assert led["npv_constant_gbp"].sum() == pytest.approx(sch.npv_constant_gbp, rel=1e-11)
    assert led["net_cash_flow_gbp"].sum() == pytest.approx(t["net_cash_flow_gbp"])
    frame = ledger_frame(build_ledger(sch))
    total = frame.set_index("agency").loc["Total"]
    assert total["npv_green_book_gbp"] == pytest.approx(sch.npv_green_book_gbp, rel=1e-11)


def shunting_plan():
    """The council's office (400 m2, 20 FTE) sits in the NHS's clinic N; the plan moves it to
    the council's hub K and sells N: the council pays fit-out 400 x 750 and moves 20 x 1,000
    (£320,000 with no optimism bias) while the NHS gets N's £900,000 and £60,000 a year."""
    sites = pd.DataFrame([dict(site_id="K", agency="council", capacity_m2=2000),
                          dict(site_id="N", agency="nhs", market_value_gbp=900_000, disposal_cost_gbp=0,
                               running_cost_gbp=60_000)])
    services = pd.DataFrame([dict(service_id="off", site_id="N", agency="council", space_m2=400, fte=20)])
    decisions = pd.DataFrame({"site_id": ["K", "N"], "decision": ["keep", "dispose"]})
    placements = pd.DataFrame({"service_id": ["off"], "from_site_id": ["N"], "to_site_id": ["K"]})
    sc = dict(horizon_years=10, discount_rate=0.035, fit_out_gbp_per_m2=750, move_gbp_per_fte=1000)
    return Plan.from_frames(sites, services, decisions, placements, sc)


def test_cost_shunting_is_visible_and_transfers_balance_it():
    sch = build_schedule(shunting_plan(), FY)
    led = build_ledger(sch)
    sh = led.shunting
    assert len(sh) == 1
    row = sh.iloc[0]
    assert (row["paying_agency"], row["benefiting_agency"], row["from_site_id"]) == ("council", "nhs", "N")
    assert row["one_off_paid_gbp"] == 320_000
    ag = led.agencies.set_index("agency")
    assert ag.loc["council", "npv_green_book_gbp"] == pytest.approx(-320_000)
    nhs = 900_000 + 60_000 * sum(1.035**-t for t in range(1, 11))
    assert ag.loc["nhs", "npv_green_book_gbp"] == pytest.approx(nhs)
    # the NHS makes the council whole: one transfer of 320,000
    tr = led.transfers
    assert len(tr) == 1 and tuple(tr.iloc[0][["payer", "payee"]]) == ("nhs", "council")
    assert tr.iloc[0]["amount_gbp"] == pytest.approx(320_000)
    bal = led.balance.set_index("agency")
    assert bal.loc["council", "npv_after_gbp"] == pytest.approx(0, abs=1e-6)
    assert bal.loc["nhs", "npv_after_gbp"] == pytest.approx(nhs - 320_000)
    assert not bal.loc["council", "meets_rule7"]  # the optimiser's rule 7 would refuse this plan
    assert "council" in led.message and "rule 7" in led.message


def test_balancing_transfers_by_hand():
    """a gains 100, c gains 50, b loses 30: a pays 30 x 100/150 = 20, c pays 10."""
    tr, net, ok = balancing_transfers({"a": 100.0, "b": -30.0, "c": 50.0})
    assert ok
    amounts = {(r.payer, r.payee): r.amount_gbp for r in tr.itertuples()}
    assert amounts == pytest.approx({("a", "b"): 20.0, ("c", "b"): 10.0})
    assert net == pytest.approx({"a": -20.0, "b": 30.0, "c": -10.0})
    tr, net, ok = balancing_transfers({"a": 10.0, "b": -30.0})
    assert not ok and tr.empty and net == {"a": 0.0, "b": 0.0}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["council", "nhs", "police", "fire", "dwp", "university"]),
                       st.floats(min_value=-1e8, max_value=1e8, allow_nan=False), min_size=1))
def test_balancing_transfers_leave_every_partner_no_worse_off(values):
    tr, net, ok = balancing_transfers(values)
    material = sum(v for v in values.values() if abs(v) > TOL_GBP)  # amounts under half a penny are ignored
    assert sum(net.values()) == pytest.approx(0.0, abs=1e-6)
    if material >= 0:
        assert ok
        for a, v in values.items():
            assert v + net[a] >= -TOL_GBP - 1e-9 * abs(v)  # losses under half a penny are ignored
            if v > 0:
                assert net[a] <= 1e-9  # a gainer only ever pays
        assert (tr["amount_gbp"] >= 0).all() if len(tr) else True
    if material < -TOL_GBP:
        assert not ok


def test_rule7_on_and_holding_is_reported():
    sites, services, decisions, placements, sc = three_sites(partner_no_worse_off=True)
    led = build_ledger(build_schedule(Plan.from_frames(sites, services, decisions, placements, sc), FY))
    assert led.balance["meets_rule7"].all()
    assert "was on and holds" in led.message
    assert led.transfers.empty
