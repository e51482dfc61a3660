"""Home Office fire station reader: the real England list (checked against the derived Greater
Manchester file with plain pandas) and a hand-made broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.errors import InputFileError
from planner.postcodes import PostcodeTable
from planner.readers import detect_kind, read_file
from planner.readers.fire import corrected_postcode, read_fire_stations, slug

from .conftest import SHARED, SOURCES

FIRE = SOURCES / "fire-stations-dataset.csv"
GM = SHARED / "data" / "trafford" / "derived" / "gm_fire_stations_homeoffice.csv"
CORPUS = Path(__file__).parent / "corpus" / "fire"


@pytest.fixture(scope="module")
def real():
    return read_fire_stations(FIRE)


def test_detected_as_fire():
    assert detect_kind(FIRE) == "fire"
    assert read_file(FIRE).reader == "fire"


def test_accounting_and_unique_ids(real):
    raw = pd.read_csv(FIRE, dtype=str, keep_default_na=False)
    assert real.rows_read == len(raw) == 1399
    assert real.rows_stored == 1399 and real.rows_unreadable == 0
    assert real.sites["site_id"].is_unique
    assert (real.sites["building_type"] == "fire_station").all() and (real.sites["agency"] == "fire").all()
    assert real.sites["occupier_agency"].tolist() == raw["FRS_FULLNAME"].tolist()
    # ids are E_CODE + slug of the name, built here independently
    want = (raw["E_CODE"] + "-" + raw["STATION_NAME"].str.lower().str.replace(r"[^a-z0-9]+", "-", regex=True)
            .str.strip("-"))
    assert real.sites["site_id"].tolist() == want.tolist()


def test_greater_manchester_equals_derived_file(real):
    gm = pd.read_csv(GM, dtype=str, keep_default_na=False)
    assert len(gm) == 41
    got = real.sites[real.sites["occupier_agency"] == "Greater Manchester"].reset_index(drop=True)
    assert len(got) == 41
    assert got["name"].tolist() == gm["STATION_NAME"].tolist()
    np.testing.assert_allclose(got["easting"].to_numpy(dtype=float), gm["STATION_EASTING"].astype(float), atol=0.051)
    np.testing.assert_allclose(got["northing"].to_numpy(dtype=float), gm["STATION_NORTHING"].astype(float), atol=0.051)
    assert got["postcode"].tolist() == gm["STATION_POSTCODE"].str.upper().tolist()
    assert got["located"].all() and (got["location_source"] == "published_bng").all()


@pytest.mark.parametrize("name", ["Altrincham", "Sale", "Stretford"])
def test_trafford_stations(real, name):
    raw = pd.read_csv(FIRE, dtype=str, keep_default_na=False)
    want = raw[(raw["STATION_NAME"] == name) & (raw["FRS_FULLNAME"] == "Greater Manchester")]
    assert len(want) == 1
    s = real.sites[real.sites["site_id"] == f"E31000040-{name.lower()}"]
    assert len(s) == 1
    assert s["easting"].iloc[0] == float(want["STATION_EASTING"].iloc[0])
    assert s["northing"].iloc[0] == float(want["STATION_NORTHING"].iloc[0])
    assert s["source_row"].iloc[0] == want.index[0] + 2


def test_west_sussex_text_coordinates(real):
    raw = pd.read_csv(FIRE, dtype=str, keep_default_na=False)
    text_rows = set((np.flatnonzero(pd.to_numeric(raw["STATION_EASTING"], errors="coerce").isna()) + 2).tolist())
    assert len(text_rows) == 25
    warned = {p.row for p in real.problems if p.code == "not_a_number" and p.column == "STATION_EASTING"}
    assert warned == text_rows
    unlocated = {p.row for p in real.problems if p.code == "unlocated"}
    assert unlocated == text_rows  # no postcode table given, and their postcode cells hold text too
    assert all(p.severity == "warning" for p in real.problems)


def test_west_sussex_placed_by_postcode_when_possible(tmp_path):
    # the corrected postcode of a real row is looked up in a postcode table
    pc = tmp_path / "pc.csv"
    pc.write_text("postcode,easting,northing\nCH65 0EZ,340000,377000\n", encoding="utf-8")
    r = read_fire_stations(FIRE, postcodes=PostcodeTable.from_csv(pc))
    fixed = [p for p in r.problems if p.code == "corrected_postcode"]
    assert {p.value for p in fixed} >= {"CH65 OEZ", "WF5 9EE (For Sat Nav use WF5 9TR)"}
    s = r.sites[r.sites["postcode"] == "CH65 0EZ"]
    assert len(s) == 1 and s["location_source"].iloc[0] == "published_bng"  # it has coordinates anyway


@pytest.mark.parametrize("text,expected", [("St Mary's (Retained)", "st-mary-s-retained"), ("  Sale ", "sale"),
                                           ("Bury/Ramsbottom", "bury-ramsbottom")])
def test_slug(text, expected):
    assert slug(text) == expected


@pytest.mark.parametrize("text,expected", [("CH65 OEZ", "CH65 0EZ"), ("ls26odh", "LS26 0DH"),
                                           ("WF5 9EE (For Sat Nav use WF5 9TR)", "WF5 9EE"), ("TS13 45W", None),
                                           ("Not available here", None)])
def test_corrected_postcode(text, expected):
    assert corrected_postcode(text) == expected


# ------------------------------------------------------------------ broken corpus

def test_broken_file_every_problem_at_once(tmp_path):
    pc = tmp_path / "pc.csv"
    pc.write_text("postcode,easting,northing\nAB1 0CD,380400,390400\n", encoding="utf-8")
    r = read_fire_stations(CORPUS / "broken.csv", postcodes=PostcodeTable.from_csv(pc))
    assert (r.rows_read, r.rows_stored, r.rows_unreadable) == (9, 7, 2)
    assert r.sites["site_id"].tolist() == [
        "E31000099-alpha", "E31000099-bravo", "E31000099-alpha-2", "fire-example-frs-charlie", "E31000099-delta",
        "E31000099-st-marys", "E31000099-st-marys-2"]
    got = {(p.row, p.column, p.code, p.severity) for p in r.problems}
    assert got == {
        (3, "STATION_EASTING", "not_a_number", "warning"),
        (3, "STATION_POSTCODE", "corrected_postcode", "warning"),
        (4, "STATION_NAME", "duplicate_id", "warning"),
        (5, None, "blank_row", "warning"),
        (6, "STATION_NAME", "missing_id", "error"),
        (7, "E_CODE", "missing_code", "warning"),
        (7, "STATION_EASTING/STATION_NORTHING", "swapped_axes", "warning"),
        (8, "STATION_POSTCODE", "invalid_postcode", "warning"),
        (8, "STATION_EASTING/STATION_NORTHING", "unlocated", "warning"),
        (10, "STATION_NAME", "duplicate_id", "warning"),
    }
    s = r.sites.set_index("site_id")
    assert (s.loc["E31000099-bravo", "easting"], s.loc["E31000099-bravo", "northing"]) == (380400, 390400)
    assert s.loc["E31000099-bravo", "location_source"] == "postcode_centroid"
    assert s.loc["fire-example-frs-charlie", "location_source"] == "swapped_wgs84"
    assert s.loc["fire-example-frs-charlie", "located"]
    assert pd.isna(s.loc["E31000099-delta", "postcode"]) and not s.loc["E31000099-delta", "located"]


def test_broken_swapped_point_matches_pyproj():
    from pyproj import Transformer

    r = read_fire_stations(CORPUS / "broken.csv")
    e, n = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(-2.3, 53.4)
    s = r.sites.set_index("site_id").loc["fire-example-frs-charlie"]
    assert abs(s["easting"] - e) < 0.06 and abs(s["northing"] - n) < 0.06


def test_no_station_name_column():
    with pytest.raises(InputFileError, match="STATION_NAME"):
        read_fire_stations(CORPUS / "no_station_name.csv")


def test_duplicate_headers_use_the_first():
    r = read_fire_stations(CORPUS / "duplicate_headers.csv")
    assert r.sites["name"].tolist() == ["Echo"]
    assert [(p.row, p.column, p.code) for p in r.problems] == [(1, "STATION_NAME", "duplicate_column"),
                                                              (None, "STATION_ADDRESS", "missing_column")]
