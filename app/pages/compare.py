"""Compare: two or more stored scenarios side by side."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import state
from app.ui import gbp, no_register_hint

st.title("Compare scenarios")
try:
    state.load_register()
except Exception:
    no_register_hint()
    raise

lst = state.scenario_list()
if len(lst) < 2:
    st.info(f"Comparing needs at least two stored scenarios; this register holds {len(lst)}. Run more on the "
            "**Scenario** page (try another budget, move distance or sharing rule).")
    st.page_link("app/pages/scenario.py", label="Go to Scenario", icon=":material/tune:")
    st.stop()

ids = [int(i) for i in lst["scenario_id"]]
labels = {int(r["scenario_id"]): state.scenario_label(r) for _, r in lst.iterrows()}
picked = st.multiselect("Scenarios (the first is the base the others are compared with)", ids,
                        default=ids[-2:], format_func=lambda i: labels[i], key="cmp_pick")
if len(picked) < 2:
    st.info("Choose two or more scenarios.")
    st.stop()

base = picked[0]
parts = {b: state.compare_pair(base, b) for b in picked[1:]}
first = next(iter(parts.values()))["summary"]
table = pd.DataFrame({"measure": first["measure"], "key": first["key"], labels[base]: first["A"]})
for b, c in parts.items():
    table[labels[b]] = c["summary"]["B"].to_numpy()
money = table["key"].str.endswith(("_gbp", "_year")) & (table["key"] != "payback_financial_year")


def _fmt(v, is_money: bool) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "-"
    if is_money and isinstance(v, (int, float)):
        return gbp(v)
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}"
    return str(v)


shown = table.drop(columns="key").copy()
for col in shown.columns[1:]:
    shown[col] = [_fmt(v, m) for v, m in zip(table[col], money, strict=True)]
st.dataframe(shown, hide_index=True, width="stretch")

chart_keys = {"gross_receipts_gbp": "Capital receipts", "savings_gbp_per_year": "Running costs saved a year",
              "npv_green_book_gbp": "NPV (Green Book)", "one_off_gbp": "One-off spend"}
long = table[table["key"].isin(list(chart_keys))].drop(columns="measure").melt(
    id_vars="key", var_name="scenario", value_name="gbp")
long["measure"] = long["key"].map(chart_keys)
long["gbp"] = pd.to_numeric(long["gbp"], errors="coerce")
st.bar_chart(long, x="measure", y="gbp", color="scenario", stack=False, horizontal=True, height=320,
             x_label="£", y_label="")

for b, c in parts.items():
    with st.expander(f"{labels[base]} against {labels[b]}: {len(c['sites'])} sites decided differently, "
                     f"{len(c['moves'])} services placed differently", expanded=len(parts) == 1):
        h = c["scenarios"].iloc[0]
        st.caption(f"Same inputs: {'yes' if h['same_inputs'] else 'no'}; same answer: "
                   f"{'yes' if h['same_answer'] else 'no'}.")
        sites = c["sites"].rename(columns={"A": labels[base], "B": labels[b]})
        st.dataframe(sites, hide_index=True, width="stretch")
        if len(c["moves"]):
            st.dataframe(c["moves"].rename(columns={"A_to_site_id": f"to ({labels[base]})",
                                                    "B_to_site_id": f"to ({labels[b]})"}),
                         hide_index=True, width="stretch")
