"""Hand-worked cases, one or more for each rule of ../shared/spec/model.md (version 1), run
through the whole optimiser (frames -> validation -> pairs -> model -> plan). Each expected
value is worked out in the comment above it; the brute-force reading of the spec
(tests/test_optimise_helpers.py) must agree too."""

from __future__ import annotations

import pytest

from tests.test_optimise_helpers import decision, placed, run, site, spec_brute_force, svc


def check(sites, services, expected, zones=None, pairs=None, **scenario):
    plan = run(sites, services, zones=zones, pairs=pairs, **scenario)
    brute = spec_brute_force(sites, services, scenario, zones, pairs)
    if expected is None:
        assert plan.status == "infeasible"
        assert brute is None
        assert plan.npv_gbp is None and plan.site_decisions is None
        return plan
    assert plan.status == "optimal"
    assert plan.npv_gbp == pytest.approx(expected, abs=1e-6)
    assert brute == pytest.approx(expected, abs=1e-6)
    assert plan.bound_gbp == pytest.approx(expected, abs=1e-4)
    return plan


def test_capacity_and_effective_capacity():
    # A (benefit 10 x 100 = 1000) holds a (50 m2); B (10 x 80 = 800) holds b (20 m2); C has
    # 60 m2 free and costs 10 x 500 = 5000 a year to hold (never disposed: its benefit is
    # high, but a and b need it... no: C is empty and disposable with benefit 5000 > 1800,
    # so lock it). Only one of a, b fits into C: dispose A (1000).
    sites = [site("A", running_cost_gbp=100), site("B", running_cost_gbp=80, e=10, cap=20),
             site("C", cap=60, e=20, locked=True)]
    services = [svc("a", "A", space=50), svc("b", "B", space=20)]
    plan = check(sites, services, 1000.0)
    assert decision(plan, "A") == "dispose" and placed(plan, "a") == "C"
    assert decision(plan, "B") == "keep" and "locked" in plan.site_decisions.set_index("site_id").loc["C", "reason"]
    # Effective capacity: D says 10 m2 but holds 30 m2 now - doing nothing stays feasible,
    # and nothing more fits: e (5 m2) cannot move in from E (benefit 10 x 50).
    sites = [site("D", cap=10, locked=True), site("E", running_cost_gbp=50, e=5, cap=5)]
    services = [svc("d", "D", space=30), svc("e", "E", space=5)]
    plan = check(sites, services, 0.0)
    assert decision(plan, "E") == "keep"
    # with capacity 35 the move fits: 500
    sites[0]["capacity_m2"] = 35
    check(sites, services, 500.0)


def test_locked_and_keep_site_ids():
    sites = [site("A", running_cost_gbp=1000), site("B", e=10)]
    services = [svc("a", "A")]
    check(sites, services, 10_000.0)  # moving a costs nothing (f = m = 0)
    sites[0]["locked"] = "yes"
    plan = check(sites, services, 0.0 + 0.0)  # B is empty with benefit 0: nothing to gain
    assert "locked" in plan.site_decisions.set_index("site_id").loc["A", "reason"]
    sites[0]["locked"] = False
    plan = check(sites, services, 0.0, keep_site_ids=["A"])
    assert "keep_site_ids" in plan.site_decisions.set_index("site_id").loc["A", "reason"]


def test_forced_disposal():
    # B costs nothing to run and is worth 0, its exit costs 300: benefit -300. Forced out,
    # b (10 m2, 2 FTE) must move to A: fit-out 10 x 10 + 2 x 100 = 300. NPV -600.
    sites = [site("A"), site("B", e=10, exit_cost_gbp=300)]
    services = [svc("b", "B", fte=2)]
    plan = check(sites, services, -600.0, dispose_site_ids=["B"], fit_out_gbp_per_m2=10, move_gbp_per_fte=100)
    assert decision(plan, "B") == "dispose" and placed(plan, "b") == "A"
    assert "dispose_site_ids" in plan.site_decisions.set_index("site_id").loc["B", "reason"]
    # without the force: keep everything, NPV 0
    check(sites, services, 0.0, fit_out_gbp_per_m2=10, move_gbp_per_fte=100)
    # forced out and forced kept at once: rule 3 cannot hold, so the model is infeasible, and
    # the explanation names the site and both lists
    plan = check(sites, services, None, dispose_site_ids=["B"], keep_site_ids=["B"])
    text = " ".join(f.message for f in plan.findings)
    assert "B" in text and "dispose_site_ids" in text and "keep_site_ids" in text


