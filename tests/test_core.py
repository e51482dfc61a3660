"""Tests of the lead's contract modules: schema, problems, geo, postcodes."""

from __future__ import annotations

import csv
import os

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from planner import geo, schema
from planner.postcodes import PostcodeTable, normalise_postcode, postcode_kind
from planner.problems import Problem, ProblemReport, write_text_atomic

from .conftest import REPO


def test_data_model_doc_is_up_to_date():
    doc = (REPO / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert doc == schema.data_model_markdown(), "regenerate: python -m planner.schema > docs/data-model.md"
    for table, cols in schema.TABLES.items():
        for c in cols:
            assert f"| `{c.name}` |" in doc, (table, c.name)


def test_spec_columns_are_in_the_schema():
    # Every column named in the model contract's input tables must exist with that name.
    spec_sites = ["site_id", "agency", "easting", "northing", "capacity_m2", "running_cost_gbp", "backlog_gbp",
                  "market_value_gbp", "disposal_cost_gbp", "exit_cost_gbp", "available_year", "locked",
                  "can_receive", "accepts"]
    spec_services = ["service_id", "site_id", "agency", "service_type", "space_m2", "fte", "movable",
                     "max_move_m", "easting", "northing"]
    assert set(spec_sites) <= set(schema.columns("sites"))
    assert set(spec_services) <= set(schema.columns("services"))
    assert {"zone_id", "population", "easting", "northing"} <= set(schema.columns("zones"))


@pytest.mark.parametrize("value,expected", [("TRUE", True), ("yes", True), ("Y", True), ("1", True), (1, True),
                                            ("false", False), ("No", False), ("0", False), ("", None), (None, None)])
def test_parse_bool(value, expected):
    assert schema.parse_bool(value) is expected


def test_parse_bool_rejects_other_text():
    with pytest.raises(ValueError):
        schema.parse_bool("maybe")


def test_conform_keeps_text_ids_and_leading_zeros():
    df = pd.DataFrame({"site_id": ["A1"], "uprn": ["010001234567"], "gia_m2": ["12.5"], "locked": ["no"]})
    out = schema.conform(df, "sites")
    assert out.loc[0, "uprn"] == "010001234567"
    assert out.loc[0, "gia_m2"] == 12.5
    assert out.loc[0, "locked"] is np.False_ or out.loc[0, "locked"] is False or not out.loc[0, "locked"]
    assert list(out.columns[: len(schema.SITE_COLUMNS)]) == schema.columns("sites")
    assert pd.isna(out.loc[0, "running_cost_gbp"])  # missing stays missing, never 0


def test_mark_estimated_adds_each_column_once():
    df = schema.empty_frame("sites", 3)
    schema.mark_estimated(df, "gia_m2", [True, False, True])
    schema.mark_estimated(df, "gia_m2", [True, True, False])
    schema.mark_estimated(df, "running_cost_gbp", [False, True, False])
    assert df["estimated_fields"].tolist() == ["gia_m2", "gia_m2;running_cost_gbp", "gia_m2"]
    assert schema.is_estimated(df, "running_cost_gbp").tolist() == [False, True, False]


def test_classify_and_convert_against_pyproj():
    # Altrincham Town Hall from the Trafford register (WGS84), the same point in BNG, swapped, outside, missing
    lon, lat = -2.3520922, 53.3879587
    t = Transformer.from_crs(4326, 27700, always_xy=True)
    e0, n0 = t.transform(lon, lat)
    x = [lon, e0, lat, 150.0, None, 0]
    y = [lat, n0, lon, 10.0, 53.0, 0]
    labels = geo.classify_xy(x, y)
    assert labels.tolist() == [geo.WGS84, geo.BNG, geo.WGS84_SWAPPED, geo.OUTSIDE, geo.MISSING, geo.MISSING]
    e, n, _ = geo.to_bng(x, y)
    assert e[0] == pytest.approx(e0, abs=0.01) and n[0] == pytest.approx(n0, abs=0.01)
    assert e[2] == pytest.approx(e0, abs=0.01) and n[2] == pytest.approx(n0, abs=0.01)
    assert np.isnan(e[3]) and np.isnan(e[4])
    lon2, lat2 = geo.bng_to_wgs84([e0], [n0])
    assert lon2[0] == pytest.approx(lon, abs=1e-7) and lat2[0] == pytest.approx(lat, abs=1e-7)


@pytest.mark.parametrize("raw,norm,kind", [("wa14 1pf", "WA14 1PF", "full"), ("M31", "M31", "outward"),
                                           (" m3 1aa ", "M3 1AA", "full"), ("EC1A1BB", "EC1A 1BB", "full"),
                                           ("hello", "HELLO", "invalid"), ("", None, "missing")])
def test_postcodes(raw, norm, kind):
    assert normalise_postcode(raw) == norm
    assert postcode_kind(raw) == kind


def test_postcode_table_lookup(tmp_path):
    p = tmp_path / "pc.csv"
    p.write_text("postcode,easting,northing\nWA14 1PF,376680,387959\nM32 0TH,378000,395000\n")
    t = PostcodeTable.from_csv(p)
    e, n = t.lookup(["wa141pf", "M32 0TH", "ZZ1 1ZZ", None])
    assert e[:2].tolist() == [376680, 378000] and n[0] == 387959
    assert np.isnan(e[2]) and np.isnan(e[3])


def test_problem_report_csv_round_trip(tmp_path):
    rep = ProblemReport()
    rep.add(Problem("f.csv", 3, "GeoX", "1,2", "bad", "fix it", "error", "sites", "A", "outside_gb"))
    rep.add(Problem("f.csv", None, None, None, "file note", "nothing", "info"))
    path = rep.to_csv(tmp_path / "p.csv")
    rows = list(csv.DictReader(path.open()))
    assert rows[0]["row"] == "3" and rows[0]["column"] == "GeoX" and rows[0]["code"] == "outside_gb"
    back = ProblemReport.from_frame(pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None))
    assert [p.row for p in back] == [3, None] and back.counts() == {"error": 1, "warning": 0, "info": 1}
    assert "f.csv, row 3, column GeoX" in str(rep.problems[0])


def test_write_text_atomic_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temp file left behind


def test_write_text_atomic_gives_the_usual_permissions(tmp_path):
    # mkstemp makes 0o600 files; an output must be readable as any new file would be
    mask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.csv", "x")
        assert (tmp_path / "a.csv").stat().st_mode & 0o777 == 0o644
        os.umask(0o002)
        write_text_atomic(tmp_path / "b.csv", "x")
        assert (tmp_path / "b.csv").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(mask)
