"""Canonical reader: round trips through CSV, XLSX, GeoJSON and GeoPackage, and hand-made
broken files whose every problem is asserted by row, column and code."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from planner import schema
from planner.errors import InputFileError
from planner.postcodes import PostcodeTable
from planner.readers import detect_kind, read_file
from planner.readers.canonical import parse_date, read_canonical

CORPUS = Path(__file__).parent / "corpus" / "canonical"

SITES = pd.DataFrame({
    "site_id": ["S1", "S2", "S3"],
    "name": ["Town Hall", "Library, Sale", None],
    "postcode": ["M33 7ZZ", None, "M32 0TH"],
    "uprn": ["000100012345", "10070000001", None],
    "agency": ["council", "nhs", "police"],
    "building_type": ["office", "library", "police_station"],
    "gia_m2": [1200.5, 430.0, None],
    "running_cost_gbp": [250000.0, None, 12345.67],
    "available_year": pd.array([0, 3, None], dtype="Int64"),
    "locked": pd.array([True, False, None], dtype="boolean"),
    "can_receive": pd.array([False, True, True], dtype="boolean"),
    "accepts": ["office;library", None, ""],
    "lease_break": [None, "2028-03-31", None],
    "easting": [376000.0, 377123.4, 379999.9],
    "northing": [388000.0, 391234.5, 395000.1],
    "location_source": ["published_bng", "postcode_centroid", "given"],
    "estimated_fields": ["capacity_m2", "", "gia_m2;running_cost_gbp"],
    "illustrative": pd.array([False, False, True], dtype="boolean"),
})
SERVICES = pd.DataFrame({
    "service_id": ["V1", "V2"],
    "site_id": ["S1", None],
    "agency": ["council", "nhs"],
    "service_type": ["office", "gp"],
    "space_m2": [300.0, 150.5],
    "fte": [25.0, None],
    "movable": pd.array([True, False], dtype="boolean"),
    "max_move_m": [None, 5000.0],
    "easting": [None, 378000.0],
    "northing": [None, 392000.0],
})
ZONES = pd.DataFrame({
    "zone_id": ["E01006001", "E01006002"],
    "name": ["Trafford 001A", "Trafford 001B"],
    "population": [1523.0, 1688.0],
    "easting": [377001.5, 377502.5],
    "northing": [391000.5, 391500.5],
})
FRAMES = {"sites": SITES, "services": SERVICES, "zones": ZONES}


def expected(table: str) -> pd.DataFrame:
    """What reading should give: the frame conformed, empty text as missing, located derived."""
    df = schema.conform(FRAMES[table], table)
    for c in schema.TABLES[table]:
        if c.kind == "str":
            df[c.name] = df[c.name].replace("", pd.NA)
    df["located"] = pd.array(df["easting"].notna().to_numpy(), dtype="boolean")
    if table == "services":
        df["location_source"] = pd.array(np.where(df["easting"].notna(), "given", None), dtype="string")
    if table == "zones":
        df["location_source"] = pd.array(["given"] * len(df), dtype="string")
    return df


def compare(got: pd.DataFrame, table: str, xy_atol: float = 0.0) -> None:
    want = expected(table)
    cols = [c for c in FRAMES[table].columns if c not in ("easting", "northing")] + ["located", "location_source"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True), check_dtype=True)
    for c in ("easting", "northing"):
        g = got[c].to_numpy(dtype=float, na_value=np.nan)
        w = want[c].to_numpy(dtype=float, na_value=np.nan)
        np.testing.assert_allclose(g, w, rtol=0, atol=xy_atol if xy_atol else 1e-9)
    assert got["source_row"].tolist() == list(range(2, len(want) + 2))


def test_round_trip_csv(tmp_path):
    for table, df in FRAMES.items():
        path = tmp_path / f"{table}.csv"
        df.to_csv(path, index=False)
        assert detect_kind(path) == "canonical"
        r = read_file(path)
        assert r.primary == table and r.rows_read == len(df) == r.rows_stored
        compare(getattr(r, table), table)
        assert not r.problems.errors and not r.problems.warnings


def test_round_trip_xlsx_one_sheet_per_table(tmp_path):
    path = tmp_path / "estate.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"note": ["not a table"]}).to_excel(xl, sheet_name="README", index=False)
        for table, df in FRAMES.items():
            df.to_excel(xl, sheet_name=table, index=False)
    r = read_canonical(path)
    assert r.primary == "sites" and r.rows_read == 3 == r.rows_stored
    for table in FRAMES:
        compare(getattr(r, table), table)
    assert not r.problems.errors and not r.problems.warnings


def test_round_trip_xlsx_first_sheet(tmp_path):
    path = tmp_path / "services.xlsx"
    SERVICES.to_excel(path, sheet_name="Anything", index=False)
    r = read_canonical(path)
    compare(r.services, "services")


def test_round_trip_geojson(tmp_path):
    path = tmp_path / "sites.geojson"
    g = gpd.GeoDataFrame(SITES.drop(columns=["easting", "northing"]),
                         geometry=gpd.points_from_xy(SITES["easting"], SITES["northing"]), crs="EPSG:27700")
    g.to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    r = read_file(path)
    assert r.reader == "canonical"
    compare(r.sites, "sites", xy_atol=0.01)  # through WGS84 and back
    assert not r.problems.errors and not r.problems.warnings


def test_round_trip_geopackage_all_layers(tmp_path):
    import pyogrio

    path = tmp_path / "register.gpkg"
    for table in ("sites", "zones"):
        df = FRAMES[table]
        gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["easting"], df["northing"]), crs="EPSG:27700").to_file(
            path, layer=table, driver="GPKG")
    pyogrio.write_dataframe(SERVICES, path, layer="services")  # an attribute table, as the register stores it
    pyogrio.write_dataframe(pd.DataFrame({"problem": ["x"]}), path, layer="problems")
    r = read_file(path)
    for table in FRAMES:
        compare(getattr(r, table), table)
    assert [(p.code, p.value) for p in r.problems] == [("unused_layers", "problems")]
    assert any(n.startswith("services: 2 rows read, 2 stored") for n in r.notes)


def test_geopackage_in_another_crs_is_reprojected(tmp_path):
    path = tmp_path / "sites.gpkg"
    g = gpd.GeoDataFrame(SITES.drop(columns=["easting", "northing"]),
                         geometry=gpd.points_from_xy(SITES["easting"], SITES["northing"]), crs="EPSG:27700")
    g.to_crs("EPSG:3857").to_file(path, layer="sites", driver="GPKG")
    compare(read_canonical(path).sites, "sites", xy_atol=0.01)


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_geopackage_layer_without_crs_is_a_file_error(tmp_path):
    path = tmp_path / "nocrs.gpkg"
    gpd.GeoDataFrame(SITES.drop(columns=["easting", "northing"]),
                     geometry=gpd.points_from_xy(SITES["easting"], SITES["northing"])).to_file(
        path, layer="sites", driver="GPKG")
    with pytest.raises(InputFileError, match="no coordinate system"):
        read_canonical(path)


def test_lon_lat_columns_are_converted(tmp_path):
    lon, lat = -2.3461, 53.4249
    path = tmp_path / "sites.csv"
    pd.DataFrame({"Site ID": ["L1"], "Agency": ["council"], "Longitude": [lon], "Latitude": [lat]}).to_csv(path, index=False)
    r = read_canonical(path)
    e, n = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(lon, lat)
    s = r.sites.iloc[0]
    assert abs(s["easting"] - e) < 0.06 and abs(s["northing"] - n) < 0.06
    assert s["location_source"] == "published_wgs84"


def test_postcode_fallback(tmp_path):
    pc = tmp_path / "pc.csv"
    pc.write_text("postcode,easting,northing\nM33 7ZZ,377700,391100\n", encoding="utf-8")
    path = tmp_path / "sites.csv"
    path.write_text("site_id,agency,postcode\nP1,council,m337zz\nP2,council,M33\n", encoding="utf-8")
    r = read_canonical(path, postcodes=PostcodeTable.from_csv(pc))
    s = r.sites.set_index("site_id")
    assert (s.loc["P1", "easting"], s.loc["P1", "northing"], s.loc["P1", "location_source"]) == (377700, 391100, "postcode_centroid")
    assert not s.loc["P2", "located"]
    assert [(p.row, p.code) for p in r.problems] == [(3, "unlocated")]


@pytest.mark.parametrize("text,expected", [("2027-03-31", "2027-03-31"), ("31/03/2027", "2027-03-31"),
                                           ("1/4/2027", "2027-04-01"), ("2027-03-31T00:00:00", "2027-03-31"),
                                           ("", None)])
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2027-02-30", "31/13/2027", "March 2027", "2027"])
def test_parse_date_rejects(text):
    with pytest.raises(ValueError):
        parse_date(text)


# ------------------------------------------------------------------ broken corpus

def codes(r):
    return {(p.row, p.column, p.code, p.severity) for p in r.problems}


def test_sites_bad_values_every_problem_at_once():
    r = read_canonical(CORPUS / "sites_bad_values.csv")
    assert (r.rows_read, r.rows_stored, r.rows_unreadable) == (7, 5, 2)
    assert codes(r) == {
        (1, "gia_m2", "duplicate_column", "warning"),
        (1, None, "unused_columns", "info"),
        (3, "gia_m2", "not_a_number", "error"),
        (4, None, "blank_row", "warning"),
        (5, "locked", "not_a_boolean", "error"),
        (5, "available_year", "not_a_whole_number", "error"),
        (5, "lease_expiry", "not_a_date", "error"),
        (5, "agency", "missing_agency", "error"),
        (5, "easting/northing", "unlocated", "warning"),
        (6, "site_id", "missing_id", "error"),
        (7, "easting", "not_a_number", "error"),
        (8, "easting/northing", "degrees_in_easting_northing", "warning"),
    }
    s = r.sites.set_index("site_id")
    assert s.loc["S1", "gia_m2"] == 100  # the first of the two gia_m2 columns
    assert s.loc["S1", "postcode"] == "M33 7ZZ" and bool(s.loc["S1", "locked"]) and bool(s.loc["S1", "can_receive"])
    assert s.loc["S2", "lease_expiry"] == "2028-03-31" and pd.isna(s.loc["S2", "gia_m2"])
    assert pd.isna(s.loc["S3", "locked"]) and pd.isna(s.loc["S3", "available_year"]) and pd.isna(s.loc["S3", "agency"])
    e, n = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(-2.3, 53.45)
    assert abs(s.loc["S5", "easting"] - e) < 1e-6 and abs(s.loc["S5", "northing"] - n) < 1e-6
    unused = next(p for p in r.problems if p.code == "unused_columns")
    assert "colour" in unused.problem


def test_sites_bad_values_with_agency_argument():
    r = read_canonical(CORPUS / "sites_bad_values.csv", agency="council")
    assert not any(p.code == "missing_agency" for p in r.problems)
    s = r.sites.set_index("site_id")
    assert s.loc["S3", "agency"] == "council" and s.loc["S5", "agency"] == "nhs"  # the file's value is kept


def test_missing_agency_column_gives_row_errors():
    r = read_canonical(CORPUS / "sites_no_agency.csv")
    assert codes(r) == {(2, "agency", "missing_agency", "error"), (3, "agency", "missing_agency", "error")}
    r = read_canonical(CORPUS / "sites_no_agency.csv", agency="police")
    assert len(r.problems) == 0 and (r.sites["agency"] == "police").all()


def test_no_id_column_is_a_file_error():
    with pytest.raises(InputFileError, match="site_id, service_id or zone_id"):
        read_canonical(CORPUS / "no_id.csv")
    with pytest.raises(InputFileError):
        read_file(CORPUS / "no_id.csv")


def test_services_lon_lat_and_bad_boolean():
    r = read_canonical(CORPUS / "services_lonlat.csv")
    assert r.primary == "services" and (r.rows_read, r.rows_stored) == (4, 4)
    assert codes(r) == {(4, "lon/lat", "swapped_axes", "warning"), (5, "movable", "not_a_boolean", "error")}
    s = r.services.set_index("service_id")
    assert s.loc["V2", "location_source"] == "published_wgs84" and s.loc["V3", "location_source"] == "swapped_wgs84"
    assert abs(s.loc["V2", "easting"] - s.loc["V3", "easting"]) < 1e-6
    assert not s.loc["V1", "located"] and not s.loc["V4", "located"]  # no warning: a service needs no point of its own


def test_zones_bad_population():
    r = read_canonical(CORPUS / "zones_bad.csv")
    assert codes(r) == {(3, "population", "not_a_number", "error"), (4, "easting/northing", "unlocated", "warning")}
    assert r.zones.set_index("zone_id").loc["E01006001", "population"] == 1523


def test_bad_geometry():
    r = read_canonical(CORPUS / "bad_geometry.geojson")
    assert (r.rows_read, r.rows_stored) == (5, 5)
    assert codes(r) == {
        (None, "geometry", "not_points", "info"),
        (3, "easting/northing", "unlocated", "warning"),  # null geometry
        (4, "geometry", "bad_geometry", "error"),  # (200, 100) is not a longitude/latitude
        (5, "locked", "not_a_boolean", "error"),
        (6, "agency", "missing_agency", "error"),
    }
    s = r.sites.set_index("site_id")
    # the square's representative point lies inside it
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    (x0, x1), (y0, y1) = to_bng.transform([-2.36, -2.34], [53.41, 53.43])
    assert s.loc["G4", "located"] and min(x0, x1) - 50 < s.loc["G4", "easting"] < max(x0, x1) + 50
    assert min(y0, y1) < s.loc["G4", "northing"] < max(y0, y1)
    assert not s.loc["G3", "located"] and not s.loc["G2", "located"]


def test_malformed_geojson_is_a_file_error():
    with pytest.raises(InputFileError, match="cannot read"):
        read_canonical(CORPUS / "malformed.geojson")


def test_missing_file():
    with pytest.raises(InputFileError, match="no such file"):
        read_canonical(CORPUS / "does_not_exist.csv")


def test_legacy_geojson_with_a_named_crs_is_reprojected(tmp_path):
    path = tmp_path / "bng.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},'
        ' "features": [{"type": "Feature", "properties": {"site_id": "B1", "agency": "fire"},'
        ' "geometry": {"type": "Point", "coordinates": [376575.8, 388762.2]}}]}', encoding="utf-8")
    s = read_canonical(path).sites.iloc[0]
    assert abs(s["easting"] - 376575.8) < 1e-6 and abs(s["northing"] - 388762.2) < 1e-6


def test_pair_cost_table_is_refused(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("service_id,site_id,one_off_gbp,annual_gbp,allowed\nV1,S1,100,0,true\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="pair-cost table"):
        read_canonical(path)


def test_numeric_ids_in_a_geojson_stay_plain(tmp_path):
    path = tmp_path / "ids.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": ['
        '{"type": "Feature", "properties": {"site_id": 101, "agency": "council", "uprn": 100012345678},'
        ' "geometry": {"type": "Point", "coordinates": [-2.35, 53.42]}},'
        '{"type": "Feature", "properties": {"site_id": 102, "agency": "council", "uprn": null},'
        ' "geometry": {"type": "Point", "coordinates": [-2.36, 53.43]}}]}', encoding="utf-8")
    s = read_canonical(path).sites
    assert s["site_id"].tolist() == ["101", "102"] and s["uprn"].fillna("").tolist() == ["100012345678", ""]
