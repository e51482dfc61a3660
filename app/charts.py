"""Charts drawn by Vega-Lite (bundled with Streamlit: nothing loads from outside the app), with
the same colours as the map: agencies by ``maps.agency_palette``, recommendations by
``REC_COLOURS``."""

from __future__ import annotations

import altair as alt
import pandas as pd

REC_COLOURS = {"retain": "#5B8DB8", "share": "#FFC20A", "review for disposal": "#222222",
               "not a building": "#BBBBBB", "check data": "#999999"}


def _scale(palette: dict[str, str], present) -> alt.Scale:
    keys = [k for k in palette if k in set(present)]
    return alt.Scale(domain=keys, range=[palette[k] for k in keys])


def bar(df: pd.DataFrame, x: str, y: str, colour: str, palette: dict[str, str], *, horizontal: bool = False,
        sort_by_value: bool = False, x_title: str | None = None, y_title: str | None = None,
        tooltip: list[str] | None = None, height: int = 320) -> alt.Chart:
    """A stacked bar chart of ``y`` by ``x``, coloured by ``colour`` with ``palette``."""
    cat, num = (y, x) if horizontal else (x, y)
    sort = "-x" if (sort_by_value and horizontal) else ("-y" if sort_by_value else None)
    cat_enc = alt.Y if horizontal else alt.X
    num_enc = alt.X if horizontal else alt.Y
    cat_field = y if horizontal else x
    num_field = x if horizontal else y
    chart = alt.Chart(df).mark_bar().encode(
        cat_enc(f"{cat_field}:N", sort=sort, title=(y_title if horizontal else x_title) or cat,
                axis=alt.Axis(labelLimit=220)),
        num_enc(f"{num_field}:Q", title=(x_title if horizontal else y_title) or num, stack="zero"),
        color=alt.Color(f"{colour}:N", scale=_scale(palette, df[colour]), title=colour.replace("_", " ")),
        tooltip=tooltip or [cat_field, colour, num_field],
    )
    return chart.properties(height=height)


def scatter(df: pd.DataFrame, x: str, y: str, colour: str, palette: dict[str, str],
            tooltip: list[str] | None = None, height: int = 360) -> alt.Chart:
    return alt.Chart(df).mark_circle(size=60, opacity=0.8).encode(
        alt.X(f"{x}:Q", title=x.replace("_", " ")),
        alt.Y(f"{y}:Q", title=y.replace("_", " ")),
        color=alt.Color(f"{colour}:N", scale=_scale(palette, df[colour]), title=colour),
        tooltip=tooltip or [x, y, colour],
    ).properties(height=height)
