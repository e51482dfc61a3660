"""The pages' access to the library, cached on what really changes.

- The register is loaded once per (path, file modification time) and held as a resource
  (never copied, never mutated by a page).
- Everything computed from the register (scores, the count, map layers) is keyed on the
  register's *content* key (a hash of its sites, services, zones and boundaries), so storing a
  scenario in the register (which changes the file, not the estate) does not recompute them.
- Stored scenarios, their schedules and ledgers are keyed on (path, modification time,
  scenario id).
- A solve is keyed on the register content, the scenario settings and the solver options: the
  same submit twice solves once.

Pages call these functions; none of them imports a page. Nothing here computes what the
library computes: it calls ``planner`` and caches the answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from planner.errors import InputFileError
from planner.register import Register, default_register_path

REGISTER_PATH_KEY = "register_path"
CURRENT_SCENARIO_KEY = "current_scenario_id"


# --------------------------------------------------------------------------- the register

def current_register_path() -> Path:
    """The register this session works on: chosen on the Data page, else the default
    (``$PLANNER_REGISTER`` or the sample place)."""
    return Path(st.session_state.get(REGISTER_PATH_KEY) or default_register_path())


def set_register_path(path: str | os.PathLike) -> None:
    st.session_state[REGISTER_PATH_KEY] = str(path)
    st.session_state.pop(CURRENT_SCENARIO_KEY, None)


def register_stamp(path: Path | None = None) -> tuple[str, int]:
    """(path, modification time in ns) of the register; a clear error when it is missing."""
    path = Path(path or current_register_path())
    try:
        return str(path), path.stat().st_mtime_ns
    except FileNotFoundError:
        raise InputFileError(
            f"There is no register at {path}. Fix: build the sample place with `./run setup`, or add "
            "files on the Data page to start a register there.") from None


def _frame_digest(df: pd.DataFrame) -> str:
    flat = pd.DataFrame(df).drop(columns=["geometry"], errors="ignore")
    h = hashlib.sha256()
    h.update(",".join(map(str, flat.columns)).encode())
    if len(flat):
        h.update(pd.util.hash_pandas_object(flat.astype(object).astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Loaded:
    register: Register
    content_key: str  # hash of the estate's tables (not of the file)


@st.cache_resource(show_spinner="Opening the register...", max_entries=4)
def _load(path: str, mtime_ns: int) -> Loaded:
    reg = Register.load(path)
    parts = [_frame_digest(getattr(reg, t)) for t in ("sites", "services", "zones", "boundaries")]
    return Loaded(reg, hashlib.sha256("|".join(parts).encode()).hexdigest()[:20])


def loaded() -> Loaded:
    path, mtime = register_stamp()
    return _load(path, mtime)


def load_register() -> Register:
    return loaded().register


def content_key() -> str:
    return loaded().content_key


# --------------------------------------------------------------------------- scores and count

@st.cache_resource(show_spinner="Scoring the sites...", max_entries=4)
def _scores(path: str, key: str) -> pd.DataFrame:
    from planner.scoring import score_sites

    reg = load_register()
    areas = reg.boundaries if len(reg.boundaries) else None
    return score_sites(reg.sites, reg.services, areas=areas)


def site_scores() -> pd.DataFrame:
    """``planner.scoring.score_sites`` of the register (index-aligned with its sites)."""
    lo = loaded()
    return _scores(str(current_register_path()), lo.content_key)


@st.cache_resource(show_spinner=False, max_entries=4)
def _hubs(path: str, key: str) -> pd.DataFrame:
    from planner.candidates import hubs
    from planner.scoring import load_weights

    cfg = load_weights()["candidates"]
    return hubs(load_register().sites, float(cfg["hub_distance_m"]), int(cfg["hub_min_agencies"]))[1]


def hubs_table() -> pd.DataFrame:
    """``planner.candidates.hubs`` of the register, with the packaged scoring settings."""
    return _hubs(str(current_register_path()), content_key())


def usable_zones(reg: Register) -> pd.DataFrame | None:
    zones = reg.zones
    if "in_analysis" in zones.columns:
        zones = zones[zones["in_analysis"].astype("boolean").fillna(True).to_numpy(dtype=bool)]
    if len(zones) == 0 or not zones["population"].notna().any():
        return None
    return zones


@st.cache_resource(show_spinner="Counting the estate...", max_entries=16)
def _count(path: str, key: str, by: str) -> pd.DataFrame:
    from planner.count import total_place_count

    reg = load_register()
    areas = reg.boundaries if len(reg.boundaries) else None
    return total_place_count(reg.sites, reg.services, usable_zones(reg), by=by, areas=areas)


def place_count(by: str = "agency") -> pd.DataFrame:
    """The Total Place count by agency or by area level (ward, lsoa, locality)."""
    return _count(str(current_register_path()), content_key(), by)


def area_levels() -> list[str]:
    reg = load_register()
    if not len(reg.boundaries):
        return []
    present = set(reg.boundaries["level"].astype("string").dropna())
    return [lv for lv in ("ward", "lsoa", "locality") if lv in present]


# --------------------------------------------------------------------------- scenarios

@st.cache_resource(max_entries=8)
def _scenario_list(path: str, mtime_ns: int) -> pd.DataFrame:
    from planner import scenarios

    return scenarios.list_scenarios(path)


def scenario_list() -> pd.DataFrame:
    """The stored scenarios of the register (empty frame when none)."""
    return _scenario_list(*register_stamp())


def scenario_label(row) -> str:
    return f"{int(row['scenario_id'])}: {row['name']}"


@dataclass(frozen=True)
class StoredView:
    stored: object  # planner.scenarios.StoredScenario
    schedule: object  # planner.finance.Schedule
    ledger: object  # planner.ledger.Ledger


@st.cache_resource(show_spinner="Costing the scenario...", max_entries=16)
def _stored(path: str, mtime_ns: int, scenario_id: int) -> StoredView:
    from planner import scenarios
    from planner.ledger import build_ledger

    st_ = scenarios.load(path, scenario_id)
    sch = st_.schedule()
    return StoredView(st_, sch, build_ledger(sch))


def stored_scenario(scenario_id: int) -> StoredView:
    return _stored(*register_stamp(), int(scenario_id))


@st.cache_resource(show_spinner=False, max_entries=32)
def _matches(path: str, mtime_ns: int, scenario_id: int) -> bool:
    from planner import scenarios

    return scenarios.register_matches(path, stored_scenario(scenario_id).stored.record)


def register_matches(scenario_id: int) -> bool:
    """Is the register's estate still what this stored scenario was planned on?"""
    return _matches(*register_stamp(), int(scenario_id))


