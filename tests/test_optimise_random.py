"""Random small places (hypothesis) through the whole optimiser, compared with brute-force
enumeration written from the spec's text (tests/test_optimise_helpers.py); and the split into
independent parts compared with the whole model."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.model import SolveOptions
from planner.optimise import build_instance, inputs_from_frames, solve_instance, split_parts
from tests.test_optimise_helpers import BASE, run, spec_brute_force

AGENCIES = ["council", "nhs", "police"]
TYPES = ["office", "library", "gp"]


@st.composite
def places(draw):
    ns = draw(st.integers(2, 3))
    nu = draw(st.integers(1, 4))
    sites = []
    for j in range(ns):
        s = {"site_id": f"S{j}", "agency": draw(st.sampled_from(AGENCIES)),
             "easting": float(draw(st.integers(0, 4)) * 1000), "northing": float(draw(st.integers(0, 2)) * 1000),
             "capacity_m2": float(draw(st.integers(0, 40))),
             "running_cost_gbp": float(draw(st.integers(0, 300))),
             "market_value_gbp": float(draw(st.sampled_from([0, 0, 1000, 2500]))),
             "backlog_gbp": float(draw(st.sampled_from([0, 0, 200]))),
             "exit_cost_gbp": float(draw(st.sampled_from([0, 0, 400]))),
             "available_year": draw(st.sampled_from([0, 0, 0, 2, 5, 6])),
             "locked": draw(st.booleans()) and draw(st.booleans()),
             "can_receive": not (draw(st.booleans()) and draw(st.booleans())),
             "accepts": draw(st.sampled_from(["", "", "office", "gp;library"]))}
        if draw(st.booleans()):
            s["disposal_cost_gbp"] = float(draw(st.sampled_from([0, 50])))
        sites.append(s)
    services = []
    for u in range(nu):
        home = draw(st.sampled_from([f"S{j}" for j in range(ns)] + [""]))
        sv = {"service_id": f"U{u}", "site_id": home, "agency": draw(st.sampled_from(AGENCIES)),
              "service_type": draw(st.sampled_from(TYPES)), "space_m2": float(draw(st.integers(1, 20))),
              "fte": float(draw(st.integers(0, 5))), "movable": draw(st.booleans()) or draw(st.booleans()),
              "max_move_m": float(draw(st.sampled_from([np.nan, 1000, 2500])))}
        if home == "" and draw(st.booleans()):
            sv["easting"] = float(draw(st.integers(0, 4)) * 1000)
            sv["northing"] = 0.0
        services.append(sv)
    zones = [{"zone_id": f"Z{z}", "population": float(draw(st.sampled_from([0, 100]))),
              "easting": float(draw(st.integers(0, 4)) * 1000), "northing": 0.0} for z in range(draw(st.integers(0, 2)))]
    pairs = []
    for u in range(nu):
        for j in range(ns):
            if draw(st.integers(0, 5)) == 0:
                pairs.append({"service_id": f"U{u}", "site_id": f"S{j}",
                              "one_off_gbp": float(draw(st.integers(0, 300))),
                              "annual_gbp": float(draw(st.integers(-10, 30))),
                              "allowed": draw(st.booleans()) or draw(st.booleans())})
    sc = {"horizon_years": draw(st.sampled_from([1, 5, 10])), "discount_rate": draw(st.sampled_from([0.0, 0.035, 0.1])),
          "optimism_bias": draw(st.sampled_from([0.0, 0.24])), "fit_out_gbp_per_m2": float(draw(st.integers(0, 30))),
          "move_gbp_per_fte": float(draw(st.integers(0, 50))), "max_move_m": float(draw(st.sampled_from([1500, 5000]))),
          "disposal_cost_rate": draw(st.sampled_from([0.0, 0.02]))}
    if draw(st.booleans()):
        sc["access"] = {draw(st.sampled_from(TYPES)): float(draw(st.sampled_from([500, 1500])))}
    if draw(st.integers(0, 3)) == 0:
        sc["sharing"] = {draw(st.sampled_from(AGENCIES)): [draw(st.sampled_from(AGENCIES))]}
    if draw(st.integers(0, 3)) == 0:
        sc["capex_budget_gbp"] = float(draw(st.integers(0, 800)))
    if draw(st.integers(0, 3)) == 0:
        sc["max_disposals"] = draw(st.integers(0, 2))
    if draw(st.integers(0, 3)) == 0:
        sc["partner_no_worse_off"] = True
        sc["recharge_gbp_per_m2_year"] = float(draw(st.sampled_from([0, 5, 20])))
    forced = [s["site_id"] for s in sites if draw(st.integers(0, 5)) == 0]
    kept = [s["site_id"] for s in sites if s["site_id"] not in forced and draw(st.integers(0, 5)) == 0]
    if forced:
        sc["dispose_site_ids"] = forced
    if kept:
        sc["keep_site_ids"] = kept
    return sites, services, zones, pairs, sc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(places())
def test_random_places_match_brute_force(place):
    sites, services, zones, pairs, sc = place
    best = spec_brute_force(sites, services, sc, zones, pairs)
    plan = run(sites, services, zones=zones or None, pairs=pairs or None, **sc)
    if best is None:
        assert plan.status == "infeasible", plan.npv_gbp
        assert plan.findings, "an infeasible answer must say why"
    else:
        assert plan.status == "optimal", [f.message for f in plan.findings]
        assert plan.npv_gbp == pytest.approx(best, abs=1e-6, rel=1e-9)
        # the reported totals add up: the NPV by agency sums to the NPV
        t = plan.totals.set_index("scope")
        assert t.drop(index="all")["npv_gbp"].sum() == pytest.approx(plan.npv_gbp, abs=0.05)


def clustered_place(rng: np.random.Generator, n_towns: int, per_town: int, zones_per_town: int = 3):
    """Towns 50 km apart: moves (max 3 km) and access (2 km) never join two towns."""
    sites, services, zones = [], [], []
    k = 0
    for t in range(n_towns):
        cx = t * 50_000.0
        for i in range(per_town):
            sid = f"T{t}S{i}"
            sites.append({"site_id": sid, "agency": AGENCIES[int(rng.integers(0, 3))],
                          "easting": cx + rng.uniform(0, 3000), "northing": rng.uniform(0, 3000),
                          "capacity_m2": float(rng.integers(100, 400)),
                          "running_cost_gbp": float(rng.integers(5_000, 40_000)),
                          "market_value_gbp": float(rng.integers(0, 500_000)), "locked": bool(rng.random() < 0.1)})
            for _ in range(int(rng.integers(0, 3))):
                services.append({"service_id": f"U{k}", "site_id": sid, "agency": sites[-1]["agency"],
                                 "service_type": TYPES[int(rng.integers(0, 3))],
                                 "space_m2": float(rng.integers(20, 150)), "fte": float(rng.integers(0, 20))})
                k += 1
        for z in range(zones_per_town):
            zones.append({"zone_id": f"T{t}Z{z}", "population": 1000.0, "easting": cx + rng.uniform(0, 3000),
                          "northing": rng.uniform(0, 3000)})
    return sites, services, zones


def far_small_towns(rng: np.random.Generator, n_towns: int = 3):
    """Towns of 2 sites and one zone, 400 km east of ``clustered_place``'s and their ids
    prefixed with X: parts of their own, to add to a place."""
    small = clustered_place(rng, n_towns=n_towns, per_town=2, zones_per_town=1)
    for frame in small:
        for row in frame:
            if "easting" in row:
                row["easting"] = row["easting"] + 400_000.0
            for key in ("site_id", "service_id", "zone_id"):
                if row.get(key):
                    row[key] = "X" + row[key]
    return small


@pytest.mark.parametrize("seed", range(6))
def test_parts_give_the_same_answer_as_the_whole(seed):
    rng = np.random.default_rng(seed)
    sites, services, zones = clustered_place(rng, n_towns=4, per_town=6)
    sc = {**BASE, "max_move_m": 3000.0, "fit_out_gbp_per_m2": 200.0, "move_gbp_per_fte": 500.0,
          "discount_rate": 0.035, "access": {"library": 2000.0, "gp": 1500.0}}
    if seed % 3 == 1:
        sc["partner_no_worse_off"] = True
        sc["recharge_gbp_per_m2_year"] = 20.0
    if seed % 3 == 2:
        sc["capex_budget_gbp"] = 200_000.0  # joins everything: one part
    inputs = inputs_from_frames(pd.DataFrame(sites), pd.DataFrame(services), sc, pd.DataFrame(zones))
    inst = build_instance(inputs)
    parts, n_comp = split_parts(inst.data)
    whole = solve_instance(inst, SolveOptions(), decompose=False)
    split = solve_instance(inst, SolveOptions(), decompose=True)  # parts two at a time
    one_by_one = solve_instance(inst, SolveOptions(threads=1), decompose=True)
    assert whole.status == split.status == one_by_one.status == "optimal"
    assert split.solution.npv_gbp == pytest.approx(whole.solution.npv_gbp, abs=1e-4)
    assert one_by_one.solution.npv_gbp == pytest.approx(whole.solution.npv_gbp, abs=1e-4)
    if seed % 3 == 2:
        assert len(parts) == 1 and n_comp == 1
    else:
        if seed % 3 == 0:
            assert n_comp >= 4  # at least one part per town
        else:
            assert n_comp <= 3  # the partner rule joins each agency's sites and services
        # no pair or access row crosses parts
        owner = np.full(inst.data.n_sites, -1)
        for k, p in enumerate(parts):
            owner[p.sites] = k
        svc_owner = np.full(inst.data.n_services, -1)
        for k, p in enumerate(parts):
            svc_owner[p.services] = k
        assert (owner[inst.data.pair_site] == svc_owner[inst.data.pair_service]).all()
        assert (owner >= 0).all() and (svc_owner >= 0).all()


def test_time_limited_large_part_uses_the_window_search(monkeypatch):
    import planner.highs_direct as hd

    calls = []
    real = hd.improve_by_windows

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append((a[0], a[1], a[2], out))
        return out

    support_calls = []
    real_support = hd.improve_by_support

    def spy_support(data, m, y, chosen, used, *a, **k):
        out = real_support(data, m, y, chosen, used, *a, **k)
        support_calls.append((data, y, chosen, used, out))
        return out

    monkeypatch.setattr(hd, "LNS_MIN_PAIRS", 50)
    monkeypatch.setattr(hd, "LNS_PROBE_S", 0.01)  # a first HiGHS run too short to settle it
    monkeypatch.setattr(hd, "LP_ORDER_MIN_PAIRS", 50)
    # services here reach most of the 25 sites: without this the Lagrangian heuristic (tested
    # in test_lagrange.py) would take the searches' time of this 3-s run before the windows
    monkeypatch.setattr(hd, "HEURISTIC_MIN_REACH", 2.0)
    monkeypatch.setattr(hd, "improve_by_windows", spy)
    monkeypatch.setattr(hd, "improve_by_support", spy_support)
    rng = np.random.default_rng(11)
    sites, services, zones = clustered_place(rng, n_towns=1, per_town=25)
    sc = {**BASE, "max_move_m": 3000.0, "fit_out_gbp_per_m2": 200.0, "discount_rate": 0.035,
          "access": {"library": 2000.0}}
    inputs = inputs_from_frames(pd.DataFrame(sites), pd.DataFrame(services), sc, pd.DataFrame(zones))
    inst = build_instance(inputs)
    out = solve_instance(inst, SolveOptions(time_limit_s=3.0, threads=1))
    assert calls, "the window search should run on a large part under a time limit"
    data, y0, c0, (y1, c1) = calls[0]
    assert data.violations(y1, c1) == [] and data.npv(y1, c1) >= data.npv(y0, c0) - 1e-9
    # the support search ran first, on the pairs the LP relaxation uses
    assert support_calls, "the support search should run when the LP relaxation was solved"
    data, y0, c0, used, (y1, c1) = support_calls[0]
    assert used.dtype == bool and 0 < used.sum() < data.n_pairs
    assert data.violations(y1, c1) == [] and data.npv(y1, c1) >= data.npv(y0, c0) - 1e-9
    assert out.status in ("optimal", "feasible")
    assert inst.data.violations(out.solution.y, out.solution.chosen) == []


def _one_town_with_lp_pairs():
    """One town of 25 sites (a single part), its model and the pairs its LP relaxation uses."""
    import planner.highs_direct as hd

    sites, services, zones = clustered_place(np.random.default_rng(11), n_towns=1, per_town=25)
    sc = {**BASE, "max_move_m": 3000.0, "fit_out_gbp_per_m2": 200.0, "discount_rate": 0.035,
          "access": {"library": 2000.0}}
    d = build_instance(inputs_from_frames(pd.DataFrame(sites), pd.DataFrame(services), sc,
                                          pd.DataFrame(zones))).data
    m = hd.build_matrix(d)
    _order, _lp, used, _mult = hd._lp_order(m, d, SolveOptions(threads=1), 10.0)
    return d, m, used


@pytest.mark.parametrize("per_10k, first_run", [(0.0, True), (1e9, False)])
def test_the_first_short_highs_run_is_left_out_where_it_cannot_finish_its_root(monkeypatch, per_10k, first_run):
    import planner.highs_direct as hd

    # on a part that gets the searches one after the other with HiGHS, HiGHS runs first for
    # probe_seconds (when that is long enough for its root on a part this size), then the
    # searches, then HiGHS again from their plan; without the first run the answer is still a
    # plan that meets every rule, at least as good as the start
    limits = []
    real = hd._run_mip

    def spy(m, data, options, limit, start, shared=None, stopper=None, seed=None):
        if data is d:
            limits.append(limit)
        return real(m, data, options, limit, start, shared, stopper, seed)

    d, _m, _used = _one_town_with_lp_pairs()
    monkeypatch.setattr(hd, "_run_mip", spy)
    monkeypatch.setattr(hd, "LNS_MIN_PAIRS", 50)
    monkeypatch.setattr(hd, "LNS_PROBE_S", 0.2)  # too short to settle this part
    monkeypatch.setattr(hd, "LNS_PROBE_S_PER_10K_PAIRS", per_10k)
    monkeypatch.setattr(hd, "HEURISTIC_MIN_REACH", 2.0)  # no Lagrangian heuristic here
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=3.0, threads=1))
    assert len(limits) == (2 if first_run else 1)
    if first_run:
        assert limits[0] == pytest.approx(0.2)
    assert limits[-1] > 0.5  # HiGHS's last run has the rest of the time
    assert sol.status in ("optimal", "feasible")
    assert d.violations(sol.y, sol.chosen) == [] and sol.npv_gbp >= d.npv(*d.best_start()) - 1e-6


def test_support_search_grows_its_kernel_while_it_pays(monkeypatch):
    import planner.highs_direct as hd

    # improve_plan: the support search allows each service's k cheapest pairs, k = 1 first; it
    # runs again at once with k one larger after a better plan, and after one that found
    # nothing better the windows run and k starts again at 1
    events = []
    real_support, real_windows = hd.improve_by_support, hd.improve_by_windows

    def spy_support(data, m, y, chosen, used, seconds, options, k=0, stop=None):
        out = real_support(data, m, y, chosen, used, seconds, options, k=k, stop=stop)
        events.append(("support", k, data.npv(*out) > data.npv(y, chosen) + 1e-9))
        return out

    def spy_windows(data, y, chosen, *a, **kw):
        out = real_windows(data, y, chosen, *a, **kw)
        events.append(("windows", None, data.npv(*out) > data.npv(y, chosen) + 1e-9))
        return out

    monkeypatch.setattr(hd, "improve_by_support", spy_support)
    monkeypatch.setattr(hd, "improve_by_windows", spy_windows)
    monkeypatch.setattr(hd, "LNS_ROUND_S", 0.3)
    d, m, used = _one_town_with_lp_pairs()
    y0, c0 = d.status_quo()  # every service where it is: room to improve
    y, chosen = hd.improve_plan(d, m, y0, c0, 3.0, SolveOptions(threads=1), used)
    assert d.violations(y, chosen) == [] and d.npv(y, chosen) >= d.npv(y0, c0) - 1e-9
    supports = [(k, better) for kind, k, better in events if kind == "support"]
    assert supports and supports[0][0] == 1
    for (k0, better0), (k1, _) in itertools.pairwise(supports):
        assert k1 == (k0 + 1 if better0 else 1)
    for before, now in itertools.pairwise(events):
        if now[0] == "windows":
            assert before[0] == "support" and not before[2]
        if before[0] == "support" and before[2]:
            assert now[0] == "support"
    assert any(kind == "windows" for kind, *_ in events)
    assert any(better for _k, better in supports)
    assert any(not better for _k, better in supports[:-1]), "k should have started again at 1"


def test_beside_highs_the_support_search_keeps_to_the_lp_pairs(monkeypatch):
    import planner.highs_direct as hd

    ks = []
    real = hd.improve_by_support

    def spy(data, m, y, chosen, used, seconds, options, k=0, stop=None):
        ks.append(k)
        return real(data, m, y, chosen, used, seconds, options, k=k, stop=stop)

    monkeypatch.setattr(hd, "improve_by_support", spy)
    monkeypatch.setattr(hd, "LNS_ROUND_S", 0.3)
    d, m, used = _one_town_with_lp_pairs()
    y0, c0 = d.status_quo()  # every service where it is: room to improve
    shared = hd.SharedPlan(d, y0, c0)
    y, chosen = hd.improve_plan(d, m, y0, c0, 2.0, SolveOptions(threads=1), used, shared)
    assert len(ks) >= 2 and set(ks) == {0}
    assert d.violations(y, chosen) == [] and d.npv(y, chosen) >= d.npv(y0, c0) - 1e-9
