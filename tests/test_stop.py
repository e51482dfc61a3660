"""Stopping a solve before its time limit (planner.highs_direct.HighsStopper, call_stoppable;
planner.optimise.solve_instance): one stop ends every HiGHS run and search of the solve, the
searches beside HiGHS stop with it, and Ctrl-C ends ``planner optimise`` within seconds
instead of at the time limit, writing no plan."""

from __future__ import annotations

import _thread
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import highspy
import numpy as np
import pandas as pd
import pytest

import planner.highs_direct as hd
import planner.model as model
import planner.optimise as op
from planner.errors import SolverError
from planner.highs_direct import _run_mip, build_matrix
from planner.model import FEASIBLE, NO_SOLUTION, SolveOptions
from tests.test_bench_instances import as_spec_tables
from tests.test_beside import _force_beside, _hard_sscflp


class _Seen(hd.HighsStopper):
    """A stopper that tells when a run has been registered with it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.running = threading.Event()

    def started(self, h) -> None:
        super().started(h)
        self.running.set()


def _hard_run(d, stopper, out, key):
    out[key] = _run_mip(build_matrix(d), d, SolveOptions(threads=1), 60.0, d.best_start(None), stopper=stopper)


def test_one_stop_ends_every_run_registered_with_it_or_with_a_child():
    # two 60-s HiGHS runs on two threads, one registered with the stopper and one with a
    # stopper made from it: one stop() ends both ("interrupted"), long before their limits
    d = _hard_sscflp()
    parent = _Seen()
    child = _Seen(parent)
    out: dict = {}
    runs = [threading.Thread(target=_hard_run, args=(d, s, out, k)) for k, s in (("parent", parent), ("child", child))]
    for t in runs:
        t.start()
    assert parent.running.wait(30.0) and child.running.wait(30.0)
    time.sleep(0.5)  # both are in their runs
    parent.stop()
    for t in runs:
        t.join(30.0)
        assert not t.is_alive()
    assert out["parent"][4] == out["child"][4] == "interrupted"
    assert parent.is_set() and child.is_set()
    # a run started after the stop ends at once; a child made after it is stopped already
    late = hd.HighsStopper(parent)
    assert late.is_set()
    assert _run_mip(build_matrix(d), d, SolveOptions(threads=1), 60.0, d.best_start(None), stopper=late)[4] \
        == "interrupted"


def test_a_child_stopped_alone_leaves_its_parent_and_siblings_running():
    parent = hd.HighsStopper()
    a, b = hd.HighsStopper(parent), hd.HighsStopper(parent)
    a.stop()
    assert a.is_set() and not parent.is_set() and not b.is_set()


def test_the_searches_restricted_solve_stops_when_highs_beside_is_done(monkeypatch):
    # HiGHS beside the searches (a stand-in) is done while the support search's restricted
    # solve (here the whole hard model, given up to 60 s) is in its run: that solve is
    # interrupted then, and the answer comes at once, not when that solve's limit is reached
    _force_beside(monkeypatch)
    monkeypatch.setattr(hd, "LNS_SUPPORT_S", 60.0)
    monkeypatch.setattr(hd, "_lagrangian_applies", lambda data: False)
    # the LP "uses" every pair, so the support search's restriction is the whole model
    monkeypatch.setattr(hd, "_lp_order", lambda m, data, options, limit, stopper=None:
                        (None, None, np.ones(data.n_pairs, dtype=bool), None))
    d = _hard_sscflp()
    real_run = hd._run_mip
    sub_running = threading.Event()
    subs = []

    def stand_in(m, data, options, limit, start, shared=None, stopper=None):
        if shared is None:  # the searches' restricted solve
            sub_running.set()
            out = real_run(m, data, options, limit, start, shared, stopper)
            subs.append((limit, out[4]))
            return out
        # HiGHS beside the searches: done (at its "time limit") once their solve is running
        assert sub_running.wait(30.0)
        time.sleep(1.0)
        x = np.zeros(data.n_pairs)
        x[np.asarray(start[1])] = 1.0
        return FEASIBLE, None, np.asarray(start[0], dtype=float), x, "time limit reached", 1.0, 0.0

    monkeypatch.setattr(hd, "_run_mip", stand_in)
    t0 = time.perf_counter()
    sol = hd.solve_highs(d, SolveOptions(time_limit_s=90.0))
    seconds = time.perf_counter() - t0
    assert len(subs) == 1
    limit, message = subs[0]
    assert limit > 30.0  # it was given far longer than it ran
    assert message == "interrupted"
    assert seconds < limit / 2
    assert sol.status == FEASIBLE and d.violations(sol.y, sol.chosen) == []


def _copies_of_the_hard_instance(n_copies: int):
    """``n_copies`` independent copies of a single-source instance of 40 facilities and 200
    customers (drawn as tests.test_model._sscflp draws them; the planner, on two threads, ends
    100 s of it with a gap of 62%), as the spec's tables (the classic problems' mapping): one
    part each."""
    rng = np.random.default_rng(7)
    m, n = 40, 200
    cap = rng.integers(40, 70, size=m).astype(float)
    dem = rng.integers(5, 15, size=n).astype(float)
    f = rng.integers(50, 150, size=m).astype(float)
    c = rng.integers(1, 60, size=(n, m)).astype(float)
    sites, services, pairs, scenario = as_spec_tables(cap, f, dem, c)
    tables = []
    for frame, cols in ((sites, ["site_id"]), (services, ["service_id"]), (pairs, ["service_id", "site_id"])):
        copies = []
        for k in range(n_copies):
            g = frame.copy()
            for col in cols:
                g[col] = f"K{k}" + g[col]
            if "agency" in g:
                g["agency"] = f"owner{k}"  # each copy its own agency, sharing with no other
            copies.append(g)
        tables.append(pd.concat(copies, ignore_index=True))
    if n_copies > 1:
        scenario = {**scenario, "sharing": {f"owner{k}": [] for k in range(n_copies)}}
    return (*tables, scenario)


def _three_hard_parts():
    sites, services, pairs, scenario = _copies_of_the_hard_instance(3)
    return op.build_instance(op.inputs_from_frames(sites, services, scenario, pair_costs=pairs))


def _watch_parts_and_runs(monkeypatch, failing_part: int | None = None):
    """Spies: the parts started (their copy's prefix, in order) and every HiGHS run's model
    status at its end; with ``failing_part``, the part started in that place (1, 2, ...)
    raises 2 s in instead of being solved."""
    started, runs = [], []
    real_part, real_run = op._solve_part, hd.run_highs

    def part(sub, *a, **k):
        started.append(sub.site_ids[0][:2])
        if len(started) == failing_part:
            time.sleep(2.0)
            raise RuntimeError("this part failed")
        return real_part(sub, *a, **k)

    def run(h, stopper=None):
        real_run(h, stopper)
        runs.append(h.getModelStatus())

    monkeypatch.setattr(op, "_solve_part", part)
    monkeypatch.setattr(hd, "run_highs", run)
    return started, runs


@pytest.fixture
def ctrl_c_after():
    """Ctrl-C (SIGINT to the main thread) after the given seconds, as a terminal does; Python's
    own handler is put in place for the test (a shell starting the tests in the background
    may have set SIGINT to be ignored)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    timers = []

    def arm(seconds: float) -> None:
        t = threading.Timer(seconds, _thread.interrupt_main)
        timers.append(t)
        t.start()

    yield arm
    for t in timers:
        t.cancel()
        t.join()
    signal.signal(signal.SIGINT, old)


@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_every_part_at_once_and_is_raised(monkeypatch, ctrl_c_after, threads):
    # three hard parts, each a HiGHS run that would take its whole share of 120 s: two at a
    # time on one thread each (threads unset), or one after another (threads = 1). Ctrl-C
    # 3 s in: the runs in hand end "interrupted", no part starts after it (runs of at most two
    # parts, or one), and the KeyboardInterrupt reaches the caller within seconds
    inst = _three_hard_parts()
    parts, _ = op.split_parts(inst.data)
    assert len(parts) == 3
    parts_started, runs = _watch_parts_and_runs(monkeypatch)
    ctrl_c_after(3.0)
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        op.solve_instance(inst, SolveOptions(time_limit_s=120.0, threads=threads))
    seconds = time.perf_counter() - t0
    assert seconds < 30.0  # 3 s, and the stop: not the parts' 120 s
    assert len(parts_started) == (2 if threads is None else 1)
    # the runs in hand were interrupted (LP relaxations done before may have ended optimal);
    # none stopped at a time limit
    S = highspy.HighsModelStatus
    assert S.kInterrupt in runs
    assert set(runs) <= {S.kInterrupt, S.kOptimal}


def _children(pid: int) -> list[int]:
    """The processes ``pid`` has started (Linux: /proc/PID/task/*/children)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
        except FileNotFoundError:
            pass
    return out


def _optimise_the_hard_instance(folder, solver: str) -> list[str]:
    """The command line of ``planner optimise`` on the hard instance written into ``folder``,
    with a 300-s limit (it needs far longer) and its outputs in folder/out."""
    sites, services, pairs, scenario = _copies_of_the_hard_instance(1)
    sites.to_csv(folder / "sites.csv", index=False)
    services.to_csv(folder / "services.csv", index=False)
    pairs.to_csv(folder / "pairs.csv", index=False)
    (folder / "scenario.toml").write_text("".join(f"{k} = {v!r}\n" for k, v in scenario.items()))
    return [sys.executable, "-m", "planner", "optimise", "--sites", str(folder / "sites.csv"),
            "--services", str(folder / "services.csv"), "--pair-costs", str(folder / "pairs.csv"),
            "--scenario", str(folder / "scenario.toml"), "--out", str(folder / "out"), "--time-limit-s", "300",
            "--solver", solver]


@pytest.mark.parametrize(("sig", "solver", "code", "word"), [
    (signal.SIGINT, "highs", 130, "interrupted"),  # Ctrl-C
    (signal.SIGTERM, "cbc", 143, "terminated"),  # timeout, kill, a scheduler; CBC's process must go too
])
def test_a_stopped_planner_optimise_stops_at_once_and_writes_no_plan(tmp_path, sig, solver, code, word):
    # the command line on the hard instance with a 300-s limit, stopped once it is solving: it
    # says so, exits within seconds, and OUT holds no plan; with CBC, CBC's process has ended
    # (before 2026-12-01 SIGTERM ended the planner at once and left CBC running to its end)
    out = tmp_path / "out"
    proc = subprocess.Popen(_optimise_the_hard_instance(tmp_path, solver), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(10.0)  # started, read its inputs and is solving (it needs far longer than 300 s)
        assert proc.poll() is None
        started = _children(proc.pid)
        assert bool(started) == (solver == "cbc")  # CBC runs as a process of its own
        proc.send_signal(sig)
        t0 = time.perf_counter()
        _stdout, stderr = proc.communicate(timeout=120)
        seconds = time.perf_counter() - t0
    finally:
        proc.kill()  # (when it did not stop)
        proc.wait()
    assert proc.returncode == code, stderr
    assert seconds < 30.0
    assert word in stderr and "no plan was written" in " ".join(stderr.split())
    assert not (out / "summary.json").exists()
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # ended and reaped by the planner, not left running


def _running(pid: int) -> bool:
    """Whether the process ``pid`` is still running (not gone, and not a zombie waiting for
    a parent to collect it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux's setpriv is not installed")
def test_a_planner_killed_outright_takes_its_cbc_with_it(tmp_path):
    # SIGKILL (kill -9, the out-of-memory killer) gives the planner no chance to end CBC
    # itself: CBC must die with it (the parent-death signal), not run on to its 300-s limit
    # (before 2026-12-01 it did)
    # (the planner killed outright cannot remove CBC's temporary folder, a few MB of model
    # files: TMPDIR puts it in this test's folder, not the system's, where each run left one)
    temp = tmp_path / "temp"
    temp.mkdir()
    proc = subprocess.Popen(_optimise_the_hard_instance(tmp_path, "cbc"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(temp)})
    started: list[int] = []
    try:
        time.sleep(10.0)  # solving (CBC needs far longer than 300 s)
        assert proc.poll() is None
        started = _children(proc.pid)
        assert started and all(_running(pid) for pid in started)
        proc.kill()
        proc.wait()
        t0 = time.perf_counter()
        while any(_running(pid) for pid in started) and time.perf_counter() - t0 < 10.0:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in started)
    finally:
        proc.kill()
        for pid in started:  # (when it was left running)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_part_that_fails_beside_another_stops_it_and_the_error_is_raised(monkeypatch):
    # three hard parts two at a time: the second fails 2 s in, while the first (a HiGHS run of
    # 80 s) is in its run; the error reaches the caller within seconds, the first part's run
    # interrupted, and the third part never starts
    inst = _three_hard_parts()
    started, runs = _watch_parts_and_runs(monkeypatch, failing_part=2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="this part failed"):
        op.solve_instance(inst, SolveOptions(time_limit_s=120.0))
    assert time.perf_counter() - t0 < 30.0
    assert len(started) == 2
    assert runs[-1] == highspy.HighsModelStatus.kInterrupt


class _PageStopped(BaseException):
    """Stands in for Streamlit's stop and rerun requests (BaseExceptions raised from its calls)."""


def test_a_tick_that_raises_stops_the_solve_from_any_thread(monkeypatch):
    # how the app stops a solve: its script runs on a thread that is not the main one, and the
    # page's tick (called while the solve runs) raises Streamlit's stop request 3 s in. The
    # runs in hand end "interrupted", no part starts after it, the tick's own error reaches the
    # caller within seconds (not the parts' shares of 120 s), and the tick was called
    # throughout the wait, not once
    inst = _three_hard_parts()
    parts_started, runs = _watch_parts_and_runs(monkeypatch)
    calls: list[float] = []
    out: dict[str, object] = {}

    def tick() -> None:
        calls.append(time.perf_counter())
        if calls[-1] - calls[0] > 3.0:
            raise _PageStopped()

    def script() -> None:
        t0 = time.perf_counter()
        try:
            op.solve_instance(inst, SolveOptions(time_limit_s=120.0), tick=tick)
        except BaseException as exc:
            out["error"] = exc
        out["seconds"] = time.perf_counter() - t0

    thread = threading.Thread(target=script, name="script-run")
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert isinstance(out.get("error"), _PageStopped)
    assert out["seconds"] < 30.0
    assert len(calls) >= 10  # every ~0.2 s for 3 s
    assert len(parts_started) == 2
    S = highspy.HighsModelStatus
    assert S.kInterrupt in runs
    assert set(runs) <= {S.kInterrupt, S.kOptimal}


class _CbcRuns(list):
    """Spy: every CBC run (``planner.model.CbcRun``) made while it is in place."""

    def __init__(self, monkeypatch):
        super().__init__()
        seen = self

        class Run(model.CbcRun):
            def __init__(self, proc):
                super().__init__(proc)
                seen.append(self)

        monkeypatch.setattr(model, "CbcRun", Run)


@pytest.mark.parametrize("solver", ["cbc", "highs-pulp"])
def test_a_stop_ends_a_cbc_or_pulp_highs_run_at_once(monkeypatch, solver):
    # the fallback solvers are stopped as HiGHS is (Ctrl-C, the app's Stop): CBC's process is
    # ended (before 2026-12-01 neither was reached, and each ran to its time limit); the
    # 30 x 100 instance is one neither proves in 60 s
    d = _hard_sscflp()
    cbc_runs = _CbcRuns(monkeypatch)
    stopper = _Seen()

    def stop_when_running() -> None:
        stopper.running.wait(60)
        time.sleep(1.0)
        stopper.stop()

    threading.Thread(target=stop_when_running, daemon=True).start()
    t0 = time.perf_counter()
    sol = model.solve_pulp(d, SolveOptions(solver=solver, time_limit_s=60.0, threads=1), stopper=stopper)
    assert time.perf_counter() - t0 < 30.0
    assert sol.message == "interrupted"
    if solver == "cbc":
        assert sol.status == NO_SOLUTION  # CBC writes its plan only when it stops by itself
        assert len(cbc_runs) == 1 and cbc_runs[0].proc.poll() is not None  # its process has ended
    else:
        assert sol.status in (FEASIBLE, NO_SOLUTION)


def _fake_cbc(tmp_path, body: str) -> str:
    """An executable standing in for CBC: writes its process id, then runs ``body``."""
    path = tmp_path / "cbc"
    path.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'pid'}\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_a_cbc_run_that_ignores_its_time_limit_is_ended_and_the_answer_says_so(monkeypatch, tmp_path):
    # PuLP's bundled CBC does not look at its time limit while it reads a starting plan or
    # solves its first LP relaxation (minutes on the OR-Library capa instances' 100,000
    # moves): a run still going CBC_GRACE_S after its limit is ended, and the answer says so:
    # the best plan known before CBC ran (here the greedy plan: these services have no site,
    # so there is no status quo), labelled as such, or with no start, no plan
    fake = _fake_cbc(tmp_path, "exec sleep 60")
    monkeypatch.setattr(model, "CBC_GRACE_S", 0.5)
    real = model.run_cbc
    monkeypatch.setattr(model, "run_cbc", lambda *a, **k: real(*a, **k, cbc_path=fake))
    d = _hard_sscflp()
    t0 = time.perf_counter()
    sol = model.solve_pulp(d, SolveOptions(solver="cbc", time_limit_s=1.0))
    assert time.perf_counter() - t0 < 15.0
    assert sol.status == FEASIBLE
    assert sol.npv_gbp == pytest.approx(d.npv(*d.best_start()))
    assert sol.message.startswith("CBC did not stop at its time limit of 1 s")
    assert sol.message.endswith("the plan is the best known before CBC ran (the status quo or a greedy plan), "
                                "with no bound")
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended (and reaped), not left running
    bare = model.solve_pulp(d, SolveOptions(solver="cbc", time_limit_s=1.0, warm_start=False))
    assert bare.status == NO_SOLUTION and not bare.solved
    assert "did not stop at its time limit of 1 s" in bare.message
    # the whole solve's answer (summary.json's message) gives that reason
    sites, services, pairs, scenario = _copies_of_the_hard_instance(1)
    inst = op.build_instance(op.inputs_from_frames(sites, services, scenario, pair_costs=pairs))
    out = op.solve_instance(inst, SolveOptions(solver="cbc", time_limit_s=1.0))
    assert out.status == FEASIBLE
    assert re.search(r"^time limit reached; CBC did not stop at its time limit of [0-9.]+ s.*the plan is the best "
                     r"known before CBC ran", out.message)
    out = op.solve_instance(inst, SolveOptions(solver="cbc", time_limit_s=1.0, warm_start=False))
    assert out.status == NO_SOLUTION
    assert re.search(r"^no plan was found within the time limit; CBC did not stop at its time limit of [0-9.]+ s",
                     out.message)


