"""Results of a stored scenario: KPI cards, the map of kept and disposed sites with move lines,
receipts by financial year and agency, the partner ledger, and each decision's explanation."""

from __future__ import annotations

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app import charts, mapdata, maps, state
from app.ui import (
    gbp,
    gbp_short,
    guard,
    kpi_row,
    money_columns,
    no_register_hint,
    number,
    show_error,
    solve_clock,
)
from planner.finance import ope_measures
from planner.ledger import ledger_frame

st.title("Results")
try:
    state.load_register()
except Exception:
    no_register_hint()
    raise

sid = state.choose_scenario("Scenario")
if sid is None:
    st.info("No scenario is stored in this register yet. Set one up and run it on the **Scenario** page.")
    st.page_link("app/pages/scenario.py", label="Go to Scenario", icon=":material/tune:")
    st.stop()

view = state.stored_scenario(sid)
rec, sch, ledger = view.stored.record, view.schedule, view.ledger
plan = sch.plan
t = sch.totals
ope = ope_measures(sch).set_index("measure")

st.caption(f"Scenario {sid} **{rec['name']}**, run {rec.get('created_at', '')}, solver status "
           f"**{rec.get('status', '')}**"
           + (f" (gap {float(rec['gap']):.2%})" if rec.get("gap") not in (None, "") and not pd.isna(rec.get("gap"))
              and float(rec["gap"]) > 1e-6 else "")
           + f". Financial years from {sch.label(0)}; horizon {plan.horizon_years} years.")
if not state.register_matches(sid):
    st.warning("The register has changed since this scenario ran: the figures below are the stored plan's. "
               "Run the scenario again on the Scenario page to plan on the current data.")
floor = ope.loc["Floor area released", "value"] if "Floor area released" in ope.index else float("nan")
kpi_row([
    ("Capital receipts", gbp_short(t["gross_receipts_gbp"]), f"gross sale proceeds; net of disposal costs "
                                                             f"{gbp(t['net_receipts_gbp'])}"),
    ("Running costs saved a year", gbp_short(t["running_cost_saved_gbp_per_year"]),
     "once every sale is complete"),
    ("NPV (Green Book)", gbp_short(sch.npv_green_book_gbp),
     f"HM Treasury Green Book rates. At the scenario's constant rate: {gbp(sch.npv_constant_gbp)}; the optimiser's "
     f"objective: {gbp(rec.get('objective_gbp'))}"),
    ("One-off spend", gbp_short(t["one_off_spend_gbp"]), "fit-out, moving staff and optimism bias, in the first "
                                                         "year"),
    ("Floor area released", f"{floor:,.0f} m²", "floor area of the disposed sites"),
    ("Disposals", f"{int(t['disposals']):,}", f"{int(t['moves']):,} services move"),
])

tab_map, tab_money, tab_ledger, tab_why = st.tabs(["Map", "Receipts and cash flow", "Partner ledger",
                                                   "Decisions explained"])

with tab_map:
    @st.fragment
    def plan_map() -> None:
        with guard():
            rows, styles, lrows, lstyles, legend = mapdata.plan_layer(sid)
            m = maps.base_map()
            mapdata.add_area_layers(m, mapdata.areas())
            maps.PointLayer(rows, styles, "Sites (kept and disposed)", fit=True).add_to(m)
            maps.LineLayer(lrows, lstyles, "Moves (old home to new)").add_to(m)
            maps.Legend(legend).add_to(m)
            folium.LayerControl(collapsed=True).add_to(m)
            st_folium(m, key=f"plan-{mapdata.digest(state.register_stamp(), sid)}", height=600,
                      use_container_width=True, returned_objects=[])
            st.caption(f"{len(rows):,} sites and {len(lrows):,} moves. Hover over a line for the service and "
                       "distance; click a site for its decision.")

    plan_map()

with tab_money:
    receipts = sch.by_year_agency("gross_receipts_gbp")
    by_year = receipts.drop(index="Total", errors="ignore").drop(columns="Total", errors="ignore")
    years_with = [c for c in by_year.columns if by_year[c].abs().sum() > 0]
    st.markdown("**Gross capital receipts by financial year and agency**")
    if years_with:
        long = by_year[years_with].reset_index().melt(id_vars="agency", var_name="financial year",
                                                      value_name="receipts (£)")
        long = long[long["receipts (£)"] != 0]
        palette = maps.agency_palette(receipts.index.drop("Total", errors="ignore"))
        st.altair_chart(charts.bar(long, "financial year", "receipts (£)", "agency", palette, height=340),
                        width="stretch")
    else:
        st.info("This plan sells nothing, so there are no receipts.")
    shown = receipts[[c for c in receipts.columns if c in set(years_with) or c == "Total"]]
    st.dataframe(shown.reset_index(), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="£%,.0f") for c in shown.columns})
    st.markdown("**Cumulative cash flow** (costs negative)")
    cf = sch.cash_flow[["financial_year", "cumulative_gbp", "cumulative_pv_green_book_gbp"]].rename(
        columns={"cumulative_gbp": "cash", "cumulative_pv_green_book_gbp": "present value (Green Book)"})
    st.line_chart(cf, x="financial_year", y=["cash", "present value (Green Book)"], height=300, y_label="£",
                  x_label="financial year")
    st.caption(f"Payback: {sch.label(sch.payback_year)} (cash), {sch.label(sch.discounted_payback_year)} "
               "(present value).")
    st.markdown("**Disposal programme**")
    d = sch.disposals[["site_id", "name", "agency", "financial_year", "gross_receipt_gbp", "net_receipt_gbp",
                       "running_cost_saved_gbp_per_year", "saving_from_financial_year", "de_minimis"]]
    st.dataframe(d, hide_index=True, width="stretch", column_config=money_columns(d))
    st.markdown("**One Public Estate measures**")
    ope_shown = ope.reset_index()
    ope_shown["value"] = [gbp(v) if u in ("GBP", "GBP/year") else number(v, 2 if u == "ha" else 0, u)
                          for v, u in zip(ope_shown["value"], ope_shown["unit"], strict=True)]
    st.dataframe(ope_shown.drop(columns="unit"), hide_index=True, width="stretch")

