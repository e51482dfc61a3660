"""Scenario settings for the optimiser: every key of ../shared/spec/model.md (version 1), with
its type, unit, default and allowed range.

A scenario is a TOML file::

    horizon_years = 25
    discount_rate = 0.035          # 3.5% a year (Green Book)
    optimism_bias = 0.24
    fit_out_gbp_per_m2 = 750
    move_gbp_per_fte = 1000
    max_move_m = 5000
    disposal_cost_rate = 0.02
    capex_budget_gbp = 2_000_000   # optional
    max_disposals = 10             # optional
    dispose_site_ids = ["C12"]
    keep_site_ids = ["TOWN_HALL"]
    recharge_gbp_per_m2_year = 0
    partner_no_worse_off = false

    [access]                       # service_type = distance in metres
    library = 2000

    [sharing]                      # HOST = [GUEST, ...]
    council = ["nhs", "police"]

Unknown keys, values of the wrong type and impossible values (a negative distance, a
discount rate of 3.5 where 0.035 was meant) are refused, all at once, with the key's name and
what is expected. Keys left out take the defaults below (``KEYS``); ``Scenario.defaults_used``
lists them so that a report can say so.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import ScenarioError
from planner.schema import parse_bool


@dataclass(frozen=True)
class Key:
    """One scenario key: its kind, unit, default, allowed range and meaning."""

    name: str
    kind: str  # int | float | bool | ids | access | sharing
    unit: str
    default: Any
    low: float | None = None
    high: float | None = None
    optional: bool = False  # no default: the rule is off when the key is left out
    percent_hint: bool = False  # a value above ``high`` is probably a percentage
    description: str = ""


KEYS: dict[str, Key] = {k.name: k for k in [
    Key("horizon_years", "int", "years", 25, 1, 200,
        description="H: number of years of running costs counted (years 1..H)"),
    Key("discount_rate", "float", "per year", 0.035, 0.0, 0.2, percent_hint=True,
        description="r: real discount rate; 0.035 = the Green Book's 3.5% a year"),
    Key("optimism_bias", "float", "share", 0.24, 0.0, 2.0, percent_hint=True,
        description="uplift on fit-out and move costs; 0.24 = the Green Book upper bound for standard buildings"),
    Key("fit_out_gbp_per_m2", "float", "GBP/m2", 750.0, 0.0, None,
        description="f: fitting out space for a service that moves in (about £750/m2 outside London, Knight Frank)"),
    Key("move_gbp_per_fte", "float", "GBP/FTE", 1000.0, 0.0, None,
        description="m: cost of moving one member of staff (no published figure found: an explicit assumption)"),
    Key("max_move_m", "float", "m", 5000.0, 0.0, None,
        description="furthest a service may move, for services with no max_move_m of their own"),
    Key("disposal_cost_rate", "float", "share of value", 0.02, 0.0, 1.0, percent_hint=True,
        description="sale fees and costs as a share of market value, for sites with no disposal_cost_gbp"),
    Key("capex_budget_gbp", "float", "GBP", None, 0.0, None, optional=True,
        description="limit on the one-off spend of all moves (rule 4); left out: no limit"),
    Key("max_disposals", "int", "sites", None, 0, None, optional=True,
        description="limit on the number of sites disposed (rule 5); left out: no limit"),
    Key("dispose_site_ids", "ids", "", (),
        description="sites that must be disposed (forced disposals)"),
    Key("keep_site_ids", "ids", "", (),
        description="sites that must be kept (forced keeps)"),
    Key("recharge_gbp_per_m2_year", "float", "GBP/m2/year", 0.0, 0.0, None,
        description="yearly charge a host agency receives for each m2 another agency's service takes in its sites (rule 7)"),
    Key("partner_no_worse_off", "bool", "", False,
        description="rule 7: every agency's own net present value must be at least 0"),
    Key("access", "access", "m", {},
        description="table: service_type = distance in metres (rule 6)"),
    Key("sharing", "sharing", "", None,
        description="table: HOST = [GUEST, ...]; left out: every agency may host every other"),
]}


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Agency and service-type names are compared case-insensitively."""

    horizon_years: int = 25
    discount_rate: float = 0.035
    optimism_bias: float = 0.24
    fit_out_gbp_per_m2: float = 750.0
    move_gbp_per_fte: float = 1000.0
    max_move_m: float = 5000.0
    disposal_cost_rate: float = 0.02
    capex_budget_gbp: float | None = None
    max_disposals: int | None = None
    dispose_site_ids: tuple[str, ...] = ()
    keep_site_ids: tuple[str, ...] = ()
    recharge_gbp_per_m2_year: float = 0.0
    partner_no_worse_off: bool = False
    access: dict[str, float] = field(default_factory=dict)  # casefolded service type -> metres
    sharing: dict[str, tuple[str, ...]] | None = None  # casefolded host -> casefolded guests
    source: str = ""
    defaults_used: tuple[str, ...] = ()

    # -- derived quantities (model.md, "Derived quantities") --------------------------------
    def d(self, k: float) -> float:
        """Value now of 1 pound in year k: (1 + r)^-k."""
        return (1.0 + self.discount_rate) ** (-k)

    def a(self, k: int) -> float:
        """Value now of 1 pound a year in years k+1 .. H (0 when k >= H)."""
        k = int(k)
        if k >= self.horizon_years:
            return 0.0
        return float(sum(self.d(t) for t in range(k + 1, self.horizon_years + 1)))

    def may_host(self, host_agency: str, guest_agency: str) -> bool:
        """May a site of ``host_agency`` take in a service of ``guest_agency``?"""
        h, g = _key(host_agency), _key(guest_agency)
        if h == g or self.sharing is None:
            return True
        return g in self.sharing.get(h, ())

    def to_dict(self) -> dict:
        """The settings as plain JSON-able values (for summary.json)."""
        out = {name: getattr(self, name) for name in KEYS}
        out["dispose_site_ids"] = list(self.dispose_site_ids)
        out["keep_site_ids"] = list(self.keep_site_ids)
        out["access"] = dict(self.access)
        out["sharing"] = None if self.sharing is None else {k: list(v) for k, v in self.sharing.items()}
        out["defaults_used"] = list(self.defaults_used)
        out["source"] = self.source
        return out


