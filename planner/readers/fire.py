"""Reader of the Home Office fire station list (England; published with the fire statistics
data tables, 2018: 1,399 stations of 45 fire and rescue services).

Columns: FRS_FULLNAME, E_CODE, STATION_NAME, STATION_ADDRESS, STATION_POSTCODE,
STATION_EASTING, STATION_NORTHING (EPSG:27700). Headers are matched ignoring case and
punctuation; STATION_NAME is required.

- ``site_id`` = ``<E_CODE>-<slug of the station name>``, e.g. ``E31000040-altrincham``: stable
  across editions of the list while the station keeps its name, and unique. When two
  stations give the same id, the later ones get ``-2``, ``-3``, ... and a warning each; a
  station with no E_CODE gets ``fire-<slug of the service name>-<slug>`` and a warning.
- ``name`` = STATION_NAME, ``address`` = STATION_ADDRESS, ``postcode`` = STATION_POSTCODE
  (normalised; text that is not a postcode is reported and not stored),
  ``building_type`` = ``fire_station``, ``agency`` = the argument (default ``fire``),
  ``occupier_agency`` = FRS_FULLNAME (the fire and rescue service).
- Coordinates: STATION_EASTING/STATION_NORTHING, decided per row from the values by
  ``base.locate`` (the list is British National Grid); a cell holding text instead of a
  number (West Sussex's rows say "Not available here, but please see ...") is one warning and
  the station falls back to its postcode's centroid, or stays unlocated with a warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from planner.errors import InputFileError
from planner.postcodes import PostcodeTable, normalise_postcode, postcode_kind
from planner.problems import Problem, ProblemReport
from planner.readers.base import (
    ReadResult,
    finish,
    locate,
    match_columns,
    parse_number,
    read_raw_table,
)

ALIASES = {
    "frs": ("FRS_FULLNAME", "FRS", "fire and rescue service", "frs_name"),
    "e_code": ("E_CODE", "ecode", "frs_code"),
    "name": ("STATION_NAME", "station"),
    "address": ("STATION_ADDRESS", "address"),
    "postcode": ("STATION_POSTCODE", "postcode"),
    "easting": ("STATION_EASTING", "easting"),
    "northing": ("STATION_NORTHING", "northing"),
}


def slug(text: str) -> str:
    """'St Mary's (Retained)' -> 'st-mary-s-retained'."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


_LEADING_POSTCODE = re.compile(r"^\s*([A-Za-z]{1,2}[0-9][A-Za-z0-9]?\s*[0-9Oo][A-Za-z]{2})\b")


def corrected_postcode(text: str) -> str | None:
    """A full postcode recovered from a common slip, or None: the letter O typed for the
    zero that starts the inward code ('CH65 OEZ' -> 'CH65 0EZ'), or a postcode followed by
    a remark ('WF5 9EE (For Sat Nav use WF5 9TR)' -> 'WF5 9EE')."""
    m = _LEADING_POSTCODE.match(str(text))
    if not m:
        return None
    s = re.sub(r"\s+", "", m.group(1)).upper()
    s = s[:-3] + s[-3:].replace("O", "0", 1) if s[-3] == "O" else s
    return normalise_postcode(s) if postcode_kind(s) == "full" else None


