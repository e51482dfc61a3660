"""The order in which independent parts are solved two at a time (planner.optimise.solve_instance):
smallest first, so that the small parts get their share of the time before the large ones take
what is left, and the answer is still the whole model's."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pandas as pd
import pytest

from planner.model import SolveOptions


def _place_with_two_large_towns(seed: int):
    from tests.test_optimise_random import clustered_place, far_small_towns

    rng = np.random.default_rng(seed)
    big = clustered_place(rng, n_towns=2, per_town=14)
    small = far_small_towns(rng)
    return [pd.DataFrame(a + b) for a, b in zip(big, small, strict=True)]


@pytest.mark.parametrize("seed", [1, 5])
def test_small_parts_are_solved_first_with_their_share_of_the_time(monkeypatch, seed):
    import planner.optimise as op
    from tests.test_optimise_helpers import BASE

    sites, services, zones = _place_with_two_large_towns(seed)
    sc = {**BASE, "max_move_m": 3000.0, "fit_out_gbp_per_m2": 200.0, "discount_rate": 0.035,
          "access": {"library": 2000.0}}
    inst = op.build_instance(op.inputs_from_frames(sites, services, sc, zones))
    parts, _ = op.split_parts(inst.data)
    sizes = sorted(p.size for p in parts)
    total = float(sum(sizes))
    # two large parts and at least one small one, none as large as all the others together
    assert len(sizes) >= 3 and 2 * sizes[-1] < total and sizes[0] < sizes[-2] / 2
    large = set(sizes[-2:])
    limit_s = 3.0
    lock = threading.Lock()
    calls = []  # (size, limit, start, end)
    real = op._solve_part

    def spy(sub, options, limit, start=None, stopper=None):
        size = sub.n_sites + sub.n_pairs
        t = time.perf_counter()
        r = real(sub, options, limit, start, stopper)
        if size in large and start is None:
            # a large part takes its whole share, as a hard part does
            time.sleep(max(0.0, limit - (time.perf_counter() - t)))
        with lock:
            calls.append((size, limit, t, time.perf_counter()))
        return r

    monkeypatch.setattr(op, "_solve_part", spy)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    t0 = time.perf_counter()
    out = op.solve_instance(inst, SolveOptions(time_limit_s=limit_s))
    first_end_of_large = min(end for size, _lim, _t, end in calls if size in large)
    small = [c for c in calls if c[0] not in large]
    assert small
    for size, limit, start, _end in small:
        # started before either large part was done, with at least its share of the time
        assert start < first_end_of_large
        assert limit >= 0.9 * (limit_s - (start - t0)) * min(1.0, 2 * size / total)
    # the large parts shared what was left and the time limit held
    assert max(end for *_, end in calls) - t0 <= limit_s + 1.0
    whole = op.solve_instance(inst, SolveOptions(), decompose=False)
    assert out.status == whole.status == "optimal"
    assert out.solution.npv_gbp == pytest.approx(whole.solution.npv_gbp, abs=1e-4)
