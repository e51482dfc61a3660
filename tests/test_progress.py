"""The running commentary of a solve: ``optimise(progress=, tick=)``, which the app's Scenario
page and ``planner optimise`` on a terminal show, and the command line's no-plan line."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console
from typer.testing import CliRunner

import planner.model as model
from planner.cli import _register_commands, app
from planner.cli.optimise_cmds import _Commentary
from planner.model import SolveOptions
from planner.optimise import optimise
from tests.test_stop import _copies_of_the_hard_instance


def test_optimise_tells_each_stage_in_order_and_ticks_while_solving(tmp_path):
    sites, services, pairs, scenario = _copies_of_the_hard_instance(1)  # 40 x 200: not settled in 2 s
    said: list[tuple[float, str]] = []
    ticks: list[float] = []
    t0 = time.perf_counter()
    plan = optimise(sites=sites, services=services, pair_costs=pairs, scenario=scenario,
                    options=SolveOptions(time_limit_s=2.0), out_dir=tmp_path / "run",
                    progress=lambda m: said.append((time.perf_counter(), m)),
                    tick=lambda: ticks.append(time.perf_counter()))
    assert plan.status in ("optimal", "feasible")
    messages = [m for _t, m in said]
    assert [m.split(":")[0].split(" ")[0] for m in messages] == ["Reading", "Building", "Solving", "Solver",
                                                                "Writing"]
    assert messages[1] == "Building the model: 40 sites, 200 services, 0 zones..."
    assert messages[2] == "Solving: 8,000 allowed moves, 0 access rules, at most 2 s..."
    assert messages[3].startswith(f"Solver finished: {plan.status} in ")
    assert messages[4] == f"Writing the outputs to {tmp_path / 'run'}..."
    # the ticks come while the solver runs (between "Solving" and "Solver finished"), about
    # every 0.2 s of its 2 s
    solving, finished = said[2][0], said[3][0]
    assert len(ticks) >= 5 and all(solving <= t <= finished for t in ticks)
    assert (tmp_path / "run" / "summary.json").exists() and time.perf_counter() - t0 < 60


def test_the_command_lines_commentary_shows_the_stage_and_the_seconds_only_on_a_terminal():
    buf = io.StringIO()
    err = Console(file=buf, force_terminal=True, width=120)
    with _Commentary(err, live=True) as c:
        c.stage("Solving: 3,000 allowed moves, 0 access rules, at most 2 s...")
        c.since -= 7.2  # as if the solver had run 7 s
        c.tick()
        time.sleep(0.5)  # the live line is redrawn by rich's own thread, about 12 times a second
        shown = buf.getvalue()
    assert "Solving: 3,000 allowed moves, 0 access rules, at most 2 s: 7 s so far" in shown
    quiet = io.StringIO()
    with _Commentary(Console(file=quiet, force_terminal=False), live=False) as c:
        c.stage("Reading...")
        c.tick()
    assert quiet.getvalue() == ""  # a pipe or a log gets only the result


def test_the_command_line_says_where_a_plan_that_is_not_the_solvers_comes_from(monkeypatch, tmp_path):
    # a run used to print only the status line and the totals; it now gives the reason when the
    # plan is not the solver's (here CBC, a fake that ignores its time limit, was ended: the
    # plan is the greedy plan known before it ran)
    fake = tmp_path / "cbc"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(model, "CBC_GRACE_S", 0.5)
    real = model.run_cbc
    monkeypatch.setattr(model, "run_cbc", lambda *a, **k: real(*a, **k, cbc_path=str(fake)))
    sites, services, pairs, scenario = _copies_of_the_hard_instance(1)  # 40 x 200: not settled in 2 s
    for name, frame in (("sites", sites), ("services", services), ("pairs", pairs)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "scenario.toml").write_text("".join(f"{k} = {v}\n" for k, v in scenario.items()))
    _register_commands()
    res = CliRunner().invoke(app, ["optimise", "--sites", str(tmp_path / "sites.csv"), "--services",
                                   str(tmp_path / "services.csv"), "--pair-costs", str(tmp_path / "pairs.csv"),
                                   "--scenario", str(tmp_path / "scenario.toml"), "--out", str(tmp_path / "run"),
                                   "--solver", "cbc", "--time-limit-s", "1"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert out.startswith("feasible")
    assert re.search(r"- time limit reached; CBC did not stop at its time limit of [0-9.]+ s.* the plan is the "
                     r"best known before CBC ran \(the status quo or a greedy plan\), with no bound", out)
