"""Benchmark: synthetic places of 500, 2,000, 10,000 and 50,000 sites, with realistic move
radii (3 km; libraries 1.5 km) and access rules (libraries within 2 km, GPs within 1.5 km of
every zone that has one today), through the optimiser's stages: validation, pairs and access
rows (build), solve, explanations. Each size runs in its own process so that its peak memory
(ru_maxrss) is its own.

Usage::

    .venv/bin/python benchmarks/bench_synthetic.py [--sizes 500,2000,10000,50000]
        [--limits 60,60,300,900] [--seed 1] [--name bench_synthetic]

Writes benchmarks/results/NAME.md (and NAME.jsonl, one line per size, appended); by default
NAME is bench_synthetic, the committed table: give another name for a run that should not
replace it.

The place: towns (clusters of sites, about 3 sites per km2 at their centres) scattered over a
region with 0.5 sites per km2 on average; agencies council 55%, nhs 20%, police 12%, fire 8%,
other 5%; each site holds 0-3 services (office, library, community, depot, gp, clinic,
neighbourhood_policing, fire_operational - fire stations cannot move), using 45-95% of its
capacity; running costs £120-250/m2 a year; 70% freehold (£800-2,000/m2), 30% leasehold
(exit cost = a year's rent, lease break in 0-8 years); 5% locked; one zone (1,500 people) per
site, near a site. Scenario: 25 years at 3.5%, optimism bias 24%, fit-out £750/m2, £1,000 per
FTE moved, disposal costs 2%, [sharing] council hosts nhs and police, nhs hosts council, police
hosts fire and council, fire hosts police.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

AGENCIES = ["council", "nhs", "police", "fire", "housing"]
AGENCY_P = [0.55, 0.20, 0.12, 0.08, 0.05]
TYPES = {"council": (["office", "library", "community", "depot"], [0.5, 0.15, 0.2, 0.15]),
         "nhs": (["gp", "clinic", "office"], [0.5, 0.3, 0.2]),
         "police": (["neighbourhood_policing", "office"], [0.6, 0.4]),
         "fire": (["fire_operational"], [1.0]),
         "housing": (["office", "community"], [0.6, 0.4])}
SCENARIO = {"horizon_years": 25, "discount_rate": 0.035, "optimism_bias": 0.24, "fit_out_gbp_per_m2": 750.0,
            "move_gbp_per_fte": 1000.0, "max_move_m": 3000.0, "disposal_cost_rate": 0.02,
            "access": {"library": 2000.0, "gp": 1500.0},
            "sharing": {"council": ["nhs", "police"], "nhs": ["council"], "police": ["fire", "council"],
                        "fire": ["police"]}}


def synthetic_place(n_sites: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    area_km2 = n_sites / 0.5
    side_m = np.sqrt(area_km2) * 1000.0
    n_towns = max(1, n_sites // 150)
    sizes = rng.lognormal(0.0, 0.8, n_towns)
    town = rng.choice(n_towns, size=n_sites, p=sizes / sizes.sum())
    centre = rng.uniform(0, side_m, size=(n_towns, 2))
    count = np.bincount(town, minlength=n_towns)
    sigma_m = np.sqrt(np.maximum(count, 1) / (2 * np.pi * 3.0)) * 1000.0  # ~3 sites per km2 at a centre
    xy = centre[town] + rng.normal(size=(n_sites, 2)) * sigma_m[town][:, None]
    agency = rng.choice(AGENCIES, size=n_sites, p=AGENCY_P)
    site_ids = [f"S{j:06d}" for j in range(n_sites)]
    services = []
    used = np.zeros(n_sites)
    k = 0
    first_type = []
    for j in range(n_sites):
        types, p = TYPES[agency[j]]
        n_here = rng.choice([0, 1, 1, 1, 2, 2, 3])
        first = ""
        for _ in range(n_here):
            t = str(rng.choice(types, p=p))
            first = first or t
            space = float(np.clip(rng.lognormal(np.log(300), 0.7), 40, 3000))
            services.append({"service_id": f"U{k:06d}", "site_id": site_ids[j], "agency": agency[j],
                             "service_type": t, "space_m2": round(space, 1), "fte": round(space / 12.0, 1),
                             "movable": t != "fire_operational",
                             "max_move_m": 1500.0 if t == "library" else np.nan})
            used[j] += space
            k += 1
        first_type.append(first)
    util = rng.uniform(0.45, 0.95, size=n_sites)
    capacity = np.where(used > 0, used / util, rng.uniform(200, 1500, size=n_sites))
    freehold = rng.random(n_sites) < 0.7
    running = capacity * rng.uniform(120, 250, size=n_sites)
    mv = np.where(freehold, capacity * rng.uniform(800, 2000, size=n_sites), 0.0)
    accepts = []
    for j in range(n_sites):
        t = first_type[j]
        accepts.append({"depot": "depot", "fire_operational": "fire_operational;neighbourhood_policing",
                        "gp": "gp;clinic;office"}.get(t, ""))
    sites = pd.DataFrame({
        "site_id": site_ids, "agency": agency, "easting": np.round(xy[:, 0], 1), "northing": np.round(xy[:, 1], 1),
        "capacity_m2": np.round(capacity, 1), "running_cost_gbp": np.round(running, 0),
        "backlog_gbp": np.round(capacity * rng.uniform(0, 300, size=n_sites) * (rng.random(n_sites) < 0.6), 0),
        "market_value_gbp": np.round(mv, 0),
        "exit_cost_gbp": np.where(freehold, 0.0, np.round(running, 0)),
        "available_year": np.where(freehold, 0, rng.integers(0, 9, size=n_sites)),
        "locked": rng.random(n_sites) < 0.05, "can_receive": rng.random(n_sites) < 0.8, "accepts": accepts,
    })
    svc = pd.DataFrame(services)
    near = rng.integers(0, n_sites, size=n_sites)
    zxy = xy[near] + rng.normal(size=(n_sites, 2)) * 800.0
    zones = pd.DataFrame({"zone_id": [f"Z{z:06d}" for z in range(n_sites)], "population": 1500.0,
                          "easting": np.round(zxy[:, 0], 1), "northing": np.round(zxy[:, 1], 1)})
    return sites, svc, zones


def run_one(n_sites: int, limit_s: float, seed: int) -> dict:
    from planner.model import SolveOptions
    from planner.optimise import (
        build_instance,
        inputs_from_frames,
        make_plan,
        solve_instance,
        split_parts,
    )

    sites, services, zones = synthetic_place(n_sites, seed)
    options = SolveOptions(time_limit_s=limit_s)
    t0 = time.perf_counter()
    inputs = inputs_from_frames(sites, services, SCENARIO, zones)
    t1 = time.perf_counter()
    inst = build_instance(inputs)
    t2 = time.perf_counter()
    parts, n_comp = split_parts(inst.data)
    largest = max((p.size for p in parts), default=0)
    t3 = time.perf_counter()
    outcome = solve_instance(inst, options)
    t4 = time.perf_counter()
    plan = make_plan(inst, outcome, options)
    t5 = time.perf_counter()
    model_build = outcome.solution.build_seconds if outcome.solution is not None else float("nan")
    out = {
        "sites": n_sites, "services": len(services), "zones": len(zones), "pairs": inst.data.n_pairs,
        "access_rows": inst.data.n_cover, "parts": n_comp, "largest_part_columns": largest,
        "status": plan.status, "npv_gbp": plan.npv_gbp, "gap": plan.gap, "limit_s": limit_s,
        "validate_s": t1 - t0, "pairs_rows_s": t2 - t1, "split_s": t3 - t2,
        "matrix_s": model_build, "solve_s": (t4 - t3) - (model_build if model_build == model_build else 0.0),
        "explain_s": t5 - t4, "total_s": t5 - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    out["build_s"] = out["validate_s"] + out["pairs_rows_s"] + out["split_s"] + (model_build or 0.0)
    out["build_share"] = out["build_s"] / out["total_s"]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="500,2000,10000,50000")
    ap.add_argument("--limits", default="60,60,300,900")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--name", default="bench_synthetic",
                    help="the results' file name in benchmarks/results (NAME.md, NAME.jsonl)")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.limit, args.seed)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    limits = [float(s) for s in args.limits.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, lim in zip(sizes, limits, strict=True):
        r = subprocess.run([sys.executable, __file__, "--one", str(n), "--limit", str(lim), "--seed", str(args.seed)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr[-3000:], file=sys.stderr)
            rows.append({"sites": n, "status": f"error (exit {r.returncode})", "limit_s": lim})
            continue
        row = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
        with open(RESULTS / f"{args.name}.jsonl", "a") as fh:
            fh.write(json.dumps({**row, "seed": args.seed, "when": time.strftime("%Y-%m-%d %H:%M")}) + "\n")
    head = ("| sites | services | zones | allowed pairs | access rows | parts (largest, columns) | status | gap | "
            "build s (validate + pairs/rows + split + matrix) | solve s | explain s | total s | build share | "
            "peak MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "total_s" not in r:
            lines.append(f"| {r['sites']:,} | | | | | | {r['status']} | | | | | | | |")
            continue
        gap = "" if r["gap"] is None else f"{r['gap']:.2e}"
        lines.append(
            f"| {r['sites']:,} | {r['services']:,} | {r['zones']:,} | {r['pairs']:,} | {r['access_rows']:,} | "
            f"{r['parts']:,} ({r['largest_part_columns']:,}) | {r['status']} | {gap} | {r['build_s']:.1f} "
            f"({r['validate_s']:.1f} + {r['pairs_rows_s']:.1f} + {r['split_s']:.1f} + {r['matrix_s']:.1f}) | "
            f"{r['solve_s']:.1f} | {r['explain_s']:.1f} | {r['total_s']:.1f} | {r['build_share']:.0%} | "
            f"{r['peak_rss_mb']:,.0f} |")
    text = (f"# Synthetic places\n\nMachine: {os.cpu_count()} cores. Seed {args.seed}. Time limits "
            f"{', '.join(f'{int(n):,} sites {lim:g} s' for n, lim in zip(sizes, limits, strict=True))}.\n"
            f"Command: `.venv/bin/python benchmarks/bench_synthetic.py {' '.join(argv or sys.argv[1:])}`\n\n"
            + "\n".join(lines) + "\n")
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
