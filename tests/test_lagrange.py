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
    monkeypatch.setattr(hd, "_run_mip", lambda m, data, options, limit, start, **k: real_run(m, data, options, 0.01, start, **k))
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


# --- the Lagrangian heuristic (planner.highs_direct.kept_sites, improve_by_relaxation) ---

def _first_plan(d):
    from tests.test_model import feasible_plans

    plan = next(feasible_plans(d), None)
    return None if plan is None else (plan[0].astype(float), plan[1])


@pytest.mark.parametrize("seed", range(30))
def test_kept_sites_give_every_service_and_access_row_a_site_and_room(seed):
    from planner.highs_direct import HEURISTIC_ROOM, kept_sites
    from planner.lagrange import KeptSet
    from planner.model import DISPOSE, KEEP

    rng = np.random.default_rng(8100 + seed)
    d = random_model(rng, ns=int(rng.integers(2, 6)), nu=int(rng.integers(1, 6)))
    plan = _first_plan(d)
    if plan is None:
        return
    keep = rng.random(d.n_sites) < 0.3
    ks = KeptSet(0.0, keep, rng.normal(size=d.n_sites))
    out, made = kept_sites(d, ks, *plan)
    pj, ps = d.pair_site, d.pair_service
    assert not out[d.fixed == DISPOSE].any()
    assert out[d.fixed == KEEP].all()
    assert out[keep & (d.fixed != DISPOSE)].all()  # the relaxation's sites stay
    for u in range(d.n_services):  # every service may go somewhere in the set
        assert out[pj[ps == u]].any()
    for r in range(d.n_cover):  # every access row can be met in the set
        assert out[pj[d.cover_row(r)]].any()
    free_left = ~out & (d.fixed == FREE)
    assert d.capacity[out].sum() >= HEURISTIC_ROOM * d.space.sum() or not free_left.any()
    if made is not None:  # the plan it offers holds every service within the set, by every rule
        assert d.violations(*made) == [] and out[pj[made[1]]].all() and out[made[0] > 0.5].all()
    # without the repair: the relaxation's sites (and those fixed as kept), then room only,
    # and a plan only when every service fits in that set by every rule
    pure, placed = kept_sites(d, ks, *plan, repair=False)
    if placed is not None:
        assert d.violations(*placed) == [] and pure[pj[placed[1]]].all() and pure[placed[0] > 0.5].all()
    base = (keep | (d.fixed == KEEP)) & (d.fixed != DISPOSE)
    assert pure[base].all() and not pure[d.fixed == DISPOSE].any()
    added = pure & ~base
    if added.any():  # only for room, and only the fewest in order of g
        assert d.capacity[base].sum() < HEURISTIC_ROOM * d.space.sum()
        assert d.capacity[pure].sum() - d.capacity[added][np.argmax(ks.g[added])] \
            < HEURISTIC_ROOM * d.space.sum()
        assert ks.g[added].max() <= ks.g[~pure & (d.fixed == FREE)].min(initial=np.inf)


