"""Data: the register (sites, imports, problems); upload register files in any format the
readers take, see the validation report with row and column, choose a column mapping, and add
them to the place."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import state, uploads
from app.ui import show_error
from planner.readers import KINDS
from planner.readers.base import read_raw_table

UPLOAD_DIR_KEY = "upload_dir"
CHECK_KEY = "data_check"
IMPORT_KEY = "data_import"
KIND_HELP = {"auto": "decided from the file's columns", "transparency": "Local Government Transparency Code "
             "land and building assets", "eric": "NHS ERIC site returns", "fire": "Home Office fire station list",
             "canonical": "the planner's own tables (site_id, service_id or zone_id columns)",
             "mapped": "any other spreadsheet, with a column mapping"}

st.title("Data")

# ------------------------------------------------------------------ the register in use
path = state.current_register_path()
with st.expander(f"Register file: {path}", expanded=not path.exists()):
    new_path = st.text_input("Register GeoPackage", value=str(path), key="data_register_path",
                             help="The .gpkg file that holds the place. A new file is created there when you "
                                  "add files to it.")
    if st.button("Use this register", key="data_use_register"):
        p = Path(new_path.strip()).expanduser()
        if p.suffix.lower() != ".gpkg":
            st.error(f"{p}: a register is a GeoPackage file ending in .gpkg. Fix: give a name like "
                     "my_place.gpkg.")
        elif p.is_dir():
            st.error(f"{p} is a folder. Fix: give a file name ending in .gpkg.")
        else:
            state.set_register_path(p)
            st.rerun()

reg = None
if path.exists():
    try:
        reg = state.load_register()
    except Exception as exc:
        show_error(exc)
else:
    st.info(f"There is no register at {path} yet: add files below to start one there.")

tab_add, tab_register, tab_problems = st.tabs(["Add files", "The register", "Problems"])

# ------------------------------------------------------------------ add files
with tab_add:
    limit = uploads.upload_limit_mb()
    files = st.file_uploader(
        f"Register files (CSV, XLSX, GeoJSON or GeoPackage; up to {limit:,.0f} MB each)",
        type=[s.lstrip(".") for s in uploads.DATA_SUFFIXES] + ["xlsm", "xls"], accept_multiple_files=True,
        key="data_files", max_upload_size=int(limit))
    st.caption("Files are read as data only: no formula is evaluated and nothing in them is run. Macro-enabled "
               "(.xlsm) and old binary (.xls) workbooks are refused: save them as .xlsx or CSV.")
    folder = uploads.upload_folder(st.session_state, UPLOAD_DIR_KEY) if files else None
    paths: list[Path] = []
    refused: list[str] = []
    for f in files or []:
        why = uploads.check_upload(f.name, f.size, limit)
        if why is None:
            p = uploads.save_upload(f.getvalue(), f.name, folder)
            why = uploads.check_saved(p)
            if why is None:
                paths.append(p)
            else:
                p.unlink(missing_ok=True)
        if why:
            refused.append(why)
    for why in refused:
        st.error(why)

    known = sorted(set(reg.sites["agency"].dropna().astype(str))) if reg is not None else []
    agency_opts = [*sorted(set(known) | {"council", "nhs", "police", "fire"}), "another..."]
    c1, c2, c3 = st.columns(3)
    agency = c1.selectbox("Owning agency of these files", agency_opts, key="data_agency",
                          help="Records that do not name their agency belong to this one.")
    if agency == "another...":
        agency = c1.text_input("Agency name", key="data_agency_other").strip().lower()
    kind = c2.selectbox("Reader", list(KINDS), key="data_kind", format_func=lambda k: f"{k}: {KIND_HELP[k]}")
    postcodes = c3.selectbox("Place records without coordinates by postcode", ["no", "national"],
                             key="data_postcodes",
                             format_func=lambda v: {"no": "no (they stay unlocated)",
                                                    "national": "yes, with the national postcode table"}[v])
    how = st.radio("Columns", ["auto", "file", "here"], horizontal=True, key="data_mapping_mode",
                   format_func=lambda v: {"auto": "recognised by the reader", "file": "from a mapping file (TOML)",
                                          "here": "choose them here"}[v])
    mapping_path: Path | None = None
    if how == "file":
        mf = st.file_uploader("Mapping file (.toml, see docs/mapping.md)", type=["toml"], key="data_mapping_file",
                              max_upload_size=1)
        if mf is not None:
            why = uploads.check_upload(mf.name, mf.size, 1.0, uploads.MAPPING_SUFFIXES)
            if why:
                st.error(why)
            else:
                mapping_path = uploads.save_upload(mf.getvalue(), mf.name,
                                                   uploads.upload_folder(st.session_state, UPLOAD_DIR_KEY) / "mapping")
    elif how == "here":
        sheets = [p for p in paths if p.suffix.lower() in (".csv", ".tsv", ".txt", ".xlsx")]
        if not sheets:
            st.info("Upload a spreadsheet (CSV or XLSX) first: its headings are offered here.")
        else:
            target = st.selectbox("Headings of", sheets, format_func=lambda p: p.name, key="data_map_target")
            try:
                headers = [h for h in read_raw_table(target).headers if h]
            except Exception as exc:
                headers = []
                show_error(exc)
            if headers:
                table = st.selectbox("The file holds", ["sites", "services", "zones"], key="data_map_table")
                guess = uploads.suggest_columns(headers, table)
                crs = st.selectbox("Coordinates", ["auto", "EPSG:27700", "EPSG:4326"], key="data_map_crs",
                                   format_func=lambda v: {"auto": "decide from the values",
                                                          "EPSG:27700": "British National Grid metres",
                                                          "EPSG:4326": "longitude/latitude degrees"}[v])
                cols = uploads.mappable_columns(table)
                grid = pd.DataFrame({
                    "planner_column": cols,
                    "file_column": [guess.get(c) for c in cols],
                    "unit": [uploads.suggest_unit(table, c, guess[c]) if c in guess else
                             (uploads.unit_options(table, c) or [None])[0] for c in cols],
                })
                st.caption("For each planner column, pick the file's column (leave empty when the file has none) "
                           "and the unit the file uses.")
                units_all = sorted({u for c in cols for u in uploads.unit_options(table, c)})
                edited = st.data_editor(grid, key=f"data_map_grid_{table}_{target.name}", hide_index=True,
                                        width="stretch", disabled=["planner_column"], height=360,
                                        column_config={
                                            "file_column": st.column_config.SelectboxColumn("file column",
                                                                                            options=headers),
                                            "unit": st.column_config.SelectboxColumn("unit", options=units_all)})
                chosen = {r.planner_column: r.file_column for r in edited.itertuples(index=False)
                          if isinstance(r.file_column, str) and r.file_column}
                units = {r.planner_column: r.unit for r in edited.itertuples(index=False)
                         if isinstance(r.unit, str) and r.unit and r.planner_column in chosen
                         and r.unit in uploads.unit_options(table, r.planner_column)}
                text = uploads.mapping_toml(table, chosen, units, crs, agency or None)
                with st.expander("The mapping file this makes"):
                    st.code(text, language="toml")
                    st.download_button("Download it", text, file_name=f"{Path(target.name).stem}_mapping.toml",
                                       on_click="ignore", key="data_map_download")
                mapping_path = (uploads.upload_folder(st.session_state, UPLOAD_DIR_KEY) / "mapping"
                                / f"{Path(target.name).stem}_mapping.toml")
                mapping_path.parent.mkdir(parents=True, exist_ok=True)
                mapping_path.write_text(text, encoding="utf-8")

    ready = bool(paths) and bool(agency) and (how == "auto" or mapping_path is not None)
    b1, b2 = st.columns(2)
    check = b1.button("Check the files", disabled=not paths, icon=":material/fact_check:", key="data_check_btn")
    add = b2.button("Add them to the place", disabled=not ready, type="primary", icon=":material/add:",
                    key="data_add_btn")
    pc = None if postcodes == "no" else postcodes
    if check:
        from planner.register import validate_files

        st.session_state.pop(IMPORT_KEY, None)
        try:
            with st.spinner("Reading and checking..."):
                report, results = validate_files(paths, agency=agency or None, kind=kind, mapping=mapping_path,
                                                 postcodes=pc, register=reg)
            stats = pd.DataFrame([{"file": Path(r.file).name, "reader": r.reader, "rows read": r.rows_read,
                                   "stored": r.rows_stored, "unreadable": r.rows_unreadable,
                                   "sites": len(r.sites), "services": len(r.services), "zones": len(r.zones)}
                                  for r in results])
            st.session_state[CHECK_KEY] = {"stats": stats, "problems": report.to_frame(),
                                           "notes": [n for r in results for n in r.notes]}
        except Exception as exc:
            st.session_state.pop(CHECK_KEY, None)
            show_error(exc)
    if add:
        from planner.register import import_files

        st.session_state.pop(CHECK_KEY, None)
        try:
            with st.spinner("Adding the files to the place..."):
                new_reg, report, stats = import_files(paths, agency, path, kind=kind, mapping=mapping_path,
                                                      postcodes=pc)
            st.session_state[IMPORT_KEY] = {
                "stats": pd.DataFrame(stats).drop(columns=["path", "notes", "sha256"], errors="ignore"),
                "problems": report.to_frame(), "notes": [n for s in stats for n in s["notes"]],
                "summary": f"The register now holds {len(new_reg.sites):,} sites, {len(new_reg.services):,} "
                           f"services and {len(new_reg.zones):,} zones."}
        except Exception as exc:
            st.session_state.pop(IMPORT_KEY, None)
            show_error(exc)

    for key, title in ((CHECK_KEY, "Checked (nothing was added)"), (IMPORT_KEY, "Added to the place")):
        res = st.session_state.get(key)
        if not res:
            continue
        st.subheader(title)
        if "summary" in res:
            st.success(res["summary"])
        st.dataframe(res["stats"], hide_index=True, width="stretch")
        for n in res["notes"]:
            st.caption(n)
        prob = res["problems"].copy()
        if len(prob):  # uploads sit in a temporary folder: show the file's own name
            prob["file"] = prob["file"].map(lambda v: Path(str(v)).name if isinstance(v, str) and v else v)
        counts = prob["severity"].value_counts().to_dict() if len(prob) else {}

        def _n(k: str, word: str, counts=counts) -> str:
            n = int(counts.get(k, 0))
            return f"{n} {word}{'' if n == 1 else 's'}"

        st.markdown(f"**Validation report**: {_n('error', 'error')}, {_n('warning', 'warning')}, "
                    f"{_n('info', 'note')}. Rows are spreadsheet rows (the header is row 1). Records with "
                    "errors are kept in the register but left out of the analysis.")
        if len(prob):
            sev = st.multiselect("Show", ["error", "warning", "info"], default=["error", "warning"],
                                 key=f"{key}_sev")
            cols = [c for c in ("severity", "file", "row", "column", "value", "problem", "fix", "record_id")
                    if c in prob]
            st.dataframe(prob[prob["severity"].isin(sev)][cols], hide_index=True, width="stretch")
            st.download_button("Download the report (CSV)", prob.to_csv(index=False), file_name="problems.csv",
                               mime="text/csv", on_click="ignore", key=f"{key}_dl")

# ------------------------------------------------------------------ the register
with tab_register:
    if reg is None:
        st.info("No register yet.")
    else:
        st.markdown("**The Total Place count, by agency**")
        st.dataframe(state.place_count("agency"), hide_index=True, width="stretch")
        agencies = sorted(reg.sites["agency"].dropna().astype(str).unique())
        chosen_ag = st.multiselect("Agency", agencies, default=agencies, key="data_sites_agency")
        shown = reg.sites[reg.sites["agency"].isin(chosen_ag)].drop(columns="geometry", errors="ignore")
        st.dataframe(shown, hide_index=True, width="stretch", height=420)
        st.caption("`illustrative` = true: made up for illustration. `estimated_fields` names the values estimated "
                   "from published rates (see data/README.md); `in_analysis` = false: excluded by an error (see "
                   "Problems).")
        st.markdown("**Imported files**")
        st.dataframe(reg.imports, hide_index=True, width="stretch")

with tab_problems:
    if reg is None or not len(reg.problems):
        st.info("No problems recorded.")
    else:
        pr = reg.problems
        sev = st.multiselect("Severity", ["error", "warning", "info"], default=["error", "warning"],
                             key="data_prob_sev")
        cols = [c for c in ("severity", "agency", "file", "row", "column", "value", "problem", "fix", "record_id")
                if c in pr]
        st.dataframe(pr[pr["severity"].isin(sev)][cols], hide_index=True, width="stretch", height=480)
