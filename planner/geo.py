"""Coordinates: decide what GeoX/GeoY hold, convert to British National Grid, check bounds.

All distances in the planner are computed in EPSG:27700 metres. WGS84 lon/lat are converted
with pyproj (always_xy). Classification is vectorised and per row, so a file that mixes
systems, or has a few rows with lat and lon swapped, is read correctly and each decision is
reported.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from pyproj import Transformer

from planner.schema import CRS_BNG, CRS_WGS84

# Great Britain (with its islands) in each system; generous but excludes obvious errors.
GB_LON = (-8.75, 1.85)
GB_LAT = (49.8, 60.95)
GB_EASTING = (0.0, 700_000.0)
GB_NORTHING = (0.0, 1_300_000.0)

# Labels returned by classify_xy
BNG = "bng"
WGS84 = "wgs84"
WGS84_SWAPPED = "wgs84_swapped"  # x holds latitude, y holds longitude
MISSING = "missing"
OUTSIDE = "outside_gb"


@lru_cache(maxsize=4)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def wgs84_to_bng(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised lon/lat (EPSG:4326) to easting/northing (EPSG:27700) in metres."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    e, n = _transformer(CRS_WGS84, CRS_BNG).transform(lon, lat)
    return np.asarray(e, dtype=float), np.asarray(n, dtype=float)


def bng_to_wgs84(easting, northing) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised easting/northing (EPSG:27700) to lon/lat (EPSG:4326)."""
    e = np.asarray(easting, dtype=float)
    n = np.asarray(northing, dtype=float)
    lon, lat = _transformer(CRS_BNG, CRS_WGS84).transform(e, n)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _between(v: np.ndarray, lo_hi: tuple[float, float]) -> np.ndarray:
    return (v >= lo_hi[0]) & (v <= lo_hi[1])


def classify_xy(x, y) -> np.ndarray:
    """Label each (x, y) pair by the values alone: bng, wgs84, wgs84_swapped, missing or
    outside_gb. ``x`` is the column a file calls X/easting/longitude."""
    x = np.asarray(pd.to_numeric(pd.Series(x), errors="coerce"), dtype=float)
    y = np.asarray(pd.to_numeric(pd.Series(y), errors="coerce"), dtype=float)
    out = np.full(x.shape, OUTSIDE, dtype=object)
    missing = np.isnan(x) | np.isnan(y) | ((x == 0) & (y == 0))
    wgs = _between(x, GB_LON) & _between(y, GB_LAT)
    swapped = _between(y, GB_LON) & _between(x, GB_LAT)
    # BNG needs values clearly beyond degree ranges: at least 1,000 m on both axes
    bng = _between(x, GB_EASTING) & _between(y, GB_NORTHING) & (x > 1000) & (y > 1000)
    out[bng] = BNG
    out[swapped] = WGS84_SWAPPED
    out[wgs] = WGS84
    out[missing] = MISSING
    return out


def to_bng(x, y, labels=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Easting, northing and label for each (x, y), converting WGS84 (swapped or not).
    Rows labelled missing or outside_gb get NaN."""
    x = np.asarray(pd.to_numeric(pd.Series(x), errors="coerce"), dtype=float)
    y = np.asarray(pd.to_numeric(pd.Series(y), errors="coerce"), dtype=float)
    labels = classify_xy(x, y) if labels is None else np.asarray(labels, dtype=object)
    e = np.full(x.shape, np.nan)
    n = np.full(x.shape, np.nan)
    m = labels == BNG
    e[m], n[m] = x[m], y[m]
    m = labels == WGS84
    if m.any():
        e[m], n[m] = wgs84_to_bng(x[m], y[m])
    m = labels == WGS84_SWAPPED
    if m.any():
        e[m], n[m] = wgs84_to_bng(y[m], x[m])
    return e, n, labels


def inside_gb_bng(easting, northing) -> np.ndarray:
    e = np.asarray(easting, dtype=float)
    n = np.asarray(northing, dtype=float)
    return _between(e, GB_EASTING) & _between(n, GB_NORTHING) & ~np.isnan(e) & ~np.isnan(n)
