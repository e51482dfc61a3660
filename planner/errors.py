"""The planner's exceptions: a tiny set, each subclassing a built-in.

Catch ``PlannerError`` to catch them all. Every message says what is wrong, where
(file, row, column, key) and how to fix it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.problems import ProblemReport


class PlannerError(Exception):
    """Base class of every error the planner raises on purpose."""


class InputFileError(PlannerError, ValueError):
    """A whole file cannot be used: unreadable, wrong format, no recognisable columns."""


class ValidationError(PlannerError, ValueError):
    """One or more problems found in input data; ``report`` holds every one of them."""

    def __init__(self, message: str, report: ProblemReport | None = None):
        super().__init__(message)
        self.report = report


class ScenarioError(PlannerError, ValueError):
    """A scenario file or setting is unknown, of the wrong type or impossible."""


class SolverError(PlannerError, RuntimeError):
    """The solver could not be run, or its answer cannot be reported (not solved)."""
