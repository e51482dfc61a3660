"""Map: every site of every agency on one map, coloured by agency, sized by floor area, edged
by recommendation; filters; ward and LSOA boundaries and a population layer; click a site for
its record, scores, reasons and which values are estimated."""

from __future__ import annotations

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app import mapdata, maps, state
from app.ui import guard, no_register_hint

SELECTED_KEY = "map_selected_tooltip"
MAP_HEIGHT = 640

st.title("Map of the public estate")
try:
    reg = state.load_register()
except Exception:
    no_register_hint()
    raise

pts = mapdata.points()
if pts.empty:
    st.info("The register holds no sites yet. Add files on the **Data** page.")
    st.stop()


def _options(col: str) -> list[str]:
    return sorted(pts[col].dropna().unique().tolist())


with st.sidebar:
    st.subheader("Show sites")
    chosen = {}
    labels = {"agency": "Agency", "building_type": "Building type", "tenure": "Tenure",
              "recommendation": "Recommendation", "data": "Data"}
    helps = {"data": "as published: every value read from a file; estimated: some values estimated from "
                     "published rates (named in the site's record); illustrative: made up for the sample place"}
    for col in mapdata.FILTERS:
        opts = _options(col)
        chosen[col] = st.multiselect(labels[col], opts, default=opts, key=f"map_filter_{col}",
                                     help=helps.get(col))

located = pts["lat"].notna()
rows, styles, lookups, legend, n_match = mapdata.site_layer(chosen)
n_unlocated = int((mapdata.filter_points(pts, chosen)["lat"].isna()).sum())
st.caption(f"Showing {len(rows):,} of {int(located.sum()):,} located sites"
           + (f"; {n_unlocated:,} matching sites have no location and are not on the map" if n_unlocated else "")
           + f". Tiles: {'none (offline map)' if maps.tile_url() is None else maps.tile_setting()}. "
           "Use the layers button (top right of the map) for wards, LSOAs and population.")


def _record_panel(row: pd.Series) -> None:
    """The full record of one site: register values (estimated ones marked), scores, reasons."""
    site = reg.sites.loc[row.name]
    st.subheader(row["name"] or row["site_id"])
    st.caption(f"{row['agency']} · {row['building_type'].replace('_', ' ')} · id `{row['site_id']}`")
    if row["illustrative"]:
        st.warning("ILLUSTRATIVE record: made up for the sample place, not real data.")
    score = row["score"]
    st.markdown(f"**Recommendation: {row['recommendation']}**"
                + ("" if pd.isna(score) else f" (opportunity score {score:.0f} of 100)"))
    if row["reasons"]:
        st.markdown(row["reasons"])
    est = [f for f in str(row["estimated_fields"] or "").split(";") if f]
    if est:
        st.info("Estimated values (not read from a file): " + ", ".join(est))
    values = []
    for col, v in site.drop(labels=["geometry"], errors="ignore").items():
        if v is None or v is pd.NA or (not isinstance(v, str) and pd.isna(v)) or str(v) == "":
            continue
        values.append({"field": col, "value": str(v), "estimated": col in est})
    with st.expander("Record", expanded=True):
        st.dataframe(pd.DataFrame(values), hide_index=True, width="stretch",
                     column_config={"estimated": st.column_config.CheckboxColumn(width="small")})
    scores = state.site_scores().loc[row.name]
    measures = []
    for col in ("occupancy_pct", "vacant_m2", "space_per_fte_m2", "running_cost_per_m2_gbp",
                "running_cost_per_fte_gbp", "backlog_per_m2_gbp", "condition", "functional_suitability_pct",
                "energy_rating", "lease_event_within_n", "nearest_other_agency_m", "score"):
        if col not in scores:
            continue
        v = scores[col]
        why = scores.get(f"{col}_missing_reason")
        missing = v is None or v is pd.NA or (not isinstance(v, str) and pd.isna(v))
        measures.append({"measure": col.replace("_", " "), "value": "" if missing else str(v),
                         "why missing": "" if not missing or why is None or pd.isna(why) else str(why)})
    with st.expander("Scores", expanded=False):
        st.dataframe(pd.DataFrame(measures), hide_index=True, width="stretch")


def _area_panel(tooltip: str) -> None:
    level, _, rest = tooltip.partition(":")
    code = rest.rsplit("(", 1)[-1].split(")", 1)[0] if "(" in rest else ""
    st.subheader(rest.split("·")[0].strip())
    st.caption(level)
    col = {"Ward": "ward", "LSOA": "lsoa"}.get(level.strip())
    if col and col in pts:
        inside = pts[pts[col] == code]
        st.metric("Sites in this area", f"{len(inside):,}")
        if len(inside):
            st.dataframe(inside.groupby("agency").size().rename("sites").reset_index(), hide_index=True)
    if "·" in rest:
        st.write(rest.split("·", 1)[1].strip())


def _found() -> None:
    pick = st.session_state.get("map_find")
    if pick:
        st.session_state[SELECTED_KEY] = pick


@st.fragment
def map_fragment() -> None:
    with guard():
        left, right = st.columns([3, 1.25])
        with left:
            m = maps.base_map(*maps.centre_of(pts["lat"], pts["lon"]))
            mapdata.add_area_layers(m, mapdata.areas())
            maps.PointLayer(rows, styles, "Sites", fit=True, lookups=lookups).add_to(m)
            maps.Legend(legend).add_to(m)
            folium.LayerControl(collapsed=True).add_to(m)
            out = st_folium(m, key=f"sites-{mapdata.digest(state.content_key(), chosen)}", height=MAP_HEIGHT,
                            use_container_width=True, returned_objects=["last_object_clicked_tooltip"])
        tip = (out or {}).get("last_object_clicked_tooltip")
        if tip:
            st.session_state[SELECTED_KEY] = tip
        tip = st.session_state.get(SELECTED_KEY)
        with right:
            st.selectbox("Find a site", [None, *pts["tooltip"].tolist()], key="map_find",
                         placeholder="type a name or id", on_change=_found)
            hit = pts.index[pts["tooltip"] == tip] if tip else []
            if len(hit):
                _record_panel(pts.loc[hit[0]])
            elif tip and tip.split(":", 1)[0] in ("Ward", "LSOA"):
                _area_panel(tip)
            else:
                st.info("Click a site on the map to see its record, scores, reasons and which values are "
                        "estimated.")

map_fragment()

if st.toggle(f"Show the {n_match:,} sites as a table", key="map_table"):
    shown = mapdata.filter_points(pts, chosen)
    st.dataframe(shown[["site_id", "name", "agency", "building_type", "tenure", "recommendation", "score",
                        "gia_m2", "data", "estimated_fields"]], hide_index=True, width="stretch")
