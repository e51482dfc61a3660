"""The Transparency Code land and building assets reader, on real files and a broken-file corpus.

Expected values are worked out independently of the reader: records are counted and rows
found with the ``csv`` module, coordinates converted with a fresh pyproj Transformer, and the
corpus files (tests/corpus/transparency/, made by hand) have their bad cells listed here.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from planner.errors import InputFileError
from planner.geo import wgs84_to_bng
from planner.postcodes import PostcodeTable
from planner.readers import read_file
from planner.readers.base import normalise_header
from planner.readers.transparency import FIELDS, _building_type, _tenure_detail, read_transparency

from .conftest import REPO

CORPUS = REPO / "tests" / "corpus" / "transparency"
REAL = REPO / "tests" / "fixtures" / "real"
TRAFFORD = REPO / "data" / "sources" / "trafford_land_and_building_assets.csv"
TRAFFORD_POSTCODES = REPO / "data" / "sources" / "trafford_postcodes.csv"
CHELT_2021 = REAL / "local_authority_land_and_assets_2021.csv"
CHELT_2023 = REAL / "local_authority_land_and_assets_2023.csv"

_TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")


# --------------------------------------------------------------------------- helpers

def records(path: Path, encoding: str = "utf-8") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (spreadsheet row, record) pairs, read with the csv module alone."""
    with open(path, newline="", encoding=encoding) as fh:
        rows = list(csv.reader(fh))
    return rows[0], [(i, r) for i, r in enumerate(rows[1:], start=2)]


def as_dicts(path: Path, encoding: str = "utf-8") -> list[tuple[int, dict[str, str]]]:
    header, recs = records(path, encoding)
    return [(n, dict(zip(header, r, strict=False))) for n, r in recs]


def probs(result, code: str) -> list:
    return [p for p in result.problems if p.code == code]


def where(result, code: str) -> list[tuple[int | None, str | None]]:
    return [(p.row, p.column) for p in probs(result, code)]


def site(result, row: int) -> pd.Series:
    s = result.sites
    hit = s[s["source_row"] == row]
    assert len(hit) == 1, row
    return hit.iloc[0]


def bng(lon: float, lat: float) -> tuple[float, float]:
    e, n = _TO_BNG.transform(lon, lat)
    return float(e), float(n)


def assert_every_problem_is_complete(result) -> None:
    """Every problem says what and how to fix; every row problem names its row and column."""
    for p in result.problems:
        assert p.problem and p.fix, p
        assert Path(p.file).name == Path(result.file).name, p
        if p.row is not None:
            assert p.row >= 2, p
            if p.code not in ("blank_row", "extra_fields"):
                assert p.column, p
        else:
            assert p.severity == "info" or p.code == "missing_id", p


@pytest.fixture(scope="module")
def trafford_postcodes() -> PostcodeTable:
    pc = pd.read_csv(TRAFFORD_POSTCODES, dtype={"postcode": "string"})
    e, n = wgs84_to_bng(pc["lon"].to_numpy(), pc["lat"].to_numpy())
    table = pd.DataFrame({"easting": e, "northing": n})
    table.index = pc["postcode"].str.replace(" ", "").str.upper()
    return PostcodeTable(table=table[~table.index.duplicated()], source="trafford_postcodes.csv")


@pytest.fixture(scope="module")
def trafford(trafford_postcodes):
    return read_transparency(TRAFFORD, agency="council", postcodes=trafford_postcodes)


@pytest.fixture(scope="module")
def trafford_rows() -> list[tuple[int, dict[str, str]]]:
    return as_dicts(TRAFFORD)


# --------------------------------------------------------------------------- contract details

def test_header_aliases_do_not_overlap():
    seen: dict[str, str] = {}
    for key, aliases in FIELDS.items():
        for a in aliases:
            n = normalise_header(a)
            assert seen.setdefault(n, key) == key, f"{a} is an alias of both {seen[n]} and {key}"