def test_budget():
    # A: benefit 10 x 100 = 1000; moving a (10 m2) costs 10 x 20 = 200 (+ 24% optimism bias
    # = 248). Budget 247: no move, NPV 0; budget 248: 1000 - 248 = 752.
    sites = [site("A", running_cost_gbp=100), site("B", e=10)]
    services = [svc("a", "A")]
    common = dict(fit_out_gbp_per_m2=20, optimism_bias=0.24)
    check(sites, services, 0.0, capex_budget_gbp=247, **common)
    plan = check(sites, services, 752.0, capex_budget_gbp=248, **common)
    assert plan.totals.iloc[0]["one_off_spend_gbp"] == pytest.approx(248.0)


def test_max_disposals():
    # three empty sites worth 500, 300, 100 (running 50, 30, 10 a year over 10 years)
    sites = [site("A", running_cost_gbp=50), site("B", running_cost_gbp=30), site("C", running_cost_gbp=10)]
    check(sites, [], 900.0)
    plan = check(sites, [], 800.0, max_disposals=2)
    assert decision(plan, "C") == "keep"
    check(sites, [], 0.0, max_disposals=0)


def test_access():
    # Two libraries 1,500 m apart; zone Z1 between them (750 m from each), zone Z2 at 100 m
    # from L2 only. Access 1,000 m. Each library site is worth 1000 (running 100 a year).
    # The library sites take in nothing; O (5 km north) takes offices only.
    sites = [site("L1", running_cost_gbp=100, e=0, can_receive=False),
             site("L2", running_cost_gbp=100, e=1500, can_receive=False),
             site("O", e=750, n=5000, accepts="office")]
    services = [svc("l1", "L1", service_type="library"), svc("l2", "L2", service_type="library")]
    zones = [{"zone_id": "Z1", "population": 100, "easting": 750, "northing": 0},
             {"zone_id": "Z2", "population": 50, "easting": 1600, "northing": 0},
             {"zone_id": "Z3", "population": 0, "easting": -900, "northing": 0}]
    # without the rule: both libraries fit nowhere (O accepts offices only): NPV 0
    check(sites, services, 0.0, zones=zones, access={"library": 1000})
    # let libraries into O (750 m, 5000 m north: too far for Z1/Z2); max move 6 km
    sites[2]["accepts"] = ""
    check(sites, services, 2000.0, zones=zones)  # no rule: both go to O
    # with the rule: Z1 needs a library within 1 km (L1 or L2), Z2 needs L2; dispose L1 only
    plan = check(sites, services, 1000.0, zones=zones, access={"library": 1000})
    assert decision(plan, "L1") == "dispose" and decision(plan, "L2") == "keep"
    assert "needed for access" in plan.site_decisions.set_index("site_id").loc["L2", "reason"]
    # a zone with no library within 1 km today asks for nothing (Z3 has no people anyway)
    zones[1]["easting"] = 3000
    check(sites, services, 1000.0, zones=zones, access={"library": 1000})  # Z1 still needs one


def test_sharing():
    # council service c in council site C (benefit 1000) may move into police site P only if
    # police hosts council.
    sites = [site("C", running_cost_gbp=100), site("P", agency="police", e=10, locked=True)]
    services = [svc("c", "C")]
    check(sites, services, 1000.0)  # no [sharing] table: anyone hosts anyone
    check(sites, services, 0.0, sharing={"police": ["fire"]})
    check(sites, services, 1000.0, sharing={"POLICE": ["Council"]})  # names are not case-sensitive
    check(sites, services, 0.0, sharing={"council": ["police"]})  # council hosts police, not the reverse


def test_accepts_and_can_receive():
    sites = [site("A", running_cost_gbp=100), site("B", e=10, locked=True, accepts="gp; library")]
    services = [svc("a", "A", service_type="office")]
    check(sites, services, 0.0)
    sites[1]["accepts"] = "gp;Office"
    check(sites, services, 1000.0)
    sites[1]["can_receive"] = "no"
    check(sites, services, 0.0)


