"""The scenario store: plans that planners compare, kept in the register's GeoPackage.

A scenario is its inputs (the register version, the scenario file, a hash of every input),
its answer (site decisions and service placements), the solver and its status, and when it
ran. Three attribute layers (no geometry) hold them:

- ``scenarios``: one row per stored run (``SCENARIO_COLUMNS``): id, name, created_at, register
  content hash, scenario TOML text and its hash, the finance settings (JSON), the hash of
  every input (JSON) and of them all, the answer's hash, solver, status, the optimiser's NPV,
  bound and gap, and the finance totals (Green Book NPV, receipts, savings, one-off spend,
  disposals, moves, payback year) for listing without recomputing;
- ``scenario_sites``: one row per site of each scenario: ``scenario_id`` plus the plan's site
  columns (``finance.SITE_FIELDS``: decision and every money column as the plan used them);
- ``scenario_placements``: one row per service of each scenario: ``scenario_id`` plus the
  plan's placement columns (``finance.MOVE_FIELDS``).

So a stored scenario can be costed and exported again from the store alone, even after the
register's sites change; ``show`` says when the register no longer matches.

The register hash is a content hash of the layers the optimiser reads (sites, services,
zones), not of the file: the file itself changes whenever a scenario is stored in it.

Writes are atomic: the whole GeoPackage is copied to a temporary file in the same folder, the
scenario layers are rewritten in the copy, and the copy replaces the register (``os.replace``).

Reproducibility: saving a run whose inputs hash equals an earlier scenario's compares the
answers and says so ("same inputs as scenario 2, same answer: reproduced").
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.errors import InputFileError, ScenarioError
from planner.finance import (
    MOVE_FIELDS,
    SITE_FIELDS,
    FinanceSettings,
    Plan,
    Schedule,
    build_schedule,
)

SCENARIO_LAYERS = ("scenarios", "scenario_sites", "scenario_placements")
SCENARIO_COLUMNS = (
    "scenario_id", "name", "created_at", "register_sha256", "scenario_toml", "scenario_sha256",
    "scenario_json", "finance_json", "input_hashes", "inputs_sha256", "answer_sha256", "solver",
    "status", "objective_gbp", "best_bound_gbp", "gap", "solve_time_s", "npv_constant_gbp",
    "npv_green_book_gbp", "gross_receipts_gbp", "net_receipts_gbp", "savings_gbp_per_year",
    "one_off_gbp", "disposals", "moves", "payback_financial_year", "first_financial_year",
    "reproduces_id", "reproduced", "meta_json", "planner_version",
)
INPUT_TABLES = ("sites", "services", "zones")


# ------------------------------------------------------------------ hashing


def _canon(v) -> str:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        if math.isnan(f):
            return ""
        return format(f, ".12g")
    return str(v)


def frame_sha256(df: pd.DataFrame, sort_by: str | None = None) -> str:
    """A content hash of a table that does not depend on column order, row order (rows are
    sorted by ``sort_by`` or by their text), dtypes (1, 1.0 and '1.0' in a float column hash
    alike) or the geometry column (derived from easting/northing in the register)."""
    df = pd.DataFrame(df).drop(columns=["geometry"], errors="ignore")
    cols = sorted(map(str, df.columns))
    rows = [[_canon(v) for v in rec] for rec in df[cols].astype(object).itertuples(index=False, name=None)]
    if sort_by is not None and sort_by in cols:
        i = cols.index(sort_by)
        rows.sort(key=lambda r: (r[i], r))
    else:
        rows.sort()
    h = hashlib.sha256()
    h.update(json.dumps(cols).encode())
    for r in rows:
        h.update(b"\n")
        h.update(json.dumps(r, ensure_ascii=False).encode())
    return h.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def json_sha256(obj: Any) -> str:
    return text_sha256(json.dumps(obj, sort_keys=True, default=_canon, ensure_ascii=False))


def register_input_hashes(register_path: str | os.PathLike) -> dict[str, str]:
    """Content hash of each input layer (sites, services, zones) of a register."""
    import pyogrio

    path = Path(register_path)
    layers = {str(n) for n, _ in pyogrio.list_layers(path)}
    out = {}
    ids = {"sites": "site_id", "services": "service_id", "zones": "zone_id"}
    for t in INPUT_TABLES:
        if t in layers:
            df = pyogrio.read_dataframe(path, layer=t, read_geometry=False)
            out[t] = frame_sha256(df, ids[t])
        else:
            out[t] = ""
    return out


def register_sha256(hashes: dict[str, str]) -> str:
    return json_sha256({t: hashes.get(t, "") for t in INPUT_TABLES})


def answer_sha256(plan: Plan) -> str:
    """Hash of the answer: every site's decision and every service's destination, sorted."""
    decisions = sorted(zip(plan.sites["site_id"], plan.sites["decision"], strict=True))
    places = sorted(zip(plan.moves["service_id"], plan.moves["to_site_id"], strict=True))
    return json_sha256({"sites": decisions, "placements": places})


# ------------------------------------------------------------------ records


@dataclass
class SavedScenario:
    scenario_id: int
    name: str
    message: str  # what was saved and the reproducibility check
    reproduces_id: int | None
    reproduced: str  # "" | "same answer" | "same value, different answer" | "different answer"


@dataclass
class StoredScenario:
    record: dict  # the row of the scenarios layer
    plan: Plan
    settings: FinanceSettings

    @property
    def scenario_id(self) -> int:
        return int(self.record["scenario_id"])

    @property
    def name(self) -> str:
        return str(self.record["name"])

    def schedule(self) -> Schedule:
        return build_schedule(self.plan, self.settings)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def scenario_toml_from_values(values: dict) -> str:
    """A TOML text for scenario values when the original file is not at hand."""
    lines, tables = [], []
    for k, v in values.items():
        if k in ("defaults_used", "source") or v is None:
            continue
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    for k, t in tables:
        lines.append(f"\n[{k}]")
        lines.extend(f"{json.dumps(str(kk))} = {_toml_value(vv)}" for kk, vv in t.items())
    return "\n".join(lines) + "\n"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("total-place-planner")
    except Exception:  # pragma: no cover - not installed
        return ""


# ------------------------------------------------------------------ reading the store


def _check_register(path: Path) -> None:
    if not path.exists():
        raise InputFileError(f"{path}: no such register. Fix: check the path (or build the sample place "
                             "with ./run setup).")
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise InputFileError(f"{path}: not a GeoPackage. Fix: give the register .gpkg file.")


def _layers(path: Path) -> set[str]:
    import pyogrio

    return {str(n) for n, _ in pyogrio.list_layers(path)}


def _read_layer(path: Path, layer: str) -> pd.DataFrame | None:
    import pyogrio

    if layer not in _layers(path):
        return None
    df = pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
    return pd.DataFrame(df)


def list_scenarios(register_path: str | os.PathLike) -> pd.DataFrame:
    """The stored scenarios, oldest first (columns SCENARIO_COLUMNS); empty when none."""
    path = Path(register_path)
    _check_register(path)
    df = _read_layer(path, "scenarios")
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=list(SCENARIO_COLUMNS))
    df["scenario_id"] = pd.to_numeric(df["scenario_id"]).astype(int)
    return df.sort_values("scenario_id").reset_index(drop=True)


def resolve(register_path: str | os.PathLike, token: str | int) -> dict:
    """The scenarios row of ``token``: a scenario id (number) or a name (the latest of that
    name). Unknown: ScenarioError listing what is stored."""
    df = list_scenarios(register_path)
    tok = str(token).strip()
    hit = pd.DataFrame()
    if tok.isdigit():
        hit = df[df["scenario_id"] == int(tok)]
    if hit.empty:
        hit = df[df["name"].astype(str) == tok]
    if hit.empty:
        known = ", ".join(f"{r.scenario_id} ({r.name})" for r in df.itertuples()) or "none"
        raise ScenarioError(f"{register_path}: no scenario {tok!r}. Stored scenarios: {known}. "
                            "Fix: give a stored id or name (planner scenarios list).")
    return hit.iloc[-1].to_dict()


def _plain(v):
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def load(register_path: str | os.PathLike, token: str | int) -> StoredScenario:
    """A stored scenario with its plan rebuilt from the store (no optimiser needed)."""
    path = Path(register_path)
    rec = {k: _plain(v) for k, v in resolve(path, token).items()}
    sid = int(rec["scenario_id"])
    sites = _read_layer(path, "scenario_sites")
    moves = _read_layer(path, "scenario_placements")
    sites = sites[pd.to_numeric(sites["scenario_id"]) == sid].drop(columns="scenario_id").reset_index(drop=True)
    moves = moves[pd.to_numeric(moves["scenario_id"]) == sid].drop(columns="scenario_id").reset_index(drop=True)
    sites = _restore(sites, SITE_FIELDS, text=("site_id", "name", "agency", "decision"),
                     ints=("available_year",))
    moves = _restore(moves, MOVE_FIELDS, text=("service_id", "service_name", "service_agency", "service_type",
                                               "from_site_id", "to_site_id", "host_agency"),
                     bools=("moved",))
    values = json.loads(rec.get("scenario_json") or "{}")
    meta = json.loads(rec.get("meta_json") or "{}")
    settings = FinanceSettings.from_mapping(json.loads(rec.get("finance_json") or "{}"), source="stored finance settings")
    plan = Plan(sites=sites, moves=moves, horizon_years=int(values["horizon_years"]),
                discount_rate=float(values["discount_rate"]),
                optimism_bias=float(values.get("optimism_bias") or 0.0),
                fit_out_gbp_per_m2=float(values.get("fit_out_gbp_per_m2") or 0.0),
                move_gbp_per_fte=float(values.get("move_gbp_per_fte") or 0.0),
                disposal_cost_rate=float(values.get("disposal_cost_rate") or 0.0),
                recharge_gbp_per_m2_year=float(values.get("recharge_gbp_per_m2_year") or 0.0),
                partner_no_worse_off=bool(values.get("partner_no_worse_off") or False),
                scenario=values, meta=meta)
    return StoredScenario(record=rec, plan=plan, settings=settings)


def _restore(df: pd.DataFrame, cols, text=(), ints=(), bools=()) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for c in cols:
        if c in text:
            s = df[c].astype(object) if c in df.columns else pd.Series("", index=df.index, dtype=object)
            out[c] = s.where(pd.notna(s), "").map(str).astype(object)
        elif c in bools:
            out[c] = df[c].astype(object).map(lambda v: str(v).lower() in ("true", "1", "1.0")).astype(bool)
        elif c in ints:
            out[c] = pd.to_numeric(df[c]).fillna(0).astype(int)
        else:
            out[c] = pd.to_numeric(df[c], errors="coerce").astype(float) if c in df.columns else np.nan
    return out.reset_index(drop=True)


# ------------------------------------------------------------------ writing the store


def _write_atomic(path: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Rewrite ``frames`` as layers of the register atomically, keeping every other layer."""
    from planner.register import replace_layers_atomic

    replace_layers_atomic(path, frames)


