"""The sample place, Trafford, built by data/build_sample.py from data/sources.

The register is built once per session into a temporary folder. Expected values are computed
here independently from the source files (csv/json + shapely/pyproj, not the planner's
readers) or by hand from data/estimates.toml."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from planner.errors import InputFileError
from planner.estimates import fill_service_estimates, fill_site_estimates, load_estimates
from planner.register import Register
from planner.schema import is_estimated

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SOURCES = DATA / "sources"
TOML = DATA / "estimates.toml"
README = DATA / "README.md"


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_sample", DATA / "build_sample.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["build_sample"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def builder():
    return _load_builder()


@pytest.fixture(scope="session")
def built(tmp_path_factory, builder):
    out = tmp_path_factory.mktemp("sample") / "trafford.gpkg"
    assert builder.main(["--out", str(out), "--quiet", "--force"]) == 0
    return out


@pytest.fixture(scope="session")
def reg(built) -> Register:
    return Register.load(built)


@pytest.fixture(scope="session")
def rates() -> dict:
    return tomllib.loads(TOML.read_text(encoding="utf-8"))


def _csv(name: str) -> list[dict]:
    with open(SOURCES / name, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _num(v):
    return None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else float(v)


def _borough_bng():
    gj = json.loads((SOURCES / "boundaries" / "local_authority_district.geojson").read_text())
    geom = shape(gj["features"][0]["geometry"])
    t = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


# --------------------------------------------------------------------------- size and agencies

def test_several_hundred_sites_across_at_least_four_agencies(reg):
    s = reg.sites
    assert len(s) >= 300
    located = s[s["located"].fillna(False)]
    agencies = set(located["agency"])
    assert {"council", "nhs", "fire", "police"} <= agencies
    assert len(agencies) >= 4
    # every agency's sites have services (the optimiser has something to move)
    assert set(reg.services["agency"]) >= {"council", "nhs", "fire", "police", "dwp"}


def test_all_608_council_rows_present(reg):
    rows = _csv("trafford_land_and_building_assets.csv")
    assert len(rows) == 608
    c = reg.sites[reg.sites["source_file"] == "trafford_land_and_building_assets.csv"]
    assert len(c) == 608
    assert set(c["site_id"]) == {r["AssetCode"] for r in rows}
    by_row = dict(zip(c["source_row"].astype(int), c["site_id"], strict=True))
    for k, r in enumerate(rows):
        assert by_row[k + 2] == r["AssetCode"]  # spreadsheet row: header = 1
    assert (c["agency"] == "council").all()


def test_fire_stations_are_exactly_those_inside_the_borough(reg):
    poly = _borough_bng()
    inside = set()
    for r in _csv("fire-stations-dataset.csv"):
        try:
            x, y = float(r["STATION_EASTING"]), float(r["STATION_NORTHING"])
        except ValueError:
            continue
        if poly.contains(shapely.Point(x, y)):
            inside.add(r["STATION_NAME"])
    assert inside == {"Altrincham", "Sale", "Stretford"}
    fire = reg.sites[reg.sites["agency"] == "fire"]
    assert {n.removesuffix(" Fire Station") for n in fire["name"]} == inside
    assert fire["located"].all()
    svc = reg.services[reg.services["agency"] == "fire"]
    assert set(svc["site_id"]) == set(fire["site_id"])
    assert (svc["service_type"] == "fire_operational").all() and not svc["movable"].any()


def test_police_sites_are_illustrative_and_say_so(reg):
    s = reg.sites
    police = s[s["agency"] == "police"]
    assert 4 <= len(police) <= 6
    assert police["illustrative"].all()
    assert police["name"].str.contains(r"\(illustrative\)").all()
    # nothing else is illustrative
    assert not s.loc[s["agency"] != "police", "illustrative"].fillna(False).any()
    svc = reg.services[reg.services["site_id"].isin(police["site_id"])]
    assert len(svc) >= len(police)
    assert svc["illustrative"].all() and svc["name"].str.contains(r"\(illustrative\)").all()
    notes = reg.problems[reg.problems["code"] == "illustrative"]
    assert set(notes["record_id"]) == set(police["site_id"])
    assert "illustrative" in README.read_text(encoding="utf-8").lower()


# --------------------------------------------------------------------------- estimates

def test_estimated_fields_have_empty_source_columns(reg):
    """gia_m2 is estimated exactly where BuildingSize is empty (buildings), and read where given."""
    rows = {k + 2: r for k, r in enumerate(_csv("trafford_land_and_building_assets.csv"))}
    c = reg.sites[reg.sites["source_file"] == "trafford_land_and_building_assets.csv"]
    est = is_estimated(c, "gia_m2")
    n_est = 0
    for (_, site), e in zip(c.iterrows(), est, strict=True):
        size = rows[int(site["source_row"])]["BuildingSize"].strip()
        if e:
            n_est += 1
            assert size == "", site["site_id"]
        elif size:
            assert _num(site["gia_m2"]) == pytest.approx(float(size))
    assert n_est > 50
    # no estimated column of any site is one its reader read: the ERIC hospital's costs are real
    eric = {r["Site Code"]: r for r in _csv("ERIC_2016-17_site_data.csv")}
    cols = ["Estates and property maintenance (£)", "Grounds and gardens maintenance (£)",
            "Other Hard FM (Estates) costs (£)", "Other Soft FM (Hotel Services) costs (£)",
            "Energy costs (all energy supplies) (£)", "Water cost (£)", "Sewage cost (£)", "Cleaning service cost (£)"]
    rw3 = reg.sites[reg.sites["site_id"] == "RW3TR"].iloc[0]
    assert _num(rw3["running_cost_gbp"]) == pytest.approx(sum(float(eric["RW3TR"][c_]) for c_ in cols))
    assert _num(rw3["gia_m2"]) == float(eric["RW3TR"]["Gross internal floor area (m²)"])
    fields = set(str(rw3["estimated_fields"]).split(";"))
    assert not fields & {"running_cost_gbp", "gia_m2", "backlog_gbp"}
    # every listed field name is a real column
    for frame in (reg.sites, reg.services):
        for v in frame["estimated_fields"].fillna(""):
            assert set(filter(None, v.split(";"))) <= set(frame.columns)


def test_hand_worked_estimates(reg, rates):
    s = reg.sites.set_index("site_id")
    r = rates
    # Moss View Centre: vacant community building, 1,299.3 m2 GIA, freehold
    m = s.loc["TMBC0004"]
    assert m["tenure_detail"] == "vacant" and _num(m["gia_m2"]) == 1299.3
    rc = 1299.3 * r["running_cost_gbp_per_m2"]["community"]["value"] * r["running_cost_share"]["vacant"]["value"]
    assert _num(m["running_cost_gbp"]) == pytest.approx(rc, abs=1)
    mv = 1299.3 * r["market_value_gbp_per_m2"]["default"]["value"]
    assert _num(m["market_value_gbp"]) == pytest.approx(mv, abs=1)
    assert _num(m["disposal_cost_gbp"]) == pytest.approx(mv * r["disposal_cost_rate"]["all"]["value"], abs=1)
    assert _num(m["capacity_m2"]) == pytest.approx(0.8 * 1299.3, abs=0.1)
    assert not reg.services["site_id"].eq("TMBC0004").any()  # vacant: no services
    # Trafford Town Hall: owner-occupied office, GPA rate
    t = s.loc["TMBC0008/T0000001"]
    assert _num(t["running_cost_gbp"]) == pytest.approx(12426 * r["running_cost_gbp_per_m2"]["office"]["value"], abs=1)
    # a fire station is costed per property (Lincolnshire blue light)
    f = s.loc["E31000040-sale"]
    assert _num(f["running_cost_gbp"]) == r["running_cost_gbp_per_property"]["fire_station"]["value"]
    assert _num(f["market_value_gbp"]) == r["market_value_gbp_per_property"]["fire_station"]["value"]
    # a leasehold is worth nothing to sell
    for sid in s.index[s["tenure"] == "leasehold"]:
        if pd.notna(s.loc[sid, "market_value_gbp"]):
            assert _num(s.loc[sid, "market_value_gbp"]) == 0


def test_gp_practices_are_nhs_services_sized_from_patients(reg, rates):
    regs = {(r["practice_name"].lower()): int(r["registered_patients"]) for r in _csv("trafford_gp_patient_registrations.csv")}
    gp = reg.services[reg.services["service_type"] == "gp"]
    assert len(gp) == 26 and (gp["agency"] == "nhs").all()
    per = rates["gp"]["gia_m2_per_patient"]["value"] * 0.8 * rates["space_utilisation"]["gp"]["value"]
    for _, g in gp.iterrows():
        assert _num(g["space_m2"]) == pytest.approx(regs[g["name"].lower()] * per, abs=0.1)
    # a GP-only NHS site's floor area is its practices' patients x the rate
    s = reg.sites.set_index("site_id")
    only = gp.groupby("site_id").filter(lambda x: (reg.services["site_id"] == x.name).sum() == len(x))
    for sid, grp in only.groupby("site_id"):
        if sid.startswith("NHS-GP-"):
            want = sum(regs[n.lower()] for n in grp["name"]) * rates["gp"]["gia_m2_per_patient"]["value"]
            assert _num(s.loc[sid, "gia_m2"]) == pytest.approx(want, abs=0.1)
            assert "gia_m2" in s.loc[sid, "estimated_fields"]


def test_library_and_leisure_lists_are_linked_not_duplicated(reg):
    libs = _csv("trafford_libraries.csv")
    leis = _csv("trafford_leisure_centres.csv")
    svc = reg.services
    for lst, name in ((libs, "trafford_libraries.csv"), (leis, "trafford_leisure_centres.csv")):
        from_list = svc[svc["source_file"] == name]
        assert sorted(from_list["source_row"].astype(int)) == list(range(2, len(lst) + 2))
    # the register's own Stretford Library row holds the list's Stretford Library, once
    s = reg.sites
    assert (s["name"] == "Stretford Library").sum() == 1
    stretford = s.loc[s["name"] == "Stretford Library", "site_id"].iloc[0]
    assert set(svc.loc[svc["site_id"] == stretford, "name"]) == {"Stretford Library"}
    # the only sites added from the lists are records with no building in the register
    added = s[s["source_file"].isin(["trafford_libraries.csv", "trafford_leisure_centres.csv"])]
    assert len(added) <= 3
    register_postcodes = {r["PostCode"].strip() for r in _csv("trafford_land_and_building_assets.csv")}
    for pc in added["postcode"]:
        assert pc not in register_postcodes


def test_services_rules(reg):
    s = reg.sites.set_index("site_id")
    svc = reg.services
    assert svc["service_id"].is_unique
    assert (svc["space_m2"] > 0).all()
    assert set(svc["site_id"]) <= set(s.index)
    vacant = s.index[s["tenure_detail"] == "vacant"]
    assert not svc["site_id"].isin(vacant).any()
    for t in ("acute_hospital", "fire_operational"):
        assert not svc.loc[svc["service_type"] == t, "movable"].any()
    assert svc["estimated_fields"].str.contains("space_m2").all()
    # land holdings hold nothing and get no estimates
    land = s[s["holding_type"] == "Land"]
    assert not svc["site_id"].isin(land.index).any()
    assert land["market_value_gbp"].isna().all() and land["running_cost_gbp"].isna().all()
    assert (land["capacity_m2"] == 0).all() and land["gia_m2"].isna().all()


# --------------------------------------------------------------------------- zones, boundaries, postcodes

def test_zones_are_the_lsoas_with_mid_2024_population(reg):
    pop = {r["area_code"]: float(r["all_ages"]) for r in _csv("population/mid-year_2024_population_estimates_lsoa.csv")
           if r["sex"] == "Persons"}
    z = reg.zones
    assert len(z) == 139 and set(z["zone_id"]) == set(pop)
    assert dict(zip(z["zone_id"], z["population"].astype(float), strict=True)) == pop
    assert z["population"].sum() == 241025
    poly = _borough_bng().buffer(500)
    assert all(poly.contains(shapely.Point(e, n)) for e, n in zip(z["easting"], z["northing"], strict=True))


def test_boundaries(reg):
    b = reg.boundaries
    assert b.crs.to_epsg() == 27700
    assert b["level"].value_counts().to_dict() == {"lsoa": 139, "ward": 21, "locality": 4, "borough": 1}
    borough = b[b["level"] == "borough"]
    assert 95e6 < borough.geometry.area.iloc[0] < 115e6  # Trafford is about 106 km2
    assert borough["population"].iloc[0] == 241025
    lsoa_area = b.loc[b["level"] == "lsoa"].geometry.area.sum()
    assert lsoa_area == pytest.approx(borough.geometry.area.iloc[0], rel=0.01)


def test_postcode_table_places_a_known_postcode(builder):
    pt = builder.trafford_postcodes()
    e, n = pt.lookup(["WA14 1PF", "wa141pf", "ZZ9 9ZZ"])
    # Altrincham Town Hall (WA14 1PF) is published at lon -2.3520922, lat 53.3879587
    t = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = t.transform(-2.3520922, 53.3879587)
    assert np.hypot(e[0] - x, n[0] - y) < 200
    assert e[1] == e[0] and np.isnan(e[2])


# --------------------------------------------------------------------------- provenance, readme

def test_rows_accounting(reg):
    imp = reg.imports
    assert (imp["rows_read"] == imp["rows_stored"] + imp["rows_unreadable"] + imp["rows_not_used"]).all()
    files = set(imp["file"])
    on_disk = {f"data/sources/{p.relative_to(SOURCES).as_posix()}" for p in SOURCES.rglob("*")
               if p.suffix in (".csv", ".geojson")}
    assert files == on_disk
    a = imp[imp["file"].str.endswith("trafford_land_and_building_assets.csv")].iloc[0]
    assert (a["rows_read"], a["rows_stored"], a["rows_unreadable"]) == (608, 608, 0)
    e = imp[imp["file"].str.endswith("ERIC_2016-17_site_data.csv")].iloc[0]
    aggregates = sum(1 for r in _csv("ERIC_2016-17_site_data.csv") if r["Site Code"] == "AGGRE")
    assert e["rows_unreadable"] == aggregates and e["rows_stored"] == 2


def test_every_rate_is_in_the_readme_with_its_source(rates):
    text = README.read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`([a-z0-9_]+\.[a-z0-9_ ]+)`\s*\|\s*([0-9.]+)\s*\|[^|]*\|[^|]*\|\s*(.+?)\s*\|$", line)
        if m:
            rows[m.group(1)] = (float(m.group(2)), m.group(3))
    n = 0
    for table, body in rates.items():
        if table in ("meta", "policy", "disposal"):
            continue
        for key, entry in body.items():
            if not isinstance(entry, dict):
                continue
            n += 1
            name = f"{table}.{key}"
            assert name in rows, f"{name} is not in data/README.md"
            value, source = rows[name]
            assert value == pytest.approx(entry["value"]), name
            assert source == entry["source"], name
            assert source.strip()
    assert n >= 40


def test_readme_counts_match_the_register(reg):
    text = README.read_text(encoding="utf-8")
    counts = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*([a-z]+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*(\d+)\s*\|$", line)
        if m:
            counts[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    got = {a: (len(g), int(g["located"].sum()), int((reg.services["agency"] == a).sum()))
           for a, g in reg.sites.groupby("agency")}
    assert counts == got


def test_every_source_file_is_listed_with_a_licence():
    text = (SOURCES / "README.md").read_text(encoding="utf-8")
    for p in SOURCES.rglob("*"):
        if p.is_file() and p.name != "README.md":
            assert p.name in text, p
        assert p.stat().st_size < 2_100_000
    assert sum(p.stat().st_size for p in SOURCES.rglob("*") if p.is_file()) < 10_000_000
    assert "Contains National Statistics and OS data © Crown copyright and database right" in text


# --------------------------------------------------------------------------- reproducibility

def test_rebuilding_gives_identical_tables(builder, reg, tmp_path):
    out = tmp_path / "again.gpkg"
    assert builder.main(["--out", str(out), "--quiet", "--force"]) == 0
    again = Register.load(out)
    for layer in ("sites", "services", "zones", "problems", "imports"):
        a, b = getattr(reg, layer), getattr(again, layer)
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), obj=layer)
    assert reg.boundaries.geometry.to_wkb().tolist() == again.boundaries.geometry.to_wkb().tolist()


def test_skip_when_unchanged_and_rebuild_when_an_input_changes(builder, tmp_path, monkeypatch, capsys):
    out = tmp_path / "t.gpkg"
    assert builder.main(["--out", str(out), "--quiet"]) == 0  # no stamp yet: builds
    assert builder.stamp_path(out).read_text().strip() == builder.compute_stamp()
    before = out.stat().st_mtime_ns
    assert builder.main(["--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert out.stat().st_mtime_ns == before
    # a changed rate changes the stamp, so the next run rebuilds with it
    changed = tmp_path / "estimates.toml"
    changed.write_text(TOML.read_text(encoding="utf-8").replace(
        'office = { value = 558,', 'office = { value = 600,'), encoding="utf-8")
    monkeypatch.setattr(builder, "ESTIMATES", changed)
    assert builder.compute_stamp() != builder.stamp_path(out).read_text().strip()
    assert builder.main(["--out", str(out), "--quiet"]) == 0
    assert out.stat().st_mtime_ns != before
    hall = Register.load(out).sites.set_index("site_id").loc["TMBC0008/T0000001"]
    assert _num(hall["running_cost_gbp"]) == pytest.approx(12426 * 600, abs=1)


# --------------------------------------------------------------------------- planner.estimates

def test_fill_estimates_never_replaces_a_read_value():
    est = load_estimates(TOML)
    sites = pd.DataFrame({
        "site_id": ["a", "b", "c", "d"], "building_type": ["library", "library", "open_space", "library"],
        "holding_type": ["Buildings", "Buildings", "Land", "Buildings"],
        "tenure": ["freehold", "freehold", "freehold", "leasehold"],
        "tenure_detail": ["owner occupied", "owner occupied", "owner occupied", "leasehold in"],
        "gia_m2": [100.0, None, None, 200.0], "running_cost_gbp": [5.0, None, None, None],
        "market_value_gbp": [None, None, None, None], "estimated_fields": ["", "", "", ""]})
    out = fill_site_estimates(sites, est)
    lib = est.value("running_cost_gbp_per_m2", "library")
    assert out.loc[0, "running_cost_gbp"] == 5.0  # read: kept
    assert "running_cost_gbp" not in out.loc[0, "estimated_fields"]
    assert out.loc[0, "market_value_gbp"] == 100 * est.value("market_value_gbp_per_m2", "library")
    typical = est.value("typical_gia_m2", "library")
    assert out.loc[1, "gia_m2"] == typical and "gia_m2" in out.loc[1, "estimated_fields"]
    assert out.loc[1, "running_cost_gbp"] == round(typical * lib)
    assert pd.isna(out.loc[2, "gia_m2"]) and pd.isna(out.loc[2, "market_value_gbp"])  # land: no value
    assert out.loc[2, "capacity_m2"] == 0 and out.loc[2, "estimated_fields"] == "capacity_m2"
    assert out.loc[3, "market_value_gbp"] == 0  # leasehold
    assert "gia_m2" not in out.loc[3, "estimated_fields"]
    svc = pd.DataFrame({"service_id": ["x", "y"], "service_type": ["office", "fire_operational"],
                        "space_m2": [89.0, 300.0], "fte": [None, 2.0], "movable": [None, None]})
    o = fill_service_estimates(svc, est)
    assert o.loc[0, "fte"] == pytest.approx(89.0 / est.value("m2_per_fte", "office"), abs=0.05)
    assert o.loc[1, "fte"] == 2.0 and "fte" not in o.loc[1, "estimated_fields"]
    assert bool(o.loc[0, "movable"]) and not bool(o.loc[1, "movable"])


def test_load_estimates_reports_every_problem(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[running_cost_gbp_per_m2]\nunit = "GBP"\noffice = { value = -1, source = "x" }\n'
                 'library = { value = 3 }\nleisure = { value = 3, source = "a guess", assumption = true }\n',
                 encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        load_estimates(p)
    msg = str(err.value)
    assert "running_cost_gbp_per_m2.office" in msg and "not a number of 0 or more" in msg
    assert "running_cost_gbp_per_m2.library: no source" in msg
    assert "must say it is an assumption" in msg
    assert "[market_value_gbp_per_m2] is missing" in msg


def test_missing_source_files_are_one_clear_error(builder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(builder, "SOURCES", tmp_path / "nowhere")
    out = tmp_path / "t.gpkg"
    assert builder.main(["--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "trafford_land_and_building_assets.csv" in err and "Fix:" in err
    assert "Traceback" not in err and not out.exists()