@st.cache_resource(show_spinner="Comparing...", max_entries=32)
def _compare(path: str, mtime_ns: int, a: int, b: int) -> dict:
    from planner import scenarios

    return scenarios.compare(path, a, b)


def compare_pair(a: int, b: int) -> dict:
    """``planner.scenarios.compare`` of two stored scenarios."""
    return _compare(*register_stamp(), int(a), int(b))


def current_scenario_id() -> int | None:
    """The scenario the session looks at: the one chosen or last run, else the latest stored."""
    lst = scenario_list()
    if lst.empty:
        return None
    ids = [int(i) for i in lst["scenario_id"]]
    cur = st.session_state.get(CURRENT_SCENARIO_KEY)
    if cur in ids:
        return int(cur)
    return ids[-1]


def choose_scenario(label: str = "Scenario", key: str = "scenario_pick") -> int | None:
    """A select box of the stored scenarios (defaulting to the current one); None when the
    register holds none."""
    lst = scenario_list()
    if lst.empty:
        return None
    ids = [int(i) for i in lst["scenario_id"]]
    labels = {int(r["scenario_id"]): scenario_label(r) for _, r in lst.iterrows()}
    cur = current_scenario_id()
    picked = st.selectbox(label, ids, index=ids.index(cur) if cur in ids else len(ids) - 1,
                          format_func=lambda i: labels.get(i, str(i)), key=key)
    if picked is not None:
        st.session_state[CURRENT_SCENARIO_KEY] = int(picked)
    return picked


# --------------------------------------------------------------------------- solving

def solve_key(scenario_toml: str, time_limit_s: float | None, solver: str = "highs") -> tuple:
    return (str(current_register_path()), content_key(), scenario_toml, time_limit_s, solver)


