"""Benchmark: import and validate a synthetic place of 100,000 sites.

Makes a seeded synthetic place (``synth.py``) of four agencies and writes it as Transparency
Code CSVs, then times ``planner.register.import_files`` (read, load the register so far, merge,
validate, save atomically) in two ways, each into a new register in a temporary folder:

A. one file of all 100,000 sites, one import (the headline figure);
B. one file per agency, imported one after the other, as four agencies would (each import
   loads and rewrites the growing register).

Prints the wall time of each stage and the peak memory (``ru_maxrss``), and writes the table
to ``benchmarks/results/import.md``. Aim: scenario A under 10 s and under 2 GiB on 2 cores.

    .venv/bin/python benchmarks/bench_import.py [--sites 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from synth import make_place, write_transparency_csv  # noqa: E402

from planner.register import Register, import_files  # noqa: E402

STAGES = ("read", "load", "merge", "validate", "save")
TARGET_S = 10.0
TARGET_MIB = 2048.0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _run(files: dict, register: Path) -> tuple[list[tuple], float]:
    rows = []
    t_all = time.perf_counter()
    for agency, path in files.items():
        timings: dict[str, float] = {}
        t = time.perf_counter()
        reg, report, stats = import_files([path], "council" if agency == "all" else agency, register,
                                          kind="transparency", timings=timings)
        wall = time.perf_counter() - t
        rows.append((agency, stats[0]["rows_read"], len(reg.sites), report.counts()["error"],
                     report.counts()["warning"], *(timings.get(k, 0.0) for k in STAGES), wall))
    return rows, time.perf_counter() - t_all


def _table(rows: list[tuple], wall_all: float, n_sites: int) -> list[str]:
    head = ["import", "rows", "sites in register", "errors", "warnings", *[f"{s} s" for s in STAGES], "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([r[0], f"{r[1]:,}", f"{r[2]:,}", f"{r[3]:,}", f"{r[4]:,}"]
                                       + [f"{v:.2f}" for v in r[5:]]) + " |")
    if len(rows) > 1:
        sums = [sum(r[5 + i] for r in rows) for i in range(len(STAGES))]
        lines.append("| **all** | " + f"{sum(r[1] for r in rows):,} | {n_sites:,} | {sum(r[3] for r in rows):,} | "
                     f"{sum(r[4] for r in rows):,} | " + " | ".join(f"{v:.2f}" for v in sums) + f" | **{wall_all:.2f}** |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=100_000, help="number of synthetic sites")
    ap.add_argument("--seed", type=int, default=1, help="seed of the synthetic place")
    ap.add_argument("--faults", type=float, default=0.03,
                    help="share of sites with a data problem (negative area, repeated id, no coordinates)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "import.md", help="results file (markdown)")
    args = ap.parse_args(argv)

    base_mib = peak_mib()
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        place = make_place(args.sites, seed=args.seed, faults=args.faults)
        one = write_transparency_csv(place["sites"], tmp / "one", seed=args.seed, per_agency=False)
        four = write_transparency_csv(place["sites"], tmp / "four", seed=args.seed)
        synth_s = time.perf_counter() - t
        del place
        after_synth_mib = peak_mib()

        rows_a, wall_a = _run(one, tmp / "a.gpkg")
        peak_a = peak_mib()
        size_mib = (tmp / "a.gpkg").stat().st_size / 2**20
        t = time.perf_counter()
        loaded = Register.load(tmp / "a.gpkg")
        load_s = time.perf_counter() - t
        assert len(loaded.sites) == args.sites, (len(loaded.sites), args.sites)
        del loaded
        rows_b, wall_b = _run(four, tmp / "b.gpkg")
        peak_b = peak_mib()

    verdict_t = "meets" if wall_a < TARGET_S else "misses"
    verdict_m = "meets" if peak_a < TARGET_MIB else "misses"
    text = "\n".join([
        "# Import benchmark",
        "",
        f"`benchmarks/bench_import.py --sites {args.sites} --seed {args.seed} --faults {args.faults}`: "
        f"{args.sites:,} synthetic sites of four agencies (`benchmarks/synth.py`; {args.faults:.0%} of them with a "
        "data problem: negative floor area, repeated id, or no coordinates) in Transparency-Code CSVs, imported with "
        "`planner.register.import_files` into a new register (stages: read the file, load the register so "
        "far, merge, validate, save atomically).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "## A. One file of every site, one import",
        "",
        *_table(rows_a, wall_a, args.sites),
        "",
        f"- wall time: **{wall_a:.2f} s** ({verdict_t} the {TARGET_S:.0f} s aim)",
        f"- peak memory (ru_maxrss) after A: **{peak_a:,.0f} MiB** ({verdict_m} the {TARGET_MIB:,.0f} MiB aim); "
        f"{base_mib:,.0f} MiB at start, {after_synth_mib:,.0f} MiB after making the synthetic place",
        f"- register size: {size_mib:,.1f} MiB; loading it back (`Register.load`): {load_s:.2f} s",
        "",
        "## B. One file per agency, four imports one after the other",
        "",
        *_table(rows_b, wall_b, args.sites),
        "",
        f"- wall time of the four imports: **{wall_b:.2f} s**; peak memory after B: {peak_b:,.0f} MiB",
        f"- making and writing the synthetic files (not counted): {synth_s:.2f} s",
        "",
    ])
    print(text)
    from planner.problems import write_text_atomic

    write_text_atomic(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
