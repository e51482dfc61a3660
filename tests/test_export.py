"""Exports: the workbook read back, formula injection neutralised, CSVs, the plan GeoPackage,
never overwriting, and the command line from optimiser output to export."""

from __future__ import annotations

import csv
import io
import shutil

import openpyxl
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from planner.export import (
    SHEETS,
    Block,
    OutputExistsError,
    csv_text,
    export_schedule,
    neutralise,
    write_xlsx,
)
from planner.finance import FinanceSettings, Plan, build_schedule
from tests.test_finance import three_sites

FY = FinanceSettings(first_financial_year=2026)
NASTY = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1"]


def schedule(names=None):
    sites, services, decisions, placements, sc = three_sites()
    if names:
        sites["name"] = names[:3]
        services["name"] = names[3:6]
    return build_schedule(Plan.from_frames(sites, services, decisions, placements, sc), FY)


def header_map(ws, row: int) -> dict[str, int]:
    return {c.value: c.column for c in ws[row] if c.value is not None}


def test_workbook_reads_back(tmp_path):
    sch = schedule()
    out = tmp_path / "plan.xlsx"
    export_schedule(sch, xlsx=out)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == list(SHEETS)
    ws = wb["Disposal schedule"]
    # row 1 is a note, row 2 the header, frozen beneath it
    cols = header_map(ws, 2)
    assert ws.freeze_panes == "A3"
    rows = {ws.cell(r, cols["Site id"]).value: r for r in range(3, ws.max_row + 1) if ws.cell(r, cols["Site id"]).value}
    assert set(rows) == {"B", "C"}
    b, c = rows["B"], rows["C"]
    assert ws.cell(b, cols["Gross receipt (£)"]).value == 500_000
    assert ws.cell(b, cols["Net receipt (£)"]).value == 490_000
    assert ws.cell(b, cols["Financial year"]).value == "2026/27"
    assert ws.cell(c, cols["Financial year"]).value == "2028/29"
    assert ws.cell(c, cols["Exit cost (£)"]).value == 30_000
    assert ws.cell(c, cols["Running cost saved (£/year)"]).value == 60_000
    assert "£" in ws.cell(b, cols["Gross receipt (£)"]).number_format
    # receipts by financial year and agency: FY headers, pounds
    ws = wb["Receipts by year and agency"]
    hdr = header_map(ws, 2)
    assert ["2026/27", "2027/28", "2028/29"] <= list(hdr)
    nhs = next(r for r in range(3, 10) if ws.cell(r, 1).value == "nhs")
    assert ws.cell(nhs, hdr["2026/27"]).value == 500_000
    assert ws.cell(nhs, hdr["2026/27"]).number_format.startswith("£")
    # cash flow: NPV pieces present, Green Book factor of year 1 = 1/1.035
    ws = wb["Cash flow"]
    hdr = header_map(ws, 2)
    lines = {ws.cell(r, 1).value: r for r in range(3, ws.max_row + 1)}
    assert ws.cell(lines["Net cash flow"], hdr["2026/27"]).value == 456_000
    assert ws.cell(lines["Green Book discount factor"], hdr["2027/28"]).value == pytest.approx(1 / 1.035)
    pv = ws.cell(lines["Present value (Green Book)"], hdr["Total"]).value
    assert pv == pytest.approx(sch.npv_green_book_gbp)
    # summary: both NPVs, labelled apart
    ws = wb["Summary"]
    values = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    assert values["Schedule NPV, Green Book rates"] == pytest.approx(sch.npv_green_book_gbp)
    assert values["Schedule NPV at the constant rate 10.00%"] == pytest.approx(sch.npv_constant_gbp)
    assert values["Payback year"] == "2026/27"
    # assumptions cite the Green Book; widths are set
    ws = wb["Assumptions"]
    text = " ".join(str(c.value) for row in ws.iter_rows() for c in row if c.value)
    assert "Green Book" in text and "Annex A6" in text and "35" in text
    assert ws.column_dimensions["A"].width > 10


