"""Uploads in the app: size limit, refused formats, macros, file names, and a column mapping
chosen on screen read by the library's mapped reader."""

from __future__ import annotations

import zipfile

import pytest

from app import uploads


def test_limit_defaults_to_50_mb_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv("PLANNER_MAX_UPLOAD_MB", raising=False)
    assert uploads.upload_limit_mb() == 50.0
    monkeypatch.setenv("PLANNER_MAX_UPLOAD_MB", "5")
    assert uploads.upload_limit_mb() == 5.0
    monkeypatch.setenv("PLANNER_MAX_UPLOAD_MB", "nonsense")
    assert uploads.upload_limit_mb() == 50.0
    monkeypatch.setenv("PLANNER_MAX_UPLOAD_MB", "100000")
    assert uploads.upload_limit_mb() == uploads.SERVER_LIMIT_MB


def test_the_server_ceiling_matches_the_config():
    from tests.test_app_support import REPO

    cfg = (REPO / ".streamlit" / "config.toml").read_text()
    assert f"maxUploadSize = {uploads.SERVER_LIMIT_MB:.0f}" in cfg


def test_an_upload_over_the_limit_is_refused_with_a_message():
    mb = 1024 * 1024
    assert uploads.check_upload("assets.csv", 50 * mb, 50.0) is None
    why = uploads.check_upload("assets.csv", 50 * mb + 1, 50.0)
    assert why is not None and "over the 50 MB limit" in why and "50.0 MB" in why


@pytest.mark.parametrize("name, words", [
    ("estate.xlsm", "macro"), ("old.xls", ".xlsx"), ("data.pkl", "pickle"), ("data.pickle", "pickle"),
    ("run.exe", "not read"), ("noext", "not read"),
])
def test_formats_that_are_not_plain_data_are_refused(name, words):
    why = uploads.check_upload(name, 100, 50.0)
    assert why is not None and words in why


@pytest.mark.parametrize("name", ["a.csv", "b.XLSX", "c.geojson", "d.gpkg", "e.tsv", "f.json"])
def test_data_formats_are_accepted(name):
    assert uploads.check_upload(name, 100, 50.0) is None


def test_a_workbook_with_macros_is_refused_even_when_named_xlsx(tmp_path):
    good = tmp_path / "good.xlsx"
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["site_id", "agency"])
    wb.save(good)
    assert uploads.check_saved(good) is None
    bad = tmp_path / "renamed.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        dst.writestr("xl/vbaProject.bin", b"\x00" * 32)
    why = uploads.check_saved(bad)
    assert why is not None and "macros" in why
    fake = tmp_path / "fake.xlsx"
    fake.write_text("not a zip")
    assert "not an Excel" in uploads.check_saved(fake)
    notgpkg = tmp_path / "x.gpkg"
    notgpkg.write_text("site_id\n")
    assert "not a GeoPackage" in uploads.check_saved(notgpkg)


def test_safe_names_keep_the_file_name_and_drop_folders(tmp_path):
    assert uploads.safe_name("../../etc/passwd") == "passwd"
    assert uploads.safe_name(r"C:\Users\me\Trafford assets (2025).csv") == "Trafford assets (2025).csv"
    assert uploads.safe_name("a;b|c.csv") == "a_b_c.csv"
    p = uploads.save_upload(b"x,y\n1,2\n", "../evil/name.csv", tmp_path / "up")
    assert p == tmp_path / "up" / "name.csv" and p.read_bytes() == b"x,y\n1,2\n"


def test_a_mapping_chosen_on_screen_is_read_by_the_mapped_reader(tmp_path):
    from planner.readers import read_file

    sheet = tmp_path / "police estate.csv"
    sheet.write_text("Property Ref,Building,GIA (sq ft),Running Cost (£k pa),X,Y,Notes\n"
                     "PX-001,Example HQ,\"43,056\",412,379100,394800,ILLUSTRATIVE\n"
                     "PX-002,Town Office,6500,96.5,377300,391900,\n", encoding="utf-8")
    from planner.readers.base import read_raw_table

    headers = read_raw_table(sheet).headers
    guess = uploads.suggest_columns(headers, "sites")
    assert guess["easting"] == "X" and guess["northing"] == "Y"
    assert guess["site_id"] == "Property Ref" and guess["name"] == "Building"
    assert guess["gia_m2"] == "GIA (sq ft)" and guess["running_cost_gbp"] == "Running Cost (£k pa)"
    assert "notes" not in {c.lower() for c in guess.values()}
    assert uploads.suggest_unit("sites", "gia_m2", "GIA (sq ft)") == "ft2"
    assert uploads.suggest_unit("sites", "running_cost_gbp", "Running Cost (£k pa)") == "kgbp"
    assert uploads.suggest_unit("sites", "gia_m2", "Floor area") == "m2"
    assert uploads.suggest_unit("sites", "name", "Building") is None
    chosen = dict(guess)
    assert "ft2" in uploads.unit_options("sites", "gia_m2")
    assert "kgbp" in uploads.unit_options("sites", "running_cost_gbp")
    text = uploads.mapping_toml("sites", chosen, {"gia_m2": "ft2", "running_cost_gbp": "kgbp"}, "EPSG:27700",
                                "police")
    mapping = tmp_path / "map.toml"
    mapping.write_text(text, encoding="utf-8")
    res = read_file(sheet, mapping=mapping, agency="police")
    s = res.sites.set_index("site_id")
    assert list(s.index) == ["PX-001", "PX-002"]
    assert float(s.loc["PX-001", "gia_m2"]) == pytest.approx(43_056 * 0.09290304, rel=1e-9)
    assert float(s.loc["PX-002", "running_cost_gbp"]) == pytest.approx(96_500.0)
    assert float(s.loc["PX-001", "easting"]) == 379_100.0
    assert set(s["agency"]) == {"police"}


def test_a_session_has_one_upload_folder_removed_with_its_state(tmp_path, monkeypatch):
    import gc
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    session: dict = {}
    folder = uploads.upload_folder(session)
    uploads.save_upload(b"site_id\nA\n", "assets.csv", folder)
    assert uploads.upload_folder(session) == folder  # the same folder on every rerun
    other = uploads.upload_folder({})  # another session: its own folder
    assert other != folder and folder.parent == tmp_path and folder.name.startswith("planner-upload-")
    assert (folder / "assets.csv").exists()
    session.clear()  # Streamlit drops a session's state when the session ends
    gc.collect()
    assert not folder.exists()  # the uploads went with it