@pytest.mark.parametrize("texts,expected", [
    (("Town Hall", "Altrincham Town Hall"), "office"),
    (("", "Sale Waterside (Sale TH/Sale Civic Theatre)"), "office"),
    (("", "Hale Library"), "library"),
    (("Leisure", "Longford Park Pavilion"), "leisure"),
    (("", "Stretford Sports Village"), "leisure"),
    (("", "Urmston Swimming Pool"), "leisure"),
    (("School", "Land at Moss Lane"), "education"),
    (("", "Davyhulme Youth Centre"), "community"),
    (("", "Broadheath Community Centre"), "community"),
    (("", "Shawe View Residential Care Home"), "care"),
    (("", "Stamford New Road Car Park"), "car_park"),
    (("", "Sale Depot"), "depot"),
    (("Managed allotments", "Moss Lane"), "open_space"),
    (("", "Land to the rear of 12 Moss Lane"), "open_space"),
    (("", "Longford Park, Public toilets"), "open_space"),
    (("", "Broomwood Centre"), "other"),
    (("", "Liverpool Road Shops"), "other"),  # 'pool' is a whole word only
])
def test_building_type_keywords(texts, expected):
    assert _building_type(*texts) == expected


@pytest.mark.parametrize("detail,tenure,expected", [
    ("Owner Occupied", "freehold", "owner occupied"),
    ("Occupied by Local Authority", "freehold", "owner occupied"),
    ("Vacant", "freehold", "vacant"),
    ("Leasehold In", "leasehold", "leasehold in"),
    ("Leasehold out", "freehold", "leasehold out"),
    ("Leasehold", "freehold", "leasehold out"),  # council owns it and lets it
    ("Leasehold", "leasehold", "leasehold in"),
    ("Leashold", "freehold", "leasehold out"),
    ("Licence", "freehold", "other"),
    ("Other", None, "other"),
    ("", "freehold", None),
])
def test_tenure_detail_reading(detail, tenure, expected):
    assert _tenure_detail(detail, tenure) == expected


# --------------------------------------------------------------------------- Trafford (real file)

def test_trafford_every_row_is_stored_and_accounted(trafford, trafford_rows):
    assert len(trafford_rows) == 608
    assert trafford.rows_read == len(trafford_rows)
    assert trafford.rows_stored == len(trafford_rows)
    assert trafford.rows_unreadable == 0
    assert trafford.rows_read == trafford.rows_stored + trafford.rows_unreadable
    assert trafford.sites["site_id"].tolist() == [r["AssetCode"] for _, r in trafford_rows]
    assert trafford.sites["source_row"].tolist() == [n for n, _ in trafford_rows]
    assert set(trafford.sites["agency"]) == {"council"}
    assert set(trafford.sites["source_file"]) == {TRAFFORD.name}
    assert_every_problem_is_complete(trafford)


def test_trafford_swapped_row_is_placed_in_the_borough(trafford, trafford_rows, trafford_postcodes):
    swapped = [(n, r) for n, r in trafford_rows if r["GeoX"] and float(r["GeoX"]) > 45]
    assert len(swapped) == 1
    row, rec = swapped[0]
    assert rec["PropertyName"] == "Davyhulme Youth Centre"
    # Trafford's extent from its own postcodes (independent conversion)
    pc = pd.read_csv(TRAFFORD_POSTCODES)
    pe, pn = _TO_BNG.transform(pc["lon"].to_numpy(), pc["lat"].to_numpy())
    e_exp, n_exp = bng(float(rec["GeoY"]), float(rec["GeoX"]))
    s = site(trafford, row)
    assert s["location_source"] == "swapped_wgs84" and bool(s["located"])
    assert abs(s["easting"] - e_exp) < 1 and abs(s["northing"] - n_exp) < 1
    assert np.min(pe) <= s["easting"] <= np.max(pe) and np.min(pn) <= s["northing"] <= np.max(pn)
    assert 370_000 < s["easting"] < 382_000 and 385_000 < s["northing"] < 400_000
    assert where(trafford, "swapped_axes") == [(row, "GeoX/GeoY")]
    assert probs(trafford, "swapped_axes")[0].record_id == rec["AssetCode"]


