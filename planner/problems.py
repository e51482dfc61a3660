"""Problems found in input data, gathered and reported together.

One ``Problem`` names the file, the row (as a spreadsheet shows it: the header is row 1,
the first record row 2), the column, the value, what is wrong and how to fix it. A
``ProblemReport`` collects every problem of a run so that a user sees them all at once,
as a table in the terminal (rich) and as a CSV.

Severity:
- ``error``: the record is kept in the register but excluded from analysis
  (or, for a file-level problem, the file cannot be used);
- ``warning``: the record is used, but a value was corrected, estimated or looks wrong;
- ``info``: a decision the reader made that a user should know (e.g. the CRS chosen).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Problem:
    """One problem in one place of one file."""

    file: str
    row: int | None  # spreadsheet row: header is 1, first record is 2; None for file-level
    column: str | None
    value: str | None
    problem: str
    fix: str
    severity: str = "error"
    table: str = ""  # sites, services, zones, ... or "" for file-level
    record_id: str | None = None
    code: str = ""  # short machine-readable kind, e.g. "duplicate_id", "outside_gb"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def where(self) -> str:
        parts = [Path(self.file).name if self.file else "?"]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        return ", ".join(parts)

    def __str__(self) -> str:
        value = "" if self.value in (None, "") else f" (value {self.value!r})"
        return f"{self.where()}: {self.problem}{value}. Fix: {self.fix}"


PROBLEM_COLUMNS = [f.name for f in fields(Problem)]


@dataclass
class ProblemReport:
    """Every problem found in one run, in the order found."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, *args, **kwargs) -> Problem:
        p = args[0] if args and isinstance(args[0], Problem) else Problem(*args, **kwargs)
        self.problems.append(p)
        return p

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def __bool__(self) -> bool:  # a report with no problems is still a report
        return True

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def counts(self) -> dict[str, int]:
        return {s: sum(p.severity == s for p in self.problems) for s in SEVERITIES}

    def to_frame(self) -> pd.DataFrame:
        if not self.problems:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in PROBLEM_COLUMNS})
        df = pd.DataFrame([asdict(p) for p in self.problems], columns=PROBLEM_COLUMNS)
        df["row"] = df["row"].astype("Int64")
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> ProblemReport:
        out = cls()
        for rec in df.to_dict("records"):
            clean = {}
            for k in PROBLEM_COLUMNS:
                v = rec.get(k)
                if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
                    v = None
                clean[k] = v
            if clean["row"] is not None:
                clean["row"] = int(clean["row"])
            for k in ("severity", "table", "code", "problem", "fix", "file"):
                clean[k] = clean[k] if clean[k] is not None else ("error" if k == "severity" else "")
            out.add(Problem(**clean))
        return out

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the report as CSV, atomically (never leaves a half-written file)."""
        path = Path(path)
        write_text_atomic(path, self.to_csv_text())
        return path

    def to_csv_text(self) -> str:
        buf = io.StringIO()
        self.to_frame().to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
        return buf.getvalue()

    def render(self, console=None, title: str = "Problems found", limit: int | None = 200) -> None:
        """Print the report as a rich table (every problem, up to ``limit`` rows)."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = console or Console()
        c = self.counts()
        if not self.problems:
            console.print("[green]No problems found.[/green]")
            return
        table = Table(title=f"{title}: {c['error']} errors, {c['warning']} warnings, {c['info']} notes",
                      show_lines=False, expand=True)
        for col, style in (("severity", None), ("file", "dim"), ("row", None), ("column", "cyan"),
                           ("value", None), ("problem", None), ("fix", "green")):
            table.add_column(col, style=style, overflow="fold")
        colour = {"error": "[red]error[/red]", "warning": "[yellow]warning[/yellow]", "info": "info"}
        shown = self.problems if limit is None else self.problems[:limit]
        for p in shown:
            table.add_row(colour[p.severity], escape(Path(p.file).name if p.file else ""),
                          "" if p.row is None else str(p.row), escape(p.column or ""),
                          escape("" if p.value is None else str(p.value)[:60]), escape(p.problem), escape(p.fix))
        console.print(table)
        if limit is not None and len(self.problems) > limit:
            console.print(f"... and {len(self.problems) - limit} more: write them all with --problems FILE.csv")


def new_file_mode() -> int:
    """The permissions an ordinary new file gets here (0o666 less the umask), for files made
    through a private temporary file (mkstemp makes them 0o600, unreadable to colleagues on a
    shared drive). The umask is read without changing it (os.umask would, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
