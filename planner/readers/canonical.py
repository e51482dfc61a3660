"""Reader of the planner's own tables: sites, services and zones with the column names of
``planner.schema``, as CSV, XLSX, GeoJSON or GeoPackage.

Which table a file (or sheet, or layer) holds is decided from its id column: ``service_id``
means services (services also carry a ``site_id``), else ``zone_id`` means zones, else
``site_id`` means sites. A GeoPackage may hold layers named ``sites``, ``services`` and
``zones`` (all present are read; other layers are listed in one info problem); an XLSX
workbook may hold sheets with those names (otherwise its first sheet is read). Column names
are matched ignoring case, spaces and underscores (``Site ID`` = ``site_id``).

Coordinates, in this order of preference per row:

- a layer's point geometry (GeoJSON, GeoPackage), reprojected to EPSG:27700 with geopandas;
  a polygon is placed at its representative point (one info problem). A layer with no CRS is
  an error for a GeoPackage; a GeoJSON without CRS is read as EPSG:4326 (RFC 7946) with a warning;
- ``easting``/``northing`` columns, taken as EPSG:27700 metres exactly as written (a value
  outside Great Britain's grid range is kept and warned about: the planner's own tables may
  hold made-up coordinates);
- ``lon``/``lat`` (or ``longitude``/``latitude``) columns in EPSG:4326, converted; the values
  decide per row (swapped latitude/longitude are fixed and warned about, see ``base.locate``);
- a site's full postcode, through the postcode table;
- otherwise the record is kept as unlocated, with one warning (sites and zones). A service
  needs no point unless it has no site; a service with neither is not warned about (the model
  reads it as "any distance").

Values: numbers through ``base.parse_number`` ('1,234', '£5', '12%'), booleans through
``schema.parse_bool`` (true/false, yes/no, 1/0, any case), dates as YYYY-MM-DD or DD/MM/YYYY.
Each bad cell is one error naming the row and column; the cell is left empty and the record
is kept. A record with no id cannot be stored: it is one error and counted as unreadable.
A site or service with no agency takes the ``agency`` argument; if there is none either, each
such record is one error (``missing_agency``). Other value rules (space_m2 > 0, duplicate
ids, ...) are checked by validation, not here. Columns the schema does not know are listed in
one info problem and not stored. ``estimated_fields`` and ``illustrative`` pass through.

Rows of a GeoJSON or GeoPackage layer are numbered as if it were a spreadsheet: the first
feature is row 2. ``build_table`` is shared with the mapped reader (``planner.readers.mapped``).

Accounting: ``rows_read == rows_stored + rows_unreadable`` is kept for the primary table
(the first of sites, services, zones present); when a file holds several tables, each
table's counts are in ``result.notes`` and each is checked.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner import geo
from planner.errors import InputFileError
from planner.postcodes import PostcodeTable, normalise_postcode
from planner.problems import Problem, ProblemReport
from planner.readers.base import (
    RawTable,
    ReadResult,
    finish,
    locate,
    match_columns,
    normalise_header,
    parse_number,
    read_raw_table,
)
from planner.schema import CRS_BNG, CRS_WGS84, ID_COLUMN, column, columns, parse_bool

TABLE_NAMES = ("sites", "services", "zones")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp")
LONLAT_ALIASES = {"lon": ("lon", "longitude", "lng", "long"), "lat": ("lat", "latitude")}
# Columns computed by the reader from the coordinates, never parsed as values.
DERIVED = ("easting", "northing", "located", "location_source", "source_file", "source_row")
COORDINATE_FIELDS = ("easting", "northing", "lon", "lat")
# Columns the register store adds (geometry, feature ids, validation's verdict) that a reader
# skips without comment: validation recomputes in_analysis/exclusion_reason on import.
IGNORED = ("geometry", "fid", "ogcfid", "inanalysis", "exclusionreason")


@dataclass
class Field:
    """One canonical column's input: the raw text of each record, the file's name for the
    column (used in problems), and a unit factor applied after parsing numbers."""

    values: list[str]
    label: str
    scale: float = 1.0


PAIR_COLUMNS = ("oneoffgbp", "annualgbp", "allowed")


def detect_table(headers: list[str], where: str = "this table") -> str | None:
    """sites, services or zones from the id column present (service_id first: services also
    have a site_id), or None. A pair-cost table (service_id, site_id, one_off_gbp,
    annual_gbp, allowed) is not a register table: InputFileError."""
    norm = {normalise_header(h) for h in headers}
    if {"serviceid", "siteid"} <= norm and norm & set(PAIR_COLUMNS) and not norm & {"servicetype", "spacem2"}:
        raise InputFileError(
            f"{where}: this is a pair-cost table (service_id, site_id, one_off_gbp, annual_gbp, allowed), not sites, services "
            "or zones. Fix: give pair costs to the optimiser with the scenario, not to the register import.")
    for table in ("services", "zones", "sites"):
        if normalise_header(ID_COLUMN[table]) in norm:
            return table
    return None


# ---------------------------------------------------------------- value parsing

_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")


def parse_date(value: str) -> str | None:
    """'2027-03-31', '2027-03-31T00:00:00', '31/03/2027' -> '2027-03-31'; '' -> None;
    ValueError otherwise (UK order day/month/year for slashes)."""
    s = str(value).strip()
    if s == "":
        return None
    m = _ISO.match(s)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    else:
        m = _DMY.match(s)
        if not m:
            raise ValueError(value)
        d, mo, y = int(m[1]), int(m[2]), int(m[3])
    return dt.date(y, mo, d).isoformat()


def _text(value: str) -> str | None:
    s = str(value).strip()
    return s if s else None


def _parse_cells(table: str, name: str, f: Field, file: str, rows: list[int], ids: list[str | None],
                 problems: ProblemReport) -> list:
    """Parse one column's cells by the schema kind; each bad cell is one error."""
    kind = column(table, name).kind
    out: list = []
    for k, raw in enumerate(f.values):
        raw = "" if raw is None else str(raw)
        try:
            if kind == "str":
                v = _text(raw)
                if v is not None and name == "postcode":
                    v = normalise_postcode(v)
                elif v is not None and name == "uprn" and re.fullmatch(r"\d+\.0+", v):
                    v = v.split(".")[0]  # a UPRN stored as a float by a spreadsheet
            elif kind == "float":
                v = parse_number(raw)
                if v is not None:
                    v = v * f.scale
            elif kind == "int":
                v = parse_number(raw)
                if v is not None:
                    if v != math.floor(v):
                        problems.add(Problem(file, rows[k], f.label, raw.strip()[:80], "not a whole number",
                                             "write a whole number (no decimals)", "error", table, ids[k],
                                             "not_a_whole_number"))
                        v = None
                    else:
                        v = int(v)
            elif kind == "bool":
                v = parse_bool(raw)
            elif kind == "date":
                v = parse_date(raw)
            else:  # pragma: no cover - the schema has no other kinds
                raise AssertionError(kind)
        except ValueError:
            v = None
            what, fix, code = {
                "float": ("not a number", "write a plain number (digits, optional decimal point)", "not_a_number"),
                "int": ("not a number", "write a whole number", "not_a_number"),
                "bool": ("not a true/false value", "write true or false (also yes/no, 1/0, any case)", "not_a_boolean"),
                "date": ("not a date", "write the date as YYYY-MM-DD (or DD/MM/YYYY)", "not_a_date"),
            }[kind]
            problems.add(Problem(file, rows[k], f.label, raw.strip()[:80], what, fix, "error", table, ids[k], code))
        out.append(v)
    return out


