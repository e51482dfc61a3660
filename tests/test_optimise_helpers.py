"""Small helpers for the optimiser tests: spec tables written as dicts, a run from frames, and
an independent brute-force reading of ../shared/spec/model.md (version 1)."""

from __future__ import annotations

import itertools
import math

import pandas as pd

from planner.model import SolveOptions
from planner.optimise import optimise

# r = 0 makes the hand arithmetic easy: d(k) = 1, a(k) = H - k.
BASE = dict(horizon_years=10, discount_rate=0.0, optimism_bias=0.0, fit_out_gbp_per_m2=0.0,
            move_gbp_per_fte=0.0, max_move_m=10_000.0, disposal_cost_rate=0.0)


def site(site_id, agency="council", e=0.0, n=0.0, cap=100.0, **kw) -> dict:
    return {"site_id": site_id, "agency": agency, "easting": e, "northing": n, "capacity_m2": cap, **kw}


def svc(service_id, site_id, agency="council", service_type="office", space=10.0, **kw) -> dict:
    return {"service_id": service_id, "site_id": site_id, "agency": agency, "service_type": service_type,
            "space_m2": space, **kw}


SERVICE_COLUMNS = ["service_id", "site_id", "agency", "service_type", "space_m2"]


def run(sites, services, zones=None, pairs=None, solver="highs", decompose=True, **scenario):
    sc = {**BASE, **scenario}
    services = pd.DataFrame(services) if services else pd.DataFrame(columns=SERVICE_COLUMNS)
    return optimise(sites=pd.DataFrame(sites), services=services, scenario=sc,
                    zones=None if zones is None else pd.DataFrame(zones),
                    pair_costs=None if pairs is None else pd.DataFrame(pairs),
                    options=SolveOptions(solver=solver), decompose=decompose)


def decision(plan, site_id) -> str:
    sd = plan.site_decisions.set_index("site_id")
    return sd.loc[site_id, "decision"]


def placed(plan, service_id) -> str:
    return plan.placements.set_index("service_id").loc[service_id, "to_site_id"]


def _truthy(v, default):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return default
    if isinstance(v, str):
        return v.strip().lower() in ("true", "yes", "1", "t", "y")
    return bool(v)


def _num(v, default):
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return default
    return float(v)


