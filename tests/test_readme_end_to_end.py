"""The README's end-to-end block (register -> score -> optimise -> schedule -> export) run as a
user would type it, on a copy of the sample place, with the installed ``planner`` command;
then the outputs are read back and checked against each other."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PLANNER = Path(sys.executable).with_name("planner")
SAMPLE = REPO / "data" / "trafford.gpkg"

pytestmark = [
    pytest.mark.skipif(not PLANNER.exists(), reason="the planner command is not installed in this environment"),
    pytest.mark.skipif(not SAMPLE.exists(), reason="the sample place is not built (./run setup builds it)"),
]


def readme_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    block = next(b for b in blocks if b.startswith("cp data/trafford.gpkg place.gpkg"))
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_readme_end_to_end_on_the_sample_place(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "trafford.gpkg").symlink_to(SAMPLE)
    (tmp_path / "docs").symlink_to(REPO / "docs")
    env = {**os.environ, "PATH": f"{PLANNER.parent}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "160"}
    lines = readme_block()
    before_ns = SAMPLE.stat().st_mtime_ns
    assert [ln.split()[0] for ln in lines] == ["cp", "planner", "planner", "planner", "planner", "planner"]
    printed = {}
    for line in lines:
        r = subprocess.run(shlex.split(line), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{line}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
        assert "Traceback" not in r.stderr
        printed[line.split()[1] if line.startswith("planner") else "cp"] = r.stdout
    # the sample itself is untouched (the block works on a copy)
    assert SAMPLE.stat().st_mtime_ns == before_ns
    summary = json.loads((tmp_path / "run1" / "summary.json").read_text())
    assert summary["status"] == "optimal" and summary["gap"] <= 1e-6
    assert summary["npv_gbp"] == pytest.approx(summary["bound_gbp"], rel=1e-6)
    assert "baseline" in printed["scenarios"]
    import openpyxl
    import pandas as pd

    wb = openpyxl.load_workbook(tmp_path / "plan.xlsx", read_only=True)
    assert {"Summary", "Disposal schedule", "Moves", "Site decisions", "Partner ledger", "Assumptions"} <= set(
        wb.sheetnames)
    rows = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert rows["Solver status"] == "optimal"
    assert rows["Optimiser NPV (spec objective, constant rate)"] == pytest.approx(summary["npv_gbp"], abs=1.0)
    # the plan's own tables agree with each other and with the workbook
    decisions = pd.read_csv(tmp_path / "run1" / "site_decisions.csv")
    placements = pd.read_csv(tmp_path / "run1" / "placements.csv")
    disposed = set(decisions.loc[decisions["decision"] == "dispose", "site_id"])
    assert rows["Sites disposed"] == len(disposed) > 0
    assert not set(placements["to_site_id"]) & disposed  # nobody is left in a sold building
    schedule = pd.read_csv(tmp_path / "plan-csv" / "disposal_schedule.csv")
    assert set(schedule["site_id"]) == disposed
    assert (tmp_path / "plan.gpkg").stat().st_size > 0
    # every output is readable by others as any new file would be (umask 022 in CI)
    mode = (tmp_path / "run1" / "summary.json").stat().st_mode & 0o777
    assert mode & 0o044 == 0o644 & 0o044 & ~_umask()


def _umask() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    return 0o022
