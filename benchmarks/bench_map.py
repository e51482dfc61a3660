"""How fast the Map page draws a large place in a real browser.

A synthetic register (``benchmarks/synth.py``: sites of four agencies, their services and
zones, seeded) of 5,000 sites (and smaller ones for scale) is opened in the app, served by
``streamlit run`` on 127.0.0.1, and loaded in Debian's chromium (Playwright; never a
downloaded browser). Measured, per size:

- first draw: from navigation to the moment Leaflet has drawn every site marker (the map's
  container gets ``data-site-markers`` two animation frames after the markers were added), as
  the first visitor after the server starts: it includes the server's one-time work (importing
  the libraries, about 0.7 s, then reading, scoring and placing the register) and an empty
  browser cache;
- warm draw: the same, again, on the running server (a new browser tab; caches warm);
- zoom and pan: from ``setZoom``/``panBy`` to the redrawn canvas (no message to the server);
- the markers Leaflet holds, checked against the number of sites.

Target (issue 6): a place of 5,000 sites draws in under 3 s in the browser.

    python benchmarks/bench_map.py [--sizes 5000,1000] [--runs 3]

prints a table and writes benchmarks/results/map.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from tests.test_app_support import (  # noqa: E402
    CHROMIUM,
    launch_chromium,
    make_boundaries,
    streamlit_server,
)

FRAME = "iframe[title='streamlit_folium.st_folium']"
TARGET_S = 3.0


def build_register(n_sites: int, folder: Path) -> Path:
    import synth

    from planner.register import Register

    place = synth.make_place(n_sites, seed=11)
    sites = place["sites"].assign(located=True, in_analysis=True)
    path = folder / f"synthetic_{n_sites}.gpkg"
    Register.from_frames(sites, place["services"], place["zones"], make_boundaries()).save(path)
    return path


def draw_once(browser, base: str, n_expected: int) -> dict:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(120_000)
    t0 = time.perf_counter()
    page.goto(base + "/")
    box = page.frame_locator(FRAME).locator(".leaflet-container[data-site-markers]")
    box.wait_for()
    drawn_s = time.perf_counter() - t0
    count = int(box.get_attribute("data-site-markers"))
    frame = next(f for f in page.frames if "st_folium" in f.url)
    held = frame.evaluate("() => Object.values(window.map._layers).filter(l => l instanceof L.CircleMarker "
                          "&& l.getTooltip && l.getTooltip()).length")
    zoom_ms = frame.evaluate("""() => new Promise(done => {
        const t = performance.now();
        window.map.once('moveend', () => requestAnimationFrame(() => requestAnimationFrame(
            () => done(performance.now() - t))));
        window.map.setZoom(window.map.getZoom() + 1, {animate: false}); })""")
    pan_ms = frame.evaluate("""() => new Promise(done => {
        const t = performance.now();
        window.map.once('moveend', () => requestAnimationFrame(() => requestAnimationFrame(
            () => done(performance.now() - t))));
        window.map.panBy([250, 120], {animate: false}); })""")
    page.close()
    if count != n_expected or held != n_expected:
        raise AssertionError(f"expected {n_expected} markers, the map reports {count} and Leaflet holds {held}")
    return {"drawn_s": drawn_s, "zoom_ms": zoom_ms, "pan_ms": pan_ms, "markers": held}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="5000,1000", help="numbers of sites, comma separated")
    ap.add_argument("--runs", type=int, default=3, help="warm draws per size")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "map.md"))
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"error: Debian's chromium is not at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp, sync_playwright() as pw:
        browser = launch_chromium(pw)
        for n in sizes:
            t = time.perf_counter()
            reg = build_register(n, Path(tmp))
            build_s = time.perf_counter() - t
            with streamlit_server(reg, timeout_s=120) as base:
                cold = draw_once(browser, base, n)
                warm = [draw_once(browser, base, n) for _ in range(args.runs)]
            rows.append({"sites": n, "build_s": build_s, "cold_s": cold["drawn_s"],
                         "warm_s": statistics.median(w["drawn_s"] for w in warm),
                         "warm_max_s": max(w["drawn_s"] for w in warm),
                         "zoom_ms": statistics.median(w["zoom_ms"] for w in warm),
                         "pan_ms": statistics.median(w["pan_ms"] for w in warm),
                         "markers": warm[-1]["markers"]})
            r = rows[-1]
            print(f"{n:>6,} sites: first draw {r['cold_s']:.2f} s, warm {r['warm_s']:.2f} s "
                  f"(max {r['warm_max_s']:.2f}), zoom {r['zoom_ms']:.0f} ms, pan {r['pan_ms']:.0f} ms", flush=True)
        browser.close()

    import platform

    import streamlit

    head = ("| sites | first view after a server start s | warm draw, median s | warm draw, max s | "
            "zoom redraw ms | pan redraw ms | markers drawn | under 3 s: warm / first view |")
    lines = ["# Map page: time to draw every site in chromium", "",
             "Navigation to the Map page until Leaflet has drawn every site marker on the canvas (the map "
             "container's `data-site-markers` attribute, set two animation frames after the markers were "
             "added). First view: the first visitor after the server starts (the server's one-time work: importing "
             "the libraries, then reading, scoring and placing the register; an empty browser cache). Warm: any "
             "later view (a new tab each time) on the running server. Synthetic registers from `benchmarks/synth.py` (seed 11) with 4 wards and "
             "16 LSOAs; no tiles (`PLANNER_TILES=none`).", "",
             f"Machine: {platform.machine()}, Python {platform.python_version()}, Streamlit {streamlit.__version__}, "
             f"Debian chromium (headless). Target: under {TARGET_S:g} s for 5,000 sites.", "", head,
             "|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in rows:
        ok = (f"{'yes' if r['warm_max_s'] < TARGET_S else 'no'} / "
              f"{'yes' if r['cold_s'] < TARGET_S else 'no'}")
        lines.append(f"| {r['sites']:,} | {r['cold_s']:.2f} | {r['warm_s']:.2f} | {r['warm_max_s']:.2f} | "
                     f"{r['zoom_ms']:.0f} | {r['pan_ms']:.0f} | {r['markers']:,} | {ok} |")
    lines += ["", "Run: `python benchmarks/bench_map.py` (needs /usr/bin/chromium).", ""]
    text = "\n".join(lines)
    print()
    print(text)
    from planner.problems import write_text_atomic

    write_text_atomic(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