def _floats(f: Field, file: str, rows: list[int], ids: list[str | None], problems: ProblemReport,
            table: str) -> np.ndarray:
    out = np.full(len(f.values), np.nan)
    for k, raw in enumerate(f.values):
        try:
            v = parse_number("" if raw is None else raw)
        except ValueError:
            problems.add(Problem(file, rows[k], f.label, str(raw).strip()[:80], "not a number",
                                 "write the coordinate as a plain number", "error", table, ids[k], "not_a_number"))
            continue
        if v is not None:
            out[k] = v
    return out


# ---------------------------------------------------------------- the shared table builder

def build_table(table: str, fields: dict[str, Field], rows: list[int], file: str, problems: ProblemReport, *,
                agency: str | None = None, postcodes: PostcodeTable | None = None, xy_crs: str = CRS_BNG,
                geometry_xy: tuple[np.ndarray, np.ndarray] | None = None,
                agency_fix: str = "add an agency column, or give --agency NAME") -> tuple[pd.DataFrame, list[int], list[str]]:
    """Turn text cells keyed by canonical column into a canonical frame.

    ``fields`` may also hold ``lon``/``lat``. ``xy_crs`` says what the ``easting``/``northing``
    fields hold: EPSG:27700 (taken as written), another CRS (converted with pyproj) or
    ``auto`` (decided per row from the values, as ``base.locate`` does). ``geometry_xy`` are
    points already in EPSG:27700 (NaN where a feature has no geometry); they win over columns.

    Returns the frame (readable records only, with ``source_file``/``source_row``), the
    spreadsheet rows that could not be stored, and plain-words notes."""
    notes: list[str] = []
    n_rec = len(rows)
    idc = ID_COLUMN[table]
    id_field = fields.get(idc)
    ids = [(_text(v) if id_field else None) for v in (id_field.values if id_field else [""] * n_rec)]
    unreadable = []
    for k, v in enumerate(ids):
        if v is None:
            unreadable.append(rows[k])
            problems.add(Problem(file, rows[k], id_field.label if id_field else idc, None,
                                 f"no {idc}: the record cannot be stored without an id",
                                 f"give every record a unique {idc}", "error", table, None, "missing_id"))
    data: dict[str, list] = {}
    for name in columns(table):
        if name in DERIVED or name not in fields:
            continue
        data[name] = _parse_cells(table, name, fields[name], file, rows, ids, problems)
    df = pd.DataFrame(data, index=range(n_rec))
    df[idc] = pd.array(ids, dtype="string")
    df["source_file"] = Path(file).name
    df["source_row"] = rows

    if "agency" in columns(table):
        ag = df["agency"] if "agency" in df.columns else pd.Series([None] * n_rec, dtype="object")
        ag = ag.astype("object").where(ag.notna(), None)
        if agency:
            filled = int(sum(v is None for v in ag))
            if filled and filled < n_rec:
                notes.append(f"{table}: {filled} records with no agency were given the agency {agency!r}")
            ag = ag.map(lambda v: agency if v is None else v)
        df["agency"] = ag
        for k in np.flatnonzero(ag.isna().to_numpy()):
            if ids[k] is None:
                continue
            problems.add(Problem(file, rows[k], fields["agency"].label if "agency" in fields else "agency", None,
                                 "no agency (owning body) for the record", agency_fix, "error", table, ids[k],
                                 "missing_agency"))

    _place(table, df, fields, rows, ids, file, problems, postcodes, xy_crs, geometry_xy, notes)
    keep = [k for k in range(n_rec) if ids[k] is not None]
    return df.iloc[keep].reset_index(drop=True), unreadable, notes


