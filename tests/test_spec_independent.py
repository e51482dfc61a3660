"""An independent check of ``planner optimise`` against ../shared/spec/model.md.

The evaluator below is written from the spec's text alone (not from planner.model), and finds
the optimum of small random instances by enumerating every assignment of services to sites
and every keep/dispose choice. The planner is driven exactly as the external checks drive it:
CSV files with the spec's column names, a scenario TOML, ``planner optimise ... --out DIR``,
then summary.json, site_decisions.csv and placements.csv are read back.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import _register_commands, app

# --------------------------------------------------------------------------- the spec, by hand

def d(k, r):
    return (1.0 + r) ** (-k)


def a(k, r, H):
    return sum(d(t, r) for t in range(k + 1, H + 1))


def evaluate(inst, assign: dict, keep: dict, agency: str | None = None):
    """NPV of a plan under the spec, or None when the plan breaks a rule; with ``agency``, that
    agency's value under rule 7 instead."""
    sc, sites, services = inst["scenario"], inst["sites"], inst["services"]
    H, r, ob = sc["horizon_years"], sc["discount_rate"], sc["optimism_bias"]
    f, m = sc["fit_out_gbp_per_m2"], sc["move_gbp_per_fte"]
    pairs = inst["pairs"]
    # every service in a kept site
    for j in assign.values():
        if not keep[j]:
            return None
    # capacity
    for j, s in sites.items():
        cur_space = sum(v["space_m2"] for v in services.values() if v["site_id"] == j)
        cap = max(s["capacity_m2"], cur_space)
        used = sum(services[u]["space_m2"] for u, jj in assign.items() if jj == j)
        if used > cap + 1e-9:
            return None
    # forced keeps / disposals; disposability
    for j, s in sites.items():
        holds_fixed = any(v["site_id"] == j and not v["movable"] for v in services.values())
        disposable = not (s["locked"] or j in sc["keep_site_ids"] or s["available_year"] >= H or holds_fixed)
        if not disposable and not keep[j]:
            return None
        if j in sc["dispose_site_ids"] and keep[j]:
            return None
    npv = 0.0
    spend = 0.0
    by_agency = {}
    for j, s in sites.items():
        if not keep[j]:
            k = s["available_year"]
            dc = s["disposal_cost_gbp"] if s["disposal_cost_gbp"] is not None else sc["disposal_cost_rate"] * s["market_value_gbp"]
            b = d(k, r) * (s["market_value_gbp"] - dc - s["exit_cost_gbp"]) + a(k, r, H) * s["running_cost_gbp"] + s["backlog_gbp"]
            npv += b
            by_agency[s["agency"]] = by_agency.get(s["agency"], 0.0) + b
    rech = sc["recharge_gbp_per_m2_year"]
    for u, j in assign.items():
        v = services[u]
        row = pairs.get((u, j))
        one_off = row["one_off_gbp"] if row else 0.0
        annual = row["annual_gbp"] if row else 0.0
        if j == v["site_id"]:
            c = one_off + a(0, r, H) * annual
        else:
            fit = (1 + ob) * (f * v["space_m2"] + m * v["fte"])
            c = fit + one_off + a(0, r, H) * annual
            spend += fit + one_off
            if sites[j]["agency"] != v["agency"]:
                by_agency[v["agency"]] = by_agency.get(v["agency"], 0.0) - a(0, r, H) * rech * v["space_m2"]
                host = sites[j]["agency"]
                by_agency[host] = by_agency.get(host, 0.0) + a(0, r, H) * rech * v["space_m2"]
        npv -= c
        by_agency[v["agency"]] = by_agency.get(v["agency"], 0.0) - c
    if sc.get("capex_budget_gbp") is not None and spend > sc["capex_budget_gbp"] + 1e-6:
        return None
    if sc.get("max_disposals") is not None and sum(not y for y in keep.values()) > sc["max_disposals"]:
        return None
    if sc.get("partner_no_worse_off") and any(v < -1e-6 for v in by_agency.values()):
        return None
    # access
    for t, D in sc.get("access", {}).items():
        for z in inst["zones"].values():
            if z["population"] <= 0:
                continue

            def near(j, z=z, D=D):
                s = sites[j]
                return math.hypot(s["easting"] - z["easting"], s["northing"] - z["northing"]) <= D

            today = any(near(v["site_id"]) for v in services.values()
                        if v["service_type"] == t and v["site_id"])
            if today and not any(near(j) and keep[j] for u, j in assign.items() if services[u]["service_type"] == t):
                return None
    return npv if agency is None else by_agency.get(agency, 0.0)


