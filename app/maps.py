"""Folium maps that work offline: Leaflet is served by the app itself, tiles are configurable.

Folium's defaults load Leaflet, jQuery and Bootstrap from public CDNs; offline or on a
locked-down council network st_folium then shows nothing. Every map here loads only
``/app/static/leaflet/leaflet.{js,css}`` (vendored, see static/README.md) and draws with core
Leaflet only (``L.circleMarker``, ``L.polyline``, ``L.geoJSON``, tooltips, popups, the layers
control and a legend control), so its layers draw even when no tile can load. The tile
source is chosen by the environment variable ``PLANNER_TILES``: a URL template
(``https://tile.example/{z}/{x}/{y}.png``), ``osm`` (OpenStreetMap), or ``none`` (no basemap,
the default: nothing is requested from outside the app).

Sites are drawn from compact arrays by one script (not one folium object per marker), on a
canvas (``preferCanvas``), so a place of 5,000 sites draws in well under a second. When a
layer has drawn, the map's container gets ``data-site-markers`` / ``data-move-lines`` with the
number drawn: the browser tests and the map benchmark wait for them.

Everything a layer shows comes from the library's tables (the register, ``score_sites``, a
stored scenario's plan); this module only turns them into map rows.
"""

from __future__ import annotations

import html
import math
import os

import folium
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.map import Layer
from folium.template import Template

from planner.geo import bng_to_wgs84

LEAFLET_JS = "/app/static/leaflet/leaflet.js"
LEAFLET_CSS = "/app/static/leaflet/leaflet.css"
OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTR = "&copy; OpenStreetMap contributors"
DEFAULT_CENTRE = (53.42, -2.33)  # Trafford, when a map has nothing located

# Colour-blind-safe where it matters (Okabe-Ito based); the usual partners have fixed colours.
AGENCY_COLOURS = {"council": "#0072B2", "nhs": "#009E73", "police": "#6A3D9A", "fire": "#D55E00",
                  "dwp": "#E69F00"}
OTHER_COLOURS = ["#56B4E9", "#CC79A7", "#8C564B", "#7F7F7F", "#B8A000", "#17BECF", "#1B9E77", "#E7298A"]

RECOMMENDATION_STYLES = {
    "retain": {"color": "#ffffff", "weight": 1, "fillOpacity": 0.85},
    "share": {"color": "#FFC20A", "weight": 3, "fillOpacity": 0.85},
    "review for disposal": {"color": "#000000", "weight": 2.5, "dashArray": "3 3", "fillOpacity": 0.85},
    "not a building": {"weight": 1, "fillOpacity": 0.2},
    "check data": {"color": "#777777", "weight": 1.5, "dashArray": "1 3", "fillOpacity": 0.35},
}
RECOMMENDATION_HELP = {  # legend lines: the recommendation, then how it is drawn
    "retain": "retain: filled, thin white edge",
    "share": "share (room for others): gold ring",
    "review for disposal": "review for disposal: black dashed ring",
    "not a building": "not a building (land): faint",
    "check data": "check data (excluded from analysis): grey dotted ring",
}
DECISION_STYLES = {
    "keep": {"color": "#ffffff", "weight": 1, "fillOpacity": 0.85},
    "hub": {"color": "#FFC20A", "weight": 3, "fillOpacity": 0.9},
    "dispose": {"fillColor": "#ffffff", "weight": 3, "dashArray": "4 3", "fillOpacity": 0.9},
}
# floor area (m2) -> marker radius (px): upper bounds of each class
SIZE_CLASSES = ((250.0, 4), (1_000.0, 6), (4_000.0, 8), (15_000.0, 11), (math.inf, 14))
UNKNOWN_SIZE_RADIUS = 4
POPULATION_COLOURS = ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")


# --------------------------------------------------------------------------- settings

def tile_setting() -> str:
    return os.environ.get("PLANNER_TILES", "none").strip() or "none"


