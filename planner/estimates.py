"""Estimates for what the open data does not say, from published rates by building type.

The rates live in a TOML file (the sample place's is ``data/estimates.toml``): each one has a
``value``, a ``unit``, a ``source`` and, where no published figure was found, ``assumption =
true``. ``load_estimates`` reads and checks the file (every problem at once); the ``fill_*``
functions apply it, vectorised, to the canonical tables:

- ``fill_site_estimates``: gives a land holding (no building) ``capacity_m2 = 0``; for a
  building fills an empty ``gia_m2`` with
  the typical floor area of its type, ``capacity_m2`` with ``NIA_TO_GIA x`` floor area,
  ``running_cost_gbp`` with a rate per m2 (or per property) times a share by tenure detail
  (vacant, leasehold out), ``market_value_gbp`` with a rate per m2 (or per property) for a
  freehold and 0 for a leasehold (``model.md``), and ``disposal_cost_gbp`` with the disposal
  cost rate times the market value (when ``[disposal] fill`` is true);
- ``fill_service_estimates``: fills an empty ``fte`` from ``space_m2`` and the m2 per FTE of
  the service type, and an empty ``movable`` from the ``[policy] immovable`` list.

A value already present (read from a file) is never replaced. Every value filled is listed in
the record's ``estimated_fields`` (``planner.schema.mark_estimated``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputFileError
from planner.schema import NIA_TO_GIA, mark_estimated

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "estimates.toml"

# The rate tables the sample builder uses; any other table of inline {value, source} entries
# is read too (and documented), so a user may add rates.
RATE_TABLES = (
    "running_cost_gbp_per_m2", "running_cost_gbp_per_property", "running_cost_share",
    "market_value_gbp_per_m2", "market_value_gbp_per_property", "disposal_cost_rate",
    "typical_gia_m2", "gp", "fire", "space_utilisation", "secondary_service_m2", "min_service_m2",
    "m2_per_fte",
)
NOT_RATES = ("meta", "policy", "disposal")
LAND_TYPES = ("open_space", "car_park", "land")

__all__ = ["DEFAULT_PATH", "Estimates", "Rate", "fill_service_estimates", "fill_site_estimates",
           "is_building", "load_estimates"]


@dataclass(frozen=True)
class Rate:
    """One rate of the estimates file."""

    table: str
    key: str
    value: float
    unit: str
    source: str
    assumption: bool = False

    @property
    def name(self) -> str:
        return f"{self.table}.{self.key}"


@dataclass(frozen=True)
class Estimates:
    """The rates and policy tables of an estimates file."""

    path: str
    rates: dict[tuple[str, str], Rate]
    policy: dict = field(default_factory=dict)
    fill_disposal_cost: bool = True

    def rate_list(self) -> list[Rate]:
        return list(self.rates.values())

    def has(self, table: str, key: str) -> bool:
        return (table, key) in self.rates

    def value(self, table: str, key: str = "all", use_default: bool = True) -> float:
        """The rate ``table.key`` (or ``table.default``); KeyError if neither exists."""
        if (table, key) in self.rates:
            return self.rates[(table, key)].value
        if use_default and (table, "default") in self.rates:
            return self.rates[(table, "default")].value
        raise KeyError(f"{self.path}: no rate {table}.{key} (and no {table}.default)")

    def table(self, table: str) -> dict[str, float]:
        return {k: r.value for (t, k), r in self.rates.items() if t == table}

    def lookup(self, table: str, keys: pd.Series, use_default: bool = True) -> pd.Series:
        """Vectorised: the rate for each key (``default`` for keys not listed, NA without one)."""
        rates = self.table(table)
        out = keys.astype("string").map(rates).astype("Float64")
        if use_default and "default" in rates:
            out = out.fillna(rates["default"])
        return out

    def service_type_for(self, building_types: pd.Series) -> pd.Series:
        mapping = self.policy.get("service_type_by_building_type", {})
        return building_types.astype("string").map(mapping).astype("string")

    def movable(self, service_types: pd.Series) -> pd.Series:
        immovable = set(self.policy.get("immovable", {}))
        return pd.Series(~service_types.astype("string").fillna("").isin(immovable).to_numpy(),
                         index=service_types.index, dtype="boolean")

    def receives(self, building_types: pd.Series) -> pd.Series:
        no = set(self.policy.get("no_receive", {}))
        return pd.Series(~building_types.astype("string").fillna("").isin(no).to_numpy(),
                         index=building_types.index, dtype="boolean")


def load_estimates(path: str | Path | None = None) -> Estimates:
    """Read and check an estimates TOML file; raise one ``InputFileError`` listing every problem."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the estimates file ({exc.strerror}). Fix: check the path.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{path}: not valid TOML ({exc}). Fix: correct the syntax at that line.") from exc
    problems: list[str] = []
    rates: dict[tuple[str, str], Rate] = {}
    for table, body in data.items():
        if table in NOT_RATES:
            continue
        if not isinstance(body, dict):
            problems.append(f"[{table}] should be a table of rates")
            continue
        table_unit = body.get("unit", "")
        for key, entry in body.items():
            if key == "unit":
                continue
            where = f"{table}.{key}"
            if not isinstance(entry, dict):
                problems.append(f"{where}: write it as {{ value = ..., source = \"...\" }}")
                continue
            value = entry.get("value")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                problems.append(f"{where}: value {value!r} is not a number of 0 or more")
                continue
            source = str(entry.get("source", "")).strip()
            if not source:
                problems.append(f"{where}: no source (say where the figure comes from, or that it is an assumption)")
            unit = str(entry.get("unit", table_unit)).strip()
            if not unit:
                problems.append(f"{where}: no unit (give `unit` in the entry or for the table)")
            assumption = entry.get("assumption", False)
            if not isinstance(assumption, bool):
                problems.append(f"{where}: assumption must be true or false")
                assumption = bool(assumption)
            if assumption and "assumption" not in source.lower():
                problems.append(f"{where}: an assumption's source must say it is an assumption")
            rates[(table, key)] = Rate(table, key, float(value), unit, source, assumption)
    for table in RATE_TABLES:
        if not any(t == table for t, _ in rates):
            problems.append(f"[{table}] is missing (the sample builder needs it)")
    policy = data.get("policy", {})
    if not isinstance(policy, dict):
        problems.append("[policy] should be a table")
        policy = {}
    fill = data.get("disposal", {}).get("fill", True)
    if not isinstance(fill, bool):
        problems.append("[disposal] fill must be true or false")
        fill = True
    if problems:
        raise InputFileError(f"{path}: {len(problems)} problem(s) in the estimates file:\n  - " + "\n  - ".join(problems)
                             + "\nFix: correct these entries (see the comments at the top of the file).")
    return Estimates(str(path), rates, policy, fill)


