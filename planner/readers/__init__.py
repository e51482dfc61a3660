"""Readers: one per kind of file public bodies publish, each returning a ``ReadResult``.

- ``transparency``: Local Government Transparency Code "land and building assets" files;
- ``eric``: NHS ERIC site returns;
- ``fire``: the Home Office fire station list;
- ``canonical``: the planner's own tables (CSV, XLSX, GeoJSON, GeoPackage);
- ``mapped``: any other spreadsheet through a TOML column-mapping file.

``read_file(path)`` picks the reader from the file's columns unless ``kind`` is given.
"""

from __future__ import annotations

from pathlib import Path

from planner.errors import InputFileError
from planner.postcodes import PostcodeTable
from planner.readers.base import ReadResult, normalise_header, read_raw_table

KINDS = ("auto", "transparency", "eric", "fire", "canonical", "mapped")

__all__ = ["KINDS", "ReadResult", "detect_kind", "read_file"]


def detect_kind(path: str | Path) -> str:
    """Guess the reader from the file's header (or layer) names."""
    path = Path(path)
    if path.suffix.lower() in (".gpkg", ".geojson", ".json", ".shp"):
        return "canonical"
    raw = read_raw_table(path)
    heads = {normalise_header(h) for h in raw.headers}
    if "sitecode" in heads and ({"grossinternalflooraream", "organisationcode"} & heads):
        return "eric"
    if {"stationname", "stationeasting"} <= heads or {"frsfullname", "stationname"} <= heads:
        return "fire"
    if heads & {"siteid", "serviceid", "zoneid"}:
        return "canonical"
    if heads & {"assetcode", "geox", "holdingtype", "tenuretype", "uprn", "propertyname"}:
        return "transparency"
    raise InputFileError(
        f"{path}: no recognisable columns (found: {', '.join(raw.headers[:12])}). Fix: give a Transparency Code, "
        "NHS ERIC, Home Office fire station or planner file, or describe the columns with --mapping MAP.toml "
        "(see docs/mapping.md).")


def read_file(path: str | Path, kind: str = "auto", agency: str | None = None,
              postcodes: PostcodeTable | None = None, mapping: str | Path | None = None,
              locations: str | Path | None = None) -> ReadResult:
    """Read one file into canonical tables. ``agency`` names the owning body for readers whose
    files do not say it (transparency: council, eric: nhs, fire: fire by default).
    ``locations`` (ERIC only: ERIC has no coordinates) is a CSV/XLSX of site_code with
    easting/northing (EPSG:27700) or postcode."""
    path = Path(path)
    if kind not in KINDS:
        raise InputFileError(f"unknown reader {kind!r}. Fix: use one of {', '.join(KINDS)}.")
    if mapping is not None:
        kind = "mapped"
    if kind == "auto":
        kind = detect_kind(path)
    if kind == "transparency":
        from planner.readers.transparency import read_transparency
        return read_transparency(path, agency=agency or "council", postcodes=postcodes)
    if kind == "eric":
        from planner.readers.eric import read_eric
        return read_eric(path, agency=agency or "nhs", postcodes=postcodes, locations=locations)
    if kind == "fire":
        from planner.readers.fire import read_fire_stations
        return read_fire_stations(path, agency=agency or "fire", postcodes=postcodes)
    if kind == "canonical":
        from planner.readers.canonical import read_canonical
        return read_canonical(path, agency=agency, postcodes=postcodes)
    if mapping is None:
        raise InputFileError(f"{path}: the mapped reader needs a mapping file. Fix: pass --mapping MAP.toml (see docs/mapping.md).")
    from planner.readers.mapped import read_mapped
    return read_mapped(path, mapping, agency=agency, postcodes=postcodes)
