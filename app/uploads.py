"""Uploaded files: size limit, allowed formats, saving them as data, and a column mapping
chosen on screen (written as the mapping TOML of docs/mapping.md, read by the library's
mapped reader).

Safety: only data formats are accepted (CSV/TSV, XLSX, GeoJSON, GeoPackage, and TOML for a
mapping). Nothing is ever unpickled; workbooks are read by openpyxl with ``data_only`` (cached
values: no formula is evaluated) and a workbook holding macros (``vbaProject.bin``, e.g. an
``.xlsm`` renamed) is refused; macros are never run in any case.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import MutableMapping
from pathlib import Path

DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".geojson", ".json", ".gpkg")
MAPPING_SUFFIXES = (".toml",)
REFUSED_SUFFIXES = {
    ".xlsm": "a macro-enabled workbook: macros are not accepted. Fix: save it as .xlsx (Excel Workbook) "
             "or CSV and upload that",
    ".xls": "an old binary Excel file. Fix: save it as .xlsx or CSV and upload that",
    ".xlsb": "a binary Excel file. Fix: save it as .xlsx or CSV and upload that",
    ".pkl": "a Python pickle, which could run code when opened: never accepted. Fix: export the data as CSV",
    ".pickle": "a Python pickle, which could run code when opened: never accepted. Fix: export the data as CSV",
    ".parquet": "not a format the readers take. Fix: export it as CSV or XLSX",
}
DEFAULT_LIMIT_MB = 50.0
SERVER_LIMIT_MB = 200.0  # .streamlit/config.toml server.maxUploadSize: the ceiling


def upload_limit_mb() -> float:
    """The largest file accepted, in MB: ``$PLANNER_MAX_UPLOAD_MB`` (default 50), at most the
    server's ceiling."""
    raw = os.environ.get("PLANNER_MAX_UPLOAD_MB", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_LIMIT_MB
    except ValueError:
        value = DEFAULT_LIMIT_MB
    if not value > 0:
        value = DEFAULT_LIMIT_MB
    return min(value, SERVER_LIMIT_MB)


def safe_name(name: str) -> str:
    """The file's own name (no folders), with only ordinary characters: files are identified by
    name in the register, so the same upload always gets the same name."""
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._ ()+-]+", "_", base).strip(" .") or "upload"
    return base[:150]


def check_upload(name: str, size_bytes: int, limit_mb: float | None = None,
                 allowed: tuple[str, ...] = DATA_SUFFIXES) -> str | None:
    """Why an upload is refused, or None when it may be read."""
    limit_mb = upload_limit_mb() if limit_mb is None else limit_mb
    suffix = Path(name).suffix.lower()
    if suffix in REFUSED_SUFFIXES:
        return f"{name}: {REFUSED_SUFFIXES[suffix]}."
    if suffix not in allowed:
        return (f"{name}: files of type {suffix or '(none)'} are not read. Fix: upload "
                f"{', '.join(allowed)}.")
    if size_bytes > limit_mb * 1024 * 1024:
        return (f"{name} is {size_bytes / 1024 / 1024:,.1f} MB, over the {limit_mb:,.0f} MB limit for uploads. "
                "Fix: split the file, remove columns you do not need, or ask whoever runs the planner to "
                "raise PLANNER_MAX_UPLOAD_MB.")
    return None