def allowed_sites(inst, u):
    sc, sites, v = inst["scenario"], inst["sites"], inst["services"][u]
    sharing = sc.get("sharing")
    out = []
    for j, s in sites.items():
        if j == v["site_id"]:
            out.append(j)
            continue
        if not v["movable"] or not s["can_receive"]:
            continue
        if s["accepts"] and v["service_type"] not in s["accepts"].split(";"):
            continue
        if sharing is not None and s["agency"] != v["agency"] and v["agency"] not in sharing.get(s["agency"], []):
            continue
        if j in sc["dispose_site_ids"]:
            continue
        if v["site_id"]:
            src = sites[v["site_id"]]
            dist = math.hypot(src["easting"] - s["easting"], src["northing"] - s["northing"])
        else:
            dist = 0.0  # no point given: any distance
        limit = v["max_move_m"] if v["max_move_m"] is not None else sc["max_move_m"]
        if dist > limit:
            continue
        row = inst["pairs"].get((u, j))
        if row is not None and not row["allowed"]:
            continue
        out.append(j)
    return out


def plans(inst):
    """Every (assign, keep) of allowed pairs, with the sites that hold a service kept."""
    sites = list(inst["sites"])
    services = list(inst["services"])
    options = [allowed_sites(inst, u) for u in services]
    for choice in itertools.product(*options):
        assign = dict(zip(services, choice, strict=True))
        used = set(choice)
        free = [j for j in sites if j not in used]
        for bits in itertools.product([True, False], repeat=len(free)):
            yield assign, {j: True for j in used} | dict(zip(free, bits, strict=True))


def brute_force(inst, agency: str | None = None):
    """The best NPV of a plan that meets every rule (with ``agency``, that agency's best value
    under rule 7), or None when no plan does."""
    values = (evaluate(inst, assign, keep, agency) for assign, keep in plans(inst))
    return max((v for v in values if v is not None), default=None)


# --------------------------------------------------------------------------- random instances

AGENCIES = ["council", "nhs", "police"]
TYPES = ["office", "library", "gp"]


def random_instance(seed: int, sites: tuple[int, int] = (2, 5), services: tuple[int, int] = (1, 5)):
    """A random place; ``sites`` and ``services``: the ranges of their numbers (high end
    excluded)."""
    rng = np.random.default_rng(seed)
    n_sites = int(rng.integers(*sites))
    n_serv = int(rng.integers(*services))
    sites = {}
    for i in range(n_sites):
        mv = float(rng.choice([0, 100_000, 400_000]))
        sites[f"S{i}"] = dict(
            agency=str(rng.choice(AGENCIES)), easting=float(380_000 + rng.integers(0, 4000)),
            northing=float(390_000 + rng.integers(0, 4000)), capacity_m2=float(rng.integers(100, 600)),
            running_cost_gbp=float(rng.integers(0, 60_000)), backlog_gbp=float(rng.choice([0, 20_000])),
            market_value_gbp=mv, disposal_cost_gbp=(None if rng.random() < 0.5 else float(rng.integers(0, 20_000))),
            exit_cost_gbp=float(rng.choice([0, 0, 30_000])), available_year=int(rng.choice([0, 0, 2, 12])),
            locked=bool(rng.random() < 0.15), can_receive=bool(rng.random() < 0.85),
            accepts=str(rng.choice(["", "", "office", "office;gp"])))
    services = {}
    for i in range(n_serv):
        homeless = rng.random() < 0.15
        services[f"U{i}"] = dict(
            site_id=None if homeless else str(rng.choice(list(sites))), agency=str(rng.choice(AGENCIES)),
            service_type=str(rng.choice(TYPES)), space_m2=float(rng.integers(20, 300)),
            fte=float(rng.integers(0, 20)), movable=bool(rng.random() < 0.85),
            max_move_m=(None if rng.random() < 0.7 else float(rng.integers(500, 5000))))
    pairs = {}
    for u in services:
        for j in sites:
            if rng.random() < 0.2:
                pairs[(u, j)] = dict(one_off_gbp=float(rng.integers(0, 20_000)), annual_gbp=float(rng.integers(0, 3000)),
                                     allowed=bool(rng.random() < 0.8))
    zones = {f"Z{i}": dict(population=float(rng.integers(0, 3000)), easting=float(380_000 + rng.integers(0, 4000)),
                           northing=float(390_000 + rng.integers(0, 4000))) for i in range(3)}
    sc = dict(horizon_years=int(rng.choice([5, 10, 25])), discount_rate=float(rng.choice([0.0, 0.035])),
              optimism_bias=float(rng.choice([0.0, 0.24])), fit_out_gbp_per_m2=float(rng.choice([0, 300, 750])),
              move_gbp_per_fte=float(rng.choice([0, 1500])), max_move_m=float(rng.choice([1500, 3000, 6000])),
              disposal_cost_rate=0.02, recharge_gbp_per_m2_year=float(rng.choice([0, 50])),
              partner_no_worse_off=bool(rng.random() < 0.3), dispose_site_ids=[], keep_site_ids=[])
    if rng.random() < 0.3:
        sc["capex_budget_gbp"] = float(rng.integers(0, 200_000))
    if rng.random() < 0.3:
        sc["max_disposals"] = int(rng.integers(0, 2))
    if rng.random() < 0.3:
        sc["access"] = {str(rng.choice(TYPES)): float(rng.choice([1500, 3000]))}
    if rng.random() < 0.4:
        sc["sharing"] = {"council": ["nhs"], "nhs": ["council", "police"]}
    if rng.random() < 0.2:
        sc["dispose_site_ids"] = [str(rng.choice(list(sites)))]
    if rng.random() < 0.2:
        sc["keep_site_ids"] = [str(rng.choice(list(sites)))]
    return dict(sites=sites, services=services, pairs=pairs, zones=zones, scenario=sc)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(f'"{x}"' for x in v) + "]"
    return repr(v)


