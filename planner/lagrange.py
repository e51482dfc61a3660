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
rounding can only weaken ``L``, never make it wrong. The multipliers improve by subgradient
steps (Polyak's rule against the best plan's cost). Not for the partner rule (one row per
agency, not relaxed here): ``lagrangian_bound`` returns None there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planner.model import DISPOSE, FREE, KEEP, ModelData

KNAP_UNITS = 200  # capacity units of each site's knapsack


@dataclass
class LagrangeBound:
    bound_cost: float  # a lower bound on sum b y + sum c x over every plan
    iterations: int
    seconds: float


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


def lagrangian_bound(data: ModelData, plan_cost: float, seconds: float = 10.0,
                     max_iterations: int = 5000) -> LagrangeBound | None:
    """The best Lagrangian bound (see the module docstring) found in ``seconds``, the step
    sizes set against ``plan_cost`` (the cost of the best plan known). None with the partner
    rule or no service."""
    if data.partner or data.n_services == 0:
        return None
    t0 = time.perf_counter()
    ns, nu, npairs = data.n_sites, data.n_services, data.n_pairs
    ps, pj = data.pair_service, data.pair_site
    b, fixed, cap = data.benefit, data.fixed, data.capacity
    spend = data.pair_spend if data.pair_spend is not None else np.zeros(npairs)
    use_budget = data.budget is not None
    nc = data.n_cover
    cover_row = np.repeat(np.arange(nc), np.diff(data.cover_ptr))
    need = float(data.space.sum())
    scale_k = max(1.0, float(np.median(cap)))  # kappa's row in sites' worth of room
    n_keep = 0 if data.max_disposals is None else ns - int(data.max_disposals)
    lam = np.full(nu, np.inf)
    np.minimum.at(lam, ps, data.pair_cost)
    lam[~np.isfinite(lam)] = 0.0
    mu = np.zeros(nc)
    nu_b = kappa = 0.0
    best, theta, stall, it = -np.inf, 2.0, 0, 0
    ub = float(plan_cost)
    while it < max_iterations and time.perf_counter() - t0 < seconds:
        it += 1
        rc = data.pair_cost - lam[ps] + nu_b * spend
        if nc:
            rc = rc - np.bincount(data.cover_pairs, weights=mu[cover_row], minlength=npairs)
        K, x = knapsacks(data, rc)
        g = b - kappa * cap + K
        y = np.where(fixed == KEEP, True, np.where(fixed == DISPOSE, False, g < 0))
        if n_keep > int(y.sum()):
            cand = np.nonzero(~y & (fixed == FREE))[0]
            y[cand[np.argsort(g[cand], kind="stable")[:n_keep - int(y.sum())]]] = True
        value = float(lam.sum() + mu.sum() - (nu_b * data.budget if use_budget else 0.0) + kappa * need
                      + g[y].sum())
        if value > best + 1e-9 * max(1.0, abs(value)):
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 20:
                theta, stall = theta / 2, 0
        if theta < 1e-4 or ub - best <= 1e-9 * max(1.0, abs(ub)):
            break
        x &= y[pj]
        s_u = 1.0 - np.bincount(ps[x], minlength=nu)
        s_r = (1.0 - np.bincount(cover_row, weights=x[data.cover_pairs], minlength=nc)) if nc else np.zeros(0)
        s_r = np.where((mu <= 0) & (s_r < 0), 0.0, s_r)
        s_b = float(spend[x].sum() - data.budget) if use_budget else 0.0
        if nu_b <= 0 and s_b < 0:
            s_b = 0.0
        s_k = (need - float(cap[y].sum())) / scale_k
        if kappa <= 0 and s_k < 0:
            s_k = 0.0
        norm = float(s_u @ s_u + s_r @ s_r + s_b * s_b + s_k * s_k)
        if norm <= 0:
            break  # the relaxation's answer meets every relaxed row
        step = theta * max(ub - value, 1e-6 * max(1.0, abs(ub))) / norm
        lam = lam + step * s_u
        if nc:
            mu = np.maximum(0.0, mu + step * s_r)
        if use_budget:
            nu_b = max(0.0, nu_b + step * s_b)
        kappa = max(0.0, kappa + step * s_k / scale_k)
    if not np.isfinite(best):
        return None
    return LagrangeBound(best, it, time.perf_counter() - t0)
