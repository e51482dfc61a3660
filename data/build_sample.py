#!/usr/bin/env python3
"""Build the sample place, Trafford, from the open data in data/sources/ (see data/README.md).

    python data/build_sample.py [--out data/trafford.gpkg] [--quiet] [--force] [--print-readme]

The register is a GeoPackage written with ``planner.register.Register`` (atomically). The
build is skipped when the output exists and its stamp (``<out>.stamp``: the sha256 of this
script, the estimates, the planner modules it uses and every file in data/sources) matches,
so ``./run setup`` / ``./run test`` cost nothing when nothing changed. ``--force`` rebuilds.
The same inputs always give the same tables (nothing random; ids and order are fixed).

What goes in (every record keeps its ``source_file``/``source_row``; every estimated value is
named in ``estimated_fields``):

- council: all 608 rows of Trafford Council's Transparency Code asset register (land
  included), read by ``planner.readers.transparency``; building types refined by ``classify``;
- nhs: Trafford General Hospital (ERIC RW3TR) and the Trafford Hospital Site (RXV80), read
  by ``planner.readers.eric`` (real 2016/17 floor area, running costs and backlog), placed at
  the centroid of the OS footprints named Trafford General Hospital; the 26 GP practices
  (NHS Digital) as NHS sites, one per building (co-located practices share a site) unless
  the building is in the council's register;
- fire: the Home Office stations inside the borough boundary (point in polygon, EPSG:27700);
- police: a few ILLUSTRATIVE sites (no open list of Trafford's police buildings exists);
- dwp: the jobcentres in Trafford; voluntary: the council's community hubs (run by voluntary
  groups); education: a school-run leisure centre; libraries and leisure centres of the
  service lists are linked to the register rows they duplicate, not added twice;
- zones: the 139 LSOAs with mid-2024 population at approximate population-weighted centroids;
- boundaries: borough, wards, LSOAs and localities (EPSG:27700).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from planner import geo  # noqa: E402
from planner.errors import InputFileError, PlannerError  # noqa: E402
from planner.estimates import (  # noqa: E402
    Estimates,
    fill_service_estimates,
    fill_site_estimates,
    is_building,
    load_estimates,
)
from planner.postcodes import PostcodeTable, normalise_postcode  # noqa: E402
from planner.problems import Problem, ProblemReport  # noqa: E402
from planner.readers.eric import read_eric  # noqa: E402
from planner.readers.fire import read_fire_stations  # noqa: E402
from planner.readers.transparency import read_transparency  # noqa: E402
from planner.register import Register, validate_tables  # noqa: E402
from planner.schema import CRS_BNG, NIA_TO_GIA, conform, is_estimated, mark_estimated  # noqa: E402

DATA = ROOT / "data"
SOURCES = DATA / "sources"
DEFAULT_OUT = DATA / "trafford.gpkg"
ESTIMATES = DATA / "estimates.toml"
BUILDER = "build_sample.py"

FILES = {
    "assets": "trafford_land_and_building_assets.csv",
    "eric": "ERIC_2016-17_site_data.csv",
    "fire": "fire-stations-dataset.csv",
    "fire_footprints": "trafford_fire_stations.geojson",
    "hospitals": "trafford_hospitals.geojson",
    "gp": "trafford_general_practices.csv",
    "gp_patients": "trafford_gp_patient_registrations.csv",
    "libraries": "trafford_libraries.csv",
    "leisure": "trafford_leisure_centres.csv",
    "jobcentres": "gm_jobcentreplus.csv",
    "hubs": "trafford_community_hubs.csv",
    "postcodes": "trafford_postcodes.csv",
    "borough": "boundaries/local_authority_district.geojson",
    "wards": "boundaries/electoral_ward.geojson",
    "lsoa": "boundaries/lsoa.geojson",
    "localities": "boundaries/localities.geojson",
    "population": "population/mid-year_2024_population_estimates_lsoa.csv",
    "centroids": "population/trafford_lsoa21_approx_pop_weighted_centroids.csv",
}
# planner modules whose code shapes the output (part of the stamp)
CODE = ["planner/estimates.py", "planner/schema.py", "planner/geo.py", "planner/postcodes.py",
        "planner/problems.py", "planner/register.py", "planner/validate.py", "planner/readers/base.py",
        "planner/readers/transparency.py", "planner/readers/eric.py", "planner/readers/fire.py"]

TRAFFORD_CODE = "E08000009"
FOOTPRINT_RADIUS_M = 100.0  # OS fire-station footprints within this distance belong to a station

# Illustrative police sites: no open list of Trafford's police buildings exists. Each is put at
# the postcode of its town's library (a town-centre point), and says "(illustrative)".
POLICE_TOWNS = (("Altrincham", "WA14 1AH"), ("Sale", "M33 7ZF"), ("Stretford", "M32 8AP"),
                ("Urmston", "M41 0NA"), ("Partington", "M31 4FY"))


# --------------------------------------------------------------------------- stamp

def input_files() -> list[Path]:
    files = [Path(__file__).resolve(), ESTIMATES] + [ROOT / c for c in CODE]
    files += sorted(p for p in SOURCES.rglob("*") if p.is_file())
    return files


def compute_stamp() -> str:
    h = hashlib.sha256()
    for p in input_files():
        h.update(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p.name).encode())
        h.update(b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest() if p.exists() else b"missing")
    return h.hexdigest()


def stamp_path(out: Path) -> Path:
    return out.with_name(out.name + ".stamp")


def up_to_date(out: Path, stamp: str) -> bool:
    sp = stamp_path(out)
    return out.exists() and sp.exists() and sp.read_text(encoding="utf-8").strip() == stamp


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- helpers

def src(key: str) -> Path:
    return SOURCES / FILES[key]


def read_csv(key: str) -> pd.DataFrame:
    """A source CSV as text, with each record's spreadsheet row (header = 1) in ``_row``."""
    df = pd.read_csv(src(key), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    df = df.apply(lambda s: s.str.replace("\u00a0", " ").str.strip())
    df["_row"] = np.arange(2, len(df) + 2)
    return df


def trafford_postcodes() -> PostcodeTable:
    """Trafford's postcode centroids (ONSPD via Trafford Data Lab), lon/lat -> EPSG:27700."""
    df = pd.read_csv(src("postcodes"), dtype={"postcode": "string"}, usecols=["postcode", "lon", "lat"])
    e, n = geo.wgs84_to_bng(df["lon"].to_numpy(dtype=float), df["lat"].to_numpy(dtype=float))
    table = pd.DataFrame({"easting": np.round(e, 1), "northing": np.round(n, 1)},
                         index=df["postcode"].str.replace(r"\s+", "", regex=True).str.upper())
    table = table[~table.index.duplicated()]
    return PostcodeTable(table, f"Trafford postcode centroids (data/sources/{FILES['postcodes']})")


def read_geo(key: str) -> gpd.GeoDataFrame:
    return gpd.read_file(src(key)).to_crs(CRS_BNG)


_STOP = {"the", "of", "and", "at", "in", "for", "centre", "center", "road", "rd", "street", "st", "lane",
         "avenue", "library", "leisure", "sports", "sport", "village", "medical", "practice", "surgery",
         "building", "formerly", "former", "integrated", "with", "facility", "manchester"}


def stems(text: str) -> set[str]:
    """Words of a name for matching: lower case, 5-letter stems, common words dropped."""
    words = re.findall(r"[a-z]+", str(text).lower().replace("'", ""))
    return {w[:5] for w in words if len(w) >= 3 and w not in _STOP}


def street_address(text: str) -> str | None:
    """'91 Central Road' from an address: the first 'number street' part, normalised."""
    for part in str(text).split(","):
        m = re.match(r"\s*(\d+[a-z]?(?:\s*-\s*\d+[a-z]?)?)\s+([a-z][a-z' ]+)$", part.strip().lower())
        if m:
            street = re.sub(r"\brd\b", "road", re.sub(r"\bst\b", "street", m.group(2)))
            return f"{m.group(1).replace(' ', '')} {' '.join(street.split())}"
    return None


def outward(pc) -> str:
    p = normalise_postcode(pc) if isinstance(pc, str) else None
    return p.split(" ")[0] if p else ""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


# --------------------------------------------------------------------------- building types

# Rules tried in order on a building's PropertyName (whole register row, any case); the first
# that matches decides. Land holdings keep the reader's type (they hold no services).
TYPE_RULES: tuple[tuple[str, str], ...] = (
    ("cemetery", r"cemetery|crematorium"),
    ("library", r"^(?!.*\bformer\b).*\blibrar(?:y|ies)\b"),
    ("office", r"town hall|waterside|ascot house|civic"),
    ("care", r"care home|children'?s home|nursery|day centre|residential care"),
    ("leisure", r"^(?!.*\bformer\b).*(?:leisure|sports?\b|golf|stadium|tennis|athletics|\baltair\b|\bgym\b)"),
    ("commercial", r"grafton|\bmall\b|\bquarter\b|sainsbury|travelodge|trading estate|industrial estate|"
                   r"\bmarket\b|\bshops?\b|sonova|the fort|k site|rooftop"),
    ("park_building", r"allotments?|bowl(?:s|ing)|pavill?ion|changing rooms?|amenit|toilets?|shelter|"
                      r"pets corner|dove cote|\blodge\b|playing fields?|recreation|angling|pitch and putt|football club"),
    ("education", r"\bschools?\b(?!\s*r(?:oa)?d\b)|academy|college|\bpru\b|\bmes\b|wellacre"),
    ("residential", r"\bflat\b|\bhouse semi|bungalow|cottages?"),
    ("depot", r"\bstores?\b|garages?|container|\bshed\b|depot|\byard\b"),
    ("community", r"centre|assembly rooms|\bhall\b|youth|scouts|community|flixton house|coach house|\bclub\b"),
    ("commercial", r"^\d|\(\d|\b(?:road|rd|street|st|lane|avenue)\b"),
)
_TYPE_RES = tuple((t, re.compile(p, re.IGNORECASE)) for t, p in TYPE_RULES)
_PARK = re.compile(r"\bparks?\b|gardens", re.IGNORECASE)


def classify(name: str, other_detail: str, holding: str) -> str | None:
    """Building type of a council register row (None for a land holding)."""
    if holding == "Land":
        return None
    od = (other_detail or "").strip().lower()
    if od == "commissioned service":
        return "care"
    if od in ("school", "academy"):
        return "education"
    if od == "managed allotments":
        return "park_building"
    name = name or ""
    in_park = holding == "Land/Buildings" and bool(_PARK.search(name))
    for btype, rx in _TYPE_RES:
        if btype == "education" and in_park:
            return "park_building"
        if rx.search(name):
            return btype
    return "park_building" if in_park else "other"


def repeated_area_share(sites: pd.DataFrame) -> pd.Series:
    """Floor area per part where the register repeats one site's total on each of its parts
    (same BuildingSize, postcode district and first word of the name): the total / parts."""
    gia = pd.to_numeric(sites["gia_m2"], errors="coerce")
    first_word = sites["name"].astype("string").fillna("").str.lower().str.extract(r"([a-z]+)", expand=False).fillna("")
    key = gia.round(2).astype("string") + "|" + sites["postcode"].map(outward) + "|" + first_word
    has = gia.notna() & (gia > 0) & is_building(sites)
    n = key.where(has).map(key[has].value_counts()).fillna(1)
    return (gia / n).where(has & (n > 1))


# --------------------------------------------------------------------------- records

@dataclass
class Build:
    est: Estimates
    postcodes: PostcodeTable
    sites: list[pd.DataFrame] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    problems: ProblemReport = field(default_factory=ProblemReport)
    reader_problems: list[tuple[ProblemReport, str]] = field(default_factory=list)
    imports: list[dict] = field(default_factory=list)
    matches: list[dict] = field(default_factory=list)
    floor_area: dict[str, float] = field(default_factory=dict)  # site_id -> area the rates use

    def info(self, file: str, row, what: str, table: str = "sites", record_id: str | None = None,
             code: str = "sample_build") -> None:
        self.problems.add(Problem(file, row, None, None, what, "none needed; check that this is right",
                                  "info", table, record_id, code))

    def add_import(self, key: str, agency: str, reader: str, rows_read: int, rows_stored: int,
                   rows_unreadable: int = 0, note: str = "") -> None:
        path = src(key)
        self.imports.append({
            "agency": agency, "file": f"data/sources/{FILES[key]}", "sha256": sha256_file(path),
            "reader": reader, "rows_read": rows_read, "rows_stored": rows_stored,
            "rows_unreadable": rows_unreadable, "rows_not_used": rows_read - rows_stored - rows_unreadable,
            "note": note, "imported_at": "",
        })


def site_frame(records: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(records)
    if "estimated_fields" not in df.columns:
        df["estimated_fields"] = ""
    df["estimated_fields"] = df["estimated_fields"].fillna("")
    return conform(df, "sites")


def add_service(b: Build, site_id: str, agency: str, service_type: str, name: str, space_m2: float,
                source_file: str, source_row, role: str, illustrative: bool = False, estimated=("space_m2",)) -> dict:
    n = sum(1 for s in b.services if s["site_id"] == site_id and s["service_type"] == service_type)
    sid = f"{site_id}:{service_type}" + (f":{n + 1}" if n else "")
    rec = {"service_id": sid, "site_id": site_id, "agency": agency, "service_type": service_type, "name": name,
           "space_m2": round(float(space_m2), 1), "source_file": source_file, "source_row": source_row,
           "illustrative": illustrative, "estimated_fields": ";".join(estimated), "_role": role}
    b.services.append(rec)
    return rec


# --------------------------------------------------------------------------- council

def council_sites(b: Build) -> pd.DataFrame:
    res = read_transparency(src("assets"), agency="council", postcodes=b.postcodes)
    b.reader_problems.append((res.problems, "council"))
    b.add_import("assets", "council", "transparency", res.rows_read, res.rows_stored, res.rows_unreadable,
                 "Trafford Council's Transparency Code land and building assets: every row kept")
    sites = res.sites.copy()
    raw = read_csv("assets").set_index("_row")
    other = sites["source_row"].map(raw["OtherDetail"]).fillna("")
    refined = [classify(nm, od, hv) for nm, od, hv in
               zip(sites["name"].fillna(""), other, sites["holding_type"].fillna(""), strict=True)]
    sites["building_type"] = pd.array([r if r is not None else t for r, t in zip(refined, sites["building_type"], strict=True)],
                                      dtype="string")
    share = repeated_area_share(sites)
    for sid, area in zip(sites["site_id"], share, strict=True):
        if pd.notna(area):
            b.floor_area[sid] = float(area)
    return sites


# --------------------------------------------------------------------------- nhs

def hospital_point() -> tuple[float, float, float, int]:
    fp = read_geo("hospitals")
    tg = fp[fp["DISTNAME"].str.strip().str.lower() == "trafford general hospital"]
    c = tg.geometry.union_all().centroid
    return round(c.x, 1), round(c.y, 1), float(tg.geometry.area.sum()), len(tg)


def nhs_hospitals(b: Build) -> pd.DataFrame:
    x, y, area, n = hospital_point()
    locations = pd.DataFrame({"site_code": ["RW3TR", "RXV80"], "easting": [x, x], "northing": [y, y]})
    res = read_eric(src("eric"), agency="nhs", postcodes=b.postcodes, locations=locations)
    keep = res.sites[res.sites["site_id"].isin(["RW3TR", "RXV80"])].copy()
    b.reader_problems.append((_only(res.problems, set(keep["site_id"])), "nhs"))
    b.add_import("eric", "nhs", "eric", res.rows_read, len(keep), res.rows_unreadable,
                 "NHS ERIC 2016/17 site data: only RW3TR and RXV80 (Trafford) are used; aggregate rows unreadable")
    b.add_import("hospitals", "nhs", BUILDER, len(read_geo("hospitals")), 0, 0,
                 f"OS OpenMap Local hospital footprints: the {n} named Trafford General Hospital ({area:,.0f} m2 of "
                 "footprint) locate RW3TR and RXV80; no record stored")
    keep["location_source"] = "given"  # by the builder, from the OS footprints (an info problem says so)
    keep["name"] = keep["name"].str.title()
    keep["tenure"] = "freehold"
    keep["tenure_detail"] = "owner occupied"
    keep["holding_type"] = "Land/Buildings"
    keep = mark_estimated(keep, "tenure", pd.Series(True, index=keep.index))
    keep = mark_estimated(keep, "tenure_detail", pd.Series(True, index=keep.index))
    for sid in keep["site_id"]:
        b.info(FILES["eric"], int(keep.loc[keep["site_id"] == sid, "source_row"].iloc[0]),
               f"{sid} placed at the centroid of the {n} OS OpenMap Local footprints named Trafford General Hospital "
               "(ERIC has no location; RXV80 'Trafford Hospital Site' is on the same grounds); running costs and "
               "backlog are ERIC's 2016/17 figures", record_id=sid, code="located_from_footprints")
    return keep


def _only(report: ProblemReport, ids: set[str]) -> ProblemReport:
    """The problems of a report about the given records, plus file-level ones."""
    out = ProblemReport()
    for p in report:
        if (p.record_id is None and p.row is None) or p.record_id in ids:
            out.add(p)
    return out


def gp_sites(b: Build) -> pd.DataFrame:
    gp = read_csv("gp")
    reg = read_csv("gp_patients")
    gp["_key"] = gp["name"].str.lower() + "|" + gp["postcode"].map(normalise_postcode)
    reg["_key"] = reg["practice_name"].str.lower() + "|" + reg["practice_postcode"].map(normalise_postcode)
    joined = gp.merge(reg[["_key", "practice_code", "registered_patients", "_row"]], on="_key", how="left",
                      suffixes=("", "_reg"), validate="one_to_one")
    missing = joined["practice_code"].isna()
    for _, r in joined[missing].iterrows():
        b.problems.add(Problem(FILES["gp"], int(r["_row"]), "name", r["name"],
                               "no patient registrations for this practice (no row of the registrations file has its name and postcode)",
                               "check the practice's name and postcode in both files", "warning", "services", None, "gp_unjoined"))
    b.add_import("gp", "nhs", BUILDER, len(gp), int((~missing).sum()), 0,
                 "NHS Digital GP practices: one service per practice; co-located practices share a site")
    b.add_import("gp_patients", "nhs", BUILDER, len(reg), int(reg["_key"].isin(gp["_key"]).sum()), 0,
                 "registered patients joined to the practices on name and postcode")
    joined = joined[~missing].copy()
    joined["patients"] = pd.to_numeric(joined["registered_patients"], errors="coerce")
    joined["pc"] = joined["postcode"].map(normalise_postcode)
    joined = joined.sort_values(["pc", "practice_code"]).reset_index(drop=True)
    records = []
    for pc, grp in joined.groupby("pc", sort=True):
        first = grp.iloc[0]
        site_id = f"NHS-GP-{min(grp['practice_code'])}"
        if len(grp) == 1:
            name = first["name"]
        else:
            named = [p.split(",")[0].strip() for p in grp["address"] if not re.match(r"\s*\d", p.split(",")[0])]
            name = named[0] if named else " / ".join(grp["name"])
        e, n = geo.wgs84_to_bng([float(first["lon"])], [float(first["lat"])])
        records.append({
            "site_id": site_id, "name": name, "address": first["address"], "postcode": pc, "agency": "nhs",
            "occupier_agency": "nhs", "building_type": "gp", "holding_type": "Buildings", "tenure": "freehold",
            "tenure_detail": "owner occupied", "easting": round(float(e[0]), 1), "northing": round(float(n[0]), 1),
            "location_source": "published_wgs84", "located": True, "source_file": FILES["gp"],
            "source_row": int(first["_row"]), "illustrative": False,
            "estimated_fields": "tenure;tenure_detail", "_practices": grp.to_dict("records"),
        })
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- other agencies

def fire_sites(b: Build, borough: gpd.GeoDataFrame) -> pd.DataFrame:
    res = read_fire_stations(src("fire"), agency="fire", postcodes=b.postcodes)
    s = res.sites
    pts = gpd.GeoDataFrame(s, geometry=gpd.points_from_xy(pd.to_numeric(s["easting"]).astype(float),
                                                          pd.to_numeric(s["northing"]).astype(float)), crs=CRS_BNG)
    inside = pts.within(borough.geometry.union_all()).to_numpy()
    keep = s[inside].copy().sort_values("site_id").reset_index(drop=True)
    b.reader_problems.append((_only(res.problems, set(keep["site_id"])), "fire"))
    b.add_import("fire", "fire", "fire", res.rows_read, len(keep), res.rows_unreadable,
                 "Home Office fire stations (England, 2018): the stations inside the Trafford boundary are used")
    # floor area from the OS building footprints of fire stations near each station
    fp = read_geo("fire_footprints")
    b.add_import("fire_footprints", "fire", BUILDER, len(fp), 0, 0,
                 "OS OpenMap Local fire station footprints: their area x storeys estimates each station's floor area")
    storeys = b.est.value("fire", "storeys")
    gia = []
    for x, y in zip(pd.to_numeric(keep["easting"]).astype(float), pd.to_numeric(keep["northing"]).astype(float), strict=True):
        d = fp.geometry.distance(gpd.points_from_xy([x], [y], crs=CRS_BNG)[0])
        near = fp[d <= FOOTPRINT_RADIUS_M]
        gia.append(round(float(near.geometry.area.sum()) * storeys, 1) if len(near) else np.nan)
    keep["gia_m2"] = pd.array(gia, dtype="Float64")
    keep["name"] = keep["name"] + " Fire Station"
    keep["tenure"] = "freehold"
    keep["tenure_detail"] = "owner occupied"
    keep["holding_type"] = "Land/Buildings"
    keep["occupier_agency"] = "fire"
    keep["estimated_fields"] = ""
    for col in ("gia_m2", "tenure", "tenure_detail"):
        keep = mark_estimated(keep, col, keep[col].notna())
    return keep


def police_sites(b: Build) -> pd.DataFrame:
    recs = []
    for town, pc in POLICE_TOWNS:
        e, n = b.postcodes.lookup([pc])
        recs.append({
            "site_id": f"POLICE-ILLUSTRATIVE-{town.upper()}", "name": f"{town} police station (illustrative)",
            "address": f"{town} town centre (illustrative: not a real police building)", "postcode": pc,
            "agency": "police", "occupier_agency": "police", "building_type": "police_station",
            "holding_type": "Land/Buildings", "tenure": "freehold", "tenure_detail": "owner occupied",
            "easting": float(e[0]), "northing": float(n[0]), "location_source": "postcode_centroid",
            "located": True, "illustrative": True, "source_file": BUILDER, "source_row": None,
            "estimated_fields": "tenure;tenure_detail",
        })
        b.info(BUILDER, None, f"{town} police station is ILLUSTRATIVE: no open list of Trafford's police buildings "
               "exists; it is placed at the postcode of the town's library and every figure is estimated",
               record_id=recs[-1]["site_id"], code="illustrative")
    return pd.DataFrame(recs)


def point_records(b: Build, key: str, agency: str, building_type: str, name_col: str, id_prefix: str,
                  rows: pd.DataFrame, tenure: str | None, tenure_detail: str | None, name_suffix: str = "") -> pd.DataFrame:
    recs = []
    e, n = geo.wgs84_to_bng(rows["lon"].astype(float).to_numpy(), rows["lat"].astype(float).to_numpy())
    for k, (_, r) in enumerate(rows.iterrows()):
        est = [c for c, v in (("tenure", tenure), ("tenure_detail", tenure_detail)) if v]
        recs.append({
            "site_id": f"{id_prefix}-{slug(r[name_col])}".upper(), "name": f"{r[name_col]}{name_suffix}",
            "address": r.get("address") or None, "postcode": normalise_postcode(r.get("postcode")),
            "agency": agency, "occupier_agency": agency, "building_type": building_type, "holding_type": "Buildings",
            "tenure": tenure, "tenure_detail": tenure_detail, "easting": round(float(e[k]), 1),
            "northing": round(float(n[k]), 1), "location_source": "published_wgs84", "located": True,
            "illustrative": False, "source_file": FILES[key], "source_row": int(r["_row"]),
            "estimated_fields": ";".join(est),
        })
    return pd.DataFrame(recs)


# --------------------------------------------------------------------------- matching service lists

def match_site(name: str, address: str, postcode: str, kind: str, cands: pd.DataFrame,
               strict: bool = False) -> tuple[str | None, str]:
    """The site (id) a service-list record is in, and why; None when no register row is it.

    Candidates share the record's full postcode, or its 'number street' address within its
    postcode district. Accepted: same street address; 2+ name words in common; 1 word in common
    and the same building type; the only candidate of its type at the postcode; 1 word in
    common and the only candidate at the postcode. ``strict`` (GP practices): only the first
    two. Ties go to the same street address, then the same type, more words, larger floor area."""
    pc = normalise_postcode(postcode)
    addr = street_address(address)
    words = stems(name) | (stems(address.split(",")[0]) if addr is None and address else set())
    same_pc = cands["postcode"] == pc
    same_addr = (cands["_street"] == addr) & (cands["_outward"] == outward(pc)) if addr else pd.Series(False, index=cands.index)
    c = cands[same_pc | same_addr]
    if c.empty:
        return None, "no building of the register at this postcode or address"
    overlap = pd.Series([len(s & words) for s in c["_stems"]], index=c.index)
    typ = c["building_type"] == kind
    addr_ok = same_addr[c.index]
    only_type = typ & (typ.sum() == 1) & same_pc[c.index]
    only_one = (overlap >= 1) & (len(c) == 1)
    ok = addr_ok | (overlap >= 2)
    if not strict:
        ok |= ((overlap >= 1) & typ) | only_type | only_one
    c = c[ok]
    if c.empty:
        return None, "buildings share the postcode but none is the same by name, address or type"
    order = pd.DataFrame({"a": addr_ok[c.index], "t": typ[c.index], "o": overlap[c.index],
                          "g": pd.to_numeric(c["gia_m2"], errors="coerce").fillna(0).to_numpy(), "i": np.arange(len(c))},
                         index=c.index).sort_values(["a", "t", "o", "g", "i"], ascending=[False, False, False, False, True])
    best = order.index[0]
    r = order.loc[best]
    why = ("same street address" if r["a"] else f"{int(r['o'])} name word(s) in common" if r["o"] >= 2
           else "same postcode, name word and type" if r["o"] >= 1 and r["t"]
           else "the only building of this type at the postcode" if r["t"] else "the only building at the postcode")
    return str(cands.loc[best, "site_id"]), why


def candidates(sites: pd.DataFrame) -> pd.DataFrame:
    c = sites[is_building(sites)].copy()
    c["_stems"] = pd.Series([stems(v) for v in c["name"].fillna("")], index=c.index, dtype=object)
    c["_street"] = pd.Series([street_address(v) for v in c["address"].fillna("")], index=c.index, dtype=object)
    c["_outward"] = pd.Series([outward(v) for v in c["postcode"].fillna("")], index=c.index, dtype=object)
    return c


# --------------------------------------------------------------------------- services

OCCUPIED = ("owner occupied", "leasehold in", "other")


def build_services(b: Build, sites: pd.DataFrame, gp: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Create the services of every occupied building; returns the sites (GP sites that are
    council buildings removed, sites for list records with no building added) and the main
    service of each site (the one sized from the building's capacity)."""
    est = b.est
    detail = sites["tenure_detail"].astype("string").fillna("").str.lower()
    stype = est.service_type_for(sites["building_type"])
    other_agency = (sites["agency"] != "council") & (detail == "")
    joint_venture = (detail == "other") & (sites["building_type"] == "commercial")  # e.g. K Site
    occupied = (is_building(sites) & stype.notna() & (detail.isin(OCCUPIED) | other_agency)
                & (sites["building_type"] != "gp") & ~joint_venture)
    main_of: dict[str, dict] = {}
    for i in np.flatnonzero(occupied.to_numpy()):
        r = sites.iloc[i]
        illus = bool(r["illustrative"]) if pd.notna(r["illustrative"]) else False
        name = str(r["name"])
        if illus:  # "Sale police station (illustrative)" -> "Sale neighbourhood policing team (illustrative)"
            name = name.replace(" police station", " neighbourhood policing team")
        main_of[r["site_id"]] = add_service(b, r["site_id"], r["agency"], str(stype.iloc[i]), name, 0.0,
                                            r["source_file"], r["source_row"], "main", illus)

    # GP practices: in their NHS site, or in the council building they are in
    gp_m2 = est.value("gp", "gia_m2_per_patient") * NIA_TO_GIA * est.value("space_utilisation", "gp")
    cands = candidates(sites)
    council_cands = cands[cands["agency"] == "council"]
    moved_gp_sites = set()
    for _, g in gp.iterrows():
        pr = g["_practices"][0]
        target, why = match_site(pr["address"].split(",")[0], pr["address"], g["postcode"], "gp", council_cands, strict=True)
        site_id = target or g["site_id"]
        if target:
            moved_gp_sites.add(g["site_id"])
        for p in g["_practices"]:
            rec = add_service(b, site_id, "nhs", "gp", p["name"], p["patients"] * gp_m2, FILES["gp"], int(p["_row"]), "gp")
            if target:
                b.matches.append({"list": FILES["gp"], "row": int(p["_row"]), "record": p["name"], "site_id": target,
                                  "site": sites.loc[sites["site_id"] == target, "name"].iloc[0], "why": why})
                b.info(FILES["gp"], int(p["_row"]), f"GP practice {p['name']} is in the council's building {target} "
                       f"({why}); it is a service there, not a separate NHS site", "services", rec["service_id"],
                       "matched_building")
    sites = sites[~sites["site_id"].isin(moved_gp_sites)].reset_index(drop=True)
    cands = candidates(sites)

    # libraries and leisure centres: link to the site they are in; add a site only when none is
    extra_sites = []
    for key, kind in (("libraries", "library"), ("leisure", "leisure")):
        rows = read_csv(key)
        for _, r in rows.iterrows():
            row = int(r["_row"])
            target, why = match_site(r["name"], r["address"], r["postcode"], kind, cands)
            if target is None:
                agency = "council" if kind == "library" else "education"
                tenure, detail_ = ("leasehold", "leasehold in") if agency == "council" else (None, None)
                new = point_records(b, key, agency, kind, "name", "LIB" if kind == "library" else "LEISURE",
                                    pd.DataFrame([r]), tenure, detail_)
                extra_sites.append(new)
                target = new["site_id"].iloc[0]
                why = (f"not in the council's register ({why}): added as a site of agency {agency}"
                       + (", taken to be leased in" if tenure else ""))
                b.info(FILES[key], row, f"{r['name']}: {why}", record_id=target, code="added_site")
                main_of[target] = add_service(b, target, agency, kind, r["name"], 0.0, FILES[key], row, "main")
                site_name = r["name"]
            else:
                site = sites.loc[sites["site_id"] == target].iloc[0]
                site_name = site["name"]
                m = main_of.get(target)
                if m is not None and m["service_type"] == kind and m["source_file"] == FILES["assets"]:
                    m.update(name=r["name"], source_file=FILES[key], source_row=row)
                elif m is None and site["agency"] == "council":
                    main_of[target] = add_service(b, target, "council", kind, r["name"], 0.0, FILES[key], row, "main")
                else:
                    add_service(b, target, "council", kind, r["name"], est.value("secondary_service_m2", kind),
                                FILES[key], row, "secondary")
                b.info(FILES[key], row, f"{r['name']} is site {target} ({why}): linked, not added twice",
                       record_id=target, code="matched_building")
            b.matches.append({"list": FILES[key], "row": row, "record": r["name"], "site_id": target,
                              "site": site_name, "why": why})
        b.add_import(key, "council", BUILDER, len(rows), len(rows), 0,
                     f"{kind} list: each record is a service, linked to the register row it duplicates")
    if extra_sites:
        sites = pd.concat([sites, *[site_frame(x.to_dict("records")) for x in extra_sites]], ignore_index=True)
    return sites, main_of


def size_services(b: Build, sites: pd.DataFrame, main_of: dict[str, dict]) -> None:
    """Space of each main service: the building's capacity x utilisation, less what the other
    services in it take (never below the minimum); a hospital's from ERIC's empty and
    under-used floor shares."""
    est = b.est
    cap = dict(zip(sites["site_id"], pd.to_numeric(sites["capacity_m2"], errors="coerce"), strict=True))
    btype = dict(zip(sites["site_id"], sites["building_type"], strict=True))
    unused = dict(zip(sites["site_id"], pd.to_numeric(sites["empty_floor_pct"], errors="coerce").fillna(0)
                      + pd.to_numeric(sites["underused_floor_pct"], errors="coerce").fillna(0), strict=True))
    taken: dict[str, float] = {}
    for s in b.services:
        if s["_role"] != "main":
            taken[s["site_id"]] = taken.get(s["site_id"], 0.0) + s["space_m2"]
    min_m2 = est.value("min_service_m2", "all")
    for sid, m in main_of.items():
        c = cap.get(sid)
        if c is None or pd.isna(c):
            m["space_m2"] = min_m2
            continue
        if btype.get(sid) in ("hospital", "mental_health"):
            use = 1.0 - unused.get(sid, 0.0) / 100.0
        else:
            use = est.value("space_utilisation", str(btype.get(sid)))
        full = float(c) * use
        m["space_m2"] = round(max(full - taken.get(sid, 0.0), min(min_m2, full)), 1)


# --------------------------------------------------------------------------- zones, boundaries

def zones_and_boundaries(b: Build) -> tuple[pd.DataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    pop = read_csv("population")
    persons = pop[pop["sex"] == "Persons"].copy()
    persons["population"] = pd.to_numeric(persons["all_ages"]).astype(float)
    cen = read_csv("centroids")
    z = cen.merge(persons[["area_code", "population"]], left_on="lsoa21cd", right_on="area_code", how="left")
    zones = pd.DataFrame({
        "zone_id": z["lsoa21cd"], "name": z["lsoa21nm"], "population": z["population"],
        "easting": pd.to_numeric(z["easting"]), "northing": pd.to_numeric(z["northing"]),
        "source_file": FILES["centroids"], "source_row": z["_row"], "estimated_fields": "", "illustrative": False,
    })
    b.add_import("population", "", BUILDER, len(pop), len(persons), 0,
                 "ONS mid-2024 LSOA population: the Persons rows are used (Females/Males rows not used)")
    b.add_import("centroids", "", BUILDER, len(cen), len(zones), 0,
                 "approximate population-weighted LSOA centroids (derived from OA points, not the ONS product)")
    lsoa_pop = dict(zip(persons["area_code"], persons["population"], strict=True))
    parts = []
    specs = (("borough", "borough"), ("wards", "ward"), ("lsoa", "lsoa"), ("localities", "locality"))
    for key, level in specs:
        g = read_geo(key)
        code = g["area_code"] if "area_code" in g.columns else g["area_name"]
        popn = code.map(lsoa_pop) if level == "lsoa" else pd.Series(np.nan, index=g.index)
        if level == "borough":
            popn = pd.Series(float(persons["population"].sum()), index=g.index)
        parts.append(gpd.GeoDataFrame({"level": level, "code": code, "name": g["area_name"], "population": popn},
                                      geometry=g.geometry, crs=CRS_BNG))
        b.add_import(key, "", BUILDER, len(g), len(g), 0, f"{level} boundaries (ONS generalised), reprojected to EPSG:27700")
    boundaries = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=CRS_BNG)
    borough = parts[0]
    return conform(zones, "zones"), boundaries, borough


# --------------------------------------------------------------------------- build

def check_sources() -> None:
    """Every source file and the estimates are there (one message naming all that are not)."""
    missing = [str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
               for p in [ESTIMATES, *(src(k) for k in FILES)] if not p.exists()]
    if missing:
        raise InputFileError(f"the sample place's source files are missing: {', '.join(missing)}. Fix: restore them "
                             "from git (git checkout -- data/), or copy them again from ../shared/data (see "
                             "data/sources/README.md).")


def build(out: Path, quiet: bool = False) -> dict:
    t0 = time.perf_counter()
    check_sources()
    est = load_estimates(ESTIMATES)
    b = Build(est, trafford_postcodes())
    b.add_import("postcodes", "", BUILDER, len(b.postcodes.table), 0, 0,
                 "postcode centroids (lon/lat -> EPSG:27700): a lookup to place records with no coordinates; not stored")
    zones, boundaries, borough = zones_and_boundaries(b)

    council = council_sites(b)
    nhs = nhs_hospitals(b)
    gp = gp_sites(b)
    fire = fire_sites(b, borough)
    police = police_sites(b)
    jc = read_csv("jobcentres")
    jc_t = jc[jc["area_code"] == TRAFFORD_CODE]
    dwp = point_records(b, "jobcentres", "dwp", "jobcentre", "name", "DWP-JCP", jc_t, "leasehold", "leasehold in",
                        " Jobcentre Plus")
    b.add_import("jobcentres", "dwp", BUILDER, len(jc), len(jc_t), 0,
                 "DWP jobcentres in Greater Manchester (2018): the Trafford ones are used")
    hubs = read_csv("hubs")
    vcs = point_records(b, "hubs", "voluntary", "community", "community_hub", "VCS-HUB", hubs, None, None,
                        " community hub")
    b.add_import("hubs", "voluntary", BUILDER, len(hubs), len(hubs), 0,
                 "Trafford's community hubs, run by voluntary groups in their own buildings")

    gp_site_rows = site_frame([{k: v for k, v in r.items() if k != "_practices"} for r in gp.to_dict("records")])
    sites = pd.concat([council, site_frame(nhs.to_dict("records")), gp_site_rows, site_frame(fire.to_dict("records")),
                       site_frame(police.to_dict("records")), site_frame(dwp.to_dict("records")),
                       site_frame(vcs.to_dict("records"))], ignore_index=True)
    for col in ("estimated_fields",):
        sites[col] = sites[col].astype("string").fillna("")
    sites["illustrative"] = sites["illustrative"].astype("boolean").fillna(False)

    # GP-only NHS sites: floor area from the registered patients
    per_patient = est.value("gp", "gia_m2_per_patient")
    patients = {g["site_id"]: sum(p["patients"] for p in g["_practices"]) for _, g in gp.iterrows()}
    is_gp = sites["site_id"].isin(list(patients))
    sites["gia_m2"] = pd.to_numeric(sites["gia_m2"]).astype("Float64")
    sites.loc[is_gp, "gia_m2"] = (sites.loc[is_gp, "site_id"].map(patients).astype(float) * per_patient).round(1)
    sites = mark_estimated(sites, "gia_m2", is_gp)

    sites, main_of = build_services(b, sites, gp)
    # an NHS GP site that also houses another service (a library) is that much bigger
    util_gp = est.value("space_utilisation", "gp")
    extra = {}
    for s_ in b.services:
        if s_["_role"] == "secondary" and s_["site_id"] in patients:
            extra[s_["site_id"]] = extra.get(s_["site_id"], 0.0) + s_["space_m2"] / (NIA_TO_GIA * util_gp)
    more = sites["site_id"].map(extra).astype("Float64")
    has_more = more.notna()
    sites.loc[has_more, "gia_m2"] = (sites.loc[has_more, "gia_m2"] + more[has_more]).round(1)

    # flags: let property and third parties' buildings are kept and take in nobody
    detail = sites["tenure_detail"].astype("string").fillna("").str.lower()
    has_service = sites["site_id"].isin({s["site_id"] for s in b.services})
    let = is_building(sites) & (detail == "leasehold out") & ~has_service
    third = sites["agency"].isin(["voluntary", "education"])
    no_recv = ~est.receives(sites["building_type"]) & is_building(sites)
    lock = let | third
    sites["locked"] = pd.array(np.where(lock, True, None), dtype="boolean")
    sites = mark_estimated(sites, "locked", lock)
    recv_false = let | third | no_recv
    sites["can_receive"] = pd.array(np.where(recv_false, False, None), dtype="boolean")
    sites = mark_estimated(sites, "can_receive", recv_false)

    floor_area = sites["site_id"].map(b.floor_area)
    sites = fill_site_estimates(sites, est, floor_area=floor_area)
    # a register building whose floor area is only its type's typical value has no known spare
    # room: it keeps its own services but takes in nobody else's
    guessed = (sites["source_file"] == FILES["assets"]) & is_estimated(sites, "gia_m2") & sites["can_receive"].isna()
    sites.loc[guessed, "can_receive"] = False
    sites = mark_estimated(sites, "can_receive", guessed)
    size_services(b, sites, main_of)

    services = pd.DataFrame(b.services).drop(columns=["_role"])
    services = fill_service_estimates(conform(services, "services"), est)
    services = services.sort_values("service_id", kind="stable").reset_index(drop=True)
    sites = sites.sort_values(["agency", "site_id"], kind="stable").reset_index(drop=True)

    # validation (marks in_analysis etc. in place) and problems
    reader = ProblemReport()
    for rep, _ in b.reader_problems:
        reader.extend(rep)
    # Validation marks the frames in place. It is given the sites with the *estimated* floor
    # areas blanked: a typical floor area given to many buildings of a type is not a site total
    # repeated on its parts (the validator's gia_repeated check), so it must not be flagged.
    checked = sites.copy()
    checked.loc[is_estimated(sites, "gia_m2").to_numpy(), "gia_m2"] = pd.NA
    validation = validate_tables(checked, services, zones, reader)
    checked["gia_m2"] = sites["gia_m2"]
    sites = checked
    frames = []
    for rep, agency in b.reader_problems:
        df = rep.to_frame()
        df["agency"], df["stage"] = agency, "read"
        frames.append(df)
    for rep, stage in ((b.problems, "build"), (validation, "validate")):
        df = rep.to_frame()
        df["agency"], df["stage"] = "", stage
        frames.append(df)
    problems = pd.concat(frames, ignore_index=True)

    imports = pd.DataFrame(b.imports)
    reg = Register.from_frames(sites=sites, services=services, zones=zones, boundaries=boundaries,
                               problems=problems, imports=imports)
    reg.save(out)
    summary = summarise(reg, b, time.perf_counter() - t0)
    return summary


def summarise(reg: Register, b: Build, seconds: float) -> dict:
    s = reg.sites
    by = s.groupby("agency").agg(sites=("site_id", "size"), located=("located", "sum"),
                                 illustrative=("illustrative", "sum"))
    sv = reg.services.groupby("agency").size()
    by["services"] = sv.reindex(by.index).fillna(0).astype(int)
    return {"by_agency": by, "sites": len(s), "services": len(reg.services), "zones": len(reg.zones),
            "boundaries": reg.boundaries["level"].value_counts().to_dict(), "matches": b.matches,
            "seconds": seconds, "problems": len(reg.problems)}


def print_summary(summary: dict, out: Path) -> None:
    by = summary["by_agency"]
    print(f"built {out} in {summary['seconds']:.1f} s: {summary['sites']} sites, {summary['services']} services, "
          f"{summary['zones']} zones, boundaries {summary['boundaries']}")
    print(by.to_string())


def readme_tables(reg: Register, est: Estimates, matches: list[dict]) -> dict[str, str]:
    """The generated parts of data/README.md: counts by agency, the rates, the matches."""
    s = reg.sites
    lines = ["| agency | sites | located | with estimated values | illustrative | services |",
             "|---|---:|---:|---:|---:|---:|"]
    sv = reg.services.groupby("agency").size()
    for agency, g in s.groupby("agency", sort=True):
        lines.append(f"| {agency} | {len(g)} | {int(g['located'].sum())} | "
                     f"{int((g['estimated_fields'].fillna('') != '').sum())} | {int(g['illustrative'].sum())} | "
                     f"{int(sv.get(agency, 0))} |")
    lines.append(f"| **all** | **{len(s)}** | **{int(s['located'].sum())}** | "
                 f"**{int((s['estimated_fields'].fillna('') != '').sum())}** | **{int(s['illustrative'].sum())}** | "
                 f"**{len(reg.services)}** |")
    counts = "\n".join(lines)
    lines = ["| rate | value | unit | assumption | source |", "|---|---:|---|---|---|"]
    for r in est.rate_list():
        lines.append(f"| `{r.name}` | {r.value:g} | {r.unit} | {'yes' if r.assumption else 'no'} | {r.source} |")
    rates = "\n".join(lines)
    lines = ["| list | row | record | site | site name | why |", "|---|---:|---|---|---|---|"]
    for m in matches:
        lines.append(f"| {m['list']} | {m['row']} | {m['record']} | `{m['site_id']}` | {m['site']} | {m['why']} |")
    return {"counts": counts, "rates": rates, "matches": "\n".join(lines)}


def update_readme(path: Path, sections: dict[str, str]) -> None:
    """Replace each ``<!-- generated:NAME -->`` ... ``<!-- /generated -->`` block of the README."""
    text = path.read_text(encoding="utf-8")
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:(?!<!-- /generated -->).)*?(<!-- /generated -->)", re.DOTALL)
        if not pattern.search(text):
            raise PlannerError(f"{path}: no '<!-- generated:{name} -->' block. Fix: add the marker lines.")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    write_text_atomic(path, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the sample place (Trafford) register from data/sources.")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="GeoPackage to write (default data/trafford.gpkg)")
    ap.add_argument("--quiet", action="store_true", help="print nothing unless something goes wrong")
    ap.add_argument("--force", action="store_true", help="rebuild even when the stamp says nothing changed")
    ap.add_argument("--print-readme", action="store_true", help="print the generated tables of data/README.md")
    ap.add_argument("--update-readme", action="store_true",
                    help="rewrite the generated tables of data/README.md (counts, rates, matches)")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    try:
        stamp = compute_stamp()
        readme = args.print_readme or args.update_readme
        if not args.force and not readme and up_to_date(out, stamp):
            if not args.quiet:
                print(f"{out} is up to date (inputs unchanged); use --force to rebuild")
            return 0
        summary = build(out, args.quiet)
        write_text_atomic(stamp_path(out), stamp + "\n")
        if readme:
            sections = readme_tables(Register.load(out), load_estimates(ESTIMATES), summary["matches"])
            if args.update_readme:
                update_readme(DATA / "README.md", sections)
            if args.print_readme:
                print("\n\n".join(sections.values()))
        elif not args.quiet:
            print_summary(summary, out)
    except PlannerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