def test_malicious_cells_are_neutralised(tmp_path):
    sch = schedule(NASTY)
    out = tmp_path / "plan.xlsx"
    export_schedule(sch, xlsx=out, csv_dir=tmp_path / "csv")
    wb = openpyxl.load_workbook(out)
    ws = wb["Site decisions"]
    cols = header_map(ws, 1)
    found = {}
    for r in range(2, ws.max_row + 1):
        cell = ws.cell(r, cols["Name"])
        found[ws.cell(r, cols["Site id"]).value] = cell
    for sid, text in zip(["A", "B", "C"], NASTY[:3], strict=True):
        cell = found[sid]
        assert cell.data_type == "s"  # a string, not a formula ('f')
        assert cell.value == text
        assert cell.quotePrefix  # Excel's leading apostrophe: stays text even when edited
    ws = wb["Moves"]
    cols = header_map(ws, 2)
    names = [ws.cell(r, cols["Service name"]) for r in range(3, ws.max_row + 1) if ws.cell(r, cols["Service id"]).value]
    assert {c.value for c in names} == {t.strip() for t in NASTY[3:5]}  # names are read trimmed
    assert all(c.data_type == "s" and c.quotePrefix for c in names)
    # no formula anywhere in the workbook
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f", (sheet.title, c.coordinate, c.value)
    with open(tmp_path / "csv" / "site_decisions.csv", newline="", encoding="utf-8") as fh:
        rows = {r["site_id"]: r for r in csv.DictReader(fh)}
    for sid, text in zip(["A", "B", "C"], NASTY[:3], strict=True):
        assert rows[sid]["name"] == "'" + text
    # numbers stay numbers (a negative amount is not text)
    assert "-30000" in (tmp_path / "csv" / "cash_flow.csv").read_text()
    assert neutralise("council") == "council" and neutralise("\r=1") == "'\r=1"
    # every dangerous start, written raw into a sheet, stays an inert string
    write_xlsx({"Raw": [Block("raw", pd.DataFrame({"text": NASTY}))]}, tmp_path / "raw.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "raw.xlsx")["Raw"]
    for i, text in enumerate(NASTY):
        cell = ws.cell(i + 2, 1)
        # (openpyxl shows a carriage return as the XML escape xlsxwriter writes for it)
        assert (cell.data_type, cell.value.replace("_x000D_", "\r"), cell.quotePrefix) == ("s", text, True)
    back = list(csv.reader(io.StringIO(csv_text(pd.DataFrame({"text": NASTY})), newline="")))
    assert [r[0] for r in back[1:]] == ["'" + t for t in NASTY]


def test_csv_values_match_the_schedule(tmp_path):
    sch = schedule()
    export_schedule(sch, csv_dir=tmp_path / "csv")
    with open(tmp_path / "csv" / "disposal_schedule.csv", newline="", encoding="utf-8") as fh:
        rows = {r["site_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["B"]["net_receipt_gbp"]) == 490_000
    assert rows["C"]["financial_year"] == "2028/29"
    with open(tmp_path / "csv" / "receipts_gross_by_year_agency.csv", newline="", encoding="utf-8") as fh:
        rdr = csv.reader(fh)
        head = next(rdr)
    assert head[:3] == ["agency", "2026/27", "2027/28"]
    assert csv_text(sch.disposals.head(0)).startswith("site_id,")


def test_plan_geopackage(tmp_path):
    sch = schedule()
    out = tmp_path / "plan.gpkg"
    export_schedule(sch, gpkg=out)
    layers = dict(pyogrio.list_layers(out))
    assert layers == {"sites": "Point", "moves": "LineString"}
    sites = pyogrio.read_dataframe(out, layer="sites")
    moves = pyogrio.read_dataframe(out, layer="moves")
    assert sites.crs.to_epsg() == 27700 and moves.crs.to_epsg() == 27700
    dec = dict(zip(sites["site_id"], sites["decision"], strict=True))
    assert dec == {"A": "keep", "B": "dispose", "C": "dispose"}
    u1 = moves[moves["service_id"] == "u1"].geometry.iloc[0]
    assert list(u1.coords) == [(381_000.0, 396_000.0), (380_000.0, 395_000.0)]  # from B to A
    assert len(moves) == 2


def test_never_overwrites_without_force(tmp_path):
    sch = schedule()
    x = tmp_path / "plan.xlsx"
    x.write_text("mine")
    with pytest.raises(OutputExistsError, match="--force"):
        export_schedule(sch, xlsx=x, csv_dir=tmp_path / "csv", gpkg=tmp_path / "p.gpkg")
    assert x.read_text() == "mine"
    assert not (tmp_path / "csv").exists() and not (tmp_path / "p.gpkg").exists()  # nothing written
    export_schedule(sch, csv_dir=tmp_path / "csv")
    before = (tmp_path / "csv" / "moves.csv").read_bytes()
    with pytest.raises(OutputExistsError):
        export_schedule(sch, csv_dir=tmp_path / "csv")
    assert (tmp_path / "csv" / "moves.csv").read_bytes() == before
    export_schedule(sch, xlsx=x, force=True)
    assert openpyxl.load_workbook(x).sheetnames[0] == "Summary"
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


SCENARIO_TOML = """horizon_years = 5
discount_rate = 0.10
optimism_bias = 0.2
fit_out_gbp_per_m2 = 100
move_gbp_per_fte = 1000
disposal_cost_rate = 0.02
recharge_gbp_per_m2_year = 10
max_move_m = 100000
"""


def test_command_line_from_optimiser_output_to_export(tmp_path):
    """optimise (H5's optimiser) -> planner schedule -> scenarios list/show/compare -> export."""
    optimise = pytest.importorskip("planner.optimise")
    from planner.cli import _register_commands, app
    from planner.register import Register

    _register_commands()
    sites, services, *_ = three_sites()
    sites["capacity_m2"] = [1000, 200, 100]
    reg = tmp_path / "place.gpkg"
    Register.from_frames(sites=sites.assign(located=True, in_analysis=True), services=services).save(reg)
    toml = tmp_path / "base.toml"
    toml.write_text(SCENARIO_TOML)
    run = tmp_path / "run1"
    plan = optimise.optimise(register=reg, scenario=toml, out_dir=run)
    assert plan.status == "optimal"
    runner = CliRunner()
    res = runner.invoke(app, ["schedule", str(run), "--register", str(reg), "--name", "base", "--first-year", "2026"])
    assert res.exit_code == 0, res.output
    assert "Green Book" in res.output and "2028/29" in res.output and "Saved as scenario 1" in res.output
    # the schedule at the optimiser's rate reproduces its NPV
    npv10 = 456_000 + 40_000 / 1.1 + 10_000 / 1.1**2 + 100_000 * (1 / 1.1**3 + 1 / 1.1**4 + 1 / 1.1**5)
    assert plan.npv_gbp == pytest.approx(npv10, abs=1e-5)
    run2 = tmp_path / "run2"
    optimise.optimise(register=reg, scenario=toml, out_dir=run2)
    res = runner.invoke(app, ["schedule", str(run2), "--register", str(reg), "--name", "again", "--first-year", "2026"])
    assert res.exit_code == 0, res.output
    assert "same answer" in res.output and "reproduced" in res.output
    res = runner.invoke(app, ["schedule", str(run2), "--register", str(reg), "--name", "capped", "--first-year",
                              "2026", "--cap-disposals", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["scenarios", "list", "--register", str(reg)])
    assert res.exit_code == 0 and "base" in res.output and "capped" in res.output
    res = runner.invoke(app, ["scenarios", "show", "base", "--register", str(reg)])
    assert res.exit_code == 0, res.output
    assert "matches the stored register hash" in res.output and "horizon_years = 5" in res.output
    res = runner.invoke(app, ["scenarios", "compare", "base", "capped", "--register", str(reg)])
    assert res.exit_code == 0, res.output
    assert "Schedule NPV, Green Book rates" in res.output
    xlsx, gpkg, out_csv = tmp_path / "o.xlsx", tmp_path / "o.gpkg", tmp_path / "csv"
    res = runner.invoke(app, ["export", "base", "--xlsx", str(xlsx), "--csv", str(out_csv), "--gpkg", str(gpkg),
                              "--register", str(reg)])
    assert res.exit_code == 0, res.output
    assert xlsx.exists() and gpkg.exists() and (out_csv / "partner_ledger.csv").exists()
    res = runner.invoke(app, ["export", "base", "--xlsx", str(xlsx), "--register", str(reg)])
    assert res.exit_code == 2 and "--force" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["export", "nope", "--xlsx", str(tmp_path / "n.xlsx"), "--register", str(reg)])
    assert res.exit_code == 2 and "no scenario 'nope'" in res.output
    res = runner.invoke(app, ["schedule", str(tmp_path / "missing"), "--register", str(reg)])
    assert res.exit_code == 2 and "no such folder" in res.output
    shutil.rmtree(run2)