def check_saved(path: Path) -> str | None:
    """Checks that need the file's bytes: a workbook with macros, a file that is not what its
    name says."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        if not zipfile.is_zipfile(path):
            return f"{path.name}: not an Excel .xlsx workbook (it is not a zip package). Fix: save it again as .xlsx."
        with zipfile.ZipFile(path) as zf:
            names = [n.lower() for n in zf.namelist()]
        if any(n.endswith("vbaproject.bin") for n in names):
            return (f"{path.name}: the workbook holds macros, which are not accepted. Fix: save it as .xlsx "
                    "(Excel Workbook, no macros) or CSV.")
    if suffix == ".gpkg":
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                return f"{path.name}: not a GeoPackage. Fix: export it again as GeoPackage, or upload a CSV."
    return None


def upload_folder(session: MutableMapping, key: str = "upload_dir") -> Path:
    """This session's folder for uploaded files (``session``: Streamlit's session state): made
    on the first call of a session and the same folder after that. It is a
    ``tempfile.TemporaryDirectory`` held in the session's state, so it is removed, with the
    uploads in it, when Streamlit drops the session's state (its finaliser runs when the
    object is collected) and when the app stops. (The page made a new empty folder on every
    rerun before, and no upload was ever removed: register files left in the system's
    temporary folder for good.)"""
    holder = session.get(key)
    if not isinstance(holder, tempfile.TemporaryDirectory):
        holder = tempfile.TemporaryDirectory(prefix="planner-upload-")
        session[key] = holder
    return Path(holder.name)


def save_upload(data: bytes, name: str, folder: Path) -> Path:
    """Write an upload into ``folder`` under its safe name (a temporary file, then a rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(name)
    tmp = folder / f".{target.name}.part"
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------- a mapping on screen

NOT_MAPPABLE = ("located", "location_source", "source_file", "source_row", "in_analysis", "exclusion_reason",
                "shared_uprn_sites", "gia_repeated", "estimated_fields")


def mappable_columns(table: str) -> list[str]:
    """The planner columns a sheet's column can be mapped to (docs/mapping.md), plus lon/lat."""
    from planner.schema import columns

    cols = [c for c in columns(table) if c not in NOT_MAPPABLE]
    if "easting" in cols:
        cols += ["lon", "lat"]
    return cols


def unit_options(table: str, column: str) -> list[str]:
    """Units a column may be given in (first: the planner's own), empty when it has none."""
    from planner.readers.mapped import UNITS, dimension

    if column in ("lon", "lat"):
        return []
    try:
        dim = dimension(table, column)
    except KeyError:
        return []
    return list(UNITS[dim]) if dim else []


_ALIASES = {
    "site_id": ("assetcode", "sitecode", "propertyref", "propertyreference", "siteref", "id", "ref", "reference"),
    "name": ("propertyname", "sitename", "building", "buildingname"),
    "postcode": ("postcode", "postalcode", "pcode"),
    "gia_m2": ("gia", "giam2", "buildingsize", "grossinternalarea", "floorarea"),
    "easting": ("easting", "x", "geox", "east"),
    "northing": ("northing", "y", "geoy", "north"),
    "lon": ("lon", "longitude", "lng", "long"),
    "lat": ("lat", "latitude"),
    "building_type": ("use", "type", "buildingtype", "propertytype"),
    "running_cost_gbp": ("runningcost", "runningcosts", "annualcost"),
    "market_value_gbp": ("marketvalue", "value", "valuation"),
}


def suggest_columns(headers: list[str], table: str) -> dict[str, str]:
    """A first guess of the mapping: a header whose letters and digits equal the planner
    column's (or a common alias of it), else one that starts with such a name of at least
    three letters ("GIA (sq ft)" for gia_m2)."""
    from planner.readers.base import normalise_header

    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(normalise_header(h), h)
    out: dict[str, str] = {}
    used: set[str] = set()
    wanted = mappable_columns(table)

    def keys_of(col: str) -> list[str]:
        keys = [normalise_header(col), normalise_header(col.replace("_gbp", "").replace("_m2", "").replace("_ha", ""))]
        return keys + list(_ALIASES.get(col, ()))

    for exact in (True, False):
        for col in wanted:
            if col in out:
                continue
            for key in keys_of(col):
                if exact:
                    h = by_norm.get(key)
                else:
                    h = next((h for n, h in by_norm.items() if len(key) >= 3 and n.startswith(key)), None)
                if h is not None and h not in used:
                    out[col] = h
                    used.add(h)
                    break
    return out


_UNIT_HINTS = (("sqft", "ft2"), ("ft2", "ft2"), ("squarefeet", "ft2"), ("acre", "acre"), ("hectare", "ha"),
               ("mgbp", "mgbp"), ("£m", "mgbp"), ("£000", "kgbp"), ("£k", "kgbp"), ("kgbp", "kgbp"), ("km", "km"),
               ("mile", "mile"))


def suggest_unit(table: str, column: str, header: str) -> str | None:
    """The unit a heading names ("GIA (sq ft)" -> ft2, "Cost (£k pa)" -> kgbp), if it is one the
    column may take; else the planner's own unit."""
    options = unit_options(table, column)
    if not options:
        return None
    h = str(header).lower().replace(" ", "")
    for hint, unit in _UNIT_HINTS:
        if hint in h and unit in options:
            return unit
    return options[0]


def _toml_str(v: str) -> str:
    return json.dumps(str(v), ensure_ascii=False)


def mapping_toml(table: str, columns: dict[str, str], units: dict[str, str] | None = None,
                 crs: str = "auto", agency: str | None = None, defaults: dict | None = None) -> str:
    """The mapping file (docs/mapping.md) for the choices made on screen."""
    lines = ["# Column mapping made in the planner app (see docs/mapping.md)", "[file]",
             f"table = {_toml_str(table)}", f"crs = {_toml_str(crs)}"]
    if agency:
        lines.append(f"agency = {_toml_str(agency)}")
    lines += ["", "[columns]"]
    lines += [f"{col} = {_toml_str(head)}" for col, head in columns.items() if head]
    chosen = {c: u for c, u in (units or {}).items() if u and c in columns}
    if chosen:
        lines += ["", "[units]"] + [f"{c} = {_toml_str(u)}" for c, u in chosen.items()]
    if defaults:
        lines += ["", "[defaults]"]
        for c, v in defaults.items():
            lines.append(f"{c} = {'true' if v is True else 'false' if v is False else _toml_str(v)}")
    return "\n".join(lines) + "\n"
