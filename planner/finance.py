"""Finance: turn a plan (the optimiser's answer) into money, year by year.

Inputs are a :class:`Plan` (site decisions and service placements, with the sites' and
services' money columns and the scenario values) and :class:`FinanceSettings` (first
financial year, market cap, homes density ...). Outputs are a :class:`Schedule`: the
disposal programme by UK financial year, the cash flow by year, two net present values kept
apart and labelled, the payback year, the One Public Estate benefit measures and a
sensitivity table. ``docs/finance.md`` states every formula and timing convention.

Two NPVs, never mixed:

- ``npv_constant_gbp``: the schedule discounted at the scenario's constant rate r,
  d(k) = (1 + r)^-k (the optimiser's measure, ../shared/spec/model.md). With no market cap
  it equals the spec objective sum b_j (1 - y_j) - sum c_uj x_uj exactly.
- ``npv_green_book_gbp``: the schedule discounted with HM Treasury Green Book (2022), Annex A6
  declining rates: 3.5% for years 0-30, 3.0% for 31-75, 2.5% for 76-125 ...

Year 0 is the first financial year (now); a flow in year k is counted at the end of year k
and its factor is d(k) (so year 0 flows are undiscounted, as in the spec).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.errors import ScenarioError, ValidationError
from planner.problems import Problem, ProblemReport

# HM Treasury, The Green Book (2022), Annex A6, table "The declining long-term discount
# rate": (first year of band, last year of band or None, rate).
GREEN_BOOK_BANDS: tuple[tuple[int, int | None, float], ...] = (
    (0, 30, 0.035),
    (31, 75, 0.030),
    (76, 125, 0.025),
    (126, 200, 0.020),
    (201, 300, 0.015),
    (301, None, 0.010),
)
GREEN_BOOK_SOURCE = ("HM Treasury, The Green Book: appraisal and evaluation in central government "
                     "(2022), Annex A6, declining long-term discount rate: 3.5% years 0-30, "
                     "3.0% years 31-75, 2.5% years 76-125")
OPTIMISM_BIAS_SOURCE = ("HM Treasury Green Book supplementary guidance: optimism bias (Mott MacDonald); "
                        "upper bound for standard buildings 24% on capital cost, lower bound 2%")
DE_MINIMIS_SOURCE = ("Local Authorities (Capital Finance and Accounting) (England) Regulations 2003, "
                     "reg. 10: disposal proceeds below £10,000 are not capital receipts")
HOMES_DENSITY_BASIS = ("an explicit, editable assumption (no national standard applies now); for "
                       "comparison, PPG3 (2000) asked for 30-50 dwellings per hectare net and PPS3 "
                       "kept a national indicative minimum of 30 until 2010")

CAP_PRIORITIES = ("net_receipt", "site_order")

# Lines of the cash flow, in the order shown; costs are negative flows.
CASH_LINES = (
    ("gross_receipts_gbp", "Gross capital receipts"),
    ("disposal_costs_gbp", "Disposal costs"),
    ("exit_costs_gbp", "Lease exit costs"),
    ("running_cost_saved_gbp", "Running costs saved"),
    ("backlog_avoided_gbp", "Backlog maintenance avoided"),
    ("fit_out_gbp", "Fit-out"),
    ("moves_gbp", "Moves (staff)"),
    ("optimism_bias_gbp", "Optimism bias on fit-out and moves"),
    ("pair_one_off_gbp", "Other one-off costs (pair cost rows)"),
    ("pair_annual_gbp", "Other yearly costs (pair cost rows)"),
)
RECHARGE_LINES = ("recharges_paid_gbp", "recharges_received_gbp")


# ------------------------------------------------------------------ financial years


def current_first_year(today: _dt.date | None = None) -> int:
    """Calendar year in which the UK financial year containing ``today`` starts (April-March)."""
    today = today or _dt.date.today()
    return today.year if today.month >= 4 else today.year - 1


def financial_year_label(k: int, first_year: int) -> str:
    """Year index k (0 = the first financial year) as a UK financial year, e.g. '2026/27'."""
    y = int(first_year) + int(k)
    return f"{y}/{(y + 1) % 100:02d}"


# ------------------------------------------------------------------ discounting


def green_book_rate(t: int) -> float:
    """The Green Book discount rate that applies in year t (Annex A6)."""
    for lo, hi, rate in GREEN_BOOK_BANDS:
        if t >= lo and (hi is None or t <= hi):
            return rate
    raise ValueError(f"year {t} is before year 0")


def green_book_factor(t: int) -> float:
    """Green Book discount factor of year t: the product of (1 + rate of year s)^-1 over
    s = 1..t, each year taking the rate of its band. For 30 < t <= 75 this is
    1.035^-30 x 1.03^-(t-30)."""
    t = int(t)
    if t < 0:
        raise ValueError("year must be >= 0")
    f = 1.0
    for lo, hi, rate in GREEN_BOOK_BANDS:
        first = max(lo, 1)
        last = t if hi is None else min(hi, t)
        n = last - first + 1
        if n > 0:
            f *= (1.0 + rate) ** (-n)
    return f


def constant_factor(t: int, rate: float) -> float:
    """d(t) = (1 + r)^-t: the spec's (and optimiser's) discount factor."""
    return (1.0 + rate) ** (-int(t))


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class FinanceSettings:
    """Settings of the finance stage (none of them changes the optimiser's answer)."""

    first_financial_year: int | None = None  # calendar year FY 0 starts; None: FY containing today
    max_disposals_per_year: int | None = None  # market cap on the number of sales a year
    max_receipts_gbp_per_year: float | None = None  # market cap on gross receipts a year
    cap_priority: str = "net_receipt"  # which sales go first under a cap: net_receipt | site_order
    homes_per_ha: float = 35.0  # dwellings per hectare of land released (assumption)
    jobs: float | None = None  # jobs the released land supports, when given (overrides a sites 'jobs' column)
    de_minimis_gbp: float = 10_000.0  # receipts below this are not capital receipts (councils)

    def __post_init__(self) -> None:
        errors = []
        if self.cap_priority not in CAP_PRIORITIES:
            errors.append(f"cap_priority {self.cap_priority!r} is not one of {', '.join(CAP_PRIORITIES)}")
        if self.max_disposals_per_year is not None and self.max_disposals_per_year < 1:
            errors.append("max_disposals_per_year must be at least 1 (leave it out for no cap)")
        if self.max_receipts_gbp_per_year is not None and not self.max_receipts_gbp_per_year > 0:
            errors.append("max_receipts_gbp_per_year must be more than 0 (leave it out for no cap)")
        if not (self.homes_per_ha >= 0 and math.isfinite(self.homes_per_ha)):
            errors.append("homes_per_ha must be a number >= 0")
        if self.de_minimis_gbp < 0:
            errors.append("de_minimis_gbp must be >= 0")
        if self.first_financial_year is not None and not 1900 <= self.first_financial_year <= 2200:
            errors.append(f"first_financial_year {self.first_financial_year} is not a calendar year "
                          "(write 2026 for 2026/27)")
        if errors:
            raise ScenarioError("Finance settings cannot be used:\n- " + "\n- ".join(errors))

    @property
    def first_year(self) -> int:
        return self.first_financial_year if self.first_financial_year is not None else current_first_year()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, source: str = "[finance]") -> FinanceSettings:
        """Build from a TOML table (e.g. ``[finance]``); unknown keys are refused by name."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = [k for k in data if k not in known]
        if unknown:
            raise ScenarioError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}. "
                                f"Known keys: {', '.join(sorted(known))}.")
        kinds = {"first_financial_year": int, "max_disposals_per_year": int, "cap_priority": str}
        clean: dict[str, Any] = {}
        for k, v in data.items():
            want = kinds.get(k, float)
            if v is None:
                clean[k] = None
                continue
            if want is str:
                clean[k] = str(v)
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ScenarioError(f"{source}: key {k}: expected a number, got {v!r}. Fix: write a plain number.")
            if want is int and float(v) != int(v):
                raise ScenarioError(f"{source}: key {k}: expected a whole number, got {v!r}.")
            clean[k] = want(v)
        return cls(**clean)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ------------------------------------------------------------------ the plan


SCENARIO_VALUE_KEYS = ("horizon_years", "discount_rate", "optimism_bias", "fit_out_gbp_per_m2",
                       "move_gbp_per_fte", "disposal_cost_rate", "recharge_gbp_per_m2_year",
                       "partner_no_worse_off")

SITE_FIELDS = ("site_id", "name", "agency", "decision", "easting", "northing", "capacity_m2", "gia_m2",
               "running_cost_gbp", "backlog_gbp", "market_value_gbp", "disposal_cost_gbp",
               "exit_cost_gbp", "available_year", "land_area_ha", "jobs")
MOVE_FIELDS = ("service_id", "service_name", "service_agency", "service_type", "space_m2", "fte",
               "from_site_id", "to_site_id", "moved", "host_agency", "distance_m", "fit_out_gbp",
               "move_gbp", "optimism_bias_gbp", "pair_one_off_gbp", "one_off_gbp", "annual_gbp",
               "recharge_gbp_per_year", "from_easting", "from_northing")


def _text(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype=object)
    s = df[col].astype(object)
    return s.where(pd.notna(s), "").map(lambda v: str(v).strip()).astype(object)


def _num(df: pd.DataFrame, col: str, default: float = np.nan) -> pd.Series:
    if col not in df.columns:
        return pd.Series(default, index=df.index, dtype=float)
    s = pd.to_numeric(df[col].astype(object).where(pd.notna(df[col]), np.nan), errors="coerce")
    return s.astype(float).fillna(default)


def _is_blank(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""


@dataclass
class Plan:
    """What finance needs of a plan: one row per site (with its decision) and one row per
    service placement, plus the scenario values. Build with :meth:`from_frames`.

    ``sites`` columns: SITE_FIELDS (money with the spec's defaults applied; disposal_cost_gbp
    resolved from disposal_cost_rate where missing). ``moves`` columns: MOVE_FIELDS, one row
    per service, with the one-off spend split into fit-out, moves, optimism bias and the rest.
    """

    sites: pd.DataFrame
    moves: pd.DataFrame
    horizon_years: int
    discount_rate: float
    optimism_bias: float = 0.0
    fit_out_gbp_per_m2: float = 0.0
    move_gbp_per_fte: float = 0.0
    disposal_cost_rate: float = 0.0
    recharge_gbp_per_m2_year: float = 0.0
    partner_no_worse_off: bool = False
    scenario: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # solver, status, objective ... as reported
    warnings: list[Problem] = field(default_factory=list)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_frames(cls, sites: pd.DataFrame, services: pd.DataFrame, site_decisions: pd.DataFrame,
                    placements: pd.DataFrame, scenario: Mapping[str, Any],
                    meta: Mapping[str, Any] | None = None) -> Plan:
        """Build a plan from the register's sites and services, the optimiser's site decisions
        (site_id, decision keep|dispose) and placements (service_id, from_site_id, to_site_id,
        distance_m, one_off_gbp [, annual_gbp]) and the scenario values. Every inconsistency
        is gathered and raised once as a ValidationError."""
        report = ProblemReport()
        if hasattr(scenario, "to_dict") and not isinstance(scenario, Mapping):  # a planner.scenario.Scenario
            scen = scenario.to_dict()
        else:
            scen = dict(scenario or {})
        for key in ("horizon_years", "discount_rate"):
            if key not in scen or scen[key] is None:
                raise ScenarioError(f"scenario: key {key} is needed by the finance stage. Fix: give {key}.")
        H = int(scen["horizon_years"])
        r = float(scen["discount_rate"])
        ob = float(scen.get("optimism_bias") or 0.0)
        f = float(scen.get("fit_out_gbp_per_m2") or 0.0)
        m = float(scen.get("move_gbp_per_fte") or 0.0)
        rate = float(scen.get("disposal_cost_rate") or 0.0)
        recharge = float(scen.get("recharge_gbp_per_m2_year") or 0.0)
        no_worse = bool(scen.get("partner_no_worse_off") or False)

        # ---- sites and decisions
        sd = site_decisions.copy()
        for col in ("site_id", "decision"):
            if col not in sd.columns:
                raise ValidationError(f"site decisions: no column {col!r}. Fix: give site_id and decision "
                                      "(keep or dispose) for every site.")
        sd_ids = _text(sd, "site_id")
        dec = _text(sd, "decision").str.lower()
        s = sites.copy()
        s_ids = _text(s, "site_id")
        wanted = s_ids.isin(set(sd_ids)).to_numpy()
        s, s_ids = s[wanted], s_ids[wanted]
        if s_ids.duplicated().any():  # the register may hold a record left out of analysis twice
            usable = np.ones(len(s), dtype=bool)
            for col in ("in_analysis", "located"):
                if col in s.columns:
                    usable &= s[col].astype(object).map(
                        lambda v: str(v).strip().lower() not in ("false", "0", "no")).to_numpy(dtype=bool)
            s, s_ids = s[usable], s_ids[usable]
        s.index = pd.Index(s_ids.to_numpy(), name=None)
        dup = s_ids[s_ids.duplicated()].unique().tolist()
        for d in dup:
            report.add(Problem("sites", None, "site_id", d, "site id appears more than once",
                               "give each site a unique id", table="sites", record_id=d, code="duplicate_id"))
        known_sites = set(s_ids)
        seen = set()
        rows = []
        for i, (sid, dv) in enumerate(zip(sd_ids, dec, strict=True)):
            if sid in seen:
                report.add(Problem("site_decisions", i + 2, "site_id", sid, f"site {sid} decided twice",
                                   "give one decision per site", table="site_decisions", record_id=sid,
                                   code="duplicate_id"))
                continue
            seen.add(sid)
            if sid not in known_sites:
                report.add(Problem("site_decisions", i + 2, "site_id", sid, f"decision for site {sid}, which is not in the sites table",
                                   "use the register the plan was made from", table="site_decisions",
                                   record_id=sid, code="unknown_site"))
                continue
            if dv not in ("keep", "dispose"):
                report.add(Problem("site_decisions", i + 2, "decision", dv, f"decision for site {sid} is not keep or dispose",
                                   "write keep or dispose", table="site_decisions", record_id=sid,
                                   code="bad_decision"))
                continue
            rows.append((sid, dv))
        if dup:
            raise ValidationError("The plan cannot be costed: " + "; ".join(str(p) for p in report.errors), report)
        decided = pd.DataFrame(rows, columns=["site_id", "decision"])
        s = s.loc[decided["site_id"].to_numpy()]
        out = pd.DataFrame({"site_id": decided["site_id"].to_numpy()}, index=s.index)
        out["name"] = _text(s, "name")
        out["agency"] = _text(s, "agency")
        if "agency" in sd.columns:  # agency from the decisions where the sites table lacks it
            sd_ag = dict(zip(sd_ids, _text(sd, "agency"), strict=True))
            out["agency"] = [a or sd_ag.get(i, "") for i, a in zip(out["site_id"], out["agency"], strict=True)]
        out["decision"] = decided["decision"].to_numpy()
        out["easting"] = _num(s, "easting")
        out["northing"] = _num(s, "northing")
        out["capacity_m2"] = _num(s, "capacity_m2")
        out["gia_m2"] = _num(s, "gia_m2")
        out["running_cost_gbp"] = _num(s, "running_cost_gbp", 0.0)
        out["backlog_gbp"] = _num(s, "backlog_gbp", 0.0)
        out["market_value_gbp"] = _num(s, "market_value_gbp", 0.0)
        dc = _num(s, "disposal_cost_gbp")
        out["disposal_cost_gbp"] = dc.where(dc.notna(), rate * out["market_value_gbp"])
        out["exit_cost_gbp"] = _num(s, "exit_cost_gbp", 0.0)
        ay = _num(s, "available_year", 0.0)
        out["available_year"] = ay.clip(lower=0).round().astype(int)
        out["land_area_ha"] = _num(s, "land_area_ha")
        out["jobs"] = _num(s, "jobs")
        out = out.reset_index(drop=True)
        for sid, a in zip(out["site_id"], out["agency"], strict=True):
            if not a:
                report.add(Problem("sites", None, "agency", "", "site has no agency", "give the owning agency",
                                   table="sites", record_id=sid, code="missing_agency"))

        # ---- services and placements
        sv = services.copy()
        sv_ids = _text(sv, "service_id")
        placed_ids = set(_text(placements, "service_id")) if "service_id" in placements.columns else set()
        in_plan = sv_ids.isin(placed_ids).to_numpy() | _text(sv, "site_id").isin(set(decided["site_id"])).to_numpy()
        sv, sv_ids = sv[in_plan], sv_ids[in_plan]
        first = ~sv_ids.duplicated()
        sv, sv_ids = sv[first.to_numpy()], sv_ids[first]
        info = pd.DataFrame({
            "name": _text(sv, "name").to_numpy(), "agency": _text(sv, "agency").to_numpy(),
            "service_type": _text(sv, "service_type").to_numpy(), "site_id": _text(sv, "site_id").to_numpy(),
            "space_m2": _num(sv, "space_m2", 0.0).to_numpy(), "fte": _num(sv, "fte", 0.0).to_numpy(),
            "easting": _num(sv, "easting").to_numpy(), "northing": _num(sv, "northing").to_numpy(),
        }, index=pd.Index(sv_ids.to_numpy()))
        svc = info.to_dict("index")
        pl = placements.copy()
        for col in ("service_id", "to_site_id"):
            if col not in pl.columns:
                raise ValidationError(f"placements: no column {col!r}. Fix: give service_id, from_site_id, "
                                      "to_site_id, distance_m and one_off_gbp for every service.")
        decision_of = dict(zip(out["site_id"], out["decision"], strict=True))
        agency_of = dict(zip(out["site_id"], out["agency"], strict=True))
        p_ids = _text(pl, "service_id").tolist()
        p_from = _text(pl, "from_site_id").tolist()
        p_to = _text(pl, "to_site_id").tolist()
        p_dist = _num(pl, "distance_m").tolist()
        p_one = _num(pl, "one_off_gbp").tolist()
        p_ann = _num(pl, "annual_gbp", 0.0).tolist()
        mrows = []
        seen_sv: set[str] = set()
        for i in range(len(pl)):
            uid, fr, to = p_ids[i], p_from[i], p_to[i]
            where = dict(file="placements", row=i + 2, table="placements", record_id=uid)
            if uid in seen_sv:
                report.add(Problem(column="service_id", value=uid, problem=f"service {uid} placed twice",
                                   fix="give one placement per service", code="duplicate_id", **where))
                continue
            seen_sv.add(uid)
            if uid not in svc:
                report.add(Problem(column="service_id", value=uid, problem=f"placement of service {uid}, which is not in the services table",
                                   fix="use the register the plan was made from", code="unknown_service", **where))
                continue
            if to not in decision_of:
                report.add(Problem(column="to_site_id", value=to, problem=f"service {uid} placed in site {to}, which has no decision",
                                   fix="use the plan's own site decisions", code="unknown_site", **where))
                continue
            if decision_of[to] != "keep":
                report.add(Problem(column="to_site_id", value=to, problem=f"service {uid} placed in site {to}, which the plan disposes of",
                                   fix="a disposed site holds no service: check the plan", code="placed_in_disposed", **where))
                continue
            row = svc[uid]
            if not fr and "from_site_id" not in pl.columns:  # not given: the service's own site
                fr = row["site_id"]
            space, fte = float(row["space_m2"]), float(row["fte"])
            moved = fr != to
            base_fit = f * space if moved else 0.0
            base_move = m * fte if moved else 0.0
            ob_gbp = ob * (base_fit + base_move)
            one_off = p_one[i]
            if math.isnan(one_off):
                one_off = base_fit + base_move + ob_gbp
            pair_one = one_off - (base_fit + base_move + ob_gbp)
            if abs(pair_one) < 1e-6 * max(1.0, abs(one_off)):
                pair_one = 0.0
            if pair_one < 0:
                report.add(Problem(column="one_off_gbp", value=f"{one_off:.2f}",
                                   problem=(f"one-off cost is below the scenario's fit-out, move and optimism bias "
                                            f"cost of the move ({base_fit + base_move + ob_gbp:.2f}); the "
                                            "difference is shown as a negative 'other one-off'"),
                                   fix="check that the placements and the scenario belong together",
                                   severity="warning", code="one_off_mismatch", **where))
            host = agency_of.get(to, "")
            recharged = moved and host != row["agency"]
            mrows.append({
                "service_id": uid, "service_name": row["name"], "service_agency": row["agency"],
                "service_type": row["service_type"], "space_m2": space, "fte": fte,
                "from_site_id": fr, "to_site_id": to, "moved": moved,
                "host_agency": host, "distance_m": p_dist[i],
                "fit_out_gbp": base_fit, "move_gbp": base_move, "optimism_bias_gbp": ob_gbp,
                "pair_one_off_gbp": pair_one, "one_off_gbp": float(one_off), "annual_gbp": float(p_ann[i]),
                "recharge_gbp_per_year": recharge * space if recharged else 0.0,
                "from_easting": float(row["easting"]), "from_northing": float(row["northing"]),
            })
        moves = pd.DataFrame(mrows, columns=list(MOVE_FIELDS))
        # A disposed site must be empty: every service that was in it has a placement elsewhere.
        if len(info):
            placed = set(moves["service_id"])
            for uid, sid in zip(info.index, info["site_id"], strict=True):
                if sid and decision_of.get(sid) == "dispose" and uid not in placed:
                    report.add(Problem("placements", None, "service_id", uid,
                                       f"service in disposed site {sid} has no placement (left out of the "
                                       "plan, e.g. out of analysis): the plan does not say where it goes",
                                       "fix the service in the register, or check the plan's placements",
                                       severity="warning", table="placements", record_id=uid,
                                       code="unplaced_service"))
        if report.has_errors:
            raise ValidationError(f"The plan cannot be costed ({len(report.errors)} problem(s)):\n- "
                                  + "\n- ".join(str(p) for p in report.errors), report)
        scen_vals = {k: scen.get(k) for k in SCENARIO_VALUE_KEYS}
        return cls(sites=out, moves=moves, horizon_years=H, discount_rate=r, optimism_bias=ob,
                   fit_out_gbp_per_m2=f, move_gbp_per_fte=m, disposal_cost_rate=rate,
                   recharge_gbp_per_m2_year=recharge, partner_no_worse_off=no_worse,
                   scenario={**scen, **scen_vals}, meta=dict(meta or {}), warnings=list(report.warnings))

    @classmethod
    def from_output_dir(cls, out_dir, sites: pd.DataFrame | None = None, services: pd.DataFrame | None = None,
                        register=None) -> Plan:
        """Read an optimiser output folder (``planner optimise``: summary.json,
        site_decisions.csv, placements.csv). The sites' and services' money columns come from
        ``sites``/``services`` when given, else from the register GeoPackage ``register``
        (default: the sample place's, ``planner.register.default_register_path()``)."""
        return plan_from_output_dir(out_dir, sites=sites, services=services, register=register)

    # -- views ---------------------------------------------------------------------------
    @property
    def disposed(self) -> pd.DataFrame:
        return self.sites[self.sites["decision"] == "dispose"].reset_index(drop=True)

    @property
    def moved(self) -> pd.DataFrame:
        return self.moves[self.moves["moved"]].reset_index(drop=True)

    def scaled(self, values: float = 1.0, costs: float = 1.0, savings: float = 1.0) -> Plan:
        """The same decisions with market values x ``values``; disposal, exit, fit-out, move,
        optimism bias and pair costs x ``costs``; running costs and backlog x ``savings``."""
        s = self.sites.copy()
        s["market_value_gbp"] = s["market_value_gbp"] * values
        for c in ("disposal_cost_gbp", "exit_cost_gbp"):
            s[c] = s[c] * costs
        for c in ("running_cost_gbp", "backlog_gbp"):
            s[c] = s[c] * savings
        mv = self.moves.copy()
        for c in ("fit_out_gbp", "move_gbp", "optimism_bias_gbp", "pair_one_off_gbp", "one_off_gbp", "annual_gbp"):
            mv[c] = mv[c] * costs
        return replace(self, sites=s, moves=mv)


# ------------------------------------------------------------------ the optimiser's output


SOLVED_STATUSES = ("optimal", "feasible")


def _read_csv_text(path) -> pd.DataFrame:
    """A CSV with every cell as text (ids keep their leading zeros; 'NA' stays 'NA')."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def read_register_tables(register) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sites and services layers of a register GeoPackage, as plain frames."""
    import pyogrio

    from planner.errors import InputFileError

    path = Path(register)
    if not path.is_file():
        raise InputFileError(f"{path}: no such register. Fix: give the register the plan was made from "
                             "with --register (or build the sample place with ./run setup).")
    try:
        layers = {str(n) for n, _ in pyogrio.list_layers(path)}
    except Exception as exc:  # GDAL raises several kinds for a file that is not a GeoPackage
        raise InputFileError(f"{path}: cannot read the register ({exc}). Fix: give a register .gpkg.") from exc
    for need in ("sites", "services"):
        if need not in layers:
            raise InputFileError(f"{path}: the register has no {need} layer. Fix: give a register built by the planner.")
    sites = pd.DataFrame(pyogrio.read_dataframe(path, layer="sites", read_geometry=False))
    services = pd.DataFrame(pyogrio.read_dataframe(path, layer="services", read_geometry=False))
    return sites, services


def plan_from_output_dir(out_dir, sites: pd.DataFrame | None = None, services: pd.DataFrame | None = None,
                         register=None) -> Plan:
    """The :class:`Plan` of an optimiser output folder (see ``Plan.from_output_dir``).

    The optimiser's placements give, per service, ``one_off_gbp`` (the one-off spend of a move,
    0 for staying) and ``cost_pv_gbp`` (c_uj, the present value counted in the objective); the
    yearly pair cost of a move is recovered as (cost_pv_gbp - one_off_gbp) / a(0), and the
    cost of staying with a listed pair row is counted as a year-0 cost of cost_pv_gbp, so that
    the schedule's constant-rate NPV is the optimiser's objective."""
    import json

    from planner.errors import InputFileError

    out = Path(out_dir)
    if not out.is_dir():
        raise InputFileError(f"{out}: no such folder. Fix: give the output folder of `planner optimise`.")
    missing = [n for n in ("summary.json", "site_decisions.csv", "placements.csv") if not (out / n).is_file()]
    if "summary.json" in missing:
        raise InputFileError(f"{out}: has no summary.json, so it is not an optimiser output folder. Fix: give the "
                             "folder `planner optimise --out DIR` wrote.")
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{out / 'summary.json'}: cannot be read ({exc}). Fix: run the optimiser again.") from exc
    status = str(summary.get("status", ""))
    if status not in SOLVED_STATUSES or missing:
        raise ScenarioError(f"{out}: the optimiser found no plan to cost (status {status or 'unknown'}"
                            f"{'; missing ' + ', '.join(missing) if missing else ''}). Fix: see "
                            f"{out / 'explanations.md'} for why, change the scenario and run it again.")
    scen = dict(summary.get("scenario") or {})
    decisions = _read_csv_text(out / "site_decisions.csv")
    placements = _read_csv_text(out / "placements.csv")
    if sites is None or services is None:
        if register is None:
            src = summary.get("sources") or summary.get("inputs") or {}
            reg = src.get("register") if isinstance(src, dict) else None
            if reg is None:
                from planner.register import default_register_path

                reg = default_register_path()
            register = reg
        r_sites, r_services = read_register_tables(register)
        sites = r_sites if sites is None else sites
        services = r_services if services is None else services
    H = int(scen.get("horizon_years", 0) or 0)
    r = float(scen.get("discount_rate", 0.0) or 0.0)
    a0 = sum((1.0 + r) ** -t for t in range(1, H + 1))
    one = pd.to_numeric(placements.get("one_off_gbp"), errors="coerce").fillna(0.0) if "one_off_gbp" in placements else None
    if one is not None and "cost_pv_gbp" in placements.columns:
        cost = pd.to_numeric(placements["cost_pv_gbp"], errors="coerce").fillna(0.0)
        moved = placements["from_site_id"].astype(str) != placements["to_site_id"].astype(str)
        rest = cost - one
        placements["annual_gbp"] = np.where(moved & (a0 > 0), rest / a0 if a0 else 0.0, 0.0)
        placements["annual_gbp"] = placements["annual_gbp"].where(placements["annual_gbp"].abs() > 1e-6, 0.0)
        placements["one_off_gbp"] = np.where(moved, one, cost)
    meta = {k: summary.get(k) for k in ("status", "npv_gbp", "bound_gbp", "gap", "solver", "solve_seconds",
                                       "time_limit_s", "mip_rel_gap", "message", "model")}
    meta["objective_gbp"] = summary.get("npv_gbp")
    meta["output_dir"] = str(out)
    meta["register"] = None if register is None else str(register)
    return Plan.from_frames(sites, services, decisions, placements, scen, meta=meta)


# ------------------------------------------------------------------ the schedule


def schedule_disposals(plan: Plan, settings: FinanceSettings | None = None) -> pd.DataFrame:
    """The disposal programme: one row per disposed site, in order of sale.

    A site is sold at the end of year max(available_year, 0): its services move in year 0
    (the spec), so the lease or availability is the only wait. Under a market cap
    (``max_disposals_per_year``, ``max_receipts_gbp_per_year`` on gross receipts) the sales
    ready in a year go in priority order (``net_receipt``: largest net receipt first, ties by
    larger running cost then site id; ``site_order``: the order of the sites table) while the
    cap allows; the rest wait for the next year. A single sale bigger than the receipts cap is
    sold alone in a year with no other sale. Delayed sales delay their savings.
    """
    settings = settings or FinanceSettings()
    d = plan.disposed.copy()
    d["order"] = np.arange(len(d))
    d["ready_year"] = d["available_year"].astype(int)
    d["gross_receipt_gbp"] = d["market_value_gbp"]
    d["net_receipt_gbp"] = d["market_value_gbp"] - d["disposal_cost_gbp"]
    if settings.cap_priority == "net_receipt":
        d = d.sort_values(["net_receipt_gbp", "running_cost_gbp", "site_id"],
                          ascending=[False, False, True], kind="mergesort")
    else:
        d = d.sort_values("order", kind="mergesort")
    cap_n = settings.max_disposals_per_year
    cap_g = settings.max_receipts_gbp_per_year
    sale: dict[str, int] = {}
    if cap_n is None and cap_g is None:
        sale = dict(zip(d["site_id"], d["ready_year"], strict=True))
    else:
        pending = list(d[["site_id", "ready_year", "gross_receipt_gbp"]].itertuples(index=False, name=None))
        year = min((p[1] for p in pending), default=0)
        while pending:
            n, g = 0, 0.0
            left = []
            for sid, ready, gross in pending:
                fits = ready <= year
                if fits and cap_n is not None and n >= cap_n:
                    fits = False
                if fits and cap_g is not None and n > 0 and g + gross > cap_g + 1e-9:
                    fits = False
                if fits:
                    sale[sid] = year
                    n += 1
                    g += gross
                else:
                    left.append((sid, ready, gross))
            pending = left
            year = year + 1 if not pending else max(year + 1, min(p[1] for p in pending))
    d["sale_year"] = d["site_id"].map(sale).astype(int)
    d["delayed_years"] = d["sale_year"] - d["ready_year"]
    H = plan.horizon_years
    d["saving_from_year"] = d["sale_year"] + 1
    d["years_saved"] = (H - d["sale_year"]).clip(lower=0)
    d["after_horizon"] = d["sale_year"] >= H
    d["de_minimis"] = (d["gross_receipt_gbp"] > 0) & (d["gross_receipt_gbp"] < settings.de_minimis_gbp)
    d = d.sort_values(["sale_year", "order"], kind="mergesort").reset_index(drop=True)
    fy0 = settings.first_year
    d["financial_year"] = [financial_year_label(k, fy0) for k in d["sale_year"]]
    d["saving_from_financial_year"] = [financial_year_label(k, fy0) for k in d["saving_from_year"]]
    cols = ["site_id", "name", "agency", "ready_year", "sale_year", "financial_year", "delayed_years",
            "gross_receipt_gbp", "disposal_cost_gbp", "net_receipt_gbp", "exit_cost_gbp",
            "running_cost_gbp", "saving_from_year", "saving_from_financial_year", "years_saved",
            "backlog_gbp", "land_area_ha", "capacity_m2", "gia_m2", "jobs", "after_horizon", "de_minimis"]
    return d[cols].rename(columns={"running_cost_gbp": "running_cost_saved_gbp_per_year",
                                   "backlog_gbp": "backlog_avoided_gbp"})


def plan_flows(plan: Plan, disposals: pd.DataFrame) -> pd.DataFrame:
    """Every cash flow of the plan, long form: year, agency, site_id, service_id, line,
    amount_gbp (costs negative). Recharges appear twice (paid by the guest, received by the
    host) and cancel in the total."""
    H = plan.horizon_years
    rec: list[tuple] = []
    for row in disposals.itertuples(index=False):
        k, a, sid = int(row.sale_year), row.agency, row.site_id
        rec.append((k, a, sid, "", "gross_receipts_gbp", row.gross_receipt_gbp))
        rec.append((k, a, sid, "", "disposal_costs_gbp", -row.disposal_cost_gbp))
        rec.append((k, a, sid, "", "exit_costs_gbp", -row.exit_cost_gbp))
        rec.append((0, a, sid, "", "backlog_avoided_gbp", row.backlog_avoided_gbp))
        for t in range(k + 1, H + 1):
            rec.append((t, a, sid, "", "running_cost_saved_gbp", row.running_cost_saved_gbp_per_year))
    for mv in plan.moves.itertuples(index=False):
        a, uid = mv.service_agency, mv.service_id
        for line in ("fit_out_gbp", "move_gbp", "optimism_bias_gbp", "pair_one_off_gbp"):
            v = getattr(mv, line)
            if v:
                rec.append((0, a, mv.to_site_id, uid, "moves_gbp" if line == "move_gbp" else line, -v))
        if mv.annual_gbp:
            for t in range(1, H + 1):
                rec.append((t, a, mv.to_site_id, uid, "pair_annual_gbp", -mv.annual_gbp))
        if mv.recharge_gbp_per_year:
            for t in range(1, H + 1):
                rec.append((t, a, mv.to_site_id, uid, "recharges_paid_gbp", -mv.recharge_gbp_per_year))
                rec.append((t, mv.host_agency, mv.to_site_id, uid, "recharges_received_gbp",
                            mv.recharge_gbp_per_year))
    df = pd.DataFrame(rec, columns=["year", "agency", "site_id", "service_id", "line", "amount_gbp"])
    df["year"] = df["year"].astype(int)
    df["amount_gbp"] = df["amount_gbp"].astype(float)
    return df


def payback_year(cumulative: pd.Series | list[float]) -> int | None:
    """First year from which the cumulative cash flow stays at or above zero to the end;
    None if it ends below zero."""
    c = list(cumulative)
    tol = 1e-6
    last_negative = None
    for k, v in enumerate(c):
        if v < -tol:
            last_negative = k
    if last_negative is None:
        return 0
    if last_negative == len(c) - 1:
        return None
    return last_negative + 1


@dataclass
class Schedule:
    """The plan in money, year by year (see the module docstring)."""

    plan: Plan
    settings: FinanceSettings
    first_year: int
    disposals: pd.DataFrame
    flows: pd.DataFrame
    cash_flow: pd.DataFrame  # one row per year index
    npv_green_book_gbp: float
    npv_constant_gbp: float
    payback_year: int | None
    discounted_payback_year: int | None

    def label(self, k: int | None) -> str:
        return "never" if k is None else financial_year_label(k, self.first_year)

    @property
    def years(self) -> list[int]:
        return list(self.cash_flow["year"])

    def by_year_agency(self, lines: tuple[str, ...] | str) -> pd.DataFrame:
        """Sum of ``lines`` by agency (rows) and financial year (columns), with a Total column."""
        lines = (lines,) if isinstance(lines, str) else lines
        f = self.flows[self.flows["line"].isin(lines)]
        agencies = sorted(set(self.plan.sites["agency"]) | set(self.plan.moves["service_agency"]))
        t = f.pivot_table(index="agency", columns="year", values="amount_gbp", aggfunc="sum", fill_value=0.0)
        t = t.reindex(index=agencies, columns=self.years, fill_value=0.0)
        t.columns = [self.label(k) for k in t.columns]
        t["Total"] = t.sum(axis=1)
        t.loc["Total"] = t.sum(axis=0)
        t.index.name = "agency"
        return t

    @property
    def totals(self) -> dict[str, float]:
        cf = self.cash_flow
        out = {line: float(cf[line].sum()) for line, _ in CASH_LINES}
        d = self.disposals
        out.update({
            "net_receipts_gbp": float(d["net_receipt_gbp"].sum()),
            "running_cost_saved_gbp_per_year": float(d["running_cost_saved_gbp_per_year"].sum()),
            "one_off_spend_gbp": float(self.plan.moves["one_off_gbp"].sum()),
            "disposals": len(d),
            "moves": int(self.plan.moves["moved"].sum()),
            "npv_green_book_gbp": self.npv_green_book_gbp,
            "npv_constant_gbp": self.npv_constant_gbp,
            "net_cash_flow_gbp": float(cf["net_cash_flow_gbp"].sum()),
        })
        return out


def build_schedule(plan: Plan, settings: FinanceSettings | None = None) -> Schedule:
    """Disposal programme, cash flow, both NPVs and the payback years of ``plan``."""
    settings = settings or FinanceSettings()
    disposals = schedule_disposals(plan, settings)
    flows = plan_flows(plan, disposals)
    last = max([plan.horizon_years, *disposals["sale_year"].tolist()])
    years = list(range(0, last + 1))
    main = flows[~flows["line"].isin(RECHARGE_LINES)]
    cf = main.pivot_table(index="year", columns="line", values="amount_gbp", aggfunc="sum", fill_value=0.0)
    cf = cf.reindex(index=years, columns=[c for c, _ in CASH_LINES], fill_value=0.0)
    cf.index.name = "year"
    cf.columns.name = None
    cf = cf.reset_index()
    fy0 = settings.first_year
    cf.insert(1, "financial_year", [financial_year_label(k, fy0) for k in years])
    lines = [c for c, _ in CASH_LINES]
    cf["net_cash_flow_gbp"] = cf[lines].sum(axis=1)
    cf["cumulative_gbp"] = cf["net_cash_flow_gbp"].cumsum()
    cf["green_book_rate"] = [green_book_rate(k) for k in years]
    cf["green_book_factor"] = [green_book_factor(k) for k in years]
    cf["pv_green_book_gbp"] = cf["net_cash_flow_gbp"] * cf["green_book_factor"]
    cf["cumulative_pv_green_book_gbp"] = cf["pv_green_book_gbp"].cumsum()
    cf["constant_factor"] = [constant_factor(k, plan.discount_rate) for k in years]
    cf["pv_constant_gbp"] = cf["net_cash_flow_gbp"] * cf["constant_factor"]
    return Schedule(
        plan=plan, settings=settings, first_year=fy0, disposals=disposals, flows=flows, cash_flow=cf,
        npv_green_book_gbp=float(cf["pv_green_book_gbp"].sum()),
        npv_constant_gbp=float(cf["pv_constant_gbp"].sum()),
        payback_year=payback_year(cf["cumulative_gbp"]),
        discounted_payback_year=payback_year(cf["cumulative_pv_green_book_gbp"]),
    )


# ------------------------------------------------------------------ spec objective


def spec_objective(plan: Plan) -> float:
    """The spec's objective for this plan: sum of b_j over disposed sites minus sum of c_uj
    over placements, at the constant rate r with k_j = available_year (model.md)."""
    H, r = plan.horizon_years, plan.discount_rate

    def d(k):
        return (1.0 + r) ** (-k)

    def a(k):
        return sum(d(t) for t in range(k + 1, H + 1)) if k < H else 0.0

    b = 0.0
    for s in plan.disposed.itertuples(index=False):
        k = int(s.available_year)
        b += d(k) * (s.market_value_gbp - s.disposal_cost_gbp - s.exit_cost_gbp) + a(k) * s.running_cost_gbp + s.backlog_gbp
    c = float(plan.moves["one_off_gbp"].sum() + a(0) * plan.moves["annual_gbp"].sum())
    return b - c


# ------------------------------------------------------------------ OPE measures


def ope_measures(schedule: Schedule) -> pd.DataFrame:
    """One Public Estate benefit measures: capital receipts, running-cost savings, land
    released and the homes it could take, jobs if given. Columns: measure, value, unit, basis."""
    d, st, plan = schedule.disposals, schedule.settings, schedule.plan
    small = d[d["de_minimis"]]
    capital = float(d.loc[~d["de_minimis"], "gross_receipt_gbp"].sum())
    land = d["land_area_ha"]
    land_ha = float(land.fillna(0).sum())
    no_area = int(land.isna().sum())
    homes = math.floor(land_ha * st.homes_per_ha + 1e-9)
    if st.jobs is not None:
        jobs, jobs_basis = float(st.jobs), "given in the finance settings"
    elif d["jobs"].notna().any():
        jobs, jobs_basis = float(d["jobs"].fillna(0).sum()), "sum of the disposed sites' jobs column"
    else:
        jobs, jobs_basis = None, "not given"
    yearly = float(d["running_cost_saved_gbp_per_year"].sum())
    total_saved = float(schedule.cash_flow["running_cost_saved_gbp"].sum())
    floor = d["gia_m2"].where(d["gia_m2"].notna(), d["capacity_m2"])
    rows = [
        ("Capital receipts (gross)", capital, "GBP",
         f"sale proceeds of the disposed sites, excluding {len(small)} receipt(s) below £{st.de_minimis_gbp:,.0f}"),
        ("Small receipts below the de minimis", float(small["gross_receipt_gbp"].sum()), "GBP",
         DE_MINIMIS_SOURCE + "; flagged in the disposal schedule"),
        ("Net capital receipts", float(d["net_receipt_gbp"].sum()), "GBP", "gross receipts less disposal costs"),
        ("Running-cost savings a year (all sales complete)", yearly, "GBP/year",
         "running costs of the disposed sites"),
        (f"Running-cost savings to the horizon (year {plan.horizon_years})", total_saved, "GBP",
         "each site's running cost from the year after its sale"),
        ("Sites released", float(len(d)), "sites", ""),
        ("Floor area released", float(floor.fillna(0).sum()), "m2", "GIA of the disposed sites (capacity where GIA is missing)"),
        ("Land released", land_ha, "ha",
         "land_area_ha of the disposed sites" + (f"; {no_area} site(s) with no land area count as 0" if no_area else "")),
        ("Homes the land could take", float(homes), "homes",
         f"land released x {st.homes_per_ha:g} dwellings per hectare ({HOMES_DENSITY_BASIS})"),
        ("Jobs", jobs, "jobs", jobs_basis),
    ]
    return pd.DataFrame(rows, columns=["measure", "value", "unit", "basis"])


# ------------------------------------------------------------------ sensitivity


SENSITIVITY_CASES = (
    ("Base case", 1.0, 1.0, 1.0),
    ("Values 20% lower", 0.8, 1.0, 1.0),
    ("Values 20% higher", 1.2, 1.0, 1.0),
    ("Costs 20% lower", 1.0, 0.8, 1.0),
    ("Costs 20% higher", 1.0, 1.2, 1.0),
    ("Values 20% lower and costs 20% higher", 0.8, 1.2, 1.0),
    ("Values 20% higher and costs 20% lower", 1.2, 0.8, 1.0),
)


def sensitivity(plan: Plan, settings: FinanceSettings | None = None, change: float = 0.2) -> pd.DataFrame:
    """NPV and receipts with market values and costs ``change`` lower and higher, each case a
    full recomputation of the schedule (a receipts cap may move sales) with the plan's
    decisions fixed. Costs = disposal, exit, fit-out, move, optimism bias and pair costs;
    running costs and backlog (the savings) are not varied."""
    settings = settings or FinanceSettings()
    rows = []
    base = None
    for name, v, c, s in SENSITIVITY_CASES:
        v = 1.0 + (v - 1.0) * change / 0.2
        c = 1.0 + (c - 1.0) * change / 0.2
        name = name.replace("20%", f"{change:.0%}")
        sch = build_schedule(plan.scaled(values=v, costs=c, savings=s), settings)
        t = sch.totals
        row = {"case": name, "values_factor": v, "costs_factor": c,
               "gross_receipts_gbp": t["gross_receipts_gbp"], "net_receipts_gbp": t["net_receipts_gbp"],
               "npv_green_book_gbp": sch.npv_green_book_gbp, "npv_constant_gbp": sch.npv_constant_gbp,
               "payback_year": sch.payback_year, "payback_financial_year": sch.label(sch.payback_year)}
        if base is None:
            base = row
        row["npv_green_book_change_gbp"] = row["npv_green_book_gbp"] - base["npv_green_book_gbp"]
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ assumptions


def assumptions(plan: Plan, settings: FinanceSettings) -> pd.DataFrame:
    """Every rate the finance stage used, its value and its source (the Assumptions sheet)."""
    st = settings
    sc = plan.scenario
    defaults_used = set(sc.get("defaults_used") or [])

    def src(key, text):
        return text + (" (scenario default: key not in the scenario file)" if key in defaults_used else "")

    rows = [
        ("First financial year", financial_year_label(0, st.first_year), "",
         "finance setting first_financial_year" if st.first_financial_year is not None
         else "the financial year containing the run date"),
        ("Horizon", plan.horizon_years, "years", src("horizon_years", "scenario horizon_years: running costs counted in years 1..H")),
        ("Discount rate (optimiser, constant)", plan.discount_rate, "per year",
         src("discount_rate", "scenario discount_rate; d(k) = (1+r)^-k (model.md)")),
        ("Green Book discount rate, years 0-30", 0.035, "per year", GREEN_BOOK_SOURCE),
        ("Green Book discount rate, years 31-75", 0.030, "per year", GREEN_BOOK_SOURCE),
        ("Green Book discount rate, years 76-125", 0.025, "per year", GREEN_BOOK_SOURCE),
        ("Optimism bias on fit-out and moves", plan.optimism_bias, "share",
         src("optimism_bias", "scenario optimism_bias; " + OPTIMISM_BIAS_SOURCE)),
        ("Fit-out cost", plan.fit_out_gbp_per_m2, "GBP/m2",
         src("fit_out_gbp_per_m2", "scenario fit_out_gbp_per_m2 (Knight Frank: about £750/m2 outside London)")),
        ("Move cost per FTE", plan.move_gbp_per_fte, "GBP/FTE",
         src("move_gbp_per_fte", "scenario move_gbp_per_fte (no published figure found: an explicit assumption)")),
        ("Disposal cost rate (where a site gives none)", plan.disposal_cost_rate, "share of value",
         src("disposal_cost_rate", "scenario disposal_cost_rate (no published public-sector figure found: an assumption)")),
        ("Recharge for space in another agency's site", plan.recharge_gbp_per_m2_year, "GBP/m2/year",
         src("recharge_gbp_per_m2_year", "scenario recharge_gbp_per_m2_year (model.md rule 7)")),
        ("Partners no worse off (optimiser rule 7)", str(plan.partner_no_worse_off).lower(), "",
         "scenario partner_no_worse_off"),
        ("Market cap: disposals a year", "none" if st.max_disposals_per_year is None else st.max_disposals_per_year,
         "sites/year", "finance setting max_disposals_per_year"),
        ("Market cap: gross receipts a year",
         "none" if st.max_receipts_gbp_per_year is None else st.max_receipts_gbp_per_year, "GBP/year",
         "finance setting max_receipts_gbp_per_year"),
        ("Order of sales under a cap", st.cap_priority, "",
         "net_receipt: largest net receipt first; site_order: the order of the sites table"),
        ("Homes density", st.homes_per_ha, "dwellings/ha", HOMES_DENSITY_BASIS),
        ("Jobs", "not given" if st.jobs is None else st.jobs, "jobs", "finance setting jobs or a sites jobs column"),
        ("Capital receipt de minimis", st.de_minimis_gbp, "GBP", DE_MINIMIS_SOURCE),
        ("Timing", "moves in year 0; sale at end of year max(available_year, 0); savings from the next year",
         "", "docs/finance.md (model.md: year 0 is now, flows at the end of each year)"),
    ]
    return pd.DataFrame(rows, columns=["assumption", "value", "unit", "source"])
