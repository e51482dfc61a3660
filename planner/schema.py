"""The register's data model: every table's columns, their types, units and meaning.

This module is the single source of the canonical column names. Readers produce frames
with these columns (``conform``), the store writes them, and ``docs/data-model.md`` documents
them (a test checks that every column here is documented there).

Kinds: ``str`` (text, kept as text: UPRNs keep their leading zeros), ``float``, ``int``
(nullable), ``bool`` (nullable), ``date`` (ISO text YYYY-MM-DD).

Coordinates are British National Grid (EPSG:27700) metres in ``easting``/``northing``; the
GeoPackage layers carry point geometry in EPSG:27700 built from them.

Provenance: every record carries ``source_file`` and ``source_row`` (the spreadsheet row, header
= 1), and ``estimated_fields``: the ``;``-separated names of the columns whose values were
estimated rather than read (see ``planner.schema.mark_estimated``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CRS_BNG = "EPSG:27700"
CRS_WGS84 = "EPSG:4326"

AGENCIES = ("council", "nhs", "police", "fire")  # the usual partners; any other name is allowed

CONDITION_GRADES = ("A", "B", "C", "D")  # A as new .. D bad, at risk of failure
ENERGY_RATINGS = ("A+", "A", "B", "C", "D", "E", "F", "G")
BACKLOG_RISKS = ("high", "significant", "moderate", "low")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # str | float | int | bool | date
    unit: str
    description: str
    source: str = ""  # where it usually comes from
    spec: bool = False  # fixed by ../shared/spec/model.md


def _c(name, kind, unit, description, source="", spec=False):
    return Column(name, kind, unit, description, source, spec)


PROVENANCE = [
    _c("estimated_fields", "str", "", "`;`-separated names of the columns in this record whose values were estimated, not read", "readers and the sample-place builder"),
    _c("illustrative", "bool", "", "true for a record that is made up for illustration (e.g. Trafford's police sites); shown as such everywhere", "sample-place builder"),
    _c("source_file", "str", "", "name of the file the record was read from", "readers"),
    _c("source_row", "int", "row", "the record's row in that file as a spreadsheet shows it (header = 1)", "readers"),
]

SITE_COLUMNS: list[Column] = [
    _c("site_id", "str", "", "unique id of the site (building or land asset) in the register", "AssetCode, ERIC Site Code, station code", spec=True),
    _c("name", "str", "", "property name", "PropertyName, Site Name"),
    _c("address", "str", "", "street address on one line", "StreetNumber + StreetName + PostTown"),
    _c("postcode", "str", "", "postcode as published, normalised to upper case with one space (may be outward-only, e.g. M31)", "PostCode"),
    _c("uprn", "str", "", "Unique Property Reference Number, as text with leading zeros kept", "UPRN"),
    _c("agency", "str", "", "owning body: council, nhs, police, fire or another name", "import --agency", spec=True),
    _c("occupier_agency", "str", "", "main occupying body, when not the owner", "TenureDetail, service records"),
    _c("building_type", "str", "", "use of the building: office, library, leisure, gp, hospital, mental_health, fire_station, police_station, jobcentre, depot, community, education, care, car_park, open_space, other", "OtherDetail, source type"),
    _c("holding_type", "str", "", "Transparency Code holding: Land, Buildings or Land/Buildings", "HoldingType"),
    _c("tenure", "str", "", "freehold or leasehold", "TenureType"),
    _c("tenure_detail", "str", "", "owner occupied, vacant, leasehold in, leasehold out, other", "TenureDetail"),
    _c("gia_m2", "float", "m2", "gross internal floor area", "BuildingSize, ERIC GIA"),
    _c("capacity_m2", "float", "m2", "floor area services may occupy; if not given, 0.8 x gia_m2 (net-to-gross rule, estimated)", "loader rule", spec=True),
    _c("land_area_ha", "float", "ha", "site area", "LandArea, ERIC land area"),
    _c("condition", "str", "", "condition grade A (as new) to D (bad, at risk of failure)", "condition survey"),
    _c("backlog_high_gbp", "float", "GBP", "cost to eradicate high-risk backlog maintenance", "ERIC"),
    _c("backlog_significant_gbp", "float", "GBP", "cost to eradicate significant-risk backlog", "ERIC"),
    _c("backlog_moderate_gbp", "float", "GBP", "cost to eradicate moderate-risk backlog", "ERIC"),
    _c("backlog_low_gbp", "float", "GBP", "cost to eradicate low-risk backlog", "ERIC"),
    _c("backlog_gbp", "float", "GBP", "one-off cost of bringing the site to condition B, spent now if it is kept (sum of the risk categories when given)", "ERIC, estimate", spec=True),
    _c("functional_suitability_pct", "float", "%", "share of occupied floor area that is functionally suitable", "ERIC (100 - not functionally suitable %)"),
    _c("empty_floor_pct", "float", "%", "share of floor area empty", "ERIC"),
    _c("underused_floor_pct", "float", "%", "share of floor area under-used", "ERIC"),
    _c("energy_rating", "str", "", "energy rating band A+ to G", "EnergyRating"),
    _c("energy_rating_type", "str", "", "DEC (display energy certificate) or EPC", "EnergyRating"),
    _c("listed_status", "str", "", "listed building grade (I, II*, II) or empty", "Historic England list"),
    _c("lease_expiry", "date", "date", "lease end date (leasehold in)", "lease schedule"),
    _c("lease_break", "date", "date", "next tenant break date", "lease schedule"),
    _c("running_cost_gbp", "float", "GBP/year", "yearly cost of holding the building (rent, rates, energy, FM, maintenance)", "ERIC costs, estimate", spec=True),
    _c("market_value_gbp", "float", "GBP", "gross receipt if sold (0 for leasehold)", "valuation, estimate", spec=True),
    _c("disposal_cost_gbp", "float", "GBP", "fees and costs of a sale; empty = scenario disposal_cost_rate x market value", "estimate", spec=True),
    _c("exit_cost_gbp", "float", "GBP", "cost of leaving a lease (surrender, dilapidations)", "lease schedule", spec=True),
    _c("available_year", "int", "year", "first year (0 = now) the site can be vacated", "lease break", spec=True),
    _c("locked", "bool", "", "must be kept", "planner", spec=True),
    _c("can_receive", "bool", "", "may take in services from other sites", "planner", spec=True),
    _c("accepts", "str", "", "`;`-separated service types it may take in (empty: any)", "planner", spec=True),
    _c("easting", "float", "m", "British National Grid easting (EPSG:27700)", "GeoX/GeoY, postcode centroid", spec=True),
    _c("northing", "float", "m", "British National Grid northing (EPSG:27700)", "GeoX/GeoY, postcode centroid", spec=True),
    _c("location_source", "str", "", "how the point was found: published_bng, published_wgs84, swapped_wgs84 (lat/lon were swapped and fixed), postcode_centroid, given, unlocated", "readers"),
    _c("located", "bool", "", "has a usable point inside Great Britain; unlocated records stay in the register but off the map and out of the optimiser", "readers"),
    _c("in_analysis", "bool", "", "false when an error excludes the record from scoring and optimising (it stays in the register)", "validation"),
    _c("exclusion_reason", "str", "", "why the record is excluded from analysis", "validation"),
    _c("shared_uprn_sites", "str", "", "`;`-separated ids of other agencies' sites with the same UPRN (a shared building)", "validation"),
    _c("gia_repeated", "bool", "", "true when this record repeats the gross internal area of an earlier part of the same site (same agency and gia_m2, and the same UPRN, postcode district and name stem, or AssetCode part); totals count that area once", "validation"),
    _c("effective_date", "date", "date", "date the source record was last confirmed", "EffectiveDate"),
    *PROVENANCE,
]

SERVICE_COLUMNS: list[Column] = [
    _c("service_id", "str", "", "unique id of the service (an occupant that may move)", "derived", spec=True),
    _c("site_id", "str", "", "site it occupies now; empty for a service that needs a home", "", spec=True),
    _c("agency", "str", "", "body that runs it", "", spec=True),
    _c("service_type", "str", "", "office, library, gp, neighbourhood_policing, fire_operational, ...", "", spec=True),
    _c("name", "str", "", "service name", ""),
    _c("space_m2", "float", "m2", "floor area it needs (> 0)", "estimate", spec=True),
    _c("fte", "float", "FTE", "staff, for move costs", "estimate", spec=True),
    _c("movable", "bool", "", "may leave its current site", "", spec=True),
    _c("max_move_m", "float", "m", "furthest it may move from where it is now (empty: scenario max_move_m)", "", spec=True),
    _c("easting", "float", "m", "only for a service with no site: where it is needed (EPSG:27700)", "", spec=True),
    _c("northing", "float", "m", "only for a service with no site: where it is needed (EPSG:27700)", "", spec=True),
    _c("in_analysis", "bool", "", "false when an error excludes the service from analysis (it stays in the register)", "validation"),
    _c("exclusion_reason", "str", "", "why the service is excluded from analysis", "validation"),
    *PROVENANCE,
]

ZONE_COLUMNS: list[Column] = [
    _c("zone_id", "str", "", "demand zone code (LSOA 2021)", "ONS", spec=True),
    _c("name", "str", "", "zone name", "ONS"),
    _c("population", "float", "persons", "residents (mid-year estimate)", "ONS mid-2024", spec=True),
    _c("easting", "float", "m", "population-weighted centroid easting (EPSG:27700)", "derived", spec=True),
    _c("northing", "float", "m", "population-weighted centroid northing (EPSG:27700)", "derived", spec=True),
    _c("in_analysis", "bool", "", "false when an error excludes the zone from analysis (it stays in the register)", "validation"),
    _c("exclusion_reason", "str", "", "why the zone is excluded from analysis", "validation"),
    *PROVENANCE,
]

BOUNDARY_COLUMNS: list[Column] = [
    _c("level", "str", "", "borough, ward, lsoa or locality", "ONS"),
    _c("code", "str", "", "ONS code (or locality name)", "ONS"),
    _c("name", "str", "", "area name", "ONS"),
    _c("population", "float", "persons", "residents, where known", "ONS mid-2024"),
]

TABLES: dict[str, list[Column]] = {
    "sites": SITE_COLUMNS,
    "services": SERVICE_COLUMNS,
    "zones": ZONE_COLUMNS,
    "boundaries": BOUNDARY_COLUMNS,
}
ID_COLUMN = {"sites": "site_id", "services": "service_id", "zones": "zone_id"}

# Values used when a column is empty and the spec gives a default (model.md, "if missing").
SPEC_DEFAULTS = {
    "sites": {"running_cost_gbp": 0.0, "backlog_gbp": 0.0, "market_value_gbp": 0.0,
              "exit_cost_gbp": 0.0, "available_year": 0, "locked": False,
              "can_receive": True, "accepts": ""},
    "services": {"fte": 0.0, "movable": True},
}

NIA_TO_GIA = 0.8  # capacity_m2 from gia_m2 when capacity is not given (documented assumption)

_PANDAS_DTYPE = {"str": "string", "float": "Float64", "int": "Int64", "bool": "boolean", "date": "string"}


def columns(table: str) -> list[str]:
    return [c.name for c in TABLES[table]]


def column(table: str, name: str) -> Column:
    for c in TABLES[table]:
        if c.name == name:
            return c
    raise KeyError(f"{table} has no column {name!r}")


def empty_frame(table: str, n: int = 0) -> pd.DataFrame:
    """A frame with every column of ``table`` in its pandas dtype, all missing."""
    return pd.DataFrame({c.name: pd.Series([pd.NA] * n, dtype=_PANDAS_DTYPE[c.kind]) for c in TABLES[table]})


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def parse_bool(value) -> bool | None:
    """true/false, yes/no, 1/0 in any case; None for empty; ValueError for anything else."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    s = str(value).strip().lower()
    if s == "":
        return None
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"not a true/false value: {value!r}")


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return ``df`` with exactly the columns of ``table`` (extra columns are kept after them),
    each cast to its kind. Values that cannot be cast raise ValueError: readers parse and
    report bad values before calling this."""
    out = df.copy()
    for c in TABLES[table]:
        if c.name not in out.columns:
            out[c.name] = pd.Series([pd.NA] * len(out), index=out.index, dtype=_PANDAS_DTYPE[c.kind])
            continue
        s = out[c.name]
        if c.kind == "str" or c.kind == "date":
            out[c.name] = s.astype("object").where(s.notna(), None).map(
                lambda v: None if v is None else str(v)).astype("string")
        elif c.kind == "float":
            out[c.name] = pd.to_numeric(s, errors="raise").astype("Float64")
        elif c.kind == "int":
            out[c.name] = pd.to_numeric(s, errors="raise").astype("Float64").round().astype("Int64")
        elif c.kind == "bool":
            out[c.name] = s.map(parse_bool).astype("boolean")
    names = columns(table)
    extra = [c for c in out.columns if c not in names]
    return out[names + extra]


def mark_estimated(df: pd.DataFrame, column_name: str, mask) -> pd.DataFrame:
    """Add ``column_name`` to ``estimated_fields`` of the rows where ``mask`` is true."""
    mask = pd.Series(mask, index=df.index).fillna(False).astype(bool)
    if "estimated_fields" not in df.columns:
        df["estimated_fields"] = pd.Series([""] * len(df), index=df.index, dtype="string")
    cur = df["estimated_fields"].astype("string").fillna("")

    def add(v: str) -> str:
        parts = [p for p in v.split(";") if p]
        if column_name not in parts:
            parts.append(column_name)
        return ";".join(parts)

    df.loc[mask, "estimated_fields"] = cur[mask].map(add)
    df["estimated_fields"] = df["estimated_fields"].astype("string").fillna("")
    return df


def is_estimated(df: pd.DataFrame, column_name: str) -> pd.Series:
    """Boolean Series: was ``column_name`` estimated in each row?"""
    est = df.get("estimated_fields")
    if est is None:
        return pd.Series(False, index=df.index)
    return est.astype("string").fillna("").map(lambda v: column_name in v.split(";")).astype(bool)


def markdown_tables() -> str:
    """The column tables of ``docs/data-model.md`` (a test checks the doc is up to date)."""
    out = []
    titles = {"sites": "Sites (layer `sites`)", "services": "Services (layer `services`)",
              "zones": "Demand zones (layer `zones`)", "boundaries": "Boundaries (layer `boundaries`)"}
    for table, cols in TABLES.items():
        out.append(f"### {titles[table]}\n")
        out.append("| column | type | unit | meaning | usually from | spec |")
        out.append("|---|---|---|---|---|---|")
        for c in cols:
            out.append(f"| `{c.name}` | {c.kind} | {c.unit} | {c.description} | {c.source} | {'yes' if c.spec else ''} |")
        out.append("")
    return "\n".join(out)


def data_model_markdown() -> str:
    """The whole of ``docs/data-model.md``."""
    from importlib import resources

    head = resources.files("planner").joinpath("data_model_head.md").read_text(encoding="utf-8")
    return head + markdown_tables()


if __name__ == "__main__":  # python -m planner.schema > docs/data-model.md
    print(data_model_markdown(), end="")
