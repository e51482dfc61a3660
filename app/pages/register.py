"""Register page: the Total Place count and every record of the shared register."""

from __future__ import annotations

import streamlit as st

from app.state import current_register_path, load_register
from planner.count import total_place_count
from planner.errors import PlannerError

st.title("The shared asset register")
path = current_register_path()
st.caption(f"Register: `{path}`")
try:
    reg = load_register()
except (PlannerError, OSError) as exc:
    st.error(f"The register could not be opened: {exc}")
    st.stop()

st.subheader("The Total Place count, by agency")
st.dataframe(total_place_count(reg.sites, reg.services, reg.zones, by="agency"), hide_index=True)

st.subheader("Sites")
agencies = sorted(reg.sites["agency"].dropna().unique())
chosen = st.multiselect("Agency", agencies, default=agencies)
shown = reg.sites[reg.sites["agency"].isin(chosen)].drop(columns="geometry", errors="ignore")
st.dataframe(shown, hide_index=True)
st.caption("Records with `illustrative` = true are made up for illustration; `estimated_fields` lists the "
           "values estimated from published rates (see data/README.md).")

if len(reg.problems):
    with st.expander(f"Validation problems ({len(reg.problems)})"):
        st.dataframe(reg.problems, hide_index=True)
