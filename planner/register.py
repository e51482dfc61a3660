"""The register: one place's estate in one GeoPackage, and importing files into it.

Layers (see ``docs/data-model.md``):

- ``sites``: Point geometry in EPSG:27700 built from ``easting``/``northing`` (None for a record
  that is not ``located``), every ``schema.SITE_COLUMNS`` column;
- ``services``: attribute table, ``schema.SERVICE_COLUMNS`` plus ``in_analysis`` and
  ``exclusion_reason`` (set by validation);
- ``zones``: Point geometry, ``schema.ZONE_COLUMNS`` plus ``in_analysis``/``exclusion_reason``;
- ``boundaries``: Polygon/MultiPolygon EPSG:27700 (written as MultiPolygon),
  ``schema.BOUNDARY_COLUMNS``;
- ``problems``: attribute table, ``problems.PROBLEM_COLUMNS`` plus ``agency`` (of the import
  that found it) and ``stage`` (``read`` for a reader's problem, ``validate`` for validation's);
- ``imports``: one row per imported file (``IMPORT_COLUMNS``).

The geometry is always derived from ``easting``/``northing`` when saving, so the two never
disagree (a record with ``located = false`` gets none; a GeoDataFrame given without
easting/northing has them taken from its point geometry). Column types survive a round trip: text stays text (a UPRN keeps its leading
zeros), integers and booleans stay nullable (``Int64``, ``boolean``), floats are ``Float64``.
Columns beyond the schema's are kept as they are.

Saving is atomic: every layer is written to a temporary GeoPackage in the same folder, which
then replaces the register with ``os.replace``; a failure at any point leaves the previous
register byte for byte as it was.

Importing (``import_files``) - the rules:

- every file is read first, all problems of all files are gathered; a file that cannot be
  used at all (``InputFileError``) aborts the whole import with one message naming every such
  file, and the register is not touched;
- records are keyed by (agency, site_id). Importing *refreshes*: the records previously
  imported from a file of the same name (compared by file name, not folder) for the same
  agency are replaced by the new file's records. "The same agency" is the import's
  ``agency`` and any agency named in the new file's records (a planner file may hold several).
  So importing the same file twice never duplicates anything, and other agencies' records,
  and the agency's records from other files, are kept. Zones (which belong to no agency) from
  a file of the same name are replaced too;
- the merged tables are validated as a whole (duplicate ids across files, shared UPRNs
  across agencies, services at sites of another file) and reader errors are applied
  (``validate.exclude_by_problems``); only then is the register written, atomically;
- input files are only ever read.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import InputFileError
from planner.postcodes import PostcodeTable
from planner.problems import PROBLEM_COLUMNS, ProblemReport
from planner.schema import CRS_BNG, TABLES, columns, empty_frame
from planner.validate import exclude_by_problems, validate_services, validate_sites, validate_zones

LAYERS = ("sites", "services", "zones", "boundaries", "problems", "imports")

IMPORT_COLUMNS = ["agency", "file", "sha256", "reader", "rows_read", "rows_stored",
                  "rows_unreadable", "imported_at"]
_IMPORT_KINDS = {"agency": "str", "file": "str", "sha256": "str", "reader": "str", "rows_read": "int",
                 "rows_stored": "int", "rows_unreadable": "int", "imported_at": "str"}
PROBLEM_LAYER_COLUMNS = [*PROBLEM_COLUMNS, "agency", "stage"]
_PROBLEM_KINDS = {c: "str" for c in PROBLEM_LAYER_COLUMNS} | {"row": "int"}
# columns set by validation on tables whose schema does not list them
VALIDATION_COLUMNS = {"in_analysis": "bool", "exclusion_reason": "str"}

_DTYPE = {"str": "string", "float": "Float64", "int": "Int64", "bool": "boolean", "date": "string"}

__all__ = [
    "IMPORT_COLUMNS",
    "LAYERS",
    "PROBLEM_LAYER_COLUMNS",
    "Register",
    "default_register_path",
    "import_files",
    "replace_layers_atomic",
]


def default_register_path() -> Path:
    """``$PLANNER_REGISTER`` if set, else the sample place's ``data/trafford.gpkg`` in the repo."""
    env = os.environ.get("PLANNER_REGISTER")
    if env:
        return Path(env)
    import planner

    return Path(planner.__file__).resolve().parents[1] / "data" / "trafford.gpkg"


