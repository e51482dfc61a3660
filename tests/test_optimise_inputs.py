"""Input checking (CSV files, scenario TOML, register), the command line, the output folder,
and the words said when there is no plan."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.errors import InputFileError, ScenarioError, ValidationError
from planner.geo import wgs84_to_bng
from planner.optimise import optimise, read_inputs
from planner.scenario import KEYS, load_scenario, scenario_from_dict
from tests.test_optimise_helpers import BASE, run, site, svc

PLANNER = Path(sys.executable).with_name("planner")

SITES = """site_id,agency,easting,northing,capacity_m2,running_cost_gbp,market_value_gbp
A,council,380000,390000,100,10000,200000
B,nhs,381000,390000,200,20000,0
C,police,385000,390000,150,5000,100000
"""
SERVICES = """service_id,site_id,agency,service_type,space_m2,fte
a1,A,council,office,50,10
b1,B,nhs,gp,100,5
c1,C,police,office,60,20
"""
SCENARIO = """horizon_years = 10
discount_rate = 0.035
optimism_bias = 0.0
fit_out_gbp_per_m2 = 100
move_gbp_per_fte = 500
max_move_m = 3000
disposal_cost_rate = 0.02
"""


def write(tmp_path: Path, sites=SITES, services=SERVICES, scenario=SCENARIO, **extra) -> dict[str, Path]:
    files = {"sites": tmp_path / "sites.csv", "services": tmp_path / "services.csv",
             "scenario": tmp_path / "scenario.toml"}
    files["sites"].write_text(sites)
    files["services"].write_text(services)
    files["scenario"].write_text(scenario)
    for k, v in extra.items():
        files[k] = tmp_path / f"{k}.csv"
        files[k].write_text(v)
    return files


def problems_of(exc: ValidationError) -> list[str]:
    return [str(p) for p in exc.report.errors]


# -- the three-site example, worked by hand -------------------------------------------------
def test_three_site_example_from_csv(tmp_path):
    f = write(tmp_path)
    plan = optimise(f["sites"], f["services"], f["scenario"], out_dir=tmp_path / "out")
    # a(0) = sum 1.035^-t, t = 1..10; A: 200,000 - 2% + 10,000 a(0); a1 -> B: 100 x 50 + 500 x 10
    a0 = sum(1.035 ** -t for t in range(1, 11))
    assert plan.status == "optimal"
    assert plan.npv_gbp == pytest.approx(196_000 + 10_000 * a0 - 10_000, abs=1e-4)
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    for key in ("status", "npv_gbp", "bound_gbp", "gap", "solve_seconds", "solver"):
        assert key in summary
    assert summary["status"] == "optimal" and summary["solver"] == "highs"
    sd = pd.read_csv(out / "site_decisions.csv")
    assert dict(zip(sd.site_id, sd.decision, strict=True)) == {"A": "dispose", "B": "keep", "C": "keep"}
    pl = pd.read_csv(out / "placements.csv", keep_default_na=False)
    assert list(pl.columns[:1]) == ["service_id"]
    row = pl.set_index("service_id").loc["a1"]
    assert (row.from_site_id, row.to_site_id, float(row.distance_m), float(row.one_off_gbp)) == ("A", "B", 1000.0, 10000.0)
    c1 = pl.set_index("service_id").loc["c1"]
    assert c1.from_site_id == c1.to_site_id == "C" and float(c1.distance_m) == 0 and float(c1.one_off_gbp) == 0
    tot = pd.read_csv(out / "totals.csv", keep_default_na=False).set_index("scope")
    assert tot.loc["all", "gross_capital_receipts_gbp"] == 200_000
    assert tot.loc["council", "running_cost_saving_gbp_per_year"] == 10_000
    assert tot.loc["all", "one_off_spend_gbp"] == 10_000
    assert tot.loc["all", "floor_area_released_m2"] == 100
    assert tot.loc["nhs", "sites_disposed"] == 0
    assert "1,000 m" in (out / "explanations.md").read_text()


def test_output_folder_is_never_overwritten(tmp_path):
    f = write(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "placements.csv").write_text("mine")
    with pytest.raises(InputFileError, match=r"placements\.csv"):
        optimise(f["sites"], f["services"], f["scenario"], out_dir=out)
    assert (out / "placements.csv").read_text() == "mine"
    assert not (out / "summary.json").exists()
    (out / "placements.csv").unlink()
    (out / "notes.txt").write_text("other files are fine")
    optimise(f["sites"], f["services"], f["scenario"], out_dir=out)
    assert (out / "summary.json").exists() and (out / "notes.txt").read_text() == "other files are fine"


# -- bad input: refused before solving, naming file, row, column ------------------------------
def test_missing_column_is_named(tmp_path):
    f = write(tmp_path, sites=SITES.replace("agency,", "owner,"))
    with pytest.raises(ValidationError) as e:
        read_inputs(f["sites"], f["services"], f["scenario"])
    msg = "\n".join(problems_of(e.value))
    assert "sites.csv" in msg and "agency" in msg and "no agency column" in msg


def test_duplicate_id_and_unknown_site_and_bad_values(tmp_path):
    sites = SITES + "A,council,380500,390000,100,0,0\n"
    services = SERVICES + "x1,Z,council,office,10,1\nx2,A,council,office,0,1\nx3,A,council,office,abc,1\n"
    f = write(tmp_path, sites=sites, services=services)
    with pytest.raises(ValidationError) as e:
        read_inputs(f["sites"], f["services"], f["scenario"])
    msgs = problems_of(e.value)
    text = "\n".join(msgs)
    assert "sites.csv, row 5, column site_id" in text and "more than once" in text
    # services: an unknown site is found after the per-table checks, so the file's own
    # problems come first; every problem is listed at once
    assert "services.csv, row 6, column space_m2" in text and "greater than 0" in text
    assert "services.csv, row 7, column space_m2" in text and "not a number" in text


def test_unknown_site_of_a_service(tmp_path):
    f = write(tmp_path, services=SERVICES + "x1,Z,council,office,10,1\n")
    with pytest.raises(ValidationError) as e:
        read_inputs(f["sites"], f["services"], f["scenario"])
    text = "\n".join(problems_of(e.value))
    assert "services.csv, row 5, column site_id" in text and "'Z'" in text


@pytest.mark.parametrize("value,expect", [
    ("2027", "calendar year"), ("1.5", "whole number"), ("-1", "at least 0")])
def test_available_year_values(tmp_path, value, expect):
    sites = SITES.replace("market_value_gbp\n", "market_value_gbp,available_year\n").replace(
        "200000\n", f"200000,{value}\n", 1).replace("0\nC", "0,\nC").replace("100000\n", "100000,\n")
    f = write(tmp_path, sites=sites)
    with pytest.raises(ValidationError) as e:
        read_inputs(f["sites"], f["services"], f["scenario"])
    assert expect in "\n".join(problems_of(e.value))


def test_pair_cost_rows_are_checked(tmp_path):
    pairs = "service_id,site_id,one_off_gbp,allowed\na1,B,100,true\na1,B,5,true\nzz,B,1,true\na1,Q,1,maybe\n"
    f = write(tmp_path, pair_costs=pairs)
    with pytest.raises(ValidationError) as e:
        read_inputs(f["sites"], f["services"], f["scenario"], pair_costs=f["pair_costs"])
    text = "\n".join(problems_of(e.value))
    assert "pair_costs.csv, row 5, column allowed" in text  # 'maybe'
    assert "no service has this id" in text and "no site has this id" in text and "more than once" in text


def test_booleans_take_yes_no_and_one_zero():
    sites = [site("A", running_cost_gbp=100, locked="YES"), site("B", e=10, can_receive="1")]
    plan = run(sites, [svc("a", "A")])
    assert plan.npv_gbp == 0.0
    sites[0]["locked"] = "no"
    assert run(sites, [svc("a", "A")]).npv_gbp == 1000.0
    sites[0]["locked"] = "maybe"
    with pytest.raises(ValidationError, match="true/false"):
        run(sites, [svc("a", "A")])


def test_lon_lat_are_converted():
    # B given in lon/lat 2 km east of A (converted with pyproj): within a 2.5 km move
    e, n = wgs84_to_bng([-2.30], [53.45])
    sites = [site("A", e=float(e[0]), n=float(n[0]), running_cost_gbp=100),
             {"site_id": "B", "agency": "council", "lon": -2.30 + 2000 / (111_320 * math.cos(math.radians(53.45))),
              "lat": 53.45, "capacity_m2": 100, "locked": True}]
    plan = run(sites, [svc("a", "A")], max_move_m=2500)
    assert plan.npv_gbp == 1000.0
    d = plan.placements.iloc[0]["distance_m"]
    assert 1900 < d < 2100


# -- the scenario -------------------------------------------------------------------------------
def test_scenario_unknown_key_names_the_known_keys(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(SCENARIO + "discount = 0.035\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    msg = str(e.value)
    assert "unknown key 'discount'" in msg and "discount_rate" in msg and "horizon_years" in msg


@pytest.mark.parametrize("line,expect", [
    ("discount_rate = 3.5", "write 0.035 for 3.5%"),
    ("discount_rate = -0.01", "at least 0"),
    ("max_move_m = -5", "impossible"),
    ("max_move_m = \"5000\"", "expected a number"),
    ("horizon_years = 2.5", "whole number"),
    ("horizon_years = 0", "at least 1"),
    ("max_disposals = -1", "at least 0"),
    ("partner_no_worse_off = \"maybe\"", "true or false"),
    ("dispose_site_ids = \"A\"", "list of site ids"),
    ("optimism_bias = 24", "write 0.24 for 24%"),
    ("disposal_cost_rate = 2", "write 0.02 for 2%"),
    ("[access]\nlibrary = -100", "impossible"),
    ("[sharing]\ncouncil = \"nhs\"", "list of agency names"),
])
def test_scenario_bad_values(tmp_path, line, expect):
    base = "\n".join(x for x in SCENARIO.splitlines() if x.split(" = ")[0] not in line.split(" = ")[0])
    p = tmp_path / "s.toml"
    p.write_text(base + "\n" + line + "\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert expect in str(e.value)
    assert str(p) in str(e.value)


def test_scenario_defaults_and_values():
    sc = scenario_from_dict({"horizon_years": 3, "discount_rate": 0.1, "partner_no_worse_off": "yes",
                             "access": {"Library": 2000}, "sharing": {"Council": ["NHS"]}})
    assert sc.horizon_years == 3 and sc.partner_no_worse_off is True
    assert sc.a(0) == pytest.approx(1 / 1.1 + 1 / 1.1 ** 2 + 1 / 1.1 ** 3)
    assert sc.a(2) == pytest.approx(1 / 1.1 ** 3) and sc.a(3) == 0 and sc.a(7) == 0
    assert sc.access == {"library": 2000.0}
    assert sc.may_host("council", "nhs") and not sc.may_host("council", "police") and sc.may_host("police", "police")
    assert not sc.may_host("nhs", "council")  # nhs is not listed: hosts only its own
    assert "optimism_bias" in sc.defaults_used and "horizon_years" not in sc.defaults_used
    assert set(KEYS) >= {"horizon_years", "discount_rate", "optimism_bias", "fit_out_gbp_per_m2", "move_gbp_per_fte",
                         "max_move_m", "disposal_cost_rate", "capex_budget_gbp", "max_disposals", "dispose_site_ids",
                         "keep_site_ids", "recharge_gbp_per_m2_year", "partner_no_worse_off", "access", "sharing"}
    # forced both out and kept is not an input error: by the spec the model is infeasible (see test_model)
    both = scenario_from_dict({"dispose_site_ids": ["A"], "keep_site_ids": ["A"]})
    assert both.dispose_site_ids == ("A",) and both.keep_site_ids == ("A",)


def test_scenario_site_ids_must_exist(tmp_path):
    f = write(tmp_path, scenario=SCENARIO + 'dispose_site_ids = ["A", "Q"]\n')
    with pytest.raises(ValidationError, match="dispose_site_ids"):
        read_inputs(f["sites"], f["services"], f["scenario"])


# -- the command line -----------------------------------------------------------------------------
@pytest.mark.skipif(not PLANNER.exists(), reason="the planner command is not installed in this environment")
def test_command_line(tmp_path):
    f = write(tmp_path)
    out = tmp_path / "run1"
    args = [str(PLANNER), "optimise", "--sites", str(f["sites"]), "--services", str(f["services"]),
            "--scenario", str(f["scenario"]), "--out", str(out), "--solver", "cbc", "--time-limit-s", "30"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "optimal" and s["solver"] == "cbc"
    a0 = sum(1.035 ** -t for t in range(1, 11))
    assert s["npv_gbp"] == pytest.approx(196_000 + 10_000 * a0 - 10_000, abs=1e-3)
    # again into the same folder: refused, nothing overwritten
    before = (out / "summary.json").read_text()
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "already holds" in r.stderr and "Traceback" not in r.stderr
    assert (out / "summary.json").read_text() == before
    # bad input: a clear message, non-zero exit, no traceback, nothing written
    bad = write(tmp_path / "bad" if (tmp_path / "bad").mkdir() is None else tmp_path, sites=SITES.replace("B,nhs", "A,nhs"))
    r = subprocess.run([str(PLANNER), "optimise", "--sites", str(bad["sites"]), "--services", str(bad["services"]),
                        "--scenario", str(bad["scenario"]), "--out", str(tmp_path / "run2")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "sites.csv" in r.stderr and "more than once" in r.stderr
    assert not (tmp_path / "run2").exists()
    # a bad scenario key
    (tmp_path / "bad.toml").write_text(SCENARIO + "horizon = 5\n")
    r = subprocess.run([str(PLANNER), "optimise", "--sites", str(f["sites"]), "--services", str(f["services"]),
                        "--scenario", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "run3")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "horizon" in r.stderr and "horizon_years" in r.stderr and "Traceback" not in r.stderr
    # text in square brackets in a message (a TOML table) is printed as it is, not taken as markup
    (tmp_path / "bad2.toml").write_text(SCENARIO + "access = 5\n")
    r = subprocess.run([str(PLANNER), "optimise", "--sites", str(f["sites"]), "--services", str(f["services"]),
                        "--scenario", str(tmp_path / "bad2.toml"), "--out", str(tmp_path / "run4")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "[access]" in r.stderr, r.stderr
    # an infeasible plan lists each reason with its rule in brackets
    (tmp_path / "inf.toml").write_text(SCENARIO + 'dispose_site_ids = ["A"]\nkeep_site_ids = ["A"]\n')
    r = subprocess.run([str(PLANNER), "optimise", "--sites", str(f["sites"]), "--services", str(f["services"]),
                        "--scenario", str(tmp_path / "inf.toml"), "--out", str(tmp_path / "run5")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "infeasible" in r.stdout and "[forced_disposal]" in r.stdout, r.stdout + r.stderr
    assert json.loads((tmp_path / "run5" / "summary.json").read_text())["status"] == "infeasible"
    # HiGHS (the default) says nothing of its own: no banner before the planner's output
    r = subprocess.run([str(PLANNER), "optimise", "--sites", str(f["sites"]), "--services", str(f["services"]),
                        "--scenario", str(f["scenario"]), "--out", str(tmp_path / "run6")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("optimal"), r.stdout + r.stderr
    assert "Running HiGHS" not in r.stdout + r.stderr and "Copyright" not in r.stdout + r.stderr


QUIET_BANNER_FROM_TWO_THREADS = """
import sys, threading, time
import highspy
from planner.highs_direct import new_highs

