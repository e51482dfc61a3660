"""The GeoPackage register: round trips keep types, saving is atomic, imports refresh an
agency's records without duplicating or touching anything else."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import register as register_mod
from planner.errors import InputFileError
from planner.problems import Problem, ProblemReport
from planner.register import Register, default_register_path, import_files
from planner.schema import TABLES, conform

from .conftest import REPO, SOURCES

TRAFFORD = SOURCES / "trafford_land_and_building_assets.csv"


# --------------------------------------------------------------------------- helpers

def write_csv(path: Path, header: str, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


SITES_HEAD = "site_id,name,agency,easting,northing,gia_m2,uprn"


def site_ids(reg: Register) -> list[str]:
    return sorted(reg.sites["site_id"].astype(str))


def sample_register() -> Register:
    sites = conform(pd.DataFrame({
        "site_id": ["C1", "C2", "N1"],
        "name": ["Town Hall", "Depot, yard", None],
        "uprn": ["010001234567", None, "000000000001"],
        "agency": ["council", "council", "nhs"],
        "gia_m2": [1000.5, None, 250.0],
        "available_year": [0, None, 3],
        "locked": [True, None, False],
        "lease_expiry": ["2031-03-31", None, None],
        "easting": [376_680.1, None, 380_000.0],
        "northing": [387_959.8, None, 390_000.0],
        "located": [True, False, True],
        "in_analysis": [True, True, False],
        "exclusion_reason": [None, None, "gia_m2: bad"],
        "gia_repeated": [False, False, True],
        "source_file": "sites.csv", "source_row": [2, 3, 4],
    }), "sites")
    services = conform(pd.DataFrame({
        "service_id": ["V1", "V2"], "site_id": ["C1", None], "agency": ["council", "nhs"],
        "service_type": ["office", "gp"], "space_m2": [120.0, 80.0], "fte": [10.0, None],
        "movable": [True, None], "easting": [None, 381_000.0], "northing": [None, 391_000.0],
        "source_file": "services.csv", "source_row": [2, 3]}), "services")
    services["in_analysis"] = pd.array([True, False], dtype="boolean")
    zones = conform(pd.DataFrame({"zone_id": ["E01000001"], "population": [1500.0], "easting": [377_000.0],
                                  "northing": [388_000.0]}), "zones")
    square = shapely.box(376_000, 387_000, 378_000, 389_000)
    two = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
    boundaries = gpd.GeoDataFrame({"level": ["ward", "borough"], "code": ["E05000001", "E08000009"],
                                   "name": ["A ward", "Trafford"], "population": [1500.0, None]},
                                  geometry=[square, two], crs="EPSG:27700")
    problems = ProblemReport([Problem("sites.csv", 4, "gia_m2", "-1", "bad", "fix it", "error", "sites", "N1", "bad_area")])
    pf = problems.to_frame()
    pf["agency"], pf["stage"] = "nhs", "validate"
    imports = pd.DataFrame([{"agency": "council", "file": "sites.csv", "sha256": "ab" * 32, "reader": "canonical",
                             "rows_read": 3, "rows_stored": 3, "rows_unreadable": 0, "imported_at": "2026-01-01T00:00:00+00:00"}])
    return Register.from_frames(sites, services, zones, boundaries, pf, imports)


# --------------------------------------------------------------------------- round trip

def test_round_trip_keeps_every_schema_column_and_type(tmp_path):
    reg = sample_register()
    path = reg.save(tmp_path / "r.gpkg")
    back = Register.load(path)
    for table in ("sites", "services", "zones"):
        a, b = getattr(reg, table), getattr(back, table)
        for c in TABLES[table]:
            assert str(b[c.name].dtype) == str(a[c.name].dtype), (table, c.name)
            pd.testing.assert_series_equal(a[c.name], b[c.name], check_names=False, obj=f"{table}.{c.name}")
    assert back.sites["uprn"].tolist()[0] == "010001234567"  # leading zero kept
    assert back.sites["available_year"].isna().tolist() == [False, True, False]
    assert str(back.sites["locked"].dtype) == "boolean" and back.sites["locked"].isna().tolist() == [False, True, False]
    pd.testing.assert_series_equal(reg.services["in_analysis"], back.services["in_analysis"], check_names=False)
    pd.testing.assert_frame_equal(reg.problems, back.problems)
    pd.testing.assert_frame_equal(reg.imports, back.imports)
    assert back.sites.crs.to_epsg() == 27700 and back.zones.crs.to_epsg() == 27700


def test_geometry_is_the_point_of_located_records(tmp_path):
    back = Register.load(sample_register().save(tmp_path / "r.gpkg"))
    g = back.sites.geometry
    assert (g.iloc[0].x, g.iloc[0].y) == (376_680.1, 387_959.8)
    assert g.iloc[1] is None  # unlocated: no geometry
    assert (g.iloc[2].x, g.iloc[2].y) == (380_000.0, 390_000.0)
    assert (back.zones.geometry.iloc[0].x, back.zones.geometry.iloc[0].y) == (377_000.0, 388_000.0)


def test_boundaries_are_multipolygons_with_the_same_shape(tmp_path):
    reg = sample_register()
    back = Register.load(reg.save(tmp_path / "r.gpkg"))
    assert list(back.boundaries.geom_type) == ["MultiPolygon", "MultiPolygon"]
    for a, b in zip(reg.boundaries.geometry, back.boundaries.geometry, strict=True):
        assert a.symmetric_difference(b).area == pytest.approx(0.0)
    assert back.boundaries["code"].tolist() == ["E05000001", "E08000009"]


def test_layers_open_as_a_plain_geopackage(tmp_path):
    path = sample_register().save(tmp_path / "r.gpkg")
    with sqlite3.connect(path) as con:
        tables = {r[0]: r[1] for r in con.execute("select table_name, data_type from gpkg_contents")}
    assert tables == {"sites": "features", "zones": "features", "boundaries": "features",
                      "services": "attributes", "problems": "attributes", "imports": "attributes"}


def test_a_geodataframe_without_easting_northing_gets_them_from_its_points():
    from pyproj import Transformer

    g = gpd.GeoDataFrame({"site_id": ["A", "B"], "agency": ["nhs", "nhs"]},
                         geometry=[shapely.Point(-2.35, 53.39), None], crs="EPSG:4326")
    reg = Register.from_frames(sites=g)
    e, n = Transformer.from_crs(4326, 27700, always_xy=True).transform(-2.35, 53.39)
    assert reg.sites["easting"].iloc[0] == pytest.approx(e) and reg.sites["northing"].iloc[0] == pytest.approx(n)
    assert reg.sites.geometry.iloc[0].x == pytest.approx(e)
    assert reg.sites["easting"].isna().tolist() == [False, True] and reg.sites.geometry.iloc[1] is None


def test_empty_register_round_trip(tmp_path):
    back = Register.load(Register().save(tmp_path / "empty.gpkg"))
    assert len(back.sites) == len(back.services) == len(back.zones) == len(back.imports) == 0
    assert list(back.sites.columns[:-1]) == [c.name for c in TABLES["sites"]]


# --------------------------------------------------------------------------- load errors

def test_load_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(InputFileError, match=r"no such register.*planner import"):
        Register.load(tmp_path / "nope.gpkg")


def test_load_rejects_a_file_that_is_not_a_geopackage(tmp_path):
    p = tmp_path / "x.gpkg"
    p.write_text("site_id\nA\n")
    with pytest.raises(InputFileError, match="not a GeoPackage"):
        Register.load(p)


def test_load_rejects_a_geopackage_without_sites(tmp_path):
    p = tmp_path / "other.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=27700).to_file(p, layer="roads")
    with pytest.raises(InputFileError, match=r"not a planner register.*roads"):
        Register.load(p)


# --------------------------------------------------------------------------- atomic save

def test_a_failed_save_leaves_the_previous_register_byte_identical(tmp_path, monkeypatch):
    import pyogrio

    path = sample_register().save(tmp_path / "r.gpkg")
    before = path.read_bytes()
    real = pyogrio.write_dataframe
    calls = []

    def failing(*args, **kwargs):
        calls.append(kwargs.get("layer"))
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", failing)
    bigger = sample_register()
    bigger.sites = pd.concat([bigger.sites] * 3, ignore_index=True)
    with pytest.raises(OSError, match="simulated"):
        bigger.save(path)
    assert calls == ["sites", "services"]  # the first layer was written to the temporary file
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.gpkg"]  # no temporary file left
    monkeypatch.undo()
    assert len(Register.load(path).sites) == 3


def test_save_replaces_the_register(tmp_path):
    path = tmp_path / "r.gpkg"
    sample_register().save(path)
    reg = sample_register()
    reg.sites = reg.sites.iloc[:1]
    reg.save(path)
    assert site_ids(Register.load(path)) == ["C1"]


# --------------------------------------------------------------------------- default path

def test_default_register_path(monkeypatch, tmp_path):
    monkeypatch.delenv("PLANNER_REGISTER", raising=False)
    assert default_register_path() == REPO / "data" / "trafford.gpkg"
    monkeypatch.setenv("PLANNER_REGISTER", str(tmp_path / "mine.gpkg"))
    assert default_register_path() == tmp_path / "mine.gpkg"


# --------------------------------------------------------------------------- importing

@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    d = tmp_path / "in"
    return {
        "council": write_csv(d / "council" / "sites.csv", SITES_HEAD,
                             "C1,Town Hall,council,376680,387959,1000,000123",
                             "C2,Depot,council,377000,388000,-5,",
                             "C3,Library,council,377500,388500,400,"),
        "nhs": write_csv(d / "nhs" / "nhs_sites.csv", SITES_HEAD,
                         "N1,Clinic,nhs,376690,387950,300,123",
                         "N2,Hospital,nhs,378000,389000,20000,"),
        "services": write_csv(d / "council" / "services.csv", "service_id,site_id,agency,service_type,space_m2",
                              "V1,C1,council,office,500", "V2,N1,council,office,50", "V3,C9,council,office,10"),
        "zones": write_csv(d / "zones.csv", "zone_id,population,easting,northing", "Z1,1500,376000,387000"),
    }


def test_import_stores_records_with_errors_but_excludes_them(tmp_path, files):
    out = tmp_path / "reg.gpkg"
    reg, report, stats = import_files([files["council"]], "council", out)
    assert site_ids(reg) == ["C1", "C2", "C3"]
    excluded = reg.sites.set_index("site_id")["in_analysis"].astype(bool)
    assert excluded.to_dict() == {"C1": True, "C2": False, "C3": True}
    errs = [p for p in report if p.severity == "error"]
    assert [(p.row, p.column, p.code) for p in errs] == [(3, "gia_m2", "bad_area")]
    assert stats[0]["rows_read"] == 3 and stats[0]["rows_stored"] == 3 and stats[0]["reader"] == "canonical"
    back = Register.load(out)
    assert site_ids(back) == ["C1", "C2", "C3"]
    assert "bad_area" in back.problems["code"].tolist()
    imp = back.imports
    assert imp[["agency", "file", "rows_read", "rows_stored", "rows_unreadable"]].values.tolist() == [
        ["council", "sites.csv", 3, 3, 0]]
    import hashlib
    assert imp["sha256"].iloc[0] == hashlib.sha256(files["council"].read_bytes()).hexdigest()


def test_importing_the_same_file_twice_never_duplicates(tmp_path, files):
    out = tmp_path / "reg.gpkg"
    import_files([files["council"]], "council", out)
    reg, report, _ = import_files([files["council"]], "council", out)
    assert site_ids(reg) == ["C1", "C2", "C3"]
    assert not [p for p in report if p.code == "duplicate_id"]
    assert len(reg.imports) == 1
    assert (reg.problems["code"] == "bad_area").sum() == 1  # the problem is not repeated either


def test_refresh_replaces_an_agencys_file_and_keeps_everything_else(tmp_path, files):
    out = tmp_path / "reg.gpkg"
    import_files([files["council"]], "council", out)
    import_files([files["nhs"]], "nhs", out)
    # the council publishes a new version of sites.csv: C3 sold, C4 bought, C2 fixed
    new = write_csv(tmp_path / "v2" / "sites.csv", SITES_HEAD,
                    "C1,Town Hall,council,376680,387959,1000,000123",
                    "C2,Depot,council,377000,388000,50,",
                    "C4,Hub,council,377600,388600,700,")
    reg, _, _ = import_files([new], "council", out)
    assert site_ids(reg) == ["C1", "C2", "C4", "N1", "N2"]
    assert reg.sites["in_analysis"].astype(bool).all()
    assert not (reg.problems["code"] == "bad_area").any()  # the old file's problem went with it
    assert sorted(reg.imports["file"]) == ["nhs_sites.csv", "sites.csv"]
    # C1 and N1 share UPRN 123 (with and without leading zeros): linked both ways
    shared = reg.sites.set_index("site_id")["shared_uprn_sites"]
    assert shared["C1"] == "N1" and shared["N1"] == "C1"


def test_problems_of_other_stages_survive_an_import(tmp_path, files):
    out = tmp_path / "reg.gpkg"
    reg = sample_register()
    extra = pd.DataFrame([{"file": "estimates.toml", "row": None, "column": None, "value": None,
                           "problem": "rates of 2024/25 used", "fix": "none needed", "severity": "info",
                           "table": "", "record_id": None, "code": "note", "agency": "", "stage": "build"}])
    reg.problems = pd.concat([reg.problems, extra], ignore_index=True)
    reg.save(out)
    back, _, _ = import_files([files["nhs"]], "nhs", out)
    stages = back.problems.groupby("stage")["code"].apply(list).to_dict()
    assert stages["build"] == ["note"]
    assert "bad_area" not in stages.get("validate", [])  # validation was redone on the new tables


def test_same_file_name_from_another_agency_is_kept(tmp_path, files):
    out = tmp_path / "reg.gpkg"
    import_files([files["council"]], "council", out)
    police = write_csv(tmp_path / "police" / "sites.csv", SITES_HEAD, "P1,Station,police,378000,388000,900,")
    import_files([police], "police", out)
    reg, _, _ = import_files([police], "police", out)
    assert site_ids(reg) == ["C1", "C2", "C3", "P1"]


def test_services_and_zones_are_validated_against_the_whole_register(tmp_path, files):
    out = tmp_path / "reg.gpkg"
    import_files([files["council"], files["nhs"]], "council", out)
    reg, report, _ = import_files([files["services"], files["zones"]], "council", out)
    sv = reg.services.set_index("service_id")["in_analysis"].astype(bool)
    assert sv.to_dict() == {"V1": True, "V2": True, "V3": False}  # C9 is no site
    assert [(p.file, p.row, p.code) for p in report if p.severity == "error"] == [("services.csv", 4, "unknown_site")]
    assert len(reg.zones) == 1 and reg.zones.geometry.iloc[0].x == 376_000


def test_inputs_are_never_modified(tmp_path, files):
    before = {k: (p.read_bytes(), p.stat().st_mtime_ns) for k, p in files.items()}
    out = tmp_path / "reg.gpkg"
    import_files(list(files.values()), "council", out)
    import_files(list(files.values()), "council", out)
    assert {k: (p.read_bytes(), p.stat().st_mtime_ns) for k, p in files.items()} == before


def test_a_file_level_error_aborts_the_whole_import(tmp_path, files):
    out = tmp_path / "reg.gpkg"
    import_files([files["council"]], "council", out)
    before = out.read_bytes()
    junk = tmp_path / "junk.csv"
    junk.write_text("colour,shape\nred,round\n")
    missing = tmp_path / "missing.csv"
    with pytest.raises(InputFileError) as err:
        import_files([files["nhs"], junk, missing], "nhs", out)
    msg = str(err.value)
    assert "junk.csv" in msg and "missing.csv" in msg and "nothing was imported" in msg
    assert out.read_bytes() == before
    # and no register is created by a failed first import
    with pytest.raises(InputFileError):
        import_files([junk], "nhs", tmp_path / "new.gpkg")
    assert not (tmp_path / "new.gpkg").exists()


def test_two_different_files_with_one_name_are_refused(tmp_path, files):
    other = write_csv(tmp_path / "elsewhere" / "sites.csv", SITES_HEAD, "X1,x,council,377000,388000,10,")
    with pytest.raises(InputFileError, match="same name"):
        import_files([files["council"], other], "council", tmp_path / "r.gpkg")


def test_an_agency_is_required(tmp_path, files):
    with pytest.raises(InputFileError, match="--agency"):
        import_files([files["council"]], " ", tmp_path / "r.gpkg")


def test_import_of_the_real_trafford_register(tmp_path):
    out = tmp_path / "trafford.gpkg"
    reg, _, stats = import_files([TRAFFORD], "council", out)
    n = sum(1 for line in TRAFFORD.read_text(encoding="utf-8").splitlines()[1:] if line.strip())
    assert stats[0]["rows_read"] == n == len(reg.sites)
    back = Register.load(out)
    assert len(back.sites) == n
    # located records have their point; the others none
    located = back.sites["located"].astype(bool).to_numpy()
    assert back.sites.geometry.isna().to_numpy().tolist() == (~located).tolist()
    # UPRNs stay text (12 digits as published)
    u = back.sites["uprn"].dropna()
    assert u.str.fullmatch(r"\d+").all()
    raw = pd.read_csv(TRAFFORD, dtype=str)
    assert set(u) == set(raw["UPRN"].dropna().str.strip())
    # re-import: same records
    reg2, _, _ = import_files([TRAFFORD], "council", out)
    assert len(reg2.sites) == n


def test_import_copies_of_real_files_from_two_agencies(tmp_path):
    # the Trafford register (council) and the canonical sites of another agency in one register
    src = tmp_path / "trafford_land_and_building_assets.csv"
    shutil.copy(TRAFFORD, src)
    other = write_csv(tmp_path / "police.csv", SITES_HEAD, "P1,Stretford police station,police,379000,394000,1500,")
    out = tmp_path / "r.gpkg"
    a, _, _ = import_files([src], "council", out)
    b, _, _ = import_files([other], "police", out)
    assert len(b.sites) == len(a.sites) + 1
    assert np.isclose(b.sites.loc[b.sites["site_id"] == "P1", "easting"].astype(float).iloc[0], 379_000)


def test_failed_save_during_import_keeps_the_old_register(tmp_path, files, monkeypatch):
    out = tmp_path / "reg.gpkg"
    import_files([files["council"]], "council", out)
    before = out.read_bytes()

    def boom(reg, tmp):
        Path(tmp).write_bytes(b"partial")
        raise OSError("crash (simulated)")

    monkeypatch.setattr(register_mod, "_write_layers", boom)
    with pytest.raises(OSError):
        import_files([files["nhs"]], "nhs", out)
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["in", "reg.gpkg"]


def test_import_of_a_synthetic_place_matches_an_independent_count(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from synth import make_place, write_transparency_csv

    a = make_place(2_000, seed=7, faults=0.06)
    b = make_place(2_000, seed=7, faults=0.06)
    pd.testing.assert_frame_equal(a["sites"], b["sites"])  # seeded: the same place again
    path = write_transparency_csv(a["sites"], tmp_path, seed=7, per_agency=False)["all"]
    raw = pd.read_csv(path, dtype=str)
    reg, report, _ = import_files([path], "council", tmp_path / "r.gpkg", kind="transparency")
    codes = pd.Series([p.code for p in report if p.severity == "error"]).value_counts()
    negative = pd.to_numeric(raw["BuildingSize"]) < 0
    repeated = raw["AssetCode"].duplicated()
    assert codes.get("bad_area", 0) == negative.sum() > 0
    assert codes.get("duplicate_id", 0) == repeated.sum() > 0
    assert int((~reg.sites["in_analysis"].astype(bool)).sum()) == int((negative | repeated).sum())
    no_xy = raw["GeoX"].isna() & raw["GeoY"].isna()
    assert int((~reg.sites["located"].astype(bool)).sum()) == int(no_xy.sum()) > 0


def test_save_keeps_the_layers_other_stages_store(tmp_path, files):
    """Scores and the scenario store live in the register too: re-importing (which saves the
    register anew) must carry them over unchanged."""
    import pyogrio

    from planner.register import replace_layers_atomic

    out = tmp_path / "reg.gpkg"
    import_files([files["council"]], agency="council", register_path=out)
    extra = pd.DataFrame({"scenario_id": [1, 2], "name": ["base", "bold"]})
    replace_layers_atomic(out, {"scenarios": extra})
    import_files([files["council"]], agency="council", register_path=out)  # refresh: save again
    assert "scenarios" in {str(n) for n, _ in pyogrio.list_layers(out)}
    back = pyogrio.read_dataframe(out, layer="scenarios")
    assert back["name"].tolist() == ["base", "bold"]
    assert back["scenario_id"].tolist() == [1, 2]


def test_replace_layers_atomic_leaves_the_file_intact_on_failure(tmp_path, files, monkeypatch):
    import pyogrio

    from planner.register import replace_layers_atomic

    out = tmp_path / "reg.gpkg"
    import_files([files["council"]], agency="council", register_path=out)
    before = out.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", boom)
    with pytest.raises(OSError):
        replace_layers_atomic(out, {"scores": pd.DataFrame({"a": [1]})})
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".reg")) == []