def test_trafford_wgs84_points_match_an_independent_conversion(trafford, trafford_rows):
    s = trafford.sites.set_index("source_row")
    plain = [(n, r) for n, r in trafford_rows if r["GeoX"] and -8.75 <= float(r["GeoX"]) <= 1.85]
    assert len(plain) > 300
    for n, r in plain:
        e, no = bng(float(r["GeoX"]), float(r["GeoY"]))
        assert abs(s.loc[n, "easting"] - e) < 0.1 and abs(s.loc[n, "northing"] - no) < 0.1
        assert s.loc[n, "location_source"] == "published_wgs84"
    # the decision is reported, with the number of rows it applies to
    notes = [p.problem for p in probs(trafford, "location_decision") if "WGS84" in p.problem]
    assert len(notes) == 1 and notes[0].startswith(f"{len(plain)} rows")
    assert any("WGS84" in n and "decided from the values" in n for n in trafford.notes)


def test_trafford_outward_postcodes_are_reported_unlocated(trafford, trafford_rows):
    expected = {n for n, r in trafford_rows
                if not r["GeoX"] and _OUTWARD.match(r["PostCode"].replace(" ", "").upper())}
    assert len(expected) > 50  # "M31", "M33" ...
    got = {p.row for p in probs(trafford, "unlocated") if p.value and _OUTWARD.match(p.value)}
    assert got == expected
    for p in probs(trafford, "unlocated"):
        assert p.column == "GeoX/GeoY" and p.severity == "warning"
    s = trafford.sites.set_index("source_row")
    assert not s.loc[sorted(expected), "located"].any()
    assert s.loc[sorted(expected), "easting"].isna().all()
    assert s.loc[sorted(expected), "in_analysis"].all()  # unlocated is not an error


def test_trafford_full_postcodes_without_coordinates_use_the_centroid(trafford, trafford_rows):
    pc = pd.read_csv(TRAFFORD_POSTCODES, dtype=str).set_index("postcode")
    s = trafford.sites.set_index("source_row")
    placed = [(n, r["PostCode"]) for n, r in trafford_rows if not r["GeoX"] and r["PostCode"] in pc.index]
    assert placed
    for n, code in placed:
        e, no = bng(float(pc.loc[code, "lon"]), float(pc.loc[code, "lat"]))
        assert s.loc[n, "location_source"] == "postcode_centroid"
        assert abs(s.loc[n, "easting"] - e) < 0.2 and abs(s.loc[n, "northing"] - no) < 0.2


def test_trafford_values(trafford, trafford_rows):
    s = trafford.sites.set_index("source_row")
    n_uprn = 0
    for n, r in trafford_rows:
        # UPRN kept as the exact text
        if r["UPRN"]:
            n_uprn += 1
            assert s.loc[n, "uprn"] == r["UPRN"]
        else:
            assert pd.isna(s.loc[n, "uprn"])
        # floor area parsed
        if r["BuildingSize"]:
            assert s.loc[n, "gia_m2"] == pytest.approx(float(r["BuildingSize"].replace(",", "")))
        else:
            assert pd.isna(s.loc[n, "gia_m2"])
        # tenure, occupier
        if r["TenureType"]:
            assert s.loc[n, "tenure"] == r["TenureType"].lower()
        else:
            assert pd.isna(s.loc[n, "tenure"])
        owner = r["TenureDetail"].strip().lower() == "owner occupied"
        assert (s.loc[n, "occupier_agency"] == "council") if owner else pd.isna(s.loc[n, "occupier_agency"])
        assert s.loc[n, "tenure_detail"] == " ".join(r["TenureDetail"].lower().split())
        # energy rating as published, DEC
        if r["EnergyRating"]:
            assert s.loc[n, "energy_rating"] == r["EnergyRating"] and s.loc[n, "energy_rating_type"] == "DEC"
        assert s.loc[n, "effective_date"] == r["EffectiveDate"]
    assert n_uprn == 272
    assert s["gia_m2"].sum() == pytest.approx(sum(float(r["BuildingSize"]) for _, r in trafford_rows if r["BuildingSize"]))
    # address on one line, hand-checked
    assert s.loc[3, "address"] == "105 Mainwood Road, Altrincham"
    assert s.loc[2, "address"] == "Market Street, Altrincham"
    assert s.loc[2, "building_type"] == "office"  # OtherDetail "Town Hall"
    assert set(s["tenure_detail"].dropna()) <= {"owner occupied", "vacant", "leasehold in", "leasehold out", "other"}
    assert not trafford.problems.has_errors and s["in_analysis"].all()