def _flat_for_gpkg(df: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy/object columns that GDAL writes without surprises."""
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            out[c] = s.astype(bool)
        elif pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
            out[c] = s.astype("int64")
        elif pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = pd.to_numeric(s).astype(float)
        else:
            out[c] = s.astype(object).where(pd.notna(s), None)
    return out


def save(register_path: str | os.PathLike, plan: Plan, settings: FinanceSettings, name: str,
         scenario_toml: str | None = None, input_hashes: dict[str, str] | None = None,
         solver: str = "", status: str = "", objective_gbp: float | None = None,
         best_bound_gbp: float | None = None, gap: float | None = None,
         solve_time_s: float | None = None, created_at: str | None = None) -> SavedScenario:
    """Store a plan as a new scenario in the register and check it against earlier runs with
    the same inputs. ``input_hashes`` names every input and its hash; the register's layers
    and the scenario text are added here."""
    path = Path(register_path)
    _check_register(path)
    if not str(name).strip():
        raise ScenarioError("a scenario needs a name. Fix: pass --name NAME.")
    if str(name).strip().isdigit():
        raise ScenarioError(f"scenario name {name!r} is a number and would be confused with an id. "
                            "Fix: use a name with a letter in it.")
    # the first financial year is fixed when stored, so the scenario reads the same next year
    settings = replace(settings, first_financial_year=settings.first_year)
    meta = dict(plan.meta)
    values = {k: v for k, v in plan.scenario.items()}
    toml = scenario_toml if scenario_toml is not None else scenario_toml_from_values(values)
    reg = register_input_hashes(path)
    hashes = {f"register.{t}": h for t, h in reg.items()}
    hashes["scenario_toml"] = text_sha256(toml)
    hashes["scenario_values"] = json_sha256({k: v for k, v in values.items() if k not in ("source", "defaults_used")})
    hashes["finance"] = json_sha256(settings.to_dict())
    for k, v in (input_hashes or {}).items():
        hashes[str(k)] = str(v)
    inputs = json_sha256(hashes)
    answer = answer_sha256(plan)
    sch = build_schedule(plan, settings)
    t = sch.totals

    old = list_scenarios(path)
    sid = int(old["scenario_id"].max()) + 1 if len(old) else 1
    same = old[old["inputs_sha256"].astype(str) == inputs] if len(old) else old
    reproduces_id, reproduced = None, ""
    if len(same):
        prev = same.iloc[-1]
        reproduces_id = int(prev["scenario_id"])
        if str(prev["answer_sha256"]) == answer:
            reproduced = "same answer"
            msg = (f"Same inputs as scenario {reproduces_id} ({prev['name']}, {prev['created_at']}) and the same "
                   f"answer (answer hash {answer[:12]}): the run is reproduced.")
        else:
            pv = _plain(prev.get("objective_gbp"))
            if pv is not None and objective_gbp is not None and abs(float(pv) - float(objective_gbp)) <= 0.01:
                reproduced = "same value, different answer"
                msg = (f"Same inputs as scenario {reproduces_id} ({prev['name']}) and the same NPV, but different "
                       "decisions: an equally good alternative optimum.")
            else:
                reproduced = "different answer"
                msg = (f"Same inputs as scenario {reproduces_id} ({prev['name']}) but a different answer "
                       f"(answer hash {answer[:12]} vs {str(prev['answer_sha256'])[:12]}; status {status or '?'} vs "
                       f"{prev['status']}): not reproduced - a time limit or gap can do this.")
    else:
        msg = f"New inputs (inputs hash {inputs[:12]}): no earlier scenario to compare with."

    row = {
        "scenario_id": sid, "name": str(name).strip(),
        "created_at": created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "register_sha256": register_sha256(reg), "scenario_toml": toml,
        "scenario_sha256": hashes["scenario_toml"],
        "scenario_json": json.dumps(values, default=_canon, sort_keys=True),
        "finance_json": json.dumps(settings.to_dict(), sort_keys=True),
        "input_hashes": json.dumps(hashes, sort_keys=True), "inputs_sha256": inputs, "answer_sha256": answer,
        "solver": solver, "status": status,
        "objective_gbp": np.nan if objective_gbp is None else float(objective_gbp),
        "best_bound_gbp": np.nan if best_bound_gbp is None else float(best_bound_gbp),
        "gap": np.nan if gap is None else float(gap),
        "solve_time_s": np.nan if solve_time_s is None else float(solve_time_s),
        "npv_constant_gbp": sch.npv_constant_gbp, "npv_green_book_gbp": sch.npv_green_book_gbp,
        "gross_receipts_gbp": t["gross_receipts_gbp"], "net_receipts_gbp": t["net_receipts_gbp"],
        "savings_gbp_per_year": t["running_cost_saved_gbp_per_year"], "one_off_gbp": t["one_off_spend_gbp"],
        "disposals": int(t["disposals"]), "moves": int(t["moves"]),
        "payback_financial_year": sch.label(sch.payback_year),
        "first_financial_year": sch.first_year,
        "reproduces_id": -1 if reproduces_id is None else reproduces_id, "reproduced": reproduced,
        "meta_json": json.dumps(meta, default=_canon, sort_keys=True), "planner_version": _version(),
    }
    new_rows = pd.DataFrame([row], columns=list(SCENARIO_COLUMNS))
    scen = pd.concat([old[list(SCENARIO_COLUMNS)], new_rows], ignore_index=True) if len(old) else new_rows
    s_new = plan.sites[list(SITE_FIELDS)].copy()
    s_new.insert(0, "scenario_id", sid)
    m_new = plan.moves[list(MOVE_FIELDS)].copy()
    m_new.insert(0, "scenario_id", sid)
    s_old = _read_layer(path, "scenario_sites")
    m_old = _read_layer(path, "scenario_placements")
    sites = pd.concat([s_old, s_new], ignore_index=True) if s_old is not None and len(s_old) else s_new
    moves = pd.concat([m_old, m_new], ignore_index=True) if m_old is not None and len(m_old) else m_new
    _write_atomic(path, {"scenarios": _flat_for_gpkg(scen), "scenario_sites": _flat_for_gpkg(sites),
                         "scenario_placements": _flat_for_gpkg(moves)})
    return SavedScenario(sid, str(name).strip(), f"Saved as scenario {sid} ({str(name).strip()}). {msg}",
                         reproduces_id, reproduced)


# ------------------------------------------------------------------ comparing


def register_matches(register_path: str | os.PathLike, record: dict) -> bool:
    return register_sha256(register_input_hashes(register_path)) == record.get("register_sha256")


COMPARE_MEASURES = (
    ("status", "Solver status"),
    ("objective_gbp", "Optimiser NPV (spec, constant rate)"),
    ("npv_constant_gbp", "Schedule NPV at the constant rate"),
    ("npv_green_book_gbp", "Schedule NPV, Green Book rates"),
    ("gross_receipts_gbp", "Gross capital receipts"),
    ("net_receipts_gbp", "Net capital receipts"),
    ("savings_gbp_per_year", "Running-cost savings a year"),
    ("one_off_gbp", "One-off spend"),
    ("disposals", "Sites disposed"),
    ("moves", "Services moved"),
    ("payback_financial_year", "Payback year"),
)


def compare(register_path: str | os.PathLike, a: str | int, b: str | int) -> dict[str, pd.DataFrame]:
    """Two stored scenarios side by side: ``summary`` (measure, A, B, B - A), ``sites`` (sites
    whose decision differs) and ``moves`` (services placed differently)."""
    A, B = load(register_path, a), load(register_path, b)
    sa, sb = A.schedule(), B.schedule()
    ta, tb = sa.totals, sb.totals

    def val(st: StoredScenario, sch: Schedule, t: dict, key: str):
        if key == "status":
            return st.record.get("status") or ""
        if key == "objective_gbp":
            return _plain(st.record.get("objective_gbp"))
        if key == "payback_financial_year":
            return sch.label(sch.payback_year)
        if key == "savings_gbp_per_year":
            return t["running_cost_saved_gbp_per_year"]
        if key == "one_off_gbp":
            return t["one_off_spend_gbp"]
        return t[key]

    rows = []
    for key, label in COMPARE_MEASURES:
        va, vb = val(A, sa, ta, key), val(B, sb, tb, key)
        diff = (vb - va) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else ""
        rows.append({"measure": label, "key": key, "A": va, "B": vb, "B - A": diff})
    summary = pd.DataFrame(rows)
    da = A.plan.sites.set_index("site_id")["decision"]
    db = B.plan.sites.set_index("site_id")["decision"]
    ids = sorted(set(da.index) | set(db.index))
    sites = pd.DataFrame({"site_id": ids, "A": [da.get(i, "") for i in ids], "B": [db.get(i, "") for i in ids]})
    sites = sites[sites["A"] != sites["B"]].reset_index(drop=True)
    ma = A.plan.moves.set_index("service_id")
    mb = B.plan.moves.set_index("service_id")
    sids = sorted(set(ma.index) | set(mb.index))
    mrows = []
    for u in sids:
        toa = ma["to_site_id"].get(u, "")
        tob = mb["to_site_id"].get(u, "")
        if toa != tob:
            fr = ma["from_site_id"].get(u, mb["from_site_id"].get(u, ""))
            mrows.append({"service_id": u, "from_site_id": fr, "A_to_site_id": toa, "B_to_site_id": tob})
    moves = pd.DataFrame(mrows, columns=["service_id", "from_site_id", "A_to_site_id", "B_to_site_id"])
    head = pd.DataFrame([{"A": f"{A.scenario_id} {A.name}", "B": f"{B.scenario_id} {B.name}",
                          "same_inputs": A.record.get("inputs_sha256") == B.record.get("inputs_sha256"),
                          "same_answer": A.record.get("answer_sha256") == B.record.get("answer_sha256")}])
    return {"scenarios": head, "summary": summary, "sites": sites, "moves": moves}