def _text(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series("", index=df.index, dtype="string")
    return df[col].astype("string").fillna("").str.strip().str.lower()


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype="Float64")
    return pd.to_numeric(df[col], errors="coerce").astype("Float64")


def is_building(sites: pd.DataFrame) -> pd.Series:
    """True for a building record (not a land-only holding, car park or open space)."""
    holding = _text(sites, "holding_type")
    btype = _text(sites, "building_type")
    return (holding != "land") & ~btype.isin(LAND_TYPES) & (btype != "")


def fill_site_estimates(sites: pd.DataFrame, est: Estimates, floor_area: pd.Series | None = None) -> pd.DataFrame:
    """Fill the empty estimable columns of building records (see the module docstring).

    ``floor_area`` (aligned with ``sites``) is the floor area the rates apply to, when it is not
    ``gia_m2`` (e.g. one part's share of a site total the register repeats on every part).
    Returns a new frame."""
    df = sites.copy()
    for col in ("gia_m2", "capacity_m2", "running_cost_gbp", "market_value_gbp", "disposal_cost_gbp"):
        df[col] = _num(df, col)
    if "estimated_fields" not in df.columns:
        df["estimated_fields"] = pd.Series("", index=df.index, dtype="string")
    building = is_building(df)
    btype = df["building_type"].astype("string").fillna("")

    # floor area
    need = building & df["gia_m2"].isna()
    df.loc[need, "gia_m2"] = est.lookup("typical_gia_m2", btype[need])
    df = mark_estimated(df, "gia_m2", need & df["gia_m2"].notna())
    area = df["gia_m2"].copy()
    if floor_area is not None:
        fa = pd.to_numeric(pd.Series(floor_area, index=df.index), errors="coerce").astype("Float64")
        area = fa.where(fa.notna(), area)

    need = df["capacity_m2"].isna() & area.notna() & building
    df.loc[need, "capacity_m2"] = (area[need] * NIA_TO_GIA).round(1)
    df = mark_estimated(df, "capacity_m2", need)
    # a land holding (no building) has no floor area for services
    need = df["capacity_m2"].isna() & ~building & df["gia_m2"].isna()
    df.loc[need, "capacity_m2"] = 0.0
    df = mark_estimated(df, "capacity_m2", need)

    # running cost: per property for the types that have such a rate, else per m2; x tenure share
    per_prop = est.lookup("running_cost_gbp_per_property", btype, use_default=False)
    per_m2 = est.lookup("running_cost_gbp_per_m2", btype)
    share = est.lookup("running_cost_share", _text(df, "tenure_detail"), use_default=False).fillna(1.0)
    cost = per_prop.where(per_prop.notna(), per_m2 * area) * share
    need = building & df["running_cost_gbp"].isna() & cost.notna()
    df.loc[need, "running_cost_gbp"] = cost[need].round(0)
    df = mark_estimated(df, "running_cost_gbp", need)

    # market value: freehold by rate, leasehold 0
    tenure = _text(df, "tenure")
    per_prop = est.lookup("market_value_gbp_per_property", btype, use_default=False)
    per_m2 = est.lookup("market_value_gbp_per_m2", btype)
    value = per_prop.where(per_prop.notna(), per_m2 * area)
    value = value.where(tenure != "leasehold", 0.0)
    need = building & df["market_value_gbp"].isna() & tenure.isin(["freehold", "leasehold"]) & value.notna()
    df.loc[need, "market_value_gbp"] = value[need].round(0)
    df = mark_estimated(df, "market_value_gbp", need)

    if est.fill_disposal_cost:
        rate = est.value("disposal_cost_rate", "all")
        need = df["disposal_cost_gbp"].isna() & df["market_value_gbp"].notna() & building
        df.loc[need, "disposal_cost_gbp"] = (df.loc[need, "market_value_gbp"] * rate).round(0)
        df = mark_estimated(df, "disposal_cost_gbp", need)
    return df


def fill_service_estimates(services: pd.DataFrame, est: Estimates) -> pd.DataFrame:
    """Fill empty ``fte`` (space / m2 per FTE of the type) and ``movable`` (policy). New frame."""
    df = services.copy()
    if "estimated_fields" not in df.columns:
        df["estimated_fields"] = pd.Series("", index=df.index, dtype="string")
    stype = df["service_type"].astype("string").fillna("")
    space = _num(df, "space_m2")
    fte = _num(df, "fte")
    per = est.lookup("m2_per_fte", stype)
    need = fte.isna() & space.notna() & per.notna() & (per > 0)
    fte = fte.copy()
    fte[need] = (space[need] / per[need]).round(1)
    df["fte"] = fte
    df = mark_estimated(df, "fte", need)
    movable = df["movable"].astype("boolean") if "movable" in df.columns else pd.Series(pd.NA, index=df.index, dtype="boolean")
    need = movable.isna()
    df["movable"] = movable.where(~need, est.movable(stype))
    df = mark_estimated(df, "movable", need)
    return df
