"""Download files of a stored scenario, made by ``planner.export`` in a temporary folder and
handed to the browser as bytes when a download button is clicked (cached per register version
and scenario)."""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from app import state

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GPKG_MIME = "application/geopackage+sqlite3"


def file_stem(scenario_id: int, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "scenario"
    return f"scenario_{int(scenario_id)}_{safe[:60]}"


def _blocks(path: str, mtime_ns: int, scenario_id: int):
    from planner import export

    view = state._stored(path, mtime_ns, scenario_id)
    return export.export_blocks(view.schedule, view.ledger, problems=export.read_problems(path),
                                record=view.stored.record)


@st.cache_data(show_spinner="Writing the workbook...", max_entries=16)
def _xlsx(path: str, mtime_ns: int, scenario_id: int) -> bytes:
    from planner.export import write_xlsx

    with tempfile.TemporaryDirectory(prefix="planner-xlsx-") as tmp:
        out = write_xlsx(_blocks(path, mtime_ns, scenario_id), Path(tmp) / "plan.xlsx")
        return out.read_bytes()


@st.cache_data(show_spinner="Writing the CSV files...", max_entries=16)
def _csv_zip(path: str, mtime_ns: int, scenario_id: int) -> bytes:
    from planner.export import write_csvs

    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="planner-csv-") as tmp:
        files = write_csvs(_blocks(path, mtime_ns, scenario_id), Path(tmp) / "csv")
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, arcname=f.name)
    return buf.getvalue()


@st.cache_data(show_spinner="Writing the GeoPackage...", max_entries=16)
def _gpkg(path: str, mtime_ns: int, scenario_id: int) -> bytes:
    from planner.export import write_plan_gpkg

    view = state._stored(path, mtime_ns, scenario_id)
    with tempfile.TemporaryDirectory(prefix="planner-gpkg-") as tmp:
        out = write_plan_gpkg(view.schedule, Path(tmp) / "plan.gpkg")
        return out.read_bytes()


def makers(scenario_id: int) -> dict:
    """Callables that make each download when its button is clicked (they run outside the page's
    script, so the register's path and version are taken now)."""
    path, mtime = state.register_stamp()
    sid = int(scenario_id)
    return {"xlsx": lambda: _xlsx(path, mtime, sid), "csv": lambda: _csv_zip(path, mtime, sid),
            "gpkg": lambda: _gpkg(path, mtime, sid)}
