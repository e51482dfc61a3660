"""The Streamlit app under AppTest: every page, and the main interactions (change a setting, run
a scenario, see the KPIs change, switch pages, reach the downloads). Expected figures come from
the library called directly (independently of the pages)."""

from __future__ import annotations

import io
import re
import shutil

import openpyxl
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.test_app_support import REPO, make_frames, make_register

APP = str(REPO / "streamlit_app.py")
PAGES = ["map", "utilisation", "scenario", "results", "compare", "data", "exports"]
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def built_register(tmp_path_factory):
    return make_register(tmp_path_factory.mktemp("app_reg") / "place.gpkg")


@pytest.fixture
def register(built_register, tmp_path, monkeypatch):
    """A fresh copy of the small place for each test (scenarios are stored in it)."""
    path = tmp_path / "place.gpkg"
    shutil.copy(built_register, path)
    monkeypatch.setenv("PLANNER_REGISTER", str(path))
    monkeypatch.setenv("PLANNER_TILES", "none")
    return path


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.run()
    return at


def _go(at: AppTest, page: str) -> AppTest:
    return at.switch_page(f"app/pages/{page}.py").run()


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _metric(at: AppTest, label: str) -> str:
    hits = [m.value for m in at.metric if m.label == label]
    assert hits, f"no metric {label!r}: {[m.label for m in at.metric]}"
    return hits[0]


def _gbp(text: str) -> float:
    """'£1,234' -> 1234.0, '-£5' -> -5.0, '£19.3m' -> 19.3e6."""
    t = text.replace(",", "").strip()
    sign = -1.0 if t.startswith("-") else 1.0
    t = t.lstrip("-").lstrip("£")
    mult = 1.0
    for suffix, m in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if t.endswith(suffix):
            t, mult = t[: -len(suffix)], m
            break
    return sign * float(t) * mult


def _run_scenario(at: AppTest, name: str, **numbers) -> AppTest:
    _go(at, "scenario")
    at.text_input(key="sc_name").input(name)
    for key, value in numbers.items():
        if key.endswith("_on"):
            at.checkbox(key=f"sc_{key}").set_value(value)
        else:
            at.number_input(key=f"sc_{key}").set_value(value)
    at.button(key="FormSubmitter:scenario_form-Run").click().run()
    return at


# --------------------------------------------------------------------------- every page

def test_every_page_renders_without_error_on_an_empty_store(register):
    at = _app()
    _clean(at)
    assert at.title[0].value == "Map of the public estate"
    for page in PAGES[1:]:
        _go(at, page)
        _clean(at)
    # with no stored scenario, Results, Compare and Exports say what to do instead
    for page in ("results", "compare", "exports"):
        _go(at, page)
        assert any("Scenario" in i.value for i in at.info), page


def test_map_filters_change_what_is_shown(register):
    f = make_frames()
    sites = f["sites"]
    at = _app()
    caption = next(c.value for c in at.caption if c.value.startswith("Showing"))
    assert caption.startswith(f"Showing {len(sites):,} of {len(sites):,} located sites")
    at.multiselect(key="map_filter_agency").set_value(["fire"]).run()
    _clean(at)
    caption = next(c.value for c in at.caption if c.value.startswith("Showing"))
    n_fire = int((sites["agency"] == "fire").sum())
    assert caption.startswith(f"Showing {n_fire:,} of {len(sites):,} located sites")
    # illustrative records only: the sample's police sites (every fourth site from the third)
    at.multiselect(key="map_filter_agency").set_value(sorted(set(sites["agency"]))).run()
    at.multiselect(key="map_filter_data").set_value(["illustrative"]).run()
    caption = next(c.value for c in at.caption if c.value.startswith("Showing"))
    assert caption.startswith(f"Showing {int(sites['illustrative'].sum()):,} of")


def test_map_find_a_site_shows_its_record_with_estimated_values(register):
    f = make_frames()
    s0 = f["sites"].iloc[0]  # estimated_fields set on every third site, from the first
    at = _app()
    tip = f"{s0['name']} ({s0['agency']}, {s0['site_id']})"
    at.selectbox(key="map_find").set_value(tip).run()
    _clean(at)
    assert any(h.value == s0["name"] for h in at.subheader)
    est = [i.value for i in at.info if i.value.startswith("Estimated values")]
    assert est and "running_cost_gbp" in est[0] and "market_value_gbp" in est[0]
    assert any(m.value.startswith("**Recommendation:") for m in at.markdown)


