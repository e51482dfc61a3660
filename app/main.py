"""App shell: st.navigation over the pages; every page runs inside an error guard so a
problem is a message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import state
from app.ui import guard

PAGES_DIR = Path(__file__).resolve().parent / "pages"

# (file, title, url path). No page icons: Streamlit would fetch a Material icon from
# fonts.gstatic.com as the favicon, and the app makes no request outside itself.
PAGES = [
    ("map.py", "Map", "map"),
    ("utilisation.py", "Utilisation", "utilisation"),
    ("scenario.py", "Scenario", "scenario"),
    ("results.py", "Results", "results"),
    ("compare.py", "Compare", "compare"),
    ("data.py", "Data", "data"),
    ("exports.py", "Exports", "exports"),
]
PAGE_ICON = "\N{CLASSICAL BUILDING}"  # an emoji favicon is drawn locally (an inline SVG)


def _sidebar() -> None:
    with st.sidebar:
        path = state.current_register_path()
        st.caption(f"Register: **{path.name}**")
        try:
            reg = state.load_register()
            n_sc = len(state.scenario_list())
            st.caption(f"{len(reg.sites):,} sites · {len(reg.services):,} services · {len(reg.zones):,} zones · "
                       f"{n_sc} stored scenario{'s' if n_sc != 1 else ''}")
        except Exception:
            st.caption("Not opened: see the page for why.")


def run() -> None:
    st.set_page_config(page_title="Total Place planner", page_icon=PAGE_ICON, layout="wide")
    pages = [st.Page(str(PAGES_DIR / f), title=t, url_path=u, default=(k == 0))
             for k, (f, t, u) in enumerate(PAGES)]
    page = st.navigation(pages)
    _sidebar()
    with guard():
        page.run()
