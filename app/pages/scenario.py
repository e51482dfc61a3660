"""Scenario: a form with every setting of the model; Run solves once per submit, with visible
progress, and stores the scenario in the register."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import scenario_form as sf
from app import state
from app.ui import gbp, kpi_row, no_register_hint, show_error, solve_clock
from planner.errors import PlannerError
from planner.scenario import KEYS, scenario_from_dict

LAST_RUN_KEY = "last_run"


def stopped_record(name: str, what_then: str) -> dict:
    """The last run's record for a run that was stopped before it finished."""
    return {"status": "stopped", "scenario_id": None, "npv": None, "gap": None, "totals": None, "findings": [],
            "message": f"The run of scenario '{name}' was stopped before it finished (the Stop button, or "
                       f"another action in the app while it ran). {what_then}"}


st.title("Scenario")
st.caption("Every setting of the co-location and disposal model. **Run** finds the plan with the highest net "
           "present value under these rules, explains it, and stores it in the register as a scenario "
           "(see the Results, Compare and Exports pages).")
try:
    reg = state.load_register()
except Exception:
    no_register_hint()
    raise

sites = reg.sites
usable = sites["in_analysis"].astype("boolean").fillna(True) & sites["located"].astype("boolean").fillna(False)
site_opts = sites.loc[usable.to_numpy(dtype=bool), ["site_id", "name", "agency"]].astype("string").fillna("")
site_label = {r.site_id: f"{r.site_id}: {r.name or '(no name)'} ({r.agency})" for r in site_opts.itertuples()}
agencies = sorted(set(sites["agency"].dropna().astype(str)) | set(reg.services["agency"].dropna().astype(str)))
service_types = sorted(reg.services["service_type"].dropna().astype(str).unique().tolist())

sf.ensure_initialised()

# ---- start from a stored scenario
lst = state.scenario_list()
if len(lst):
    def _prefill() -> None:
        pick = st.session_state.get("sc_start_from")
        if pick in (None, "defaults"):
            sf.apply(sf.default_values())
            return
        rec = lst[lst["scenario_id"] == int(pick)].iloc[0].to_dict()
        values, finance, limit = sf.from_stored(rec)
        sf.apply(values, finance, limit, name=f"{rec['name']} (2)")

    opts = ["defaults", *[int(i) for i in lst["scenario_id"]]]
    names = {int(r["scenario_id"]): state.scenario_label(r) for _, r in lst.iterrows()}
    st.selectbox("Start from", opts, key="sc_start_from", on_change=_prefill,
                 format_func=lambda o: "the model's defaults" if o == "defaults" else f"scenario {names[o]}")

ver = st.session_state.get(sf.VERSION_KEY, 0)
for _key in (sf.k("keep_site_ids"), sf.k("dispose_site_ids")):  # sites no longer in the register
    st.session_state[_key] = [i for i in st.session_state.get(_key, []) if i in site_label]