def _place(table, df, fields, rows, ids, file, problems, postcodes, xy_crs, geometry_xy, notes) -> None:
    """Fill easting, northing, location_source and located on ``df``."""
    n_rec = len(rows)
    e = np.full(n_rec, np.nan)
    n = np.full(n_rec, np.nan)
    src = np.full(n_rec, None, dtype=object)
    auto_x = auto_y = None
    has_en = "easting" in fields and "northing" in fields
    for a, b in (("easting", "northing"), ("northing", "easting"), ("lon", "lat"), ("lat", "lon")):
        if a in fields and b not in fields:
            problems.add(Problem(file, None, fields[a].label, None, f"there is a {a} column but no {b} column; "
                                 f"the {a} column was not used", f"add the {b} column", "warning", table, None,
                                 "missing_column"))
    if has_en:
        x = _floats(fields["easting"], file, rows, ids, problems, table) * fields["easting"].scale
        y = _floats(fields["northing"], file, rows, ids, problems, table) * fields["northing"].scale
        crs = str(xy_crs).strip()
        if crs.lower() == "auto":
            auto_x, auto_y = x, y
        elif _same_crs(crs, CRS_BNG):
            ok = ~np.isnan(x) & ~np.isnan(y)
            e[ok], n[ok] = x[ok], y[ok]
            src[ok] = "given"
            labels = geo.classify_xy(x, y)
            deg = ok & np.isin(labels, [geo.WGS84, geo.WGS84_SWAPPED]) & ~geo.inside_gb_bng(x, y)
            if deg.any():
                de, dn, _ = geo.to_bng(x[deg], y[deg], labels[deg])
                e[deg], n[deg] = de, dn
                src[deg] = np.where(labels[deg] == geo.WGS84, "published_wgs84", "swapped_wgs84")
            for k in np.flatnonzero(deg):
                problems.add(Problem(file, rows[k], f"{fields['easting'].label}/{fields['northing'].label}",
                                     f"{x[k]:g}, {y[k]:g}",
                                     "the easting/northing look like longitude/latitude degrees; they were converted from EPSG:4326",
                                     "put degrees in lon/lat columns and keep easting/northing for metres (EPSG:27700)",
                                     "warning", table, ids[k], "degrees_in_easting_northing"))
            out = ok & ~deg & ~geo.inside_gb_bng(x, y)
            for k in np.flatnonzero(out):
                problems.add(Problem(file, rows[k], f"{fields['easting'].label}/{fields['northing'].label}",
                                     f"{x[k]:g}, {y[k]:g}",
                                     "the point is outside Great Britain's grid range (EPSG:27700); it was kept as written",
                                     "check the easting/northing (metres, EPSG:27700); for degrees use lon/lat columns",
                                     "warning", table, ids[k], "outside_gb"))
        else:
            from pyproj import Transformer

            ok = ~np.isnan(x) & ~np.isnan(y)
            if ok.any():
                tx, ty = Transformer.from_crs(crs, CRS_BNG, always_xy=True).transform(x[ok], y[ok])
                e[ok], n[ok] = tx, ty
            src[ok] = "published_wgs84" if _same_crs(crs, CRS_WGS84) else "given"
            notes.append(f"{table}: {int(ok.sum())} points converted from {crs} to EPSG:27700")
            bad = ok & ~(np.isfinite(e) & geo.inside_gb_bng(e, n))
            for k in np.flatnonzero(bad):
                problems.add(Problem(file, rows[k], f"{fields['easting'].label}/{fields['northing'].label}",
                                     f"{x[k]:g}, {y[k]:g}", f"the point is outside Great Britain once converted from {crs}",
                                     f"check the coordinates and the crs ({crs}) in the mapping", "error", table, ids[k],
                                     "outside_gb"))
                e[k] = n[k] = np.nan
                src[k] = None
    xname, yname = "easting", "northing"
    if "lon" in fields and "lat" in fields and auto_x is None:
        lon = _floats(fields["lon"], file, rows, ids, problems, table)
        lat = _floats(fields["lat"], file, rows, ids, problems, table)
        use = np.isnan(e)
        auto_x = np.where(use, lon, np.nan)
        auto_y = np.where(use, lat, np.nan)
        xname, yname = fields["lon"].label, fields["lat"].label
    elif has_en:
        xname, yname = fields["easting"].label, fields["northing"].label
    if geometry_xy is not None:
        gx, gy = geometry_xy
        g_ok = np.isfinite(gx) & np.isfinite(gy)
        both = g_ok & ~np.isnan(e)
        far = both & (np.hypot(gx - np.where(both, e, 0), gy - np.where(both, n, 0)) > 1.0)
        for k in np.flatnonzero(far):
            problems.add(Problem(file, rows[k], "geometry", f"{e[k]:.1f}, {n[k]:.1f}",
                                 f"the geometry ({gx[k]:.1f}, {gy[k]:.1f}) and the easting/northing columns disagree; the geometry was used",
                                 "correct or remove the easting/northing columns", "warning", table, ids[k],
                                 "geometry_mismatch"))
        e[g_ok], n[g_ok] = gx[g_ok], gy[g_ok]
        src[g_ok] = "given"
        if auto_x is not None:
            auto_x = np.where(g_ok, np.nan, auto_x)
            auto_y = np.where(g_ok, np.nan, auto_y)

    need = np.isnan(e)
    if auto_x is not None:
        candidates = need & ~(np.isnan(auto_x) & np.isnan(auto_y))
    else:
        candidates = np.zeros(n_rec, dtype=bool)
    if table != "services":
        candidates = need.copy()  # every site or zone is placed or reported as unlocated
    valid_id = np.array([v is not None for v in ids], dtype=bool)
    candidates &= valid_id
    if candidates.any():
        idx = np.flatnonzero(candidates)
        sub = pd.DataFrame({"source_row": np.asarray(rows)[idx], "rid": pd.array([ids[k] for k in idx], dtype="string")})
        ax = pd.Series(auto_x[idx] if auto_x is not None else np.full(len(idx), np.nan))
        ay = pd.Series(auto_y[idx] if auto_y is not None else np.full(len(idx), np.nan))
        pc = (df["postcode"].iloc[idx].reset_index(drop=True) if "postcode" in df.columns
              else pd.Series([None] * len(idx), dtype="object")).astype("string")
        found = ProblemReport()
        notes.extend(f"{table}: {s}" for s in locate(
            sub, ax, ay, pc, file, postcodes, found, table=table, id_column="rid",
            x_name=xname, y_name=yname, postcode_name=fields["postcode"].label if "postcode" in fields else "postcode"))
        # a row whose coordinates were already reported as an error is not reported again as unlocated
        coord_labels = {fields[c].label for c in COORDINATE_FIELDS if c in fields} | {"geometry"}
        errored = {(p.row, p.record_id) for p in problems if p.severity == "error" and p.column in coord_labels}
        problems.extend(p for p in found if not (p.code == "unlocated" and (p.row, p.record_id) in errored))
        got = sub["located"].to_numpy(dtype=bool)
        e[idx[got]] = sub["easting"].to_numpy(dtype=float, na_value=np.nan)[got]
        n[idx[got]] = sub["northing"].to_numpy(dtype=float, na_value=np.nan)[got]
        src[idx] = sub["location_source"].to_numpy(dtype=object)
    located = ~np.isnan(e)
    if "location_source" in fields:  # keep the file's own record of how a given point was found
        given_src = np.array([_text(v) for v in fields["location_source"].values], dtype=object)
        keep = located & (src == "given") & (given_src != None)  # noqa: E711 - elementwise
        src[keep] = given_src[keep]
    if table == "services":
        src[~located] = None
    else:
        src[~located] = "unlocated"
    df["easting"] = pd.array(np.where(located, e, np.nan), dtype="Float64")
    df["northing"] = pd.array(np.where(located, n, np.nan), dtype="Float64")
    df.loc[~located, ["easting", "northing"]] = pd.NA
    df["location_source"] = pd.array(src, dtype="string")
    df["located"] = pd.array(located, dtype="boolean")


