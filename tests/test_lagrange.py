"""The Lagrangian bound (planner.lagrange): the knapsacks against enumeration, the bound
against brute-force optima, and a hand-worked case where it beats the LP relaxation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from planner.highs_direct import _highs, build_matrix, lp_duals
from planner.lagrange import (
    KNAP_UNITS,
    best_lagrangian_bound,
    fractional_knapsacks,
    knapsacks,
    lagrangian_bound,
)
from planner.model import FREE, ModelData
from tests.test_model import brute_force, random_model


@pytest.mark.parametrize("seed", range(12))
def test_knapsacks_match_enumeration(seed):
    # capacities of KNAP_UNITS m2 and whole-m2 spaces: the rounding is exact, so each
    # site's K must be the least total over every set of its pairs that fits
    rng = np.random.default_rng(seed)
    ns, nu = 3, 9
    sites = [dict(id=f"S{j}", benefit=1.0, capacity=float(KNAP_UNITS)) for j in range(ns)]
    services = [dict(id=f"U{u}", space=float(rng.integers(10, 120))) for u in range(nu)]
    pairs = [dict(service=f"U{u}", site=f"S{j}", cost=0.0) for u in range(nu) for j in range(ns)
             if rng.random() < 0.8]
    d = ModelData.from_lists(sites, services, pairs)
    rc = rng.normal(0, 10, d.n_pairs)
    K, x = knapsacks(d, rc)
    for j in range(ns):
        mine = np.nonzero(d.pair_site == j)[0]
        best = 0.0
        for k in range(1, mine.size + 1):
            for sub in itertools.combinations(mine, k):
                sub = list(sub)
                if d.space[d.pair_service[sub]].sum() <= KNAP_UNITS:
                    best = min(best, rc[sub].sum())
        assert K[j] == pytest.approx(best, abs=1e-9)
        taken = mine[x[mine]]
        assert rc[taken].sum() == pytest.approx(best, abs=1e-9)
        assert d.space[d.pair_service[taken]].sum() <= KNAP_UNITS


@pytest.mark.parametrize("seed", range(12))
def test_fractional_knapsacks_match_the_lp_and_stay_below_the_integer_knapsack(seed):
    from scipy.optimize import linprog

    rng = np.random.default_rng(700 + seed)
    ns, nu = 3, 8
    sites = [dict(id=f"S{j}", benefit=1.0, capacity=float(rng.uniform(5, 40))) for j in range(ns)]
    services = [dict(id=f"U{u}", space=float(rng.uniform(1, 20))) for u in range(nu)]
    pairs = [dict(service=f"U{u}", site=f"S{j}", cost=0.0) for u in range(nu) for j in range(ns)
             if rng.random() < 0.8]
    d = ModelData.from_lists(sites, services, pairs)
    rc = rng.normal(-2, 10, d.n_pairs)
    K = fractional_knapsacks(d, rc)
    for j in range(ns):
        mine = np.nonzero(d.pair_site == j)[0]
        w = d.space[d.pair_service[mine]]
        # the pairs too large for the site cannot be taken even in part
        res = linprog(rc[mine], A_ub=w[None, :], b_ub=[d.capacity[j]],
                      bounds=[(0, 1 if wi <= d.capacity[j] else 0) for wi in w], method="highs")
        assert res.status == 0
        assert K[j] == pytest.approx(min(0.0, res.fun), abs=1e-7)
        best = 0.0
        for k in range(1, mine.size + 1):
            for sub in itertools.combinations(range(mine.size), k):
                if w[list(sub)].sum() <= d.capacity[j]:
                    best = min(best, rc[mine[list(sub)]].sum())
        assert K[j] <= best + 1e-9


def _lp(d: ModelData, strong: bool):
    """(value, duals as multipliers) of the LP relaxation, strong (x <= y) or weak."""
    import highspy

    from planner.model import SolveOptions

    m = build_matrix(d, strong_link=strong)
    h = _highs(m, SolveOptions())
    h.setOptionValue("solve_relaxation", True)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None, None
    return float(h.getInfo().objective_function_value), lp_duals(m, d, np.asarray(h.getSolution().row_dual))


@pytest.mark.parametrize("seed", range(40))
def test_lagrangian_at_the_lp_duals_is_never_below_the_lp(seed):
    # weak duality says nothing about where the steps start; with the LP's duals (the signs of
    # every relaxed row: assignment, access, budget, room) the first value is already the LP's
    # value or better, for the strong and the weak LP alike. A sign slip on any row breaks it.
    rng = np.random.default_rng(5100 + seed)
    d = random_model(rng, ns=int(rng.integers(2, 6)), nu=int(rng.integers(1, 7)))
    d.partner = False
    for strong in (True, False):
        lp, mult = _lp(d, strong)
        if lp is None:
            continue
        r = lagrangian_bound(d, lp + 1000.0, seconds=5.0, max_iterations=1, start=mult)
        assert r.bound_cost >= lp - 1e-6 * max(1.0, abs(lp))


def _with_optimum(seed: int):
    """A random model (no partner rule) and the cost of its brute-force optimum, or None."""
    rng = np.random.default_rng(seed)
    d = random_model(rng, ns=int(rng.integers(2, 5)), nu=int(rng.integers(1, 5)))
    d.partner = False
    best = brute_force(d)
    return None if best is None else (d, float(d.benefit.sum()) - best)


@pytest.mark.parametrize("seed", range(30))
def test_bound_from_the_lp_duals_is_never_above_the_optimum(seed):
    found = _with_optimum(6100 + seed)
    if found is None:
        return
    d, plan_cost = found
    lp, mult = _lp(d, strong=bool(seed % 2))
    if lp is None:
        return
    r = best_lagrangian_bound(d, plan_cost + abs(plan_cost) * 0.1 + 1.0, 1.0, mult)
    assert r is not None
    assert lp - 1e-6 * max(1.0, abs(lp)) <= r.bound_cost <= plan_cost + 1e-6


@pytest.mark.parametrize("seed", range(40))
def test_bound_is_never_above_the_optimum(seed):
    found = _with_optimum(4000 + seed)
    if found is None:
        return
    d, plan_cost = found
    total = float(d.benefit.sum())
    best = total - plan_cost
    r = lagrangian_bound(d, plan_cost + abs(plan_cost) * 0.1 + 1.0, seconds=2.0)
    assert r is not None
    # a lower bound on the cost is an upper bound on the NPV
    assert total - r.bound_cost >= best - 1e-6


def test_bound_closes_the_gap_the_lp_leaves_when_services_cannot_share_a_site():
    # two sites of 10 m2 costing 100 to keep, two services of 6 m2 that may go to either:
    # both sites must be kept (cost 200). The LP keeps 0.6 of each (cost 120); each site's
    # knapsack takes one service only, so the Lagrangian bound reaches 200.
    sites = [dict(id=s, benefit=100.0, capacity=10.0) for s in ("A", "B")]
    services = [dict(id=u, space=6.0) for u in ("u1", "u2")]
    pairs = [dict(service=u, site=s, cost=0.0) for u in ("u1", "u2") for s in ("A", "B")]
    d = ModelData.from_lists(sites, services, pairs)
    assert (d.fixed == FREE).all()
    import highspy

    from planner.highs_direct import _highs
    from planner.model import SolveOptions

    h = _highs(build_matrix(d), SolveOptions())
    h.setOptionValue("solve_relaxation", True)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    lp = float(h.getInfo().objective_function_value)
    assert lp == pytest.approx(120.0, abs=1e-6)
    r = lagrangian_bound(d, 200.0, seconds=5.0)
    assert r.bound_cost == pytest.approx(200.0, rel=1e-3)
    assert r.bound_cost <= 200.0 + 1e-6


def test_no_bound_with_the_partner_rule():
    rng = np.random.default_rng(3)
    d = random_model(rng, ns=3, nu=3)
    d.partner = True
    assert lagrangian_bound(d, 0.0, seconds=0.5) is None


def test_large_part_reports_the_lagrangian_bound_when_it_is_better(monkeypatch):
    import planner.highs_direct as hd
    from planner.model import OPTIMAL, SolveOptions
    from tests.test_model import _sscflp

    d = _sscflp(np.random.default_rng(5), 12, 40)
    exact = hd.solve_highs(d)
    assert exact.status == OPTIMAL
    best_cost = float(d.benefit.sum()) - exact.npv_gbp
    seen = []
    import planner.lagrange as lg

    real = lg.lagrangian_bound

    starts = []

    def spy(*a, **k):
        out = real(*a, **k)
        seen.append(out)
        starts.append(k.get("start"))
        return out

    # treat this small part as one too large for HiGHS's root, and give HiGHS almost no time
    monkeypatch.setattr(hd, "LNS_MIN_PAIRS", 10)
    monkeypatch.setattr(hd, "LP_STRONG_MAX_PAIRS", 10)
    monkeypatch.setattr(hd, "LAGRANGE_MIN_PAIRS", 10)
    monkeypatch.setattr(hd, "LP_ORDER_MIN_PAIRS", 10)
    monkeypatch.setattr(hd, "LAGRANGE_SHARE", 0.9)
    monkeypatch.setattr(lg, "lagrangian_bound", spy)
    real_run = hd._run_mip
    monkeypatch.setattr(hd, "_run_mip", lambda m, data, options, limit, start: real_run(m, data, options, 0.01, start))
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=4.0, threads=1))
    assert seen and seen[0] is not None
    assert starts[0] is not None  # from the LP relaxation's duals first
    total = float(d.benefit.sum())
    assert sol.status in ("feasible", "optimal")
    assert d.violations(sol.y, sol.chosen) == []
    # the reported bound is at least as tight as the Lagrangian one, and still a bound
    assert seen[0].bound_cost <= best_cost + 1e-6
    assert sol.bound_gbp <= total - seen[0].bound_cost + 1e-6
    assert sol.bound_gbp >= exact.npv_gbp - 1e-6
