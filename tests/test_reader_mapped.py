"""Mapped reader: the documented police example, XLSX sheets, and broken mappings and sheets
whose every problem is asserted by TOML key, or by row, column and code."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from planner.errors import InputFileError
from planner.readers import read_file
from planner.readers.mapped import load_mapping, read_mapped

from .conftest import REPO

EXAMPLES = REPO / "docs" / "examples"
POLICE = EXAMPLES / "police_estate.csv"
POLICE_MAP = EXAMPLES / "police_estate_mapping.toml"
CORPUS = Path(__file__).parent / "corpus" / "mapped"
SQFT = 0.09290304  # m2 per square foot (exact: 0.3048 m squared)
ACRE = 0.40468564224  # ha per acre


def _number(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.str.replace(",", ""), errors="coerce")


def test_square_foot_and_acre_factors():
    assert SQFT == pytest.approx(0.3048**2, abs=1e-15)
    assert ACRE == pytest.approx(4046.8564224 / 10_000, abs=1e-15)  # 4840 sq yd = 4046.8564224 m2


def test_police_example_through_its_mapping():
    r = read_file(POLICE, mapping=POLICE_MAP)
    src = pd.read_csv(POLICE, dtype=str, keep_default_na=False)
    s = r.sites
    assert r.reader == "mapped" and (r.rows_read, r.rows_stored, r.rows_unreadable) == (6, 6, 0)
    assert s["site_id"].tolist() == src["Property Ref"].tolist()
    np.testing.assert_allclose(s["gia_m2"].to_numpy(dtype=float), _number(src["GIA (sq ft)"]) * SQFT, rtol=1e-12)
    np.testing.assert_allclose(s["land_area_ha"].to_numpy(dtype=float, na_value=np.nan),
                               _number(src["Site Area (acres)"]) * ACRE, rtol=1e-12)
    np.testing.assert_allclose(s["running_cost_gbp"].to_numpy(dtype=float), _number(src["Running Cost (£k pa)"]) * 1000,
                               rtol=1e-12)
    assert s["tenure"].tolist() == src["Tenure (FH/LH)"].map({"FH": "freehold", "LH": "leasehold"}).tolist()
    assert s["building_type"].tolist() == ["police_station", "office", "police_station", "depot", "office", "office"]
    assert s["address"].tolist() == (src["Addr Line 1"] + ", " + src["Town"]).tolist()
    assert s["easting"].tolist() == src["X"].astype(float).tolist()
    assert s["northing"].tolist() == src["Y"].astype(float).tolist()
    assert s["lease_break"].fillna("").tolist() == ["", "2028-03-31", "", "", "2027-09-30", "2029-03-31"]
    assert s["locked"].tolist() == [True, False, True, False, False, False]
    assert (s["agency"] == "police").all() and s["illustrative"].all() and s["can_receive"].all()
    # PX-001 by hand: 43,056 sq ft = 4,000.03 m2, 1.5 acres = 0.607 ha
    assert s["gia_m2"].iloc[0] == pytest.approx(4000.0333, abs=1e-4)
    assert s["land_area_ha"].iloc[0] == pytest.approx(0.6070, abs=1e-4)
    # the only problem: the Notes column is not mapped
    assert [(p.row, p.code, p.severity) for p in r.problems] == [(1, "unused_columns", "info")]
    assert "Notes" in r.problems.problems[0].problem


def test_agency_argument_wins_over_the_mapping():
    r = read_mapped(POLICE, POLICE_MAP, agency="gmp")
    assert (r.sites["agency"] == "gmp").all()


def test_xlsx_sheet_by_name_and_number(tmp_path):
    book = tmp_path / "police.xlsx"
    src = pd.read_csv(POLICE, dtype=str, keep_default_na=False)
    with pd.ExcelWriter(book, engine="openpyxl") as xl:
        pd.DataFrame({"About": ["illustrative police estate"]}).to_excel(xl, sheet_name="Cover", index=False)
        src.to_excel(xl, sheet_name="Estate", index=False)
    text = POLICE_MAP.read_text(encoding="utf-8")
    for sheet in ('"Estate"', "2"):
        m = tmp_path / f"map{sheet.strip(chr(34))}.toml"
        m.write_text(text.replace('table = "sites"', f'table = "sites"\nsheet = {sheet}'), encoding="utf-8")
        r = read_mapped(book, m)
        assert r.sites["site_id"].tolist() == src["Property Ref"].tolist()
        np.testing.assert_allclose(r.sites["gia_m2"].to_numpy(dtype=float), _number(src["GIA (sq ft)"]) * SQFT)
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('table = "sites"', 'table = "sites"\nsheet = "Estat"'), encoding="utf-8")
    with pytest.raises(InputFileError) as exc:
        read_mapped(book, bad)
    assert [k for k, _, _ in exc.value.mapping_problems] == ["file.sheet"]
    assert "'Estate'" in str(exc.value)


def test_rows_parsed_with_the_sheets_column_names():
    r = read_mapped(CORPUS / "estate.csv", CORPUS / "good.toml")
    assert (r.rows_read, r.rows_stored, r.rows_unreadable) == (4, 3, 1)
    assert {(p.row, p.column, p.code, p.severity) for p in r.problems} == {
        (1, None, "unused_columns", "info"),
        (3, "GIA sq ft", "not_a_number", "error"),
        (3, "Keep", "not_a_boolean", "error"),
        (4, "Ref", "missing_id", "error"),
        (5, "Opened", "not_a_date", "error"),
    }
    s = r.sites.set_index("site_id")
    assert s.loc["A1", "gia_m2"] == pytest.approx(10_000 * SQFT, abs=1e-9)
    assert s.loc["A3", "gia_m2"] == pytest.approx(2_000 * SQFT, abs=1e-9)
    assert s.loc["A1", "tenure"] == "freehold" and s.loc["A2", "tenure"] == "leasehold"
    assert s.loc["A3", "tenure"] == "xx"  # not in [values.tenure]: read as written
    assert s.loc["A1", "effective_date"] == "1990-04-01" and pd.isna(s.loc["A3", "effective_date"])
    assert (s["building_type"] == "police_station").all() and (s["agency"] == "police").all()
    e, n = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(-2.35, 53.42)
    assert s.loc["A3", "location_source"] == "published_wgs84"  # crs = "auto" decided from the values
    assert abs(s.loc["A3", "easting"] - e) < 0.06 and abs(s.loc["A3", "northing"] - n) < 0.06


def test_crs_conversion_from_wgs84(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("id,lon,lat\nW1,-2.35,53.42\n", encoding="utf-8")
    m = tmp_path / "m.toml"
    m.write_text('[file]\nagency = "nhs"\ncrs = "EPSG:4326"\n[columns]\nsite_id = "id"\neasting = "lon"\nnorthing = "lat"\n',
                 encoding="utf-8")
    s = read_mapped(data, m).sites.iloc[0]
    e, n = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(-2.35, 53.42)
    assert abs(s["easting"] - e) < 1e-6 and abs(s["northing"] - n) < 1e-6


def test_bad_mapping_lists_every_problem_once():
    with pytest.raises(InputFileError) as exc:
        read_mapped(CORPUS / "estate.csv", CORPUS / "bad_mapping.toml")
    keys = [k for k, _, _ in exc.value.mapping_problems]
    assert sorted(keys) == sorted([
        "[extras]", "file.colour", "file.agency", "file.crs",
        "columns.name", "columns.gia", "columns.locked", "columns.source_row", "columns.northing",
        "units.gia_m2", "units.gia_m2", "units.name",
        'values.tenure."FH"', 'values.available_year."soon"', "defaults.locked"])
    # the count of lines marked X in the corpus file is the count of problems (units.gia_m2 has two)
    marked = len(re.findall(r"# X", (CORPUS / "bad_mapping.toml").read_text(encoding="utf-8")))
    assert len(keys) == marked + 1
    msg = str(exc.value)
    assert msg.startswith(f"{CORPUS / 'bad_mapping.toml'}: 15 problems")
    assert "columns.name: estate.csv has no column 'Building' (did you mean 'Building Name'?)" in msg
    assert "columns.gia: 'gia' is not a column of the sites table (did you mean 'gia_m2'?)" in msg
    assert msg.count("Fix:") == 15


def test_malformed_toml():
    with pytest.raises(InputFileError, match=r"not valid TOML: .*line 5"):
        read_mapped(CORPUS / "estate.csv", CORPUS / "malformed.toml")


def test_mapping_naming_a_duplicated_heading():
    with pytest.raises(InputFileError) as exc:
        read_mapped(CORPUS / "duplicate_headers.csv", CORPUS / "duplicate_headers.toml")
    assert exc.value.mapping_problems == [
        ("columns.name", "duplicate_headers.csv has 2 columns headed 'Name' (columns B, C)",
         "rename the duplicate headings so each is unique")]


def test_mapping_without_the_id_column():
    with pytest.raises(InputFileError) as exc:
        read_mapped(CORPUS / "estate.csv", CORPUS / "no_id.toml")
    assert [k for k, _, _ in exc.value.mapping_problems] == ["columns.service_id"]


def test_missing_mapping_or_data_file(tmp_path):
    with pytest.raises(InputFileError, match="cannot open the mapping"):
        read_mapped(CORPUS / "estate.csv", tmp_path / "none.toml")
    with pytest.raises(InputFileError, match="no such file"):
        read_mapped(tmp_path / "none.csv", CORPUS / "good.toml")


def test_mapping_alone_can_be_checked():
    m = load_mapping(POLICE_MAP)
    assert m.table == "sites" and m.agency == "police" and m.units["gia_m2"] == ("ft2", SQFT)
    assert m.columns["address"] == ["Addr Line 1", "Town"]


def test_services_with_units_and_defaults(tmp_path):
    data = tmp_path / "teams.csv"
    data.write_text("Team,Base,Area (sq ft),Staff,Can move?\nT1,PX-001,"
                    "\"1,000\",12,Yes\nT2,PX-002,500,3,\n", encoding="utf-8")
    m = tmp_path / "teams.toml"
    m.write_text('[file]\ntable = "services"\nagency = "police"\n[columns]\nservice_id = "Team"\nsite_id = "Base"\n'
                 'space_m2 = "Area (sq ft)"\nfte = "Staff"\nmovable = "Can move?"\n[units]\nspace_m2 = "ft2"\n'
                 '[defaults]\nservice_type = "neighbourhood_policing"\nmovable = false\n', encoding="utf-8")
    r = read_mapped(data, m)
    assert r.primary == "services" and r.rows_stored == 2
    s = r.services.set_index("service_id")
    assert s.loc["T1", "space_m2"] == pytest.approx(1000 * SQFT) and s.loc["T2", "space_m2"] == pytest.approx(500 * SQFT)
    assert s["movable"].tolist() == [True, False]  # T2's empty cell took the default
    assert (s["service_type"] == "neighbourhood_policing").all()
    assert len(r.problems) == 0


def test_docs_show_the_example_mapping():
    import tomllib

    doc = (REPO / "docs" / "mapping.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(\[file\].*?)```", doc, re.S).group(1)
    assert tomllib.loads(block) == tomllib.loads(POLICE_MAP.read_text(encoding="utf-8"))
    load_mapping(POLICE_MAP, headers=pd.read_csv(POLICE, nrows=0).columns.tolist())  # valid against the sheet
