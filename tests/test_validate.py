"""Validation rules, one hand-made table per rule: the row, column and code of each problem,
and the marks left on the records (in_analysis, exclusion_reason, shared_uprn_sites,
gia_repeated, swapped coordinates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.problems import Problem, ProblemReport
from planner.schema import conform
from planner.validate import exclude_by_problems, validate_services, validate_sites, validate_zones

from .conftest import SOURCES

FILE = "sites.csv"


def sites_frame(records: list[dict], file: str = FILE) -> pd.DataFrame:
    """A conformed sites table; record k is spreadsheet row k + 2."""
    base = {"agency": "council", "easting": 380_000.0, "northing": 390_000.0}
    rows = []
    for k, r in enumerate(records):
        rec = base | {"site_id": f"S{k + 1}"} | r
        rec.setdefault("source_row", k + 2)
        rec.setdefault("source_file", file)
        rows.append(rec)
    return conform(pd.DataFrame(rows), "sites")


def services_frame(records: list[dict], file: str = "services.csv") -> pd.DataFrame:
    base = {"agency": "council", "service_type": "office", "space_m2": 10.0}
    rows = [base | {"service_id": f"V{k + 1}", "source_row": k + 2, "source_file": file} | r
            for k, r in enumerate(records)]
    return conform(pd.DataFrame(rows), "services")


def by_code(report: ProblemReport, code: str) -> list[Problem]:
    return [p for p in report if p.code == code]


def where(problems: list[Problem]) -> list[tuple]:
    return sorted((p.row, p.column, p.severity) for p in problems)


def included(df: pd.DataFrame) -> list[bool]:
    return df["in_analysis"].astype(bool).tolist()


# --------------------------------------------------------------------------- ids

def test_duplicate_ids_flag_every_later_occurrence_and_name_the_first_row():
    df = sites_frame([{"site_id": "A"}, {"site_id": "B"}, {"site_id": "A"}, {"site_id": "A"}])
    rep = validate_sites(df)
    dups = by_code(rep, "duplicate_id")
    assert where(dups) == [(4, "site_id", "error"), (5, "site_id", "error")]
    assert all("row 2" in p.problem for p in dups)
    assert all(p.record_id == "A" and p.file == FILE and p.table == "sites" for p in dups)
    assert included(df) == [True, True, False, False]
    assert "duplicate" in df.loc[2, "exclusion_reason"]
    assert pd.isna(df.loc[0, "exclusion_reason"])


def test_duplicate_across_files_names_the_other_file():
    a = sites_frame([{"site_id": "X"}], file="a.csv")
    b = sites_frame([{"site_id": "Y"}, {"site_id": "X"}], file="b.csv")
    df = pd.concat([a, b], ignore_index=True)
    dups = by_code(validate_sites(df), "duplicate_id")
    assert [(p.file, p.row) for p in dups] == [("b.csv", 3)]
    assert "row 2 of a.csv" in dups[0].problem


def test_missing_id_and_agency_are_errors():
    df = sites_frame([{"site_id": None}, {"agency": ""}, {}])
    rep = validate_sites(df)
    assert where(by_code(rep, "missing_id")) == [(2, "site_id", "error")]
    assert where(by_code(rep, "missing_value")) == [(3, "agency", "error")]
    assert included(df) == [False, False, True]


# --------------------------------------------------------------------------- UPRNs

def test_same_uprn_two_agencies_is_a_shared_building_not_a_duplicate():
    df = sites_frame([
        {"site_id": "C1", "agency": "council", "uprn": "000100012345"},
        {"site_id": "N1", "agency": "nhs", "uprn": "100012345"},
        {"site_id": "C2", "agency": "council", "uprn": "555"},
        {"site_id": "C3", "agency": "council", "uprn": "555"},  # same agency: not shared
    ])
    rep = validate_sites(df)
    shared = by_code(rep, "shared_uprn")
    assert where(shared) == [(2, "uprn", "info"), (3, "uprn", "info")]
    assert df["shared_uprn_sites"].tolist()[:2] == ["N1", "C1"]
    assert df["shared_uprn_sites"].isna().tolist()[2:] == [True, True]
    assert not rep.has_errors
    assert included(df) == [True] * 4
    assert by_code(rep, "duplicate_id") == []


def test_three_agencies_share_a_building():
    df = sites_frame([{"site_id": "C", "agency": "council", "uprn": "9"},
                      {"site_id": "N", "agency": "nhs", "uprn": "9"},
                      {"site_id": "P", "agency": "police", "uprn": "9"}])
    validate_sites(df)
    assert df["shared_uprn_sites"].tolist() == ["N;P", "C;P", "C;N"]


def test_text_in_uprn_is_a_warning():
    df = sites_frame([{"uprn": "12AB"}, {"uprn": "1234567890123"}, {"uprn": "12"}])
    rep = validate_sites(df)
    assert where(by_code(rep, "bad_uprn")) == [(2, "uprn", "warning"), (3, "uprn", "warning")]


# --------------------------------------------------------------------------- coordinates

def test_points_outside_great_britain_are_errors_and_unlocated():
    df = sites_frame([{"easting": -5.0, "northing": 390_000.0},
                      {"easting": 380_000.0, "northing": 1_400_000.0},
                      {"easting": 1.2, "northing": 52.1},  # degrees in metre columns
                      {"easting": 380_000.0, "northing": 390_000.0},
                      {"easting": None, "northing": None}])  # unlocated is not an error here
    rep = validate_sites(df)
    assert where(by_code(rep, "outside_gb")) == [(2, "easting/northing", "error"), (3, "easting/northing", "error"),
                                                 (4, "easting/northing", "error")]
    assert "degrees" in by_code(rep, "outside_gb")[2].problem
    assert included(df) == [False, False, False, True, True]
    assert df["located"].tolist() == [False, False, False, True, False]


def test_swapped_axes_are_swapped_back_with_a_warning():
    df = sites_frame([{"easting": 800_000.0, "northing": 390_000.0},  # swapped: N=800k, E=390k is in GB
                      {"easting": 1_400_000.0, "northing": 390_000.0}])  # swapped point is outside GB too
    rep = validate_sites(df)
    assert where(by_code(rep, "swapped_axes")) == [(2, "easting/northing", "warning")]
    assert (df.loc[0, "easting"], df.loc[0, "northing"]) == (390_000.0, 800_000.0)
    assert df.loc[0, "located"] and df.loc[0, "in_analysis"]
    assert where(by_code(rep, "outside_gb")) == [(3, "easting/northing", "error")]


# --------------------------------------------------------------------------- areas, money, grades

def test_impossible_floor_areas():
    df = sites_frame([{"gia_m2": 0.0}, {"gia_m2": -5.0}, {"gia_m2": 2_000_000.0}, {"capacity_m2": -1.0},
                      {"gia_m2": 100.0, "capacity_m2": 130.0}, {"gia_m2": 100.0, "capacity_m2": 120.0},
                      {"gia_m2": 1_000_000.0}, {"capacity_m2": 2_000_000.0}])
    rep = validate_sites(df)
    assert where(by_code(rep, "bad_area")) == [(2, "gia_m2", "error"), (3, "gia_m2", "error"),
                                               (4, "gia_m2", "error"), (5, "capacity_m2", "error"),
                                               (9, "capacity_m2", "error")]
    assert where(by_code(rep, "capacity_above_gia")) == [(6, "capacity_m2", "warning")]
    assert included(df) == [False, False, False, False, True, True, True, False]


def test_zero_capacity_is_land_or_a_warning():
    df = sites_frame([{"holding_type": "Land", "capacity_m2": 0.0},          # land: nothing to say
                      {"capacity_m2": 0.0},                                   # no floor area known: fine
                      {"gia_m2": 500.0, "capacity_m2": 0.0, "holding_type": "Buildings"}])
    rep = validate_sites(df)
    assert where(by_code(rep, "zero_capacity")) == [(4, "capacity_m2", "warning")]
    assert not rep.has_errors and included(df) == [True, True, True]


@pytest.mark.parametrize("col", ["running_cost_gbp", "market_value_gbp", "backlog_gbp", "disposal_cost_gbp",
                                 "exit_cost_gbp"])
def test_negative_costs_are_errors(col):
    df = sites_frame([{col: -1.0}, {col: 0.0}, {col: 5.0}])
    rep = validate_sites(df)
    assert where(by_code(rep, "negative_value")) == [(2, col, "error")]
    assert included(df) == [False, True, True]


def test_running_cost_over_5000_per_m2_is_a_warning():
    # 100 m2: 600,000 a year is 6,000/m2 (warn), 400,000 is 4,000/m2 (fine)
    df = sites_frame([{"gia_m2": 100.0, "running_cost_gbp": 600_000.0},
                      {"gia_m2": 100.0, "running_cost_gbp": 400_000.0},
                      {"running_cost_gbp": 600_000.0}])  # no floor area: cannot tell
    rep = validate_sites(df)
    assert where(by_code(rep, "running_cost_high")) == [(2, "running_cost_gbp", "warning")]
    assert "6,000" in by_code(rep, "running_cost_high")[0].problem


def test_condition_and_energy_rating_grades():
    df = sites_frame([{"condition": "E"}, {"condition": "b"}, {"energy_rating": "H"}, {"energy_rating": "a+"},
                      {"condition": "D", "energy_rating": "G"}])
    rep = validate_sites(df)
    assert where(by_code(rep, "bad_condition")) == [(2, "condition", "error")]
    assert where(by_code(rep, "bad_energy_rating")) == [(4, "energy_rating", "error")]
    assert df.loc[1, "condition"] == "B" and df.loc[3, "energy_rating"] == "A+"
    assert df.loc[0, "condition"] == "E"  # a wrong value is kept as written
    assert included(df) == [False, True, False, True, True]


def test_negative_available_year_and_bad_percentages():
    df = sites_frame([{"available_year": -1}, {"available_year": 0}, {"empty_floor_pct": 120.0}])
    rep = validate_sites(df)
    assert where(by_code(rep, "negative_value")) == [(2, "available_year", "error")]
    assert where(by_code(rep, "bad_percentage")) == [(4, "empty_floor_pct", "error")]


def test_every_problem_names_file_row_column_and_fix():
    df = sites_frame([{"gia_m2": -1.0, "condition": "Z"}])
    for p in validate_sites(df):
        assert p.file == FILE and p.row == 2 and p.column and p.fix and p.problem
        assert p.table == "sites" and p.record_id == "S1"


def test_validation_is_repeatable():
    df = sites_frame([{"site_id": "A"}, {"site_id": "A"}, {"gia_m2": -1.0}])
    first = [str(p) for p in validate_sites(df)]
    marks = df[["in_analysis", "exclusion_reason"]].copy()
    assert [str(p) for p in validate_sites(df)] == first
    pd.testing.assert_frame_equal(df[["in_analysis", "exclusion_reason"]], marks)


# --------------------------------------------------------------------------- repeated floor area

def test_floor_area_repeated_across_parts_of_one_site():
    df = sites_frame([
        {"site_id": "U1", "uprn": "777", "gia_m2": 302.0, "name": "Abbotsfield Park (Female Bowls)"},
        {"site_id": "U2", "uprn": "777", "gia_m2": 302.0, "name": "Other name"},           # same UPRN
        {"site_id": "P1", "gia_m2": 3882.0, "name": "Longford Park (8 Blocks) Old Stables", "postcode": "M21 9TA"},
        {"site_id": "P2", "gia_m2": 3882.0, "name": "Longford Park, Barn", "postcode": "M21"},  # district + stem
        {"site_id": "G1", "gia_m2": 179.0, "name": "Greenwood St (38)", "postcode": "WA14 1RZ"},
        {"site_id": "G2", "gia_m2": 179.0, "name": "Greenwood St (38a)", "postcode": "WA14"},  # house numbers differ
        {"site_id": "TMBC0261/J0000014", "gia_m2": 457.0, "name": "a"},
        {"site_id": "TMBC0262/J0000014", "gia_m2": 457.0, "name": "b"},                   # AssetCode part
        {"site_id": "X1", "uprn": "888", "gia_m2": 50.0},
        {"site_id": "X2", "uprn": "888", "gia_m2": 60.0},                                   # other area: not repeated
        {"site_id": "N1", "agency": "nhs", "uprn": "777", "gia_m2": 302.0},                 # other agency: shared
    ])
    rep = validate_sites(df)
    assert df["gia_repeated"].astype(bool).tolist() == [False, True, False, True, False, False, False, True,
                                                       False, False, False]
    rep_problems = by_code(rep, "gia_repeated")
    assert where(rep_problems) == [(3, "gia_m2", "warning"), (5, "gia_m2", "warning"), (9, "gia_m2", "warning")]
    assert "U1" in rep_problems[0].problem and "row 2" in rep_problems[0].problem
    assert included(df) == [True] * 11  # a warning never excludes


def test_repeated_floor_area_links_are_transitive():
    # A-B share a UPRN, B-C share a name stem and district: C repeats A's area, A is the first part
    df = sites_frame([{"site_id": "A", "uprn": "1", "gia_m2": 10.0, "name": "Alpha", "postcode": "M1 1AA"},
                      {"site_id": "B", "uprn": "1", "gia_m2": 10.0, "name": "Beta Hall", "postcode": "M2 2BB"},
                      {"site_id": "C", "uprn": "", "gia_m2": 10.0, "name": "Beta Hall, annexe", "postcode": "M2"}])
    rep = validate_sites(df)
    assert df["gia_repeated"].astype(bool).tolist() == [False, True, True]
    assert all("'A'" in p.problem or " A " in p.problem for p in by_code(rep, "gia_repeated"))


def test_estimated_floor_areas_are_never_taken_for_repeats():
    # a typical area given to two libraries of one postcode district is not a site total
    df = sites_frame([{"uprn": "5", "gia_m2": 650.0, "estimated_fields": "gia_m2;capacity_m2"},
                      {"uprn": "5", "gia_m2": 650.0, "estimated_fields": "gia_m2"},
                      {"uprn": "5", "gia_m2": 650.0, "estimated_fields": "running_cost_gbp"}])
    rep = validate_sites(df)
    assert df["gia_repeated"].astype(bool).tolist() == [False, False, False]
    assert by_code(rep, "gia_repeated") == []


def test_repeated_floor_area_in_the_real_trafford_register():
    from planner.readers import read_file

    r = read_file(SOURCES / "trafford_land_and_building_assets.csv", kind="transparency", agency="council")
    sites = r.sites
    validate_sites(sites)
    rep = sites.set_index("site_id")["gia_repeated"].astype(bool)
    # Longford Park: eight records, all published with the park's 3,882 m2 (checked by hand)
    longford = [f"TMBC{k:04d}" for k in range(259, 267)]
    ids = {sid.split("/")[0]: sid for sid in sites["site_id"]}
    assert [bool(rep[ids[c]]) for c in longford] == [False] + [True] * 7
    # Turn Moss Playing Fields: four records of 457 m2, the first keeps the area
    assert [bool(rep[ids[f"TMBC{k:04d}"]]) for k in range(281, 285)] == [False, True, True, True]
    # 38 and 38a Greenwood St, 16 and 18 Shaws Rd: separate houses of the same size
    for c in ("TMBC0184", "TMBC0185", "TMBC0203", "TMBC0205"):
        assert not rep[ids[c]]


# --------------------------------------------------------------------------- services

def test_services_rules():
    sites = sites_frame([{"site_id": "A", "capacity_m2": 100.0}, {"site_id": "B", "gia_m2": -1.0},
                         {"site_id": "C", "gia_m2": 100.0}])
    validate_sites(sites)
    sv = services_frame([
        {"site_id": "A", "space_m2": 80.0},
        {"site_id": "A", "space_m2": 70.0},      # A now needs 150 > 100: overflow warning on A
        {"site_id": "Z"},                        # unknown site
        {"site_id": "A", "space_m2": 0.0},       # space must be > 0
        {"site_id": "A", "space_m2": None},      # missing space
        {"site_id": "A", "fte": -2.0},           # negative staff
        {"site_id": "B"},                        # its site is excluded
        {"site_id": None},                       # a service that needs a home: fine
        {"site_id": "C", "space_m2": 90.0},      # C: 90 > 0.8 x 100 (estimated capacity)
    ])
    rep = validate_services(sv, sites)
    assert where(by_code(rep, "unknown_site")) == [(4, "site_id", "error")]
    assert where(by_code(rep, "bad_space")) == [(5, "space_m2", "error"), (6, "space_m2", "error")]
    assert where(by_code(rep, "negative_value")) == [(7, "fte", "error")]
    assert where(by_code(rep, "site_excluded")) == [(8, "site_id", "error")]
    assert included(sv) == [True, True, False, False, False, False, False, True, True]
    over = by_code(rep, "overflow")
    assert [(p.file, p.row, p.record_id, p.severity) for p in over] == [(FILE, 2, "A", "warning"), (FILE, 4, "C", "warning")]
    # the services in analysis at A: 80 + 70 + 10 (row 7, fte error, excluded) -> only 150 counts
    assert "150" in over[0].problem and "100" in over[0].problem
    assert "90" in over[1].problem and "80" in over[1].problem and "estimated" in over[1].problem


def test_duplicate_service_ids_and_missing_type():
    sites = sites_frame([{"site_id": "A"}])
    validate_sites(sites)
    sv = services_frame([{"service_id": "V", "site_id": "A"}, {"service_id": "V", "site_id": "A"},
                         {"site_id": "A", "service_type": None}])
    rep = validate_services(sv, sites)
    assert where(by_code(rep, "duplicate_id")) == [(3, "service_id", "error")]
    assert where(by_code(rep, "missing_value")) == [(4, "service_type", "error")]


# --------------------------------------------------------------------------- zones

def test_zone_rules():
    z = conform(pd.DataFrame({
        "zone_id": ["Z1", "Z1", "Z3", "Z4", "Z5", "Z6"],
        "population": [100.0, 200.0, -1.0, None, 50.0, 50.0],
        "easting": [380_000.0, 380_000.0, 380_000.0, 380_000.0, None, 800_000.0],
        "northing": [390_000.0, 390_000.0, 390_000.0, 390_000.0, None, 390_000.0],
        "source_file": "zones.csv", "source_row": [2, 3, 4, 5, 6, 7]}), "zones")
    rep = validate_zones(z)
    assert where(by_code(rep, "duplicate_id")) == [(3, "zone_id", "error")]
    assert where(by_code(rep, "negative_value")) == [(4, "population", "error")]
    assert where(by_code(rep, "missing_value")) == [(5, "population", "error"), (6, "easting/northing", "error")]
    assert where(by_code(rep, "swapped_axes")) == [(7, "easting/northing", "warning")]
    assert included(z) == [True, False, False, False, False, True]


# --------------------------------------------------------------------------- reader errors

def test_exclude_by_problems_uses_file_and_row():
    df = sites_frame([{}, {}, {}])
    validate_sites(df)
    report = ProblemReport([
        Problem("/some/folder/sites.csv", 3, "BuildingSize", "abc", "not a number", "write a number", "error", "sites"),
        Problem("sites.csv", 4, "GeoX", "x", "odd", "check", "warning", "sites"),   # a warning: kept
        Problem("other.csv", 2, "GeoX", "x", "bad", "fix", "error", "sites"),       # another file
    ])
    assert exclude_by_problems(df, report, "sites") == 1
    assert included(df) == [True, False, True]
    assert df.loc[1, "exclusion_reason"] == "BuildingSize: not a number"


def test_empty_tables_validate_cleanly():
    for fn, frame in ((validate_sites, conform(pd.DataFrame(), "sites")),
                      (validate_zones, conform(pd.DataFrame(), "zones"))):
        assert len(fn(frame)) == 0
    assert len(validate_services(conform(pd.DataFrame(), "services"), None)) == 0


def test_large_table_is_vectorised():
    # 20,000 sites with one duplicate: runs in well under a second (no per-row Python for clean rows)
    rng = np.random.default_rng(3)
    n = 20_000
    df = conform(pd.DataFrame({"site_id": [f"S{i}" for i in range(n - 1)] + ["S5"], "agency": "council",
                               "easting": rng.uniform(3e5, 4e5, n), "northing": rng.uniform(3e5, 4e5, n),
                               "gia_m2": rng.uniform(10, 1e4, n).round(3), "source_file": FILE,
                               "source_row": np.arange(2, n + 2)}), "sites")
    rep = validate_sites(df)
    assert where(by_code(rep, "duplicate_id")) == [(n + 1, "site_id", "error")]
    assert int((~df["in_analysis"].astype(bool)).sum()) == 1
