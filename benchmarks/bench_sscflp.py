"""Benchmark: the published single-source capacitated facility location instances
(../shared/bench/sscflp) through the same code path as ``planner optimise``, and, side by side,
a plain textbook PuLP model solved by PuLP's bundled CBC.

Mapping (model.md, "Classic problems it contains"): H = 1, r = 0, f = m = optimism_bias = 0;
each facility is a site with no services (running_cost = opening cost, market value 0,
capacity = facility capacity); each customer is a service with no site (space = demand) and a
pair-cost row for every pair (one_off = assignment cost). Minimum cost = sum of running costs
- NPV.

Usage::

    .venv/bin/python benchmarks/bench_sscflp.py --sets Lib_1,Lib_2,Lib_3,Lib_4 --limit-s 60 \
        [--max-instances N] [--textbook] [--solver highs] [--fresh]

Each finished instance is appended to benchmarks/results/bench_sscflp.jsonl, and a rerun
resumes (skips what is there) unless --fresh; the table is written to
benchmarks/results/bench_sscflp.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH = (ROOT / ".." / "shared" / "bench" / "sscflp").resolve()
RESULTS = ROOT / "benchmarks" / "results"


def parse(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """capacities (m), opening costs (m), demands (n), cost[n, m]."""
    tok = path.read_text().split()
    m, n = int(tok[0]), int(tok[1])
    v = np.array(tok[2:], dtype=float)
    cap, fixed, dem = v[:m], v[m:2 * m], v[2 * m:2 * m + n]
    cost = v[2 * m + n:2 * m + n + n * m].reshape(n, m)
    return cap, fixed, dem, cost


def optimum(set_name: str, k: int) -> float:
    return float((BENCH / set_name / "os").read_text().split()[k - 1])


def to_frames(cap, fixed, dem, cost):
    m, n = cap.size, dem.size
    sites = pd.DataFrame({"site_id": [f"F{i + 1}" for i in range(m)], "agency": "a", "easting": 0.0,
                          "northing": 0.0, "capacity_m2": cap, "running_cost_gbp": fixed, "market_value_gbp": 0.0})
    services = pd.DataFrame({"service_id": [f"C{j + 1}" for j in range(n)], "site_id": "", "agency": "a",
                             "service_type": "customer", "space_m2": dem, "fte": 0.0})
    jj, ii = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    pairs = pd.DataFrame({"service_id": [f"C{j + 1}" for j in jj.ravel()], "site_id": [f"F{i + 1}" for i in ii.ravel()],
                          "one_off_gbp": cost.ravel(), "annual_gbp": 0.0, "allowed": True})
    scenario = ("horizon_years = 1\ndiscount_rate = 0.0\noptimism_bias = 0.0\nfit_out_gbp_per_m2 = 0.0\n"
                "move_gbp_per_fte = 0.0\nmax_move_m = 1000.0\ndisposal_cost_rate = 0.0\n")
    return sites, services, pairs, scenario


def run_planner(path: Path, limit_s: float, solver: str = "highs") -> dict:
    """Write the spec's CSV files and run the same function as ``planner optimise``."""
    from planner.model import SolveOptions
    from planner.optimise import optimise

    cap, fixed, dem, cost = parse(path)
    sites, services, pairs, scenario = to_frames(cap, fixed, dem, cost)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        sites.to_csv(t / "sites.csv", index=False)
        services.to_csv(t / "services.csv", index=False)
        pairs.to_csv(t / "pairs.csv", index=False)
        (t / "scenario.toml").write_text(scenario)
        t0 = time.perf_counter()
        plan = optimise(sites=t / "sites.csv", services=t / "services.csv", pair_costs=t / "pairs.csv",
                        scenario=t / "scenario.toml", options=SolveOptions(solver=solver, time_limit_s=limit_s),
                        out_dir=t / "out")
        wall = time.perf_counter() - t0
    out = {"status": plan.status, "wall_s": wall, "solve_s": plan.solve_seconds, "build_s": plan.build_seconds,
           "gap": plan.gap}
    if plan.npv_gbp is not None:
        out["cost"] = float(fixed.sum() - plan.npv_gbp)
        out["bound_cost"] = None if plan.bound_gbp is None else float(fixed.sum() - plan.bound_gbp)
    return out