with tab_ledger:
    st.markdown(ledger.message)
    lf = ledger_frame(ledger)
    cols = ["agency", "sites_disposed", "services_moved", "gross_receipts_gbp", "net_receipts_gbp",
            "running_cost_saved_gbp_per_year", "one_off_spend_gbp", "recharges_paid_gbp", "recharges_received_gbp",
            "npv_green_book_gbp", "balancing_transfer_gbp", "meets_rule7"]
    cols = [c for c in cols if c in lf]
    st.dataframe(lf[cols], hide_index=True, width="stretch", column_config=money_columns(lf[cols]))
    if len(ledger.transfers):
        st.markdown("**Balancing transfers** (present value, paid now)")
        st.dataframe(ledger.transfers, hide_index=True, column_config=money_columns(ledger.transfers))
    if len(ledger.shunting):
        st.markdown("**Cost shunting**: moves paid by one partner whose savings land with another")
        st.dataframe(ledger.shunting, hide_index=True, width="stretch",
                     column_config=money_columns(ledger.shunting))

with tab_why:
    toml_text, limit, solver = state.stored_run_settings(rec)
    explained = None
    if state.solved_here(toml_text, limit, solver):
        explained = state.solve(toml_text, limit, solver)
    elif state.register_matches(sid):
        st.info("The explanations are worked out by the optimiser. This scenario was not run in this session: "
                "explaining it solves it again (the register has not changed, so it gives the same plan).")
        if st.button("Explain the decisions", icon=":material/help:"):
            with st.status("Solving the scenario again to explain it...", expanded=True) as status:
                try:
                    steps = status.container()  # the stages above the clock and its Stop button
                    explained = state.solve(toml_text, limit, solver, progress=steps.write,
                                            tick=solve_clock(limit, "res_stop"))
                    status.update(label="Explained.", state="complete", expanded=False)
                except Exception as exc:
                    status.update(label="Could not explain.", state="error")
                    show_error(exc)
    else:
        st.info("The register has changed since this scenario ran, so its decisions cannot be explained again. "
                "The stored decisions are listed below.")
    sites = plan.sites[["site_id", "name", "agency", "decision", "market_value_gbp", "running_cost_gbp"]]
    moves = plan.moves[plan.moves["moved"]][["service_id", "service_name", "service_agency", "from_site_id",
                                             "to_site_id", "distance_m", "one_off_gbp"]]
    if explained is not None and explained.site_decisions is not None:
        why = explained.site_decisions.set_index("site_id")["reason"]
        sites = sites.assign(reason=sites["site_id"].map(why))
        mwhy = explained.placements.set_index("service_id")["reason"]
        moves = moves.assign(reason=moves["service_id"].map(mwhy))
        same = set(explained.site_decisions.loc[explained.site_decisions["decision"] == "dispose", "site_id"]) == \
            set(plan.sites.loc[plan.sites["decision"] == "dispose", "site_id"])
        if not same:
            st.warning("Solving again gave different decisions (a time limit can do this): the explanations are "
                       "of the new answer.")
    pick = st.radio("Show", ["disposed", "kept", "all"], horizontal=True, key="res_show",
                    format_func=lambda v: {"disposed": "disposed sites", "kept": "kept sites",
                                           "all": "all sites"}[v])
    sel = sites if pick == "all" else sites[sites["decision"] == ("dispose" if pick == "disposed" else "keep")]
    st.dataframe(sel, hide_index=True, width="stretch",
                 column_config={"reason": st.column_config.TextColumn(width="large"), **money_columns(sel)})
    if "reason" in sel and len(sel):
        one = st.selectbox("Read one decision in full", sel["site_id"].tolist(), key="res_one",
                           format_func=lambda i: f"{i}: {sites.set_index('site_id').at[i, 'name']}")
        st.info(str(sites.set_index("site_id").at[one, "reason"]))
    st.markdown(f"**Services that move** ({len(moves):,})")
    st.dataframe(moves, hide_index=True, width="stretch",
                 column_config={"reason": st.column_config.TextColumn(width="large"), **money_columns(moves)})
