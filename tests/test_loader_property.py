"""Property test: any CSV a csv.writer can produce, with Transparency Code headers and junk,
is read without a crash (only InputFileError, for a whole-file problem) and without losing a
row: rows_read is the number of data records the csv module reads back from the same file,
and rows_read == rows_stored + rows_unreadable."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InputFileError
from planner.readers import read_file
from planner.readers.base import normalise_header
from planner.readers.transparency import read_transparency

TC_HEADERS = [
    "OrganisationLabel", "OrganisationURI", "Organisation", "Organisation Label", "EffectiveDate", "UPRN",
    "AssetCode", "PropertyName", "StreetNumber", "StreetName", "PostTown", "PostCode", "Site Address",
    "CoordinateReferenceSystem", "GeoX", "GeoY", "Easting", "Northing", "Latitude", "Longitude",
    "TenureType", "TenureDetail", "Tenure Detail", "OtherDetail", "HoldingType", "Holding Type",
    "BuildingSize", "LandArea", "EnergyRating", "asset code", "POST_CODE", " Geo X ",
]
# headers that would send read_file to another reader (not under test here)
OTHER_READERS = {"siteid", "serviceid", "zoneid", "sitecode", "stationname", "frsfullname"}
# no ; tab or | in headers: the delimiter is sniffed from the header line
JUNK_ALPHABET = st.characters(categories=("L", "N"), exclude_characters="\x00") | st.sampled_from(list(" _-.()/#'&,\""))
junk_header = st.text(JUNK_ALPHABET, min_size=1, max_size=12).filter(
    lambda h: h.strip() != "" and normalise_header(h) not in OTHER_READERS)
header = st.sampled_from(TC_HEADERS) | junk_header

VALUES = ["", " ", ",", '"', "\n", "\r\n", "\r", "a,b", 'say "hi"', "1.00012E+11", "010000481734", "M31",
          "WA14 1PF", "M32 OXZ", "-2.3520922", "53.3879587", "395265", "222126", "53.457484", "-2.365856",
          "1,047", "-5", "0", "2500000", "n/k", "N/A", "£500", "Café", "\u00a0", "Freehold\u00a0",
          "Owner Occupied", "Leasehold", "WGS84", "OSGB36", "29/09/2023", "2023-13-01", "A+", "Z",
          "Land", "Land and Building", "\ufeff", "ü\u2028x", "\t", ";", "|"]
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
number = st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers(-10**13, 10**13).map(str)
cell = st.sampled_from(VALUES) | text | number
row = st.lists(cell, max_size=9)  # [] is an empty row


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers=st.lists(header, min_size=1, max_size=8), rows=st.lists(row, max_size=12),
       cp1252=st.booleans(), via_dispatcher=st.booleans())
def test_random_csv_never_crashes_and_never_loses_a_row(headers, rows, cp1252, via_dispatcher):
    encoding = "utf-8"
    if cp1252:
        try:
            for r in [headers, *rows]:
                for c in r:
                    c.encode("cp1252")
            encoding = "cp1252"
        except UnicodeEncodeError:
            pass
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "assets.csv"
        with open(path, "w", newline="", encoding=encoding) as fh:
            w = csv.writer(fh)
            w.writerow(headers)
            w.writerows(rows)
        with open(path, newline="", encoding=encoding) as fh:
            expected = len(list(csv.reader(fh))) - 1
        nul = "\x00" in path.read_bytes().decode(encoding)
        try:
            if via_dispatcher:
                result = read_file(path, agency="council")
            else:
                result = read_transparency(path)
        except InputFileError as exc:
            assert str(exc)  # a file-level problem, one message
            if nul:
                return
            # a file with an id or name column is never refused
            known = {normalise_header(h) for h in headers}
            assert not known & {"assetcode", "propertyname", "uprn"}, str(exc)
            return
    assert expected == len(rows)
    assert result.rows_read == expected
    assert result.rows_read == result.rows_stored + result.rows_unreadable
    assert len(result.sites) == result.rows_stored
    assert result.sites["source_row"].is_unique
    assert set(result.sites["source_row"]) <= set(range(2, expected + 2))
    for p in result.problems:
        assert p.row is None or 2 <= p.row <= expected + 1
