"""The results of the progress service (bot/services/progress.py), re-exported there:
frozen dataclasses, no presentation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.services import results


@dataclass(frozen=True, slots=True)
class PhaseInfo:
    id: int
    code: str
    starts_on: date
    ends_on: date
    ended: bool


@dataclass(frozen=True, slots=True)
class TargetFigure:
    kind: str                   # count | member_ratio | per_member
    value: Decimal
    bloc: str | None
    basis_members: int | None   # the members a ratio is taken of (None for a count)
    goal: int
    reached: int
    pct: float | None
    shortfall: int
    inherited_from: str | None  # the code of the union that set it, if not this one
    note: str | None


@dataclass(frozen=True, slots=True)
class UnitFigures:
    unit_id: int
    code: str
    name: str
    kind: str
    bloc: str | None
    members: int | None
    registered: int
    valid: int
    under_review: int
    needs_revision: int
    invalid: int
    withdrawn: int
    participants: int
    benefit_vnd: int
    targets: tuple[TargetFigure, ...]
    pct: float | None           # % of the main (first) target; None without a target


@dataclass(frozen=True, slots=True)
class Progress:
    phase: PhaseInfo
    unit: UnitFigures
    today: date
    days_left: int
    per_day_needed: float | None
    pace_14d: float
    forecast: int
    # registered so far, per day of the phase (asked with `series`, else empty)
    cumulative: tuple[tuple[date, int], ...]
    from_snapshot: bool
    children_total: int


ChildRow = UnitFigures


@dataclass(frozen=True, slots=True)
class Page:
    rows: tuple[UnitFigures, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class RankRow:
    rank: int
    unit: UnitFigures
    per_100_members: float | None
    own: bool


@dataclass(frozen=True, slots=True)
class Ranking:
    phase: PhaseInfo
    scope_code: str
    scope_name: str
    by: str                     # children | cluster
    rows: tuple[RankRow, ...]
    total: int


@dataclass(frozen=True, slots=True)
class AuthorRow:
    rank: int
    name: str
    valid: int
    registered: int


@dataclass(frozen=True, slots=True)
class Refused(results.Refused):
    """Why not: no_unit | out_of_scope | unknown_unit | no_phase | unknown_phase (a phase
    asked for by a code no phase has) | ambiguous_phase (by a code two or more phases could
    be, accents and case aside)."""

    reason: str = "out_of_scope"
