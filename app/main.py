"""App shell: st.navigation over the pages."""

from __future__ import annotations

import streamlit as st


def run() -> None:
    st.set_page_config(page_title="Total Place planner", layout="wide")
    pages = [st.Page("app/pages/register.py", title="Register", icon=":material/domain:", default=True)]
    st.navigation(pages).run()