# --------------------------------------------------------------------------- type casting

def _cast_series(s: pd.Series, kind: str) -> pd.Series:
    """Fast, vectorised cast of a column read back from a GeoPackage (or built in memory)."""
    if kind in ("str", "date"):
        if isinstance(s.dtype, pd.StringDtype):
            return s if s.dtype.na_value is pd.NA else s.astype("string")
        obj = s.astype(object)
        ok = obj.notna()
        out = pd.Series(pd.NA, index=s.index, dtype="string")
        if ok.any():
            vals = obj[ok]
            if pd.api.types.is_float_dtype(s.dtype):  # an all-number column read back as float
                vals = vals.map(lambda v: f"{v:.0f}" if float(v).is_integer() else repr(v))
            out[ok] = vals.astype(str).astype("string")
        return out
    if kind == "float":
        return pd.to_numeric(s, errors="coerce").astype("Float64")
    if kind == "int":
        return pd.to_numeric(s, errors="coerce").astype("Float64").round().astype("Int64")
    if kind == "bool":
        if isinstance(s.dtype, pd.BooleanDtype):
            return s
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            return s.astype("boolean")
        return s.astype(object).map(_bool_or_na).astype("boolean")
    raise ValueError(kind)  # pragma: no cover


def _bool_or_na(v):
    from planner.schema import parse_bool

    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return pd.NA
    b = parse_bool(v)
    return pd.NA if b is None else b


def _cast_frame(df: pd.DataFrame, kinds: dict[str, str], order: list[str]) -> pd.DataFrame:
    """Every column of ``kinds`` present (missing ones added, all NA) and cast; ``order`` first,
    extra columns after."""
    out = {}
    n = len(df)
    for name, kind in kinds.items():
        if name in df.columns:
            out[name] = _cast_series(df[name], kind).reset_index(drop=True)
        else:
            out[name] = pd.Series([pd.NA] * n, dtype=_DTYPE[kind])
    extra = [c for c in df.columns if c not in kinds and c != "geometry"]
    for c in extra:
        out[c] = df[c].reset_index(drop=True)
    frame = pd.DataFrame(out)
    return frame[[c for c in order if c in frame.columns] + [c for c in frame.columns if c not in order]]


def _table_kinds(table: str) -> dict[str, str]:
    kinds = {c.name: c.kind for c in TABLES[table]}
    if table in ("services", "zones"):
        kinds |= VALIDATION_COLUMNS
    return kinds


def normalise_table(df: pd.DataFrame | None, table: str) -> pd.DataFrame:
    """A plain frame of ``table`` with every schema column in its dtype (extras kept)."""
    kinds = _table_kinds(table)
    if df is None:
        df = empty_frame(table)
    return _cast_frame(pd.DataFrame(df).drop(columns=["geometry"], errors="ignore"), kinds, list(kinds))