def test_available_year_discounting():
    # r = 10%, H = 5. Site A: market value 1000, disposal cost 2% (20), available in year 2,
    # running 100 a year, backlog 50:
    # b = 1.1^-2 x 980 + (1.1^-3 + 1.1^-4 + 1.1^-5) x 100 + 50
    b = 980 / 1.1 ** 2 + 100 * (1.1 ** -3 + 1.1 ** -4 + 1.1 ** -5) + 50
    sites = [site("A", market_value_gbp=1000, running_cost_gbp=100, backlog_gbp=50, available_year=2)]
    plan = check(sites, [], b, horizon_years=5, discount_rate=0.1, disposal_cost_rate=0.02)
    assert plan.site_decisions.iloc[0]["benefit_gbp"] == pytest.approx(b, abs=0.01)
    # available in year 5 = H: not disposable
    sites[0]["available_year"] = 5
    plan = check(sites, [], 0.0, horizon_years=5, discount_rate=0.1, disposal_cost_rate=0.02)
    assert "horizon" in plan.site_decisions.iloc[0]["reason"]


def test_leasehold_exit():
    # leasehold: no market value; rent 1000 a year for H = 10 (r = 0): 10,000 saved; exit 5,000
    sites = [site("L", running_cost_gbp=1000, exit_cost_gbp=5000), site("F", e=10, locked=True)]
    services = [svc("u", "L")]
    check(sites, services, 5000.0)
    sites[0]["exit_cost_gbp"] = 12_000  # leaving costs more than it saves: stay
    check(sites, services, 0.0)


def test_pair_costs():
    # A (benefit 1000) holds a; B and C can take it. Pair rows: a->B one-off 100 + 30 a year
    # (x a(0) = 10: 300) = 400; a->C forbidden; staying in A costs 5 a year (50) when listed.
    sites = [site("A", running_cost_gbp=100), site("B", e=10, locked=True), site("C", e=5, locked=True)]
    services = [svc("a", "A")]
    pairs = [{"service_id": "a", "site_id": "B", "one_off_gbp": 100, "annual_gbp": 30, "allowed": True},
             {"service_id": "a", "site_id": "C", "allowed": "false"},
             {"service_id": "a", "site_id": "A", "annual_gbp": 5}]
    plan = check(sites, services, 600.0, pairs=pairs)
    assert placed(plan, "a") == "B"
    row = plan.placements.iloc[0]
    assert row["one_off_gbp"] == pytest.approx(100.0) and row["cost_pv_gbp"] == pytest.approx(400.0)
    # make B dear: one-off 2000 -> staying (cost 50) is best: NPV -50
    pairs[0]["one_off_gbp"] = 2000
    check(sites, services, -50.0, pairs=pairs)


def test_services_that_need_a_home():
    # h needs a home at (0, 0) within 1,000 m: B (500 m, benefit 0) or C (2,000 m: too far).
    # Fit-out 10 x 10 m2 = 100, counted in the budget.
    sites = [site("B", e=500, locked=True), site("C", e=2000, locked=True)]
    services = [svc("h", "", easting=0.0, northing=0.0, max_move_m=1000)]
    plan = check(sites, services, -100.0, fit_out_gbp_per_m2=10)
    assert placed(plan, "h") == "B"
    assert plan.placements.iloc[0]["from_site_id"] == ""
    check(sites, services, None, fit_out_gbp_per_m2=10, capex_budget_gbp=99)
    # no point: any distance; B full, so C (2 km away) must take it
    sites[0]["capacity_m2"] = 5
    services = [svc("h", "", max_move_m=1000)]
    plan = check(sites, services, -100.0, fit_out_gbp_per_m2=10)
    assert placed(plan, "h") == "C"
    # marked not movable: the spec allows it its current site only, and it has none, so no
    # plan exists; the finding's fix is about movable, not about a site it does not have
    services = [svc("h", "", movable=False)]
    plan = check(sites, services, None, fit_out_gbp_per_m2=10)
    text = " ".join(f.message for f in plan.findings)
    assert "h needs a home" in text and "set its movable to true" in text
    assert "dispose_site_ids" not in text


