r"""The co-location and disposal model (../shared/spec/model.md, version 1) on plain arrays, built
and solved with PuLP; the reference formulation. ``planner.highs_direct`` builds the same model
straight into HiGHS for speed, and tests check that both agree.

Everything here works on numbers that ``planner.optimise`` derives from the spec's inputs
(sites, services, zones, pair costs, scenario): no geometry, no names beyond ids. A model is a
``ModelData``:

- sites ``j``: the benefit of disposing ``b_j`` (present value, GBP), the effective capacity
  ``C_j`` (m2), the agency, and ``fixed_j``: -1 free, 1 kept (not disposable), 0 disposed
  (forced disposal);
- services ``u``: space ``s_u`` (m2) and agency;
- allowed pairs ``p = (u, j)``: the cost ``c_p`` counted in the objective (GBP, present
  value), the one-off spend ``e_p`` counted against the budget (0 for staying put), and the
  recharge ``q_p = a(0) * recharge * s_u`` when ``j`` belongs to another agency than ``u`` and
  is not ``u``'s current site (else 0);
- access rows: sets ``R`` of pairs of which at least one must be chosen (one per zone and
  service type that is covered today);
- the optional budget ``B``, the optional limit ``K`` on disposals and the partner rule.

Formulation (binary ``y_j`` = 1 keeps site ``j``; binary ``x_p`` = 1 puts service ``u`` in site
``j``)::

    maximise   NPV = sum_j b_j (1 - y_j) - sum_p c_p x_p
    subject to sum_{p of u} x_p = 1                       for every service u        (1)
               sum_{p at j} s_u x_p <= C_j y_j             for every site j           (2)
               x_p <= y_j                                   for every pair p at j      (2, strong linking)
               y_j = fixed_j                                where fixed_j is 0 or 1    (3)
               sum_p e_p x_p <= B                           when a budget is set       (4)
               sum_j (1 - y_j) <= K                         when a limit is set        (5)
               sum_{p in R} x_p >= 1                        for every access row R     (6)
               sum_{j of g} b_j (1 - y_j) - sum_{p: u of g} (c_p + q_p) x_p
                 + sum_{p: j of g, u not of g} q_p x_p >= 0  for every agency g         (7, when set)

The PuLP model minimises the equivalent cost ``sum_j b_j y_j + sum_p c_p x_p`` (NPV is
``sum_j b_j`` minus it), so that solver bounds read the same way for every solver.

Solvers: ``highs`` (the default: the direct highspy model of ``planner.highs_direct``),
``highs-pulp`` (this PuLP model handed to HiGHS through PuLP) and ``cbc`` (this PuLP model with
PuLP's bundled CBC). A ``Solution`` tells apart optimal, feasible (a time limit was reached
holding a plan, with a gap), infeasible and no solution, and refuses to give values for a model
that was not solved.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from planner.errors import SolverError

OPTIMAL = "optimal"
FEASIBLE = "feasible"
INFEASIBLE = "infeasible"
NO_SOLUTION = "no_solution"
STATUSES = (OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION)
SOLVERS = ("highs", "highs-pulp", "cbc")

FREE, DISPOSE, KEEP = -1, 0, 1


@dataclass(frozen=True)
class SolveOptions:
    """How to solve. ``mip_rel_gap`` is tight by default so that "optimal" means proven
    (HiGHS's own default is 1e-4); ``mip_abs_gap`` is in the objective's units (GBP)."""

    solver: str = "highs"
    time_limit_s: float | None = None
    mip_rel_gap: float = 1e-9
    mip_abs_gap: float = 1e-6
    threads: int | None = None
    msg: bool = False
    warm_start: bool = True  # give the status quo to the solver as a starting plan when feasible

    def __post_init__(self):
        if self.solver not in SOLVERS:
            raise SolverError(f"unknown solver {self.solver!r}: choose one of {', '.join(SOLVERS)}")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise SolverError(f"time limit must be > 0 seconds, not {self.time_limit_s!r}")
        if not 0 <= self.mip_rel_gap < 1:
            raise SolverError(f"relative gap must be in [0, 1), not {self.mip_rel_gap!r} (write 0.01 for 1%)")
        if self.threads is not None and self.threads < 1:
            raise SolverError(f"threads must be at least 1, not {self.threads!r}")


def _f(a, n=None) -> np.ndarray:
    out = np.asarray(a, dtype=float).reshape(-1)
    if n is not None and out.shape[0] != n:
        raise ValueError(f"expected {n} values, got {out.shape[0]}")
    return out


def _i(a, n=None) -> np.ndarray:
    out = np.asarray(a, dtype=np.int64).reshape(-1)
    if n is not None and out.shape[0] != n:
        raise ValueError(f"expected {n} values, got {out.shape[0]}")
    return out


@dataclass
class ModelData:
    """The model as plain arrays (see the module docstring)."""

    site_ids: list[str]
    benefit: np.ndarray  # b_j, GBP
    capacity: np.ndarray  # effective capacity C_j, m2
    fixed: np.ndarray  # -1 free, 0 disposed, 1 kept
    site_agency: np.ndarray  # index into agencies
    service_ids: list[str]
    space: np.ndarray  # s_u, m2
    service_agency: np.ndarray  # index into agencies
    pair_service: np.ndarray
    pair_site: np.ndarray
    pair_cost: np.ndarray  # c_p, GBP (objective)
    pair_spend: np.ndarray | None = None  # e_p, GBP (budget); default 0
    pair_recharge: np.ndarray | None = None  # q_p, GBP; default 0
    pair_stay: np.ndarray | None = None  # True where j is u's current site
    agencies: list[str] = field(default_factory=list)
    cover_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    cover_pairs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cover_labels: list[str] = field(default_factory=list)
    budget: float | None = None
    max_disposals: int | None = None
    partner: bool = False

    def __post_init__(self):
        ns, nu = len(self.site_ids), len(self.service_ids)
        self.site_ids = [str(s) for s in self.site_ids]
        self.service_ids = [str(s) for s in self.service_ids]
        self.benefit = _f(self.benefit, ns)
        self.capacity = _f(self.capacity, ns)
        self.fixed = np.asarray(self.fixed, dtype=np.int8).reshape(-1)
        if self.fixed.shape[0] != ns or not np.isin(self.fixed, (FREE, DISPOSE, KEEP)).all():
            raise ValueError("fixed must hold -1 (free), 0 (disposed) or 1 (kept) for every site")
        self.site_agency = _i(self.site_agency, ns)
        self.space = _f(self.space, nu)
        self.service_agency = _i(self.service_agency, nu)
        self.pair_service = _i(self.pair_service)
        npairs = self.pair_service.shape[0]
        self.pair_site = _i(self.pair_site, npairs)
        self.pair_cost = _f(self.pair_cost, npairs)
        self.pair_spend = np.zeros(npairs) if self.pair_spend is None else _f(self.pair_spend, npairs)
        self.pair_recharge = np.zeros(npairs) if self.pair_recharge is None else _f(self.pair_recharge, npairs)
        self.pair_stay = (np.zeros(npairs, dtype=bool) if self.pair_stay is None
                          else np.asarray(self.pair_stay, dtype=bool).reshape(-1))
        if npairs and (self.pair_service.min() < 0 or self.pair_service.max() >= nu
                       or self.pair_site.min() < 0 or self.pair_site.max() >= ns):
            raise ValueError("a pair refers to a service or site that does not exist")
        if not self.agencies:
            n_ag = int(max(self.site_agency.max(initial=-1), self.service_agency.max(initial=-1))) + 1
            self.agencies = [str(i) for i in range(n_ag)]
        self.cover_ptr = _i(self.cover_ptr)
        self.cover_pairs = _i(self.cover_pairs)
        if self.cover_ptr.shape[0] < 1 or self.cover_ptr[-1] != self.cover_pairs.shape[0]:
            raise ValueError("cover_ptr must be a CSR pointer into cover_pairs")
        if not self.cover_labels:
            self.cover_labels = [f"access row {r}" for r in range(self.n_cover)]

    # -- sizes ------------------------------------------------------------------------------
    @property
    def n_sites(self) -> int:
        return len(self.site_ids)

    @property
    def n_services(self) -> int:
        return len(self.service_ids)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_service.shape[0])

    @property
    def n_cover(self) -> int:
        return int(self.cover_ptr.shape[0] - 1)

    def cover_row(self, r: int) -> np.ndarray:
        return self.cover_pairs[self.cover_ptr[r]:self.cover_ptr[r + 1]]

    @classmethod
    def from_lists(cls, sites: list[dict], services: list[dict], pairs: list[dict],
                   cover: list[list[int]] | None = None, **kwargs) -> ModelData:
        """A small model written out by hand (tests, examples). ``sites``: dicts with id,
        benefit, capacity, fixed (default -1), agency (default "a"); ``services``: id, space,
        agency; ``pairs``: service (id), site (id), cost, spend, recharge, stay."""
        agencies: list[str] = []

        def ag(name):
            if name not in agencies:
                agencies.append(name)
            return agencies.index(name)

        s_index = {s["id"]: k for k, s in enumerate(sites)}
        u_index = {u["id"]: k for k, u in enumerate(services)}
        cover = cover or []
        ptr = np.cumsum([0] + [len(r) for r in cover])
        return cls(
            site_ids=[s["id"] for s in sites],
            benefit=[s.get("benefit", 0.0) for s in sites],
            capacity=[s.get("capacity", 0.0) for s in sites],
            fixed=[s.get("fixed", FREE) for s in sites],
            site_agency=[ag(s.get("agency", "a")) for s in sites],
            service_ids=[u["id"] for u in services],
            space=[u.get("space", 1.0) for u in services],
            service_agency=[ag(u.get("agency", "a")) for u in services],
            pair_service=[u_index[p["service"]] for p in pairs],
            pair_site=[s_index[p["site"]] for p in pairs],
            pair_cost=[p.get("cost", 0.0) for p in pairs],
            pair_spend=[p.get("spend", 0.0) for p in pairs],
            pair_recharge=[p.get("recharge", 0.0) for p in pairs],
            pair_stay=[p.get("stay", False) for p in pairs],
            agencies=agencies,
            cover_ptr=ptr,
            cover_pairs=np.asarray([i for r in cover for i in r], dtype=np.int64),
            **kwargs,
        )

    def subset(self, sites: np.ndarray, services: np.ndarray, pairs: np.ndarray,
               cover_rows: np.ndarray, keep_coupling: bool = True) -> ModelData:
        """The model restricted to some sites, services, pairs and access rows (a part of a
        decomposition: no pair or row may refer outside it)."""
        sites, services, pairs = (np.asarray(a, dtype=np.int64) for a in (sites, services, pairs))
        cover_rows = np.asarray(cover_rows, dtype=np.int64)

        def local(members: np.ndarray, values: np.ndarray) -> np.ndarray:
            # position of each value in ``members`` (-1 when absent), without arrays of the
            # whole model's size: a part costs time in proportion to its own size
            order = np.argsort(members, kind="stable")
            srt = members[order]
            pos = np.searchsorted(srt, values)
            pos_c = np.minimum(pos, max(srt.size - 1, 0))
            hit = (srt.size > 0) & (srt[pos_c] == values) if srt.size else np.zeros(values.size, dtype=bool)
            return np.where(hit, order[pos_c], -1)

        new_site = local(sites, self.pair_site[pairs])
        new_service = local(services, self.pair_service[pairs])
        if cover_rows.size:
            lens = np.diff(self.cover_ptr)[cover_rows]
            flat = np.concatenate([self.cover_row(r) for r in cover_rows]) if lens.sum() else np.zeros(0, np.int64)
            flat_local = local(pairs, flat)
            rows = np.split(flat_local, np.cumsum(lens)[:-1])
        else:
            rows = []
        if any((r < 0).any() for r in rows) or (new_site < 0).any() or (new_service < 0).any():
            raise ValueError("the subset is not closed: a pair or access row refers outside it")
        ptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
        return ModelData(
            site_ids=[self.site_ids[j] for j in sites], benefit=self.benefit[sites],
            capacity=self.capacity[sites], fixed=self.fixed[sites], site_agency=self.site_agency[sites],
            service_ids=[self.service_ids[u] for u in services], space=self.space[services],
            service_agency=self.service_agency[services],
            pair_service=new_service, pair_site=new_site,
            pair_cost=self.pair_cost[pairs], pair_spend=self.pair_spend[pairs],
            pair_recharge=self.pair_recharge[pairs], pair_stay=self.pair_stay[pairs],
            agencies=list(self.agencies), cover_ptr=ptr,
            cover_pairs=np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
            cover_labels=[self.cover_labels[r] for r in cover_rows],
            budget=self.budget if keep_coupling else None,
            max_disposals=self.max_disposals if keep_coupling else None,
            partner=self.partner if keep_coupling else False,
        )

    # -- evaluating a plan ------------------------------------------------------------------
    def npv(self, y: np.ndarray, chosen: np.ndarray) -> float:
        """NPV of a plan: ``y`` (0/1 per site) and ``chosen`` (the pair index of each service)."""
        y = np.asarray(y, dtype=float)
        chosen = np.asarray(chosen, dtype=np.int64)
        return float(np.dot(self.benefit, 1.0 - y) - self.pair_cost[chosen].sum())

    def agency_value(self, y: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """Left-hand side of rule 7 for each agency (GBP)."""
        y = np.asarray(y, dtype=float)
        chosen = np.asarray(chosen, dtype=np.int64)
        n_ag = len(self.agencies)
        val = np.bincount(self.site_agency, weights=self.benefit * (1.0 - y), minlength=n_ag)
        u = self.pair_service[chosen]
        val -= np.bincount(self.service_agency[u], weights=self.pair_cost[chosen] + self.pair_recharge[chosen],
                           minlength=n_ag)
        val += np.bincount(self.site_agency[self.pair_site[chosen]], weights=self.pair_recharge[chosen],
                           minlength=n_ag)
        return val

    def violations(self, y: np.ndarray, chosen: np.ndarray, tol: float = 1e-6) -> list[str]:
        """Every rule a plan breaks, in words (empty: the plan is feasible)."""
        y = np.rint(np.asarray(y, dtype=float)).astype(int)
        chosen = np.asarray(chosen, dtype=np.int64)
        out: list[str] = []
        if chosen.shape[0] != self.n_services:
            return [f"the plan places {chosen.shape[0]} services, the model has {self.n_services}"]
        if (chosen < 0).any() or (chosen >= self.n_pairs).any():
            return ["the plan uses a pair that does not exist"]
        bad = np.nonzero(self.pair_service[chosen] != np.arange(self.n_services))[0]
        out += [f"service {self.service_ids[u]} is given a pair of another service" for u in bad]
        sites = self.pair_site[chosen]
        load = np.bincount(sites, weights=self.space, minlength=self.n_sites)
        for j in np.nonzero(load > self.capacity * y + tol * np.maximum(1.0, self.capacity))[0]:
            out.append(f"site {self.site_ids[j]} holds {load[j]:g} m2 but its capacity is "
                       f"{self.capacity[j] * y[j]:g} m2")
        for u in np.nonzero(y[sites] == 0)[0]:
            out.append(f"service {self.service_ids[u]} is placed in disposed site {self.site_ids[sites[u]]}")
        for j in np.nonzero((self.fixed != FREE) & (y != self.fixed))[0]:
            out.append(f"site {self.site_ids[j]} must be {'kept' if self.fixed[j] == KEEP else 'disposed'}")
        if self.budget is not None:
            spend = self.pair_spend[chosen].sum()
            if spend > self.budget + tol * max(1.0, abs(self.budget)):
                out.append(f"one-off spend {spend:,.2f} exceeds the budget {self.budget:,.2f}")
        if self.max_disposals is not None and (1 - y).sum() > self.max_disposals:
            out.append(f"{int((1 - y).sum())} disposals exceed the limit {self.max_disposals}")
        x = np.zeros(self.n_pairs, dtype=bool)
        x[chosen] = True
        for r in range(self.n_cover):
            if not x[self.cover_row(r)].any():
                out.append(f"access lost: {self.cover_labels[r]}")
        if self.partner:
            val = self.agency_value(y, chosen)
            for g in np.nonzero(val < -tol * max(1.0, float(np.abs(self.benefit).sum())))[0]:
                out.append(f"agency {self.agencies[g]} would be worse off by {-val[g]:,.2f}")
        return out

    def trivial_bound_cost(self) -> float:
        """A lower bound on ``sum b y + sum c x`` that needs no solver: every free site at its
        better value, every service at its cheapest pair, no rule joining them."""
        fixed_part = np.where(self.fixed == KEEP, self.benefit,
                              np.where(self.fixed == DISPOSE, 0.0, np.minimum(self.benefit, 0.0))).sum()
        cheapest = np.full(self.n_services, np.inf)
        np.minimum.at(cheapest, self.pair_service, self.pair_cost)
        return float(fixed_part + cheapest[np.isfinite(cheapest)].sum())

    def greedy_start(self, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """A good plan found quickly, to start the solver from (None when none is found):
        place the services that must move at their cheapest allowed site with room, then try
        to empty the free sites one by one, most valuable first, keeping each disposal that
        pays and keeps every rule. Never better than the optimum; often close to it."""
        ns, nu = self.n_sites, self.n_services
        ps, pj, cost = self.pair_service, self.pair_site, self.pair_cost
        by_service = np.argsort(ps, kind="stable")
        starts = np.searchsorted(ps[by_service], np.arange(nu + 1))
        by_u = [by_service[starts[u]:starts[u + 1]] for u in range(nu)]
        y = (self.fixed != DISPOSE).astype(np.int8)
        load = np.zeros(ns)
        chosen = np.full(nu, -1, dtype=np.int64)
        spend = 0.0
        budget = np.inf if self.budget is None else float(self.budget)
        # access rows: how many chosen pairs each row holds
        row_of_pair: list[list[int]] = [[] for _ in range(self.n_pairs)] if self.n_cover else []
        for r in range(self.n_cover):
            for p in self.cover_row(r):
                row_of_pair[p].append(r)
        held = np.zeros(self.n_cover, dtype=np.int64)

        def take(u, p):
            nonlocal spend
            chosen[u] = p
            load[pj[p]] += self.space[u]
            spend += self.pair_spend[p]
            for r in row_of_pair[p] if self.n_cover else ():
                held[r] += 1

        def drop(u):
            nonlocal spend
            p = chosen[u]
            chosen[u] = -1
            load[pj[p]] -= self.space[u]
            spend -= self.pair_spend[p]
            for r in row_of_pair[p] if self.n_cover else ():
                held[r] -= 1
            return p

        def best_pair(u, avoid=-1):
            best, best_c = -1, np.inf
            for p in by_u[u]:
                j = pj[p]
                if j == avoid or not y[j] or load[j] + self.space[u] > self.capacity[j] + 1e-9:
                    continue
                if spend + self.pair_spend[p] > budget + 1e-9:
                    continue
                if cost[p] < best_c:
                    best, best_c = p, cost[p]
            return best

        pending = []
        for u in range(nu):
            stay = [p for p in by_u[u] if self.pair_stay[p] and y[pj[p]]]
            if stay:
                take(u, stay[0])
            else:
                pending.append(u)
        for u in sorted(pending, key=lambda u: -self.space[u]):
            p = best_pair(u)
            if p < 0:
                return None
            take(u, p)
        if self.n_cover and (held < 1).any():
            return None
        in_site: list[list[int]] = [[] for _ in range(ns)]
        for u in range(nu):
            in_site[pj[chosen[u]]].append(u)
        disposed = int((y == 0).sum())
        limit = np.inf if self.max_disposals is None else self.max_disposals
        for j in (np.argsort(-self.benefit, kind="stable") if order is None else order):
            if self.fixed[j] != FREE or self.benefit[j] <= 0 or disposed >= limit:
                continue
            y[j] = 0
            moved: list[tuple[int, int]] = []
            delta = 0.0
            ok = True
            for u in sorted(in_site[j], key=lambda u: -self.space[u]):
                old = drop(u)
                p = best_pair(u, avoid=j)
                if p < 0:
                    take(u, old)
                    ok = False
                    break
                take(u, p)
                moved.append((u, old))
                delta += cost[p] - cost[old]
            if ok and self.n_cover and (held < 1).any():
                ok = False
            if ok and self.benefit[j] - delta > 1e-9:
                disposed += 1
                for u, _old in moved:
                    in_site[pj[chosen[u]]].append(u)
                in_site[j] = [u for u in in_site[j] if pj[chosen[u]] == j]
                continue
            for u, old in reversed(moved):
                drop(u)
                take(u, old)
            y[j] = 1
        if (chosen < 0).any() or self.violations(y, chosen):
            return None
        return y.astype(float), chosen

    def best_start(self, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """The best of the status quo and the greedy plans (most valuable sites first, and in
        ``order`` when given, e.g. the LP relaxation's); None when none is a plan."""
        tries = [self.status_quo(), self.greedy_start()]
        if order is not None:
            tries.append(self.greedy_start(order))
        starts = [s for s in tries if s is not None]
        if not starts:
            return None
        return max(starts, key=lambda s: self.npv(*s))

    def status_quo(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Keep everything, move nothing: (y, chosen) when that is a feasible plan, else None."""
        if (self.fixed == DISPOSE).any():
            return None
        stay = np.full(self.n_services, -1, dtype=np.int64)
        idx = np.nonzero(self.pair_stay)[0]
        stay[self.pair_service[idx]] = idx
        if (stay < 0).any():
            return None
        y = np.ones(self.n_sites)
        if self.violations(y, stay):
            return None
        return y, stay


# -- solutions ----------------------------------------------------------------------------------
@dataclass
class Solution:
    """A solver's answer. ``y``, ``chosen``, ``npv_gbp`` raise SolverError unless the status is
    optimal or feasible: values from a model that was not solved are never reported."""

    status: str
    solver: str
    seconds: float
    bound_cost: float | None = None  # lower bound on sum b y + c x (None when unknown)
    message: str = ""
    _y: np.ndarray | None = None
    _chosen: np.ndarray | None = None
    _npv: float | None = None
    _benefit_total: float = 0.0
    build_seconds: float = 0.0

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")

    @property
    def solved(self) -> bool:
        return self.status in (OPTIMAL, FEASIBLE)

    def _need(self):
        if not self.solved:
            raise SolverError(f"no plan to report: the solver's status is {self.status}"
                              f"{' (' + self.message + ')' if self.message else ''}")

    @property
    def y(self) -> np.ndarray:
        self._need()
        return self._y

    @property
    def chosen(self) -> np.ndarray:
        self._need()
        return self._chosen

    @property
    def npv_gbp(self) -> float:
        self._need()
        return self._npv

    @property
    def bound_gbp(self) -> float | None:
        """Upper bound on the NPV (the best any plan can do)."""
        if self.status == OPTIMAL:
            return self._npv if self.bound_cost is None else max(self._npv, self._benefit_total - self.bound_cost)
        if self.bound_cost is None or self.status == INFEASIBLE:
            return None
        return self._benefit_total - self.bound_cost

    @property
    def gap(self) -> float | None:
        """(bound - NPV) / max(1, |NPV|), 0 when proven optimal within the tolerances."""
        self._need()
        b = self.bound_gbp
        if b is None:
            return None
        diff = b - self._npv
        if diff <= max(1e-6, 1e-12 * abs(self._npv)):
            return 0.0  # rounding noise in the sums, not a gap
        return diff / max(1.0, abs(self._npv))


def finish_solution(data: ModelData, status: str, solver: str, seconds: float, y=None, x=None,
                    bound_cost: float | None = None, message: str = "") -> Solution:
    """Turn raw solver values into a Solution: round, decode the pair of each service, and
    check the plan against every rule (a plan that breaks one is an error, not an answer)."""
    total_b = float(data.benefit.sum())
    if status not in (OPTIMAL, FEASIBLE):
        return Solution(status, solver, seconds, bound_cost, message, _benefit_total=total_b)
    y = np.rint(np.asarray(y, dtype=float)).astype(np.int8)
    x = np.asarray(x, dtype=float)
    on = x > 0.5
    chosen = np.full(data.n_services, -1, dtype=np.int64)
    idx = np.nonzero(on)[0]
    chosen[data.pair_service[idx]] = idx
    counts = np.bincount(data.pair_service[idx], minlength=data.n_services)
    if (counts != 1).any():
        raise SolverError(f"{solver} returned a plan that does not place every service exactly once")
    bad = data.violations(y, chosen, tol=1e-5)
    if bad:
        raise SolverError(f"{solver} returned a plan that breaks the rules: " + "; ".join(bad[:5]))
    npv = data.npv(y, chosen)
    if bound_cost is None:
        bound_cost = data.trivial_bound_cost()  # the solver stopped before it had a bound
    return Solution(status, solver, seconds, bound_cost, message, y, chosen, npv, total_b)


# -- the PuLP model -------------------------------------------------------------------------------
def build_pulp(data: ModelData, name: str = "colocation", strong_link: bool = True):
    """The model as a PuLP problem (minimising ``sum b y + sum c x``), with its variables.
    ``strong_link=False`` leaves out the rows ``x_p <= y_j`` of services that take room (their
    capacity rows already keep them out of a disposed site, so the plans are the same; the LP
    is weaker but far smaller): see ``CBC_STRONG_MAX_PAIRS``."""
    import pulp

    prob = pulp.LpProblem(name, pulp.LpMinimize)
    y = [prob.add_variable(f"y_{j}", 0, 1, cat=pulp.LpBinary) for j in range(data.n_sites)]
    x = [prob.add_variable(f"x_{p}", 0, 1, cat=pulp.LpBinary) for p in range(data.n_pairs)]
    prob += (pulp.lpSum(float(data.benefit[j]) * y[j] for j in range(data.n_sites) if data.benefit[j] != 0)
             + pulp.lpSum(float(data.pair_cost[p]) * x[p] for p in range(data.n_pairs) if data.pair_cost[p] != 0))
    by_service: list[list[int]] = [[] for _ in range(data.n_services)]
    by_site: list[list[int]] = [[] for _ in range(data.n_sites)]
    for p in range(data.n_pairs):
        by_service[data.pair_service[p]].append(p)
        by_site[data.pair_site[p]].append(p)
    # (1) every service in exactly one site
    for u in range(data.n_services):
        prob += pulp.lpSum(x[p] for p in by_service[u]) == 1, f"assign_{u}"
    # (2) capacity and strong linking
    for j in range(data.n_sites):
        if by_site[j]:
            prob += (pulp.lpSum(float(data.space[data.pair_service[p]]) * x[p] for p in by_site[j])
                     <= float(data.capacity[j]) * y[j]), f"capacity_{j}"
        for p in by_site[j]:
            if strong_link or not data.space[data.pair_service[p]] > 0:
                prob += x[p] <= y[j], f"link_{p}"
    # (3) sites that must be kept or disposed
    for j in range(data.n_sites):
        if data.fixed[j] != FREE:
            prob += y[j] == int(data.fixed[j]), f"fixed_{j}"
    # (4) budget
    if data.budget is not None:
        prob += pulp.lpSum(float(data.pair_spend[p]) * x[p] for p in range(data.n_pairs)
                           if data.pair_spend[p] != 0) <= float(data.budget), "budget"
    # (5) number of disposals
    if data.max_disposals is not None:
        prob += pulp.lpSum(1 - y[j] for j in range(data.n_sites)) <= int(data.max_disposals), "max_disposals"
    # (6) access
    for r in range(data.n_cover):
        prob += pulp.lpSum(x[p] for p in data.cover_row(r)) >= 1, f"access_{r}"
    # (7) partners no worse off
    if data.partner:
        for g in range(len(data.agencies)):
            own_sites = [j for j in range(data.n_sites) if data.site_agency[j] == g]
            terms = [float(data.benefit[j]) * (1 - y[j]) for j in own_sites]
            for p in range(data.n_pairs):
                u, j = data.pair_service[p], data.pair_site[p]
                if data.service_agency[u] == g:
                    terms.append(-(float(data.pair_cost[p]) + float(data.pair_recharge[p])) * x[p])
                elif data.site_agency[j] == g:
                    terms.append(float(data.pair_recharge[p]) * x[p])
            # the status quo meets this row with equality, and CBC reads the model from an MPS
            # file whose numbers PuLP rounds to 13 digits: with benefits of millions the
            # status quo then broke the row by 6e-7, beyond CBC's tolerance, and CBC called a
            # 5-site place with a plan worth £909,665 infeasible. The row is eased by
            # PARTNER_ROUNDING of its coefficients' size (under a penny on millions)
            size = sum(abs(float(t.constant)) + sum(abs(float(c)) for c in t.values()) for t in terms)
            prob += pulp.lpSum(terms) >= -PARTNER_ROUNDING * size, f"partner_{g}"
    return prob, y, x


PARTNER_ROUNDING = 1e-10  # the partner rows of the PuLP model are eased by this share of their coefficients' size
_WARNINGS_LOCK = threading.Lock()
_CBC_BOUND = re.compile(r"^(Lower bound|Objective value):\s*([-+0-9.eE]+)", re.M)


CBC_STRONG_MAX_PAIRS = 20_000  # CBC gets the x <= y rows and a starting plan only on parts with fewer pairs
CBC_GRACE_S = 10.0  # a CBC run still going this long after its time limit (or a quarter of the limit, if more) is ended
CBC_GRACE_SHARE = 0.25  # (CBC often ends a little after its limit: on capa, given 60 s, with its plan at 63-79 s)
CBC_POLL_S = 0.2  # how often a CBC run is checked for its deadline and a stop


class CbcRun:
    """One CBC process, in the form ``planner.highs_direct.HighsStopper`` stops a run in:
    ``cancelSolve()`` ends the process (SIGTERM). ``HandleUserInterrupt`` is only for that
    likeness (HiGHS's switch for its interrupt callbacks)."""

    def __init__(self, proc) -> None:
        self.proc = proc
        self.cancelled = False
        self.HandleUserInterrupt = False

    def cancelSolve(self) -> None:
        self.cancelled = True
        if self.proc.poll() is None:
            self.proc.terminate()


def _end_process(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2.0)
        except Exception:
            proc.kill()
            proc.wait()


def tied_to_caller(args: list[str]) -> list[str]:
    """The command ``args`` run so that it is killed if the thread that starts it dies (Linux's
    parent-death signal, set by util-linux's ``setpriv --pdeathsig``, which then runs the
    command in its own place): a planner (or the app) killed with SIGKILL, or by the
    out-of-memory killer, then takes its CBC with it instead of leaving it running to its own
    time limit. Setting the signal in Python's ``preexec_fn`` is not safe in a program with
    threads (the app's solves); ``setpriv`` sets it in a program of its own. Unchanged where
    there is no ``setpriv`` (not Linux, or no util-linux)."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--", *args] if setpriv else list(args)


def run_cbc(prob, options: SolveOptions, warm_start: bool, stopper=None, cbc_path: str | None = None):
    """Solve the PuLP model ``prob`` with PuLP's bundled CBC (or the executable ``cbc_path``),
    run here rather than by PuLP so that it keeps to its time limit and can be stopped: the
    bundled CBC 2.10.3 does not look at its time limit (``-sec``) while it reads a starting
    plan or solves its first LP relaxation, which took minutes on the OR-Library capa
    instances' 100,000 moves (an instance given 20 s still running after 120 s; nor does it
    heed SIGINT there; see ``CBC_STRONG_MAX_PAIRS``). A run still going ``CBC_GRACE_S`` (or
    ``CBC_GRACE_SHARE`` of the limit, if more) after its limit is ended, with no plan of its
    own (CBC writes its plan only when it stops by itself). ``stopper``'s ``stop()`` (Ctrl-C,
    SIGTERM, the app's Stop) ends it too. The model is written and the answer read back with
    PuLP's own functions (``writeMPS``, ``writesol``, ``readsol_MPS``), as PuLP's CBC does;
    the CBC options are those PuLP's gives it; CBC dies with the thread that runs it
    (``tied_to_caller``). Returns (the log text, None or why there is
    no plan: "interrupted" or the time-limit message); the plan, when there is one, is in
    ``prob``'s variables and status."""
    import subprocess

    import pulp

    # PuLP warns that PULP_CBC_CMD goes in PuLP 4 (pinned below 4). The warning filters are the
    # whole process's: hidden only while the object is made, and one thread at a time, so that
    # two parts solved at once cannot leave every warning hidden (a thread putting back the
    # other's "ignore") nor hide other sessions' warnings for the length of a solve
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cmd = pulp.PULP_CBC_CMD(msg=False)
    path = cbc_path or cmd.path
    limit = options.time_limit_s
    t0 = time.monotonic()  # the guard's clock counts the writing of the model too
    with tempfile.TemporaryDirectory(prefix="planner-cbc-") as tmp:
        mps, sol, mst, log = (os.path.join(tmp, f"model.{ext}") for ext in ("mps", "sol", "mst", "log"))
        vs, var_names, row_names, _objective = prob.writeMPS(mps, rename=1)
        args = [path, mps]
        if prob.sense == pulp.LpMaximize:
            args.append("-max")
        if warm_start:
            cmd.writesol(mst, prob, vs, var_names, row_names)
            args += ["-mips", mst]
        if limit is not None:
            args += ["-sec", repr(float(limit))]
        args += ["-ratio", repr(float(options.mip_rel_gap)), "-allow", repr(float(options.mip_abs_gap))]
        if options.threads is not None:
            args += ["-threads", str(int(options.threads))]
        args += ["-timeMode", "elapsed", "-solve", "-printingOptions", "all", "-solution", sol]
        deadline = None if limit is None else t0 + float(limit) + max(CBC_GRACE_S, CBC_GRACE_SHARE * float(limit))
        overran = False
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(tied_to_caller(args), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        run = CbcRun(proc)
        if stopper is not None:
            stopper.started(run)
        try:
            while True:
                try:
                    proc.wait(timeout=CBC_POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    if deadline is not None and time.monotonic() > deadline:
                        overran = True
                        _end_process(proc)
                        break
        except BaseException:
            _end_process(proc)  # nothing is left running behind an error or Ctrl-C
            raise
        finally:
            if stopper is not None:
                stopper.finished(run)
        with open(log, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        if options.msg:
            print(text, end="", flush=True)
        if overran:
            return text, (f"CBC did not stop at its time limit of {float(limit):g} s and was ended after "
                          f"{time.monotonic() - t0:.0f} s, with no plan of its own (CBC does not look at its limit while it "
                          "reads a starting plan or solves its first LP relaxation; HiGHS, the default solver, "
                          "keeps to its limit)")
        if run.cancelled:
            return text, "interrupted"
        if proc.returncode != 0 or not os.path.exists(sol):
            tail = " / ".join(text.strip().splitlines()[-3:])
            raise SolverError(f"CBC failed (exit code {proc.returncode}){': ' + tail if tail else ''}")
        status, values, _dj, _pi, _slack, sol_status = cmd.readsol_MPS(sol, prob, vs, var_names, row_names)
        prob.assignVarsVals(values)
        prob.assignStatus(status, sol_status)
        return text, None


def solve_pulp(data: ModelData, options: SolveOptions = SolveOptions(solver="highs-pulp"),
               stopper=None) -> Solution:
    """Build the PuLP model and solve it with HiGHS (through PuLP) or PuLP's bundled CBC
    (``run_cbc``). ``stopper`` (a ``planner.highs_direct.HighsStopper``): its ``stop()`` ends
    the run early (HiGHS at its next check, CBC's process at once)."""
    import pulp

    t0 = time.perf_counter()
    name = "cbc" if options.solver == "cbc" else "highs-pulp"
    values = None  # the plan's (y, x), when it is not read from the PuLP variables
    # CBC on a large part gets neither the x <= y rows nor a starting plan: on the OR-Library
    # capa instances (100,000 allowed pairs), given 60 s, CBC with either of them had found no
    # plan when it was ended at 66 s (it does not look at its time limit while it reads a
    # starting plan or solves its first LP relaxation); with neither it has a plan within the
    # minute (the same plans; a weaker bound)
    large_cbc = name == "cbc" and data.n_pairs >= CBC_STRONG_MAX_PAIRS
    prob, y, x = build_pulp(data, strong_link=not large_cbc)
    build_s = time.perf_counter() - t0
    start = data.best_start() if options.warm_start and not large_cbc else None
    t1 = time.perf_counter()
    if name == "cbc":
        if start is not None:
            for j, v in enumerate(start[0]):
                y[j].setInitialValue(int(v))
            on = set(start[1].tolist())
            for p in range(data.n_pairs):
                x[p].setInitialValue(1 if p in on else 0)
        text, stopped = run_cbc(prob, options, start is not None, stopper)
        seconds = time.perf_counter() - t1
        bound = None
        if stopped is not None:
            status, message = NO_SOLUTION, stopped
        else:
            # PuLP reports "Optimal" for a time-limited run holding a plan: read sol_status.
            if prob.status == pulp.LpStatusInfeasible or prob.sol_status == pulp.LpSolutionInfeasible:
                status = INFEASIBLE
            elif prob.sol_status == pulp.LpSolutionOptimal:
                status = OPTIMAL
            elif prob.sol_status == pulp.LpSolutionIntegerFeasible:
                status = FEASIBLE
            else:
                status = NO_SOLUTION
            found = dict(_CBC_BOUND.findall(text))
            if "Lower bound" in found:
                bound = float(found["Lower bound"])
            elif status == OPTIMAL and "Objective value" in found:
                bound = float(found["Objective value"])
            message = "" if status != FEASIBLE else "time limit reached"
        if status == NO_SOLUTION and stopped != "interrupted" and options.warm_start:
            # CBC found no plan in its time (or was ended for overrunning it): the best plan
            # known before it ran is the answer, as on the HiGHS path
            from planner.highs_direct import _plan_columns

            known = start if start is not None else data.best_start()
            if known is not None:
                status = FEASIBLE
                message = (f"{message or 'time limit reached'}; the plan is the best known before CBC ran "
                           "(the status quo or a greedy plan), with no bound")
                values = _plan_columns(data, *known)
    else:
        from planner.highs_direct import match_thread_scheduler, quiet_banner, run_highs

        class StoppableHiGHS(pulp.HiGHS):
            """PuLP's HiGHS with its run registered with ``stopper``."""

            def callSolver(self, lp):
                run_highs(lp.solverModel, stopper)

        if not options.msg:
            quiet_banner()
        match_thread_scheduler(options.threads)
        solver = StoppableHiGHS(msg=options.msg, timeLimit=options.time_limit_s, gapRel=options.mip_rel_gap,
                                gapAbs=options.mip_abs_gap, threads=options.threads)
        prob.solve(solver)
        seconds = time.perf_counter() - t1
        h = prob.solverModel
        status, bound, message = read_highs_status(h)
    if status in (OPTIMAL, FEASIBLE):
        if values is None:
            values = (np.array([v.varValue or 0.0 for v in y]), np.array([v.varValue or 0.0 for v in x]))
        yv, xv = values
        sol = finish_solution(data, status, name, seconds, yv, xv, bound, message)
    else:
        sol = finish_solution(data, status, name, seconds, bound_cost=None, message=message)
    sol.build_seconds = build_s
    return sol


def gap_met(cost: float, bound: float, rel_gap: float, abs_gap: float) -> bool:
    """Whether a plan of (minimised) ``cost`` is proven within the gap tolerances by ``bound``."""
    return cost - bound <= max(abs_gap, rel_gap * abs(cost))


def read_highs_status(h) -> tuple[str, float | None, str]:
    """Status, lower bound on the (minimised) objective and a message from a Highs object
    after ``run()``. A time limit holding a plan is ``feasible``, not optimal."""
    import highspy

    ms = h.getModelStatus()
    info = h.getInfo()
    has_plan = info.primal_solution_status == int(highspy.kSolutionStatusFeasible)
    S = highspy.HighsModelStatus
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    if ms == S.kOptimal:
        return (OPTIMAL if has_plan else NO_SOLUTION), bound, ""
    if ms in (S.kInfeasible, S.kUnboundedOrInfeasible):
        return INFEASIBLE, None, "no plan meets every rule"
    if ms == S.kModelEmpty:
        return OPTIMAL, 0.0, ""
    limits = {S.kTimeLimit: "time limit reached", S.kIterationLimit: "iteration limit reached",
              S.kInterrupt: "interrupted", S.kSolutionLimit: "solution limit reached",
              S.kObjectiveBound: "objective bound reached", S.kObjectiveTarget: "objective target reached",
              S.kMemoryLimit: "memory limit reached"}
    if ms in limits:
        if has_plan and bound is not None:
            # stopped by a limit, but the plan is proven within the gap tolerances
            obj = float(info.objective_function_value)
            rel = float(h.getOptionValue("mip_rel_gap")[1]) if isinstance(h.getOptionValue("mip_rel_gap"), tuple) \
                else float(h.getOptionValue("mip_rel_gap"))
            absg = float(h.getOptionValue("mip_abs_gap")[1]) if isinstance(h.getOptionValue("mip_abs_gap"), tuple) \
                else float(h.getOptionValue("mip_abs_gap"))
            if gap_met(obj, bound, rel, absg):
                return OPTIMAL, bound, ""
        return (FEASIBLE if has_plan else NO_SOLUTION), bound, limits[ms]
    raise SolverError(f"HiGHS failed: {h.modelStatusToString(ms)}")


def solve(data: ModelData, options: SolveOptions | None = None) -> Solution:
    """Solve one model with the solver named in ``options`` (default: HiGHS, direct)."""
    options = options or SolveOptions()
    if options.solver == "highs":
        from planner.highs_direct import solve_highs

        return solve_highs(data, options)
    return solve_pulp(data, options)