def _same_crs(a: str, b: str) -> bool:
    from pyproj import CRS

    try:
        return CRS.from_user_input(a) == CRS.from_user_input(b)
    except Exception:
        return False


# ---------------------------------------------------------------- reading files

def canonical_aliases(table: str) -> dict[str, tuple[str, ...]]:
    al = {name: (name,) for name in columns(table)}
    al.update(LONLAT_ALIASES)
    return al


def _fields_from_headers(headers: list[str], records: list[list[str]], table: str, file: str,
                         problems: ProblemReport) -> dict[str, Field]:
    found, unused = match_columns(headers, canonical_aliases(table))
    fields: dict[str, Field] = {}
    for name, idx in found.items():
        if len(idx) > 1:
            problems.add(Problem(file, 1, headers[idx[0]], ", ".join(headers[i] for i in idx),
                                 f"the column {name} appears {len(idx)} times (columns {', '.join(_col_letter(i) for i in idx)}); "
                                 f"the first ({_col_letter(idx[0])}) was used",
                                 "delete or rename the duplicate columns", "warning", table, None, "duplicate_column"))
        i = idx[0]
        fields[name] = Field([r[i] for r in records], headers[i])
    unused = [h for h in unused if normalise_header(h) not in IGNORED]
    if unused:
        problems.add(Problem(file, 1, None, ", ".join(unused)[:300],
                             f"{len(unused)} columns are not planner {table} columns and were not stored: {', '.join(unused)}",
                             f"rename them to columns of the {table} table (see docs/data-model.md) if they were meant to be read",
                             "info", table, None, "unused_columns"))
    return fields


