"""NHS ERIC site reader: the real 2016/17 site sheet, checked against plain pandas and the
independently derived Greater Manchester key-column file, plus a hand-made broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.errors import InputFileError
from planner.postcodes import PostcodeTable
from planner.readers import detect_kind, read_file
from planner.readers.eric import building_type, read_eric

from .conftest import SHARED, SOURCES

ERIC = SOURCES / "ERIC_2016-17_site_data.csv"
GM_KEY = SHARED / "data" / "nhs-eric-2016-17" / "derived_gm_sites_key_columns.csv"
CORPUS = Path(__file__).parent / "corpus" / "eric"

# The eight site-level running-cost columns, named here independently of the reader.
RUNNING = ["Estates and property maintenance (£)", "Grounds and gardens maintenance (£)",
           "Other Hard FM (Estates) costs (£)", "Other Soft FM (Hotel Services) costs (£)",
           "Energy costs (all energy supplies) (£)", "Water cost (£)", "Sewage cost (£)",
           "Cleaning service cost (£)"]
BACKLOG = {"high": "Cost to eradicate high risk backlog (£)",
           "significant": "Cost to eradicate significant risk backlog (£)",
           "moderate": "Cost to eradicate moderate risk backlog (£)",
           "low": "Cost to eradicate low risk backlog (£)"}


@pytest.fixture(scope="module")
def real():
    return read_eric(ERIC)


@pytest.fixture(scope="module")
def raw():
    return pd.read_csv(ERIC, dtype=str, keep_default_na=False)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.replace("Not Applicable", ""), errors="coerce")


def test_detected_as_eric():
    assert detect_kind(ERIC) == "eric"
    r = read_file(ERIC)
    assert r.reader == "eric" and len(r.sites) == 1041


def test_trafford_general(real):
    s = real.sites.set_index("site_id").loc["RW3TR"]
    assert s["gia_m2"] == 56493
    assert s["name"] == "TRAFFORD GENERAL HOSPITAL"
    assert s["building_type"] == "hospital"
    assert s["agency"] == "nhs" and s["occupier_agency"] == "RW3"
    # hand sum of the eight published figures for RW3TR in the 2016/17 sheet
    assert s["running_cost_gbp"] == 856254 + 4427 + 989855 + 1231631 + 874406 + 96931 + 55612 + 1264619
    assert s["backlog_gbp"] == 224862 + 4291304 + 1624581 + 2151355
    assert s["source_row"] == 758  # header = row 1; RW3TR is the 757th record
    assert real.sites.set_index("site_id").loc["RXV80", "building_type"] == "mental_health"


def test_accounting_and_aggregate_rows(real, raw):
    aggregate = raw["Site Code"].eq("AGGRE")
    assert real.rows_read == len(raw) == 1213
    assert real.rows_stored == (~aggregate).sum() == 1041
    assert real.rows_unreadable == aggregate.sum() == 172
    agg_problems = [p for p in real.problems if p.code == "aggregate_row"]
    assert sorted(p.row for p in agg_problems) == sorted((np.flatnonzero(aggregate) + 2).tolist())
    assert all(p.severity == "info" for p in agg_problems)
    assert not real.sites["site_id"].isin(["AGGRE"]).any()


def test_every_site_matches_plain_pandas(real, raw):
    src = raw[raw["Site Code"] != "AGGRE"].reset_index(drop=True)
    got = real.sites.reset_index(drop=True)
    assert got["site_id"].tolist() == src["Site Code"].tolist()
    np.testing.assert_array_equal(got["gia_m2"].to_numpy(dtype=float), _num(src["Gross internal floor area (m²)"]).to_numpy())
    np.testing.assert_array_equal(got["land_area_ha"].to_numpy(dtype=float), _num(src["Land area owned (Hectares)"]).to_numpy())
    for risk, col in BACKLOG.items():
        np.testing.assert_array_equal(got[f"backlog_{risk}_gbp"].to_numpy(dtype=float, na_value=np.nan),
                                      _num(src[col]).to_numpy())
    parts = pd.concat([_num(src[c]) for c in BACKLOG.values()], axis=1)
    want = parts.sum(axis=1, min_count=1)
    np.testing.assert_allclose(got["backlog_gbp"].to_numpy(dtype=float, na_value=np.nan), want.to_numpy(), rtol=0, atol=1e-6)
    rc = pd.concat([_num(src[c]) for c in RUNNING], axis=1).sum(axis=1, min_count=1)
    np.testing.assert_allclose(got["running_cost_gbp"].to_numpy(dtype=float, na_value=np.nan), rc.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(got["functional_suitability_pct"].to_numpy(dtype=float),
                               100 - _num(src["Not functionally suitable - occupied floor area (%)"]).to_numpy())
    np.testing.assert_array_equal(got["empty_floor_pct"].to_numpy(dtype=float), _num(src["Floor area - empty (%)"]).to_numpy())
    np.testing.assert_array_equal(got["underused_floor_pct"].to_numpy(dtype=float), _num(src["Floor area - under used (%)"]).to_numpy())


def test_gm_sites_equal_the_derived_key_column_file(real):
    key = pd.read_csv(GM_KEY, dtype=str, keep_default_na=False)
    assert len(key) == 40
    got = real.sites.set_index("site_id")
    for _, row in key.iterrows():
        s = got.loc[row["Site Code"]]
        assert s["gia_m2"] == float(row["Gross internal floor area (m²)"]), row["Site Code"]
        risks = [row[c] for c in BACKLOG.values()]
        if all(v == "Not Applicable" for v in risks):
            assert pd.isna(s["backlog_gbp"]), row["Site Code"]
        else:
            for risk, v in zip(BACKLOG, risks, strict=True):
                assert s[f"backlog_{risk}_gbp"] == float(v), (row["Site Code"], risk)
            assert s["backlog_gbp"] == sum(float(v) for v in risks), row["Site Code"]


def test_cleaning_risk_columns_are_a_breakdown_not_extra_cost(raw):
    # the reason the four cleaning-by-risk columns are not added: they sum to the cleaning cost
    parts = [c for c in raw.columns if c.startswith("Cost of cleaning")]
    assert len(parts) == 4
    num = pd.concat([_num(raw[c]) for c in [*parts, "Cleaning service cost (£)"]], axis=1).dropna()
    equal = (num.iloc[:, :4].sum(axis=1) - num.iloc[:, 4]).abs() <= 1
    assert equal.mean() > 0.65


def test_unlocated_without_locations_one_warning_each(real):
    assert not real.sites["located"].any()
    unlocated = [p for p in real.problems if p.code == "unlocated"]
    assert len(unlocated) == 1041
    assert sorted(p.row for p in unlocated) == sorted(real.sites["source_row"].tolist())
    assert all(p.severity == "warning" and "locations" in p.fix for p in unlocated)


def test_locations_frame_places_sites():
    loc = pd.DataFrame({"site_code": ["RW3TR", "NOPE1"], "easting": [377433.0, 1.0], "northing": [393986.0, 1.0]})
    r = read_eric(ERIC, locations=loc)
    s = r.sites.set_index("site_id")
    assert s.loc["RW3TR", "easting"] == 377433.0 and s.loc["RW3TR", "northing"] == 393986.0
    assert bool(s.loc["RW3TR", "located"]) and s.loc["RW3TR", "location_source"] == "published_bng"
    assert int(s["located"].sum()) == 1
    assert sum(p.code == "unlocated" for p in r.problems) == 1040
    unknown = [p for p in r.problems if p.code == "unknown_location"]
    assert len(unknown) == 1 and unknown[0].value == "NOPE1"


@pytest.mark.parametrize("site_type,expected", [
    ("1. General acute hospital", "hospital"), ("2. Specialist hospital (acute only)", "hospital"),
    ("3. Mixed service hospital", "hospital"), ("7. Community hospital (with inpatient beds)", "hospital"),
    ("4. Mental Health (including Specialist services)", "mental_health"),
    ("6. Mental Health and Learning Disabilities", "mental_health"), ("5. Learning Disabilities", "other"),
    ("8. Other inpatient", "other"), ("Community health centre", "community"), ("Support facilities", "office"),
    ("Trust offices", "office"), ("", "other")])
def test_building_type(site_type, expected):
    assert building_type(site_type) == expected


def test_site_types_are_noted(real, raw):
    notes = [n for n in real.notes if n.startswith("Site Type")]
    types = raw.loc[raw["Site Code"] != "AGGRE", "Site Type"].value_counts()
    assert len(notes) == len(types)
    for t, count in types.items():
        assert any(f"{t!r}" in n and f"({count} sites)" in n for n in notes)


# ------------------------------------------------------------------ broken corpus

def _where(problems):
    return {(p.row, p.column, p.code) for p in problems}


def test_broken_file_every_problem_at_once():
    path = CORPUS / "broken_values.csv"
    r = read_eric(path)
    assert (r.rows_read, r.rows_stored, r.rows_unreadable) == (6, 3, 3)
    assert r.sites["site_id"].tolist() == ["RXX01", "RXX02", "RXX03"]
    got = _where(r.problems)
    expected = {
        (1, "Site Name", "duplicate_column"),
        (2, "Site Code", "aggregate_row"),
        (4, "Gross internal floor area (m²)", "not_a_number"),
        (4, "backlog_gbp", "no_backlog_gbp"),
        (4, "running_cost_gbp", "partial_running_cost_gbp"),
        (5, None, "blank_row"),
        (6, "Site Code", "missing_id"),
        (7, "Floor area - empty (%)", "not_a_number"),
        (7, "running_cost_gbp", "no_running_cost_gbp"),
        (3, "Site Code", "unlocated"), (4, "Site Code", "unlocated"), (7, "Site Code", "unlocated"),
    }
    assert expected <= got
    # the rest are one info note per column with 'Not Applicable' cells
    rest = got - expected
    assert {c for _, _, c in rest} == {"not_published"}
    na = {p.column: p.problem for p in r.problems if p.code == "not_published"}
    assert len(na) == 12 and na["Water cost (£)"].startswith("2 sites")
    sev = {(p.row, p.code): p.severity for p in r.problems}
    assert sev[(4, "not_a_number")] == "error" and sev[(6, "missing_id")] == "error"
    s = r.sites.set_index("site_id")
    assert s.loc["RXX01", "gia_m2"] == 5000 and s.loc["RXX01", "running_cost_gbp"] == 281
    assert s.loc["RXX01", "backlog_gbp"] == 10 and s.loc["RXX01", "functional_suitability_pct"] == 90
    assert pd.isna(s.loc["RXX02", "gia_m2"]) and s.loc["RXX02", "running_cost_gbp"] == 230
    assert pd.isna(s.loc["RXX03", "running_cost_gbp"]) and pd.isna(s.loc["RXX03", "empty_floor_pct"])
    assert s.loc["RXX03", "building_type"] == "hospital" and s.loc["RXX02", "building_type"] == "mental_health"


def test_broken_locations_file(tmp_path):
    pc = tmp_path / "pc.csv"
    pc.write_text("postcode,easting,northing\nM41 5SL,376000,394000\n", encoding="utf-8")
    r = read_eric(CORPUS / "broken_values.csv", locations=CORPUS / "locations.csv", postcodes=PostcodeTable.from_csv(pc))
    s = r.sites.set_index("site_id")
    assert (s.loc["RXX01", "easting"], s.loc["RXX01", "northing"]) == (377500, 391800)
    assert (s.loc["RXX02", "easting"], s.loc["RXX02", "northing"]) == (376000, 394000)
    assert s.loc["RXX02", "location_source"] == "postcode_centroid" and s.loc["RXX02", "postcode"] == "M41 5SL"
    assert not s.loc["RXX03", "located"]
    loc = str(CORPUS / "locations.csv")
    got = {(p.file, p.row, p.column, p.code) for p in r.problems}
    assert {(loc, 4, "site_code", "duplicate_location"), (loc, None, "site_code", "unknown_location"),
            (loc, 6, "easting", "not_a_number")} <= got
    assert [p.row for p in r.problems if p.code == "unlocated"] == [7]


def test_not_an_eric_file():
    with pytest.raises(InputFileError, match="Site Code"):
        read_eric(CORPUS / "not_eric.csv")


def test_locations_without_usable_columns():
    with pytest.raises(InputFileError, match="site_code"):
        read_eric(CORPUS / "broken_values.csv", locations=pd.DataFrame({"code_x": ["RXX01"], "e": [1]}))


def test_xlsx_copy_reads_the_same(tmp_path):
    src = pd.read_csv(CORPUS / "broken_values.csv", dtype=str, keep_default_na=False, header=None)
    book = tmp_path / "eric.xlsx"
    src.to_excel(book, index=False, header=False)
    a, b = read_eric(CORPUS / "broken_values.csv"), read_eric(book)
    pd.testing.assert_frame_equal(a.sites.drop(columns="source_file"), b.sites.drop(columns="source_file"))
    assert [(p.row, p.column, p.code) for p in a.problems] == [(p.row, p.column, p.code) for p in b.problems]
