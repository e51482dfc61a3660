"""The register commands: planner import / validate / summary, their exit codes and messages,
through typer's CliRunner and through a real subprocess of the installed entry point."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

import planner.cli.register_cmds  # noqa: F401  (registers the commands)
from planner.cli import app
from planner.register import Register

from .conftest import REPO, SOURCES

runner = CliRunner()
SITES_HEAD = "site_id,name,agency,easting,northing,gia_m2,running_cost_gbp"


def write(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    return {
        "council": write(tmp_path / "council_sites.csv", SITES_HEAD,
                         "C1,Town Hall,council,376680,387959,1000,150000",
                         "C2,Depot,council,377000,388000,-5,20000",
                         "C3,Library,council,377500,388500,400,30000"),
        "nhs": write(tmp_path / "nhs_sites.csv", SITES_HEAD,
                     "N1,Clinic,nhs,376690,387950,300,60000"),
        "zones": write(tmp_path / "zones.csv", "zone_id,population,easting,northing",
                       "Z1,1500,376000,387000", "Z2,2500,377000,388000"),
        "junk": write(tmp_path / "junk.csv", "colour,shape", "red,round"),
    }


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# --------------------------------------------------------------------------- import

def test_import_prints_the_files_and_problems_and_exits_0_with_row_errors(tmp_path, inputs):
    out = tmp_path / "r.gpkg"
    r = invoke("import", inputs["council"], "--agency", "council", "--out", out)
    assert r.exit_code == 0, r.output
    assert "council_sites.csv" in r.stdout and "canonical" in r.stdout
    assert "1 errors" in r.stdout and "bad_area" not in r.stdout  # the table shows words, not codes
    assert "must be more than 0" in r.stdout
    assert "3 sites (1 excluded from analysis" in r.stdout
    assert len(Register.load(out).sites) == 3


def test_import_writes_the_problems_csv_and_never_overwrites_it(tmp_path, inputs):
    out, probs = tmp_path / "r.gpkg", tmp_path / "problems.csv"
    r = invoke("import", inputs["council"], "--agency", "council", "--out", out, "--problems", probs)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(probs.open(encoding="utf-8")))
    assert [(x["row"], x["column"], x["code"]) for x in rows if x["severity"] == "error"] == [("3", "gia_m2", "bad_area")]
    before = probs.read_bytes()
    r = invoke("import", inputs["council"], "--agency", "council", "--out", out, "--problems", probs)
    assert r.exit_code == 2
    assert error_lines(r) == [f"error: {probs} already exists; it was not overwritten. Fix: give another "
                              "--problems file name, or add --force to replace it."]
    assert probs.read_bytes() == before
    r = invoke("import", inputs["council"], "--agency", "council", "--out", out, "--problems", probs, "--force")
    assert r.exit_code == 0


def test_import_of_an_unusable_file_is_one_error_line_and_exit_2(tmp_path, inputs):
    out = tmp_path / "r.gpkg"
    invoke("import", inputs["council"], "--agency", "council", "--out", out)
    before = out.read_bytes()
    r = invoke("import", inputs["nhs"], inputs["junk"], "--agency", "nhs", "--out", out)
    assert r.exit_code == 2
    lines = error_lines(r)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "junk.csv" in lines[0] and "Fix:" in lines[0]
    assert "Traceback" not in r.output
    assert out.read_bytes() == before


def test_import_of_a_missing_file_and_bad_options(tmp_path, inputs):
    r = invoke("import", tmp_path / "nope.csv", "--agency", "nhs", "--out", tmp_path / "r.gpkg")
    assert r.exit_code == 2 and "nope.csv" in r.stderr and "no such file" in r.stderr
    r = invoke("import", inputs["nhs"], "--agency", "nhs", "--out", tmp_path / "r.gpkg", "--kind", "magic")
    assert r.exit_code == 2 and error_lines(r)[0].startswith("error: unknown --kind 'magic'")
    r = invoke("import", inputs["nhs"], "--out", tmp_path / "r.gpkg")  # --agency is required
    assert r.exit_code == 2 and "--agency" in r.output
    assert not (tmp_path / "r.gpkg").exists()


def test_import_refuses_a_register_that_is_not_one(tmp_path, inputs):
    bad = write(tmp_path / "notes.gpkg", "hello")
    r = invoke("import", inputs["nhs"], "--agency", "nhs", "--out", bad)
    assert r.exit_code == 2 and "not a GeoPackage" in r.stderr
    assert bad.read_text() == "hello\n"


# --------------------------------------------------------------------------- validate

def test_validate_exit_codes(tmp_path, inputs):
    r = invoke("validate", inputs["nhs"])
    assert r.exit_code == 0, r.output
    assert "No errors." in r.stdout
    r = invoke("validate", inputs["council"])
    assert r.exit_code == 1
    assert "must be more than 0" in r.stdout
    r = invoke("validate", inputs["junk"])
    assert r.exit_code == 2 and error_lines(r)[0].startswith("error: ")
    assert not list(tmp_path.glob("*.gpkg"))  # validate writes nothing


def test_validate_services_against_a_register(tmp_path, inputs):
    out = tmp_path / "r.gpkg"
    invoke("import", inputs["council"], "--agency", "council", "--out", out)
    sv = write(tmp_path / "services.csv", "service_id,site_id,agency,service_type,space_m2",
               "V1,C1,council,office,100")
    assert invoke("validate", sv).exit_code == 1  # C1 is not in the file itself
    r = invoke("validate", sv, "--register", out, "--problems", tmp_path / "p.csv")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "p.csv").exists()


def test_validate_the_corpus_file_with_one_problem_per_row(tmp_path):
    src = Path(__file__).parent / "corpus" / "validation" / "sites_every_problem.csv"
    out = tmp_path / "p.csv"
    r = invoke("validate", src, "--problems", out)
    assert r.exit_code == 1
    got = {(int(x["row"]), x["code"], x["severity"]) for x in csv.DictReader(out.open(encoding="utf-8"))
           if x["table"] == "sites" and x["row"]}
    expected = {(3, "duplicate_id", "error"), (4, "bad_area", "error"), (5, "swapped_axes", "warning"),
                (6, "outside_gb", "error"), (7, "bad_condition", "error"), (8, "bad_energy_rating", "error"),
                (9, "negative_value", "error"), (10, "running_cost_high", "warning"), (11, "shared_uprn", "info"),
                (12, "shared_uprn", "info"), (13, "negative_value", "error"), (14, "capacity_above_gia", "warning")}
    kinds = {(c, sev) for _, c, sev in expected}
    assert {g for g in got if g[1:] in kinds} == expected  # each row has its problem, and no other of these
    rows = [int(x["row"]) for x in csv.DictReader(out.open(encoding="utf-8")) if x["row"]]
    assert rows == sorted(rows)  # listed in file order


# --------------------------------------------------------------------------- summary

def test_summary_counts_by_agency_and_per_1000_residents(tmp_path, inputs):
    out = tmp_path / "r.gpkg"
    assert invoke("import", inputs["council"], "--agency", "council", "--out", out).exit_code == 0
    assert invoke("import", inputs["nhs"], "--agency", "nhs", "--out", out).exit_code == 0
    assert invoke("import", inputs["zones"], "--agency", "council", "--out", out).exit_code == 0
    table = tmp_path / "summary.csv"
    r = invoke("summary", out, "--csv", table)
    assert r.exit_code == 0, r.output
    assert "council" in r.stdout and "nhs" in r.stdout and "Total" in r.stdout
    assert "Residents: 4,000" in r.stdout
    rows = {x["agency"]: x for x in csv.DictReader(table.open(encoding="utf-8"))}
    # by hand: C2 has an impossible floor area, so it is excluded; C1 + C3 remain
    assert int(rows["council"]["sites"]) == 2 and int(rows["council"]["excluded"]) == 1
    assert float(rows["council"]["gia_m2"]) == 1400.0
    assert float(rows["council"]["running_cost_gbp"]) == 180_000.0
    assert float(rows["nhs"]["running_cost_gbp"]) == 60_000.0
    assert float(rows["Total"]["sites_per_1000_residents"]) == pytest.approx(3 / 4000 * 1000)
    assert float(rows["council"]["gia_m2_per_1000_residents"]) == pytest.approx(1400 / 4000 * 1000)
    r = invoke("summary", out, "--csv", table)
    assert r.exit_code == 2 and "already exists" in r.stderr


def test_summary_uses_the_default_register(tmp_path, inputs, monkeypatch):
    out = tmp_path / "default.gpkg"
    invoke("import", inputs["nhs"], "--agency", "nhs", "--out", out)
    monkeypatch.setenv("PLANNER_REGISTER", str(out))
    r = invoke("summary")
    assert r.exit_code == 0 and "nhs" in r.stdout and "per-resident figures are empty" in r.stdout
    monkeypatch.setenv("PLANNER_REGISTER", str(tmp_path / "none.gpkg"))
    r = invoke("summary")
    assert r.exit_code == 2 and "no such register" in r.stderr and "planner import" in r.stderr


# --------------------------------------------------------------------------- help

@pytest.mark.parametrize("name", ["import", "validate", "summary"])
def test_every_option_has_help(name):
    cmd = typer.main.get_command(app).commands[name]
    assert cmd.help
    for p in cmd.params:
        assert getattr(p, "help", None), (name, p.name)
    r = invoke(name, "--help")
    assert r.exit_code == 0


def test_the_commands_list_gives_each_command_its_first_paragraph_unbroken():
    """``planner --help`` lists every command with the first paragraph of its docstring
    reflowed to the terminal's width (Typer kept the docstring's own line breaks there, so
    a 250-column list broke ``score``'s sentence after "lease events, a")."""
    from planner.cli import _register_commands

    _register_commands()
    cli = typer.main.get_command(app)
    for argv, cmds in (((), cli.commands), (("scenarios",), cli.commands["scenarios"].commands)):
        r = subprocess.run([*_entry_point(), *argv, "--help"], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, COLUMNS="400"))
        assert r.returncode == 0, r.stderr
        for name, cmd in cmds.items():
            if isinstance(cmd, typer.core.TyperGroup):
                continue
            first = " ".join(cmd.callback.__doc__.split("\n\n")[0].split())
            rows = [line for line in r.stdout.splitlines() if line.strip("│ ").startswith(name + " ")]
            assert rows and first in rows[0], (name, first, rows)


