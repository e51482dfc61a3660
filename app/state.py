"""Cached access to the library for the pages (keyed on the register file's path and mtime)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from planner.register import Register, default_register_path


@st.cache_resource(show_spinner="Opening the register...")
def _load(path: str, mtime_ns: int) -> Register:
    return Register.load(path)


def current_register_path() -> Path:
    return Path(st.session_state.get("register_path") or default_register_path())


def load_register() -> Register:
    path = current_register_path()
    return _load(str(path), path.stat().st_mtime_ns)
