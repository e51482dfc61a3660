"""Two HiGHS runs of one part at once (planner.highs_direct._solve_race): a part HiGHS has alone
with two threads gets a second run, with another random seed, when the first has not settled it
after RACE_AFTER_S; the first to prove the part stops the other; the answer is the better plan
with the better bound, and the brute-force optimum."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import planner.highs_direct as hd
from planner.highs_direct import _plan_columns, build_matrix
from planner.model import FEASIBLE, OPTIMAL, SolveOptions
from tests.test_beside import _greedy_and_optimum, _model_with_a_plan


def _spy_runs(monkeypatch, after_s, first=None, second=None):
    """HiGHS runs recorded by their seed (None: the first run, HiGHS's own seed), with the
    second starting ``after_s`` seconds after the first; ``first`` and ``second`` stand in for
    the real runs when given."""
    monkeypatch.setattr(hd, "RACE_AFTER_S", after_s)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    seeds = []
    real = hd._run_mip

    def spy(m, data, options, limit, start, shared=None, stopper=None, seed=None):
        seeds.append(seed)
        fake = first if seed is None else second
        if fake is not None:
            return fake(m, data, options, limit, start, shared, stopper, seed)
        return real(m, data, options, limit, start, shared, stopper, seed)

    monkeypatch.setattr(hd, "_run_mip", spy)
    return seeds


@pytest.mark.parametrize("seed", range(10))
def test_a_part_highs_has_alone_races_two_runs_to_the_brute_force_optimum(monkeypatch, seed):
    # the first run waits until the second has started, so that both run (a random model is
    # solved in milliseconds); both are real HiGHS runs sharing their plans
    second_started = threading.Event()
    real = hd._run_mip

    def first(*a):
        assert second_started.wait(10.0)
        return real(*a)

    def second(*a):
        second_started.set()
        return real(*a)

    d, best = _model_with_a_plan(5100 + 100 * seed)
    seeds = _spy_runs(monkeypatch, 0.0, first, second)
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=10.0))
    assert sorted(seeds, key=str) == [hd.RACE_SEED, None]
    assert sol.status == OPTIMAL
    assert sol.npv_gbp == pytest.approx(best, abs=1e-6)
    assert d.violations(sol.y, sol.chosen) == []


@pytest.mark.parametrize("threads", [None, 1])
def test_a_part_settled_before_the_second_run_starts_gets_one_run(monkeypatch, threads):
    # HiGHS proves the part before RACE_AFTER_S: no second run, the answer of the one run; with
    # one thread there is never a second run
    d, _start, exact = _greedy_and_optimum(81)
    seeds = _spy_runs(monkeypatch, 30.0)
    t0 = time.perf_counter()
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=60.0, threads=threads))
    assert seeds == [None]
    assert time.perf_counter() - t0 < 30.0  # it did not wait for the second run's start
    assert sol.status == OPTIMAL
    assert sol.npv_gbp == pytest.approx(exact.npv_gbp)


def test_the_run_that_proves_the_part_stops_the_other(monkeypatch):
    # the first run (a stand-in) would hold its start until stopped, up to 30 s; the second
    # proves the optimum and stops it at once
    stopped = []

    def first(m, data, options, limit, start, shared, stopper, seed):
        t0 = time.perf_counter()
        while not stopper.is_set() and time.perf_counter() - t0 < 30.0:
            time.sleep(0.01)
        stopped.append(stopper.is_set())
        return (FEASIBLE, None, *_plan_columns(data, *start), "interrupted", 0.0, 0.0)

    d, start, exact = _greedy_and_optimum(82)
    seeds = _spy_runs(monkeypatch, 0.0, first=first)
    assert d.npv(*start) < exact.npv_gbp - 1e-6
    t0 = time.perf_counter()
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=60.0))
    assert time.perf_counter() - t0 < 20.0
    assert sorted(seeds, key=str) == [hd.RACE_SEED, None]
    assert stopped == [True]
    assert sol.status == OPTIMAL
    assert sol.npv_gbp == pytest.approx(exact.npv_gbp)
    assert d.violations(sol.y, sol.chosen) == []


@pytest.mark.parametrize("second_bound", ["proves", "short"])
def test_the_answer_is_the_better_plan_with_the_better_bound(monkeypatch, second_bound):
    # neither run says optimal (both stand-ins, as at a time limit): the first holds the optimum
    # with a weak bound, the second its start with a bound at the optimum's cost ("proves") or
    # just under it ("short"). The answer is the first's plan with the second's bound: optimal
    # when that bound proves it, else feasible with that bound
    d, _start, exact = _greedy_and_optimum(83)
    m = build_matrix(d)
    n = d.n_sites + d.n_pairs
    best = _plan_columns(d, exact.y.astype(float), exact.chosen)
    cost = float(m.cost[:n] @ np.concatenate(best))
    high = cost if second_bound == "proves" else cost - 0.01 * abs(cost) - 1.0
    ready = threading.Event()

    def first(m, data, options, limit, start, shared, stopper, seed):
        assert ready.wait(10.0)
        return (FEASIBLE, cost - 0.5 * abs(cost) - 10.0, *best, "time limit reached", 0.0, 0.0)

    def second(m, data, options, limit, start, shared, stopper, seed):
        ready.set()
        return (FEASIBLE, high, *_plan_columns(data, *start), "time limit reached", 0.0, 0.0)

    _spy_runs(monkeypatch, 0.0, first, second)
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=60.0))
    assert sol.npv_gbp == pytest.approx(exact.npv_gbp)
    assert sol.status == (OPTIMAL if second_bound == "proves" else FEASIBLE)
    assert float(d.benefit.sum()) - sol.bound_gbp == pytest.approx(high)