with st.form("scenario_form", border=True):
    st.text_input("Scenario name", key=sf.k("name"), placeholder="e.g. Budget £2m, 5 km moves",
                  help="Stored scenarios are listed by id and name; a name with letters, not just a number.")
    st.markdown("**Money and time**")
    c1, c2, c3, c4 = st.columns(4)
    c1.number_input("Horizon (years)", min_value=1, max_value=200, step=1, key=sf.k("horizon_years"),
                    help=KEYS["horizon_years"].description)
    c2.number_input("Discount rate (% a year)", min_value=0.0, max_value=20.0, step=0.1, format="%.2f",
                    key=sf.k("discount_rate"), help=KEYS["discount_rate"].description)
    c3.number_input("Optimism bias (%)", min_value=0.0, max_value=200.0, step=1.0, format="%.1f",
                    key=sf.k("optimism_bias"), help=KEYS["optimism_bias"].description)
    c4.number_input("Disposal costs (% of value)", min_value=0.0, max_value=100.0, step=0.5, format="%.1f",
                    key=sf.k("disposal_cost_rate"), help=KEYS["disposal_cost_rate"].description)
    c1, c2, c3, c4 = st.columns(4)
    c1.number_input("Fit-out (£ per m²)", min_value=0.0, step=50.0, format="%.0f", key=sf.k("fit_out_gbp_per_m2"),
                    help=KEYS["fit_out_gbp_per_m2"].description)
    c2.number_input("Moving staff (£ per FTE)", min_value=0.0, step=100.0, format="%.0f", key=sf.k("move_gbp_per_fte"),
                    help=KEYS["move_gbp_per_fte"].description)
    c3.number_input("Recharge (£ per m² a year)", min_value=0.0, step=10.0, format="%.2f", key=sf.k("recharge_gbp_per_m2_year"),
                    help=KEYS["recharge_gbp_per_m2_year"].description)
    c4.number_input("Furthest move (m)", min_value=0.0, step=500.0, format="%.0f", key=sf.k("max_move_m"),
                    help=KEYS["max_move_m"].description)
    st.markdown("**Limits**")
    c1, c2, c3, c4 = st.columns(4)
    c1.checkbox("Limit the one-off spend", key=sf.k("budget_on"))
    c2.number_input("Capital budget (£)", min_value=0.0, step=100_000.0, format="%.0f", key=sf.k("capex_budget_gbp"),
                    help=KEYS["capex_budget_gbp"].description)
    c3.checkbox("Limit the number of disposals", key=sf.k("max_disposals_on"))
    c4.number_input("At most this many disposals", min_value=0, step=1, key=sf.k("max_disposals"),
                    help=KEYS["max_disposals"].description)
    st.checkbox("Partners no worse off: every agency's own net present value must be at least zero",
                key=sf.k("partner_no_worse_off"), help=KEYS["partner_no_worse_off"].description)
    st.markdown("**Sites**")
    c1, c2 = st.columns(2)
    c1.multiselect("Keep these sites (locked)", list(site_label), key=sf.k("keep_site_ids"),
                   format_func=lambda i: site_label.get(i, i), help=KEYS["keep_site_ids"].description)
    c2.multiselect("Dispose of these sites (forced)", list(site_label), key=sf.k("dispose_site_ids"),
                   format_func=lambda i: site_label.get(i, i), help=KEYS["dispose_site_ids"].description)
    st.markdown("**Access standards**: every area that today lies within the distance of a site holding this "
                "kind of service must still do so after the plan.")
    access = st.data_editor(sf.access_frame(service_types), key=f"sc_access_{ver}", hide_index=True,
                            width="stretch", disabled=["service_type"],
                            column_config={"keep_access": st.column_config.CheckboxColumn("apply"),
                                           "distance_m": st.column_config.NumberColumn("distance (m)", min_value=0,
                                                                                       step=100)})
    st.markdown("**Which agencies may host which**")
    st.radio("Sharing", ["any", "choose"], key=sf.k("sharing_mode"), horizontal=True,
             format_func=lambda v: {"any": "Any agency may take in any other's services",
                                    "choose": "Only as ticked below (row: the host; column: the guest)"}[v],
             label_visibility="collapsed")
    sharing = st.data_editor(sf.sharing_frame(agencies), key=f"sc_sharing_{ver}", hide_index=True,
                             width="stretch", disabled=["host"])
    with st.expander("Solver and finance settings"):
        c1, c2, c3 = st.columns(3)
        c1.checkbox("Stop the solver after a time limit", key=sf.k("time_limit_on"),
                    help="With a limit the best plan found so far is kept, with its gap to the best possible.")
        c2.number_input("Time limit (s)", min_value=1.0, step=10.0, format="%.0f", key=sf.k("time_limit_s"))
        c3.number_input("First financial year (starts April)", min_value=1900, max_value=2200, step=1,
                        key=sf.k("first_financial_year"))
        c1, c2, c3, c4 = st.columns(4)
        c1.checkbox("Cap sales a year", key=sf.k("cap_disposals_on"))
        c2.number_input("At most this many sales a year", min_value=1, step=1, key=sf.k("max_disposals_per_year"))
        c3.checkbox("Cap receipts a year", key=sf.k("cap_receipts_on"))
        c4.number_input("At most (£ a year)", min_value=1.0, step=1_000_000.0,
                        format="%.0f", key=sf.k("max_receipts_gbp_per_year"))
        st.number_input("Homes per hectare of land released (assumption)", min_value=0.0, step=5.0,
                        format="%.0f", key=sf.k("homes_per_ha"))
    submitted = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