def spec_brute_force(sites: list[dict], services: list[dict], scenario: dict, zones: list[dict] | None = None,
                     pairs: list[dict] | None = None) -> float | None:
    """The best NPV by enumerating every plan, written from the text of model.md alone
    (no planner code). None when no plan meets every rule."""
    sc = {**BASE, **scenario}
    H, r = int(sc["horizon_years"]), float(sc["discount_rate"])

    def d(k):
        return (1 + r) ** (-k)

    def a(k):
        return sum(d(t) for t in range(k + 1, H + 1))

    ob, f, m = sc["optimism_bias"], sc["fit_out_gbp_per_m2"], sc["move_gbp_per_fte"]
    keep_ids = set(sc.get("keep_site_ids", []))
    out_ids = set(sc.get("dispose_site_ids", []))
    sharing = sc.get("sharing")
    access = {k.lower(): v for k, v in sc.get("access", {}).items()}
    recharge = sc.get("recharge_gbp_per_m2_year", 0.0)
    budget = sc.get("capex_budget_gbp")
    max_disp = sc.get("max_disposals")
    partner = sc.get("partner_no_worse_off", False)

    S = {s["site_id"]: s for s in sites}
    ids = list(S)
    services = [dict(u) for u in services]
    for u in services:
        u["site"] = u.get("site_id") or None
        u["movable_"] = _truthy(u.get("movable"), True)
        u["fte_"] = _num(u.get("fte"), 0.0)
        u["max_move_"] = _num(u.get("max_move_m"), sc["max_move_m"])
    # benefit
    b = {}
    for j, s in S.items():
        mv = _num(s.get("market_value_gbp"), 0.0)
        dc = _num(s.get("disposal_cost_gbp"), sc["disposal_cost_rate"] * mv)
        ec = _num(s.get("exit_cost_gbp"), 0.0)
        k = int(_num(s.get("available_year"), 0))
        b[j] = d(k) * (mv - dc - ec) + a(k) * _num(s.get("running_cost_gbp"), 0.0) + _num(s.get("backlog_gbp"), 0.0)
    load = {j: sum(u["space_m2"] for u in services if u["site"] == j) for j in ids}
    cap = {j: max(float(S[j]["capacity_m2"]), load[j]) for j in ids}
    disposable = {}
    for j, s in S.items():
        k = int(_num(s.get("available_year"), 0))
        holds_fixed = any(u["site"] == j and not u["movable_"] for u in services)
        disposable[j] = not (_truthy(s.get("locked"), False) or j in keep_ids or k >= H or holds_fixed)

    def hosts(host, guest):
        if host.lower() == guest.lower() or sharing is None:
            return True
        table = {k.lower(): [g.lower() for g in v] for k, v in sharing.items()}
        return guest.lower() in table.get(host.lower(), [])

    prow = {(p["service_id"], p["site_id"]): p for p in (pairs or [])}
    options = []  # per service: list of (site, cost, spend)
    for u in services:
        opts = []
        for j in ids:
            row = prow.get((u["service_id"], j))
            one = _num(row.get("one_off_gbp"), 0.0) if row else 0.0
            ann = _num(row.get("annual_gbp"), 0.0) if row else 0.0
            if j == u["site"]:
                opts.append((j, one + a(0) * ann, 0.0))
                continue
            s = S[j]
            if not u["movable_"] or not _truthy(s.get("can_receive"), True) or j in out_ids:
                continue
            acc = [x.strip().lower() for x in str(s.get("accepts") or "").split(";") if x.strip()]
            if acc and u["service_type"].lower() not in acc:
                continue
            if not hosts(s["agency"], u["agency"]):
                continue
            if u["site"] is not None:
                ox, oy = S[u["site"]]["easting"], S[u["site"]]["northing"]
            else:
                ox, oy = u.get("easting"), u.get("northing")
            if ox is not None and not (isinstance(ox, float) and math.isnan(ox)):
                if math.hypot(ox - s["easting"], oy - s["northing"]) > u["max_move_"]:
                    continue
            if row is not None and not _truthy(row.get("allowed"), True):
                continue
            fit = (1 + ob) * (f * u["space_m2"] + m * u["fte_"])
            opts.append((j, fit + one + a(0) * ann, fit + one))
        options.append(opts)
    # access: zones covered today
    cover = []
    for t, D in access.items():
        today = {u["site"] for u in services if u["site"] and u["service_type"].lower() == t}
        for z in zones or []:
            if z["population"] <= 0:
                continue
            near = {j for j in ids if math.hypot(S[j]["easting"] - z["easting"], S[j]["northing"] - z["northing"]) <= D}
            if near & today:
                cover.append((t, near))
    best = None
    for y in itertools.product([0, 1], repeat=len(ids)):
        Y = dict(zip(ids, y, strict=True))
        if any(Y[j] == 0 and not disposable[j] for j in ids) or any(Y[j] == 1 for j in out_ids):
            continue
        if max_disp is not None and sum(1 - v for v in y) > max_disp:
            continue
        choices = [[o for o in opts if Y[o[0]] == 1] for opts in options]
        for plan in itertools.product(*choices):
            used = {j: 0.0 for j in ids}
            for u, (j, _c, _e) in zip(services, plan, strict=True):
                used[j] += u["space_m2"]
            if any(used[j] > cap[j] + 1e-9 for j in ids):
                continue
            if budget is not None and sum(e for _j, _c, e in plan) > budget + 1e-9:
                continue
            ok = True
            for t, near in cover:
                if not any(u["service_type"].lower() == t and j in near for u, (j, _c, _e) in zip(services, plan, strict=True)):
                    ok = False
                    break
            if not ok:
                continue
            if partner:
                ags = {s["agency"].lower() for s in sites} | {u["agency"].lower() for u in services}
                for g in ags:
                    v = sum(b[j] * (1 - Y[j]) for j in ids if S[j]["agency"].lower() == g)
                    for u, (j, c, _e) in zip(services, plan, strict=True):
                        q = a(0) * recharge * u["space_m2"] if j != u["site"] else 0.0
                        if u["agency"].lower() == g:
                            v -= c
                            if S[j]["agency"].lower() != g:
                                v -= q
                        elif S[j]["agency"].lower() == g:
                            v += q
                    if v < -1e-7:
                        ok = False
                        break
            if not ok:
                continue
            npv = sum(b[j] * (1 - Y[j]) for j in ids) - sum(c for _j, c, _e in plan)
            if best is None or npv > best:
                best = npv
    return best


def frame_rows(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_brute_force_reads_the_spec_by_hand():
    # A (running 100 a year, H = 10, r = 0: benefit 1000) holds u (10 m2); B has room.
    # Moving u costs 750 x 10 = 7,500 in fit-out > 1000: keep; with f = 50: 1000 - 500 = 500.
    sites = [site("A", running_cost_gbp=100.0), site("B", e=100.0)]
    services = [svc("u", "A")]
    assert spec_brute_force(sites, services, {"fit_out_gbp_per_m2": 750.0}) == 0.0
    assert spec_brute_force(sites, services, {"fit_out_gbp_per_m2": 50.0}) == 500.0
    assert spec_brute_force(sites, services, {"fit_out_gbp_per_m2": 50.0, "dispose_site_ids": ["A", "B"]}) is None