@pytest.mark.parametrize("seed", range(30))
def test_relaxation_heuristic_on_the_optimal_sites_finds_the_brute_force_optimum(seed):
    # given the sites an optimal plan keeps, the restricted solve holds that plan, so from the
    # worst plan the heuristic must reach the brute-force optimum, and never break a rule
    from planner.highs_direct import improve_by_relaxation
    from planner.lagrange import KeptSet
    from planner.model import SolveOptions
    from tests.test_model import feasible_plans, worst_plan

    rng = np.random.default_rng(8300 + seed)
    d = random_model(rng, ns=int(rng.integers(2, 5)), nu=int(rng.integers(1, 5)))
    plans = list(feasible_plans(d))
    if not plans:
        return
    best_y, best_chosen = max(plans, key=lambda p: d.npv(*p))
    best = d.npv(best_y, best_chosen)
    start = worst_plan(d)
    ks = KeptSet(0.0, best_y.astype(bool), np.zeros(d.n_sites))
    y, chosen = improve_by_relaxation(d, build_matrix(d), start[0], start[1], [ks], 10.0, SolveOptions())
    assert d.violations(y, chosen) == []
    assert d.npv(y, chosen) == pytest.approx(best, abs=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_relaxation_heuristic_from_the_lagrangian_never_loses_or_breaks_a_rule(seed):
    from planner.highs_direct import improve_by_relaxation
    from planner.model import SolveOptions
    from tests.test_model import worst_plan

    found = _with_optimum(8500 + seed)
    if found is None:
        return
    d, plan_cost = found
    start = worst_plan(d)
    kept = []
    lagrangian_bound(d, plan_cost + 1.0, seconds=1.0, kept=kept)
    assert kept and all(a.value < b.value for a, b in itertools.pairwise(kept))  # each a new best
    y, chosen = improve_by_relaxation(d, build_matrix(d), start[0], start[1], kept, 10.0, SolveOptions())
    assert d.violations(y, chosen) == []
    assert d.npv(y, chosen) >= d.npv(*start) - 1e-9
    assert d.npv(y, chosen) <= float(d.benefit.sum()) - plan_cost + 1e-6  # never above the optimum


def test_relaxation_heuristic_beats_a_poor_start_on_a_single_source_instance():
    # 10 facilities x 40 customers: from the planner's greedy start (8 facilities kept, cost
    # 1,232 against the optimum's 1,075: 14.6% above), the sets the Lagrangian keeps lead to a
    # plan within 2% of HiGHS's proven optimum
    from planner.highs_direct import improve_by_relaxation, solve_highs
    from planner.model import OPTIMAL, SolveOptions
    from tests.test_model import _sscflp

    d = _sscflp(np.random.default_rng(21), 10, 40)
    exact = solve_highs(d)
    assert exact.status == OPTIMAL
    m = build_matrix(d)
    start = d.best_start()
    total = float(d.benefit.sum())
    assert total - d.npv(*start) > 1.1 * (total - exact.npv_gbp)  # room to improve
    kept = []
    lagrangian_bound(d, total - d.npv(*start), seconds=2.0, kept=kept)
    y, chosen = improve_by_relaxation(d, m, start[0], start[1], kept, 20.0, SolveOptions(threads=1))
    assert d.violations(y, chosen) == []
    cost, best_cost = total - d.npv(y, chosen), total - exact.npv_gbp
    assert best_cost - 1e-6 <= cost <= 1.02 * best_cost


@pytest.mark.parametrize("dense", [True, False])
def test_large_part_runs_the_relaxation_heuristic_only_where_services_reach_many_sites(monkeypatch, dense):
    # a 12 x 40 single-source part treated as large (searches under a time limit), below the
    # Lagrangian-bound size: the heuristic runs when every customer may go to every facility,
    # and its plan is the searches' start; with each customer limited to 2 of 12 facilities
    # (reach 1/6, under HEURISTIC_MIN_REACH) it does not run
    import planner.highs_direct as hd
    from planner.model import SolveOptions
    from tests.test_model import _sscflp

    rng = np.random.default_rng(31)
    d = _sscflp(rng, 12, 40)
    if not dense:
        keep = np.zeros(d.n_pairs, dtype=bool)
        for u in range(d.n_services):
            mine = np.nonzero(d.pair_service == u)[0]
            keep[rng.choice(mine, size=2, replace=False)] = True
        p = np.nonzero(keep)[0]
        d = d.subset(np.arange(d.n_sites), np.arange(d.n_services), p, np.zeros(0, dtype=np.int64))
        assert d.n_pairs / (d.n_sites * d.n_services) < hd.HEURISTIC_MIN_REACH
    calls, handed = [], []
    real, real_plan = hd.improve_by_relaxation, hd.improve_plan

    def spy(data, m, y, chosen, kept, seconds, options, **k):
        out = real(data, m, y, chosen, kept, seconds, options, **k)
        calls.append((data, y, chosen, list(kept), out))
        return out

    def spy_plan(data, m, y, chosen, *a, **k):
        handed.append((y, chosen))
        return real_plan(data, m, y, chosen, *a, **k)

    monkeypatch.setattr(hd, "LNS_MIN_PAIRS", 10)
    monkeypatch.setattr(hd, "LNS_PROBE_S", 0.01)
    monkeypatch.setattr(hd, "improve_by_relaxation", spy)
    monkeypatch.setattr(hd, "improve_plan", spy_plan)
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=6.0, threads=1))
    assert d.violations(sol.y, sol.chosen) == []
    if not dense:
        assert calls == []
        return
    assert len(calls) == 1
    data, y0, c0, kept, (y1, c1) = calls[0]
    assert kept and all(k.keep.dtype == bool and k.keep.size == d.n_sites for k in kept)
    assert data.violations(y1, c1) == [] and data.npv(y1, c1) >= data.npv(y0, c0) - 1e-9
    assert handed and np.array_equal(handed[0][1], c1)  # the searches start from its plan
    assert sol.npv_gbp >= data.npv(y1, c1) - 1e-6