def _col_letter(i: int) -> str:
    s, i = "", i + 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


@dataclass
class _Part:
    table: str
    frame: pd.DataFrame
    rows_read: int
    unreadable: int


def _read_raw_part(raw: RawTable, file: str, problems: ProblemReport, agency, postcodes, notes,
                   where: str) -> _Part:
    problems.extend(raw.problems)
    table = detect_table(raw.headers, f"{file}{where}")
    if table is None:
        raise InputFileError(
            f"{file}{where}: no planner id column (site_id, service_id or zone_id) among the headers "
            f"({', '.join(raw.headers[:12])}). Fix: name the id column site_id, service_id or zone_id, "
            "or read the file with --mapping MAP.toml (docs/mapping.md).")
    fields = _fields_from_headers(raw.headers, raw.records, table, file, problems)
    frame, bad, n = build_table(table, fields, raw.rows, file, problems, agency=agency, postcodes=postcodes)
    notes.extend(n)
    return _Part(table, frame, raw.rows_read, len(bad) + len(raw.blank_rows) + len(raw.bad_rows))


def _xlsx_sheets(path: Path) -> list[str]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True)
    except Exception as exc:
        raise InputFileError(f"{path}: cannot open the workbook ({type(exc).__name__}: {exc}). "
                             "Fix: save it again as .xlsx or as CSV.") from exc
    names = list(wb.sheetnames)
    wb.close()
    return names