def tile_url() -> str | None:
    """The tile URL template in use, or None for no basemap."""
    t = tile_setting()
    if t.lower() == "none":
        return None
    return OSM_URL if t.lower() == "osm" else t


def _static_path(path: str) -> str:
    """A path served by the app, with the server's base URL path when one is set."""
    try:
        import streamlit as st

        base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    except Exception:
        base = ""
    return f"/{base}{path}" if base else path


def agency_palette(agencies) -> dict[str, str]:
    """A colour for every agency: fixed for the usual partners, then by sorted name."""
    names = sorted({str(a) for a in agencies if a is not None and str(a) != "" and not pd.isna(a)})
    out, k = {}, 0
    for a in names:
        if a.lower() in AGENCY_COLOURS:
            out[a] = AGENCY_COLOURS[a.lower()]
        else:
            out[a] = OTHER_COLOURS[k % len(OTHER_COLOURS)]
            k += 1
    return out


def marker_radius(gia_m2) -> np.ndarray:
    """Marker radius (px) from floor area by class (``SIZE_CLASSES``); unknown: the smallest."""
    g = pd.to_numeric(pd.Series(gia_m2), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    r = np.full(len(g), UNKNOWN_SIZE_RADIUS, dtype=int)
    ok = ~np.isnan(g)
    bounds = np.array([b for b, _ in SIZE_CLASSES])
    radii = np.array([s for _, s in SIZE_CLASSES])
    r[ok] = radii[np.searchsorted(bounds, g[ok], side="right").clip(0, len(radii) - 1)]
    return r


def size_legend() -> list[tuple[str, int]]:
    out, lo = [], 0.0
    for hi, r in SIZE_CLASSES:
        out.append((f"under {hi:,.0f} m²" if lo == 0 else (f"{lo:,.0f} m² and more" if math.isinf(hi)
                                                        else f"{lo:,.0f}-{hi:,.0f} m²"), r))
        lo = hi
    return out


# --------------------------------------------------------------------------- map elements

class _SelfAddingLayer(Layer):
    """A layer whose own script adds it to the map (so it can mark the map when drawn)."""

    def __init__(self, name: str, show: bool = True, control: bool = True):
        super().__init__(name=name, overlay=True, control=control, show=show)

    def render(self, **kwargs):
        MacroElement.render(self, **kwargs)  # not Layer.render: it would add a second addTo


_MARK_DRAWN = """
  (function (box, attr, n) {
    requestAnimationFrame(function () { requestAnimationFrame(function () {
      box.setAttribute(attr, String(n));
      window.__plannerDrawn = window.__plannerDrawn || {};
      window.__plannerDrawn[attr] = {count: n, at: performance.now()};
    }); });
  })(map.getContainer(), {{ this.attr|tojson }}, rows.length);
"""


class PointLayer(_SelfAddingLayer):
    """Circle markers from rows ``[lat, lng, radius, style, tooltip, popup]``; ``styles`` are
    Leaflet path options. Tooltips are escaped HTML, one per marker (a click is traced back to
    its site by it). A popup is escaped HTML, or ``[type, recommendation, score, estimated,
    illustrative]`` (indices into ``lookups`` and numbers) from which the popup is written when
    the marker is clicked; one popup is shared by the layer, so 5,000 sites cost 5,000 markers and
    tooltips, nothing more."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.featureGroup();
(function (group, map) {
  var styles = {{ this.styles|tojson }};
  var lk = {{ this.lookups|tojson }};
  var rows = {{ this.rows|tojson }};
  function popupOf(r) {
    var p = r[5];
    if (!p || typeof p === "string") { return p; }
    var h = "<b>" + r[4] + "</b><br>" + lk.types[p[0]] + "<br><b>" + lk.recs[p[1]] + "</b>" +
      (p[2] >= 0 ? " (score " + p[2] + ")" : "");
    if (p[4]) { h += "<br><i>ILLUSTRATIVE record (made up for the sample place)</i>"; }
    if (p[3] > 0) { h += "<br>Estimated: " + lk.ests[p[3]]; }
    return h + "<br><small>The full record is shown beside the map.</small>";
  }
  for (var i = 0; i < rows.length; i++) {
    var r = rows[i];
    var m = L.circleMarker([r[0], r[1]], Object.assign({radius: r[2]}, styles[r[3]]));
    m.bindTooltip(r[4]);
    m._plannerRow = i;
    group.addLayer(m);
  }
  group.on("click", function (e) {
    var html = popupOf(rows[e.layer._plannerRow]);
    if (html) { L.popup({maxWidth: 340}).setLatLng(e.layer.getLatLng()).setContent(html).openOn(map); }
  });
  {% if this.show %}group.addTo(map);{% endif %}
  {% if this.bounds %}map.fitBounds({{ this.bounds|tojson }}, {padding: [24, 24], maxZoom: 15});
  {% elif this.fit %}if (rows.length) { map.fitBounds(group.getBounds(), {padding: [24, 24], maxZoom: 15}); }{% endif %}
""" + _MARK_DRAWN + """
})({{ this.get_name() }}, {{ this._parent.get_name() }});
{% endmacro %}
""")

    def __init__(self, rows: list, styles: list[dict], name: str, attr: str = "data-site-markers",
                 show: bool = True, fit: bool = False, bounds: list | None = None, lookups: dict | None = None):
        super().__init__(name, show)
        self._name = "PointLayer"
        self.rows, self.styles, self.attr, self.fit = rows, styles, attr, fit
        self.lookups = lookups or {"types": [], "recs": [], "ests": [""]}
        self.bounds = bounds if bounds is not None else (view_bounds(rows) if fit else None)


