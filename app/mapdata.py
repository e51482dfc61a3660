"""Cached map layers: the register's sites with their scores, the boundary and population
layers, and a stored scenario's plan. Keyed on the register's content (or the stored
scenario), never on the map's view, so panning and zooming recompute nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from app import maps, state

FILTERS = ("agency", "building_type", "tenure", "recommendation", "data")
DATA_KINDS = ("as published", "estimated", "illustrative")


@st.cache_resource(show_spinner="Placing the sites...", max_entries=4)
def _points(path: str, key: str) -> pd.DataFrame:
    reg = state.load_register()
    pts = maps.map_sites(reg.sites, state.site_scores())
    pts["data"] = maps.data_kind(pts)
    return pts


def points() -> pd.DataFrame:
    """``maps.map_sites`` of the register with a ``data`` column (as published / estimated /
    illustrative). Shared: do not modify."""
    return _points(str(state.current_register_path()), state.content_key())


@dataclass(frozen=True)
class Areas:
    wards: dict | None
    ward_styles: list
    lsoas: dict | None
    lsoa_styles: list
    population: dict | None
    population_styles: list
    population_legend: list
    borough: dict | None
    borough_styles: list
    table: pd.DataFrame  # level, code, name, population, area_ha, residents_per_ha


@st.cache_resource(show_spinner="Drawing the boundaries...", max_entries=4)
def _areas(path: str, key: str) -> Areas:
    reg = state.load_register()
    b = reg.boundaries
    empty = ({"type": "FeatureCollection", "features": []}, [], [])
    if not len(b):
        return Areas(None, [], None, [], None, [], [], None, [], pd.DataFrame())
    zones = state.usable_zones(reg)
    pops = None
    if zones is not None:
        pops = (pd.to_numeric(zones["population"], errors="coerce")
                .groupby(zones["zone_id"].astype(str).to_numpy()).sum(min_count=1).dropna().to_dict())
    tables = []
    out = {}
    for level, label in (("ward", "Ward"), ("lsoa", "LSOA"), ("borough", "Borough")):
        coll, table = maps.area_features(b, level, pops if level == "lsoa" else None)
        if not coll["features"]:
            out[level] = empty
            continue
        table.insert(0, "level", level)
        tables.append(table)
        out[level] = maps.style_areas(coll, table, label)
        if level == "lsoa":
            out["population"] = maps.style_areas(coll, table, "LSOA", fill_by_density=True)
    if "population" not in out:
        out["population"] = empty
    borough = out["borough"]
    if borough[0]["features"]:
        borough = (borough[0], [{"color": "#222222", "weight": 2.5, "opacity": 0.9, "fill": False}], [])
    ward = out["ward"]
    if ward[0]["features"]:
        ward = (ward[0], [{"color": "#555555", "weight": 1.2, "opacity": 0.8, "fill": False}], [])
    return Areas(ward[0] if ward[0]["features"] else None, ward[1],
                 out["lsoa"][0] if out["lsoa"][0]["features"] else None,
                 [{"color": "#888888", "weight": 0.6, "opacity": 0.8, "fill": False, "dashArray": "2 3"}],
                 out["population"][0] if out["population"][0]["features"] else None, out["population"][1],
                 out["population"][2],
                 borough[0] if borough[0]["features"] else None, borough[1],
                 pd.concat(tables, ignore_index=True) if tables else pd.DataFrame())


def areas() -> Areas:
    return _areas(str(state.current_register_path()), state.content_key())


def filter_points(pts: pd.DataFrame, chosen: dict[str, list[str]]) -> pd.DataFrame:
    """The sites matching every filter (a filter with nothing chosen matches nothing)."""
    keep = pd.Series(True, index=pts.index)
    for col, values in chosen.items():
        keep &= pts[col].isin(values)
    return pts[keep]


@st.cache_resource(show_spinner=False, max_entries=24)
def _site_layer(path: str, key: str, filters_json: str) -> tuple[list, list, dict, str, int]:
    chosen = json.loads(filters_json)
    pts = points()
    shown = filter_points(pts, chosen)
    palette = maps.agency_palette(pts["agency"])
    rows, styles, lookups = maps.site_rows(shown, palette, shown["recommendation"], maps.RECOMMENDATION_STYLES)
    a = areas()
    extra = maps.population_legend_html(a.population_legend)
    legend = maps.legend_html({k: v for k, v in palette.items() if k in set(shown["agency"])},
                              maps.RECOMMENDATION_HELP, maps.RECOMMENDATION_STYLES,
                              "Sites (colour: agency)", extra)
    return rows, styles, lookups, legend, len(shown)


def site_layer(chosen: dict[str, list[str]]):
    """(rows, styles, popup lookups, legend html, number of sites matching) of the Map page's
    site layer."""
    fj = json.dumps({k: sorted(v) for k, v in chosen.items()}, sort_keys=True)
    return _site_layer(str(state.current_register_path()), state.content_key(), fj)


def digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def add_area_layers(m, a: Areas, show_wards: bool = True) -> None:
    """Borough outline, wards, LSOAs and the population layer (the last two hidden at first)."""
    if a.population is not None:
        maps.AreaLayer(a.population, a.population_styles, "Population (residents per ha, by LSOA)",
                       show=False).add_to(m)
    if a.lsoas is not None:
        maps.AreaLayer(a.lsoas, a.lsoa_styles, "LSOA boundaries", show=False).add_to(m)
    if a.wards is not None:
        maps.AreaLayer(a.wards, a.ward_styles, "Ward boundaries", show=show_wards).add_to(m)
    if a.borough is not None:
        maps.AreaLayer(a.borough, a.borough_styles, "Borough boundary", interactive=False).add_to(m)


@st.cache_resource(show_spinner=False, max_entries=16)
def _plan_layer(path: str, mtime: int, scenario_id: int):
    from planner.export import plan_layers

    view = state.stored_scenario(scenario_id)
    sites, moves = plan_layers(view.schedule)
    palette = maps.agency_palette(pd.concat([sites["agency"].astype(str),
                                             moves["service_agency"].astype(str) if len(moves) else
                                             pd.Series(dtype=str)]))
    rows, styles, lrows, lstyles = maps.plan_rows(sites, moves, palette)
    legend = maps.legend_html({k: v for k, v in palette.items() if k in set(sites["agency"].astype(str))},
                              {"keep": "kept", "hub": "kept, takes services in (gold ring)",
                               "dispose": "disposed (hollow, dashed)"},
                              {k: {**v, "color": v.get("color", "#555555")} for k, v in maps.DECISION_STYLES.items()},
                              "Plan (colour: agency)",
                              '<span style="display:inline-block;width:22px;border-top:2px dashed #555;'
                              'vertical-align:middle;margin-right:4px"></span>move from old to new home')
    return rows, styles, lrows, lstyles, legend


def plan_layer(scenario_id: int):
    return _plan_layer(*state.register_stamp(), int(scenario_id))