def _cell_text(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return ""
        if float(v).is_integer() and abs(v) < 1e15:  # an id or UPRN stored as a float (a column with nulls)
            return str(int(v))
        return repr(float(v))
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.isoformat()[:10]
    return str(v)


def _read_layer(path: Path, layer: str | None, problems: ProblemReport, fatal: list[str], agency, postcodes,
                notes) -> _Part | None:
    import geopandas as gpd

    file = str(path)
    try:
        gdf = gpd.read_file(path, layer=layer) if layer is not None else gpd.read_file(path)
    except Exception as exc:
        raise InputFileError(f"{path}: cannot read {'layer ' + repr(layer) if layer else 'the file'} "
                             f"({type(exc).__name__}: {exc}). Fix: check that it is a valid GeoJSON/GeoPackage, "
                             "or export the table as CSV.") from exc
    where = f" layer {layer!r}" if layer else ""
    geom_name = None
    if isinstance(gdf, gpd.GeoDataFrame):
        try:
            geom_name = gdf.geometry.name
        except AttributeError:  # a GeoDataFrame without an active geometry column
            geom_name = None
    headers = [str(c) for c in gdf.columns if c != geom_name]
    table = detect_table(headers, f"{file}{where}")
    if table is None:
        if layer is not None and layer.lower() not in TABLE_NAMES:
            return None
        raise InputFileError(
            f"{file}{where}: no planner id column (site_id, service_id or zone_id) among the attributes "
            f"({', '.join(headers[:12])}). Fix: name the id column site_id, service_id or zone_id.")
    records = [[_cell_text(v) for v in rec] for rec in gdf[headers].itertuples(index=False, name=None)]
    rows = list(range(2, len(gdf) + 2))
    geometry_xy = None
    if geom_name is not None and gdf.geometry.notna().any():
        gs = gdf.geometry
        if gs.crs is None:
            if path.suffix.lower() in (".geojson", ".json"):
                gs = gs.set_crs(CRS_WGS84)
                problems.add(Problem(file, None, "geometry", None,
                                     f"the layer{where} declares no coordinate system; read as EPSG:4326 (longitude/latitude), as RFC 7946 says",
                                     "declare the CRS, or make sure the coordinates are longitude/latitude",
                                     "warning", table, None, "no_crs"))
            else:
                fatal.append(f"layer {layer or path.stem!r} has geometry but no coordinate system (CRS). "
                             "Fix: set its CRS (e.g. EPSG:27700) when saving it, or give easting/northing columns instead of geometry")
                return None
        empty = gs.isna() | gs.is_empty
        pts = gs.to_crs(CRS_BNG)
        not_point = ~empty & (pts.geom_type != "Point")
        if not_point.any():
            problems.add(Problem(file, None, "geometry", ", ".join(sorted(set(pts[not_point].geom_type))),
                                 f"{int(not_point.sum())} features{where} are not points; each was placed at a point inside its shape",
                                 "give point geometry if another point is meant", "info", table, None, "not_points"))
            pts = pts.copy()
            pts[not_point] = pts[not_point].representative_point()
        gx = np.full(len(gdf), np.nan)
        gy = np.full(len(gdf), np.nan)
        ok = ~empty.to_numpy()
        gx[ok] = pts[ok].x.to_numpy()
        gy[ok] = pts[ok].y.to_numpy()
        ids = gdf[headers[[normalise_header(h) for h in headers].index(normalise_header(ID_COLUMN[table]))]]
        bad = ok & ~(np.isfinite(gx) & np.isfinite(gy) & geo.inside_gb_bng(gx, gy))
        for k in np.flatnonzero(bad):
            g = gs.iloc[k]
            problems.add(Problem(file, rows[k], "geometry", g.wkt[:80] if g is not None else None,
                                 f"the geometry is not a point in Great Britain in its coordinate system ({gs.crs.to_string()})",
                                 "correct the geometry or the layer's CRS", "error", table, _text(_cell_text(ids.iloc[k])),
                                 "bad_geometry"))
            gx[k] = gy[k] = np.nan
        geometry_xy = (gx, gy)
    fields = _fields_from_headers(headers, records, table, file, problems)
    frame, bad_rows, n = build_table(table, fields, rows, file, problems, agency=agency, postcodes=postcodes,
                                     geometry_xy=geometry_xy)
    notes.extend(n)
    return _Part(table, frame, len(rows), len(bad_rows))


def read_canonical(path: str | Path, agency: str | None = None, postcodes: PostcodeTable | None = None) -> ReadResult:
    """Read the planner's own sites/services/zones tables from CSV, XLSX, GeoJSON or GeoPackage."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file. Fix: check the path.")
    file = str(path)
    problems = ProblemReport()
    notes: list[str] = []
    parts: list[_Part] = []
    suffix = path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        fatal: list[str] = []
        layers: list[str | None] = [None]
        if suffix == ".gpkg":
            import pyogrio

            try:
                names = [str(r[0]) for r in pyogrio.list_layers(path)]
            except Exception as exc:
                raise InputFileError(f"{path}: cannot open the GeoPackage ({type(exc).__name__}: {exc}). "
                                     "Fix: check that it is a valid GeoPackage.") from exc
            named = sorted((n for n in names if n.lower() in TABLE_NAMES), key=lambda n: TABLE_NAMES.index(n.lower()))
            layers = named or names
            others = [n for n in names if n not in layers]
            if others:
                problems.add(Problem(file, None, None, ", ".join(others), f"layers not read: {', '.join(others)}",
                                     "name the layers sites, services or zones if they were meant to be read",
                                     "info", "", None, "unused_layers"))
        skipped = []
        for layer in layers:
            part = _read_layer(path, layer, problems, fatal, agency, postcodes, notes)
            if part is None and not fatal:
                skipped.append(layer)
            elif part is not None:
                parts.append(part)
        if skipped:
            problems.add(Problem(file, None, None, ", ".join(map(str, skipped)),
                                 f"layers with no site_id/service_id/zone_id were not read: {', '.join(map(str, skipped))}",
                                 "add the id column if they were meant to be read", "info", "", None, "unused_layers"))
        if fatal:
            raise InputFileError(f"{path}: " + "; ".join(fatal))
    elif suffix in (".xlsx", ".xlsm"):
        sheets = _xlsx_sheets(path)
        named = sorted((s for s in sheets if s.strip().lower() in TABLE_NAMES),
                       key=lambda s: TABLE_NAMES.index(s.strip().lower()))
        for sheet in named or [sheets[0]]:
            parts.append(_read_raw_part(read_raw_table(path, sheet=sheet), file, problems, agency, postcodes, notes,
                                        f" sheet {sheet!r}"))
    else:
        parts.append(_read_raw_part(read_raw_table(path), file, problems, agency, postcodes, notes, ""))
    if not parts:
        raise InputFileError(f"{path}: no sites, services or zones table found. Fix: name the layers sites, services "
                             "or zones, or give each table an id column (site_id, service_id, zone_id).")
    seen: dict[str, _Part] = {}
    for p in parts:
        if p.table in seen:
            raise InputFileError(f"{path}: two layers/sheets hold {p.table} (found by their id column). "
                                 f"Fix: keep one {p.table} table per file.")
        seen[p.table] = p
    result = ReadResult(file=file, reader="canonical", problems=problems, notes=notes)
    for t, p in seen.items():
        setattr(result, t, p.frame)
        stored = int(p.frame["source_row"].nunique())
        if p.rows_read != stored + p.unreadable:  # pragma: no cover - guarded by construction
            raise AssertionError(f"{file} {t}: rows read {p.rows_read} != stored {stored} + unreadable {p.unreadable}")
        if len(seen) > 1:
            notes.append(f"{t}: {p.rows_read} rows read, {stored} stored, {p.unreadable} unreadable")
    primary = next(t for t in TABLE_NAMES if t in seen)
    result.primary = primary
    result.rows_read = seen[primary].rows_read
    result.rows_unreadable = seen[primary].unreadable
    return finish(result)


__all__ = ["Field", "build_table", "canonical_aliases", "detect_table", "parse_date", "read_canonical"]