class LineLayer(_SelfAddingLayer):
    """Straight lines from rows ``[lat1, lng1, lat2, lng2, style, tooltip]``, each with a dot at
    its second end (where the service goes)."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.featureGroup();
(function (group, map) {
  var styles = {{ this.styles|tojson }};
  var rows = {{ this.rows|tojson }};
  for (var i = 0; i < rows.length; i++) {
    var r = rows[i];
    var s = styles[r[4]];
    var line = L.polyline([[r[0], r[1]], [r[2], r[3]]], s);
    line.bindTooltip(r[5], {sticky: true});
    group.addLayer(line);
    group.addLayer(L.circleMarker([r[2], r[3]], {radius: 3, color: s.color, weight: 1, fillColor: s.color,
                                                 fillOpacity: 1, interactive: false}));
  }
  {% if this.show %}group.addTo(map);{% endif %}
""" + _MARK_DRAWN + """
})({{ this.get_name() }}, {{ this._parent.get_name() }});
{% endmacro %}
""")

    def __init__(self, rows: list, styles: list[dict], name: str, attr: str = "data-move-lines",
                 show: bool = True):
        super().__init__(name, show)
        self._name = "LineLayer"
        self.rows, self.styles, self.attr = rows, styles, attr


class AreaLayer(_SelfAddingLayer):
    """Polygons from a GeoJSON FeatureCollection whose features carry ``s`` (style index) and
    ``t`` (tooltip, escaped HTML) properties."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.geoJSON({{ this.data|tojson }}, {
  style: function (f) { return {{ this.styles|tojson }}[f.properties.s]; },
  interactive: {{ this.interactive|tojson }},
  onEachFeature: function (f, layer) { if (f.properties.t) { layer.bindTooltip(f.properties.t, {sticky: true}); } }
});
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, data: dict, styles: list[dict], name: str, show: bool = True,
                 interactive: bool = True):
        super().__init__(name, show)
        self._name = "AreaLayer"
        self.data, self.styles, self.interactive = data, styles, interactive


class Legend(MacroElement):
    """A legend box in a corner of the map (HTML built here, escaped)."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function (map) {
  var legend = L.control({position: {{ this.position|tojson }}});
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "leaflet-control planner-legend");
    div.style.cssText = "background: rgba(255,255,255,0.92); padding: 6px 8px; border-radius: 4px; " +
      "font: 11px/1.3 sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,0.3); max-height: 60vh; overflow: auto;";
    div.innerHTML = {{ this.html|tojson }};
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  legend.addTo(map);
})({{ this._parent.get_name() }});
{% endmacro %}
""")

    def __init__(self, html_text: str, position: str = "bottomright"):
        super().__init__()
        self._name = "Legend"
        self.html, self.position = html_text, position


class Background(MacroElement):
    """The map's background colour (what shows where there are no tiles)."""

    _template = Template("""
{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.getContainer().style.background = {{ this.colour|tojson }};
{% endmacro %}
""")

    def __init__(self, colour: str):
        super().__init__()
        self._name = "Background"
        self.colour = colour


