"""Folium maps that work offline: Leaflet is served by the app itself, tiles are configurable.

Folium's defaults load Leaflet, jQuery and Bootstrap from public CDNs; offline or on a
locked-down council network st_folium then shows nothing. Every map here loads only
``/app/static/leaflet/leaflet.{js,css}`` (vendored, see static/README.md) and draws with core
Leaflet layers (circle markers, polylines, GeoJSON), so its layers draw even when no tile can
load. The tile source is chosen by the environment variable ``PLANNER_TILES``: a URL template
(``https://tile.example/{z}/{x}/{y}.png``), ``osm`` (OpenStreetMap), or ``none`` (no basemap,
the default: nothing is requested from outside the app).
"""

from __future__ import annotations

import os

import folium

LEAFLET_JS = "/app/static/leaflet/leaflet.js"
LEAFLET_CSS = "/app/static/leaflet/leaflet.css"
OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTR = "&copy; OpenStreetMap contributors"

AGENCY_COLOURS = {"council": "#1f77b4", "nhs": "#005eb8", "police": "#283593", "fire": "#d62728",
                  "dwp": "#2ca02c"}
OTHER_COLOURS = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def agency_colour(agency: str, known: list[str] | None = None) -> str:
    if agency in AGENCY_COLOURS:
        return AGENCY_COLOURS[agency]
    others = [a for a in (known or []) if a not in AGENCY_COLOURS]
    i = others.index(agency) if agency in others else abs(hash(agency))
    return OTHER_COLOURS[i % len(OTHER_COLOURS)]


def tile_setting() -> str:
    return os.environ.get("PLANNER_TILES", "none").strip() or "none"


def base_map(center_lat: float, center_lon: float, zoom: int = 12) -> folium.Map:
    """A folium map with local Leaflet and the configured tiles (or none)."""
    tiles = tile_setting()
    m = folium.Map(location=[center_lat, center_lon], zoom_start=zoom, tiles=None,
                   prefer_canvas=True, control_scale=True)
    # Only local Leaflet: no jQuery/Bootstrap/awesome-markers from CDNs.
    m.default_js = [("leaflet", LEAFLET_JS)]
    m.default_css = [("leaflet_css", LEAFLET_CSS)]
    if tiles.lower() == "osm":
        folium.TileLayer(OSM_URL, attr=OSM_ATTR, name="OpenStreetMap").add_to(m)
    elif tiles.lower() != "none":
        folium.TileLayer(tiles, attr=os.environ.get("PLANNER_TILES_ATTRIBUTION", "Map tiles"),
                         name="Basemap").add_to(m)
    return m