def test_utilisation_shows_count_and_scores(register):
    from planner.count import total_place_count
    from planner.register import Register

    reg = Register.load(register)
    expected = total_place_count(reg.sites, reg.services, reg.zones, by="agency")
    at = _app()
    _go(at, "utilisation")
    _clean(at)
    total = expected[expected["agency"] == "Total"].iloc[0]
    assert _metric(at, "Sites") == f"{int(total['sites']):,}"
    assert _metric(at, "Floor area") == f"{float(total['gia_m2']):,.0f} m²"
    at.selectbox(key="util_level").set_value("ward").run()
    _clean(at)
    ward_tables = [d.value for d in at.dataframe if "ward" in d.value.columns]
    assert ward_tables and set(ward_tables[0]["ward"]) >= {"W00", "W01", "W10", "W11", "Total"}


# --------------------------------------------------------------------------- run, change, compare

def test_run_a_scenario_then_change_a_setting_and_see_the_kpis_change(register):
    from planner.optimise import optimise
    from planner.scenario import Scenario

    at = _app()
    _run_scenario(at, "base", max_move_m=4000.0)
    _clean(at)
    assert any("Saved as scenario 1 (base)" in s.value for s in at.success)
    expected = optimise(register=str(register), scenario=Scenario(max_move_m=4000.0))
    assert expected.status == "optimal"
    o = expected.totals.iloc[0]
    assert _gbp(_metric(at, "Net present value")) == pytest.approx(expected.npv_gbp, abs=1.0)
    assert _metric(at, "Sites disposed") == f"{int(o['sites_disposed']):,}"
    assert int(o["sites_disposed"]) >= 2  # the test below needs something to limit

    # change a setting: at most one disposal
    _run_scenario(at, "one sale", max_disposals_on=True, max_disposals=1)
    _clean(at)
    assert any("Saved as scenario 2 (one sale)" in s.value for s in at.success)
    assert _metric(at, "Sites disposed") == "1"
    limited = optimise(register=str(register), scenario=Scenario(max_move_m=4000.0, max_disposals=1))
    assert _gbp(_metric(at, "Net present value")) == pytest.approx(limited.npv_gbp, abs=1.0)
    assert limited.npv_gbp < expected.npv_gbp

    # Results shows the chosen scenario's KPIs (the last run), from the stored plan
    from planner import scenarios

    _go(at, "results")
    _clean(at)
    sch = scenarios.load(register, 2).schedule()
    assert _metric(at, "Disposals") == "1"
    assert _gbp(_metric(at, "Capital receipts")) == pytest.approx(sch.totals["gross_receipts_gbp"], rel=0.01)
    at.selectbox(key="scenario_pick").set_value(1).run()
    _clean(at)
    assert _metric(at, "Disposals") == f"{int(o['sites_disposed']):,}"
    # explanations of a scenario run in this session are at hand
    reasons = [d.value for d in at.dataframe if "reason" in d.value.columns]
    assert reasons and reasons[0]["reason"].str.startswith("disposed: benefit").all()

    # Compare: both scenarios side by side, with the library's own comparison
    _go(at, "compare")
    _clean(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["measure", "1: base", "2: one sale"]
    row = table[table["measure"] == "Sites disposed"].iloc[0]
    assert row["1: base"] == f"{int(o['sites_disposed']):,}" and row["2: one sale"] == "1"

    # Exports: the three downloads are there, and the workbook opens with every sheet
    _go(at, "exports")
    _clean(at)
    keys = {b.key for b in at.get("download_button")}
    assert keys == {"dl_xlsx", "dl_csv", "dl_gpkg"}


def test_downloads_make_a_workbook_csvs_and_a_geopackage(register):
    import zipfile

    import pyogrio

    from app import downloads
    from planner.export import SHEETS

    at = _app()
    _run_scenario(at, "base", max_move_m=4000.0)
    _clean(at)
    stamp = (str(register), register.stat().st_mtime_ns)
    wb = openpyxl.load_workbook(io.BytesIO(downloads._xlsx(*stamp, 1)), read_only=True)
    assert list(wb.sheetnames) == list(SHEETS)
    with zipfile.ZipFile(io.BytesIO(downloads._csv_zip(*stamp, 1))) as zf:
        names = zf.namelist()
    assert names and all(n.endswith(".csv") for n in names)
    gpkg = register.parent / "plan.gpkg"
    gpkg.write_bytes(downloads._gpkg(*stamp, 1))
    layers = {str(n) for n, _ in pyogrio.list_layers(gpkg)}
    assert layers == {"sites", "moves"}


def test_same_settings_submitted_twice_solve_once(register, monkeypatch):
    from app import state

    calls = []
    real = state._run_optimiser

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(state, "_run_optimiser", counting)
    at = _app()
    _run_scenario(at, "first", max_move_m=3500.0)
    _run_scenario(at, "again", max_move_m=3500.0)
    _clean(at)
    assert any("Saved as scenario 2 (again)" in s.value for s in at.success)
    assert len(calls) == 1
    # and moving on to other pages never solves
    for page in ("results", "map", "compare"):
        _go(at, page)
    assert len(calls) == 1


# --------------------------------------------------------------------------- errors are messages

def test_missing_register_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_REGISTER", str(tmp_path / "nowhere.gpkg"))
    at = _app()
    assert not at.exception
    assert any("There is no register at" in e.value for e in at.error)
    for page in PAGES[1:]:
        _go(at, page)
        assert not at.exception, page


def test_a_file_that_is_not_a_register_is_a_message(tmp_path, monkeypatch):
    bad = tmp_path / "bad.gpkg"
    bad.write_text("site_id,agency\nA,council\n")
    monkeypatch.setenv("PLANNER_REGISTER", str(bad))
    at = _app()
    assert not at.exception
    assert any("not a GeoPackage" in e.value for e in at.error)


def test_scenario_form_problems_are_messages(register):
    at = _app()
    _go(at, "scenario")
    at.button(key="FormSubmitter:scenario_form-Run").click().run()  # no name
    assert not at.exception
    assert any("needs a name" in e.value for e in at.error)
    f = make_frames()
    sid = f["sites"]["site_id"].iloc[0]
    at.text_input(key="sc_name").input("clash")
    at.multiselect(key="sc_keep_site_ids").set_value([sid])
    at.multiselect(key="sc_dispose_site_ids").set_value([sid])
    at.button(key="FormSubmitter:scenario_form-Run").click().run()
    assert not at.exception
    # not an input error: by the spec the model is infeasible, and the page lists why
    assert any(e.value.startswith("No plan meets every rule") for e in at.error)
    why = " ".join(" ".join(map(str, df.value["message"])) for df in at.dataframe if "message" in df.value)
    assert f"site {sid} is in dispose_site_ids but cannot be disposed: it is in keep_site_ids" in why, why


def test_an_infeasible_scenario_says_why_and_stores_nothing(register):
    from planner import scenarios

    f = make_frames()
    at = _app()
    _go(at, "scenario")
    at.text_input(key="sc_name").input("sell everything")
    at.multiselect(key="sc_dispose_site_ids").set_value(list(f["sites"]["site_id"]))
    at.button(key="FormSubmitter:scenario_form-Run").click().run()
    assert not at.exception
    assert any(e.value.startswith("No plan meets every rule") for e in at.error)
    assert scenarios.list_scenarios(register).empty


# --------------------------------------------------------------------------- map building blocks

def test_map_loads_only_local_leaflet_and_the_configured_tiles(monkeypatch):
    import streamlit_folium

    from app import maps

    captured = {}

    def fake_component(**kwargs):
        captured.update(kwargs)

    monkeypatch.setattr(streamlit_folium, "_component_func", fake_component)
    url_re = re.compile(r"https?://[^\s\"'<>)\\]+")
    rows = [[53.4, -2.3, 6, 0, "Site A (council, A1)", "<b>A</b>"], [53.45, -2.35, 4, 0, "B", ""]]
    for tiles, allowed in (("none", set()), ("osm", {maps.OSM_URL}),
                           ("https://tiles.example.org/{z}/{x}/{y}.png", {"https://tiles.example.org/{z}/{x}/{y}.png"})):
        monkeypatch.setenv("PLANNER_TILES", tiles)
        m = maps.base_map(53.4, -2.3)
        maps.AreaLayer({"type": "FeatureCollection", "features": []}, [{}], "Wards").add_to(m)
        maps.PointLayer(rows, [{"color": "#fff"}], "Sites", fit=True).add_to(m)
        maps.LineLayer([[53.4, -2.3, 53.45, -2.35, 0, "move"]], [{"color": "#000"}], "Moves").add_to(m)
        maps.Legend("<b>legend</b>").add_to(m)
        import folium

        folium.LayerControl().add_to(m)
        streamlit_folium.st_folium(m, key="t", returned_objects=[])
        assert captured["js_links"] == [maps.LEAFLET_JS]
        assert captured["css_links"] == [maps.LEAFLET_CSS]
        text = " ".join(str(captured[k]) for k in ("script", "header", "html"))
        assert set(url_re.findall(text)) == allowed, tiles
        assert "L.circleMarker" in text and "L.polyline" in text


def test_vendored_leaflet_is_served_from_static():
    assert (REPO / "static" / "leaflet" / "leaflet.js").stat().st_size > 100_000
    assert (REPO / "static" / "leaflet" / "leaflet.css").is_file()
    cfg = (REPO / ".streamlit" / "config.toml").read_text()
    assert re.search(r"^enableStaticServing\s*=\s*true", cfg, re.M)


def test_marker_radius_classes_by_floor_area():
    from app.maps import SIZE_CLASSES, UNKNOWN_SIZE_RADIUS, marker_radius

    got = marker_radius([None, 10.0, 249.9, 250.0, 999.0, 1_000.0, 3_999.0, 4_000.0, 14_999.0, 15_000.0, 1e6])
    small, r1, r2, r3, big = (r for _, r in SIZE_CLASSES)
    assert list(got) == [UNKNOWN_SIZE_RADIUS, small, small, r1, r1, r2, r2, r3, r3, big, big]


def test_view_bounds_ignore_a_stray_point():
    from app.maps import view_bounds

    rows = [[53.40 + 0.001 * i, -2.30 - 0.001 * i] for i in range(100)] + [[55.0, -4.0]]
    (s, w), (n, e) = view_bounds(rows)
    assert n < 54 and w > -3  # the stray point far to the north-west does not stretch the view
    assert s <= 53.402 and e >= -2.302


def test_agency_palette_is_stable_and_distinct():
    from app.maps import AGENCY_COLOURS, agency_palette

    a = agency_palette(["police", "zeta", "council", "alpha", "nhs", None, "fire"])
    b = agency_palette(["fire", "alpha", "zeta", "nhs", "council", "police"])
    assert a == b
    assert a["council"] == AGENCY_COLOURS["council"]
    assert len(set(a.values())) == len(a)


def test_map_legend_names_each_recommendation_with_its_style():
    import html
    import re

    from app.maps import RECOMMENDATION_HELP, RECOMMENDATION_STYLES, legend_html

    text = html.unescape(re.sub(r"<[^>]+>", " ", legend_html({"council": "#1f77b4"}, RECOMMENDATION_HELP,
                                                           RECOMMENDATION_STYLES, "Sites")))
    for rec in RECOMMENDATION_STYLES:  # every style drawn on the map is explained by what it means
        assert rec in text, rec
    for style in ("dashed", "dotted", "gold"):
        assert style in text


def test_site_rows_escape_text_and_skip_unlocated_sites():
    from app import maps

    sites = pd.DataFrame({"site_id": ["A", "B"], "name": ["<script>x</script>", "Town Hall"],
                          "agency": ["council", "nhs"], "building_type": ["<img src=x onerror=alert(1)>", "office"], "easting": [378_000.0, None], "northing": [392_000.0, None],
                          "located": [True, False], "gia_m2": [500.0, 800.0], "illustrative": [False, False],
                          "estimated_fields": ["", ""]})
    pts = maps.map_sites(sites, None)
    rows, _styles, lookups = maps.site_rows(pts, maps.agency_palette(pts["agency"]), pts["recommendation"],
                                  maps.RECOMMENDATION_STYLES)
    assert len(rows) == 1
    assert "<script>" not in rows[0][4] and "&lt;script&gt;" in rows[0][4]
    assert "<img" not in str(lookups) and "&lt;img" in str(lookups)
    lat, lon = rows[0][0], rows[0][1]
    assert 53.0 < lat < 54.0 and -3.0 < lon < -2.0


def test_start_the_form_from_a_stored_scenario(register):
    at = _app()
    _run_scenario(at, "tight", max_move_m=3500.0, max_disposals_on=True, max_disposals=2)
    _clean(at)
    _go(at, "scenario")
    at.selectbox(key="sc_start_from").set_value(1).run()
    _clean(at)
    assert at.number_input(key="sc_max_move_m").value == 3500.0
    assert at.checkbox(key="sc_max_disposals_on").value is True
    assert at.number_input(key="sc_max_disposals").value == 2
    assert at.text_input(key="sc_name").value == "tight (2)"
    at.selectbox(key="sc_start_from").set_value("defaults").run()
    assert at.number_input(key="sc_max_move_m").value == 5000.0
    assert at.checkbox(key="sc_max_disposals_on").value is False


def test_data_page_makes_no_upload_folder_until_a_file_is_uploaded(register, tmp_path, monkeypatch):
    # the page made a new empty folder in the system's temporary folder on every rerun (165 of
    # them in /tmp after a day of test runs); now one per session, on the first upload
    import tempfile

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    at = _app()
    for _ in range(3):
        _go(at, "data")
        _clean(at)
    assert [p.name for p in temp.iterdir() if p.name.startswith("planner-upload-")] == []


def test_data_page_switches_to_a_new_register(register, tmp_path):
    at = _app()
    _go(at, "data")
    _clean(at)
    new = tmp_path / "elsewhere" / "new_place.gpkg"
    at.text_input(key="data_register_path").input(str(new))
    at.button(key="data_use_register").click().run()
    assert not at.exception
    assert any(f"There is no register at {new} yet" in i.value for i in at.info)
    at.text_input(key="data_register_path").input(str(tmp_path / "not_a_register.txt"))
    at.button(key="data_use_register").click().run()
    assert any("ends in .gpkg" in e.value or "ending in .gpkg" in e.value for e in at.error)
    _go(at, "map")
    assert not at.exception
    assert any("There is no register at" in e.value for e in at.error)