def test_trafford_bad_postcode_is_a_warning_with_a_hint(trafford, trafford_rows):
    bad = {n: r["PostCode"] for n, r in trafford_rows if r["PostCode"] == "M32 OXZ"}
    assert len(bad) == 1
    (row,) = bad
    hit = [p for p in probs(trafford, "bad_postcode") if p.row == row]
    assert len(hit) == 1 and hit[0].column == "PostCode" and "M32 0XZ" in hit[0].fix


# --------------------------------------------------------------------------- Cheltenham (real files)

def test_cheltenham_2021_duplicated_columns_cp1252_bng():
    raw = CHELT_2021.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the file really is cp1252
    header, recs = records(CHELT_2021, encoding="cp1252")
    assert header.count("Organisation") == 2 and header.count("OrganisationLabel") == 2
    r = read_transparency(CHELT_2021)
    assert r.rows_read == len(recs) == 498
    assert r.rows_stored == len(recs) and r.rows_unreadable == 0
    # the copies agree in every row (checked here), so no disagreement is reported
    assert all(x[0] == x[2] and x[1] == x[3] for _, x in recs)
    assert probs(r, "duplicate_column_disagrees") == []
    # BNG decided from the values; no CRS column
    n_bng = sum(1 for _, x in recs if x[10].strip() and float(x[10]) > 1000 and float(x[11]) > 1000)
    notes = [p.problem for p in probs(r, "location_decision")]
    assert any(n.startswith(f"{n_bng} rows") and "British National Grid" in n for n in notes)
    assert len(probs(r, "crs_from_values")) == 1
    s = r.sites.set_index("source_row")
    for n, x in recs:
        if x[10].strip():
            assert s.loc[n, "easting"] == pytest.approx(float(x[10]))
            assert s.loc[n, "northing"] == pytest.approx(float(x[11]))
    # non-breaking space after "Freehold"; postcodes with line breaks inside the cell
    nbsp = [n for n, x in recs if "\u00a0" in x[12]]
    assert nbsp and all(s.loc[n, "tenure"] == "freehold" for n in nbsp)
    broken = [(n, x[9]) for n, x in recs if "\n" in x[9] and x[9].strip()]
    assert broken
    for n, v in broken:
        assert s.loc[n, "postcode"] == " ".join(v.split())
    # spreadsheet rows follow records, not physical lines (cells hold line breaks)
    lines = raw.decode("cp1252").count("\n")
    assert lines > len(recs) + 1
    assert r.sites["source_row"].max() == len(recs) + 1
    assert_every_problem_is_complete(r)


