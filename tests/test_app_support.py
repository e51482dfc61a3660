"""Helpers for the app tests (no tests here): a small seeded register with boundaries, and a
running Streamlit server for the browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "test-output" / "screenshots"

AGENCIES = ("council", "nhs", "police", "fire")
TYPES = {"council": ("office", "library", "community"), "nhs": ("gp", "office"),
         "police": ("police_station",), "fire": ("fire_station",)}
E0, N0 = 376_000.0, 390_000.0  # south-west corner (Trafford-ish), EPSG:27700
SIDE_M = 8_000.0


def make_frames(n_sites: int = 24, seed: int = 7, spread_m: float = SIDE_M) -> dict[str, pd.DataFrame]:
    """Sites of four agencies in an 8 km square, one or two services each, zones on a grid.
    Every value a test relies on is set here (no estimates except where marked)."""
    rng = np.random.default_rng(seed)
    agency = np.array([AGENCIES[i % 4] for i in range(n_sites)], dtype=object)
    e = (E0 + rng.uniform(0, spread_m, n_sites)).round(1)
    n = (N0 + rng.uniform(0, spread_m, n_sites)).round(1)
    gia = rng.uniform(300, 3_000, n_sites).round(0)
    btype = np.array([TYPES[a][i % len(TYPES[a])] for i, a in enumerate(agency)], dtype=object)
    sites = pd.DataFrame({
        "site_id": [f"S{i:03d}" for i in range(n_sites)],
        "name": [f"{t.replace('_', ' ').title()} {i}" for i, t in enumerate(btype)],
        "agency": agency,
        "building_type": btype,
        "holding_type": "Buildings",
        "tenure": np.where(np.arange(n_sites) % 5 == 4, "leasehold", "freehold"),
        "tenure_detail": np.where(np.arange(n_sites) % 7 == 3, "vacant", "owner occupied"),
        "gia_m2": gia,
        "capacity_m2": (gia * 0.8).round(1),
        "running_cost_gbp": (gia * rng.uniform(80, 200, n_sites)).round(0),
        "market_value_gbp": (gia * rng.uniform(800, 2_000, n_sites)).round(-3),
        "backlog_gbp": (gia * rng.uniform(0, 150, n_sites)).round(0),
        "condition": rng.choice(np.array(["A", "B", "C", "D"], dtype=object), n_sites),
        "easting": e,
        "northing": n,
        "located": True,
        "in_analysis": True,
        "illustrative": np.arange(n_sites) % 4 == 2,  # the police sites, as in the sample place
        "estimated_fields": np.where(np.arange(n_sites) % 3 == 0, "running_cost_gbp;market_value_gbp", ""),
        "source_file": "test_sites.csv",
        "source_row": np.arange(n_sites) + 2,
    })
    k = 1 + (np.arange(n_sites) % 2)
    sv_site = np.repeat(np.arange(n_sites), k)
    share = np.where(k[sv_site] == 1, 0.6, 0.3)
    services = pd.DataFrame({
        "service_id": [f"U{i:03d}" for i in range(len(sv_site))],
        "site_id": sites["site_id"].to_numpy()[sv_site],
        "agency": agency[sv_site],
        "service_type": btype[sv_site],
        "name": [f"Service {i}" for i in range(len(sv_site))],
        "space_m2": (sites["capacity_m2"].to_numpy()[sv_site] * share).round(1),
        "fte": rng.integers(2, 40, len(sv_site)).astype(float),
        "movable": True,
        "in_analysis": True,
        "source_file": "test_services.csv",
        "source_row": np.arange(len(sv_site)) + 2,
    })
    zx, zy = np.meshgrid(np.arange(4) + 0.5, np.arange(4) + 0.5)
    zones = pd.DataFrame({
        "zone_id": [f"L{i:02d}" for i in range(16)],
        "name": [f"LSOA {i}" for i in range(16)],
        "population": (1_500 + 100 * np.arange(16)).astype(float),
        "easting": E0 + zx.ravel() * SIDE_M / 4,
        "northing": N0 + zy.ravel() * SIDE_M / 4,
        "in_analysis": True,
    })
    return {"sites": sites, "services": services, "zones": zones}


def make_boundaries() -> gpd.GeoDataFrame:
    """A borough (the square), 4 wards (quarters) and 16 LSOAs (sixteenths) whose codes are the
    zones' ids, with the zones' population."""
    rows = []
    rows.append({"level": "borough", "code": "B1", "name": "Testborough", "population": None,
                 "geometry": shapely.box(E0, N0, E0 + SIDE_M, N0 + SIDE_M)})
    q = SIDE_M / 2
    for i in range(2):
        for j in range(2):
            rows.append({"level": "ward", "code": f"W{i}{j}", "name": f"Ward {i}{j}", "population": None,
                         "geometry": shapely.box(E0 + i * q, N0 + j * q, E0 + (i + 1) * q, N0 + (j + 1) * q)})
    s = SIDE_M / 4
    for k in range(16):
        x, y = k % 4, k // 4
        rows.append({"level": "lsoa", "code": f"L{k:02d}", "name": f"LSOA {k}", "population": 1_500.0 + 100 * k,
                     "geometry": shapely.box(E0 + x * s, N0 + y * s, E0 + (x + 1) * s, N0 + (y + 1) * s)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:27700")


def make_register(path: Path, n_sites: int = 24, seed: int = 7, spread_m: float = SIDE_M) -> Path:
    from planner.register import Register

    f = make_frames(n_sites, seed, spread_m)
    reg = Register.from_frames(f["sites"], f["services"], f["zones"], make_boundaries())
    reg.save(path)
    return path


# --------------------------------------------------------------------------- a live server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(register: Path, env_extra: dict | None = None, timeout_s: float = 60.0):
    """Run ``streamlit run streamlit_app.py`` on a free port of 127.0.0.1 with ``register``;
    yield its base URL; stop it (and only it) at the end."""
    port = free_port()
    env = {**os.environ, "PLANNER_REGISTER": str(register), "PLANNER_TILES": "none", **(env_extra or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"),
           "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = open(register.parent / f"streamlit-{port}.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start within {timeout_s:.0f} s; see {log.name}")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