def base_map(center_lat: float | None = None, center_lon: float | None = None, zoom: int = 12) -> folium.Map:
    """A folium map with local Leaflet and the configured tiles (or none), drawn on a canvas."""
    if center_lat is None or center_lon is None or not np.isfinite([center_lat, center_lon]).all():
        center_lat, center_lon = DEFAULT_CENTRE
    m = folium.Map(location=[float(center_lat), float(center_lon)], zoom_start=zoom, tiles=None,
                   prefer_canvas=True, control_scale=True)
    # Only local Leaflet: no jQuery/Bootstrap/awesome-markers from CDNs.
    m.default_js = [("leaflet", _static_path(LEAFLET_JS))]
    m.default_css = [("leaflet_css", _static_path(LEAFLET_CSS))]
    url = tile_url()
    if url is None:
        Background("#f3f1ec").add_to(m)
    if url == OSM_URL:
        folium.TileLayer(OSM_URL, attr=OSM_ATTR, name="OpenStreetMap").add_to(m)
    elif url is not None:
        folium.TileLayer(url, attr=os.environ.get("PLANNER_TILES_ATTRIBUTION", "Map tiles"),
                         name="Basemap").add_to(m)
    return m


def page_links(m: folium.Map) -> list[str]:
    """Every script and style sheet URL st_folium would load for ``m`` (what the offline
    requirement is about)."""
    links = []

    def walk(e):
        links.extend(href for _, href in getattr(e, "default_js", []) or [])
        links.extend(href for _, href in getattr(e, "default_css", []) or [])
        for c in getattr(e, "_children", {}).values():
            walk(c)

    walk(m)
    return links


# --------------------------------------------------------------------------- rows

def _esc(v) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    return html.escape(str(v))


