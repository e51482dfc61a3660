"""The Scenario page's form: one widget per setting of ``planner.scenario.KEYS`` (and the
finance settings), prefilled from the defaults or a stored scenario, turned back into the
scenario's values and TOML text. Validation is the library's (``scenario_from_dict``)."""

from __future__ import annotations

import json
import tomllib

import pandas as pd
import streamlit as st

from planner.finance import FinanceSettings, current_first_year
from planner.scenario import KEYS

PREFIX = "sc_"
PERCENT_KEYS = ("discount_rate", "optimism_bias", "disposal_cost_rate")
DEFAULT_TIME_LIMIT_S = 60.0
VERSION_KEY = "sc_version"


def k(name: str) -> str:
    return PREFIX + name


def default_values() -> dict:
    """The scenario's values when nothing is chosen: the library's defaults."""
    out = {name: key.default for name, key in KEYS.items()}
    out["dispose_site_ids"] = []
    out["keep_site_ids"] = []
    out["access"] = {}
    out["sharing"] = None
    return out


def widget_state(values: dict, finance: dict | None = None, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S,
                 name: str = "") -> dict:
    """Session-state values of the form's widgets for scenario ``values``."""
    v = {**default_values(), **{x: y for x, y in values.items() if x in KEYS}}
    fin = finance or {}
    st_ = {
        k("name"): name,
        k("horizon_years"): int(v["horizon_years"]),
        k("fit_out_gbp_per_m2"): float(v["fit_out_gbp_per_m2"]),
        k("move_gbp_per_fte"): float(v["move_gbp_per_fte"]),
        k("max_move_m"): float(v["max_move_m"]),
        k("recharge_gbp_per_m2_year"): float(v["recharge_gbp_per_m2_year"]),
        k("partner_no_worse_off"): bool(v["partner_no_worse_off"]),
        k("budget_on"): v["capex_budget_gbp"] is not None,
        k("capex_budget_gbp"): float(v["capex_budget_gbp"] or 0.0),
        k("max_disposals_on"): v["max_disposals"] is not None,
        k("max_disposals"): int(v["max_disposals"] or 0),
        k("dispose_site_ids"): list(v["dispose_site_ids"] or []),
        k("keep_site_ids"): list(v["keep_site_ids"] or []),
        k("sharing_mode"): "any" if v["sharing"] is None else "choose",
        k("time_limit_on"): time_limit_s is not None,
        k("time_limit_s"): float(time_limit_s or DEFAULT_TIME_LIMIT_S),
        k("first_financial_year"): int(fin.get("first_financial_year") or current_first_year()),
        k("cap_disposals_on"): fin.get("max_disposals_per_year") is not None,
        k("max_disposals_per_year"): int(fin.get("max_disposals_per_year") or 5),
        k("cap_receipts_on"): fin.get("max_receipts_gbp_per_year") is not None,
        k("max_receipts_gbp_per_year"): float(fin.get("max_receipts_gbp_per_year") or 10_000_000.0),
        k("homes_per_ha"): float(fin.get("homes_per_ha") if fin.get("homes_per_ha") is not None else 35.0),
    }
    for p in PERCENT_KEYS:
        st_[k(p)] = round(float(v[p]) * 100.0, 6)
    st_["_access"] = dict(v["access"] or {})
    st_["_sharing"] = None if v["sharing"] is None else {h: list(g) for h, g in v["sharing"].items()}
    return st_


def apply(values: dict, finance: dict | None = None, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S,
          name: str = "") -> None:
    """Put ``values`` into the form (also resets the access and sharing tables)."""
    ws = widget_state(values, finance, time_limit_s, name)
    st.session_state[k("access_init")] = ws.pop("_access")
    st.session_state[k("sharing_init")] = ws.pop("_sharing")
    for key, val in ws.items():
        st.session_state[key] = val
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def ensure_initialised() -> None:
    if k("horizon_years") not in st.session_state:
        apply(default_values())