def _points(df: pd.DataFrame, located: pd.Series | None = None) -> gpd.GeoSeries:
    e = pd.to_numeric(df["easting"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    n = pd.to_numeric(df["northing"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = ~np.isnan(e) & ~np.isnan(n)
    if located is not None:  # an explicit located = false has no point; unknown counts as located
        ok &= located.astype("boolean").fillna(True).to_numpy(dtype=bool)
    geom = np.full(len(df), None, dtype=object)
    if ok.any():
        geom[ok] = shapely.points(e[ok], n[ok])
    return gpd.GeoSeries(geom, index=df.index, crs=CRS_BNG)


def _as_points_gdf(df: pd.DataFrame, table: str) -> gpd.GeoDataFrame:
    flat = normalise_table(df, table)
    if isinstance(df, gpd.GeoDataFrame) and df.geometry.name in df.columns and len(df):
        # easting/northing missing but a point geometry given: take them from it (EPSG:27700)
        g = df.geometry if df.crs is None or df.crs.to_epsg() == 27700 else df.geometry.to_crs(CRS_BNG)
        g = g.reset_index(drop=True)
        pts = (g.geom_type == "Point").to_numpy() & ~(g.isna() | g.is_empty).to_numpy()
        fill = pts & flat["easting"].isna().to_numpy() & flat["northing"].isna().to_numpy()
        if fill.any():
            flat.loc[fill, "easting"] = g[fill].x.to_numpy()
            flat.loc[fill, "northing"] = g[fill].y.to_numpy()
    located = flat["located"] if "located" in flat.columns else None
    return gpd.GeoDataFrame(flat, geometry=_points(flat, located), crs=CRS_BNG)


def _as_boundaries(df) -> gpd.GeoDataFrame:
    if df is None or len(df) == 0:
        flat = _cast_frame(empty_frame("boundaries"), _table_kinds("boundaries"), columns("boundaries"))
        return gpd.GeoDataFrame(flat, geometry=gpd.GeoSeries([], crs=CRS_BNG), crs=CRS_BNG)
    g = df if isinstance(df, gpd.GeoDataFrame) else gpd.GeoDataFrame(df)
    if g.crs is None:
        g = g.set_crs(CRS_BNG)
    elif g.crs.to_epsg() != 27700:
        g = g.to_crs(CRS_BNG)
    flat = _cast_frame(pd.DataFrame(g.drop(columns=g.geometry.name)), _table_kinds("boundaries"), columns("boundaries"))
    return gpd.GeoDataFrame(flat, geometry=g.geometry.reset_index(drop=True).values, crs=CRS_BNG)


def _as_problems(df) -> pd.DataFrame:
    if isinstance(df, ProblemReport):
        df = df.to_frame()
    if df is None:
        df = pd.DataFrame(columns=PROBLEM_LAYER_COLUMNS)
    return _cast_frame(pd.DataFrame(df), _PROBLEM_KINDS, PROBLEM_LAYER_COLUMNS)


def _as_imports(df) -> pd.DataFrame:
    if df is None:
        df = pd.DataFrame(columns=IMPORT_COLUMNS)
    return _cast_frame(pd.DataFrame(df), _IMPORT_KINDS, IMPORT_COLUMNS)


# --------------------------------------------------------------------------- the register

@dataclass
class Register:
    """The frames of one register (see the module docstring for the layers)."""

    sites: gpd.GeoDataFrame = field(default_factory=lambda: _as_points_gdf(None, "sites"))
    services: pd.DataFrame = field(default_factory=lambda: normalise_table(None, "services"))
    zones: gpd.GeoDataFrame = field(default_factory=lambda: _as_points_gdf(None, "zones"))
    boundaries: gpd.GeoDataFrame = field(default_factory=lambda: _as_boundaries(None))
    problems: pd.DataFrame = field(default_factory=lambda: _as_problems(None))
    imports: pd.DataFrame = field(default_factory=lambda: _as_imports(None))

    @classmethod
    def from_frames(cls, sites=None, services=None, zones=None, boundaries=None, problems=None,
                    imports=None) -> Register:
        """Build a register from plain frames: columns conformed to the schema, geometry built
        from easting/northing (sites: only where ``located``)."""
        return cls(sites=_as_points_gdf(sites, "sites"), services=normalise_table(services, "services"),
                   zones=_as_points_gdf(zones, "zones"), boundaries=_as_boundaries(boundaries),
                   problems=_as_problems(problems), imports=_as_imports(imports))

    def normalised(self) -> Register:
        return Register.from_frames(self.sites, self.services, self.zones, self.boundaries,
                                    self.problems, self.imports)

    def problem_report(self) -> ProblemReport:
        return ProblemReport.from_frame(self.problems[PROBLEM_COLUMNS])

    # ------------------------------------------------------------------ load
    @classmethod
    def load(cls, path: str | os.PathLike) -> Register:
        """Read a register written by ``save``. A missing file, or one that is not a planner
        GeoPackage, raises ``InputFileError`` saying how to make one."""
        import pyogrio

        path = Path(path)
        make = (f"build one with `planner import FILE... --agency NAME --out {path}`"
                " (or ./run setup for the sample place)")
        if not path.exists():
            raise InputFileError(f"{path}: no such register. Fix: check the path, or {make}.")
        if path.is_dir():
            raise InputFileError(f"{path}: is a folder, not a register. Fix: give the .gpkg file.")
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
            if head != b"SQLite format 3\x00":
                raise InputFileError(f"{path}: not a GeoPackage (not an SQLite file). Fix: give a register .gpkg, or {make}.")
            found = {str(name) for name, _ in pyogrio.list_layers(path)}
        except InputFileError:
            raise
        except Exception as exc:  # GDAL raises several kinds for a broken file
            raise InputFileError(f"{path}: cannot open the GeoPackage ({exc}). Fix: give a register .gpkg, or {make}.") from exc
        if "sites" not in found:
            raise InputFileError(f"{path}: not a planner register (it has no 'sites' layer; layers: "
                                 f"{', '.join(sorted(found)) or 'none'}). Fix: give a register .gpkg, or {make}.")

        def read(layer: str):
            if layer not in found:
                return None
            try:
                return pyogrio.read_dataframe(path, layer=layer, use_arrow=True)
            except Exception as exc:
                raise InputFileError(f"{path}: cannot read layer {layer!r} ({exc}). Fix: rebuild the register.") from exc

        sites = read("sites")
        zones = read("zones")
        reg = cls(
            sites=_loaded_points(sites, "sites"),
            services=normalise_table(read("services"), "services"),
            zones=_loaded_points(zones, "zones"),
            boundaries=_as_boundaries(read("boundaries")),
            problems=_as_problems(read("problems")),
            imports=_as_imports(read("imports")),
        )
        return reg

    # ------------------------------------------------------------------ save
    def save(self, path: str | os.PathLike) -> Path:
        """Write every layer to ``path`` atomically (temporary GeoPackage + ``os.replace``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{path.name}.tmp-{uuid.uuid4().hex[:12]}.gpkg"
        reg = self.normalised()
        try:
            _write_layers(reg, tmp)
            if path.exists():
                _copy_other_layers(path, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            for p in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                if p.exists():
                    p.unlink()
        return path


def _loaded_points(gdf, table: str) -> gpd.GeoDataFrame:
    if gdf is None:
        return _as_points_gdf(None, table)
    flat = normalise_table(pd.DataFrame(gdf).drop(columns=["geometry"], errors="ignore"), table)
    geom = gdf.geometry.reset_index(drop=True) if isinstance(gdf, gpd.GeoDataFrame) else _points(flat)
    geom = geom.where(~(geom.isna() | geom.is_empty), None)
    return gpd.GeoDataFrame(flat, geometry=gpd.GeoSeries(geom.values, crs=CRS_BNG), crs=CRS_BNG)


def _copy_other_layers(src: Path, dst: Path) -> None:
    """Carry the layers that other stages keep in the register (``scores``, the scenario
    store, ...) from the old file into the new one, so that saving never loses them."""
    import pyogrio

    for name, geom_type in pyogrio.list_layers(src):
        if str(name) in LAYERS:
            continue
        frame = pyogrio.read_dataframe(src, layer=str(name))
        kwargs = {"geometry_type": geom_type} if geom_type else {}
        pyogrio.write_dataframe(frame, dst, layer=str(name), driver="GPKG", **kwargs)


def replace_layers_atomic(path: str | os.PathLike, frames: dict[str, pd.DataFrame]) -> Path:
    """Write (or replace) some layers of an existing GeoPackage atomically: the file is copied
    to a temporary file in the same folder, the layers are written there, and the copy then
    replaces the original (``os.replace``). Every other layer is kept as it was; on any failure
    the original is untouched and no temporary file is left behind. A GeoDataFrame is written
    with its geometry; a plain DataFrame as an attribute table."""
    import shutil

    import pyogrio

    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}.gpkg"
    try:
        shutil.copy2(path, tmp)
        for layer, frame in frames.items():
            kwargs = {}
            if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.notna().any():
                kwargs["geometry_type"] = frame.geometry.dropna().geom_type.iloc[0]
            pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG", **kwargs)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        for p in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            if p.exists():
                p.unlink()
    return path


def _write_layers(reg: Register, tmp: Path) -> None:
    """Write the layers to a new GeoPackage ``tmp`` (separate so tests can make it fail).
    Arrow is used for speed (about 4 times faster than row by row)."""
    import pyogrio

    common = {"driver": "GPKG", "use_arrow": True}
    pyogrio.write_dataframe(reg.sites, tmp, layer="sites", geometry_type="Point", **common)
    pyogrio.write_dataframe(reg.services, tmp, layer="services", **common)
    pyogrio.write_dataframe(reg.zones, tmp, layer="zones", geometry_type="Point", **common)
    pyogrio.write_dataframe(reg.boundaries, tmp, layer="boundaries", geometry_type="MultiPolygon",
                            promote_to_multi=True, **common)
    pyogrio.write_dataframe(reg.problems, tmp, layer="problems", **common)
    pyogrio.write_dataframe(reg.imports, tmp, layer="imports", **common)


# --------------------------------------------------------------------------- importing

class _Clock:
    def __init__(self, timings: dict | None):
        import time

        self._now = time.perf_counter
        self.timings = timings
        self.t = self._now()

    def lap(self, stage: str) -> None:
        t = self._now()
        if self.timings is not None:
            self.timings[stage] = self.timings.get(stage, 0.0) + (t - self.t)
        self.t = t


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _resolve_postcodes(postcodes) -> PostcodeTable | None:
    if postcodes is None or isinstance(postcodes, PostcodeTable):
        return postcodes
    if str(postcodes).strip().lower() == "national":
        return PostcodeTable.national()
    return PostcodeTable.from_csv(postcodes)


def _problem_frame(report: ProblemReport, agency: str, stage: str) -> pd.DataFrame:
    df = report.to_frame()
    df["agency"] = agency
    df["stage"] = stage
    return df


def validate_tables(sites: pd.DataFrame, services: pd.DataFrame, zones: pd.DataFrame,
                    reader_problems: ProblemReport | None = None, file_label: str | None = None
                    ) -> ProblemReport:
    """Validate the three tables together, in place (sites, then services against them, then
    zones) and exclude the records that reader errors are about. Returns the validation
    problems (not the reader's)."""
    report = ProblemReport()
    reader_problems = reader_problems or ProblemReport()
    report.extend(validate_sites(sites, file_label))
    exclude_by_problems(sites, reader_problems, "sites")
    report.extend(validate_services(services, sites, file_label))
    exclude_by_problems(services, reader_problems, "services")
    report.extend(validate_zones(zones, file_label))
    exclude_by_problems(zones, reader_problems, "zones")
    return report


def read_files(paths, agency: str | None = None, kind: str = "auto", mapping=None, postcodes=None,
               locations=None):
    """Read every file; raise one ``InputFileError`` naming every file that cannot be used.
    Returns the ``ReadResult`` of each file. ``locations`` (site_code with easting/northing or
    postcode) places NHS ERIC sites, which have no coordinates of their own."""
    from planner.readers import read_file

    paths = [Path(p) for p in paths]
    if not paths:
        raise InputFileError("no files given. Fix: name at least one file to import.")
    names: dict[str, Path] = {}
    failures: list[str] = []
    for p in paths:
        if p.name in names and names[p.name].resolve() != p.resolve():
            failures.append(f"{p}: another file with the same name ({names[p.name]}) is in this import; "
                            "files are identified by name. Fix: rename one of them")
        names.setdefault(p.name, p)
    unique = list(dict.fromkeys(p.resolve() for p in paths))
    table = _resolve_postcodes(postcodes)
    results = []
    for p in unique:
        try:
            results.append(read_file(p, kind=kind, agency=agency, postcodes=table, mapping=mapping,
                                     locations=locations))
        except InputFileError as exc:
            failures.append(str(exc).rstrip("."))
    if failures:
        if len(failures) == 1:
            raise InputFileError(failures[0] + ("" if failures[0].endswith(".") else "."))
        raise InputFileError(f"{len(failures)} files cannot be used, nothing was imported: "
                             + " | ".join(failures) + ".")
    return results


def import_files(paths, agency: str, register_path: str | os.PathLike, kind: str = "auto",
                 mapping=None, postcodes=None, timings: dict | None = None, locations=None
                 ) -> tuple[Register, ProblemReport, list[dict]]:
    """Read ``paths`` as ``agency``'s files, merge them into the register at ``register_path``
    (created if missing) with the refresh rules of the module docstring, validate, and save
    atomically. Returns the new register, the problems of this import (the files' own and the
    validation problems about their records) and one stats dict per file. ``timings``, if
    given, receives the wall time in seconds of each stage (read, load, merge, validate, save)."""
    clock = _Clock(timings)
    register_path = Path(register_path)
    if not agency or not str(agency).strip():
        raise InputFileError("no agency given. Fix: pass --agency NAME (council, nhs, police, fire or another name).")
    agency = str(agency).strip()
    results = read_files(paths, agency=agency, kind=kind, mapping=mapping, postcodes=postcodes,
                         locations=locations)
    clock.lap("read")
    old = Register.load(register_path) if register_path.exists() else Register()
    clock.lap("load")

    new_names = {Path(r.file).name for r in results}
    agencies = {agency.lower()}
    for r in results:
        for t in (r.sites, r.services):
            if "agency" in t.columns:
                agencies |= set(t["agency"].astype("string").dropna().str.strip().str.lower())

    def keep(frame: pd.DataFrame, by_agency: bool = True) -> pd.DataFrame:
        if len(frame) == 0:
            return frame
        f = frame["source_file"].astype("string").fillna("").map(lambda v: Path(v).name if v else "")
        drop = f.isin(new_names)
        if by_agency:
            drop &= frame["agency"].astype("string").fillna("").str.strip().str.lower().isin(agencies)
        return frame.loc[~drop.to_numpy(dtype=bool)]

    def plain(t) -> pd.DataFrame:
        return pd.DataFrame(t).drop(columns=["geometry"], errors="ignore")

    sites = pd.concat([normalise_table(keep(plain(old.sites)), "sites")]
                      + [normalise_table(r.sites, "sites") for r in results], ignore_index=True)
    services = pd.concat([normalise_table(keep(old.services), "services")]
                         + [normalise_table(r.services, "services") for r in results], ignore_index=True)
    zones = pd.concat([normalise_table(keep(plain(old.zones), by_agency=False), "zones")]
                      + [normalise_table(r.zones, "zones") for r in results], ignore_index=True)

    # problems: validation's are redone for the whole register; a replaced file's reader
    # problems go with it; every other problem (other files', a builder's) stays
    op = old.problems
    op_file = op["file"].astype("string").fillna("").map(lambda v: Path(v).name if v else "")
    op_agency = op["agency"].astype("string").fillna("").str.lower()
    op_stage = op["stage"].astype("string").fillna("read")
    replaced = (op_stage == "read") & op_file.isin(new_names) & op_agency.isin(agencies)
    kept_read = op[(op_stage != "validate") & ~replaced]
    old_read = kept_read[kept_read["stage"].astype("string").fillna("read") == "read"]
    reader_report = ProblemReport.from_frame(old_read[PROBLEM_COLUMNS]) if len(old_read) else ProblemReport()
    new_read = ProblemReport()
    for r in results:
        new_read.extend(r.problems)
    all_read = ProblemReport()
    all_read.extend(reader_report)
    all_read.extend(new_read)
    clock.lap("merge")
    validation = validate_tables(sites, services, zones, all_read)
    clock.lap("validate")

    problems = pd.concat([_as_problems(kept_read),
                          _as_problems(_problem_frame(new_read, agency, "read")),
                          _as_problems(_problem_frame(validation, agency, "validate"))], ignore_index=True)

    now = datetime.now(UTC).isoformat(timespec="seconds")
    imp = old.imports
    imp_keep = imp[~(imp["file"].astype("string").fillna("").isin(new_names)
                     & imp["agency"].astype("string").fillna("").str.lower().isin(agencies))]
    stats, rows = [], []
    for r in results:
        name = Path(r.file).name
        digest = _sha256(Path(r.file))
        rows.append({"agency": agency, "file": name, "sha256": digest, "reader": r.reader,
                     "rows_read": r.rows_read, "rows_stored": r.rows_stored,
                     "rows_unreadable": r.rows_unreadable, "imported_at": now})
        counts = r.problems.counts()
        stats.append({"file": name, "path": str(r.file), "reader": r.reader, "rows_read": r.rows_read,
                      "rows_stored": r.rows_stored, "rows_unreadable": r.rows_unreadable,
                      "sites": len(r.sites), "services": len(r.services), "zones": len(r.zones),
                      "errors": counts["error"], "warnings": counts["warning"], "notes": list(r.notes),
                      "sha256": digest})
    imports = pd.concat([_as_imports(imp_keep), _as_imports(pd.DataFrame(rows, columns=IMPORT_COLUMNS))],
                        ignore_index=True)

    reg = Register.from_frames(sites, services, zones, old.boundaries, problems, imports)
    clock.lap("merge")
    reg.save(register_path)
    clock.lap("save")

    report = ProblemReport()
    report.extend(new_read)
    report.extend(p for p in validation if Path(p.file).name in new_names)
    return reg, report, stats


def validate_files(paths, agency: str | None = None, kind: str = "auto", mapping=None,
                   postcodes=None, register: Register | None = None, locations=None
                   ) -> tuple[ProblemReport, list]:
    """Read and validate files without importing them: every problem, and the read results.
    With ``register``, services are also checked against the register's sites (its sites are
    taken as they are: they are not validated again)."""
    results = read_files(paths, agency=agency, kind=kind, mapping=mapping, postcodes=postcodes,
                         locations=locations)
    report = ProblemReport()
    for r in results:
        report.extend(r.problems)
    sites = pd.concat([normalise_table(r.sites, "sites") for r in results], ignore_index=True)
    if register is not None and len(register.sites):
        names = {Path(r.file).name for r in results}
        ref = normalise_table(pd.DataFrame(register.sites).drop(columns=["geometry"]), "sites")
        ref = ref[~ref["source_file"].astype("string").fillna("").isin(names)]
        ref = ref[~ref["site_id"].isin(sites["site_id"].dropna())]
    else:
        ref = None
    services = pd.concat([normalise_table(r.services, "services") for r in results], ignore_index=True)
    zones = pd.concat([normalise_table(r.zones, "zones") for r in results], ignore_index=True)
    reader = ProblemReport()
    reader.extend(report)
    if ref is None or len(ref) == 0:
        report.extend(validate_tables(sites, services, zones, reader))
        return report, results
    report.extend(validate_sites(sites))
    exclude_by_problems(sites, reader, "sites")
    both = pd.concat([sites, ref], ignore_index=True)
    report.extend(validate_services(services, both))
    exclude_by_problems(services, reader, "services")
    report.extend(validate_zones(zones))
    exclude_by_problems(zones, reader, "zones")
    return report, results

