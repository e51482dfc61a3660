"""Reader for the Local Government Transparency Code "land and building assets" files.

Every English council publishes its land and buildings as a CSV under the Transparency Code
(2015). The column names are fixed by the Code (``AssetCode``, ``PropertyName``, ``GeoX``,
``BuildingSize`` ...) but real files differ: spelling and spacing of headers, columns
duplicated, cp1252 bytes and non-breaking spaces, coordinates in WGS84 or British National
Grid with or without a ``CoordinateReferenceSystem`` column, lat/lon swapped on some rows,
outward-only postcodes (``M31``), UPRNs mangled by a spreadsheet (``1.00012E+11``).

``read_transparency(path, agency="council", postcodes=None)`` reads one such file into the
``sites`` table (``planner.schema.SITE_COLUMNS``) and a ``ProblemReport``; it never raises for
a problem in a row (each one is reported, naming file, row, column and value, and the record
is kept), and raises ``InputFileError`` only when the whole file cannot be used (empty,
binary, or no identifier, name or location column at all).

Headers are matched by their normalised spelling (case, spaces, underscores and punctuation
ignored) against the aliases in ``FIELDS``. When a header appears more than once, the first
non-empty value of the row is used; if the copies disagree in a row, that row gets one
warning naming the column positions. Headers not recognised are listed in one info problem.

Values:

- ``site_id``: ``AssetCode``; when empty, ``<file stem>:row<N>`` (a warning says so).
- ``address``: ``StreetNumber StreetName, PostTown`` on one line.
- ``uprn``: kept as text with its leading zeros; a UPRN in scientific notation
  (``1.00012E+11``, a spreadsheet's doing: digits are lost) or that is not 1-12 digits is an
  error; ``100012797623.0`` is read as ``100012797623`` with a warning.
- ``tenure``: ``freehold`` or ``leasehold``; ``tenure_detail``: ``owner occupied``, ``vacant``,
  ``leasehold in``, ``leasehold out`` or ``other``. "Occupied by local authority" reads as
  owner occupied; a bare "Leasehold" detail reads as ``leasehold out`` on a freehold (the
  council owns it and lets it) and ``leasehold in`` on a leasehold; anything else as
  ``other``. Every such reading is listed in one info problem.
- ``occupier_agency``: the owning agency when the tenure detail is owner occupied.
- ``holding_type``: ``Land``, ``Buildings`` or ``Land/Buildings``; other text is kept as
  written and listed in one info problem.
- ``gia_m2`` from ``BuildingSize`` (m2; ``1,047`` and ``1047 m2`` are fine). Not a number, zero
  or negative, or over 1,000,000 m2 is an error (0 on a ``Land`` holding means no building
  and is kept). ``land_area_ha`` from ``LandArea`` (hectares): negative is an error, over
  10,000 ha a warning (probably square metres).
- ``energy_rating``: A+ to G. The Transparency Code asks for the Display Energy Certificate
  rating, so ``energy_rating_type`` is ``DEC``; any other value is a warning.
- ``effective_date``: ISO ``YYYY-MM-DD`` from ``YYYY-MM-DD`` or ``DD/MM/YYYY``
  (also ``DD-MM-YYYY``, ``DD.MM.YYYY``); anything else is a warning.
- ``N/A``, ``NA``, ``-``, ``null`` and ``None`` are read as empty in every column.
- ``building_type`` from keywords in ``OtherDetail``, then ``PropertyName``, then a
  ``HoldingType`` that is not one of the Code's three values (the first of them with a match
  decides), rules tried in this order (whole words, any case):

  ============== =============================================================
  building_type  keywords
  ============== =============================================================
  care           care home, nursing home, residential care, care centre
  car_park       car park(s), carpark, parking, multi-storey
  library        library, libraries
  leisure        leisure, sport(s), swimming, pool(s), baths, gym, stadium
  education      school(s), college(s), academy
  depot          depot(s)
  office         office(s), town hall, civic
  community      community, youth centre, youth club, hall(s), children's centre
  open_space     park(s), playing field(s), allotment(s), land, open space,
                 garden(s), recreation ground
  other          anything else
  ============== =============================================================

Coordinates are located with ``planner.readers.base.locate``: it decides per row from the
values whether ``GeoX``/``GeoY`` are BNG metres, WGS84 degrees or swapped degrees, checks a
declared ``CoordinateReferenceSystem``, falls back to the full postcode's centroid, and
reports rows it cannot place. Each of its decisions is a note and an info problem.

``in_analysis`` is false, with an ``exclusion_reason``, for a record with an error.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputFileError
from planner.postcodes import PostcodeTable, normalise_postcode, postcode_kind
from planner.problems import Problem, ProblemReport
from planner.readers.base import (
    ReadResult,
    finish,
    locate,
    normalise_header,
    parse_number,
    read_raw_table,
)
from planner.schema import ENERGY_RATINGS

READER = "transparency"

# Canonical field -> header aliases, most preferred first (compared after normalise_header).
FIELDS: dict[str, tuple[str, ...]] = {
    "asset_code": ("AssetCode", "AssetReference", "AssetRef", "AssetID", "AssetNumber", "AssetNo",
                   "PropertyReference", "PropertyRef", "PropertyID", "PropertyCode", "SiteCode",
                   "SiteReference", "SiteRef", "SiteID"),
    "name": ("PropertyName", "AssetName", "SiteName", "BuildingName", "Name", "PropertyTitle",
             "AssetDescription", "PropertyDescription"),
    "street_number": ("StreetNumber", "StreetNo", "BuildingNumber", "HouseNumber", "PropertyNumber"),
    "street": ("StreetName", "Street", "Address", "SiteAddress", "PropertyAddress", "AssetAddress",
               "AddressLine1", "Address1", "Road"),
    "town": ("PostTown", "Town", "City", "Locality"),
    "postcode": ("PostCode", "PostalCode", "Postcodes", "PostCodes"),
    "x": ("GeoX", "Easting", "X", "XCoordinate", "CoordX", "Longitude", "Lon", "Long", "Lng"),
    "y": ("GeoY", "Northing", "Y", "YCoordinate", "CoordY", "Latitude", "Lat"),
    "crs": ("CoordinateReferenceSystem", "CRS", "CoordinateSystem", "SpatialReference", "Projection"),
    "tenure": ("TenureType", "Tenure"),
    "tenure_detail": ("TenureDetail", "TenureDetails", "TenureDescription"),
    "other_detail": ("OtherDetail", "OtherDetails", "OtherTenureDetail"),
    "holding_type": ("HoldingType", "Holding", "HoldingTypes"),
    "building_size": ("BuildingSize", "GIA", "GrossInternalArea", "GIAm2", "GIASqm", "GrossInternalAreaM2",
                      "BuildingSizeM2", "BuildingSizeGIA", "BuildingArea", "FloorArea"),
    "land_area": ("LandArea", "LandAreaHa", "LandAreaHectares", "SiteArea", "SiteAreaHa", "AreaHa"),
    "energy_rating": ("EnergyRating", "DEC", "DECRating", "DisplayEnergyCertificate", "EnergyRatingDEC"),
    "uprn": ("UPRN", "UniquePropertyReferenceNumber", "UPRNs"),
    "effective_date": ("EffectiveDate", "DateEffective", "AsAtDate", "AsAt", "Date"),
    "organisation": ("OrganisationLabel", "Organisation", "OrganisationName", "OrganizationLabel",
                     "Organization", "OrganizationName"),
    "organisation_uri": ("OrganisationURI", "OrganizationURI", "OrganisationCode", "OrganisationID"),
}

# Header shown in problems when the file has no such column.
CODE_NAMES = {k: v[0] for k, v in FIELDS.items()}

NULLS = {"n/a", "na", "-", "null", "none", "#n/a"}
GIA_MAX_M2 = 1_000_000.0
LAND_WARN_HA = 10_000.0

TYPE_RULES: tuple[tuple[str, str], ...] = (
    ("care", r"care homes?|nursing homes?|residential care|care centres?"),
    ("car_park", r"car ?parks?|parking|multi[- ]?storey"),
    ("library", r"library|libraries"),
    ("leisure", r"leisure|sports?|swimming|pools?|baths|gym|stadium"),
    ("education", r"schools?|colleges?|academy"),
    ("depot", r"depots?"),
    ("office", r"offices?|town hall|civic"),
    ("community", r"community|youth centre|youth club|halls?|children'?s centre"),
    ("open_space", r"parks?|playing fields?|allotments?|land|open space|gardens?|recreation ground"),
)
_TYPE_RES = tuple((t, re.compile(rf"\b(?:{p})\b", re.IGNORECASE)) for t, p in TYPE_RULES)

HOLDINGS = {
    "land": "Land",
    "buildings": "Buildings", "building": "Buildings",
    "landbuildings": "Land/Buildings", "landandbuildings": "Land/Buildings", "landandbuilding": "Land/Buildings",
    "landbuilding": "Land/Buildings", "buildingsandland": "Land/Buildings", "buildingandland": "Land/Buildings",
}


def _col_letter(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (spreadsheet column letters)."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _clean(v: str | None) -> str:
    """Text with line breaks, tabs and non-breaking spaces as single spaces; null markers empty."""
    if v is None:
        return ""
    s = " ".join((v if type(v) is str else str(v)).split())  # str.split() also splits at U+00A0
    return "" if s.lower() in NULLS else s


@dataclasses.dataclass
class _Field:
    key: str
    groups: list[list[int]]  # column indexes; one group per distinct normalised header, alias order
    headers: list[str]  # header text of each group


def _match(headers: list[str]) -> tuple[dict[str, _Field], list[str]]:
    norm = [normalise_header(h) for h in headers]
    found: dict[str, _Field] = {}
    used: set[int] = set()
    for key, aliases in FIELDS.items():
        groups, heads = [], []
        for alias in aliases:
            a = normalise_header(alias)
            idx = [i for i, h in enumerate(norm) if h == a]
            if idx:
                groups.append(idx)
                heads.append(headers[idx[0]])
                used.update(idx)
        if groups:
            found[key] = _Field(key, groups, heads)
    unused = [headers[i] for i in range(len(headers)) if i not in used and headers[i].strip()]
    return found, unused


@functools.cache
def _unit_re(units: str) -> re.Pattern:
    return re.compile(rf"\s*(?:{units})\.?\s*$", flags=re.IGNORECASE)


def _strip_unit(s: str, units: str) -> str:
    return _unit_re(units).sub("", s)


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?")
_UK_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?: .*)?")
_LEASE = re.compile(r"lease|leashold")
_UPRN = re.compile(r"\d{1,12}")
_UPRN_DECIMAL = re.compile(r"\d{1,12}\.0+")
_SCIENTIFIC = re.compile(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+")
_IN_OUT = re.compile(r"\b(in|out)\b")
_NOT_LETTER = re.compile(r"[^a-z]")
_LEASE_IN = re.compile(r"\b(lease(hold)?|leased|leashold)\s*-?\s*in\b")
_LEASE_OUT = re.compile(r"\b(lease(hold)?|leased|leashold)\s*-?\s*out\b|\blet\b|\bsub-?let\b")


def _iso_date(s: str) -> str:
    m = _ISO_DATE.fullmatch(s)
    if m:
        y, mo, d = (int(g) for g in m.groups())
    else:
        m = _UK_DATE.fullmatch(s)
        if not m:
            raise ValueError(s)
        d, mo, y = (int(g) for g in m.groups())
    return date(y, mo, d).isoformat()


def _tenure(s: str) -> str | None:
    t = s.lower()
    if not t:
        return None
    if "freehold" in t:
        return "freehold"
    if _LEASE.search(t):
        return "leasehold"
    return None


def _tenure_detail(s: str, tenure: str | None) -> str | None:
    t = " ".join(s.lower().split())
    if not t:
        return None
    if "owner" in t or "occupied by" in t or t in ("occupied", "operational", "in use"):
        return "owner occupied"
    if "vacant" in t or t in ("empty", "surplus"):
        return "vacant"
    if _LEASE_IN.search(t):
        return "leasehold in"
    if _LEASE_OUT.search(t):
        return "leasehold out"
    if _LEASE.search(t):
        if tenure == "freehold":
            return "leasehold out"
        if tenure == "leasehold":
            return "leasehold in"
        return "other"
    return "other"


def _building_type(*texts: str) -> str:
    for text in texts:
        if not text:
            continue
        for btype, rx in _TYPE_RES:
            if rx.search(text):
                return btype
    return "other"


def _energy(s: str) -> str | None:
    t = s.upper().replace(" ", "")
    if t.startswith("DEC"):
        t = t[3:].lstrip(":-")
    return t if t in ENERGY_RATINGS else None


def read_transparency(path: str | Path, agency: str = "council",
                      postcodes: PostcodeTable | None = None) -> ReadResult:
    """Read a Transparency Code land and building assets file (CSV or XLSX) into sites."""
    path = Path(path)
    file = str(path)
    raw = read_raw_table(path)
    fields, unused = _match(raw.headers)
    has_location = ("x" in fields and "y" in fields) or "postcode" in fields or "street" in fields
    if not ({"asset_code", "name", "uprn"} & fields.keys()) and not has_location:
        shown = ", ".join(h for h in raw.headers[:15] if h.strip()) or "(none)"
        raise InputFileError(
            f"{path}: no recognisable Transparency Code columns: no asset id, name or location column "
            f"(found: {shown}). Fix: name the columns as the Transparency Code does (AssetCode, "
            "PropertyName, PostCode, GeoX, GeoY, BuildingSize ...), or describe them with --mapping MAP.toml.")

    result = ReadResult(file=file, reader=READER)
    result.rows_read = raw.rows_read
    result.rows_unreadable = len(raw.blank_rows) + len(raw.bad_rows)
    result.problems.extend(raw.problems)
    probs = ProblemReport()  # row problems, added after the file-level notes

    def note(text: str, code: str) -> None:
        result.notes.append(text)
        result.problems.add(Problem(file, None, None, None, text, "none needed; check that this is right",
                                    "info", "sites", None, code))

    if unused:
        result.problems.add(Problem(
            file, None, None, ", ".join(unused)[:300],
            f"{len(unused)} column(s) not recognised as Transparency Code columns were not read: {', '.join(unused)}",
            "rename a column to its Transparency Code name (e.g. BuildingSize, GeoX) if it should be read",
            "info", "sites", None, "unrecognised_columns"))
    if "asset_code" not in fields:
        result.problems.add(Problem(
            file, None, CODE_NAMES["asset_code"], None,
            f"the file has no AssetCode column; each record's id was made from the file name and row ({path.stem}:row<N>)",
            "add an AssetCode column with the council's own asset references", "warning", "sites", None, "missing_id"))

    def head(key: str) -> str:
        f = fields.get(key)
        return f.headers[0] if f else CODE_NAMES[key]

    # Duplicated headers: first non-empty value, and a warning for each row where copies disagree.
    n = len(raw.records)
    values: dict[str, list[str]] = {}
    used_head: dict[str, list[str]] = {}
    for key, f in fields.items():
        if len(f.groups) == 1 and len(f.groups[0]) == 1:
            # the usual case, one column for the field: the same as the loop below, faster
            i = f.groups[0][0]
            values[key] = [_clean(rec[i]) for rec in raw.records]
            used_head[key] = [f.headers[0]] * n
            continue
        col: list[str] = []
        hd: list[str] = []
        for k, rec in enumerate(raw.records):
            v, h = "", f.headers[0]
            for g, idx in enumerate(f.groups):
                cells = [(i, _clean(rec[i])) for i in idx]
                if len(idx) > 1:
                    distinct = {c for _, c in cells if c}
                    if len(distinct) > 1:
                        letters = [_col_letter(i) for i, _ in cells]
                        said = "; ".join(f"column {_col_letter(i)} says {c!r}" for i, c in cells)
                        first = next(c for _, c in cells if c)
                        probs.add(Problem(
                            file, raw.rows[k], f"{f.headers[g]} (columns {' and '.join(letters)})",
                            " | ".join(c for _, c in cells)[:120],
                            f"the file has {len(idx)} columns named {f.headers[g]} and they disagree in this row ({said}); "
                            f"the first non-empty value {first!r} was used",
                            f"delete the duplicated {f.headers[g]} column or make the copies agree",
                            "warning", "sites", None, "duplicate_column_disagrees"))
                if not v:
                    v = next((c for _, c in cells if c), "")
                    if v:
                        h = f.headers[g]
            col.append(v)
            hd.append(h)
        values[key] = col
        used_head[key] = hd

    def get(key: str) -> list[str]:
        return values.get(key, [""] * n)

    rows = raw.rows
    site_id: list[str] = []
    for k, code in enumerate(get("asset_code")):
        if code:
            site_id.append(code)
            continue
        site_id.append(f"{path.stem}:row{rows[k]}")
        if "asset_code" in fields:
            probs.add(Problem(file, rows[k], head("asset_code"), None,
                              f"no asset code; the record was given the id {site_id[-1]!r}",
                              f"fill in {head('asset_code')} with the council's asset reference",
                              "warning", "sites", site_id[-1], "missing_id"))

    def problem(k, key, value, what, fix, severity="error", code=""):
        column = used_head[key][k] if key in used_head else head(key)
        probs.add(Problem(file, rows[k], column, None if value is None else str(value)[:120], what, fix,
                          severity, "sites", site_id[k], code))

    # Text fields
    name = [v or None for v in get("name")]
    address = []
    for num, street, town in zip(get("street_number"), get("street"), get("town"), strict=True):
        line = " ".join(p for p in (num, street) if p)
        if town and not line.lower().endswith(town.lower()):
            line = f"{line}, {town}" if line else town
        address.append(line or None)

    postcode: list[str | None] = []
    for k, v in enumerate(get("postcode")):
        pc = normalise_postcode(v) if v else None
        postcode.append(pc)
        if pc is not None and postcode_kind(pc) == "invalid":
            fix = "write the full postcode, e.g. M32 0TH"
            guess = normalise_postcode(pc[:-3] + pc[-3:].replace("O", "0", 1)) if len(pc) >= 5 else None
            if guess and guess != pc and postcode_kind(guess) == "full":
                fix = f"the inward part starts with a digit: did you mean {guess}?"
            problem(k, "postcode", v, "not a UK postcode", fix, "warning", "bad_postcode")

    uprn: list[str | None] = []
    for k, v in enumerate(get("uprn")):
        s = v.replace(" ", "")
        if not s:
            uprn.append(None)
        elif _UPRN.fullmatch(s):
            uprn.append(s)
        elif _UPRN_DECIMAL.fullmatch(s):
            uprn.append(s.split(".")[0])
            problem(k, "uprn", v, "the UPRN was written as a decimal number; read without the '.0'",
                    "format the UPRN column as Text so UPRNs are whole numbers with their leading zeros", "warning",
                    "uprn_decimal")
        elif _SCIENTIFIC.fullmatch(s):
            uprn.append(None)
            problem(k, "uprn", v,
                    "the UPRN is in scientific notation: a spreadsheet turned it into a number and its last digits are lost",
                    "format the UPRN column as Text and copy the UPRNs again from the source (AddressBase or the asset system)",
                    "error", "uprn_scientific")
        else:
            uprn.append(None)
            problem(k, "uprn", v, "not a UPRN (a UPRN is 1 to 12 digits)",
                    "write the Unique Property Reference Number as digits only, or leave the cell empty", "error", "bad_uprn")

    # Tenure
    tenure: list[str | None] = []
    detail: list[str | None] = []
    detail_readings: Counter = Counter()
    for k, (tv, dv) in enumerate(zip(get("tenure"), get("tenure_detail"), strict=True)):
        t = _tenure(tv)
        if tv and t is None:
            problem(k, "tenure", tv, "tenure is neither freehold nor leasehold; it was left empty",
                    "write Freehold or Leasehold", "warning", "bad_tenure")
        tenure.append(t)
        d = _tenure_detail(dv, t)
        detail.append(d)
        if d is not None and " ".join(dv.lower().split()) != d:
            # a bare "Leasehold" is read through the tenure type: say which
            by_tenure = d in ("leasehold in", "leasehold out") and not _IN_OUT.search(dv.lower())
            detail_readings[(dv, tv if by_tenure else "", d)] += 1
    occupier = [agency if d == "owner occupied" else None for d in detail]

    holding: list[str | None] = []
    odd_holdings: Counter = Counter()
    for v in get("holding_type"):
        if not v:
            holding.append(None)
            continue
        h = HOLDINGS.get(_NOT_LETTER.sub("", v.lower()))
        holding.append(h or v)
        if h is None:
            odd_holdings[v] += 1

    other_detail = get("other_detail")
    btype = [_building_type(od, nm or "", "" if hv in (None, "Land", "Buildings", "Land/Buildings") else hv)
             for od, nm, hv in zip(other_detail, name, holding, strict=True)]

    # Areas
    gia: list[float | None] = []
    for k, v in enumerate(get("building_size")):
        try:
            x = parse_number(_strip_unit(v, r"m2|m²|sq\.? ?m|sqm|square metres"))
        except ValueError:
            gia.append(None)
            problem(k, "building_size", v, "the gross internal area is not a number",
                    "write the area in square metres as a plain number, e.g. 1047 or 1,047.5", "error", "not_a_number")
            continue
        if x is not None and x == 0 and holding[k] == "Land":
            gia.append(0.0)
        elif x is not None and (x <= 0 or x > GIA_MAX_M2):
            gia.append(None)
            why = "zero or negative" if x <= 0 else f"over {GIA_MAX_M2:,.0f} m2"
            problem(k, "building_size", v, f"the gross internal area is {why}",
                    "give the building's gross internal area in square metres (leave it empty for land)", "error", "bad_area")
        else:
            gia.append(x)
    land: list[float | None] = []
    for k, v in enumerate(get("land_area")):
        try:
            x = parse_number(_strip_unit(v, r"ha|hectares?"))
        except ValueError:
            land.append(None)
            problem(k, "land_area", v, "the land area is not a number",
                    "write the area in hectares as a plain number, e.g. 0.25", "error", "not_a_number")
            continue
        if x is not None and x < 0:
            land.append(None)
            problem(k, "land_area", v, "the land area is negative", "give the site area in hectares (0 or more)",
                    "error", "bad_area")
            continue
        if x is not None and x > LAND_WARN_HA:
            problem(k, "land_area", v, f"the land area is over {LAND_WARN_HA:,.0f} ha; perhaps it is in square metres",
                    "give the site area in hectares (1 ha = 10,000 m2)", "warning", "area_unit")
        land.append(x)

    energy: list[str | None] = []
    for k, v in enumerate(get("energy_rating")):
        r = _energy(v) if v else None
        energy.append(r)
        if v and r is None:
            problem(k, "energy_rating", v, "not an energy rating band (A+ to G); it was left empty",
                    "write the Display Energy Certificate band: A+, A, B, C, D, E, F or G", "warning", "bad_energy_rating")

    eff: list[str | None] = []
    for k, v in enumerate(get("effective_date")):
        if not v:
            eff.append(None)
            continue
        try:
            eff.append(_iso_date(v))
        except ValueError:
            eff.append(None)
            problem(k, "effective_date", v, "not a date (YYYY-MM-DD or DD/MM/YYYY); it was left empty",
                    "write the date as YYYY-MM-DD, e.g. 2023-09-29", "warning", "bad_date")

    # Coordinates: parse here (so a bad value is reported), decide the system in locate().
    xs = np.full(n, np.nan)
    ys = np.full(n, np.nan)
    for key, arr in (("x", xs), ("y", ys)):
        for k, v in enumerate(get(key)):
            try:
                val = parse_number(v)
            except ValueError:
                problem(k, key, v, "the coordinate is not a number; the record was placed by its postcode if it could be",
                        "write the coordinate as a plain number (degrees or metres)", "warning", "not_a_number")
                continue
            if val is not None:
                arr[k] = val

    sites = pd.DataFrame({
        "site_id": site_id, "name": name, "address": address, "postcode": postcode, "uprn": uprn,
        "agency": [agency] * n, "occupier_agency": occupier, "building_type": btype,
        "holding_type": holding, "tenure": tenure, "tenure_detail": detail, "gia_m2": gia,
        "land_area_ha": land, "energy_rating": energy, "energy_rating_type": [("DEC" if r else None) for r in energy],
        "effective_date": eff, "source_file": [path.name] * n, "source_row": rows,
        "estimated_fields": [""] * n, "illustrative": [False] * n,
    }, index=pd.RangeIndex(n))
    for c in ("gia_m2", "land_area_ha"):
        sites[c] = pd.array([np.nan if v is None else v for v in sites[c]], dtype="Float64")

    locate_probs = ProblemReport()
    crs_head = head("crs")
    declared = pd.Series(get("crs"), dtype="string") if "crs" in fields else None
    loc_notes = locate(sites, pd.Series(xs), pd.Series(ys), pd.Series(postcode, dtype="string"), file, postcodes,
                       locate_probs, declared_crs=declared, x_name=head("x"), y_name=head("y"),
                       postcode_name=head("postcode"))
    for p in locate_probs:
        if p.code == "crs_mismatch" and crs_head != p.column:
            p = dataclasses.replace(p, column=crs_head)
        probs.add(p)

    # File-level decisions, each an info problem.
    if "x" in fields and "y" in fields and "crs" not in fields and np.isfinite(xs).any():
        note(f"the file has no CoordinateReferenceSystem column: the system of {head('x')}/{head('y')} was decided "
             "from the values of each row", "crs_from_values")
    for text in loc_notes:
        note(text, "location_decision")
    if detail_readings:
        parts = []
        for (raw_v, tv, d), c in sorted(detail_readings.items(), key=lambda kv: -kv[1]):
            on = f" with {head('tenure')} {tv!r}" if tv else ""
            parts.append(f"{raw_v!r}{on} -> {d} ({c} rows)")
        note(f"{head('tenure_detail')} values read as: " + "; ".join(parts), "tenure_detail_reading")
    if odd_holdings:
        note(f"{head('holding_type')} values that are not Land, Buildings or Land/Buildings were kept as written: "
             + "; ".join(f"{v!r} ({c} rows)" for v, c in odd_holdings.most_common()), "holding_type_reading")
    if any(energy):
        note(f"{head('energy_rating')} read as Display Energy Certificate (DEC) bands, as the Transparency Code asks "
             "(energy_rating_type = DEC)", "energy_rating_dec")
    if "organisation" in fields:
        note(f"{head('organisation')} is not stored: every record's agency is {agency!r} (the --agency option)",
             "agency_from_option")

    result.problems.extend(probs)

    # Records with an error stay in the register, out of analysis.
    reasons: dict[int, list[str]] = {}
    for p in probs:
        if p.severity == "error" and p.row is not None:
            reasons.setdefault(p.row, []).append(f"{p.column}: {p.problem}")
    excluded = sites["source_row"].map(lambda r: r in reasons).to_numpy(dtype=bool)
    sites["in_analysis"] = pd.array(~excluded, dtype="boolean")
    sites["exclusion_reason"] = pd.array(
        ["; ".join(reasons[r]) if r in reasons else None for r in sites["source_row"]], dtype="string")
    result.sites = sites
    return finish(result)