def to_latlon(easting, northing) -> tuple[np.ndarray, np.ndarray]:
    e = pd.to_numeric(pd.Series(easting), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    n = pd.to_numeric(pd.Series(northing), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    lat = np.full(len(e), np.nan)
    lon = np.full(len(e), np.nan)
    ok = ~np.isnan(e) & ~np.isnan(n)
    if ok.any():
        lon[ok], lat[ok] = bng_to_wgs84(e[ok], n[ok])
    return lat, lon


def site_tooltip(name, agency, site_id) -> str:
    """The tooltip text of a site, also how a click is traced back to the site."""
    nm = "" if name is None or (not isinstance(name, str) and pd.isna(name)) else str(name).strip()
    return f"{nm or site_id} ({agency}, {site_id})".strip()


def map_sites(sites: pd.DataFrame, scores: pd.DataFrame | None) -> pd.DataFrame:
    """One row per site with what the Map page shows and filters on, index-aligned with
    ``sites``: lat/lon (missing when not located), agency, building type, tenure,
    recommendation, score, reasons, estimated fields, illustrative, radius, tooltip."""
    lat, lon = to_latlon(sites["easting"], sites["northing"])
    located = sites["located"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "located" in sites else \
        ~np.isnan(lat)
    lat[~located] = np.nan
    lon[~located] = np.nan

    def text(col, frame=sites, default=""):
        if frame is None or col not in frame:
            return pd.Series(default, index=sites.index, dtype="string")
        return frame[col].astype("string").fillna(default).str.strip()

    out = pd.DataFrame({
        "site_id": text("site_id"),
        "name": text("name"),
        "agency": text("agency").replace("", "(none)"),
        "building_type": text("building_type").replace("", "(not recorded)"),
        "tenure": text("tenure").str.lower().replace("", "(not recorded)"),
        "gia_m2": pd.to_numeric(sites.get("gia_m2"), errors="coerce").astype("float64")
        if "gia_m2" in sites else np.nan,
        "estimated_fields": text("estimated_fields"),
        "illustrative": sites["illustrative"].astype("boolean").fillna(False).astype(bool)
        if "illustrative" in sites else False,
        "lat": lat, "lon": lon,
    }, index=sites.index)
    if scores is not None and len(scores):
        out["recommendation"] = text("recommendation", scores, "check data")
        out["score"] = pd.to_numeric(scores["score"], errors="coerce").astype("float64")
        out["reasons"] = text("reasons", scores)
        for lvl in ("ward", "lsoa", "locality"):
            if lvl in scores:
                out[lvl] = text(lvl, scores)
                out[f"{lvl}_name"] = text(f"{lvl}_name", scores)
    else:
        out["recommendation"] = "retain"
        out["score"] = np.nan
        out["reasons"] = ""
    out["radius"] = marker_radius(out["gia_m2"])
    tips = [site_tooltip(n, a, s) for n, a, s in zip(out["name"], out["agency"], out["site_id"], strict=True)]
    seen: dict[str, int] = {}
    for i, t in enumerate(tips):  # a repeated (agency, id) still gets its own tooltip
        if t in seen:
            seen[t] += 1
            tips[i] = f"{t} #{seen[t]}"
        else:
            seen[t] = 1
    out["tooltip"] = tips
    return out


def data_kind(points: pd.DataFrame) -> pd.Series:
    """'illustrative', 'estimated' (some values estimated) or 'as published', per site."""
    kind = np.where(points["illustrative"].to_numpy(dtype=bool), "illustrative",
                    np.where(points["estimated_fields"].astype(str).str.len().to_numpy() > 0, "estimated",
                             "as published"))
    return pd.Series(kind, index=points.index)


def site_rows(points: pd.DataFrame, palette: dict[str, str], style_of: pd.Series,
              style_table: dict[str, dict], popups: bool = True) -> tuple[list, list[dict], dict]:
    """Rows, styles and popup lookups of a ``PointLayer``: fill by agency, edge by
    ``style_of`` (a key of ``style_table``), radius by floor area; the popup as indices into the
    lookups (building type, recommendation, estimated fields), the score and the illustrative
    flag. Only located points. Every text is HTML-escaped here."""
    pts = points[points["lat"].notna() & points["lon"].notna()]
    styles: list[dict] = []
    index: dict[tuple[str, str], int] = {}
    lookups: dict[str, list[str]] = {"types": [], "recs": [], "ests": [""]}
    where: dict[str, dict[str, int]] = {"types": {}, "recs": {}, "ests": {"": 0}}

    def look(kind: str, text: str) -> int:
        d = where[kind]
        if text not in d:
            d[text] = len(lookups[kind])
            lookups[kind].append(_esc(text))
        return d[text]

    rows = []
    cols = pts[["lat", "lon", "radius", "agency", "tooltip", "building_type", "recommendation", "score",
                "estimated_fields", "illustrative"]]
    for (lat, lon, radius, agency, tip, btype, rec, score, est, ill), key in zip(
            cols.itertuples(index=False, name=None), style_of.loc[pts.index], strict=True):
        colour = palette.get(agency, "#7F7F7F")
        k = (colour, key)
        if k not in index:
            st = {"fillColor": colour, "color": colour, "weight": 1, "opacity": 1, "fillOpacity": 0.85}
            st.update(style_table.get(key, {}))
            index[k] = len(styles)
            styles.append(st)
        popup = 0
        if popups:
            popup = [look("types", str(btype).replace("_", " ")), look("recs", str(rec)),
                     -1 if pd.isna(score) else round(float(score)), look("ests", str(est or "").replace(";", ", ")),
                     1 if ill else 0]
        rows.append([round(float(lat), 5), round(float(lon), 5), int(radius), index[k], _esc(tip), popup])
    return rows, styles, lookups


def _swatch(fill, edge="#ffffff", dash="", weight=1.0, fill_opacity=0.85, size=11) -> str:
    border = f"{max(1, round(weight))}px {'dashed' if dash else 'solid'} {edge}"
    return (f'<span style="display:inline-block;width:{size}px;height:{size}px;border-radius:50%;'
            f'background:{fill};opacity:{1 if fill_opacity > 0.5 else 0.5};border:{border};'
            f'vertical-align:middle;margin-right:3px"></span>')


def legend_html(palette: dict[str, str], edges: dict[str, str], edge_styles: dict[str, dict],
                title: str = "Sites", extra: str = "") -> str:
    """A compact legend (a ``<details>`` box the user can fold away): agency colours, edge
    styles, size classes and any ``extra`` HTML."""
    agencies = " ".join(f'<span style="white-space:nowrap">{_swatch(c)}{_esc(a)}</span>'
                        for a, c in palette.items())
    lines = [agencies]
    for key, words in edges.items():
        stl = edge_styles.get(key, {})
        lines.append(_swatch(stl.get("fillColor", "#bbbbbb"), stl.get("color", "#bbbbbb"), stl.get("dashArray", ""),
                             stl.get("weight", 1), stl.get("fillOpacity", 0.85)) + _esc(words))
    sizes = size_legend()
    lines.append("Floor area " + " ".join(_swatch("#999999", size=2 * r) for _, r in sizes)
                 + f" {_esc(sizes[0][0])} to {_esc(sizes[-1][0])}")
    if extra:
        lines.append(extra)
    return (f'<details open><summary style="cursor:pointer"><b>{_esc(title)}</b></summary>'
            f'<div style="max-width:270px">{"<br>".join(lines)}</div></details>')


def population_legend_html(entries: list[tuple[str, str]]) -> str:
    if not entries:
        return ""
    boxes = "".join(f'<span title="{_esc(t)}" style="display:inline-block;width:18px;height:10px;'
                    f'background:{c};border:1px solid #999"></span>' for c, t in entries)
    lo = entries[0][1].split("-")[0]
    hi = entries[-1][1].split("-")[-1]
    return f"Population layer {boxes} {_esc(lo)} to {_esc(hi)}"


# --------------------------------------------------------------------------- areas

def area_features(boundaries, level: str, populations: dict[str, float] | None = None,
                  tolerance_m: float = 8.0) -> tuple[dict, pd.DataFrame]:
    """The areas of one level as a WGS84 GeoJSON FeatureCollection (simplified by
    ``tolerance_m`` metres in EPSG:27700, coordinates to 5 decimals), and a table of them
    (code, name, population, area_ha, residents_per_ha)."""
    import json

    import shapely

    b = boundaries[boundaries["level"].astype("string") == level]
    if len(b) == 0:
        return {"type": "FeatureCollection", "features": []}, pd.DataFrame(
            columns=["code", "name", "population", "area_ha", "residents_per_ha"])
    b = b.to_crs("EPSG:27700") if b.crs is not None and b.crs.to_epsg() != 27700 else b
    geom = shapely.simplify(b.geometry.to_numpy(), tolerance_m, preserve_topology=True)
    area_ha = shapely.area(b.geometry.to_numpy()) / 10_000.0
    code = b["code"].astype("string").fillna("").to_numpy(dtype=object)
    pop = pd.to_numeric(b["population"], errors="coerce").to_numpy(dtype=float) if "population" in b else \
        np.full(len(b), np.nan)
    if populations:
        pop = np.array([populations.get(c, p) for c, p in zip(code, pop, strict=True)], dtype=float)
    table = pd.DataFrame({"code": code, "name": b["name"].astype("string").fillna("").to_numpy(dtype=object),
                          "population": pop, "area_ha": area_ha})
    table["residents_per_ha"] = table["population"] / table["area_ha"].where(table["area_ha"] > 0)
    import geopandas as gpd

    wgs = gpd.GeoSeries(geom, crs="EPSG:27700").to_crs("EPSG:4326")
    wgs = shapely.set_precision(wgs.to_numpy(), 1e-5)
    features = []
    for g, row in zip(wgs, table.itertuples(index=False), strict=True):
        if g is None or g.is_empty:
            continue
        features.append({"type": "Feature", "properties": {"code": row.code, "name": row.name},
                         "geometry": json.loads(shapely.to_geojson(g))})
    return {"type": "FeatureCollection", "features": features}, table


def style_areas(collection: dict, table: pd.DataFrame, label: str, fill_by_density: bool = False
                ) -> tuple[dict, list[dict], list[tuple[str, str]]]:
    """Tooltips and styles for an ``AreaLayer``; with ``fill_by_density`` the areas are filled
    in five quantile classes of residents per hectare (returned as legend entries)."""
    by_code = table.set_index("code")
    line = {"color": "#444444", "weight": 1, "opacity": 0.7, "fill": False}
    styles: list[dict] = [line]
    legend: list[tuple[str, str]] = []
    cls = pd.Series(0, index=by_code.index)
    if fill_by_density:
        dens = by_code["residents_per_ha"]
        known = dens.dropna()
        if len(known):
            qs = np.unique(np.quantile(known, [0.2, 0.4, 0.6, 0.8]))
            cls = pd.Series(np.searchsorted(qs, dens.fillna(-1).to_numpy(), side="right"), index=by_code.index)
            cls[dens.isna().to_numpy()] = -1
            edges = [known.min(), *qs, known.max()]
            styles = [{"color": "#666666", "weight": 0.5, "opacity": 0.6, "fillColor": c, "fillOpacity": 0.55}
                      for c in POPULATION_COLOURS[:len(edges) - 1]]
            styles.append({"color": "#666666", "weight": 0.5, "fillColor": "#dddddd", "fillOpacity": 0.3})
            for k in range(len(edges) - 1):
                legend.append((POPULATION_COLOURS[k], f"{edges[k]:,.0f}-{edges[k + 1]:,.0f} residents/ha"))
    feats = []
    for f in collection["features"]:
        p = f["properties"]
        row = by_code.loc[p["code"]] if p["code"] in by_code.index else None
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        tip = f"{label}: {p['name']} ({p['code']})"
        if row is not None and pd.notna(row["population"]):
            tip += f" · {row['population']:,.0f} residents"
            if pd.notna(row["residents_per_ha"]):
                tip += f", {row['residents_per_ha']:,.1f}/ha"
        k = int(cls.get(p["code"], 0)) if fill_by_density else 0
        if isinstance(k, pd.Series):
            k = int(k.iloc[0])
        s = (len(styles) - 1) if (fill_by_density and k < 0) else k
        feats.append({**f, "properties": {"s": s, "t": html.escape(tip)}})
    return {"type": "FeatureCollection", "features": feats}, styles, legend


# --------------------------------------------------------------------------- plan (results)

def plan_rows(sites_layer, moves_layer, palette: dict[str, str]) -> tuple[list, list[dict], list, list[dict]]:
    """Rows of the Results map from ``planner.export.plan_layers``: sites by decision (kept,
    kept and taking services in, disposed) and one line per moved service."""
    s = pd.DataFrame(sites_layer.drop(columns="geometry"))
    lat, lon = to_latlon(s["easting"], s["northing"])
    incoming = set()
    if len(moves_layer):
        incoming = set(moves_layer["to_site_id"].astype(str))
    styles: list[dict] = []
    index: dict[tuple, int] = {}
    rows = []
    radius = marker_radius(s["gia_m2"].where(s["gia_m2"].notna(), s["capacity_m2"]))
    for i, r in enumerate(s.itertuples(index=False)):
        if np.isnan(lat[i]):
            continue
        kind = "dispose" if r.decision == "dispose" else ("hub" if str(r.site_id) in incoming else "keep")
        colour = palette.get(str(r.agency), "#7F7F7F")
        k = (colour, kind)
        if k not in index:
            stl = {"fillColor": colour, "color": colour, "weight": 1, "opacity": 1, "fillOpacity": 0.85}
            stl.update(DECISION_STYLES[kind])
            if kind == "dispose":
                stl["color"] = colour
            index[k] = len(styles)
            styles.append(stl)
        words = {"dispose": "disposed", "hub": "kept, takes services in", "keep": "kept"}[kind]
        sale = getattr(r, "sale_financial_year", None)
        popup = [f"<b>{_esc(r.name or r.site_id)}</b>", f"{_esc(r.agency)} &middot; {_esc(r.site_id)}",
                 f"<b>{words}</b>"]
        if kind == "dispose":
            if isinstance(sale, str) and sale:
                popup.append(f"sold in {_esc(sale)}")
            if pd.notna(getattr(r, "gross_receipt_gbp", np.nan)):
                popup.append(f"receipt £{float(r.gross_receipt_gbp):,.0f}")
        rows.append([round(float(lat[i]), 6), round(float(lon[i]), 6), int(radius[i]), index[k],
                     _esc(f"{site_tooltip(r.name, r.agency, r.site_id)}: {words}"), "<br>".join(popup)])
    lrows, lstyles = [], []
    lindex: dict[str, int] = {}
    if len(moves_layer):
        m = moves_layer[moves_layer.geometry.notna() & ~moves_layer.geometry.is_empty]
        if len(m):
            m4326 = m.to_crs("EPSG:4326")
            for r, g in zip(m.itertuples(index=False), m4326.geometry, strict=True):
                (x1, y1), (x2, y2) = next(iter(g.coords)), list(g.coords)[-1]
                colour = palette.get(str(r.service_agency), "#7F7F7F")
                if colour not in lindex:
                    lindex[colour] = len(lstyles)
                    lstyles.append({"color": colour, "weight": 2.5, "opacity": 0.85, "dashArray": "6 4"})
                dist = "" if pd.isna(r.distance_m) else f", {float(r.distance_m) / 1000:,.1f} km"
                tip = (f"{r.service_name or r.service_id} ({r.service_agency}): {r.from_site_id or 'new'} "
                       f"to {r.to_site_id}{dist}")
                lrows.append([round(y1, 6), round(x1, 6), round(y2, 6), round(x2, 6), lindex[colour], _esc(tip)])
    return rows, styles, lrows, lstyles


def view_bounds(rows: list, trim: float = 0.01) -> list | None:
    """[[south, west], [north, east]] of point rows, leaving out the outermost ``trim`` share at
    each side when there are many points (one mislocated record must not shrink the map)."""
    if not rows:
        return None
    lat = np.array([r[0] for r in rows], dtype=float)
    lon = np.array([r[1] for r in rows], dtype=float)
    q = (trim, 1 - trim) if len(rows) >= 50 else (0.0, 1.0)
    s, n = np.quantile(lat, q)
    w, e = np.quantile(lon, q)
    return [[round(float(s), 6), round(float(w), 6)], [round(float(n), 6), round(float(e), 6)]]


def centre_of(points_lat, points_lon) -> tuple[float | None, float | None]:
    lat = np.asarray(points_lat, dtype=float)
    lon = np.asarray(points_lon, dtype=float)
    ok = ~np.isnan(lat) & ~np.isnan(lon)
    if not ok.any():
        return None, None
    return float(np.median(lat[ok])), float(np.median(lon[ok]))