def test_partners_no_worse_off_without_recharge():
    # council service c sits in nhs site N (benefit 1000); moving it to council site C costs
    # council 10 x 30 = 300. Overall +700, but council alone would lose 300.
    sites = [site("N", agency="nhs", running_cost_gbp=100), site("C", e=10, locked=True)]
    services = [svc("c", "N", agency="council")]
    check(sites, services, 700.0, fit_out_gbp_per_m2=30)
    check(sites, services, 0.0, fit_out_gbp_per_m2=30, partner_no_worse_off=True)


def test_partners_no_worse_off_with_recharge():
    # nhs service v leaves nhs site N (benefit 1000) for council site C: nhs pays 300 fit-out
    # and a recharge of R x 10 m2 a year (a(0) = 10): nhs value 1000 - 300 - 100 R.
    sites = [site("N", agency="nhs", running_cost_gbp=100), site("C", e=10, locked=True)]
    services = [svc("v", "N", agency="nhs")]
    common = dict(fit_out_gbp_per_m2=30, partner_no_worse_off=True)
    plan = check(sites, services, 700.0, recharge_gbp_per_m2_year=5, **common)  # nhs +200, council +500
    t = plan.totals.set_index("scope")
    assert t.loc["nhs", "value_with_recharge_gbp"] == pytest.approx(200.0)
    assert t.loc["council", "value_with_recharge_gbp"] == pytest.approx(500.0)
    assert t.loc["all", "recharge_net_pv_gbp"] == pytest.approx(0.0)
    check(sites, services, 700.0, recharge_gbp_per_m2_year=7, **common)  # nhs exactly 0
    check(sites, services, 0.0, recharge_gbp_per_m2_year=8, **common)  # nhs -100: blocked
    check(sites, services, 700.0, recharge_gbp_per_m2_year=8, fit_out_gbp_per_m2=30)  # no rule: no effect
    # recharge lets a host agree: council service c moves into nhs site N2 so that council's
    # site C2 (benefit 400) goes; a staying placement is never recharged.
    sites = [site("C2", running_cost_gbp=40), site("N2", agency="nhs", e=10, locked=True)]
    services = [svc("c", "C2")]
    check(sites, services, 400.0, recharge_gbp_per_m2_year=3, partner_no_worse_off=True)  # council 400 - 300


def test_not_movable_and_max_move():
    sites = [site("A", running_cost_gbp=100), site("B", e=3000, locked=True)]
    services = [svc("a", "A", movable=False)]
    plan = check(sites, services, 0.0)
    assert "cannot move" in plan.site_decisions.set_index("site_id").loc["A", "reason"]
    services = [svc("a", "A", max_move_m=2999)]
    check(sites, services, 0.0)
    services = [svc("a", "A", max_move_m=3000)]  # the limit is inclusive
    check(sites, services, 1000.0)
    services = [svc("a", "A")]
    check(sites, services, 0.0, max_move_m=2500)  # the scenario's limit when the service has none


def test_a_move_that_makes_room_is_explained_as_such():
    # B (benefit 10 x 100 = 1000) holds b, which can reach only A (1 km; C is 3 km away).
    # A is full with a (10 of 10 m2); a can go to C (2 km). Disposing B needs a -> C and b -> A.
    sites = [site("A", cap=10, e=1000, locked=True), site("B", running_cost_gbp=100),
             site("C", cap=10, e=3000, locked=True)]
    services = [svc("a", "A", max_move_m=2000), svc("b", "B", max_move_m=1500)]
    plan = check(sites, services, 1000.0)
    assert placed(plan, "a") == "C" and placed(plan, "b") == "A"
    reasons = plan.placements.set_index("service_id")["reason"]
    assert reasons["a"].startswith("it makes room in A for b"), reasons["a"]
    assert reasons["b"].startswith("its site B is disposed"), reasons["b"]


def test_a_move_forced_by_pair_costs_is_explained_as_such():
    # staying in A costs 500 by the pair-cost table; moving to B costs 0: a moves, A is kept
    sites = [site("A", locked=True), site("B", e=100, locked=True)]
    services = [svc("a", "A")]
    pairs = [{"service_id": "a", "site_id": "A", "one_off_gbp": 500}]
    plan = check(sites, services, 0.0, pairs=pairs)
    assert placed(plan, "a") == "B"
    assert "staying costs £500" in plan.placements.set_index("service_id").loc["a", "reason"]
