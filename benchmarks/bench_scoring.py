"""Benchmark of the scoring stage on synthetic sites.

Times, on N synthetic sites (default 100,000) with about 1.5 services each:
- ``score_sites`` (every measure, the score, recommendation and reasons; candidates and
  hubs switched off), aim under 2 s;
- ``colocation_candidates`` (other agencies' sites within 1,000 m with spare capacity),
  aim under 10 s;
- ``hubs`` (clusters within 400 m holding several agencies);
- ``score_sites`` with candidates and hubs (the whole of ``planner score``, without I/O).

Prints a table and writes it to benchmarks/results/scoring.md.

Run: .venv/bin/python benchmarks/bench_scoring.py [--sites 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner import candidates as cand  # noqa: E402
from planner.problems import write_text_atomic  # noqa: E402
from planner.scoring import score_sites  # noqa: E402

AGENCIES = np.array(["council", "nhs", "police", "fire", "dwp"])
AGENCY_P = np.array([0.5, 0.25, 0.1, 0.05, 0.1])
TYPES = np.array(["office", "library", "leisure", "gp", "hospital", "fire_station",
                  "police_station", "depot", "community", "other"])
SERVICE_TYPES = np.array(["office", "library", "gp", "neighbourhood_policing", "fire_operational",
                          "community", "depot"])


def synthetic(n: int, seed: int = 20260401) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` sites: 70% in 300 towns (Gaussian, sigma 1.5 km), 30% spread over a
    200 km x 200 km square of British National Grid; and about 1.5 services per site."""
    rng = np.random.default_rng(seed)
    towns = rng.uniform([300_000, 200_000], [500_000, 400_000], size=(300, 2))
    in_town = rng.random(n) < 0.7
    t = rng.integers(0, len(towns), n)
    xy = np.where(in_town[:, None], towns[t] + rng.normal(0, 1500, (n, 2)),
                  rng.uniform([300_000, 200_000], [500_000, 400_000], (n, 2)))
    gia = np.round(rng.lognormal(6.0, 1.0, n), 1)
    land = rng.random(n) < 0.1
    gia[land] = np.nan
    missing = rng.random(n)
    sites = pd.DataFrame({
        "site_id": [f"S{i:06d}" for i in range(n)],
        "name": [f"Site {i}" for i in range(n)],
        "agency": rng.choice(AGENCIES, n, p=AGENCY_P),
        "building_type": rng.choice(TYPES, n),
        "holding_type": np.where(land, "Land", "Buildings"),
        "tenure": np.where(rng.random(n) < 0.15, "Leasehold", "Freehold"),
        "tenure_detail": rng.choice(["Owner Occupied", "Vacant", "Other", "Leasehold Out"], n, p=[0.7, 0.1, 0.15, 0.05]),
        "gia_m2": gia,
        "capacity_m2": np.round(gia * 0.8, 1),
        "running_cost_gbp": np.where(missing < 0.1, np.nan, np.round(gia * rng.uniform(50, 400, n), 0)),
        "backlog_gbp": np.where(missing > 0.8, np.nan, np.round(gia * rng.uniform(0, 300, n), 0)),
        "backlog_high_gbp": np.round(gia * rng.uniform(0, 50, n), 0),
        "backlog_significant_gbp": np.round(gia * rng.uniform(0, 50, n), 0),
        "condition": rng.choice(np.array(["A", "B", "C", "D", None], dtype=object), n),
        "functional_suitability_pct": np.where(rng.random(n) < 0.5, np.nan, rng.uniform(40, 100, n).round(0)),
        "energy_rating": rng.choice(np.array(["A", "B", "C", "D", "E", "F", "G", None], dtype=object), n),
        "lease_expiry": np.where(rng.random(n) < 0.1, "2027-03-31", None),
        "lease_break": np.where(rng.random(n) < 0.05, "2026-09-30", None),
        "easting": xy[:, 0].round(1),
        "northing": xy[:, 1].round(1),
        "located": rng.random(n) > 0.02,
        "in_analysis": rng.random(n) > 0.01,
        "locked": rng.random(n) < 0.05,
        "can_receive": rng.random(n) > 0.1,
    })
    m = int(n * 1.5)
    host = rng.integers(0, n, m)
    host = host[~land[host]]
    services = pd.DataFrame({
        "service_id": [f"U{i:07d}" for i in range(len(host))],
        "site_id": sites["site_id"].to_numpy()[host],
        "agency": sites["agency"].to_numpy()[host],
        "service_type": rng.choice(SERVICE_TYPES, len(host)),
        "space_m2": np.round(np.nan_to_num(gia[host]) * rng.uniform(0.1, 0.6, len(host)) + 1, 1),
        "fte": np.round(rng.uniform(0, 60, len(host)), 1),
    })
    return sites, services


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scoring.md")
    args = ap.parse_args(argv)

    sites, services = synthetic(args.sites)
    today = dt.date(2026, 4, 1)
    t_score, scores = best_of(lambda: score_sites(sites, services, today=today, find_candidates=False,
                                                  find_hubs=False), args.repeat)
    host_spare = scores["vacant_m2"].where(scores["recommendation"].isin(["retain", "share"]))
    t_cand, cands = best_of(lambda: cand.colocation_candidates(
        sites, spare_m2=host_spare, space_used_m2=scores["space_used_m2"], max_distance_m=1000.0,
        min_spare_m2=50.0), args.repeat)
    t_hubs, (hub_id, hub_table) = best_of(lambda: cand.hubs(sites, 400.0, 2), args.repeat)
    t_all, full = best_of(lambda: score_sites(sites, services, today=today), 1)

    rec = scores["recommendation"].value_counts()
    rows = [
        ("score_sites: measures, score, recommendations, reasons", t_score, "< 2 s",
         ", ".join(f"{k} {v:,}" for k, v in rec.items())),
        ("co-location candidates within 1,000 m (STRtree dwithin)", t_cand, "< 10 s",
         f"{len(cands):,} candidate pairs for {cands['site_id'].nunique():,} sites"),
        ("hubs: clusters within 400 m with >= 2 agencies", t_hubs, "",
         f"{len(hub_table):,} hubs holding {int(hub_id.notna().sum()):,} sites"),
        ("score_sites with candidates and hubs (planner score without I/O)", t_all, "",
         f"{int(full['candidate_count'].gt(0).sum()):,} sites with a candidate"),
    ]
    lines = [
        "# Scoring benchmark",
        "",
        f"{args.sites:,} synthetic sites ({len(services):,} services), best of {args.repeat} runs "
        f"(the last row: 1 run). Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, pandas {pd.__version__}, load average "
        f"{os.getloadavg()[0]:.1f} at the start (other work on the machine slows every row). "
        f"Run on {dt.date.today().isoformat()} with `benchmarks/bench_scoring.py`.",
        "",
        "| step | time (s) | aim | result |",
        "|---|---:|---|---|",
    ]
    lines += [f"| {name} | {t:.2f} | {aim} | {res} |" for name, t, aim, res in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    write_text_atomic(args.out, text)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
