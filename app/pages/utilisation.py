"""Utilisation: ranked tables and charts of the scores; the Total Place count by agency and by
area."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, mapdata, maps, state
from app.ui import gbp_short, kpi_row, money_columns, no_register_hint

st.title("Utilisation")
try:
    reg = state.load_register()
except Exception:
    no_register_hint()
    raise

scores = state.site_scores()
pts = mapdata.points()
if scores.empty:
    st.info("The register holds no sites yet. Add files on the **Data** page.")
    st.stop()

count = state.place_count("agency")
total = count[count["agency"] == "Total"].iloc[0]
kpi_row([
    ("Sites", f"{int(total['sites']):,}", "records in analysis (excluded records are counted apart)"),
    ("Floor area", f"{float(total['gia_m2'] or 0):,.0f} m²", "gross internal area, each building counted once"),
    ("Running cost a year", gbp_short(total["running_cost_gbp"]), None),
    ("Vacant floor area", f"{float(total['vacant_m2'] or 0):,.0f} m²", "capacity not used by recorded services"),
    ("Review for disposal", f"{int((scores['recommendation'] == 'review for disposal').sum()):,}", None),
])

tab_rank, tab_charts, tab_count, tab_hubs = st.tabs(["Ranked sites", "Charts", "Total Place count", "Hubs"])

with tab_rank:
    agencies = sorted(scores["agency"].dropna().unique().tolist())
    recs = sorted(scores["recommendation"].dropna().unique().tolist())
    c1, c2, c3 = st.columns([2, 2, 1])
    pick_ag = c1.multiselect("Agency", agencies, default=agencies, key="util_agency")
    pick_rec = c2.multiselect("Recommendation", recs, default=[r for r in recs if r != "check data"],
                              key="util_rec")
    rank_by = c3.selectbox("Rank by", ["score", "vacant_m2", "running_cost_per_m2_gbp", "backlog_per_m2_gbp",
                                       "occupancy_pct"], key="util_rank",
                           format_func=lambda c: c.replace("_", " "))
    view = scores[scores["agency"].isin(pick_ag) & scores["recommendation"].isin(pick_rec)]
    view = view.assign(data=pts.loc[view.index, "data"])
    ascending = rank_by == "occupancy_pct"
    view = view.sort_values(rank_by, ascending=ascending, na_position="last")
    cols = ["site_id", "name", "agency", "building_type", "score", "recommendation", "occupancy_pct",
            "vacant_m2", "running_cost_per_m2_gbp", "cost_vs_type_median", "backlog_per_m2_gbp", "condition",
            "nearest_other_agency_m", "data", "reasons"]
    cols = [c for c in cols if c in view]
    st.caption(f"{len(view):,} sites, ranked by {rank_by.replace('_', ' ')}"
               f" ({'lowest' if ascending else 'highest'} first). A missing measure is left empty, never 0; "
               "the site's record on the Map page says why.")
    st.dataframe(view[cols], hide_index=True, width="stretch", height=520,
                 column_config={"score": st.column_config.ProgressColumn("score", min_value=0, max_value=100,
                                                                         format="%.0f"),
                                "occupancy_pct": st.column_config.NumberColumn("occupancy %", format="%.0f"),
                                "reasons": st.column_config.TextColumn(width="large"), **money_columns(view[cols])})

with tab_charts:
    palette = maps.agency_palette(scores["agency"])
    left, right = st.columns(2)
    with left:
        st.markdown("**Recommendations by agency**")
        by = scores.groupby(["agency", "recommendation"]).size().rename("sites").reset_index()
        st.altair_chart(charts.bar(by, "agency", "sites", "recommendation", charts.REC_COLOURS),
                        width="stretch")
    with right:
        st.markdown("**Opportunity score by agency** (sites with a score)")
        sc = scores.dropna(subset=["score"])
        bins = pd.cut(sc["score"], bins=[0, 20, 40, 60, 80, 100], include_lowest=True,
                      labels=["0-20", "20-40", "40-60", "60-80", "80-100"])
        hist = sc.assign(band=bins.astype(str)).groupby(["band", "agency"]).size().rename("sites").reset_index()
        st.altair_chart(charts.bar(hist, "band", "sites", "agency", palette, x_title="score"), width="stretch")
    st.markdown("**Most vacant floor area** (top 20)")
    top = scores.dropna(subset=["vacant_m2"]).nlargest(20, "vacant_m2")
    top = top.assign(site=top["name"].fillna(top["site_id"]) + " (" + top["site_id"] + ")")
    st.altair_chart(charts.bar(top, "vacant_m2", "site", "agency", palette, horizontal=True, sort_by_value=True,
                               x_title="vacant floor area (m²)", y_title="", height=480,
                               tooltip=["site", "agency", "vacant_m2", "occupancy_pct"]), width="stretch")
    st.markdown("**Occupancy against running cost per m²**")
    pair = scores.dropna(subset=["occupancy_pct", "running_cost_per_m2_gbp"])
    st.altair_chart(charts.scatter(pair, "occupancy_pct", "running_cost_per_m2_gbp", "agency", palette,
                                   tooltip=["site_id", "name", "agency", "occupancy_pct", "running_cost_per_m2_gbp"]),
                    width="stretch")

with tab_count:
    st.markdown("**By agency**: every agency serves the whole place, so per-resident figures use all residents.")
    st.dataframe(count, hide_index=True, width="stretch", column_config=money_columns(count))
    levels = state.area_levels()
    if levels:
        level = st.selectbox("By area", levels, key="util_level",
                             format_func=lambda v: {"ward": "Ward", "lsoa": "LSOA", "locality": "Locality"}[v])
        by_area = state.place_count(level)
        st.dataframe(by_area, hide_index=True, width="stretch", column_config=money_columns(by_area))
        chart = by_area[(by_area[level] != "Total") & by_area["cost_per_resident_gbp"].notna()]
        if len(chart):
            chart = chart.assign(area=chart["name"].fillna(chart[level]))
            st.markdown(f"**Running cost per resident by {level}**")
            st.bar_chart(chart, x="area", y="cost_per_resident_gbp", sort="-cost_per_resident_gbp", height=360)
    else:
        st.info("The register has no boundaries, so the count by area is not available.")

with tab_hubs:
    hubs = state.hubs_table()
    if len(hubs):
        st.caption("Clusters of public buildings of several agencies within walking distance of each other "
                   "(see docs/scoring.md): places where sharing is easiest.")
        st.dataframe(hubs, hide_index=True, width="stretch")
    else:
        st.info("No hubs: no buildings of two or more agencies stand close enough together.")