def from_stored(record: dict) -> tuple[dict, dict, float | None]:
    """(scenario values, finance settings, time limit) of a stored scenario's record."""
    text = str(record.get("scenario_toml") or "")
    try:
        values = tomllib.loads(text) if text.strip() else {}
    except tomllib.TOMLDecodeError:
        values = {}
    if not values:
        values = {x: y for x, y in json.loads(record.get("scenario_json") or "{}").items() if x in KEYS}
    finance = json.loads(record.get("finance_json") or "{}")
    meta = json.loads(record.get("meta_json") or "{}")
    limit = meta.get("time_limit_s")
    return values, finance, (None if limit in (None, "") else float(limit))


def access_frame(service_types: list[str]) -> pd.DataFrame:
    """The access table the form edits: one row per service type of the register."""
    init = {str(t).casefold(): float(d) for t, d in (st.session_state.get(k("access_init")) or {}).items()}
    types = sorted(set(service_types) | set(init))
    return pd.DataFrame({"service_type": types,
                         "keep_access": [t.casefold() in init for t in types],
                         "distance_m": [init.get(t.casefold(), 2000.0) for t in types]})


def sharing_frame(agencies: list[str]) -> pd.DataFrame:
    """Host agencies (rows) x guest agencies (columns): may the host's sites take the guest's
    services in? An agency always hosts its own."""
    init = st.session_state.get(k("sharing_init"))
    rows = []
    for h in agencies:
        guests = None if init is None else {g.casefold() for g in init.get(h.casefold(), [])}
        rows.append({"host": h, **{g: (g == h) or (guests is None) or (g.casefold() in guests) for g in agencies}})
    return pd.DataFrame(rows)


def values_from_widgets(access: pd.DataFrame, sharing: pd.DataFrame | None) -> dict:
    """The scenario's values from the submitted form (before the library validates them)."""
    s = st.session_state
    out = {
        "horizon_years": int(s[k("horizon_years")]),
        "fit_out_gbp_per_m2": float(s[k("fit_out_gbp_per_m2")]),
        "move_gbp_per_fte": float(s[k("move_gbp_per_fte")]),
        "max_move_m": float(s[k("max_move_m")]),
        "recharge_gbp_per_m2_year": float(s[k("recharge_gbp_per_m2_year")]),
        "partner_no_worse_off": bool(s[k("partner_no_worse_off")]),
        "dispose_site_ids": list(s[k("dispose_site_ids")]),
        "keep_site_ids": list(s[k("keep_site_ids")]),
    }
    for p in PERCENT_KEYS:
        out[p] = float(s[k(p)]) / 100.0
    if s[k("budget_on")]:
        out["capex_budget_gbp"] = float(s[k("capex_budget_gbp")])
    if s[k("max_disposals_on")]:
        out["max_disposals"] = int(s[k("max_disposals")])
    acc = access[access["keep_access"].fillna(False).astype(bool)]
    out["access"] = {str(r.service_type): float(r.distance_m) for r in acc.itertuples(index=False)
                     if pd.notna(r.distance_m)}
    if sharing is not None and s[k("sharing_mode")] == "choose":
        share = {}
        for r in sharing.to_dict("records"):
            host = str(r["host"])
            share[host] = [g for g, ok in r.items() if g != "host" and g != host and bool(ok)]
        out["sharing"] = share
    return out


def finance_from_widgets() -> FinanceSettings:
    s = st.session_state
    return FinanceSettings(
        first_financial_year=int(s[k("first_financial_year")]),
        max_disposals_per_year=int(s[k("max_disposals_per_year")]) if s[k("cap_disposals_on")] else None,
        max_receipts_gbp_per_year=float(s[k("max_receipts_gbp_per_year")]) if s[k("cap_receipts_on")] else None,
        homes_per_ha=float(s[k("homes_per_ha")]),
    )


def time_limit() -> float | None:
    s = st.session_state
    return float(s[k("time_limit_s")]) if s[k("time_limit_on")] else None


def scenario_toml(values: dict) -> str:
    """The scenario as TOML text (what is stored with the scenario and keys the solve cache)."""
    from planner.scenarios import scenario_toml_from_values

    clean = {x: (list(y) if isinstance(y, tuple) else y) for x, y in values.items()}
    return scenario_toml_from_values(clean)