def run_textbook(path: Path, limit_s: float) -> dict:
    """The textbook model: min sum f y + sum c x; sum_i x_ij = 1; sum_j d_j x_ij <= s_i y_i."""
    import pulp

    cap, fixed, dem, cost = parse(path)
    m, n = cap.size, dem.size
    t0 = time.perf_counter()
    prob = pulp.LpProblem("sscflp", pulp.LpMinimize)
    y = [prob.add_variable(f"y{i}", 0, 1, cat=pulp.LpBinary) for i in range(m)]
    x = [[prob.add_variable(f"x{j}_{i}", 0, 1, cat=pulp.LpBinary) for i in range(m)] for j in range(n)]
    prob += pulp.lpSum(fixed[i] * y[i] for i in range(m)) + pulp.lpSum(
        cost[j, i] * x[j][i] for j in range(n) for i in range(m))
    for j in range(n):
        prob += pulp.lpSum(x[j]) == 1
    for i in range(m):
        prob += pulp.lpSum(dem[j] * x[j][i] for j in range(n)) <= cap[i] * y[i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=limit_s))
    wall = time.perf_counter() - t0
    status = {1: "optimal", 2: "feasible", -1: "infeasible", 0: "no_solution"}.get(prob.sol_status, "no_solution")
    out = {"tb_status": status, "tb_wall_s": wall}
    if status in ("optimal", "feasible"):
        out["tb_cost"] = float(pulp.value(prob.objective))
    return out


def run_textbook_guarded(path: Path, limit_s: float) -> dict:
    """The textbook run in its own process, killed 60 s after its time limit (PuLP's bundled
    CBC was seen to ignore its time limit on models of 100,000 columns)."""
    import subprocess

    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, __file__, "--textbook-one", str(path), "--limit-s", str(limit_s)],
                           capture_output=True, text=True, timeout=limit_s + 60)
        if r.returncode == 0:
            return json.loads(r.stdout.strip().splitlines()[-1])
        return {"tb_status": f"error (exit {r.returncode})", "tb_wall_s": time.perf_counter() - t0}
    except subprocess.TimeoutExpired:
        return {"tb_status": "killed (ignored its time limit)", "tb_wall_s": time.perf_counter() - t0}


def instances(sets: list[str]) -> list[tuple[str, int]]:
    out = []
    for s in sets:
        n = len((BENCH / s / "os").read_text().split())
        out += [(s, k) for k in range(1, n + 1)]
    return out


def _cost_gap_value(r: dict) -> float | None:
    if r.get("cost") is None or r.get("bound_cost") is None:
        return None
    return max(0.0, r["cost"] - r["bound_cost"]) / max(1.0, abs(r["cost"]))


def _cost_gap(r: dict) -> str:
    v = _cost_gap_value(r)
    return "" if v is None else f"{v:.2%}"