def test_a_cbc_that_fails_is_an_error_naming_its_exit_code(monkeypatch, tmp_path):
    fake = _fake_cbc(tmp_path, "echo 'Coin0002I this model could not be read'\nexit 3")
    real = model.run_cbc
    monkeypatch.setattr(model, "run_cbc", lambda *a, **k: real(*a, **k, cbc_path=fake))
    with pytest.raises(SolverError, match=r"CBC failed \(exit code 3\): Coin0002I this model could not be read"):
        model.solve_pulp(_hard_sscflp(), SolveOptions(solver="cbc", time_limit_s=10.0))


def test_a_tick_that_raises_stops_a_cbc_solve_and_its_process(monkeypatch):
    # solve_instance hands its stopper to the PuLP solvers too: the app's Stop (a raising tick)
    # ends a CBC run within seconds instead of at its 120-s limit, and no CBC is left running
    sites, services, pairs, scenario = _copies_of_the_hard_instance(1)
    inst = op.build_instance(op.inputs_from_frames(sites, services, scenario, pair_costs=pairs))
    cbc_runs = _CbcRuns(monkeypatch)
    calls: list[float] = []

    def tick() -> None:
        calls.append(time.perf_counter())
        if cbc_runs and calls[-1] - calls[0] > 3.0:
            raise _PageStopped()

    t0 = time.perf_counter()
    with pytest.raises(_PageStopped):
        op.solve_instance(inst, SolveOptions(solver="cbc", time_limit_s=120.0), tick=tick)
    assert time.perf_counter() - t0 < 40.0
    assert len(cbc_runs) == 1 and cbc_runs[0].cancelled and cbc_runs[0].proc.poll() is not None