real = highspy.Highs

def slow_highs():  # a slow first object: the window in which the output descriptor is elsewhere
    time.sleep(0.002)
    return real()

highspy.Highs = slow_highs

def work():
    for _ in range(40):
        new_highs(threads=1)

threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("still heard", flush=True)
"""


def test_hiding_the_banner_from_two_threads_at_once_keeps_standard_output():
    # parts are solved two at a time, each making HiGHS objects on its own thread: hiding
    # HiGHS's banner (the output descriptor pointed at /dev/null for a moment) must not leave
    # the process's standard output at /dev/null (before 2026-11-30 it could, 3 runs in 3 here)
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", QUIET_BANNER_FROM_TWO_THREADS], capture_output=True, text=True,
                           timeout=120, cwd=Path(__file__).resolve().parents[1])
        assert r.returncode == 0, r.stderr
        assert r.stdout == "still heard\n", r.stdout + r.stderr


def test_register_adapter(tmp_path):
    gpd = pytest.importorskip("geopandas")
    sites = pd.DataFrame([
        {"site_id": "A", "agency": "council", "easting": 380000.0, "northing": 390000.0, "capacity_m2": 100.0,
         "running_cost_gbp": 10000.0, "market_value_gbp": 200000.0, "in_analysis": True, "located": True,
         "name": "Town hall", "estimated_fields": "running_cost_gbp"},
        {"site_id": "B", "agency": "nhs", "easting": 381000.0, "northing": 390000.0, "capacity_m2": 200.0,
         "running_cost_gbp": 20000.0, "market_value_gbp": 0.0, "in_analysis": True, "located": True,
         "name": "Clinic", "estimated_fields": ""},
        {"site_id": "X", "agency": "police", "easting": np.nan, "northing": np.nan, "capacity_m2": 100.0,
         "running_cost_gbp": 1.0, "market_value_gbp": 1.0, "in_analysis": False, "located": False,
         "name": "Lost", "estimated_fields": ""},
    ])
    geom = gpd.points_from_xy(sites.easting, sites.northing)
    path = tmp_path / "reg.gpkg"
    gpd.GeoDataFrame(sites, geometry=geom, crs="EPSG:27700").to_file(path, layer="sites", driver="GPKG")
    services = pd.DataFrame([
        {"service_id": "a1", "site_id": "A", "agency": "council", "service_type": "office", "space_m2": 50.0, "fte": 10.0},
        {"service_id": "b1", "site_id": "B", "agency": "nhs", "service_type": "gp", "space_m2": 100.0, "fte": 5.0},
        {"service_id": "x1", "site_id": "X", "agency": "police", "service_type": "office", "space_m2": 10.0, "fte": 1.0},
    ])
    import pyogrio

    pyogrio.write_dataframe(services, path, layer="services", driver="GPKG")
    scen = tmp_path / "s.toml"
    scen.write_text(SCENARIO)
    plan = optimise(register=path, scenario=scen, out_dir=tmp_path / "out")
    a0 = sum(1.035 ** -t for t in range(1, 11))
    assert plan.status == "optimal"
    assert plan.npv_gbp == pytest.approx(196_000 + 10_000 * a0 - 10_000, abs=1e-4)
    assert set(plan.site_decisions.site_id) == {"A", "B"}
    notes = " ".join(p.problem for p in plan.problems)
    assert "left out" in notes and "x1" in notes and "estimated" in notes
    if PLANNER.exists():
        r = subprocess.run([str(PLANNER), "optimise", "--register", str(path), "--scenario", str(scen),
                            "--out", str(tmp_path / "out2")], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert json.loads((tmp_path / "out2" / "summary.json").read_text())["status"] == "optimal"


# -- no plan: said in words ---------------------------------------------------------------------
def findings(plan):
    return " | ".join(f"[{f.rule}] {f.subject}: {f.message}" for f in plan.findings)


def test_infeasible_forced_disposal_of_a_locked_site(tmp_path):
    plan = run([site("A", locked=True), site("B", e=10)], [svc("a", "A")], dispose_site_ids=["A"])
    assert plan.status == "infeasible" and plan.npv_gbp is None and plan.site_decisions is None
    assert "site A is in dispose_site_ids but cannot be disposed: it is locked" in findings(plan)
    plan.write(tmp_path / "o")
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == "infeasible" and s["npv_gbp"] is None and s["bound_gbp"] is None
    assert "locked" in s["infeasibility"][0]["message"]
    assert not (tmp_path / "o" / "site_decisions.csv").exists()
    assert (tmp_path / "o" / "infeasibility.csv").exists()


def test_infeasible_service_with_nowhere_to_go():
    sites = [site("A"), site("B", e=5000), site("C", e=100, accepts="gp"), site("D", e=200, can_receive=False),
             site("P", agency="police", e=300)]
    plan = run(sites, [svc("a", "A")], dispose_site_ids=["A"], max_move_m=1000, sharing={"police": []})
    text = findings(plan)
    assert plan.status == "infeasible"
    assert "service a is in site A, which is to be disposed" in text
    assert "do not accept office (C)" in text and "cannot receive services (D)" in text
    assert "may not host council under [sharing] (P)" in text
    plan = run([site("B", e=5000)], [svc("h", "", easting=0.0, northing=0.0)], max_move_m=1000)
    assert "needs a home" in findings(plan) and "no other site is within its move limit of 1,000 m" in findings(plan)


def test_infeasible_budget_and_capacity_and_partner():
    # h needs a home: fit-out 10 x 10 = 100 > budget 50
    plan = run([site("B")], [svc("h", "")], fit_out_gbp_per_m2=10, capex_budget_gbp=50)
    assert plan.status == "infeasible" and "budget" in findings(plan) and "£100" in findings(plan)
    # two homeless services of 60 m2 and one site of 100 m2
    plan = run([site("B", cap=100)], [svc("h1", "", space=60), svc("h2", "", space=60)])
    assert plan.status == "infeasible" and "[capacity]" in findings(plan)
    # nhs service needs a home, nhs owns nothing: it can only lose under the partner rule
    plan = run([site("B")], [svc("h", "", agency="nhs")], fit_out_gbp_per_m2=10, partner_no_worse_off=True)
    text = findings(plan)
    assert plan.status == "infeasible" and "partner" in text and "nhs" in text
    # max_disposals below the forced disposals
    plan = run([site("A"), site("B")], [], dispose_site_ids=["A", "B"], max_disposals=1)
    assert "max_disposals is 1" in findings(plan)


def test_infeasible_access_after_forced_disposal():
    sites = [site("L", can_receive=False), site("O", e=5000)]
    zones = [{"zone_id": "Z", "population": 10, "easting": 100, "northing": 0}]
    plan = run(sites, [svc("l", "L", service_type="library")], zones=zones, dispose_site_ids=["L"],
               access={"library": 1000})
    assert plan.status == "infeasible" and "zone Z" in findings(plan) and "library" in findings(plan)


def test_no_solution_within_time_limit_reports_no_values(tmp_path):
    # a single-source instance too big to solve in the smallest time limit, with no start plan
    rng = np.random.default_rng(3)
    m, n = 60, 500
    sites = [site(f"F{i}", cap=float(rng.integers(100, 140)), running_cost_gbp=float(rng.integers(10, 30)))
             for i in range(m)]
    services = [svc(f"C{j}", "", space=float(rng.integers(5, 15))) for j in range(n)]
    pairs = [{"service_id": f"C{j}", "site_id": f"F{i}", "one_off_gbp": float(rng.integers(1, 100))}
             for j in range(n) for i in range(m)]
    from planner.model import SolveOptions

    plan = optimise(sites=pd.DataFrame(sites), services=pd.DataFrame(services), pair_costs=pd.DataFrame(pairs),
                    scenario={**BASE, "horizon_years": 1}, options=SolveOptions(time_limit_s=0.05))
    assert plan.status in ("feasible", "no_solution")
    if plan.status == "no_solution":
        assert plan.npv_gbp is None and plan.site_decisions is None
    else:
        assert plan.gap > 0 and plan.bound_gbp > plan.npv_gbp


def test_infeasible_forced_disposal_with_no_room_left():
    # A is forced out; its service (60 m2) could go to B, but B (100 m2) already holds 50 m2
    # that cannot move: no plan, found before solving.
    sites = [site("A"), site("B", e=10, cap=100)]
    services = [svc("a", "A", space=60), svc("b", "B", space=50, movable=False)]
    plan = run(sites, services, dispose_site_ids=["A"])
    assert plan.status == "infeasible"
    assert "can never have room for its 60 m2" in findings(plan) and "B (50 m2)" in findings(plan)
    # B's 50 m2 could move to C, but C is full of a service with nowhere else to go: found by
    # solving (the elastic model) - the forced disposal is the rule that cannot be met
    sites = [site("A"), site("B", e=10, cap=100, can_receive=True), site("C", e=20, cap=60)]
    services = [svc("a", "A", space=60), svc("b", "B", space=50), svc("c", "C", space=20, movable=False)]
    plan = run(sites, services, dispose_site_ids=["A"], keep_site_ids=["B"])
    text = findings(plan)
    assert plan.status == "infeasible"
    assert "the forced disposals (dispose_site_ids)" in text
    assert "site A is in dispose_site_ids" in text
