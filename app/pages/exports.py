"""Exports: the Excel workbook, CSVs and GeoPackage of a stored scenario."""

from __future__ import annotations

import streamlit as st

from app import downloads, state
from app.ui import gbp, no_register_hint
from planner.export import SHEETS

st.title("Exports")
try:
    state.load_register()
except Exception:
    no_register_hint()
    raise

sid = state.choose_scenario("Scenario to export", key="exp_pick")
if sid is None:
    st.info("No scenario is stored in this register yet. Run one on the **Scenario** page, then download it here.")
    st.page_link("app/pages/scenario.py", label="Go to Scenario", icon=":material/tune:")
    st.stop()

view = state.stored_scenario(sid)
rec = view.stored.record
stem = downloads.file_stem(sid, rec["name"])
make = downloads.makers(sid)
n_disp = int(view.schedule.totals["disposals"])
st.caption(f"Scenario {sid} **{rec['name']}**: {n_disp} disposal{'' if n_disp == 1 else 's'}, gross receipts "
           f"{gbp(view.schedule.totals['gross_receipts_gbp'])}, Green Book NPV "
           f"{gbp(view.schedule.npv_green_book_gbp)}.")

c1, c2, c3 = st.columns(3)
with c1:
    st.markdown("**Excel workbook**")
    st.caption("Sheets: " + ", ".join(SHEETS) + ". Money in pounds, financial years as 2026/27.")
    st.download_button("Download the workbook", data=make["xlsx"], file_name=f"{stem}.xlsx",
                       mime=downloads.XLSX_MIME, icon=":material/table_view:", key="dl_xlsx", type="primary",
                       on_click="ignore")
with c2:
    st.markdown("**CSV files**")
    st.caption("The workbook's tables, one CSV file each, in a zip.")
    st.download_button("Download the CSVs (zip)", data=make["csv"], file_name=f"{stem}_csv.zip",
                       mime="application/zip", icon=":material/folder_zip:", key="dl_csv", on_click="ignore")
with c3:
    st.markdown("**GeoPackage for QGIS**")
    st.caption("Layer `sites` (decisions, sale years) and layer `moves` (lines from old to new homes), EPSG:27700.")
    st.download_button("Download the GeoPackage", data=make["gpkg"], file_name=f"{stem}.gpkg",
                       mime=downloads.GPKG_MIME, icon=":material/map:", key="dl_gpkg", on_click="ignore")
st.caption("Text that a spreadsheet could run as a formula (starting with =, +, - or @) is written as plain text.")