def test_cheltenham_2023_blank_rows_and_leading_zero_uprns():
    _, recs = records(CHELT_2023)
    blank = [n for n, x in recs if not any(c.strip() for c in x)]
    assert len(blank) == 2
    r = read_transparency(CHELT_2023)
    assert r.rows_read == len(recs) == 461
    assert r.rows_unreadable == len(blank) and r.rows_stored == len(recs) - len(blank)
    assert sorted(p.row for p in probs(r, "blank_row")) == blank
    s = r.sites.set_index("source_row")
    zeros = [(n, x[2]) for n, x in recs if x[2].startswith("0")]
    assert len(zeros) > 10
    for n, u in zeros:
        assert s.loc[n, "uprn"] == u
    notes = [p.problem for p in probs(r, "location_decision")]
    n_bng = len(recs) - len(blank)
    assert any(n.startswith(f"{n_bng} rows") and "British National Grid" in n for n in notes)
    # "Occupied by local authority" is owner occupied, and says so
    occ = [n for n, x in recs if x[8].lower() == "occupied by local authority"]
    assert occ and all(s.loc[n, "tenure_detail"] == "owner occupied" for n in occ)
    assert all(s.loc[n, "occupier_agency"] == "council" for n in occ)
    assert any("Occupied by local authority" in p.problem for p in probs(r, "tenure_detail_reading"))
    # 'Chattel' is neither freehold nor leasehold: one warning per row
    chattel = [n for n, x in recs if x[7] == "Chattel"]
    assert sorted(where(r, "bad_tenure")) == [(n, "TenureType") for n in chattel]
    assert_every_problem_is_complete(r)


# --------------------------------------------------------------------------- broken-file corpus

def test_corpus_swapped_latlon():
    r = read_transparency(CORPUS / "swapped_latlon.csv")
    assert where(r, "swapped_axes") == [(3, "GeoX/GeoY"), (5, "GeoX/GeoY")]
    e, n = bng(-2.306004, 53.3914925)
    assert site(r, 3)["easting"] == pytest.approx(e, abs=0.1) and site(r, 3)["northing"] == pytest.approx(n, abs=0.1)
    assert site(r, 3)["location_source"] == "swapped_wgs84"
    assert r.sites["in_analysis"].all()


def test_corpus_outside_gb():
    r = read_transparency(CORPUS / "outside_gb.csv")
    assert where(r, "outside_gb") == [(3, "GeoX/GeoY"), (4, "GeoX/GeoY")]
    assert all(p.severity == "error" for p in probs(r, "outside_gb"))
    assert [bool(v) for v in r.sites["located"]] == [True, False, False, True]
    assert [bool(v) for v in r.sites["in_analysis"]] == [True, False, False, True]
    assert "outside Great Britain" in site(r, 3)["exclusion_reason"]
    assert r.rows_stored == 4  # kept in the register


def test_corpus_mixed_bng_and_wgs84():
    r = read_transparency(CORPUS / "mixed_bng_wgs84.csv")
    assert r.sites["location_source"].tolist() == ["published_bng", "published_wgs84", "published_bng",
                                                   "published_wgs84", "published_bng"]
    e, n = bng(-2.425277, 53.417552)
    assert site(r, 5)["easting"] == pytest.approx(e, abs=0.1) and site(r, 5)["northing"] == pytest.approx(n, abs=0.1)
    assert site(r, 2)["easting"] == 376680 and site(r, 2)["northing"] == 387960
    notes = sorted(p.problem for p in probs(r, "location_decision"))
    assert len(notes) == 2
    assert notes[0].startswith("2 rows") and "WGS84" in notes[0]
    assert notes[1].startswith("3 rows") and "British National Grid" in notes[1]


def test_corpus_declared_crs_disagrees():
    r = read_transparency(CORPUS / "crs_mismatch.csv")
    assert where(r, "crs_mismatch") == [(3, "CoordinateReferenceSystem"), (4, "CoordinateReferenceSystem")]
    assert [p.value for p in probs(r, "crs_mismatch")] == ["OSGB36", "WGS84"]
    # the values were trusted
    assert site(r, 3)["location_source"] == "published_wgs84"
    assert site(r, 4)["location_source"] == "published_bng"


