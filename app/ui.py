"""Small presentation helpers shared by the pages: errors as plain messages, money and
number formats, KPI cards."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator

import pandas as pd
import streamlit as st

from planner.errors import PlannerError, ValidationError

log = logging.getLogger("planner.app")


def friendly(exc: BaseException) -> str:
    """A message a user understands for any error (never a traceback)."""
    if isinstance(exc, PlannerError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory for this. Fix: filter the data down, or use a larger machine."
    if isinstance(exc, PermissionError):
        return (f"The app may not read or write {getattr(exc, 'filename', None) or 'a file'}. "
                "Fix: check the file's permissions, or choose another folder.")
    if isinstance(exc, FileNotFoundError):
        return f"A file is missing: {getattr(exc, 'filename', None) or exc}. Fix: check the path."
    if isinstance(exc, OSError):
        return f"A file could not be read or written ({exc.strerror or exc}). Fix: check the disk and the path."
    return (f"Something went wrong that the planner did not expect ({type(exc).__name__}: {exc}). "
            "Nothing was changed. Fix: try again; if it keeps happening, report it with what you did.")


def show_error(exc: BaseException) -> None:
    if isinstance(exc, ValidationError) and exc.report is not None and len(exc.report):
        st.error(str(exc).split("\n", 1)[0])
        frame = exc.report.to_frame()
        cols = [c for c in ("severity", "file", "row", "column", "value", "problem", "fix") if c in frame]
        st.dataframe(frame[cols], hide_index=True, width="stretch")
        return
    st.error(friendly(exc))


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Run a page (or part of one), showing any error as a message, never a traceback.
    Streamlit's own stop/rerun signals are BaseExceptions and pass through."""
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, PlannerError):
            log.exception("unexpected error in a page")
        show_error(exc)


def gbp(v, decimals: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "-"
    v = float(v)
    s = f"£{abs(v):,.{decimals}f}"
    return f"-{s}" if v < 0 else s


def gbp_short(v) -> str:
    """£12.3m, £450k, £900."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "-"
    v = float(v)
    a = abs(v)
    if a >= 1e9:
        s = f"£{a / 1e9:,.2f}bn"
    elif a >= 1e6:
        s = f"£{a / 1e6:,.1f}m"
    elif a >= 1e4:
        s = f"£{a / 1e3:,.0f}k"
    else:
        s = f"£{a:,.0f}"
    return f"-{s}" if v < 0 else s


def number(v, decimals: int = 0, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "-"
    return f"{float(v):,.{decimals}f}{(' ' + unit) if unit else ''}"


def money_columns(df: pd.DataFrame) -> dict:
    """Column formats for st.dataframe: pounds for *_gbp columns, thousands separators elsewhere."""
    cfg = {}
    for c in df.columns:
        name = str(c)
        if not pd.api.types.is_numeric_dtype(df[c].dtype) or pd.api.types.is_bool_dtype(df[c].dtype):
            continue
        if name.endswith(("_gbp", "_gbp_per_year")) or "_gbp_" in name or name.endswith("GBP"):
            cfg[c] = st.column_config.NumberColumn(format="£%,.0f")
        elif name.endswith(("_m2", "_ha")):
            cfg[c] = st.column_config.NumberColumn(format="%,.0f" if name.endswith("_m2") else "%,.2f")
        elif name in ("residents", "population") or name.startswith("residents"):
            cfg[c] = st.column_config.NumberColumn(format="%,.0f")
        elif name.endswith("_per_1000_residents"):
            cfg[c] = st.column_config.NumberColumn(format="%,.2f")
    return cfg


def kpi_row(cards: list[tuple[str, str, str | None]], per_row: int = 3) -> None:
    """Metric cards: (label, value, help), ``per_row`` to a row so values are never cut."""
    for start in range(0, len(cards), per_row):
        cols = st.columns(per_row)
        for col, (label, value, help_text) in zip(cols, cards[start:start + per_row], strict=False):
            col.metric(label, value, help=help_text, border=True)


def no_register_hint() -> None:
    st.info("No register is open yet. Build the sample place with `./run setup` (it opens automatically), or "
            "start one on the **Data** page by adding your files.")


def solve_clock(time_limit_s: float | None, stop_key: str):
    """What the page shows while a solve runs: a Stop button and the time taken so far. Returns
    the ``tick`` to give ``state.solve``: it redraws the time once a second, and Streamlit
    delivers a stop or rerun request (this button, the app's own Stop, any other action on the
    page) at such a redraw, which stops the solve (the request raises out of ``tick``)."""
    st.button("Stop the run", key=stop_key, icon=":material/stop_circle:",
              help="Stops the solver within seconds. Nothing is stored; run again to start over.")
    shown = st.empty()
    t0 = time.monotonic()
    last = [-1]

    def tick() -> None:
        seconds = int(time.monotonic() - t0)
        if seconds != last[0]:
            last[0] = seconds
            limit = f"the solver's time limit is {time_limit_s:,.0f} s" if time_limit_s else "no time limit"
            shown.caption(f"{seconds:,} s so far; {limit}. Going to another page or changing anything in "
                          "the app also stops the run.")

    return tick