if submitted:
    try:
        name = str(st.session_state[sf.k("name")]).strip()
        if not name:
            raise PlannerError("The scenario needs a name. Fix: type a name at the top of the form.")
        values = sf.values_from_widgets(access, sharing)
        scenario_from_dict(values, "the scenario form")  # every problem at once, before solving
        toml_text = sf.scenario_toml(values)
        settings = sf.finance_from_widgets()
        limit = sf.time_limit()
    except Exception as exc:
        show_error(exc)
        st.stop()
    # kept if the run is stopped (Stop, or any other action on a page while it runs: Streamlit
    # stops the script there, and no later line of this block runs)
    st.session_state[LAST_RUN_KEY] = stopped_record(
        name, "Nothing was stored. Run it again to start over (a run stopped early is not kept).")
    with st.status("Running the scenario...", expanded=True) as status:
        try:
            steps = status.container()  # the stages above the clock and its Stop button
            plan = state.solve(toml_text, limit, progress=steps.write, tick=solve_clock(limit, "sc_stop"))
            if plan.status in ("optimal", "feasible"):
                steps.write("Costing the plan year by year and storing it in the register...")
                st.session_state[LAST_RUN_KEY] = stopped_record(
                    name, "It was stopped while its plan was being costed and stored: the Results page "
                          "lists it if it was stored.")
                saved = state.save_run(plan, name, toml_text, settings, limit)
                st.session_state[state.CURRENT_SCENARIO_KEY] = saved.scenario_id
                st.session_state[LAST_RUN_KEY] = {"status": plan.status, "message": saved.message,
                                                  "scenario_id": saved.scenario_id, "npv": plan.npv_gbp,
                                                  "gap": plan.gap, "totals": plan.totals.iloc[0].to_dict(),
                                                  "findings": []}
                status.update(label=f"Done: {plan.status}. Stored as scenario {saved.scenario_id}.",
                              state="complete", expanded=False)
            else:
                st.session_state[LAST_RUN_KEY] = {"status": plan.status, "message": plan.message,
                                                  "scenario_id": None, "npv": None, "gap": None, "totals": None,
                                                  "findings": [f.__dict__ for f in plan.findings]}
                status.update(label=f"No plan: {plan.status}. Nothing was stored.", state="error",
                              expanded=False)
        except Exception as exc:
            status.update(label="The scenario could not be run.", state="error")
            show_error(exc)
            st.session_state.pop(LAST_RUN_KEY, None)

last = st.session_state.get(LAST_RUN_KEY)
if last:
    st.subheader("Last run")
    if last["status"] == "stopped":
        st.warning(last["message"])
    elif last["scenario_id"] is not None:
        t = last["totals"]
        st.success(last["message"])
        kpi_row([
            ("Net present value", gbp(last["npv"]), "the model's objective at the scenario's discount rate"),
            ("Sites disposed", f"{int(t['sites_disposed']):,}", None),
            ("Capital receipts", gbp(t["gross_capital_receipts_gbp"]), None),
            ("Running costs saved a year", gbp(t["running_cost_saving_gbp_per_year"]), None),
            ("One-off spend", gbp(t["one_off_spend_gbp"]), None),
        ])
        if last["status"] == "feasible" and last["gap"] is not None:
            st.warning(f"The solver stopped at its time limit: this plan is within {last['gap']:.2%} of the best "
                       "possible. Give it more time for a proven optimum.")
        st.page_link("app/pages/results.py", label="See the results", icon=":material/monitoring:")
    else:
        st.error(f"No plan meets every rule ({last['status']}). {last['message']}")
        if last["findings"]:
            st.markdown("**Why:**")
            st.dataframe(pd.DataFrame(last["findings"]), hide_index=True, width="stretch")
        st.caption("Change the settings named above (a forced disposal, the budget, an access distance, the "
                   "sharing table) and run again.")