def test_corpus_declared_crs_under_a_short_header(tmp_path):
    f = tmp_path / "short_crs.csv"
    f.write_text("AssetCode,CRS,GeoX,GeoY\nS1,OSGB36,-2.306004,53.3914925\nS2,OSGB36,379747,388339\n", encoding="utf-8")
    r = read_transparency(f)
    assert where(r, "crs_mismatch") == [(2, "CRS")]


def test_corpus_non_numeric_sizes_reported_all_at_once():
    r = read_transparency(CORPUS / "non_numeric_size.csv")
    assert where(r, "not_a_number") == [(3, "BuildingSize"), (5, "BuildingSize"), (6, "LandArea")]
    assert [p.value for p in probs(r, "not_a_number")] == ["approx 870", "n/k", "about half a hectare"]
    assert site(r, 4)["gia_m2"] == 1047.0  # "1,047 m2"
    assert site(r, 4)["land_area_ha"] == 0.31
    assert [bool(v) for v in r.sites["in_analysis"]] == [True, False, True, False, False]
    assert "BuildingSize" in site(r, 3)["exclusion_reason"]
    assert r.rows_stored == 5


def test_corpus_negative_zero_and_huge_areas():
    r = read_transparency(CORPUS / "negative_area.csv")
    assert sorted(where(r, "bad_area")) == [(2, "BuildingSize"), (3, "BuildingSize"), (4, "LandArea"), (5, "BuildingSize")]
    assert all(p.severity == "error" for p in probs(r, "bad_area"))
    assert site(r, 4)["gia_m2"] == 0.0  # 0 on a Land holding: no building, kept
    assert pd.isna(site(r, 2)["gia_m2"]) and pd.isna(site(r, 5)["gia_m2"])
    assert site(r, 6)["gia_m2"] == 12298 and bool(site(r, 6)["in_analysis"])


def test_corpus_blank_rows():
    path = CORPUS / "blank_rows.csv"
    _, recs = records(path)
    blank = [n for n, x in recs if not any(c.strip() for c in x)]
    assert blank == [3, 5, 6]
    r = read_transparency(path)
    assert where(r, "blank_row") == [(n, None) for n in blank]
    assert r.rows_read == len(recs) and r.rows_unreadable == 3 and r.rows_stored == 3
    assert r.sites["source_row"].tolist() == [2, 4, 7]


def test_corpus_duplicated_columns_disagreeing():
    r = read_transparency(CORPUS / "duplicate_columns_disagree.csv")
    got = probs(r, "duplicate_column_disagrees")
    assert [(p.row, p.column) for p in got] == [(3, "PostCode (columns C and F)"), (5, "PostCode (columns C and F)")]
    assert all(p.severity == "warning" for p in got)
    assert "WA15 7JX" in got[0].problem and "WA15 7JU" in got[0].problem
    # first non-empty value is used; an empty first copy is not a disagreement
    assert site(r, 3)["postcode"] == "WA15 7JU"
    assert site(r, 4)["postcode"] == "M33 7DZ"


def test_corpus_embedded_line_breaks_keep_spreadsheet_rows():
    path = CORPUS / "embedded_newline.csv"
    _, recs = records(path)
    rows = {x[0]: n for n, x in recs}
    assert rows == {"E1": 2, "E2": 3, "E3": 4}
    # physical lines differ from spreadsheet rows in this file
    lines = path.read_text(encoding="utf-8").splitlines()
    assert next(i for i, ln in enumerate(lines, 1) if ln.startswith("E3,")) == 7
    r = read_transparency(path)
    assert where(r, "not_a_number") == [(rows["E2"], "BuildingSize")]
    assert where(r, "bad_area") == [(rows["E3"], "BuildingSize")]
    assert site(r, 2)["address"] == "Market Street (rear entrance), Altrincham"
    assert site(r, 4)["postcode"] == "M33 7DZ"


