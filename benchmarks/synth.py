"""A seeded synthetic place: sites of four agencies, their services and demand zones.

``make_place(n_sites, seed)`` returns canonical ``sites``, ``services`` and ``zones`` frames
(``planner.schema`` columns) in a realistic British National Grid box (about the size of
Greater Manchester and Cheshire); ``write_transparency_csv`` writes sites as a Local
Government Transparency Code "land and building assets" file (the columns of Trafford's
return), one file per agency, for ``planner import``.

Only numpy's ``Generator`` with an explicit seed is used, so the same seed gives the same
place. Run it to write files: ``python benchmarks/synth.py 100000 OUTDIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

AGENCIES = ("council", "nhs", "police", "fire")
AGENCY_SHARE = (0.70, 0.15, 0.08, 0.07)
PREFIX = {"council": "TMBC", "nhs": "RXX", "police": "POL", "fire": "FRS"}
BOX_E = (340_000.0, 420_000.0)  # metres, EPSG:27700
BOX_N = (360_000.0, 420_000.0)
TYPES = {
    "council": ("office", "library", "leisure", "community", "depot", "education", "other"),
    "nhs": ("gp", "hospital", "office", "community"),
    "police": ("police_station", "office"),
    "fire": ("fire_station",),
}
TENURE_DETAIL = ("Owner Occupied", "Vacant", "Leasehold Out", "Other")
ENERGY = ("", "", "", "B", "C", "D", "E", "F", "G")
STREETS = ("High Street", "Station Road", "Church Lane", "Park Road", "Market Street", "Moss Lane")
TOWNS = ("Altrincham", "Sale", "Stretford", "Urmston", "Partington", "Hale")
TRANSPARENCY_COLUMNS = [
    "OrganisationLabel", "OrganisationURI", "EffectiveDate", "UPRN", "AssetCode", "PropertyName",
    "StreetNumber", "StreetName", "PostTown", "PostCode", "CoordinateReferenceSystem", "GeoX", "GeoY",
    "TenureType", "TenureDetail", "OtherDetail", "HoldingType", "BuildingSize", "LandArea", "EnergyRating",
]


def make_place(n_sites: int, seed: int = 0, services_per_site: float = 1.5,
               people_per_zone: int = 1_600, faults: float = 0.0) -> dict[str, pd.DataFrame]:
    """Sites, services and zones of a synthetic place (canonical columns). ``faults``: the
    share of sites given a typical data problem, in three equal parts: a negative floor area,
    the id of another site, or no coordinates (to be placed from the postcode, or not)."""
    rng = np.random.default_rng(seed)
    agency = rng.choice(np.array(AGENCIES, dtype=object), size=n_sites, p=AGENCY_SHARE)
    # clustered around a few town centres, like a real place
    centres = np.column_stack([rng.uniform(*BOX_E, size=12), rng.uniform(*BOX_N, size=12)])
    which = rng.integers(0, len(centres), size=n_sites)
    e = np.clip(centres[which, 0] + rng.normal(0, 4_000, n_sites), *BOX_E).round(1)
    n = np.clip(centres[which, 1] + rng.normal(0, 4_000, n_sites), *BOX_N).round(1)
    gia = np.exp(rng.normal(np.log(600), 1.0, n_sites)).round(1)
    gia = np.clip(gia, 10, 60_000)
    btype = np.array([TYPES[a][k % len(TYPES[a])] for a, k in zip(agency, rng.integers(0, 100, n_sites), strict=True)],
                     dtype=object)
    counter = pd.Series(agency).groupby(agency).cumcount().to_numpy() + 1
    site_id = np.array([f"{PREFIX[a]}{k:06d}" for a, k in zip(agency, counter, strict=True)], dtype=object)
    uprn = np.array([f"{v:012d}" for v in rng.integers(10_000_000, 100_000_000_000, n_sites)], dtype=object)
    tenure_detail = rng.choice(np.array(TENURE_DETAIL, dtype=object), n_sites, p=(0.5, 0.15, 0.2, 0.15))
    sites = pd.DataFrame({
        "site_id": site_id,
        "name": [f"{t.replace('_', ' ').title()} {k}" for t, k in zip(btype, counter, strict=True)],
        "address": [f"{rng_n} {s}" for rng_n, s in zip(rng.integers(1, 300, n_sites), rng.choice(STREETS, n_sites), strict=True)],
        "postcode": [f"M{d} {k}{a}{b}" for d, k, a, b in zip(rng.integers(1, 45, n_sites), rng.integers(1, 10, n_sites),
                                                            rng.choice(list("ABDEFGHJLN"), n_sites),
                                                            rng.choice(list("PQRSTUWXYZ"), n_sites), strict=True)],
        "uprn": uprn,
        "agency": agency,
        "building_type": btype,
        "holding_type": "Buildings",
        "tenure": np.where(rng.random(n_sites) < 0.9, "freehold", "leasehold"),
        "tenure_detail": tenure_detail,
        "gia_m2": gia,
        "capacity_m2": (gia * 0.8).round(1),
        "running_cost_gbp": (gia * rng.uniform(60, 250, n_sites)).round(0),
        "market_value_gbp": (gia * rng.uniform(500, 2_500, n_sites)).round(-3),
        "backlog_gbp": (gia * rng.uniform(0, 300, n_sites)).round(0),
        "energy_rating": rng.choice(np.array(ENERGY, dtype=object), n_sites),
        "easting": e,
        "northing": n,
    })
    if faults > 0:
        bad = rng.choice(n_sites, size=round(faults * n_sites), replace=False)
        parts = np.array_split(bad, 3)
        sites.loc[parts[0], "gia_m2"] = -sites.loc[parts[0], "gia_m2"]
        sites.loc[parts[0], "capacity_m2"] = np.nan
        donors = rng.integers(0, n_sites, len(parts[1]))
        sites.loc[parts[1], "site_id"] = sites["site_id"].to_numpy()[donors]
        sites.loc[parts[2], ["easting", "northing"]] = np.nan
        site_id = sites["site_id"].to_numpy()
    # services: occupants filling part of each site's capacity
    k = rng.poisson(services_per_site, n_sites).clip(0, 5)
    sv_site = np.repeat(np.arange(n_sites), k)
    share = rng.uniform(0.1, 0.5, len(sv_site))
    total = np.bincount(sv_site, weights=share, minlength=n_sites)
    share = share / np.maximum(1.0, total[sv_site] / 0.95)  # the services fit their site
    services = pd.DataFrame({
        "service_id": [f"S{i:07d}" for i in range(len(sv_site))],
        "site_id": site_id[sv_site],
        "agency": agency[sv_site],
        "service_type": btype[sv_site],
        "space_m2": (sites["capacity_m2"].to_numpy()[sv_site] * share).round(1),
        "fte": rng.integers(0, 60, len(sv_site)).astype(float),
        "movable": rng.random(len(sv_site)) < 0.9,
    })
    n_zones = max(1, n_sites // 10)
    zones = pd.DataFrame({
        "zone_id": [f"E0{i:07d}" for i in range(n_zones)],
        "name": [f"Zone {i}" for i in range(n_zones)],
        "population": rng.integers(people_per_zone // 2, people_per_zone * 3 // 2, n_zones).astype(float),
        "easting": rng.uniform(*BOX_E, n_zones).round(1),
        "northing": rng.uniform(*BOX_N, n_zones).round(1),
    })
    return {"sites": sites, "services": services, "zones": zones}


def transparency_frame(sites: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Sites in the Transparency Code's columns (coordinates as WGS84 lon/lat for about half
    the rows, as councils publish them, and BNG metres for the rest)."""
    from planner.geo import bng_to_wgs84

    rng = np.random.default_rng(seed)
    n = len(sites)
    lon, lat = bng_to_wgs84(sites["easting"].to_numpy(float, na_value=np.nan),
                            sites["northing"].to_numpy(float, na_value=np.nan))
    wgs = rng.random(n) < 0.5
    lon, lat = np.where(np.isfinite(lon), lon, np.nan), np.where(np.isfinite(lat), lat, np.nan)
    x = np.where(wgs, np.round(lon, 7), sites["easting"].to_numpy(float, na_value=np.nan))
    y = np.where(wgs, np.round(lat, 7), sites["northing"].to_numpy(float, na_value=np.nan))
    address = sites["address"].astype(str).str.split(" ", n=1, expand=True)
    return pd.DataFrame({
        "OrganisationLabel": sites["agency"].astype(str).str.title() + " body",
        "OrganisationURI": "https://example.org/" + sites["agency"].astype(str),
        "EffectiveDate": "2025-03-31",
        "UPRN": sites["uprn"],
        "AssetCode": sites["site_id"],
        "PropertyName": sites["name"],
        "StreetNumber": address[0],
        "StreetName": address[1],
        "PostTown": rng.choice(np.array(TOWNS, dtype=object), n),
        "PostCode": sites["postcode"],
        "CoordinateReferenceSystem": np.where(wgs, "WGS84", "OSGB36"),
        "GeoX": x,
        "GeoY": y,
        "TenureType": sites["tenure"].astype(str).str.title(),
        "TenureDetail": sites["tenure_detail"],
        "OtherDetail": sites["building_type"],
        "HoldingType": sites["holding_type"],
        "BuildingSize": sites["gia_m2"],
        "LandArea": np.round(rng.uniform(0.01, 3.0, n), 3),
        "EnergyRating": sites["energy_rating"],
    }, columns=TRANSPARENCY_COLUMNS)


def write_transparency_csv(sites: pd.DataFrame, folder: str | Path, seed: int = 0,
                           per_agency: bool = True) -> dict[str, Path]:
    """Transparency-Code CSVs in ``folder``: one per agency (``{agency: path}``), or with
    ``per_agency=False`` one file of every site (``{"all": path}``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = transparency_frame(sites, seed)
    if not per_agency:
        path = folder / "synthetic_assets.csv"
        frame.to_csv(path, index=False)
        return {"all": path}
    out = {}
    for a in AGENCIES:
        part = frame[sites["agency"].to_numpy() == a]
        if len(part) == 0:
            continue
        path = folder / f"synthetic_{a}_assets.csv"
        part.to_csv(path, index=False)
        out[a] = path
    return out


if __name__ == "__main__":  # pragma: no cover
    n_sites = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    folder = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("synthetic")
    place = make_place(n_sites, seed=1)
    paths = write_transparency_csv(place["sites"], folder, seed=1)
    place["services"].to_csv(folder / "synthetic_services.csv", index=False)
    place["zones"].to_csv(folder / "synthetic_zones.csv", index=False)
    for a, p in paths.items():
        print(f"{a}: {p}")
