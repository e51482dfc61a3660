"""The benchmark scripts' own behaviour (their figures are in benchmarks/results)."""

from __future__ import annotations

import json
import sys

from tests.conftest import REPO


def test_synthetic_benchmark_writes_under_the_name_given(tmp_path, monkeypatch):
    """A run with ``--name`` writes NAME.md and NAME.jsonl and leaves the committed table
    (bench_synthetic.md) alone; before ``--name`` every run rewrote that table."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_synthetic

    monkeypatch.setattr(bench_synthetic, "RESULTS", tmp_path)
    committed = tmp_path / "bench_synthetic.md"
    committed.write_text("the committed table\n")
    bench_synthetic.main(["--sizes", "60", "--limits", "5", "--name", "trial"])
    assert committed.read_text() == "the committed table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench_synthetic.md", "trial.jsonl", "trial.md"]
    row = json.loads((tmp_path / "trial.jsonl").read_text().splitlines()[-1])
    assert row["sites"] == 60 and row["status"] in ("optimal", "feasible")
    table = (tmp_path / "trial.md").read_text()
    assert "--name trial" in table and f"| 60 | {row['services']:,} |" in table
