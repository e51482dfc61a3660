"""The model of ``planner.model`` built straight into HiGHS (highspy) from numpy arrays: the
fast path for large places. Same variables, rows and objective as ``planner.model.build_pulp``
(tests check both give the same answers), but assembled as one sparse matrix in a few numpy
operations and passed to HiGHS in one call, so building takes seconds for millions of pairs.

Columns: ``y_j`` for every site, then ``x_p`` for every allowed pair (then, for the elastic
model used to explain infeasibility, the slack columns). Rows: (1) assignment, (2) capacity
(only where the services that could come could overflow it) and strong linking ``x_p <= y_j``
(only for sites that are not fixed as kept; or, aggregated, a capacity row for every free
site in its place), (4) budget, (5) disposals, (6) access,
(7) partners, and one valid inequality (the kept sites' capacity covers all the space the
services need) that cuts off no plan but tightens the bound. Rule (3) is column bounds. Sites fixed as disposed have their pairs' columns
fixed at 0.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from planner.errors import SolverError
from planner.lagrange import KeptSet, Multipliers, best_lagrangian_bound
from planner.model import (
    DISPOSE,
    FEASIBLE,
    FREE,
    INFEASIBLE,
    KEEP,
    NO_SOLUTION,
    OPTIMAL,
    ModelData,
    Solution,
    SolveOptions,
    finish_solution,
    gap_met,
    read_highs_status,
)

INF = float("inf")
LNS_MIN_PAIRS = 10_000  # parts with at least this many pairs get a window search under a time limit
LNS_SHARE = 0.5  # share of the time left after the first HiGHS run for the support and window searches
LNS_TIGHT_MIN_PAIRS = 2_000  # and parts with this many pairs when their time is short:
LNS_TIGHT_S_PER_1000_PAIRS = 5.0  # under this many seconds per 1,000 pairs
LNS_PROBE_S = 10.0  # the most seconds of the first HiGHS run on such a part
LNS_PROBE_SHARE = 0.15  # and its most share of the part's time
LNS_PROBE_S_PER_10K_PAIRS = 4.0  # none when shorter than this per 10,000 pairs (HiGHS's presolve and root LP)
LNS_ROUND_S = 8.0  # seconds of window search between two support searches
LNS_SUPPORT_S = 5.0  # the most seconds of one support search
LAGRANGE_SHARE = 0.3  # share of the searches' time for the Lagrangian bound (parts of 50,000 pairs or more)
LAGRANGE_MAX_S = 20.0  # and at most this
LAGRANGE_MIN_PAIRS = 50_000  # parts with this many pairs or more get the Lagrangian bound
HEURISTIC_SHARE = 0.5  # share of the searches' time after the Lagrangian for the Lagrangian heuristic
HEURISTIC_SUB_S = 3.0  # the most seconds of one of its restricted solves
HEURISTIC_MISSES = 3  # it stops after this many sets in a row without a better plan (one, until one is better, under HEURISTIC_MIN_REACH)
HEURISTIC_LAG_S = 3.0  # below LAGRANGE_MIN_PAIRS the Lagrangian runs for the heuristic's sets only, at most this
HEURISTIC_MIN_REACH = 0.25  # and only where a service may go to this share of the part's sites on average
HEURISTIC_ROOM = 1.05  # kept sites are added until their capacity is this share of the space needed
BESIDE = True  # parts that get the searches run them beside HiGHS where two threads may be used
BESIDE_LINK = "aggregate"  # the linking rows of HiGHS's model there (see ``build_matrix``)
BESIDE_MIN_PAIRS = 4_000  # parts left to HiGHS alone get the searches beside it from this many pairs
RACE = True  # other parts HiGHS has alone with two threads get a second HiGHS run beside the first
RACE_AFTER_S = 1.0  # which starts when the first has not settled the part after this many seconds
RACE_SEED = 1  # with this random seed (HiGHS's option ``random_seed``; the first run keeps HiGHS's own)
LP_ORDER_MIN_PAIRS = 2_000  # parts with this many pairs also try the LP relaxation's order for the start
LP_STRONG_MAX_PAIRS = 50_000  # above this the LP for the start's order leaves out the x <= y rows
LNS_WINDOW_SITES = 40  # the most sites in one window of the window search
LNS_FIRST_WINDOW_SITES = 10  # windows start this small and grow when they stop paying
LNS_PATIENCE = 30  # windows in a row without a better plan before the windows grow


@dataclass
class MatrixModel:
    """A model as arrays ready for HiGHS: minimise cost . v subject to row_lo <= A v <= row_hi,
    col_lo <= v <= col_hi, integrality per column. ``slacks`` labels the elastic columns."""

    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    n_sites: int
    n_pairs: int
    slacks: list[tuple[str, int, int]]  # (kind, index, column)
    groups: dict[str, int] = field(default_factory=dict)  # first row of: assign, room, budget, access


class _Rows:
    def __init__(self):
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.n = 0

    def add(self, rows, cols, vals, lo, hi):
        """Add len(lo) rows; ``rows`` are 0-based within this block."""
        lo = np.atleast_1d(np.asarray(lo, dtype=float))
        hi = np.atleast_1d(np.asarray(hi, dtype=float))
        self.r.append(np.asarray(rows, dtype=np.int64) + self.n)
        self.c.append(np.asarray(cols, dtype=np.int64))
        self.v.append(np.asarray(vals, dtype=float))
        self.lo.append(lo)
        self.hi.append(hi)
        first = self.n
        self.n += lo.shape[0]
        return first


def build_matrix(data: ModelData, elastic: bool = False, drop: frozenset[str] = frozenset(),
                 strong_link: bool = True, capacity_cover: bool = True) -> MatrixModel:
    """Assemble the model. ``elastic`` adds a slack column to every rule that can be broken
    (with a penalty), for explaining infeasibility; ``drop`` leaves rule groups out (budget,
    max_disposals, access, partner, forced).

    ``strong_link``: True, a row ``x_p <= y_j`` for every pair at a site not fixed as kept (the
    strong LP); False, none (a relaxation, only for bounds: a service could then sit in a
    disposed site whose capacity row is left out); ``"aggregate"``, a capacity row for every
    free site that services could go to (``sum space x <= capacity y``, which links every
    service that takes room) and ``x_p <= y_j`` only for services of no space. The aggregate
    model has exactly the plans of the strong one, with a weaker LP but a far smaller one
    (on the 500-site place's largest part 1,663 rows against 12,091): HiGHS finishes its root
    cuts sooner (44 s against over 60 s there), its cuts recover most of the strong LP's bound,
    and it finds better plans in a minute."""
    ns, npairs, nu = data.n_sites, data.n_pairs, data.n_services
    ps, pj = data.pair_service, data.pair_site
    xcol = ns + np.arange(npairs)
    cost = np.concatenate([data.benefit, data.pair_cost])
    col_lo = np.zeros(ns + npairs)
    col_hi = np.ones(ns + npairs)
    fixed = data.fixed.copy()
    if "forced" in drop:
        fixed[fixed == DISPOSE] = FREE
    slack_cost: list[float] = []
    slack_hi: list[float] = []
    slacks: list[tuple[str, int, int]] = []
    n_cols = ns + npairs

    def new_slack(kind: str, index: int, penalty: float, hi: float = INF) -> int:
        nonlocal n_cols
        slacks.append((kind, index, n_cols))
        slack_cost.append(penalty)
        slack_hi.append(hi)
        n_cols += 1
        return n_cols - 1

    # (3) fixed sites: bounds, or (elastic) a penalty for keeping a forced disposal
    keep = fixed == KEEP
    col_lo[:ns][keep] = 1.0
    out = fixed == DISPOSE
    rows = _Rows()
    if elastic:
        # penalties: breaking a scenario rule (a forced disposal, the budget, the disposal
        # limit, an access row, a partner) costs about 1 per instance; leaving a service
        # without a home or overfilling a site costs far more, so the relaxation says how the
        # scenario's rules must give before it blames the buildings.
        big = 1.0
        for j in np.nonzero(out)[0]:
            # y_j - s <= 0  (s = 1 keeps a site that was to be disposed)
            s = new_slack("forced", int(j), big, 1.0)
            rows.add([0, 0], [j, s], [1.0, -1.0], -INF, 0.0)
        cost[:] = 0.0
    else:
        col_hi[:ns][out] = 0.0
        col_hi[ns:][out[pj]] = 0.0

    groups: dict[str, int] = {}
    # (1) assignment
    first = rows.n
    groups["assign"] = first
    rows.add(ps, xcol, np.ones(npairs), np.ones(nu), np.ones(nu))
    if elastic:
        for u in range(nu):
            s = new_slack("unplaced", u, 100.0, 1.0)
            rows.r.append(np.array([first + u]))
            rows.c.append(np.array([s]))
            rows.v.append(np.array([1.0]))

    # (2) capacity where it can bind, and strong linking where the site is not kept for sure
    load = np.bincount(pj, weights=data.space[ps], minlength=ns)
    can_bind = load > data.capacity + 1e-9
    if strong_link == "aggregate":
        can_bind |= (fixed == FREE) & (load > 0)
    if not elastic:
        can_bind &= ~out
    cap_sites = np.nonzero(can_bind)[0]
    if cap_sites.size:
        pos = np.full(ns, -1, dtype=np.int64)
        pos[cap_sites] = np.arange(cap_sites.size)
        sel = pos[pj] >= 0
        r = np.concatenate([pos[pj[sel]], np.arange(cap_sites.size)])
        c = np.concatenate([xcol[sel], cap_sites])
        v = np.concatenate([data.space[ps[sel]], -data.capacity[cap_sites]])
        first = rows.add(r, c, v, np.full(cap_sites.size, -INF), np.zeros(cap_sites.size))
        if elastic:
            for k, j in enumerate(cap_sites):
                s = new_slack("capacity", int(j), 10.0 / max(1.0, float(data.space.min(initial=1.0))))
                rows.r.append(np.array([first + k]))
                rows.c.append(np.array([s]))
                rows.v.append(np.array([-1.0]))
    link = np.nonzero(fixed[pj] == FREE)[0] if not elastic else np.nonzero(~keep[pj])[0]
    if strong_link == "aggregate":
        link = link[~can_bind[pj[link]] | (data.space[ps[link]] <= 0)]
    if link.size and strong_link:
        k = np.arange(link.size)
        rows.add(np.concatenate([k, k]), np.concatenate([xcol[link], pj[link]]),
                 np.concatenate([np.ones(link.size), -np.ones(link.size)]),
                 np.full(link.size, -INF), np.zeros(link.size))

    # a valid inequality that cuts off no plan: the kept sites must have room for every
    # service (the sum of the capacity rows with the assignment rows). It helps the solver's
    # bound on capacity-tight places (e.g. the single-source facility location benchmarks).
    if capacity_cover and not elastic and nu and (fixed == FREE).any():
        free = np.nonzero(fixed != DISPOSE)[0]
        need = float(data.space.sum())
        if float(data.capacity[free].sum()) > 0:
            groups["room"] = rows.n
            rows.add(np.zeros(free.size), free, data.capacity[free], need * (1 - 1e-12), INF)

    # (4) budget
    if data.budget is not None and "budget" not in drop:
        nzp = np.nonzero(data.pair_spend)[0]
        first = rows.add(np.zeros(nzp.size), xcol[nzp], data.pair_spend[nzp], -INF, float(data.budget))
        groups["budget"] = first
        if elastic:
            s = new_slack("budget", 0, 1.0 / max(1.0, float(data.budget)))
            rows.r.append(np.array([first]))
            rows.c.append(np.array([s]))
            rows.v.append(np.array([-1.0]))

    # (5) disposals: sum_j y_j >= n_sites - K
    if data.max_disposals is not None and "max_disposals" not in drop:
        first = rows.add(np.zeros(ns), np.arange(ns), np.ones(ns), float(ns - data.max_disposals), INF)
        if elastic:
            s = new_slack("max_disposals", 0, 1.0)
            rows.r.append(np.array([first]))
            rows.c.append(np.array([s]))
            rows.v.append(np.array([1.0]))

    # (6) access
    if data.n_cover and "access" not in drop:
        lens = np.diff(data.cover_ptr)
        rr = np.repeat(np.arange(data.n_cover), lens)
        first = rows.add(rr, xcol[data.cover_pairs], np.ones(rr.size), np.ones(data.n_cover),
                         np.full(data.n_cover, INF))
        groups["access"] = first
        if elastic:
            for r in range(data.n_cover):
                s = new_slack("access", r, 1.0, 1.0)
                rows.r.append(np.array([first + r]))
                rows.c.append(np.array([s]))
                rows.v.append(np.array([1.0]))

    # (7) partners: -sum_{j of g} b_j y_j - sum_{p: u of g} (c_p + q_p) x_p + sum_{p: j of g} q_p x_p
    #              >= -sum_{j of g} b_j
    if data.partner and "partner" not in drop:
        n_ag = len(data.agencies)
        ga_u = data.service_agency[ps]
        ga_j = data.site_agency[pj]
        r = np.concatenate([data.site_agency, ga_u, ga_j])
        c = np.concatenate([np.arange(ns), xcol, xcol])
        v = np.concatenate([-data.benefit, -(data.pair_cost + data.pair_recharge), data.pair_recharge])
        lo = -np.bincount(data.site_agency, weights=data.benefit, minlength=n_ag)
        nz = v != 0
        first = rows.add(r[nz], c[nz], v[nz], lo, np.full(n_ag, INF))
        if elastic:
            scale = max(1.0, float(np.abs(data.benefit).sum() + np.abs(data.pair_cost).sum()) / max(1, ns))
            for g in range(n_ag):
                s = new_slack("partner", g, 1.0 / scale)
                rows.r.append(np.array([first + g]))
                rows.c.append(np.array([s]))
                rows.v.append(np.array([1.0]))

    n_rows = rows.n
    A = sp.csr_matrix((np.concatenate(rows.v) if rows.v else np.zeros(0),
                       (np.concatenate(rows.r) if rows.r else np.zeros(0, dtype=np.int64),
                        np.concatenate(rows.c) if rows.c else np.zeros(0, dtype=np.int64))),
                      shape=(n_rows, n_cols))
    A.sum_duplicates()
    integer = np.concatenate([np.ones(ns + npairs, dtype=np.int32), np.zeros(len(slacks), dtype=np.int32)])
    return MatrixModel(
        cost=np.concatenate([cost, np.asarray(slack_cost, dtype=float)]),
        col_lo=np.concatenate([col_lo, np.zeros(len(slacks))]),
        col_hi=np.concatenate([col_hi, np.asarray(slack_hi, dtype=float)]),
        integer=integer, A=A,
        row_lo=np.concatenate(rows.lo) if rows.lo else np.zeros(0),
        row_hi=np.concatenate(rows.hi) if rows.hi else np.zeros(0),
        n_sites=ns, n_pairs=npairs, slacks=slacks, groups=groups,
    )


# The banner is printed once per process (see quiet_banner): whether that has happened, and the
# lock that lets only one thread point the output descriptor elsewhere.
_BANNER_LOCK = threading.Lock()
_BANNER_DONE = threading.Event()


def quiet_banner() -> None:
    """highspy prints its banner ("Running HiGHS ... Copyright") to the process's standard
    output the first time a ``Highs`` object is made, whatever ``output_flag`` says later. Make
    that first object once with the output file descriptor pointed at /dev/null, so that the
    command line's own output (and JSON piped from it) stays clean.

    Only the first call in a process does that, and under a lock: the descriptor is the whole
    process's, and two threads (two parts starting at once) making their first HiGHS object
    together could leave standard output at /dev/null for good (one thread keeping the other's
    /dev/null as the descriptor to put back), after which nothing the process printed was seen
    (a cache on this function, as before 2026-11-30, ran it once per process but not once at a
    time)."""
    if _BANNER_DONE.is_set():
        return
    import highspy

    with _BANNER_LOCK:
        if _BANNER_DONE.is_set():
            return
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_DONE.set()


# HiGHS keeps one task scheduler per calling thread, started with the thread count of the first
# run on that thread; a later run there asking for another count fails with model status
# "Not Set". This records, per thread, the count its scheduler was started with.
_SCHEDULER = threading.local()


def match_thread_scheduler(threads: int | None) -> None:
    """Call before a HiGHS run on this thread: restarts this thread's HiGHS scheduler when the
    run asks for another number of threads (None: HiGHS's own choice) than the last one here."""
    import highspy

    want = 0 if threads is None else int(threads)
    had = getattr(_SCHEDULER, "threads", None)
    if had is not None and had != want:
        highspy.Highs.resetThreadScheduler(True)
    _SCHEDULER.threads = want


def new_highs(msg: bool = False, threads: int | None = None):
    """A ``highspy.Highs`` with its log on or off (``msg``), without the banner, set to use
    ``threads`` (None: HiGHS's choice), to be run on the calling thread."""
    import highspy

    if not msg:
        quiet_banner()
    match_thread_scheduler(threads)
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(msg))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    return h


def _highs(m: MatrixModel, options: SolveOptions, time_limit_s: float | None = None):
    import highspy

    h = new_highs(bool(options.msg), options.threads)
    h.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
    h.setOptionValue("mip_abs_gap", float(options.mip_abs_gap))
    limit = time_limit_s if time_limit_s is not None else options.time_limit_s
    if limit is not None:
        h.setOptionValue("time_limit", float(max(limit, 0.01)))
    hi = np.where(np.isinf(m.col_hi), highspy.kHighsInf, m.col_hi)
    rlo = np.where(np.isinf(m.row_lo), -highspy.kHighsInf, m.row_lo)
    rhi = np.where(np.isinf(m.row_hi), highspy.kHighsInf, m.row_hi)
    A = m.A
    status = h.passModel(int(m.cost.size), int(A.shape[0]), int(A.nnz), 2, 1, 0.0,
                         m.cost.astype(np.float64), m.col_lo.astype(np.float64), hi.astype(np.float64),
                         rlo.astype(np.float64), rhi.astype(np.float64),
                         A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(np.float64),
                         m.integer.astype(np.int32))
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS refused the model (passModel failed)")
    return h


def lp_duals(m: MatrixModel, data: ModelData, row_dual: np.ndarray) -> Multipliers:
    """The LP relaxation's duals of the rows the Lagrangian relaxes (``planner.lagrange``), in
    its signs: a starting point at which the Lagrangian is already at least the LP's value."""
    g = m.groups
    lam = np.asarray(row_dual[g["assign"]:g["assign"] + data.n_services], dtype=float)
    mu = (np.maximum(0.0, row_dual[g["access"]:g["access"] + data.n_cover]) if "access" in g
          else np.zeros(data.n_cover))
    nu = max(0.0, -float(row_dual[g["budget"]])) if "budget" in g else 0.0
    kappa = max(0.0, float(row_dual[g["room"]])) if "room" in g else 0.0
    return Multipliers(lam.copy(), np.asarray(mu, dtype=float).copy(), nu, kappa)


def _lp_order(m: MatrixModel, data: ModelData, options: SolveOptions, limit: float | None,
              stopper: HighsStopper | None = None):
    """Sites in the order the LP relaxation would dispose of them (lowest y first): a better
    order for the greedy start on large parts; the LP's value, a bound on the cost; the
    pairs the LP uses (x > 0), for the support search; and its duals as the Lagrangian's
    starting multipliers. (None, None, None, None) when the LP is not solved quickly."""
    import highspy

    cap = 30.0 if limit is None else max(0.1, min(30.0, 0.2 * limit))
    tries = ((m, 1.0), (None, 0.5)) if data.n_pairs < LP_STRONG_MAX_PAIRS else ((None, 0.5),)
    for model, share in tries:
        if model is None:
            # too slow with a row x <= y for every pair: the weaker LP without them (still a
            # relaxation, so still a bound) solves in a fraction of the time
            model = build_matrix(data, strong_link=False)
        h = _highs(model, options, cap * share)
        h.setOptionValue("solve_relaxation", True)
        run_highs(h, stopper)
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            v = np.asarray(h.getSolution().col_value)
            y = v[:data.n_sites]
            used = v[data.n_sites:data.n_sites + data.n_pairs] > 1e-6
            duals = lp_duals(model, data, np.asarray(h.getSolution().row_dual))
            return (np.lexsort((-data.benefit, np.round(y, 6))), float(h.getInfo().objective_function_value),
                    used, duals)
    return None, None, None, None


def _plan_vector(data: ModelData, y, chosen) -> np.ndarray:
    """The model's columns (y, then x) of a plan."""
    val = np.zeros(data.n_sites + data.n_pairs)
    val[:data.n_sites] = y
    val[data.n_sites + np.asarray(chosen, dtype=np.int64)] = 1.0
    return val


def _plan_columns(data: ModelData, y, chosen) -> tuple[np.ndarray, np.ndarray]:
    """A plan as the solver's values: (y, x)."""
    v = _plan_vector(data, y, chosen)
    return v[:data.n_sites], v[data.n_sites:]


class SharedPlan:
    """The best plan of two searches run at once (HiGHS on one thread, the support, window and
    Lagrangian searches on another), kept under a lock. HiGHS's callbacks offer it each plan
    HiGHS finds (its column values, checked later on the searches' thread) and take the
    searches' plan when it is better than HiGHS's own; the searches start each round from it."""

    def __init__(self, data: ModelData, y, chosen):
        self.data = data
        self.lock = threading.Lock()
        self.total = float(data.benefit.sum())
        self.plan = (np.asarray(y, dtype=float), np.asarray(chosen, dtype=np.int64))
        self.plan_cost = self._cost(*self.plan)  # the model's objective (minimised)
        self.vector: np.ndarray | None = None  # a better plan from HiGHS, not yet checked
        self.vector_cost = INF
        self.given = self.plan_cost  # the cost of the last plan HiGHS has (its start, its own, ours)

    def _cost(self, y, chosen) -> float:
        return self.total - self.data.npv(y, chosen)

    @staticmethod
    def _below(a: float, b: float) -> bool:
        return a < b - 1e-9 * max(1.0, abs(b))

    def offer(self, y, chosen) -> bool:
        """A plan checked against every rule; kept when better. Returns whether it was."""
        cost = self._cost(y, chosen)
        with self.lock:
            if self._below(cost, min(self.plan_cost, self.vector_cost)):
                self.plan = (np.asarray(y, dtype=float), np.asarray(chosen, dtype=np.int64))
                self.plan_cost, self.vector, self.vector_cost = cost, None, INF
                return True
        return False

    def from_highs(self, values: np.ndarray, cost: float) -> None:
        """HiGHS's callback: a plan it found (column values) and its objective."""
        with self.lock:
            self.given = min(self.given, cost)
            if self._below(cost, min(self.plan_cost, self.vector_cost)):
                self.vector = np.array(values[:self.data.n_sites + self.data.n_pairs], dtype=float)
                self.vector_cost = cost

    def best(self) -> tuple[np.ndarray, np.ndarray]:
        """The best plan so far, checked against every rule (a HiGHS plan that fails the check
        is dropped)."""
        while True:
            with self.lock:
                vector, plan = self.vector, self.plan
            if vector is None:
                return plan
            try:
                sol = finish_solution(self.data, FEASIBLE, "highs", 0.0, vector[:self.data.n_sites],
                                      vector[self.data.n_sites:], None)
                checked = (sol.y.astype(float), sol.chosen)
            except SolverError:
                checked = None
            with self.lock:
                if self.vector is vector:
                    self.vector, self.vector_cost = None, INF
                    if checked is not None and self._below(self._cost(*checked), self.plan_cost):
                        self.plan, self.plan_cost = checked, self._cost(*checked)
                    return self.plan

    def for_highs(self, highs_cost: float) -> np.ndarray | None:
        """HiGHS's callback: the searches' plan as column values when it beats HiGHS's own."""
        with self.lock:
            if self._below(self.plan_cost, min(highs_cost, self.given)):
                self.given = self.plan_cost
                return _plan_vector(self.data, *self.plan)
        return None


class HighsStopper:
    """A stop signal for one solve: its HiGHS runs and its searches. ``stop()`` (before the runs
    start or while they run) cancels every HiGHS run ``started`` here and not yet
    ``finished`` with highspy's own user interrupt (``HandleUserInterrupt``, ``cancelSolve``:
    HiGHS's interrupt callbacks end the run at HiGHS's next check, model status
    "interrupted"), ends each run started here after it at once, stops every stopper made with
    it as ``parent`` (a part of its work, which may also be stopped alone), and makes
    ``is_set()`` true, so that it serves as the stop event of the searches' loops. Used when
    the searches beside HiGHS fail (HiGHS stops at once instead of at its time limit), when
    HiGHS beside the searches is done (their restricted solves stop with it), and when a solve
    is given up (Ctrl-C, the app's Stop, or one part's solve raised: the other parts' runs
    stop with it). The callbacks are switched on only when a run is stopped: HiGHS
    calls them very often, and each call takes Python's lock, which would slow HiGHS."""

    def __init__(self, parent: HighsStopper | None = None):
        self._lock = threading.Lock()
        self._runs: list = []
        self._children: list[HighsStopper] = []
        self._stopped = False
        if parent is not None:
            parent._adopt(self)

    def _adopt(self, child: HighsStopper) -> None:
        with self._lock:
            self._children.append(child)
            stopped = self._stopped
        if stopped:
            child.stop()

    def is_set(self) -> bool:
        return self._stopped

    def started(self, h) -> None:
        """A run's ``Highs`` object, before its ``run()``."""
        with self._lock:
            self._runs.append(h)
            if self._stopped:
                self._interrupt(h)

    def finished(self, h) -> None:
        """The run of ``h`` has ended."""
        with self._lock:
            self._runs = [r for r in self._runs if r is not h]

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            for h in self._runs:
                self._interrupt(h)
            children = list(self._children)
        for c in children:
            c.stop()

    @staticmethod
    def _interrupt(h) -> None:
        h.cancelSolve()
        h.HandleUserInterrupt = True


def run_highs(h, stopper: HighsStopper | None = None) -> None:
    """``h.run()``, with the run registered with ``stopper`` while it runs (its ``stop()``
    ends it)."""
    if stopper is None:
        h.run()
        return
    stopper.started(h)
    try:
        h.run()
    finally:
        stopper.finished(h)


def call_stoppable(fn, stopper: HighsStopper, tick=None, tick_s: float = 0.2):
    """``fn()`` on a thread of its own while the calling thread waits, so that a
    KeyboardInterrupt (Ctrl-C) reaching the caller is acted on at once: ``stopper.stop()``
    (``fn``'s HiGHS runs and searches, given ``stopper``, end at their next check), then, once
    ``fn`` has ended, the interrupt is raised. Python raises Ctrl-C only on the main thread and
    only between its own steps, which a HiGHS run on the main thread holds off until it returns
    (up to its whole time limit). ``tick()``, when given, is called about every ``tick_s``
    seconds while ``fn`` runs; whatever it raises is treated the same way (a front end's stop
    or rerun request, raised from its own calls in ``tick``). ``fn``'s own error, or its value,
    is passed on."""
    out: dict[str, object] = {}
    # an event, not Thread.join: on Python 3.11 a join interrupted by Ctrl-C can leave the
    # thread marked as ended, after which join() returns at once while it still runs
    finished = threading.Event()

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # raised again on the calling thread
            out["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name="planner-solve", daemon=True).start()
    try:
        while not finished.wait(tick_s):
            if tick is not None:
                tick()
    except BaseException:
        stopper.stop()
        finished.wait()
        raise
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


def _run_mip(m: MatrixModel, data: ModelData, options: SolveOptions, limit: float | None, start,
             shared: SharedPlan | None = None, stopper: HighsStopper | None = None, seed: int | None = None):
    """One HiGHS run: (status, bound, y, x, message, seconds, pass_seconds). With ``shared``,
    HiGHS gives it every better plan it finds and takes the better plans put there; with
    ``stopper``, another thread may end it early; ``seed``: HiGHS's ``random_seed`` (None: its
    default)."""
    t0 = time.perf_counter()
    h = _highs(m, options, None if limit is None else max(0.1, limit))
    if seed is not None:
        h.setOptionValue("random_seed", int(seed))
    if start is not None:
        idx = np.arange(data.n_sites + data.n_pairs, dtype=np.int32)
        h.setSolution(int(idx.size), idx, _plan_vector(data, start[0], start[1]))
    if shared is not None:
        def improving(e):
            shared.from_highs(np.asarray(e.data_out.mip_solution), float(e.data_out.objective_function_value))

        def user(e):
            vector = shared.for_highs(float(e.data_out.mip_primal_bound))
            if vector is not None:
                full = np.zeros(m.cost.size)
                full[:vector.size] = vector
                e.data_in.setSolution(full)

        h.cbMipImprovingSolution.subscribe(improving)
        h.cbMipUserSolution.subscribe(user)
    pass_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_highs(h, stopper)
    seconds = time.perf_counter() - t1
    status, bound, message = read_highs_status(h)
    y = x = None
    if status in (OPTIMAL, FEASIBLE):
        v = np.asarray(h.getSolution().col_value)
        worth = float(m.cost @ v)
        if not _same_value(worth, float(h.getInfo().objective_function_value)):
            return _not_what_highs_said(m, data, options, limit, stopper, message, bound, v, worth,
                                        start is not None or shared is not None, t0, seconds, pass_s, seed)
        y, x = v[:data.n_sites], v[data.n_sites:data.n_sites + data.n_pairs]
    return status, bound, y, x, message, seconds, pass_s


def _same_value(a: float, b: float) -> bool:
    """Whether two values of the objective are the same but for rounding."""
    return abs(a - b) <= 1e-7 * max(1.0, abs(a), abs(b))


def _not_what_highs_said(m: MatrixModel, data: ModelData, options: SolveOptions, limit: float | None,
                         stopper: HighsStopper | None, message: str, bound: float | None, v: np.ndarray,
                         worth: float, started: bool, t0: float, seconds: float, pass_s: float,
                         seed: int | None = None):
    """The answer when the columns HiGHS returned are not worth the objective it reported.
    HiGHS 1.16 does that when given a starting plan that its presolve maps to a better plan of
    its reduced model: it reports that better plan's value (and, when it proves it at once,
    "optimal") but returns the starting plan's own columns (seen on a 4-site place of the
    independent spec check: "optimal" at NPV £509,965, the optimum being £520,243). The run is
    then made again without the start, in the time left; the better of the two plans is the
    answer, with the better bound (HiGHS's bound stays valid), and it is optimal only if that
    plan is within the gap tolerances of that bound (else feasible, with the first run's message
    or why not)."""
    runs = [(worth, v, bound)]
    left = None if limit is None else limit - (time.perf_counter() - t0)
    if started and (stopper is None or not stopper.is_set()) and (left is None or left > 0.1):
        s2, b2, y2, x2, _msg, sec2, pass2 = _run_mip(m, data, options, left, None, None, stopper, seed)
        seconds += sec2
        pass_s += pass2
        if s2 in (OPTIMAL, FEASIBLE):
            v2 = np.zeros(m.cost.size)
            v2[:data.n_sites], v2[data.n_sites:data.n_sites + data.n_pairs] = y2, x2
            runs.append((float(m.cost @ v2), v2, b2))
    worth, v, _b = min(runs, key=lambda r: r[0])
    bounds = [b for _w, _v, b in runs if b is not None]
    bound = max(bounds) if bounds else None
    proven = bound is not None and gap_met(worth, bound, options.mip_rel_gap, options.mip_abs_gap)
    if proven:
        status, message = OPTIMAL, ""
    else:
        status = FEASIBLE
        message = message or ("time limit reached" if limit is not None else
                              "HiGHS's plan is not within the gap tolerances of its bound")
    return status, bound, v[:data.n_sites], v[data.n_sites:data.n_sites + data.n_pairs], message, seconds, pass_s


def needs_search(n_pairs: int, limit_s: float) -> bool:
    """Whether a part gets the searches (``improve_plan``) under a time limit of ``limit_s``:
    from ``LNS_MIN_PAIRS`` pairs, or from ``LNS_TIGHT_MIN_PAIRS`` when its time is under
    ``LNS_TIGHT_S_PER_1000_PAIRS`` per 1,000 pairs. HiGHS alone spends such a short time in
    its root's cut rounds and stops with the greedy start or little better (a part of 9,505
    pairs of the 10,000-site place given 20 s: £478m alone, £506m with the searches; £561m
    after 100 s of HiGHS), while a part given more time is best left to HiGHS alone (the
    Holmberg instances of 4,500 pairs it proves optimal in up to 41 s)."""
    if n_pairs >= LNS_MIN_PAIRS:
        return True
    return n_pairs >= LNS_TIGHT_MIN_PAIRS and limit_s < LNS_TIGHT_S_PER_1000_PAIRS * n_pairs / 1000.0


def probe_seconds(n_pairs: int, left_s: float) -> float:
    """The time of the first, short HiGHS run on a part that gets the searches, with
    ``left_s`` seconds: ``LNS_PROBE_S``, or ``LNS_PROBE_SHARE`` of its time if less; 0 (no
    such run) from ``LP_STRONG_MAX_PAIRS`` pairs, or when that is under
    ``LNS_PROBE_S_PER_10K_PAIRS`` per 10,000 pairs: HiGHS on one thread then does not even
    finish its presolve and root LP, so it cannot settle the part, and the time is better
    spent on the searches and HiGHS's last run; so parts of 25,000 pairs or more never get it.
    (On the 2,000-site place's parts of 27,139, 26,493 and 5,924 pairs the root LP was done
    after 9.9, 8.8 and 1.1 s; the first two, each given 30 s as when solved two at a time,
    with their 4.5-s first runs: £665.6m and £1,210.2m, without: £667.1m and £1,226.6m, with
    the same bounds.)"""
    if n_pairs >= LP_STRONG_MAX_PAIRS:
        return 0.0
    probe = min(LNS_PROBE_S, LNS_PROBE_SHARE * max(left_s, 0.0))
    return probe if probe >= LNS_PROBE_S_PER_10K_PAIRS * n_pairs / 10_000 else 0.0


def solve_highs(data: ModelData, options: SolveOptions | None = None,
                time_limit_s: float | None = None, start=None, stopper: HighsStopper | None = None) -> Solution:
    """Build the model with numpy and solve it with HiGHS. ``start`` = (y, chosen) is a
    feasible plan to start from; by default the best of the status quo and the greedy plans
    (on large parts also in the order of the LP relaxation). On a part that
    ``needs_search`` under its time limit, HiGHS first runs briefly (``LNS_PROBE_S``); when that
    does not settle it, ``improve_plan`` (support and window searches) improves the best plan
    for ``LNS_SHARE`` of what is left (from ``LAGRANGE_MIN_PAIRS`` pairs, less the time of a
    Lagrangian bound in case HiGHS does not finish its root) and HiGHS runs again from there
    with the rest. Where two threads may be used (``beside``), HiGHS instead runs for the whole
    time on one thread while the searches run on the other, the two sharing their best plan
    (``_solve_beside``); so does a part HiGHS would have had alone, under a time limit, from
    ``BESIDE_MIN_PAIRS`` pairs (HiGHS then on the model with the x <= y rows). Any other part
    HiGHS has alone from a start plan with two threads gets a second HiGHS run beside the first
    (``_solve_race``).
    All of it counts as solving. ``stopper``'s ``stop()`` ends its HiGHS
    runs and searches early (the answer is then whatever they held)."""
    options = options or SolveOptions()
    t0 = time.perf_counter()
    if data.n_sites == 0 and data.n_services == 0:
        return finish_solution(data, OPTIMAL, "highs", 0.0, np.zeros(0), np.zeros(0), 0.0)
    if data.n_pairs == 0 and data.n_services > 0:
        return finish_solution(data, INFEASIBLE, "highs", 0.0, message="a service may go nowhere")
    limit = time_limit_s if time_limit_s is not None else options.time_limit_s
    m = build_matrix(data)
    build_s = time.perf_counter() - t0
    t_start = time.perf_counter()
    lp_bound = lp_used = lp_mult = None
    searched = start is None and options.warm_start
    if searched:
        order = None
        if data.n_pairs >= LP_ORDER_MIN_PAIRS and (data.fixed == FREE).any():
            order, lp_bound, lp_used, lp_mult = _lp_order(m, data, options, limit, stopper)
        start = data.best_start(order)

    def left():
        return None if limit is None else limit - (time.perf_counter() - t_start)

    eligible = searched and limit is not None and not data.partner and start is not None
    large = eligible and needs_search(data.n_pairs, limit)
    # a part left to HiGHS alone still gets the searches beside it when a second thread is
    # free (a part solved alone): HiGHS keeps its whole time and its own model (with the x <= y
    # rows), and the searches' plans prune its tree sooner (``BESIDE_MIN_PAIRS``)
    mid = eligible and not large and data.n_pairs >= BESIDE_MIN_PAIRS
    if (large or mid) and beside(options):
        status, bound, y, x, message, pass_s, lag_bound = _solve_beside(data, m, options, left(), start,
                                                                        lp_used, lp_mult, stopper,
                                                                        link=True if mid else BESIDE_LINK)
        build_s += pass_s
        if lag_bound is not None and (bound is None or lag_bound > bound):
            bound = lag_bound
    elif not large and start is not None and race(options):
        status, bound, y, x, message, pass_s = _solve_race(data, m, options, left(), start, stopper)
        build_s += pass_s
    elif not large:
        status, bound, y, x, message, _sec, pass_s = _run_mip(m, data, options, left(), start, stopper=stopper)
        build_s += pass_s
    else:
        # a short first HiGHS run settles the parts it finds easy; on the others HiGHS spends
        # its first minute or so on the root's cuts before its own heuristics find good plans,
        # so the support and window searches improve the plan first and HiGHS then starts
        # again from that plan with the rest of the time (it keeps it as its incumbent)
        # (not when that run would not even finish HiGHS's presolve and root LP: probe_seconds)
        status, bound = NO_SOLUTION, None
        probe = probe_seconds(data.n_pairs, left())
        if probe > 0:
            status, bound, y, x, message, _sec, pass_s = _run_mip(m, data, options, probe, start,
                                                                  stopper=stopper)
            build_s += pass_s
        if status not in (OPTIMAL, INFEASIBLE):
            probe_bound = bound
            if status == FEASIBLE:
                found = finish_solution(data, status, "highs", 0.0, y, x, bound)
                if found.npv_gbp > data.npv(*start):
                    start = (found.y.astype(float), found.chosen)
            search_s = LNS_SHARE * left()
            # the Lagrangian relaxation, from the LP's duals: its bound (used from
            # LAGRANGE_MIN_PAIRS pairs, where HiGHS may not finish its root in the time left;
            # below, HiGHS's root bound is the better one: 693.0 against 699.3 million on the
            # 500-site place's largest part; the 10,000-site place's parts of 5,000-13,000
            # pairs alike) and the sets of sites it keeps, for the Lagrangian heuristic. Below
            # that size only where services may go to many of the part's sites: with short
            # moves (the synthetic places: 2-5% of a part's sites) the relaxation's sets leave
            # services no room within reach and the heuristic finds nothing (500 sites, 60 s:
            # £698-701m against £703m without it). Its time comes out of the searches', so
            # HiGHS's own time is not cut.
            if _lagrangian_applies(data):
                t_lag = time.perf_counter()
                lag_bound, kept = _lagrangian(data, start, search_s, lp_mult, stopper)
                if lag_bound is not None and (probe_bound is None or lag_bound > probe_bound):
                    probe_bound = lag_bound
                search_s -= time.perf_counter() - t_lag
                t_heur = time.perf_counter()
                start = improve_by_relaxation(data, m, start[0], start[1], kept, HEURISTIC_SHARE * search_s,
                                              replace(options, threads=1), stop=stopper)
                search_s -= time.perf_counter() - t_heur
            start = improve_plan(data, m, start[0], start[1], search_s, options, lp_used, stop=stopper)
            status, bound, y, x, message, _sec, pass_s = _run_mip(m, data, options, left(), start,
                                                                  stopper=stopper)
            build_s += pass_s
            if probe_bound is not None and (bound is None or probe_bound > bound):
                bound = probe_bound
            if status == NO_SOLUTION:  # HiGHS found nothing in time: the improved start is the plan
                status, message = FEASIBLE, "time limit reached"
                y, x = _plan_columns(data, *start)
    seconds = time.perf_counter() - t_start - (build_s - (t_start - t0))
    if status == FEASIBLE and lp_bound is not None and (bound is None or bound < lp_bound):
        bound = lp_bound  # stopped before its root LP: the relaxation solved for the start is a bound
    if status in (OPTIMAL, FEASIBLE):
        sol = finish_solution(data, status, "highs", seconds, y, x, bound, message)
    else:
        sol = finish_solution(data, status, "highs", seconds, message=message)
    sol.build_seconds = build_s
    return sol


def race(options: SolveOptions) -> bool:
    """Whether a part HiGHS has alone gets a second HiGHS run beside the first
    (``_solve_race``): where two threads may be used (as for ``beside``)."""
    return RACE and beside(options)


def _solve_race(data: ModelData, m: MatrixModel, options: SolveOptions, limit: float | None, start,
                stopper: HighsStopper | None = None):
    """Two HiGHS runs of the same model at once, one thread each, sharing their best plan
    (``SharedPlan``): the first starts at once with HiGHS's own random seed; the second, with
    ``RACE_SEED``, only when the first has not ended after ``RACE_AFTER_S`` seconds, so a part
    HiGHS settles sooner is solved exactly as by one run. HiGHS with two threads on one run
    leaves the second core mostly idle (Lib_1 p20: 36.8 s of processor time for 24.2 s of wall
    time, and 23.5 s on one thread), while two runs with different seeds take different paths
    through the tree, and each prunes with the other's plans. The first to prove the part
    (optimal or infeasible) stops the other, and the first run ending stops the second. The
    answer is the best plan of either run (or the shared one), with the better of their bounds
    (both bound the same model), optimal when a run proved it or the plan is within the gap
    tolerances of that bound. Returns (status, bound, y, x, message, pass_seconds)."""
    one = replace(options, threads=1)
    shared = SharedPlan(data, *start)
    t0 = time.perf_counter()
    first, second = HighsStopper(stopper), HighsStopper(stopper)
    ended = threading.Event()  # the first run has ended
    out: dict[str, object] = {}

    def run_second() -> None:
        try:
            if ended.wait(RACE_AFTER_S) or second.is_set():
                return
            rest = None if limit is None else limit - (time.perf_counter() - t0)
            if rest is not None and rest < 0.5:
                return
            out["run"] = r = _run_mip(m, data, one, rest, start, shared, second, RACE_SEED)
            if r[0] in (OPTIMAL, INFEASIBLE):
                first.stop()
        except BaseException as exc:  # raised again on the calling thread
            out["error"] = exc
            first.stop()

    worker = threading.Thread(target=run_second, name="highs-race", daemon=True)
    worker.start()
    try:
        runs = [_run_mip(m, data, one, limit, start, shared, first)]
    finally:
        ended.set()
        second.stop()
        worker.join()
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    if "run" in out:
        runs.append(out["run"])  # type: ignore[arg-type]
    pass_s = sum(r[6] for r in runs)
    for r in runs:
        if r[0] == INFEASIBLE:
            return r[0], r[1], r[2], r[3], r[4], pass_s
    n = data.n_sites + data.n_pairs
    # the plans: a proving run's first, then the first run's, the second's and the shared one;
    # a later one is taken only when it is better by more than rounding, so that a part the
    # first run settles alone gets exactly that run's answer
    runs_in_order = sorted(runs, key=lambda r: r[0] != OPTIMAL)
    plans = [(y, x) for status, _b, y, x, *_rest in runs_in_order if status in (OPTIMAL, FEASIBLE)]
    plans.append(_plan_columns(data, *shared.best()))
    costs = [float(m.cost[:n] @ np.concatenate(p)) for p in plans]
    k = 0
    for i in range(1, len(plans)):
        if SharedPlan._below(costs[i], costs[k]):
            k = i
    (y, x), cost = plans[k], costs[k]
    bounds = [r[1] for r in runs if r[1] is not None]
    bound = max(bounds) if bounds else None
    if runs_in_order[0][0] == OPTIMAL or (bound is not None and gap_met(cost, bound, options.mip_rel_gap,
                                                                       options.mip_abs_gap)):
        return OPTIMAL, bound, y, x, "", pass_s
    message = next((r[4] for r in runs if r[4]), "") or ("time limit reached" if limit is not None else "")
    return FEASIBLE, bound, y, x, message, pass_s


def _lagrangian_applies(data: ModelData) -> bool:
    """Whether the searches start with the Lagrangian relaxation: for its bound from
    ``LAGRANGE_MIN_PAIRS`` pairs, and below that for the heuristic's sets only where a service
    may go to ``HEURISTIC_MIN_REACH`` of the part's sites on average."""
    return data.n_pairs >= LAGRANGE_MIN_PAIRS or reach(data) >= HEURISTIC_MIN_REACH


def _lagrangian(data: ModelData, start, search_s: float, mult: Multipliers | None,
                stop: HighsStopper | None = None):
    """The Lagrangian relaxation from the plan ``start`` and the multipliers ``mult``, for
    ``LAGRANGE_SHARE`` of the searches' time ``search_s`` (at most ``LAGRANGE_MAX_S``; below
    ``LAGRANGE_MIN_PAIRS`` pairs at most ``HEURISTIC_LAG_S``), or until ``stop`` is set.
    Returns (its bound on the cost, used only from ``LAGRANGE_MIN_PAIRS`` pairs, else None; the
    kept-site sets it found)."""
    kept: list[KeptSet] = []
    lag_s = min(LAGRANGE_MAX_S, LAGRANGE_SHARE * search_s)
    if data.n_pairs < LAGRANGE_MIN_PAIRS:
        lag_s = min(lag_s, HEURISTIC_LAG_S)
    lag = best_lagrangian_bound(data, float(data.benefit.sum()) - data.npv(*start), lag_s, mult, kept, stop)
    bound = lag.bound_cost if lag is not None and data.n_pairs >= LAGRANGE_MIN_PAIRS else None
    return bound, kept


def beside(options: SolveOptions) -> bool:
    """Whether a part that gets the searches runs them beside HiGHS, on a second thread
    (``_solve_beside``): when the part may use two threads or more (``threads`` unset or 2 or
    more) on a machine with two cores or more."""
    return BESIDE and (options.threads is None or options.threads >= 2) and (os.cpu_count() or 1) >= 2


def _solve_beside(data: ModelData, m: MatrixModel, options: SolveOptions, limit: float, start,
                  used: np.ndarray | None, mult: Multipliers | None, stopper: HighsStopper | None = None,
                  link: bool | str = BESIDE_LINK):
    """HiGHS and the searches at once, on two threads, sharing their best plan
    (``SharedPlan``): HiGHS runs for the whole time from ``start`` while the searches (the
    Lagrangian bound and heuristic where they apply, then rounds of the support and window
    searches) improve on the best plan of either, until HiGHS stops. HiGHS takes the searches'
    better plans as its incumbent through its user-solution callback, and the searches take
    HiGHS's. When HiGHS is done, the searches stop, their restricted solve in hand too (they
    used to finish it first, up to ``LNS_SUPPORT_S`` later); when the searches fail, HiGHS
    stops and the error is raised. ``stopper`` stops both. ``link``: the linking rows of
    HiGHS's model (``build_matrix``'s ``strong_link``; True: ``m`` itself). Returns (status,
    bound, y, x, message, pass_seconds, the Lagrangian's bound or None)."""
    one = replace(options, threads=1)
    match_thread_scheduler(1)  # this thread's HiGHS runs use one thread, as HiGHS's beside it
    shared = SharedPlan(data, *start)
    out: dict[str, object] = {}
    t0 = time.perf_counter()
    model = m if link is True else build_matrix(data, strong_link=link)
    highs = HighsStopper(stopper)  # HiGHS's run
    done = HighsStopper(stopper)  # the searches: stopped when HiGHS is done

    def run() -> None:
        try:
            out["run"] = _run_mip(model, data, one, limit, start, shared, highs)
        except BaseException as exc:  # raised again on the calling thread
            out["error"] = exc
        finally:
            done.stop()

    worker = threading.Thread(target=run, name="highs-beside", daemon=True)
    worker.start()
    lag_bound = None

    def rest() -> float:
        return limit - (time.perf_counter() - t0) - 0.5

    try:
        y, chosen = start
        if rest() > 1.0 and _lagrangian_applies(data):
            lag_bound, kept = _lagrangian(data, start, LNS_SHARE * rest(), mult, done)
            if not done.is_set() and rest() > 1.0:
                y, chosen = shared.best()
                y, chosen = improve_by_relaxation(data, m, y, chosen, kept, HEURISTIC_SHARE * rest(), one,
                                                  shared, done)
        if not done.is_set() and rest() > 0.5:
            improve_plan(data, m, y, chosen, rest(), one, used, shared, done)
    except BaseException:
        highs.stop()  # the searches failed (or were interrupted): HiGHS stops now, not at its limit
        raise
    finally:
        worker.join()
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    status, bound, y, x, message, _sec, pass_s = out["run"]  # type: ignore[misc]
    if status in (FEASIBLE, NO_SOLUTION):
        # the searches' last plan may have come after HiGHS last asked for one
        best_y, best_chosen = shared.best()
        mine = None if y is None else float(data.benefit @ np.rint(y) + data.pair_cost @ np.rint(x))
        if mine is None or shared.total - data.npv(best_y, best_chosen) < mine - 1e-9 * max(1.0, abs(mine)):
            y, x = _plan_columns(data, best_y, best_chosen)
            if status == NO_SOLUTION:
                status, message = FEASIBLE, "time limit reached"
    return status, bound, y, x, message, pass_s, lag_bound


def _better_in(data: ModelData, m: MatrixModel, hi: np.ndarray, y: np.ndarray, chosen: np.ndarray,
               seconds: float, options: SolveOptions, start,
               stop: HighsStopper | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Solve the model with the column upper bounds ``hi`` (a restriction: every plan of it is
    a plan of the whole) from ``start`` (a plan of the restriction, or None), until ``stop``;
    (y, chosen, whether better) with the better of its plan and (``y``, ``chosen``), checked
    against every rule."""
    status, bound, y2, x2, *_ = _run_mip(replace(m, col_hi=hi), data, options, max(0.1, seconds), start,
                                         stopper=stop)
    if status not in (OPTIMAL, FEASIBLE):
        return y, chosen, False
    try:
        sol = finish_solution(data, status, "highs", 0.0, y2, x2, bound)
    except SolverError:  # a plan off by more than the tolerances is not taken
        return y, chosen, False
    if sol.npv_gbp > data.npv(y, chosen) + 1e-6 * max(1.0, abs(data.npv(y, chosen))):
        return sol.y.astype(float), sol.chosen, True
    return y, chosen, False


def cheapest_pairs(data: ModelData, k: int) -> np.ndarray:
    """Per pair, whether it is one of its service's ``k`` cheapest (by its cost in the
    objective; ties by pair order)."""
    if k <= 0 or data.n_pairs == 0:
        return np.zeros(data.n_pairs, dtype=bool)
    o = np.lexsort((np.arange(data.n_pairs), data.pair_cost, data.pair_service))
    ps = data.pair_service[o]
    rank = np.arange(data.n_pairs) - np.searchsorted(ps, ps, side="left")
    out = np.zeros(data.n_pairs, dtype=bool)
    out[o[rank < k]] = True
    return out


def improve_by_support(data: ModelData, m: MatrixModel, y: np.ndarray, chosen: np.ndarray, used: np.ndarray,
                       seconds: float, options: SolveOptions, k: int = 0,
                       stop: HighsStopper | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Solve the part with its services limited to the pairs the plan or the LP relaxation
    uses (``used``) and each service's ``k`` cheapest pairs (every site stays open to
    choice), starting from the plan: a small MIP that combines the plan with the LP's moves
    (RINS-like) and, as ``k`` grows, with more of the cheap ones (a kernel search), until
    ``stop``. Returns the better of the two plans, checked against every rule."""
    allowed = used | cheapest_pairs(data, k)
    allowed[np.asarray(chosen, dtype=np.int64)] = True
    hi = m.col_hi.copy()
    hi[data.n_sites:data.n_sites + data.n_pairs][~allowed] = 0.0
    y, chosen, _ = _better_in(data, m, hi, y, chosen, seconds, options, (y, chosen), stop)
    return y, chosen


def reach(data: ModelData) -> float:
    """The share of the part's sites a service may go to, on average."""
    return data.n_pairs / max(1, data.n_services * data.n_sites)


def _cheapest_with_room(data: ModelData, pairs: np.ndarray, keep: np.ndarray, left: np.ndarray) -> int:
    """Of one service's ``pairs``, the cheapest at a site of the set ``keep`` with room left
    (``left``) for the service, or -1."""
    j = data.pair_site[pairs]
    ok = keep[j] & (left[j] >= data.space[data.pair_service[pairs]] - 1e-9)
    return int(pairs[ok][np.argmin(data.pair_cost[pairs[ok]])]) if ok.any() else -1


def kept_sites(data: ModelData, kept: KeptSet, y: np.ndarray, chosen: np.ndarray,
               repair: bool = True) -> tuple[np.ndarray, tuple | None]:
    """The sites the relaxation keeps (``kept.keep``) made into a set a plan can use, and a plan
    within it when one is found: (keep per site, (y, chosen) or None).

    With ``repair``: every access row the plan (``y``, ``chosen``) meets gets the site of the
    plan's pair that meets it; the plan's services whose site is in the set stay there, and
    each of the others (largest first) goes to the site of the set where it costs least among
    those with room left, or, where none has room, its site in the plan joins the set. In both
    cases free sites then join in order of the relaxation's ``g`` until the set's capacity is
    ``HEURISTIC_ROOM`` times the space of all the services; without ``repair`` every service
    then goes in turn (largest first) to the cheapest site of the set with room left. Sites
    fixed as disposed never join. The plan returned is that assignment with the sites that
    hold nothing disposed (or kept, if that breaks a rule), when it meets every rule."""
    ps, pj = data.pair_service, data.pair_site
    chosen = np.asarray(chosen, dtype=np.int64)
    keep = kept.keep.copy() | (data.fixed == KEEP)
    keep &= data.fixed != DISPOSE
    new = chosen.copy()
    if repair and data.n_cover:
        # an access row the plan meets with a service whose site is not in the set: that site
        # joins, and its services stay
        row = np.repeat(np.arange(data.n_cover), np.diff(data.cover_ptr))
        on = np.zeros(data.n_pairs, dtype=bool)
        on[chosen] = True
        stays = on[data.cover_pairs] & keep[pj[data.cover_pairs]]
        met = np.bincount(row, weights=stays.astype(float), minlength=data.n_cover) > 0
        take = on[data.cover_pairs] & ~met[row]
        keep[pj[data.cover_pairs[take]]] = True
    plan_site = pj[chosen]
    load = np.bincount(plan_site, weights=data.space, minlength=data.n_sites)
    left = np.where(keep, data.capacity - load, 0.0)
    orphans = np.nonzero(~keep[plan_site])[0]
    order = np.argsort(ps, kind="stable")
    first = np.searchsorted(ps[order], np.arange(data.n_services + 1))
    if repair and orphans.size:
        for u in orphans[np.argsort(-data.space[orphans], kind="stable")]:
            q = _cheapest_with_room(data, order[first[u]:first[u + 1]], keep, left)
            if q < 0:  # back to its site in the plan, which joins the set with its plan's load
                q = int(chosen[u])
                k = int(pj[q])
                if not keep[k]:
                    keep[k] = True
                    left[k] = data.capacity[k] - load[k] + data.space[u]
            new[u] = q
            left[pj[q]] -= data.space[u]
    need = HEURISTIC_ROOM * float(data.space.sum())
    room = float(data.capacity[keep].sum())
    if room < need:
        free = np.nonzero(~keep & (data.fixed == FREE))[0]
        free = free[np.argsort(kept.g[free], kind="stable")]
        add = free[:int(np.searchsorted(np.cumsum(data.capacity[free]), need - room)) + 1]
        keep[add] = True
    if not repair:
        # every service in turn (largest first) to the cheapest site of the set with room left
        left = np.where(keep, data.capacity, 0.0)
        for u in np.argsort(-data.space, kind="stable"):
            q = _cheapest_with_room(data, order[first[u]:first[u + 1]], keep, left)
            if q < 0:
                return keep, None
            new[u] = q
            left[pj[q]] -= data.space[u]
    holds = np.zeros(data.n_sites, dtype=bool)
    holds[pj[new]] = True
    for y_try in (keep & (holds | (data.fixed == KEEP)), keep):
        if not data.violations(y_try.astype(float), new):
            return keep, (y_try.astype(float), new)
    return keep, None


def improve_by_relaxation(data: ModelData, m: MatrixModel, y: np.ndarray, chosen: np.ndarray,
                          kept: list[KeptSet], seconds: float, options: SolveOptions,
                          shared: SharedPlan | None = None,
                          stop: HighsStopper | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lagrangian heuristic: for the sets of sites the Lagrangian relaxation keeps (best
    multipliers first), solve the part with every other site disposed for at most
    ``HEURISTIC_SUB_S``: first the set as the relaxation keeps it (with room added; every
    service placed greedily as the start), then, when that finds no better plan, the set made
    to hold the plan's services, with the plan so made as the start (``kept_sites``). Keep
    every better plan; stop after ``HEURISTIC_MISSES`` sets in a row without one (where
    services reach under ``HEURISTIC_MIN_REACH`` of the sites, after the first set when it
    finds none: on the 10,000-site place's largest part three sets took 18.5 s and found
    nothing).

    On the OR-Library capa, capb and capc instances (Lib_3 p25-p36, 100 x 1,000), from the
    greedy start and 8 s of the Lagrangian, 12 s of this reach plans 0-1.7% above the
    published optima (4 of 12 at them), where the other searches ended 3.5-11% above after
    60 s. On the synthetic places the relaxation's sets leave services no room within reach
    (moves of a few km), so the first solve finds nothing and the searches get the time.
    With ``shared`` (HiGHS running beside) each better plan goes there at once; ``stop`` ends
    it early, its restricted solve in hand too. Returns (y, chosen)."""
    deadline = time.perf_counter() + seconds
    tried: set[bytes] = set()
    misses, found = 0, False
    for ks in sorted(kept, key=lambda k: -k.value):
        rest = deadline - time.perf_counter()
        if rest < 0.3 or misses >= (HEURISTIC_MISSES if found or reach(data) >= HEURISTIC_MIN_REACH else 1):
            break
        if stop is not None and stop.is_set():
            break
        better = False
        for repair in (False, True):
            # the relaxation's set as it is, then made to hold the plan's services
            keep, plan = kept_sites(data, ks, np.asarray(y), chosen, repair)
            key = np.packbits(keep).tobytes()
            rest = deadline - time.perf_counter()
            if key in tried or rest < 0.3:
                continue
            tried.add(key)
            hi = m.col_hi.copy()
            hi[:data.n_sites][~keep] = 0.0
            hi[data.n_sites:data.n_sites + data.n_pairs][~keep[data.pair_site]] = 0.0
            if plan is None and bool(keep[data.pair_site[np.asarray(chosen, dtype=np.int64)]].all()
                                     and keep[np.asarray(y) > 0.5].all()):
                plan = (y, chosen)  # the plan itself fits in the set
            y, chosen, better = _better_in(data, m, hi, y, chosen, min(HEURISTIC_SUB_S, rest), options, plan,
                                           stop)
            if better:
                if shared is not None:
                    shared.offer(y, chosen)
                break
        misses = 0 if better else misses + 1
        found |= better
    return y, chosen


def improve_plan(data: ModelData, m: MatrixModel, y: np.ndarray, chosen: np.ndarray, seconds: float,
                 options: SolveOptions, used: np.ndarray | None = None, shared: SharedPlan | None = None,
                 stop: HighsStopper | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Improve a plan for ``seconds``: rounds of the support search (when the LP's pairs
    ``used`` are known; at most ``LNS_SUPPORT_S`` each) and ``LNS_ROUND_S`` of the window
    search, each round's windows started small again with a new seed. The support search also
    allows each service's k cheapest pairs, k = 1 the first time; while it finds a better plan
    it runs again at once with k one larger, and after one that found nothing the windows run
    and k starts again at 1: on the 10,000-site place's parts of 10,000-13,000 pairs, k = 1 to
    3 found £20-46m more in 5-10 s than the LP's pairs alone, more than the windows found in
    8 s; from k = 3 or so on parts of 20,000 pairs or more it mostly stops at its time limit
    having found nothing, while k = 1 after the windows' moves often finds more (the
    2,000-site place's parts of 27,139 and 26,493 pairs, 40 s of searches: £678.4m and
    £1,256.2m against £673.5m and £1,239.9m with k growing on). Returns (y, chosen).
    With ``shared`` (HiGHS running beside), each round starts from the best plan there and
    each better plan goes there, and the support search keeps to the LP's and the plan's pairs
    (k = 0) between rounds of windows: beside HiGHS the kernel did worse on the OR-Library capc
    instances (Lib_3 p33 at 60 s: 2.9% above the optimum against at it); ``stop`` ends it early,
    its restricted solve in hand too."""
    deadline = time.perf_counter() + seconds
    one = replace(options, threads=1)
    k, cheap = 0, 1

    def going() -> bool:
        return deadline - time.perf_counter() > 0.5 and not (stop is not None and stop.is_set())

    while going():
        if shared is not None:
            y, chosen = shared.best()
        if used is not None:
            before = data.npv(y, chosen)
            y, chosen = improve_by_support(data, m, y, chosen, used,
                                           min(LNS_SUPPORT_S, deadline - time.perf_counter()), one,
                                           k=0 if shared is not None else cheap, stop=stop)
            if shared is not None:
                shared.offer(y, chosen)
            elif data.npv(y, chosen) > before + 1e-9 * max(1.0, abs(before)):
                cheap += 1
                continue  # the kernel grows while it pays
            else:
                # it found nothing (often stopped by its time limit with k large): after the
                # windows' moves the kernel starts small again, which solves in a second
                cheap = 1
        if not going():
            break
        y, chosen = improve_by_windows(data, y, chosen, min(LNS_ROUND_S, deadline - time.perf_counter()),
                                       options, seed=k, stop=stop)
        if shared is not None:
            shared.offer(y, chosen)
        k += 1
    return y, chosen


def _window(data: ModelData, y: np.ndarray, chosen: np.ndarray, sites: np.ndarray):
    """The model restricted to some sites and the services now placed in them (their moves
    limited to those sites), everything else held as it is: (sub-model, its services, its
    pairs as indexes into ``data``), or None when the window cannot be cut out exactly."""
    in_w = np.zeros(data.n_sites, dtype=bool)
    in_w[sites] = True
    now = data.pair_site[chosen]
    services = np.nonzero(in_w[now])[0]
    if services.size == 0:
        return None
    u_free = np.zeros(data.n_services, dtype=bool)
    u_free[services] = True
    pairs = np.nonzero(u_free[data.pair_service] & in_w[data.pair_site])[0]
    x = np.zeros(data.n_pairs, dtype=bool)
    x[chosen] = True
    held = x & ~u_free[data.pair_service]  # placements that stay as they are
    rows = []
    p_local = np.full(data.n_pairs, -1, dtype=np.int64)
    p_local[pairs] = np.arange(pairs.size)
    for r in range(data.n_cover):
        row = data.cover_row(r)
        if held[row].any():
            continue  # met whatever the window does
        loc = p_local[row]
        loc = loc[loc >= 0]
        if loc.size == 0:
            return None
        rows.append(loc)
    s_local = np.full(data.n_sites, -1, dtype=np.int64)
    s_local[sites] = np.arange(sites.size)
    u_local = np.full(data.n_services, -1, dtype=np.int64)
    u_local[services] = np.arange(services.size)
    budget = None
    if data.budget is not None:
        budget = float(data.budget - data.pair_spend[chosen[~u_free]].sum())
    max_disp = None
    if data.max_disposals is not None:
        max_disp = int(data.max_disposals - (1 - y[~in_w]).sum())
    sub = ModelData(
        site_ids=[data.site_ids[j] for j in sites], benefit=data.benefit[sites], capacity=data.capacity[sites],
        fixed=data.fixed[sites], site_agency=data.site_agency[sites],
        service_ids=[data.service_ids[u] for u in services], space=data.space[services],
        service_agency=data.service_agency[services], pair_service=u_local[data.pair_service[pairs]],
        pair_site=s_local[data.pair_site[pairs]], pair_cost=data.pair_cost[pairs],
        pair_spend=data.pair_spend[pairs], pair_recharge=data.pair_recharge[pairs],
        pair_stay=data.pair_stay[pairs], agencies=list(data.agencies),
        cover_ptr=np.cumsum([0] + [r.size for r in rows]).astype(np.int64),
        cover_pairs=np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
        budget=budget, max_disposals=max_disp, partner=False)
    return sub, services, pairs


def improve_by_windows(data: ModelData, y: np.ndarray, chosen: np.ndarray, seconds: float,
                       options: SolveOptions, window_sites: int | None = None, seed: int = 0,
                       window_seconds: float = 2.0, stop: HighsStopper | None = None):
    """Large-neighbourhood search: repeatedly re-solve a window of neighbouring sites (those
    joined through the services' possible moves) to optimality with everything else held, and
    keep every improvement. Each accepted plan is checked against every rule of the whole
    model. Not used with the partner rule (it joins whole agencies). Returns (y, chosen).

    Windows start small (``LNS_FIRST_WINDOW_SITES``: each one solves in a fraction of a second)
    and grow by five sites, up to ``window_sites``, after ``LNS_PATIENCE`` windows in a row
    that found nothing better: small windows make the many easy improvements, larger ones the
    moves that chain through several sites. ``stop`` ends it early, its window's solve too."""

    if data.partner or seconds <= 0.5:
        return y, chosen
    largest = LNS_WINDOW_SITES if window_sites is None else window_sites
    window_sites = min(LNS_FIRST_WINDOW_SITES, largest)
    failures = 0
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=np.int8).copy()
    chosen = np.asarray(chosen, dtype=np.int64).copy()
    order = np.argsort(data.pair_service, kind="stable")
    u_start = np.searchsorted(data.pair_service[order], np.arange(data.n_services + 1))
    free_sites = np.nonzero(data.fixed == FREE)[0]
    if free_sites.size == 0:
        return y, chosen
    deadline = time.perf_counter() + seconds
    sub_opts = replace(options, time_limit_s=None, threads=1, warm_start=False)
    holds = np.zeros(data.n_sites, dtype=bool)
    holds[data.pair_site[chosen]] = True
    while time.perf_counter() < deadline - 0.2 and not (stop is not None and stop.is_set()):
        if failures >= LNS_PATIENCE and window_sites < largest:
            window_sites, failures = min(largest, window_sites + 5), 0
        # grow a window from a random free site that holds a service (an empty one has no
        # moves to follow) through the moves of the services in it
        holding = free_sites[holds[free_sites]]
        if holding.size == 0:
            break
        failures += 1  # until this window finds a better plan
        seed_site = int(rng.choice(holding))
        window = [seed_site]
        seen = {seed_site}
        frontier = [seed_site]
        now = data.pair_site[chosen]
        while frontier and len(window) < window_sites:
            j = frontier.pop(0)
            for u in np.nonzero(now == j)[0]:
                for p in order[u_start[u]:u_start[u + 1]]:
                    k = int(data.pair_site[p])
                    if k not in seen and len(window) < window_sites:
                        seen.add(k)
                        window.append(k)
                        frontier.append(k)
        if len(window) < 2:
            continue
        cut = _window(data, y, chosen, np.array(window))
        if cut is None:
            continue
        sub, services, pairs = cut
        local_of = {int(p): i for i, p in enumerate(pairs)}
        start_chosen = np.array([local_of[int(p)] for p in chosen[services]], dtype=np.int64)
        start_y = y[np.array(window)].astype(float)
        current = sub.npv(start_y, start_chosen)
        remaining = deadline - time.perf_counter()
        if remaining < 0.3:
            break
        try:
            sol = solve_highs(sub, replace(sub_opts, time_limit_s=min(remaining, window_seconds)),
                              start=(start_y, start_chosen), stopper=stop)
        except Exception:  # a window the solver cannot handle is simply skipped
            continue
        if not sol.solved or sol.npv_gbp <= current + 1e-6 * max(1.0, abs(current)):
            continue
        y_new, chosen_new = y.copy(), chosen.copy()
        y_new[np.array(window)] = sol.y
        chosen_new[services] = pairs[sol.chosen]
        if not data.violations(y_new, chosen_new):
            y, chosen = y_new, chosen_new
            failures = 0
            holds[:] = False
            holds[data.pair_site[chosen]] = True
    return y, chosen


@dataclass
class Relaxation:
    """The least a plan must break to exist: each broken rule instance with its amount."""

    status: str
    broken: list[tuple[str, int, float]]  # (kind, index, amount)
    y: np.ndarray | None = None
    chosen: np.ndarray | None = None  # -1 for a service left without a home


def solve_elastic(data: ModelData, options: SolveOptions | None = None,
                  time_limit_s: float = 30.0, stopper: HighsStopper | None = None) -> Relaxation:
    """Minimise the (weighted) sum of broken rules: which rules stand in the way of any plan
    (until ``stopper`` stops it)."""
    options = options or SolveOptions()
    m = build_matrix(data, elastic=True)
    h = _highs(m, options, time_limit_s)
    run_highs(h, stopper)
    status, _bound, _msg = read_highs_status(h)
    if status not in (OPTIMAL, FEASIBLE):
        return Relaxation(status, [])
    v = np.asarray(h.getSolution().col_value)
    broken = [(kind, idx, float(v[col])) for kind, idx, col in m.slacks if v[col] > 1e-6]
    x = v[data.n_sites:data.n_sites + data.n_pairs] > 0.5
    chosen = np.full(data.n_services, -1, dtype=np.int64)
    on = np.nonzero(x)[0]
    chosen[data.pair_service[on]] = on
    return Relaxation(status, broken, np.rint(v[:data.n_sites]), chosen)


def feasible_without(data: ModelData, drop: frozenset[str], options: SolveOptions | None = None,
                     time_limit_s: float = 20.0, stopper: HighsStopper | None = None) -> str:
    """Status of the feasibility problem with some rule groups left out (objective 0), until
    ``stopper`` stops it."""
    options = options or SolveOptions()
    m = build_matrix(data, drop=drop)
    m.cost[:] = 0.0
    h = _highs(m, options, time_limit_s)
    run_highs(h, stopper)
    status, _b, _m = read_highs_status(h)
    return status if status != FEASIBLE else OPTIMAL


__all__ = ["INFEASIBLE", "NO_SOLUTION", "MatrixModel", "Relaxation", "build_matrix", "feasible_without",
           "solve_elastic", "solve_highs"]

