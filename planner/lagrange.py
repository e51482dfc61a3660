"""A Lagrangian bound for the co-location model, for parts too large for HiGHS's root.

In cost form the model (``docs/model.md``) is: minimise ``sum_j b_j y_j + sum_p c_p x_p``
(the NPV is ``sum_j b_j`` less this), every service in exactly one site, the capacity row
``sum_{p at j} s_u x_p <= C_j y_j`` and ``x_p <= y_j`` per site, plus the access rows, the
budget, the disposal limit and the valid row ``sum_j C_j y_j >= sum_u s_u``. Moving the
assignment rows (multiplier ``lam_u``, free), the access rows (``mu_r >= 0``), the budget
(``nu >= 0``) and the valid row (``kappa >= 0``) into the objective leaves one 0-1 knapsack
per site::

    L = sum_u lam_u + sum_r mu_r - nu B + kappa S
        + min over y of sum_j y_j (b_j - kappa C_j + K_j)   (fixed sites and disposal limit kept)
    K_j = min { sum_{p at j} r_p x_p : sum_{p at j} s_u(p) x_p <= C_j, x binary }
    r_p = c_p - lam_u(p) - sum_{r holds p} mu_r + nu e_p

``L`` is a lower bound on the cost of every plan for any multipliers (weak duality); because
each knapsack is solved in integers it can be above the LP relaxation's value. The
knapsacks are solved by dynamic programming over ``KNAP_UNITS`` units of each site's
capacity with the weights rounded down: every set of services that fits still fits, so the
rounding can only weaken ``L``, never make it wrong; where the knapsack's LP relaxation with
the exact weights is higher it is used instead (also never above the true minimum). The
multipliers improve by subgradient steps (Polyak's rule against the best plan's cost), from
the LP relaxation's duals when given (``L`` is then at least the LP's value from the first
step) or from each service's cheapest pair. Not for the partner rule (one row per
agency, not relaxed here): ``lagrangian_bound`` returns None there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from planner.model import DISPOSE, FREE, KEEP, ModelData

KNAP_UNITS = 200  # capacity units of each site's knapsack
KEPT_SETS = 30  # the most sets of kept sites remembered for the Lagrangian heuristic


@dataclass
class Multipliers:
    lam: np.ndarray  # per service (assignment rows, free)
    mu: np.ndarray  # per access row (>= 0)
    nu: float = 0.0  # budget (>= 0)
    kappa: float = 0.0  # the valid row "kept sites hold every service" (>= 0)


@dataclass
class LagrangeBound:
    bound_cost: float  # a lower bound on sum b y + sum c x over every plan
    iterations: int
    seconds: float


@dataclass
class KeptSet:
    """The sites the relaxation keeps at some multipliers, for the Lagrangian heuristic."""

    value: float  # the Lagrangian's value there (higher: multipliers nearer the best)
    keep: np.ndarray  # bool per site
    g: np.ndarray  # per-site terms g_j (lower: more worth keeping)


def knapsacks(data: ModelData, rc: np.ndarray, units: int = KNAP_UNITS) -> tuple[np.ndarray, np.ndarray]:
    """For reduced costs ``rc`` per pair: (K per site, x per pair), K_j the least total of the
    pairs of site j whose services fit in it (weights in ``units`` of the site's capacity,
    rounded down, so K_j is never above the true minimum), x the pairs taken."""
    ns, pj = data.n_sites, data.pair_site
    cap = np.maximum(data.capacity, 1e-9)
    w = np.floor(data.space[data.pair_service] * units / cap[pj] + 1e-9).astype(np.int64)
    good = (rc < 0) & (w <= units) & (data.fixed[pj] != DISPOSE)
    x = np.zeros(rc.size, dtype=bool)
    K = np.zeros(ns)
    idx = np.nonzero(good)[0]
    if idx.size == 0:
        return K, x
    # the sites whose good pairs all fit take them all
    wsum = np.bincount(pj[idx], weights=w[idx], minlength=ns)
    easy = wsum[pj[idx]] <= units
    e = idx[easy]
    x[e] = True
    np.add.at(K, pj[e], rc[e])
    hard = idx[~easy]
    if hard.size == 0:
        return K, x
    hard = hard[np.lexsort((hard, pj[hard]))]
    sites = np.unique(pj[hard])
    row = np.full(ns, -1, dtype=np.int64)
    row[sites] = np.arange(sites.size)
    counts = np.bincount(row[pj[hard]], minlength=sites.size)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(hard.size) - first[row[pj[hard]]]
    # dp[s, c]: the most value (-rc) of the pairs seen so far within c units; one pair of
    # each site per round, every site's table updated at once
    dp = np.zeros((sites.size, units + 1))
    cols = np.arange(units + 1)
    rounds = []
    for k in range(int(counts.max())):
        sel = hard[rank == k]
        r = row[pj[sel]]
        wk, vk = w[sel], -rc[sel]
        src = cols[None, :] - wk[:, None]
        cand = np.where(src >= 0, dp[r[:, None], np.maximum(src, 0)] + vk[:, None], -np.inf)
        took = cand > dp[r] + 1e-12
        dp[r] = np.where(took, cand, dp[r])
        rounds.append((sel, r, wk, took))
    c = np.full(sites.size, units, dtype=np.int64)
    for sel, r, wk, took in reversed(rounds):
        t = took[np.arange(sel.size), c[r]]
        x[sel[t]] = True
        c[r[t]] -= wk[t]
    K[sites] -= dp[:, units]
    return K, x


def fractional_knapsacks(data: ModelData, rc: np.ndarray) -> np.ndarray:
    """Per site, the least total of ``rc`` when a pair may be taken in part (the LP relaxation
    of each knapsack, with the exact weights): the pairs of negative ``rc`` in order of ``rc``
    per m2, the last one that fits taken in part. Also never above the true K_j; where the
    rounded weights of ``knapsacks`` let more in, it is the better bound of the two, and with
    it the Lagrangian at the LP relaxation's duals is never below the LP's value."""
    ns, pj = data.n_sites, data.pair_site
    w_all = data.space[data.pair_service]
    good = (rc < 0) & (w_all <= data.capacity[pj] + 1e-9) & (data.fixed[pj] != DISPOSE)
    idx = np.nonzero(good)[0]
    K = np.zeros(ns)
    if idx.size == 0:
        return K
    w = w_all[idx]
    o = np.lexsort((rc[idx] / np.maximum(w, 1e-12), pj[idx]))
    idx, w = idx[o], w[o]
    j = pj[idx]
    cum = np.cumsum(w)
    first = np.searchsorted(j, j, side="left")
    before = cum - w - (cum[first] - w[first])  # room used at the site before this pair
    share = np.clip((data.capacity[j] - before) / np.maximum(w, 1e-12), 0.0, 1.0)
    np.add.at(K, j, share * rc[idx])
    return K


def _terms(data: ModelData, mult: Multipliers):
    """At ``mult``: (the Lagrangian's value, per-site terms g_j, the sites the relaxation
    keeps, the knapsacks' pairs)."""
    ns, npairs = data.n_sites, data.n_pairs
    ps = data.pair_service
    spend = data.pair_spend if data.pair_spend is not None else np.zeros(npairs)
    nc = data.n_cover
    rc = data.pair_cost - mult.lam[ps] + mult.nu * spend
    if nc:
        cover_row = np.repeat(np.arange(nc), np.diff(data.cover_ptr))
        rc = rc - np.bincount(data.cover_pairs, weights=mult.mu[cover_row], minlength=npairs)
    K, x = knapsacks(data, rc)
    K = np.maximum(K, fractional_knapsacks(data, rc))
    g = data.benefit - mult.kappa * data.capacity + K
    fixed = data.fixed
    y = np.where(fixed == KEEP, True, np.where(fixed == DISPOSE, False, g < 0))
    n_keep = 0 if data.max_disposals is None else ns - int(data.max_disposals)
    if n_keep > int(y.sum()):
        cand = np.nonzero(~y & (fixed == FREE))[0]
        y[cand[np.argsort(g[cand], kind="stable")[:n_keep - int(y.sum())]]] = True
    value = float(mult.lam.sum() + mult.mu.sum() - (mult.nu * data.budget if data.budget is not None else 0.0)
                  + mult.kappa * float(data.space.sum()) + g[y].sum())
    return value, g, y, x


def lagrangian_bound(data: ModelData, plan_cost: float, seconds: float = 10.0,
                     max_iterations: int = 5000, start: Multipliers | None = None,
                     kept: list[KeptSet] | None = None, stop: threading.Event | None = None) -> LagrangeBound | None:
    """The best Lagrangian bound (see the module docstring) found in ``seconds``, the step
    sizes set against ``plan_cost`` (the cost of the best plan known), from the multipliers
    ``start`` (e.g. the LP relaxation's duals; by default each service's cheapest pair). None
    with the partner rule or no service. When ``kept`` is a list, the sites the relaxation
    keeps at each new best value are appended to it (the last ``KEPT_SETS`` different ones).
    Once ``stop`` is set (HiGHS beside it has stopped), it stops after the step in hand."""
    if data.partner or data.n_services == 0:
        return None
    t0 = time.perf_counter()
    nu, npairs = data.n_services, data.n_pairs
    ps, pj = data.pair_service, data.pair_site
    cap = data.capacity
    spend = data.pair_spend if data.pair_spend is not None else np.zeros(npairs)
    use_budget = data.budget is not None
    nc = data.n_cover
    cover_row = np.repeat(np.arange(nc), np.diff(data.cover_ptr))
    need = float(data.space.sum())
    scale_k = max(1.0, float(np.median(cap)))  # kappa's row in sites' worth of room
    if start is None:
        lam = np.full(nu, np.inf)
        np.minimum.at(lam, ps, data.pair_cost)
        lam[~np.isfinite(lam)] = 0.0
        mult = Multipliers(lam, np.zeros(nc))
        theta = 2.0
    else:
        mult = Multipliers(np.asarray(start.lam, dtype=float).copy(), np.maximum(0.0, start.mu).copy(),
                           max(0.0, float(start.nu)), max(0.0, float(start.kappa)))
        theta = 0.5  # near the best multipliers already: smaller steps (0.5 did better than 2 or 0.1)
    best, stall, it = -np.inf, 0, 0
    ub = float(plan_cost)
    while (it < max_iterations and time.perf_counter() - t0 < seconds
           and not (stop is not None and stop.is_set())):
        it += 1
        value, g, y, x = _terms(data, mult)
        if value > best + 1e-9 * max(1.0, abs(value)):
            best, stall = value, 0
            if kept is not None and not (kept and np.array_equal(kept[-1].keep, y)):
                kept.append(KeptSet(value, y.copy(), g.copy()))
                del kept[:-KEPT_SETS]
        else:
            stall += 1
            if stall >= 20:
                theta, stall = theta / 2, 0
        if theta < 1e-4 or ub - best <= 1e-9 * max(1.0, abs(ub)):
            break
        x &= y[pj]
        s_u = 1.0 - np.bincount(ps[x], minlength=nu)
        s_r = (1.0 - np.bincount(cover_row, weights=x[data.cover_pairs], minlength=nc)) if nc else np.zeros(0)
        s_r = np.where((mult.mu <= 0) & (s_r < 0), 0.0, s_r)
        s_b = float(spend[x].sum() - data.budget) if use_budget else 0.0
        if mult.nu <= 0 and s_b < 0:
            s_b = 0.0
        s_k = (need - float(cap[y].sum())) / scale_k
        if mult.kappa <= 0 and s_k < 0:
            s_k = 0.0
        norm = float(s_u @ s_u + s_r @ s_r + s_b * s_b + s_k * s_k)
        if norm <= 0:
            break  # the relaxation's answer meets every relaxed row
        step = theta * max(ub - value, 1e-6 * max(1.0, abs(ub))) / norm
        mult.lam = mult.lam + step * s_u
        if nc:
            mult.mu = np.maximum(0.0, mult.mu + step * s_r)
        if use_budget:
            mult.nu = max(0.0, mult.nu + step * s_b)
        mult.kappa = max(0.0, mult.kappa + step * s_k / scale_k)
    if not np.isfinite(best):
        return None
    return LagrangeBound(best, it, time.perf_counter() - t0)


def best_lagrangian_bound(data: ModelData, plan_cost: float, seconds: float,
                          lp_mult: Multipliers | None = None, kept: list[KeptSet] | None = None,
                          stop: threading.Event | None = None) -> LagrangeBound | None:
    """The Lagrangian bound from the LP relaxation's duals ``lp_mult`` (far better on the
    large synthetic places' parts: 7.92 against 5.28 billion in 20 s on the 10,000-site place's
    largest), then, with the time its steps leave when they stall, from each service's
    cheapest pair (better on the OR-Library capa instances): the better of the two."""
    t0 = time.perf_counter()
    best = None
    for start in ((lp_mult, None) if lp_mult is not None else (None,)):
        rest = seconds - (time.perf_counter() - t0)
        if best is not None and (rest < 0.5 or (stop is not None and stop.is_set())):
            break
        lag = lagrangian_bound(data, plan_cost, max(rest, 0.1), start=start, kept=kept, stop=stop)
        if lag is not None and (best is None or lag.bound_cost > best.bound_cost):
            best = lag
    return best