def _key(name: str) -> str:
    return str(name).strip().casefold()


def _where(source: str, key: str) -> str:
    return f"{source}: key {key}" if source else f"key {key}"


def _number(value, key: Key, source: str, errors: list[str], name: str | None = None):
    name = name or key.name
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(f"{_where(source, name)}: expected a number ({key.unit or 'no unit'}), got "
                      f"{type(value).__name__} {value!r}. Fix: write a plain number without quotes, e.g. "
                      f"{name} = {key.default if key.default not in (None, (), {}) else 1}")
        return None
    v = float(value)
    if not math.isfinite(v):
        errors.append(f"{_where(source, name)}: {value!r} is not a finite number. Fix: give a finite value.")
        return None
    if key.kind == "int":
        if v != int(v):
            errors.append(f"{_where(source, name)}: expected a whole number, got {value!r}. "
                          f"Fix: write a whole number, e.g. {name} = {int(v)}")
            return None
        v = int(v)
    if key.low is not None and v < key.low:
        what = "a distance" if key.unit == "m" else "it"
        errors.append(f"{_where(source, name)}: {value!r} is impossible: {what} must be at least {key.low:g}"
                      f" ({key.description}). Fix: give a value >= {key.low:g}.")
        return None
    if key.high is not None and v > key.high:
        hint = ""
        if key.percent_hint:
            hint = (f" It looks like a percentage: write {v / 100:g} for {v:g}%"
                    f" (e.g. 0.035 for 3.5%).")
        errors.append(f"{_where(source, name)}: {value!r} is out of range: expected {key.low:g} to {key.high:g}"
                      f" ({key.description}).{hint} Fix: give a value between {key.low:g} and {key.high:g}.")
        return None
    return v