def table(rows: list[dict]) -> str:
    head = ("| set | inst | m x n | status | cost | published | match | solve s | wall s | gap at limit |"
            " textbook CBC | textbook s | ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        ratio = ""
        if r.get("tb_status") == "optimal" and r["status"] == "optimal":
            ratio = f"{r['tb_wall_s'] / max(r['wall_s'], 1e-9):.1f}x"
        cost = "" if r.get("cost") is None else f"{r['cost']:.2f}"
        match = "yes" if r.get("match") else ("-" if r["status"] != "optimal" else "NO")
        gap = "" if r["status"] == "optimal" else _cost_gap(r)
        tb_s = "" if "tb_wall_s" not in r else f"{r['tb_wall_s']:.2f}"
        lines.append(
            f"| {r['set']} | p{r['k']} | {r['m']}x{r['n']} | {r['status']} | {cost} | {r['published']:.2f} | "
            f"{match} | {r['solve_s']:.2f} | {r['wall_s']:.2f} | {gap} | {r.get('tb_status', '')} | {tb_s} | {ratio} |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    out = ["| set | run | proven optimal | matches published | median solve s | max solve s | worst gap |",
           "|---|---|---|---|---|---|---|"]
    for s in sorted({r["set"] for r in rows}):
        rs = [r for r in rows if r["set"] == s]
        opt = [r for r in rs if r["status"] == "optimal"]
        gaps = [_cost_gap_value(r) for r in rs if r["status"] != "optimal" and _cost_gap_value(r) is not None]
        worst = "" if not gaps else f"{max(gaps):.2%}"
        out.append(f"| {s} | {len(rs)} | {len(opt)} | {sum(bool(r.get('match')) for r in rs)} | "
                   f"{np.median([r['solve_s'] for r in rs]):.2f} | {max(r['solve_s'] for r in rs):.2f} | {worst} |")
    tb = [r for r in rows if r.get("tb_status") == "optimal" and r["status"] == "optimal"]
    if tb:
        ratios = np.array([r["tb_wall_s"] / max(r["wall_s"], 1e-9) for r in tb])
        out.append("")
        out.append(f"Textbook PuLP + CBC vs planner (both optimal, {len(tb)} instances): time ratio median "
                   f"{np.median(ratios):.1f}x, geometric mean {np.exp(np.log(ratios).mean()):.1f}x, "
                   f"min {ratios.min():.1f}x, max {ratios.max():.1f}x.")
    return "\n".join(out)


def load(path: Path) -> dict[tuple[str, int], dict]:
    out: dict[tuple[str, int], dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[(r["set"], r["k"])] = r
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="Lib_1,Lib_2,Lib_3,Lib_4")
    ap.add_argument("--limit-s", type=float, default=60.0)
    ap.add_argument("--max-instances", type=int, default=None, help="per set")
    ap.add_argument("--only", default=None, help="comma-separated instance numbers, e.g. 1,5,13")
    ap.add_argument("--mode", choices=("planner", "textbook", "both", "table"), default="planner",
                    help="planner runs, textbook runs (kept in a file of their own, so that both can run at "
                         "once on two cores), both one after the other, or only write the table")
    ap.add_argument("--textbook", action="store_true", help="same as --mode both")
    ap.add_argument("--solver", default="highs")
    ap.add_argument("--fresh", action="store_true", help="ignore earlier results of this mode")
    ap.add_argument("--name", default="bench_sscflp")
    ap.add_argument("--textbook-one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.textbook_one:
        print(json.dumps(run_textbook(Path(args.textbook_one), args.limit_s)))
        return
    mode = "both" if args.textbook else args.mode
    RESULTS.mkdir(parents=True, exist_ok=True)
    plog = RESULTS / f"{args.name}.jsonl"
    tlog = RESULTS / f"{args.name}_textbook.jsonl"
    if args.fresh:
        for f, m in ((plog, ("planner", "both")), (tlog, ("textbook", "both"))):
            if mode in m and f.exists():
                f.unlink()
    pdone, tdone = load(plog), load(tlog)
    todo = instances(args.sets.split(","))
    if args.only:
        keep = {int(x) for x in args.only.split(",")}
        todo = [t for t in todo if t[1] in keep]
    if args.max_instances:
        todo = [t for t in todo if t[1] <= args.max_instances]
    for s, k in todo if mode != "table" else []:
        path = BENCH / s / f"p{k}"
        cap, _f, dem, _c = parse(path)
        if mode in ("planner", "both") and (s, k) not in pdone:
            r = {"set": s, "k": k, "m": cap.size, "n": dem.size, "published": optimum(s, k),
                 "limit_s": args.limit_s, "solver": args.solver}
            r.update(run_planner(path, args.limit_s, args.solver))
            r["match"] = r["status"] == "optimal" and abs(r["cost"] - r["published"]) <= 0.006
            pdone[(s, k)] = r
            with open(plog, "a") as fh:
                fh.write(json.dumps(r) + "\n")
            print(f"{s} p{k} {r['m']}x{r['n']}: {r['status']} cost {r.get('cost')} published {r['published']} "
                  f"solve {r['solve_s']:.2f}s wall {r['wall_s']:.2f}s", flush=True)
        if mode in ("textbook", "both") and (s, k) not in tdone:
            t = {"set": s, "k": k, "limit_s": args.limit_s}
            t.update(run_textbook_guarded(path, args.limit_s))
            tdone[(s, k)] = t
            with open(tlog, "a") as fh:
                fh.write(json.dumps(t) + "\n")
            print(f"{s} p{k} textbook: {t['tb_status']} {t['tb_wall_s']:.2f}s cost {t.get('tb_cost')}", flush=True)
    rows = []
    for key in sorted(pdone):
        r = dict(pdone[key])
        for c in ("tb_status", "tb_wall_s", "tb_cost"):
            if c in r and key not in tdone:
                continue
            r.pop(c, None)
        if key in tdone:
            r.update({c: v for c, v in tdone[key].items() if c.startswith("tb_")})
        rows.append(r)
    text = (f"# Single-source capacitated facility location (../shared/bench/sscflp)\n\n"
            f"Machine: {os.cpu_count()} cores. Time limit {args.limit_s:g} s per instance. Planner = "
            f"`planner.optimise.optimise` on CSV files (the code path of `planner optimise`: read, check, "
            f"build, solve, explain, write), solver {args.solver}. Textbook = plain PuLP model (no x <= y "
            f"rows) on PuLP's bundled CBC, built and solved in its own process. Gaps are on the cost "
            f"(bound vs plan), as for the published optima.\n"
            f"Command: `.venv/bin/python benchmarks/bench_sscflp.py {' '.join(argv or sys.argv[1:])}`\n\n"
            + summary(rows) + "\n\n" + table(rows) + "\n")
    (RESULTS / f"{args.name}.md").write_text(text)
    print(summary(rows))


if __name__ == "__main__":
    main()
