"""HiGHS and the searches side by side (planner.highs_direct._solve_beside and SharedPlan), the
aggregated linking rows HiGHS runs there, and the largest part given every thread: the same
optima as the strong model and brute force, plans passed both ways through HiGHS's callbacks,
and never a plan worse than one the searches found."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import planner.highs_direct as hd
from planner.highs_direct import SharedPlan, _highs, _plan_vector, _run_mip, build_matrix
from planner.model import (
    FEASIBLE,
    FREE,
    INFEASIBLE,
    NO_SOLUTION,
    OPTIMAL,
    SolveOptions,
    read_highs_status,
)
from tests.test_model import _sscflp, brute_force, feasible_plans, random_model


def _mip(d, link, relax=False):
    """(status, cost) of the model with the given linking rows, by HiGHS."""
    h = _highs(build_matrix(d, strong_link=link), SolveOptions())
    if relax:
        h.setOptionValue("solve_relaxation", True)
    h.run()
    status, _bound, _msg = read_highs_status(h)
    return status, (float(h.getInfo().objective_function_value) if status == OPTIMAL else None)


@pytest.mark.parametrize("seed", range(40))
def test_aggregate_linking_keeps_every_plan_and_only_weakens_the_lp(seed):
    # the capacity row of every free site that can receive (sum of space x <= capacity y) stands
    # in for x <= y wherever the service takes space: the same plans, so the same optimum as the
    # strong model and brute force (with services of no space, which keep their x <= y rows, the
    # access rows, budgets, disposal limits, fixed sites and the partner rule); its LP lies
    # between the weak LP (no linking) and the strong LP
    rng = np.random.default_rng(7300 + seed)
    d = random_model(rng, ns=int(rng.integers(2, 5)), nu=int(rng.integers(1, 5)))
    if seed % 3 == 0:
        d.space[rng.random(d.n_services) < 0.5] = 0.0
    best = brute_force(d)
    total = float(d.benefit.sum())
    for link in (True, "aggregate"):
        status, cost = _mip(d, link)
        if best is None:
            assert status == INFEASIBLE
        else:
            assert status == OPTIMAL
            assert total - cost == pytest.approx(best, abs=1e-6)
    s_weak, weak = _mip(d, False, relax=True)
    s_agg, agg = _mip(d, "aggregate", relax=True)
    s_strong, strong = _mip(d, True, relax=True)
    # each relaxation holds the next one's points: weak >= aggregate >= strong
    if s_strong == OPTIMAL:
        assert s_agg == OPTIMAL and agg <= strong + 1e-6
    if s_agg == OPTIMAL:
        assert s_weak == OPTIMAL and weak <= agg + 1e-6


def test_aggregate_linking_drops_the_pair_rows_where_a_capacity_row_links():
    # three sites of room 10: F0 is kept (no link needed), F1 and F2 are free. C0 (space 4)
    # and C1 (space 0) may go to every site. Strong: a capacity row only where the load can
    # overflow (none here: 4 <= 10) and x <= y for the 4 pairs at F1, F2. Aggregate: capacity
    # rows at F1 and F2 and x <= y for C1's 2 pairs there only.
    from planner.model import KEEP, ModelData

    sites = [dict(id=f"F{i}", benefit=10.0, capacity=10.0, fixed=KEEP if i == 0 else FREE) for i in range(3)]
    services = [dict(id="C0", space=4.0), dict(id="C1", space=0.0)]
    pairs = [dict(service=f"C{u}", site=f"F{i}", cost=1.0) for u in range(2) for i in range(3)]
    d = ModelData.from_lists(sites, services, pairs)
    strong = build_matrix(d)
    agg = build_matrix(d, strong_link="aggregate")
    n_fixed = 2 + 1  # assignment rows, the room row
    assert strong.A.shape[0] == n_fixed + 4
    assert agg.A.shape[0] == n_fixed + 2 + 2
    rows = agg.A.toarray()
    f1 = [r for r in rows if r[1] == -10.0]
    assert len(f1) == 1 and f1[0][3 + 1] == 4.0  # 4 x(C0, F1) - 10 y(F1) <= 0
    assert all(r[3 + 4] == 0.0 for r in f1)  # C1 takes no room: not in the capacity row


def _plans_by_value(d):
    plans = sorted(feasible_plans(d), key=lambda p: d.npv(*p))
    return [(p[0].astype(float), p[1]) for p in plans]


def _some_model(seed):
    for k in range(200):
        rng = np.random.default_rng(seed * 1000 + k)
        d = random_model(rng, ns=3, nu=4)
        plans = _plans_by_value(d)
        if len(plans) >= 3 and d.npv(*plans[0]) < d.npv(*plans[-1]) - 1e-6:
            return d, plans
    raise AssertionError("no model with three plans of different values")


@pytest.mark.parametrize("seed", range(10))
def test_shared_plan_keeps_the_best_checked_plan(seed):
    d, plans = _some_model(seed)
    worst, best = plans[0], plans[-1]
    total = float(d.benefit.sum())
    shared = SharedPlan(d, *worst)
    assert shared.offer(*best) is True
    assert shared.offer(*worst) is False
    assert d.npv(*shared.best()) == pytest.approx(d.npv(*best))
    # HiGHS's plans: a worse one is ignored, a better one is checked and kept
    shared = SharedPlan(d, *plans[1])
    shared.from_highs(_plan_vector(d, *worst), total - d.npv(*worst))
    assert d.npv(*shared.best()) == pytest.approx(d.npv(*plans[1]))
    shared.from_highs(np.concatenate([_plan_vector(d, *best), [0.0, 0.0]]), total - d.npv(*best))
    y, chosen = shared.best()
    assert d.npv(y, chosen) == pytest.approx(d.npv(*best)) and d.violations(y, chosen) == []


def test_shared_plan_drops_a_highs_plan_that_breaks_a_rule():
    d, plans = _some_model(3)
    shared = SharedPlan(d, *plans[0])
    bad = np.zeros(d.n_sites + d.n_pairs)  # every site disposed and no service placed
    shared.from_highs(bad, -1e12)  # claims to be far better than anything
    y, chosen = shared.best()
    assert d.npv(y, chosen) == pytest.approx(d.npv(*plans[0])) and d.violations(y, chosen) == []
    # and the searches' plans are compared with the checked plan again, not with the bad one
    assert shared.offer(*plans[-1]) is True
    assert d.npv(*shared.best()) == pytest.approx(d.npv(*plans[-1]))


def test_shared_plan_hands_highs_only_a_better_plan_and_once():
    d, plans = _some_model(5)
    total = float(d.benefit.sum())
    worst, best = plans[0], plans[-1]
    shared = SharedPlan(d, *worst)
    assert shared.for_highs(total - d.npv(*worst)) is None  # HiGHS has it already (its start)
    shared.offer(*best)
    given = shared.for_highs(total - d.npv(*worst))
    assert given is not None and np.array_equal(given, _plan_vector(d, *best))
    assert shared.for_highs(total - d.npv(*worst)) is None  # handed over already
    shared2 = SharedPlan(d, *worst)
    shared2.offer(*best)
    assert shared2.for_highs(total - d.npv(*best)) is None  # HiGHS's own is as good


def _greedy_and_optimum(seed):
    d = _sscflp(np.random.default_rng(seed), 8, 30)
    exact = hd.solve_highs(d)
    assert exact.status == OPTIMAL
    return d, d.best_start(None), exact


@pytest.mark.parametrize("seed", range(3))
def test_highs_takes_the_searches_plan_through_its_callback(seed):
    d, start, exact = _greedy_and_optimum(40 + seed)
    total = float(d.benefit.sum())
    assert d.npv(*start) < exact.npv_gbp - 1e-6
    shared = SharedPlan(d, *start)
    assert shared.offer(exact.y.astype(float), exact.chosen)
    m = build_matrix(d, strong_link="aggregate")
    status, _bound, y, x, *_ = _run_mip(m, d, SolveOptions(threads=1), 30.0, start, shared)
    assert status == OPTIMAL
    # HiGHS asked for a plan and was given the optimum (its cost is what HiGHS now holds)
    assert shared.given == pytest.approx(total - exact.npv_gbp)
    assert total - float(d.benefit @ np.rint(y) + d.pair_cost @ np.rint(x)) == pytest.approx(exact.npv_gbp)


@pytest.mark.parametrize("seed", range(3))
def test_highs_gives_the_searches_every_better_plan_it_finds(seed):
    d, start, exact = _greedy_and_optimum(50 + seed)
    shared = SharedPlan(d, *start)
    status, *_ = _run_mip(build_matrix(d), d, SolveOptions(threads=1), 30.0, start, shared)
    assert status == OPTIMAL
    y, chosen = shared.best()
    assert d.violations(y, chosen) == []
    assert d.npv(y, chosen) == pytest.approx(exact.npv_gbp)


def _force_beside(monkeypatch):
    monkeypatch.setattr(hd, "LNS_MIN_PAIRS", 10)
    monkeypatch.setattr(hd, "LP_ORDER_MIN_PAIRS", 10)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    calls = []
    real = hd._solve_beside

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append(out)
        return out

    monkeypatch.setattr(hd, "_solve_beside", spy)
    return calls


def _model_with_a_plan(first_seed):
    """The first random model from seed ``first_seed`` on with a plan, a start and 10 pairs or
    more, without the partner rule, and its brute-force optimum."""
    for k in range(100):
        rng = np.random.default_rng(first_seed + k)
        d = random_model(rng, ns=int(rng.integers(3, 5)), nu=int(rng.integers(3, 5)))
        d.partner = False
        best = brute_force(d)
        if best is not None and d.n_pairs >= 10 and d.best_start(None) is not None:
            return d, best
    raise AssertionError("no random model with a plan")


@pytest.mark.parametrize("seed", range(12))
def test_beside_reaches_the_brute_force_optimum(monkeypatch, seed):
    calls = _force_beside(monkeypatch)
    d, best = _model_with_a_plan(7700 + 100 * seed)
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=10.0))
    assert len(calls) == 1
    assert sol.status == OPTIMAL
    assert sol.npv_gbp == pytest.approx(best, abs=1e-6)
    assert d.violations(sol.y, sol.chosen) == []


def _spy_links(monkeypatch, min_pairs):
    """Parts from ``min_pairs`` pairs left to HiGHS alone (LNS_MIN_PAIRS out of reach) and the
    linking rows of every side-by-side run."""
    monkeypatch.setattr(hd, "BESIDE_MIN_PAIRS", min_pairs)
    monkeypatch.setattr(hd, "LP_ORDER_MIN_PAIRS", 10)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    links = []
    real = hd._solve_beside

    def spy(*a, **k):
        links.append(k.get("link"))
        return real(*a, **k)

    monkeypatch.setattr(hd, "_solve_beside", spy)
    return links


@pytest.mark.parametrize("seed", range(10))
def test_a_mid_sized_part_gets_the_searches_beside_highs_on_the_strong_model(monkeypatch, seed):
    # a part HiGHS would have had alone (time enough for its size) runs with the searches beside
    # it when a second thread is free, HiGHS on the model with the x <= y rows; the answer is
    # still the brute-force optimum, proven
    links = _spy_links(monkeypatch, 10)
    d, best = _model_with_a_plan(9100 + 100 * seed)
    assert not hd.needs_search(d.n_pairs, 10.0)
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=10.0))
    assert links == [True]
    assert sol.status == OPTIMAL
    assert sol.npv_gbp == pytest.approx(best, abs=1e-6)
    assert d.violations(sol.y, sol.chosen) == []


@pytest.mark.parametrize("case", ["small", "one thread", "no time limit", "partner"])
def test_a_mid_sized_part_stays_with_highs_alone_otherwise(monkeypatch, case):
    # below BESIDE_MIN_PAIRS, with one thread, without a time limit (HiGHS runs to its proof),
    # or with the partner rule (the searches do not handle it): HiGHS alone, the same optimum
    links = _spy_links(monkeypatch, 10**9 if case == "small" else 10)
    d, _start, exact = _greedy_and_optimum(61)
    options = SolveOptions(time_limit_s=None if case == "no time limit" else 10.0,
                           threads=1 if case == "one thread" else None)
    if case == "partner":
        d.partner = True
        exact = hd.solve_highs(d)
    sol = hd.solve_highs(d, options)
    assert links == []
    assert sol.status == OPTIMAL
    assert sol.npv_gbp == pytest.approx(exact.npv_gbp)


def test_a_part_that_needs_the_searches_keeps_the_aggregate_rows_beside_highs(monkeypatch):
    links = _spy_links(monkeypatch, 10)
    monkeypatch.setattr(hd, "LNS_MIN_PAIRS", 10)
    d, _start, exact = _greedy_and_optimum(61)
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=10.0))
    assert links == [hd.BESIDE_LINK] == ["aggregate"]
    assert sol.npv_gbp == pytest.approx(exact.npv_gbp)


@pytest.mark.parametrize("threads", [None, 2, 1])
def test_beside_only_where_two_threads_may_be_used(monkeypatch, threads):
    calls = _force_beside(monkeypatch)
    d, _start, exact = _greedy_and_optimum(61)
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=10.0, threads=threads))
    assert len(calls) == (0 if threads == 1 else 1)
    assert sol.npv_gbp == pytest.approx(exact.npv_gbp)


def test_beside_returns_the_searches_plan_when_highs_finds_nothing_better(monkeypatch):
    # HiGHS (a stand-in that waits 2 s and returns its start, as at a time limit) never
    # improves on its start nor takes a plan; the searches find better plans: the answer is the
    # best plan they offered
    calls = _force_beside(monkeypatch)
    d, start, exact = _greedy_and_optimum(70)
    real_run = hd._run_mip

    def slow_highs(m, data, options, limit, start, shared=None, stopper=None):
        if shared is None:
            return real_run(m, data, options, limit, start)
        import time

        time.sleep(2.0)
        x = np.zeros(data.n_pairs)
        x[np.asarray(start[1])] = 1.0
        return FEASIBLE, None, np.asarray(start[0], dtype=float), x, "time limit reached", 2.0, 0.0

    offered = []
    real_offer = SharedPlan.offer

    def offer(self, y, chosen):
        offered.append(self.data.npv(y, chosen))
        return real_offer(self, y, chosen)

    monkeypatch.setattr(hd, "_run_mip", slow_highs)
    monkeypatch.setattr(SharedPlan, "offer", offer)
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=10.0))
    assert len(calls) == 1
    assert offered and max(offered) > d.npv(*start) + 1e-6
    assert sol.status == FEASIBLE
    assert sol.npv_gbp == pytest.approx(max(offered))
    assert d.violations(sol.y, sol.chosen) == []
    assert sol.npv_gbp <= exact.npv_gbp + 1e-6


def _place_with_one_large_town(rng):
    from tests.test_optimise_random import clustered_place, far_small_towns

    big = clustered_place(rng, n_towns=1, per_town=18)
    small = far_small_towns(rng)
    return [a + b for a, b in zip(big, small, strict=True)]


@pytest.mark.parametrize("threads", [None, 1])
def test_a_part_as_large_as_the_rest_is_solved_last_with_every_thread(monkeypatch, threads):
    import planner.optimise as op
    from tests.test_optimise_helpers import BASE

    sites, services, zones = _place_with_one_large_town(np.random.default_rng(3))
    sc = {**BASE, "max_move_m": 3000.0, "fit_out_gbp_per_m2": 200.0, "discount_rate": 0.035,
          "access": {"library": 2000.0}}
    inst = op.build_instance(op.inputs_from_frames(pd.DataFrame(sites), pd.DataFrame(services), sc,
                                                   pd.DataFrame(zones)))
    parts, _ = op.split_parts(inst.data)
    sizes = sorted(p.size for p in parts)
    assert len(parts) >= 2 and 2 * sizes[-1] >= sum(sizes)  # the small towns are bundled in one
    seen = []
    real = op._solve_part

    def spy(sub, options, limit, start=None, stopper=None):
        seen.append((sub.n_sites + sub.n_pairs, options.threads, start is None))
        return real(sub, options, limit, start, stopper)

    monkeypatch.setattr(op, "_solve_part", spy)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    out = op.solve_instance(inst, SolveOptions(time_limit_s=30.0, threads=threads))
    first = [s for s in seen if s[2]]
    assert len(first) == len(parts)
    if threads is None:
        assert first[-1][0] == max(s[0] for s in first) and first[-1][1] is None
        assert all(t == 1 for _size, t, _ in first[:-1])
    else:
        assert all(t == 1 for _size, t, _ in first)
    whole = op.solve_instance(inst, SolveOptions(threads=threads), decompose=False)
    assert out.status == whole.status == "optimal"
    assert out.solution.npv_gbp == pytest.approx(whole.solution.npv_gbp, abs=1e-4)


def test_searches_stop_when_highs_has_stopped(monkeypatch):
    # once HiGHS is done (the searches' stopper stopped), the heuristic and the rounds of
    # searches return the plan they were given without another solve
    d, start, _exact = _greedy_and_optimum(80)
    solves = []
    real = hd._better_in

    def spy(*a, **k):
        solves.append(1)
        return real(*a, **k)

    monkeypatch.setattr(hd, "_better_in", spy)
    done = hd.HighsStopper()
    done.stop()
    from planner.lagrange import best_lagrangian_bound

    kept = []
    best_lagrangian_bound(d, float(d.benefit.sum()) - d.npv(*start), 1.0, None, kept)
    assert kept
    m = build_matrix(d)
    _y, chosen = hd.improve_by_relaxation(d, m, start[0], start[1], kept, 10.0, SolveOptions(threads=1), stop=done)
    assert solves == [] and np.array_equal(chosen, start[1])
    _y, chosen = hd.improve_plan(d, m, start[0], start[1], 10.0, SolveOptions(threads=1),
                                np.ones(d.n_pairs, dtype=bool), stop=done)
    assert solves == [] and np.array_equal(chosen, start[1])


def _hard_sscflp():
    # a 30 x 100 single-source instance HiGHS does not prove optimal in 60 s on one thread
    return _sscflp(np.random.default_rng(7), 30, 100)


def test_a_stopped_highs_run_ends_at_once_not_at_its_time_limit():
    # stop() before the run starts: HiGHS's interrupt callback is on from the start and the
    # run ends "interrupted" (it would otherwise take its whole 60 s)
    d = _hard_sscflp()
    stopper = hd.HighsStopper()
    stopper.stop()
    status, _bound, _y, _x, message, *_times = _run_mip(build_matrix(d), d, SolveOptions(threads=1), 60.0,
                                                       d.best_start(None), stopper=stopper)
    assert message == "interrupted"
    assert status in (FEASIBLE, NO_SOLUTION)


def test_highs_beside_failed_searches_is_stopped_and_the_error_raised(monkeypatch):
    # the searches beside HiGHS raise while HiGHS runs: the error reaches the caller and HiGHS
    # is stopped then ("interrupted"), not left to run to its 60-s limit first
    import threading
    import time

    _force_beside(monkeypatch)
    d = _hard_sscflp()
    runs = []
    real_run = hd._run_mip
    running = threading.Event()
    real_started = hd.HighsStopper.started

    def started(self, h):
        real_started(self, h)
        running.set()

    def spy(*a, **k):
        out = real_run(*a, **k)
        runs.append(out)
        return out

    def failing(*_a, **_k):
        assert running.wait(30.0)
        time.sleep(0.5)  # HiGHS is in its run
        raise RuntimeError("the searches failed")

    monkeypatch.setattr(hd.HighsStopper, "started", started)
    monkeypatch.setattr(hd, "_run_mip", spy)
    monkeypatch.setattr(hd, "_lagrangian", failing)
    monkeypatch.setattr(hd, "improve_by_relaxation", failing)
    monkeypatch.setattr(hd, "improve_plan", failing)
    with pytest.raises(RuntimeError, match="the searches failed"):
        hd.solve_highs(d, SolveOptions(time_limit_s=60.0))
    assert len(runs) == 1
    assert runs[0][4] == "interrupted"
