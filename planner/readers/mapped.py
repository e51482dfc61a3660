"""Reader of any other spreadsheet (CSV or XLSX) through a TOML column-mapping file.

The mapping says which table the sheet holds, which of its columns is which planner column,
the units of areas, money and distances, how to translate coded values, and defaults for
columns the sheet lacks. The format, every key and an example are in ``docs/mapping.md``;
``docs/examples/police_estate_mapping.toml`` is a worked example.

The mapping is checked against the schema and the sheet before any row is read: unknown
sections, keys, planner columns or units, values of the wrong type, and columns the sheet
does not have are all gathered and raised as one ``InputFileError`` that names each TOML key
and how to fix it. The rows are then parsed by the same code as the planner's own tables
(``planner.readers.canonical.build_table``): each bad cell is one error naming the sheet's
row and column.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import InputFileError
from planner.postcodes import PostcodeTable
from planner.problems import Problem, ProblemReport
from planner.readers.base import ReadResult, finish, normalise_header, parse_number, read_raw_table
from planner.readers.canonical import DERIVED, TABLE_NAMES, Field, build_table, parse_date
from planner.schema import ID_COLUMN, column, columns, parse_bool

SECTIONS = ("file", "columns", "units", "values", "defaults")
FILE_KEYS = ("table", "sheet", "agency", "crs")

# unit name -> factor to the planner's unit, per dimension; names are matched ignoring case and spaces
UNITS: dict[str, dict[str, float]] = {
    "area": {"m2": 1.0, "ft2": 0.09290304},
    "land": {"ha": 1.0, "acre": 0.40468564224, "m2": 1e-4},
    "money": {"gbp": 1.0, "kgbp": 1e3, "mgbp": 1e6},
    "distance": {"m": 1.0, "km": 1e3, "mile": 1609.344},
    "percent": {"percent": 1.0, "fraction": 100.0},
}
UNIT_ALIASES = {
    "m²": "m2", "sqm": "m2", "sqmetres": "m2", "squaremetres": "m2",
    "ft²": "ft2", "sqft": "ft2", "squarefeet": "ft2", "squarefoot": "ft2",
    "hectare": "ha", "hectares": "ha", "acres": "acre",
    "£": "gbp", "pounds": "gbp", "£k": "kgbp", "£000": "kgbp", "£000s": "kgbp", "thousands": "kgbp",
    "£m": "mgbp", "millions": "mgbp",
    "metres": "m", "meters": "m", "kilometres": "km", "miles": "mile",
    "%": "percent", "pct": "percent",
}
_DIMENSION_OF_UNIT = {"m2": "area", "ha": "land", "GBP": "money", "GBP/year": "money", "m": "distance", "%": "percent"}
COORDINATES = ("easting", "northing", "lon", "lat")


def dimension(table: str, name: str) -> str | None:
    """The unit dimension of a planner column (area, land, money, distance, percent) or None."""
    if name in COORDINATES:
        return None
    return _DIMENSION_OF_UNIT.get(column(table, name).unit)


def unit_factor(dim: str, unit: str) -> float | None:
    key = str(unit).strip().lower().replace(" ", "")
    key = UNIT_ALIASES.get(key, key)
    return UNITS[dim].get(key)


@dataclass
class Mapping:
    """A checked column mapping."""

    path: Path
    table: str = "sites"
    sheet: str | int | None = None
    agency: str | None = None
    crs: str = "auto"
    columns: dict[str, list[str]] = field(default_factory=dict)  # planner column -> source headers
    units: dict[str, tuple[str, float]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # keys normalised (stripped, lower case)
    defaults: dict[str, str] = field(default_factory=dict)


def _as_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _check_value(table: str, name: str, text: str) -> str | None:
    """None if ``text`` is a valid cell of the planner column, else what is wrong."""
    if name in COORDINATES:
        try:
            parse_number(text)
        except ValueError:
            return "not a number"
        return None
    kind = column(table, name).kind
    try:
        if kind in ("float", "int"):
            v = parse_number(text)
            if kind == "int" and v is not None and v != int(v):
                return "not a whole number"
        elif kind == "bool":
            parse_bool(text)
        elif kind == "date":
            parse_date(text)
    except ValueError:
        return {"float": "not a number", "int": "not a number", "bool": "not true or false",
                "date": "not a date (YYYY-MM-DD)"}[kind]
    return None


def _close(word: str, options, n: int = 3) -> str:
    m = difflib.get_close_matches(str(word), list(options), n=n, cutoff=0.5)
    return f" (did you mean {', '.join(repr(x) for x in m)}?)" if m else ""


def load_mapping(mapping: str | Path, headers: list[str] | None = None, sheets: list[str] | None = None,
                 data_file: str = "the sheet") -> Mapping:
    """Read and check a mapping file. With ``headers`` (the sheet's header row) also check that
    every named source column exists once. Raises one InputFileError listing every problem."""
    path = Path(mapping)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open the mapping file ({exc.strerror}). Fix: check the path.") from exc
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: the mapping file is not UTF-8 text. Fix: save it as UTF-8.") from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{path}: not valid TOML: {exc}. Fix: correct the TOML syntax at that line "
                             "(text values in double quotes, one key = value per line; see docs/mapping.md).") from exc
    errs: list[tuple[str, str, str]] = []  # (key path, what is wrong, fix)
    m = Mapping(path)

    for key in doc:
        if key not in SECTIONS:
            errs.append((f"[{key}]", "unknown section" + _close(key, SECTIONS),
                         f"use only the sections {', '.join('[' + s + ']' for s in SECTIONS)}"))
    sections = {}
    for s in SECTIONS:
        v = doc.get(s, {})
        if not isinstance(v, dict):
            errs.append((s, f"must be a table ([{s}]), not a {type(v).__name__}", f"write it as a [{s}] section"))
            v = {}
        sections[s] = v

    f = sections["file"]
    for key in f:
        if key not in FILE_KEYS:
            errs.append((f"file.{key}", "unknown key" + _close(key, FILE_KEYS), f"use only {', '.join(FILE_KEYS)}"))
    table = f.get("table", "sites")
    if table not in TABLE_NAMES:
        errs.append(("file.table", f"{table!r} is not a planner table", 'write "sites", "services" or "zones"'))
        table = "sites"
    m.table = table
    sheet = f.get("sheet")
    if sheet is not None and (isinstance(sheet, bool) or not isinstance(sheet, (str, int))):
        errs.append(("file.sheet", f"must be a sheet name or number, not {sheet!r}", 'write e.g. sheet = "Estate" or sheet = 1'))
    elif isinstance(sheet, int) and sheet < 1:
        errs.append(("file.sheet", f"sheet numbers start at 1, not {sheet}", "write sheet = 1 for the first sheet"))
    elif sheets is not None and sheet is not None:
        if isinstance(sheet, str) and sheet not in sheets:
            errs.append(("file.sheet", f"{data_file} has no sheet {sheet!r}{_close(sheet, sheets)}; it has {', '.join(sheets)}",
                         "write one of those sheet names"))
        elif isinstance(sheet, int) and sheet > len(sheets):
            errs.append(("file.sheet", f"{data_file} has {len(sheets)} sheets, not {sheet}", "write a smaller sheet number"))
    m.sheet = sheet if isinstance(sheet, (str, int)) and not isinstance(sheet, bool) else None
    ag = f.get("agency")
    if ag is not None and (not isinstance(ag, str) or not ag.strip()):
        errs.append(("file.agency", f"must be a name in quotes, not {ag!r}", 'write e.g. agency = "police"'))
    else:
        m.agency = ag.strip() if ag else None
    crs = f.get("crs", "auto")
    if not isinstance(crs, str):
        errs.append(("file.crs", f"must be text, not {crs!r}", 'write "EPSG:27700", "EPSG:4326" or "auto"'))
    elif crs.strip().lower() != "auto":
        from pyproj import CRS

        try:
            CRS.from_user_input(crs)
        except Exception:
            errs.append(("file.crs", f"{crs!r} is not a coordinate system pyproj knows",
                         'write "EPSG:27700" (easting/northing metres), "EPSG:4326" (longitude/latitude) or "auto"'))
    m.crs = crs if isinstance(crs, str) else "auto"

    known = [c for c in columns(table) if c not in DERIVED or c in ("easting", "northing", "location_source")]
    allowed = [*known, "lon", "lat"]
    norm_headers = [normalise_header(h) for h in headers] if headers is not None else None
    for key, v in sections["columns"].items():
        path_key = f"columns.{key}"
        if key not in allowed:
            why = ("is set by the reader, not read" if key in DERIVED else f"is not a column of the {table} table")
            errs.append((path_key, f"{key!r} {why}{_close(key, allowed)}",
                         f"use a planner {table} column (docs/data-model.md) on the left of ="))
            continue
        srcs = v if isinstance(v, list) else [v]
        if not srcs or not all(isinstance(x, str) and x.strip() for x in srcs):
            errs.append((path_key, f"must be a column name in quotes (or a list of them), not {v!r}",
                         f'write e.g. {key} = "Column heading"'))
            continue
        if isinstance(v, list) and key not in COORDINATES and column(table, key).kind != "str":
            errs.append((path_key, "a list of columns is only allowed for text columns (they are joined with ', ')",
                         "name one column"))
            continue
        if headers is not None:
            for src in srcs:
                exact = [i for i, h in enumerate(headers) if h.strip() == src.strip()]
                loose = exact or [i for i, h in enumerate(norm_headers) if h == normalise_header(src)]
                if not loose:
                    errs.append((path_key, f"{data_file} has no column {src!r}{_close(src, headers)}",
                                 f"write the heading exactly as in row 1 of {data_file}"))
                elif len(loose) > 1:
                    errs.append((path_key, f"{data_file} has {len(loose)} columns headed {src!r} "
                                 f"(columns {', '.join(_letter(i) for i in loose)})",
                                 "rename the duplicate headings so each is unique"))
        m.columns[key] = srcs
    if ID_COLUMN[table] not in m.columns and ID_COLUMN[table] not in sections["defaults"]:
        errs.append((f"columns.{ID_COLUMN[table]}", f"missing: the {table} table needs its id column",
                     f'add {ID_COLUMN[table]} = "the sheet\'s id column" under [columns]'))
    for a, b in (("easting", "northing"), ("lon", "lat")):
        if (a in m.columns) != (b in m.columns):
            have, lack = (a, b) if a in m.columns else (b, a)
            errs.append((f"columns.{lack}", f"columns.{have} is given but columns.{lack} is not", f"map both {a} and {b}"))

    for key, v in sections["units"].items():
        path_key = f"units.{key}"
        if key not in allowed:
            errs.append((path_key, f"{key!r} is not a column of the {table} table{_close(key, allowed)}",
                         "name a planner column"))
            continue
        dim = dimension(table, key)
        if dim is None:
            errs.append((path_key, f"{key} has no unit to convert",
                         "remove this line" + (" (coordinates are converted with [file] crs)" if key in COORDINATES else "")))
            continue
        if key not in m.columns and key not in sections["defaults"]:
            errs.append((path_key, f"{key} is not mapped under [columns]", f"map {key} or remove this line"))
        factor = unit_factor(dim, v) if isinstance(v, str) else None
        if factor is None:
            errs.append((path_key, f"unknown unit {v!r} for {key}", f"write one of {', '.join(repr(u) for u in UNITS[dim])}"))
            continue
        m.units[key] = (str(v), factor)

    for key, table_v in sections["values"].items():
        path_key = f"values.{key}"
        if key not in allowed or key in COORDINATES:
            errs.append((path_key, f"{key!r} is not a column of the {table} table{_close(key, allowed)}",
                         "name a planner column: [values.COLUMN]"))
            continue
        if not isinstance(table_v, dict):
            errs.append((path_key, f"must be a table of \"source value\" = \"planner value\", not {table_v!r}",
                         f'write [values.{key}] then lines like "FH" = "freehold"'))
            continue
        mp = {}
        for src, dst in table_v.items():
            if not isinstance(dst, (str, int, float, bool)):
                errs.append((f'{path_key}."{src}"', f"must be a single value, not {dst!r}", "write a text, number or true/false"))
                continue
            bad = _check_value(table, key, _as_text(dst))
            if bad:
                errs.append((f'{path_key}."{src}"', f"{dst!r} is {bad} but {key} needs one", f"write a valid {key}"))
                continue
            mp[str(src).strip().lower()] = _as_text(dst)
        m.values[key] = mp

    for key, v in sections["defaults"].items():
        path_key = f"defaults.{key}"
        if key not in allowed or key in COORDINATES:
            errs.append((path_key, f"{key!r} is not a column of the {table} table{_close(key, allowed)}",
                         "name a planner column"))
            continue
        if not isinstance(v, (str, int, float, bool)):
            errs.append((path_key, f"must be a single value, not {v!r}", "write a text, number or true/false"))
            continue
        bad = _check_value(table, key, _as_text(v))
        if bad:
            errs.append((path_key, f"{v!r} is {bad}", f"write a valid {key}"))
            continue
        m.defaults[key] = _as_text(v)

    if errs:
        lines = [f"  - {k}: {what}. Fix: {fix}." for k, what, fix in errs]
        exc = InputFileError(f"{path}: {len(errs)} problem{'s' if len(errs) > 1 else ''} in the column mapping "
                             f"(see docs/mapping.md):\n" + "\n".join(lines))
        exc.mapping_problems = errs  # type: ignore[attr-defined]
        raise exc
    return m


def _letter(i: int) -> str:
    s, i = "", i + 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _sheet_names(path: Path) -> list[str] | None:
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    from planner.readers.canonical import _xlsx_sheets

    return _xlsx_sheets(path)


def _peek_sheet(mapping: str | Path, sheets: list[str] | None):
    """The sheet to open (name, 0-based index or None for the first), or False when the
    mapping's file.sheet cannot be opened (load_mapping then reports it with the rest)."""
    try:
        doc = tomllib.loads(Path(mapping).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        load_mapping(mapping)  # raises the clear error
        raise  # pragma: no cover - load_mapping always raises here
    f = doc.get("file", {})
    sheet = f.get("sheet") if isinstance(f, dict) else None
    if sheets is None or sheet is None:
        return None
    if isinstance(sheet, str) and sheet in sheets:
        return sheet
    if isinstance(sheet, int) and not isinstance(sheet, bool) and 1 <= sheet <= len(sheets):
        return sheet - 1
    return False


def read_mapped(path: str | Path, mapping: str | Path, agency: str | None = None,
                postcodes: PostcodeTable | None = None) -> ReadResult:
    """Read a CSV/XLSX through a TOML column mapping (see docs/mapping.md)."""
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file. Fix: check the path.")
    sheets = _sheet_names(path)
    sheet = _peek_sheet(mapping, sheets)
    raw = None
    if sheet is not False:
        raw = read_raw_table(path, sheet=sheet) if sheets is not None else read_raw_table(path)
    # every problem of the mapping at once, including source columns the sheet lacks
    m = load_mapping(mapping, headers=raw.headers if raw is not None else None, sheets=sheets, data_file=path.name)
    assert raw is not None  # a sheet that cannot be opened is a mapping problem raised above
    problems = ProblemReport()
    problems.extend(raw.problems)
    if m.sheet is not None and sheets is None:
        problems.add(Problem(str(mapping), None, "file.sheet", str(m.sheet), f"{path.name} is not a workbook; file.sheet was ignored",
                             "remove file.sheet for CSV files", "info", m.table, None, "sheet_ignored"))
    norm = [normalise_header(h) for h in raw.headers]
    used: set[int] = set()
    fields: dict[str, Field] = {}

    def index(src: str) -> int:
        exact = [i for i, h in enumerate(raw.headers) if h.strip() == src.strip()]
        return (exact or [i for i, h in enumerate(norm) if h == normalise_header(src)])[0]

    for name in {**m.columns, **m.defaults}:
        srcs = m.columns.get(name, [])
        idx = [index(s) for s in srcs]
        used.update(idx)
        label = " + ".join(raw.headers[i] for i in idx) if idx else f"defaults.{name} ({mapping})"
        vals = []
        vmap = m.values.get(name, {})
        for r in raw.records:
            parts = [r[i].strip() for i in idx]
            v = ", ".join(p for p in parts if p) if len(parts) > 1 else (parts[0] if parts else "")
            if vmap and v.strip().lower() in vmap:
                v = vmap[v.strip().lower()]
            if v.strip() == "" and name in m.defaults:
                v = m.defaults[name]
            vals.append(v)
        fields[name] = Field(vals, label, m.units.get(name, ("", 1.0))[1])
    unused = [h for i, h in enumerate(raw.headers) if i not in used and h]
    if unused:
        problems.add(Problem(file, 1, None, ", ".join(unused)[:300],
                             f"{len(unused)} columns are not in the mapping and were not read: {', '.join(unused)}",
                             f"map them under [columns] in {Path(mapping).name} if they are needed", "info", m.table,
                             None, "unused_columns"))
    who = agency or m.agency or None
    frame, bad, notes = build_table(m.table, fields, raw.rows, file, problems, agency=who, postcodes=postcodes,
                                    xy_crs=m.crs,
                                    agency_fix=f"map an agency column, set [file] agency in {Path(mapping).name}, or give --agency NAME")
    notes = [f"read through the mapping {mapping} as {m.table}",
             *(f"{k}: {u} converted to {column(m.table, k).unit} (x {f:g})" for k, (u, f) in m.units.items()),
             *notes]
    result = ReadResult(file=file, reader="mapped", problems=problems, notes=notes, primary=m.table,
                        rows_read=raw.rows_read, rows_unreadable=len(bad) + len(raw.blank_rows) + len(raw.bad_rows))
    setattr(result, m.table, frame)
    return finish(result)


__all__ = ["UNITS", "Mapping", "load_mapping", "read_mapped", "unit_factor"]