def test_corpus_cp1252_bytes():
    path = CORPUS / "cp1252.csv"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    r = read_transparency(path)
    assert r.sites["name"].tolist() == ["Café in the Park", "£1 Shop"]
    assert site(r, 3)["address"] == "Mainwood Road, Altrincham"  # non-breaking space read as a space
    assert site(r, 3)["postcode"] == "WA15 7JU"
    assert site(r, 3)["building_type"] == "leisure"
    assert r.rows_stored == 2


def test_corpus_uprn_scientific_notation():
    r = read_transparency(CORPUS / "uprn_scientific.csv")
    assert where(r, "uprn_scientific") == [(3, "UPRN"), (4, "UPRN")]
    assert [p.value for p in probs(r, "uprn_scientific")] == ["1.00013E+11", "1.00012702108E11"]
    assert all(p.severity == "error" for p in probs(r, "uprn_scientific"))
    assert site(r, 2)["uprn"] == "100012797623" and site(r, 5)["uprn"] == "10070461991"
    assert pd.isna(site(r, 3)["uprn"]) and not bool(site(r, 3)["in_analysis"])


def test_corpus_uprn_leading_zeros_kept():
    path = CORPUS / "uprn_leading_zero.csv"
    _, recs = records(path)
    r = read_transparency(path)
    for n, x in recs[:3]:
        assert site(r, n)["uprn"] == x[2]
    assert site(r, 2)["uprn"] == "010000481734"
    assert site(r, 5)["uprn"] == "100012797623"
    assert where(r, "uprn_decimal") == [(5, "UPRN")]


def test_corpus_missing_asset_code():
    r = read_transparency(CORPUS / "missing_assetcode.csv")
    assert where(r, "missing_id") == [(3, "AssetCode"), (5, "AssetCode")]
    assert r.sites["site_id"].tolist() == ["K1", "missing_assetcode:row3", "K3", "missing_assetcode:row5"]
    assert r.sites["site_id"].is_unique


def test_corpus_outward_only_postcodes(trafford_postcodes):
    path = CORPUS / "outward_postcode.csv"
    r = read_transparency(path)
    assert where(r, "unlocated") == [(2, "GeoX/GeoY"), (3, "GeoX/GeoY"), (4, "GeoX/GeoY"), (5, "GeoX/GeoY")]
    assert [p.value for p in probs(r, "unlocated")] == ["M31", "M33 7ZF", "M33", None]
    assert "outward-only" in probs(r, "unlocated")[0].problem
    # with a postcode table the full postcode is placed at its centroid; outward-only ones stay unlocated
    r2 = read_transparency(path, postcodes=trafford_postcodes)
    assert where(r2, "unlocated") == [(2, "GeoX/GeoY"), (4, "GeoX/GeoY"), (5, "GeoX/GeoY")]
    pc = pd.read_csv(TRAFFORD_POSTCODES, dtype=str).set_index("postcode")
    e, n = bng(float(pc.loc["M33 7ZF", "lon"]), float(pc.loc["M33 7ZF", "lat"]))
    s = site(r2, 3)
    assert s["location_source"] == "postcode_centroid"
    assert s["easting"] == pytest.approx(e, abs=0.1) and s["northing"] == pytest.approx(n, abs=0.1)


def test_corpus_odd_header_spelling():
    path = CORPUS / "odd_headers.csv"
    header, _ = records(path)
    r = read_transparency(path)
    unrec = probs(r, "unrecognised_columns")
    assert len(unrec) == 1 and unrec[0].value == "Notes" and unrec[0].severity == "info"
    h1 = site(r, 2)
    assert (h1["site_id"], h1["name"], h1["postcode"]) == ("H1", "Altrincham Town Hall", "WA14 1PF")
    assert (h1["tenure"], h1["tenure_detail"], h1["occupier_agency"]) == ("freehold", "owner occupied", "council")
    assert (h1["gia_m2"], h1["energy_rating"], h1["effective_date"]) == (415.05, "E", "2023-09-29")
    assert h1["easting"] == pytest.approx(bng(-2.3520922, 53.3879587)[0], abs=0.1)
    assert site(r, 3)["postcode"] == "WA15 7JU"
    # problems name the column as the file spells it
    assert where(r, "bad_energy_rating") == [(3, header[8].strip())] == [(3, "Energy rating")]
    assert where(r, "bad_date") == [(3, "Effective Date")]
    assert pd.isna(site(r, 3)["energy_rating"]) and pd.isna(site(r, 3)["effective_date"])