def write_instance(inst, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [dict(site_id=j, **s) for j, s in inst["sites"].items()]
    pd.DataFrame(rows).to_csv(folder / "sites.csv", index=False)
    rows = [dict(service_id=u, **v) for u, v in inst["services"].items()]
    pd.DataFrame(rows).to_csv(folder / "services.csv", index=False)
    rows = [dict(zone_id=z, **v) for z, v in inst["zones"].items()]
    pd.DataFrame(rows).to_csv(folder / "zones.csv", index=False)
    paths = dict(sites=folder / "sites.csv", services=folder / "services.csv", zones=folder / "zones.csv")
    if inst["pairs"]:
        rows = [dict(service_id=u, site_id=j, **p) for (u, j), p in inst["pairs"].items()]
        pd.DataFrame(rows).to_csv(folder / "pairs.csv", index=False)
        paths["pairs"] = folder / "pairs.csv"
    lines = []
    tables = {}
    for k, v in inst["scenario"].items():
        if isinstance(v, dict):
            tables[k] = v
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    (folder / "scenario.toml").write_text("\n".join(lines) + "\n")
    paths["scenario"] = folder / "scenario.toml"
    return paths


def run_planner(paths, out: Path, solver="highs"):
    _register_commands()
    args = ["optimise", "--sites", str(paths["sites"]), "--services", str(paths["services"]),
            "--zones", str(paths["zones"]), "--scenario", str(paths["scenario"]), "--out", str(out),
            "--solver", solver]
    if "pairs" in paths:
        args += ["--pair-costs", str(paths["pairs"])]
    res = CliRunner().invoke(app, args)
    assert (out / "summary.json").exists(), res.output
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("seed", range(150))
def test_optimum_equals_brute_force(seed, tmp_path):
    check_against_brute_force(seed, tmp_path, "highs")


@pytest.mark.parametrize("seed", range(0, 150, 6))
def test_cbc_fallback_optimum_equals_brute_force(seed, tmp_path):
    check_against_brute_force(seed, tmp_path, "cbc")


@pytest.mark.parametrize("seed", range(480, 560))
def test_optimum_equals_brute_force_on_larger_places(seed, tmp_path):
    # 3-5 sites and 3-5 services. Seed 512 found HiGHS 1.16 reporting "optimal" with a plan
    # 2% below the optimum (NPV £509,965 against £520,243): given the status quo as its
    # starting plan, its presolve mapped it to the optimum of its reduced model, and HiGHS
    # returned the start's own columns with the optimum's value (planner.highs_direct's
    # _not_what_highs_said)
    check_against_brute_force(seed, tmp_path, "highs", sites=(3, 6), services=(3, 6))


@pytest.mark.parametrize("seed", sorted({220, 244} | set(range(200, 260, 6))))
def test_cbc_fallback_optimum_equals_brute_force_on_larger_places(seed, tmp_path):
    # seeds 220 and 244: CBC called places with plans infeasible, because the partner rows'
    # numbers, rounded to 13 digits in the MPS file CBC reads, put the status quo (which meets
    # them with equality) 6e-7 outside them (planner.model.PARTNER_ROUNDING)
    check_against_brute_force(seed, tmp_path, "cbc", sites=(3, 6), services=(3, 6))


def check_against_brute_force(seed, tmp_path, solver, **sizes):
    inst = random_instance(seed, **sizes)
    best = brute_force(inst)
    paths = write_instance(inst, tmp_path / "in")
    summary = run_planner(paths, tmp_path / "out", solver)
    assert summary["solver"].lower().startswith(solver), summary
    if best is None:
        assert summary["status"] == "infeasible", summary
        return
    assert summary["status"] == "optimal", summary
    assert summary["npv_gbp"] == pytest.approx(best, abs=0.02), (seed, summary["npv_gbp"], best)
    # the reported plan itself is feasible under the spec and worth what it says
    dec = pd.read_csv(tmp_path / "out" / "site_decisions.csv", dtype={"site_id": str})
    pl = pd.read_csv(tmp_path / "out" / "placements.csv", dtype={"service_id": str, "to_site_id": str})
    keep = {r.site_id: r.decision == "keep" for r in dec.itertuples()}
    assign = {r.service_id: r.to_site_id for r in pl.itertuples()}
    value = evaluate(inst, assign, keep)
    assert value is not None, "the reported plan breaks a rule of the spec"
    assert value == pytest.approx(best, abs=0.02)


# --------------------------------------------------------------------------- infeasible places

_RELAX = {"budget": lambda sc: sc.pop("capex_budget_gbp", None),
          "max_disposals": lambda sc: sc.pop("max_disposals", None),
          "partner": lambda sc: sc.update(partner_no_worse_off=False),
          "access": lambda sc: sc.pop("access", None),
          "forced": lambda sc: sc.update(dispose_site_ids=[])}


def _findings(inst, tmp_path):
    summary = run_planner(write_instance(inst, tmp_path / "in"), tmp_path / "out")
    assert summary["status"] == "infeasible", summary
    return summary["infeasibility"]


@pytest.mark.parametrize(("seed", "sizes"), [(1, {}), (2, {}), (51, {}), (110, {}), (179, {}),
                                            *[(k, {"sites": (3, 6), "services": (3, 6)}) for k in (28, 31, 209)]])
def test_each_rule_said_to_allow_a_plan_when_relaxed_does(seed, sizes, tmp_path):
    # "a plan exists if any one of these is relaxed" (partner; max_disposals and partner; budget;
    # budget and forced; forced): enumeration with that rule left out finds one
    inst = random_instance(seed, **sizes)
    assert brute_force(inst) is None
    said = [f for f in _findings(inst, tmp_path) if f["rule"] == "rules"]
    assert said
    for name in said[0]["subject"].split(", "):
        relaxed = dict(inst, scenario=dict(inst["scenario"]))
        _RELAX[name](relaxed["scenario"])
        assert brute_force(relaxed) is not None, name


def test_the_partner_finding_speaks_of_the_plan_closest_to_the_rules_not_of_every_plan(tmp_path):
    # seed 51: the planner used to say "agency council would be at least £20,500 worse off ...
    # under any plan that meets the other rules", but a plan that meets them leaves the council
    # £370,770 better off (another agency is the one that cannot be made whole with it)
    inst = random_instance(51)
    found = [f for f in _findings(inst, tmp_path) if f["rule"] == "partner" and f["subject"] == "council"]
    assert found and "comes closest to meeting every rule" in found[0]["message"]
    assert "any plan" not in found[0]["message"]
    relaxed = dict(inst, scenario=dict(inst["scenario"], partner_no_worse_off=False))
    best_for_council = brute_force(relaxed, agency="council")
    assert best_for_council is not None and best_for_council > 0