def scenario_from_dict(data: dict, source: str = "") -> Scenario:
    """Validate a parsed scenario mapping. Every problem is gathered, then one ScenarioError
    names each key and what is expected."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source or 'scenario'}: expected a table of keys, got {type(data).__name__}")
    errors: list[str] = []
    values: dict[str, Any] = {}
    for name in data:
        if name not in KEYS:
            close = difflib.get_close_matches(str(name), list(KEYS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            errors.append(f"{_where(source, name)}: unknown key {name!r}.{hint} Known keys: {', '.join(KEYS)}.")
    for name, key in KEYS.items():
        if name not in data:
            continue
        value = data[name]
        if key.kind in ("int", "float"):
            v = _number(value, key, source, errors)
            if v is not None:
                values[name] = v
        elif key.kind == "bool":
            try:
                b = parse_bool(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else parse_bool(str(value))
            except ValueError:
                b = None
            if b is None:
                errors.append(f"{_where(source, name)}: expected true or false, got {value!r}. "
                              f"Fix: write {name} = true or {name} = false.")
            else:
                values[name] = b
        elif key.kind == "ids":
            if not isinstance(value, list):
                errors.append(f"{_where(source, name)}: expected a list of site ids, got {type(value).__name__} "
                              f"{value!r}. Fix: write {name} = [\"S1\", \"S2\"] (or [] for none).")
                continue
            ids = []
            for v in value:
                if isinstance(v, bool) or not isinstance(v, (str, int)) or str(v).strip() == "":
                    errors.append(f"{_where(source, name)}: {v!r} is not a site id. Fix: write site ids as text, e.g. \"S1\".")
                    continue
                ids.append(str(v).strip())
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                errors.append(f"{_where(source, name)}: site ids listed twice: {', '.join(dup)}. Fix: list each once.")
            values[name] = tuple(dict.fromkeys(ids))
        elif key.kind == "access":
            if not isinstance(value, dict):
                errors.append(f"{_where(source, name)}: expected a table [access] of service_type = distance in "
                              f"metres, got {type(value).__name__}. Fix: write\n[access]\nlibrary = 2000")
                continue
            acc: dict[str, float] = {}
            for t, dist in value.items():
                v = _number(dist, Key(f"access.{t}", "float", "m", 2000, 0.0, None,
                                      description="a service type's access distance in metres"), source, errors)
                if v is not None:
                    if _key(t) in acc:
                        errors.append(f"{_where(source, 'access.' + t)}: service type {t!r} is listed twice (names are not case-sensitive).")
                    acc[_key(t)] = v
            values[name] = acc
        elif key.kind == "sharing":
            if not isinstance(value, dict):
                errors.append(f"{_where(source, name)}: expected a table [sharing] of HOST = [GUEST, ...], got "
                              f"{type(value).__name__}. Fix: write\n[sharing]\ncouncil = [\"nhs\", \"police\"]")
                continue
            sh: dict[str, tuple[str, ...]] = {}
            for host, guests in value.items():
                if not isinstance(guests, list) or not all(isinstance(g, str) and g.strip() for g in guests):
                    errors.append(f"{_where(source, 'sharing.' + host)}: expected a list of agency names, got "
                                  f"{guests!r}. Fix: write {host} = [\"nhs\", \"police\"] (or [] to host only its own).")
                    continue
                sh[_key(host)] = tuple(dict.fromkeys(_key(g) for g in guests))
            values[name] = sh
    # A site in both dispose_site_ids and keep_site_ids is not refused here: by the spec it makes
    # the model infeasible, and the optimiser reports it as such, naming the site and both rules.
    if errors:
        raise ScenarioError(f"The scenario {source or ''} cannot be used ({len(errors)} problem"
                            f"{'s' if len(errors) > 1 else ''}):\n- " + "\n- ".join(errors))
    defaults_used = tuple(n for n, k in KEYS.items() if n not in data and not k.optional and n != "sharing")
    return Scenario(**values, source=source, defaults_used=defaults_used)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot open the scenario file ({exc.strerror}). Fix: check the path.") from exc
    try:
        data = tomllib.loads(text.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: the scenario is not UTF-8 text. Fix: save it as UTF-8.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc}). Fix: check that line; text values need quotes, "
                            f"e.g. dispose_site_ids = [\"S1\"].") from exc
    return scenario_from_dict(data, source=str(path))