class _Slot:
    """Holds one solve's answer; the lock makes a second submit of the same run wait for the
    first instead of solving again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.plan = None


@st.cache_resource(show_spinner=False, max_entries=16)
def _slot(path: str, key: str, scenario_toml: str, time_limit_s: float | None, solver: str) -> _Slot:
    return _Slot()


def _run_optimiser(path: str, scenario_toml: str, time_limit_s: float | None, solver: str, say, tick=None):
    """Read, build, solve and explain (``planner.optimise.optimise_inputs``, which tells ``say``
    each stage as it starts, so that the page can show them). ``tick`` is called about every
    0.2 s while the solver runs; what it raises stops the solve
    (``planner.optimise.solve_instance``)."""
    import tomllib

    from planner.model import SolveOptions
    from planner.optimise import inputs_from_register, optimise_inputs
    from planner.scenario import scenario_from_dict

    scenario = scenario_from_dict(tomllib.loads(scenario_toml), "the scenario form")
    options = SolveOptions(solver=solver, time_limit_s=time_limit_s)
    say("Reading and checking the register's sites, services and zones...")
    inputs = inputs_from_register(path, scenario)
    return optimise_inputs(inputs, options, progress=say, tick=tick)


def solve(scenario_toml: str, time_limit_s: float | None, solver: str = "highs", progress=None, tick=None):
    """The optimiser's ``Plan`` for the current register and these settings. Cached on the
    register's content, the settings and the solver options: the same run solves once.

    ``tick``: called about every 0.2 s while the solve runs, and while this waits for the same
    run submitted elsewhere. The page passes one that redraws the time taken; Streamlit raises
    a stop or rerun request (the Stop button, the app's Stop, any other action on the page)
    from those redraws, which stops the solve within seconds and leaves nothing cached,
    instead of the request waiting for the solve's time limit."""
    key = solve_key(scenario_toml, time_limit_s, solver)
    slot = _slot(*key)
    while not slot.lock.acquire(timeout=0.2):
        if tick is not None:
            tick()
    try:
        if slot.plan is None:
            slot.plan = _run_optimiser(key[0], scenario_toml, time_limit_s, solver,
                                       progress or (lambda _m: None), tick)
        elif progress is not None:
            progress("The same register and settings were solved before: using that answer.")
        return slot.plan
    finally:
        slot.lock.release()


def solved_here(scenario_toml: str, time_limit_s: float | None, solver: str = "highs") -> bool:
    """Has this server solved exactly this run already (so its explanations are at hand)?"""
    return _slot(*solve_key(scenario_toml, time_limit_s, solver)).plan is not None


def finance_plan(opt_plan, reg: Register):
    """The optimiser's plan as ``planner.finance.Plan`` (via its output files, the form the
    finance stage reads; written to a temporary folder that is removed afterwards)."""
    from planner.finance import plan_from_output_dir

    sites = pd.DataFrame(reg.sites).drop(columns=["geometry"], errors="ignore")
    with tempfile.TemporaryDirectory(prefix="planner-run-") as tmp:
        out = Path(tmp) / "run"
        opt_plan.write(out)
        return plan_from_output_dir(out, sites=sites, services=pd.DataFrame(reg.services))


def save_run(opt_plan, name: str, scenario_toml: str, settings, time_limit_s: float | None):
    """Cost the plan and store it as a scenario in the register (``planner.scenarios.save``)."""
    from planner import scenarios

    reg = load_register()
    plan = finance_plan(opt_plan, reg)
    summary = opt_plan.summary()
    hashes = {"solver_settings": scenarios.json_sha256(
        {"solver": summary.get("solver"), "time_limit_s": time_limit_s,
         "mip_rel_gap": summary.get("mip_rel_gap"), "model": summary.get("model")})}
    return scenarios.save(current_register_path(), plan, settings, name, scenario_toml=scenario_toml,
                          input_hashes=hashes, solver=str(summary.get("solver") or ""),
                          status=str(summary.get("status") or ""), objective_gbp=summary.get("npv_gbp"),
                          best_bound_gbp=summary.get("bound_gbp"), gap=summary.get("gap"),
                          solve_time_s=summary.get("solve_seconds"))


def stored_run_settings(record: dict) -> tuple[str, float | None, str]:
    """(scenario TOML, time limit, solver) of a stored scenario, to find or redo its solve."""
    meta = json.loads(record.get("meta_json") or "{}")
    limit = meta.get("time_limit_s")
    return str(record.get("scenario_toml") or ""), (None if limit in (None, "") else float(limit)), \
        str(record.get("solver") or meta.get("solver") or "highs")
