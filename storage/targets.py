"""Phases and targets: saved as a target file gives them (bot/progress_files.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from storage.access import ANCESTORS
from storage.models import unit_t
from storage.models_progress import phase_t, target_t
from storage.textfold import fold


@dataclass(frozen=True, slots=True)
class TargetRow:
    unit_code: str
    phase: str
    starts_on: date
    ends_on: date
    bloc: str | None
    kind: str
    value: Decimal
    note: str | None


def phases(conn: Connection) -> dict[str, Any]:
    """Every phase by code (a handful), in the order they start."""
    return {r.code: r for r in conn.execute(select(phase_t).order_by(phase_t.c.starts_on,
                                                                     phase_t.c.id))}


def matching_phases(codes: Iterable[str], typed: str) -> list[str]:
    """The phases a user means by `typed`: its exact code when a phase has it; else every
    code equal to it without diacritics, đ as d, in any case ("gd2", "GD2" → "GĐ2").
    One: that phase; more: ambiguous (say which); none: no such phase."""
    codes = list(codes)
    typed = " ".join(typed.split())
    if typed in codes:
        return [typed]
    key = fold(typed)
    return [code for code in codes if key and fold(code) == key]


def save_phase(conn: Connection, *, code: str, starts_on: date, ends_on: date) -> tuple[int, bool]:
    """Create the phase or set its dates; returns (id, whether its dates changed)."""
    row = conn.execute(select(phase_t).where(phase_t.c.code == code)).first()
    if row is None:
        new_id = conn.execute(insert(phase_t).values(code=code, starts_on=starts_on,
                                                     ends_on=ends_on)
                              .returning(phase_t.c.id)).scalar_one()
        return new_id, True
    if (row.starts_on, row.ends_on) == (starts_on, ends_on):
        return row.id, False
    conn.execute(update(phase_t).where(phase_t.c.id == row.id)
                 .values(starts_on=starts_on, ends_on=ends_on))
    return row.id, True


def replace_targets(conn: Connection, *, phase_id: int, unit_id: int,
                    rows: list[TargetRow]) -> None:
    """The unit's targets for the phase become `rows`, in their order."""
    conn.execute(delete(target_t).where(target_t.c.phase_id == phase_id,
                                        target_t.c.unit_id == unit_id))
    if rows:
        conn.execute(insert(target_t), [
            {"unit_id": unit_id, "phase_id": phase_id, "position": i, "bloc": r.bloc,
             "kind": r.kind, "value": r.value, "starts_on": r.starts_on, "ends_on": r.ends_on,
             "note": r.note} for i, r in enumerate(rows)])


def export_targets(conn: Connection) -> list[TargetRow]:
    q = (select(unit_t.c.code, phase_t.c.code.label("phase"), phase_t.c.starts_on,
                phase_t.c.ends_on, target_t.c.starts_on.label("t_start"),
                target_t.c.ends_on.label("t_end"), target_t.c.bloc, target_t.c.kind,
                target_t.c.value, target_t.c.note)
         .join(unit_t, unit_t.c.id == target_t.c.unit_id)
         .join(phase_t, phase_t.c.id == target_t.c.phase_id)
         .order_by(phase_t.c.starts_on, unit_t.c.depth, unit_t.c.code, target_t.c.position))
    return [TargetRow(r.code, r.phase, r.t_start or r.starts_on, r.t_end or r.ends_on, r.bloc,
                      r.kind, Decimal(r.value).normalize(), r.note) for r in conn.execute(q)]


def _chain_stmt() -> Any:
    anc, t = ANCESTORS, target_t
    return (select(anc.c.id, unit_t.c.code, t.c.kind, t.c.value, t.c.bloc, t.c.note)
            .select_from(anc.join(unit_t, unit_t.c.id == anc.c.id)
                         .outerjoin(t, and_(t.c.unit_id == anc.c.id,
                                            t.c.phase_id == bindparam("phase_id"))))
            .order_by(anc.c.lvl, t.c.position, t.c.id))


_CHAIN = _chain_stmt()


def chain_targets(conn: Connection, *, unit_id: int, phase_id: int) -> list[Any]:
    """The unit and its ancestors, nearest first, each with its targets for the phase
    (rows: unit id, code, kind, value, bloc, note; kind None where a unit has none)."""
    return conn.execute(_CHAIN, {"unit_id": unit_id, "phase_id": phase_id}).all()