@pytest.mark.parametrize("name,words", [
    ("no_columns.csv", "no recognisable"),
    ("empty.csv", "empty"),
    ("binary.csv", "not a text file"),
])
def test_corpus_unusable_files_raise_one_clear_error(name, words):
    path = CORPUS / name
    for read in (read_transparency, read_file):
        with pytest.raises(InputFileError) as exc:
            read(path)
        msg = str(exc.value)
        assert name in msg and words in msg and "Fix:" in msg
        assert "\n" not in msg and "Traceback" not in msg


def test_read_file_picks_this_reader():
    r = read_file(CORPUS / "odd_headers.csv", agency="nhs")
    assert r.reader == "transparency"
    assert set(r.sites["agency"]) == {"nhs"}
    assert site(r, 2)["occupier_agency"] == "nhs"


def test_every_corpus_file_accounts_for_its_rows():
    for path in sorted(CORPUS.glob("*.csv")):
        try:
            r = read_transparency(path)
        except InputFileError:
            assert path.name in {"no_columns.csv", "empty.csv", "binary.csv"}
            continue
        text = path.read_bytes()
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            decoded = text.decode("cp1252")
        recs = list(csv.reader(io.StringIO(decoded, newline="")))
        assert r.rows_read == len(recs) - 1, path.name
        assert r.rows_read == r.rows_stored + r.rows_unreadable, path.name
        assert_every_problem_is_complete(r)
        # error rows are kept but excluded, with a reason
        err_rows = {p.row for p in r.problems if p.severity == "error" and p.row is not None}
        s = r.sites
        assert set(s.loc[~s["in_analysis"].astype(bool), "source_row"]) == err_rows, path.name
        assert s.loc[~s["in_analysis"].astype(bool), "exclusion_reason"].notna().all()


def test_xlsx_workbook(tmp_path):
    import datetime

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["AssetCode", "PropertyName", "UPRN", "GeoX", "GeoY", "BuildingSize", "EffectiveDate"])
    ws.append(["X1", "Sale Library", "010000481734", 378805, 392251, 1047.5, datetime.datetime(2023, 9, 29)])
    ws.append(["X2", "Hale Depot", 100012797623, -2.3520922, 53.3879587, "1,200", "29/09/2023"])
    ws.append([None, None, None, None, None, None, None])
    ws.append(["X3", "Urmston Pool", 1.00012e11, None, None, "big", "yesterday"])
    f = tmp_path / "assets.xlsx"
    wb.save(f)
    r = read_transparency(f)
    assert r.rows_read == 4 and r.rows_stored == 3 and r.rows_unreadable == 1
    assert r.sites["uprn"].tolist()[:2] == ["010000481734", "100012797623"]
    assert r.sites["effective_date"].tolist()[:2] == ["2023-09-29", "2023-09-29"]
    assert r.sites["gia_m2"].tolist()[:2] == [1047.5, 1200.0]
    assert r.sites["building_type"].tolist() == ["library", "depot", "leisure"]
    assert where(r, "blank_row") == [(4, None)]
    assert where(r, "not_a_number") == [(5, "BuildingSize")]
    assert where(r, "bad_date") == [(5, "EffectiveDate")]
    # a number cell in a workbook holds all 12 digits (Excel keeps 15): read as the whole number
    assert r.sites["uprn"].tolist()[2] == "100012000000"
    assert where(r, "uprn_scientific") == []