# --------------------------------------------------------------------------- real processes

def _entry_point() -> list[str]:
    exe = Path(sys.executable).with_name("planner")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "planner"]


def test_the_installed_command_imports_the_real_trafford_file(tmp_path):
    out = tmp_path / "trafford.gpkg"
    env = {k: v for k, v in os.environ.items() if k != "PLANNER_REGISTER"} | {"COLUMNS": "200"}
    src = SOURCES / "trafford_land_and_building_assets.csv"
    p = subprocess.run([*_entry_point(), "import", str(src), "--agency", "council", "--out", str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "trafford_land_and_building_assets.csv" in p.stdout and "transparency" in p.stdout
    p = subprocess.run([*_entry_point(), "summary", str(out)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "council" in p.stdout


def test_python_dash_m_planner_reports_a_file_error_without_a_traceback(tmp_path):
    junk = write(tmp_path / "junk.csv", "colour,shape", "red,round")
    p = subprocess.run([sys.executable, "-m", "planner", "import", str(junk), "--agency", "x",
                        "--out", str(tmp_path / "r.gpkg")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 2
    assert p.stderr.startswith("error: ") and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_import_places_eric_sites_from_a_locations_table(tmp_path):
    eric = SOURCES / "ERIC_2016-17_site_data.csv"
    loc = write(tmp_path / "eric_locations.csv", "site_code,easting,northing", "RW3TR,377433,393986")
    out = tmp_path / "reg.gpkg"
    r = invoke("import", eric, "--agency", "nhs", "--out", out, "--locations", loc)
    assert r.exit_code == 0, r.output
    sites = Register.load(out).sites.set_index("site_id")
    assert bool(sites.loc["RW3TR", "located"]) and sites.loc["RW3TR", "easting"] == 377433.0
    assert int(sites["located"].astype(bool).sum()) == 1  # every other ERIC site stays unlocated, reported
    # validate takes the same option and counts one fewer unlocated site than without it
    without = invoke("validate", eric, "--problems", tmp_path / "p1.csv")
    with_loc = invoke("validate", eric, "--locations", loc, "--problems", tmp_path / "p2.csv")

    def unlocated(path):
        return sum(row["code"] == "unlocated" for row in csv.DictReader(path.open()))

    assert without.exit_code == with_loc.exit_code
    assert unlocated(tmp_path / "p1.csv") == unlocated(tmp_path / "p2.csv") + 1
