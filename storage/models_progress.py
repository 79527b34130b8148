"""Targets and the progress rollups' tables (imported by storage.models: one metadata)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Index, Integer, Numeric, Text
from sqlmodel import Field, SQLModel

from storage.models import unit_t

# --------------------------------------------------------------------------- progress
# Targets per unit and phase, and the rollups behind /tiendo (bot/services/progress.py,
# storage/progress.py). A change to an initiative appends delta rows (one per union from its
# grassroots union up): no row is shared by every submission, so none is locked by all of
# them. The upkeep job folds the deltas into `progress_total`/`progress_day`; a reader adds
# the few deltas not yet folded to the totals.


class Phase(SQLModel, table=True):
    """A phase (giai đoạn) of the drive: an initiative counts in the phase holding its
    submission date."""

    __tablename__ = "phase"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    starts_on: date = Field(index=True)
    ends_on: date
    snapshot_at: datetime | None = Field(default=None)   # figures frozen (progress_snapshot)


class Target(SQLModel, table=True):
    """A target (chỉ tiêu) of a unit for a phase; a unit may have several."""

    __tablename__ = "target"
    __table_args__ = (Index("ix_target_phase_unit", "phase_id", "unit_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    phase_id: int = Field(foreign_key="phase.id")
    position: int = Field(default=0)
    bloc: str | None = Field(default=None, max_length=32)      # None: every bloc
    kind: str = Field(max_length=16)                            # count|member_ratio|per_member
    value: Decimal = Field(sa_column=Column(Numeric(14, 6), nullable=False))
    starts_on: date | None = Field(default=None)                # as the target file gave them
    ends_on: date | None = Field(default=None)
    note: str | None = Field(default=None, sa_column=Column(Text))


class ProgressDelta(SQLModel, table=True):
    """Append-only changes to a unit's figures (no foreign keys: nothing to lock)."""

    __tablename__ = "progress_delta"
    __table_args__ = (Index("ix_progress_delta_unit", "phase_id", "unit_id"),)

    id: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True))
    phase_id: int
    unit_id: int
    bloc: str = Field(max_length=32)       # the grassroots union's bloc
    day: date | None = Field(default=None)  # submission date, for the per-day counts
    registered: int = Field(default=0)
    valid: int = Field(default=0)
    under_review: int = Field(default=0)
    needs_revision: int = Field(default=0)
    invalid: int = Field(default=0)
    withdrawn: int = Field(default=0)
    participants: int = Field(default=0)
    benefit_vnd: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    day_registered: int = Field(default=0)


class ProgressTotal(SQLModel, table=True):
    """A unit's folded figures per phase and bloc (written by the upkeep job only). The
    unit's parent is kept beside (set by the fold, moved with the unit): a unit's children's
    figures are one range of `ix_progress_total_parent`, not a probe per child."""

    __tablename__ = "progress_total"
    # every column a ranking reads of the children: their rows come from the index alone
    __table_args__ = (Index("ix_progress_total_parent", "phase_id", "parent_id", "unit_id",
                            "bloc", "registered"),)

    phase_id: int = Field(primary_key=True)
    unit_id: int = Field(primary_key=True)
    bloc: str = Field(primary_key=True, max_length=32)
    parent_id: int | None = Field(default=None)
    registered: int = Field(default=0)
    valid: int = Field(default=0)
    under_review: int = Field(default=0)
    needs_revision: int = Field(default=0)
    invalid: int = Field(default=0)
    withdrawn: int = Field(default=0)
    participants: int = Field(default=0)
    benefit_vnd: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class ProgressDay(SQLModel, table=True):
    """Registered initiatives of a unit per submission day (the chart, the pace)."""

    __tablename__ = "progress_day"

    phase_id: int = Field(primary_key=True)
    unit_id: int = Field(primary_key=True)
    day: date = Field(primary_key=True)
    registered: int = Field(default=0)


class ProgressAuthor(SQLModel, table=True):
    """An author's initiatives in a unit (their grassroots union and each union above) and
    phase: the participants and the top authors. Only that author's changes touch it."""

    __tablename__ = "progress_author"
    __table_args__ = (Index("ix_progress_author_top", "phase_id", "unit_id", "valid",
                            "registered"),)

    phase_id: int = Field(primary_key=True)
    unit_id: int = Field(primary_key=True)
    author: str = Field(primary_key=True, max_length=160)   # p<person id> | n<unit>:<name>
    name: str = Field(max_length=128)
    registered: int = Field(default=0)
    valid: int = Field(default=0)


class UnitMembers(SQLModel, table=True):
    """Members of the grassroots unions of each bloc in a unit's subtree (ratio bases)."""

    __tablename__ = "unit_members"

    unit_id: int = Field(primary_key=True)
    bloc: str = Field(primary_key=True, max_length=32)
    members: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class ProgressSnapshot(SQLModel, table=True):
    """A unit's figures and member counts frozen at the end of a phase. The unit's parent
    is kept beside, as in `progress_total` (set when frozen, moved with the unit): an ended
    phase's children are one range of `ix_progress_snapshot_parent`."""

    __tablename__ = "progress_snapshot"
    __table_args__ = (Index("ix_progress_snapshot_parent", "phase_id", "parent_id",
                            "unit_id", "bloc", "registered", "members", "unit_members"),)

    phase_id: int = Field(primary_key=True)
    unit_id: int = Field(primary_key=True)
    bloc: str = Field(primary_key=True, max_length=32)
    parent_id: int | None = Field(default=None)
    registered: int = Field(default=0)
    valid: int = Field(default=0)
    under_review: int = Field(default=0)
    needs_revision: int = Field(default=0)
    invalid: int = Field(default=0)
    withdrawn: int = Field(default=0)
    participants: int = Field(default=0)
    benefit_vnd: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    members: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    unit_members: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


phase_t = Phase.__table__
target_t = Target.__table__
progress_delta_t = ProgressDelta.__table__
progress_total_t = ProgressTotal.__table__
progress_day_t = ProgressDay.__table__
progress_author_t = ProgressAuthor.__table__
unit_members_t = UnitMembers.__table__
progress_snapshot_t = ProgressSnapshot.__table__
# Progress lookups on existing tables: a cluster's units. (Initiatives by grassroots union
# and date use ix_initiative_author_unit_status: author_unit_id, status, submitted_at.)
Index("ix_unit_cluster", unit_t.c.cluster)
# A ranking's siblings (id, code, member count) from the index alone (0760).
Index("ix_unit_parent_rank", unit_t.c.parent_id, unit_t.c.code, unit_t.c.member_count)