def test_kept_sites_places_every_service_in_the_relaxations_set_by_hand():
    # three sites of 10 m2; u1 (4 m2, at B) and u2 (5 m2, at C) may go anywhere, at a cost of
    # 1 to A and 2 elsewhere. The relaxation keeps A alone: without the repair both go to A
    # (9 m2 <= 10) and B and C are disposed; when A has 8 m2, B joins for room (next by g)
    # and the larger service goes first, to A, the other to B
    from planner.highs_direct import kept_sites
    from planner.lagrange import KeptSet

    def model(cap_a):
        sites = [dict(id="A", benefit=5.0, capacity=cap_a), dict(id="B", benefit=5.0, capacity=10.0),
                 dict(id="C", benefit=5.0, capacity=10.0)]
        services = [dict(id="u1", space=4.0), dict(id="u2", space=5.0)]
        pairs = [dict(service=u, site=s, cost=1.0 if s == "A" else 2.0)
                 for u in ("u1", "u2") for s in ("A", "B", "C")]
        return ModelData.from_lists(sites, services, pairs)

    d = model(10.0)
    plan = (np.ones(3), np.array([1, 5]))  # u1 at B, u2 at C, everything kept
    assert d.violations(*plan) == []
    ks = KeptSet(0.0, np.array([True, False, False]), np.array([-1.0, 1.0, 2.0]))
    keep, placed = kept_sites(d, ks, *plan, repair=False)
    assert keep.tolist() == [True, False, False]  # 10 m2 >= 1.05 x 9 m2 needs no more room
    assert placed is not None
    assert placed[0].tolist() == [1.0, 0.0, 0.0]
    assert d.pair_site[placed[1]].tolist() == [0, 0]
    d = model(8.0)
    keep, placed = kept_sites(d, ks, *plan, repair=False)
    assert keep.tolist() == [True, True, False]  # B (next by g) added for room: 18 >= 9.45
    assert placed is not None and d.violations(*placed) == []
    assert d.pair_site[placed[1]].tolist() == [1, 0]  # u2 (larger) first to A, then u1 to B


class _StopAfter:
    """Stands in for the threading.Event that HiGHS beside the searches sets when it stops:
    reads as set from its ``n``-th check on."""

    def __init__(self, n: int):
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > self.n


def test_the_bound_stops_once_highs_beside_it_has_stopped():
    from tests.test_model import _sscflp

    d = _sscflp(np.random.default_rng(11), 12, 60)
    plan_cost = float(d.benefit.sum() + d.pair_cost.max() * d.n_services)  # a plan far above
    # without a stop it takes many steps; with one, the steps made before it was set, and the
    # same value as a run cut to that many steps
    free = lagrangian_bound(d, plan_cost, seconds=60.0, max_iterations=200)
    assert free.iterations == 200
    stopped = lagrangian_bound(d, plan_cost, seconds=60.0, max_iterations=200, stop=_StopAfter(7))
    cut = lagrangian_bound(d, plan_cost, seconds=60.0, max_iterations=7)
    assert stopped.iterations == 7
    assert stopped.bound_cost == pytest.approx(cut.bound_cost)
    assert lagrangian_bound(d, plan_cost, seconds=60.0, stop=_StopAfter(0)) is None
    # the best of two starts does not begin its second start once stopped
    stop = _StopAfter(3)
    both = best_lagrangian_bound(d, plan_cost, 60.0, lp_mult=_lp(d, True)[1], stop=stop)
    assert both.iterations == 3 and stop.checks == 5  # 3 steps, the check that ended them, one before the second


def test_the_side_by_side_run_hands_the_bound_the_stop_highs_sets(monkeypatch):
    # the Lagrangian beside HiGHS is given the searches' stopper, which HiGHS stops when done
    import planner.highs_direct as hd
    from planner.model import SolveOptions
    from tests.test_model import _sscflp

    d = _sscflp(np.random.default_rng(12), 10, 40)
    seen = []
    real = hd.best_lagrangian_bound

    def spy(*a, **k):
        stop = a[5] if len(a) > 5 else k.get("stop")
        seen.append(stop)
        return real(*a, **k)

    monkeypatch.setattr(hd, "best_lagrangian_bound", spy)
    monkeypatch.setattr(hd, "LAGRANGE_MIN_PAIRS", 1)  # the Lagrangian for every part
    start = d.best_start()
    m = build_matrix(d)
    hd._solve_beside(d, m, SolveOptions(), 20.0, start, None, None)
    assert len(seen) == 1 and isinstance(seen[0], hd.HighsStopper) and seen[0].is_set()