def read_fire_stations(path: str | Path, agency: str = "fire", postcodes: PostcodeTable | None = None) -> ReadResult:
    """Read the Home Office fire station list into sites."""
    path = Path(path)
    file = str(path)
    raw = read_raw_table(path)
    problems = ProblemReport()
    problems.extend(raw.problems)
    found, _unused = match_columns(raw.headers, ALIASES)
    if "name" not in found:
        raise InputFileError(
            f"{path}: no STATION_NAME column, so this is not the Home Office fire station list "
            f"(found: {', '.join(raw.headers[:12])}). Fix: give that list, or another reader's file.")
    for idx in found.values():
        if len(idx) > 1:
            problems.add(Problem(file, 1, raw.headers[idx[0]], None,
                                 f"the column appears {len(idx)} times; the first was used",
                                 "delete or rename the duplicate columns", "warning", "sites", None, "duplicate_column"))
    for key in ("frs", "e_code", "address", "postcode", "easting", "northing"):
        if key not in found:
            problems.add(Problem(file, None, ALIASES[key][0], None, "the column is not in the file; its values are left empty",
                                 "give the full Home Office list", "warning", "sites", None, "missing_column"))

    def col(key: str) -> list[str]:
        i = found.get(key, [None])[0]
        return [("" if i is None else r[i]).strip() for r in raw.records]

    def label(key: str) -> str:
        return raw.headers[found[key][0]] if key in found else ALIASES[key][0]

    names, frs, codes = col("name"), col("frs"), col("e_code")
    keep, unreadable = [], len(raw.blank_rows) + len(raw.bad_rows)
    for k, row in enumerate(raw.rows):
        if names[k] == "" or not slug(names[k]):
            problems.add(Problem(file, row, label("name"), names[k] or None, "no station name: the station cannot be stored",
                                 "give the station's name", "error", "sites", None, "missing_id"))
            unreadable += 1
        else:
            keep.append(k)
    rows = [raw.rows[k] for k in keep]
    ids: list[str] = []
    first_row: dict[str, int] = {}
    for k, row in zip(keep, rows, strict=True):
        if codes[k]:
            base_id = f"{codes[k].upper()}-{slug(names[k])}"
        else:
            base_id = f"fire-{slug(frs[k]) or 'unknown'}-{slug(names[k])}"
            problems.add(Problem(file, row, label("e_code"), None,
                                 f"no E_CODE; the site id {base_id!r} was made from the service and station names",
                                 "give the fire and rescue service's E code", "warning", "sites", base_id, "missing_code"))
        sid, n = base_id, 1
        while sid in first_row:
            n += 1
            sid = f"{base_id}-{n}"
        if sid != base_id:
            problems.add(Problem(file, row, label("name"), names[k],
                                 f"another station (row {first_row[base_id]}) gives the same id {base_id!r}; this one was named {sid!r}",
                                 "give the stations distinct names, or delete the duplicate row", "warning", "sites", sid,
                                 "duplicate_id"))
        first_row[sid] = row
        ids.append(sid)

    def coords(key: str) -> pd.Series:
        out, cells = [], col(key)
        for k, row, sid in zip(keep, rows, ids, strict=True):
            v = cells[k]
            try:
                out.append(parse_number(v))
            except ValueError:
                problems.add(Problem(file, row, label(key), v[:80],
                                     "not a number, so the station has no coordinates from this column",
                                     "write the coordinate in metres (EPSG:27700)", "warning", "sites", sid, "not_a_number"))
                out.append(None)
        return pd.Series(out, dtype="object")

    postcode_text = col("postcode")
    pcs = []
    for k, row, sid in zip(keep, rows, ids, strict=True):
        v = postcode_text[k]
        if v and postcode_kind(v) == "invalid":
            fixed = corrected_postcode(v)
            if fixed:
                problems.add(Problem(file, row, label("postcode"), v[:80], f"not a postcode as written; read as {fixed}",
                                     f"write just the postcode, as {fixed}", "warning", "sites", sid,
                                     "corrected_postcode"))
            else:
                problems.add(Problem(file, row, label("postcode"), v[:80], "not a postcode; not stored",
                                     "write the station's postcode, e.g. WA14 1PF", "warning", "sites", sid,
                                     "invalid_postcode"))
            v = fixed or ""
        pcs.append(normalise_postcode(v))
    address = col("address")
    df = pd.DataFrame({
        "site_id": pd.array(ids, dtype="string"),
        "name": pd.array([names[k] for k in keep], dtype="string"),
        "address": pd.array([address[k] or None for k in keep], dtype="string"),
        "postcode": pd.array(pcs, dtype="string"),
        "agency": agency,
        "occupier_agency": pd.array([frs[k] or None for k in keep], dtype="string"),
        "building_type": "fire_station",
        "source_file": path.name,
        "source_row": rows,
    })
    x, y = coords("easting"), coords("northing")
    notes = [f"{len(keep)} stations read; site_id = E_CODE + '-' + slug of STATION_NAME",
             f"agency set to {agency!r}; occupier_agency is the fire and rescue service (FRS_FULLNAME)"]
    notes.extend(locate(df, x, y, df["postcode"], file, postcodes, problems, x_name=label("easting"),
                        y_name=label("northing"), postcode_name=label("postcode")))
    result = ReadResult(file=file, reader="fire", sites=df, problems=problems, rows_read=raw.rows_read,
                        rows_unreadable=unreadable, notes=notes)
    return finish(result)


__all__ = ["corrected_postcode", "read_fire_stations", "slug"]
