"""The campaigns' tables (imported by storage.models: one metadata)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import account_t, person_t

# --------------------------------------------------------------------------- campaigns


class Campaign(SQLModel, table=True):
    """A campaign: who sends what to whom, and when (bot/services/campaigns.py).

    The schedule is data: `kind` once (at `once_at`), daily or weekly (at `at_time`, local,
    `weekday` 0 = Monday), before_end (a countdown: every day at `at_time` from `days` days
    before the end — `ends_on`, else the current phase's — to the last day). `next_due_at`
    is the next slot's nominal time (UTC); the scheduler finds due campaigns by it."""

    __tablename__ = "campaign"
    __table_args__ = (
        Index("ix_campaign_due", "state", "next_due_at"),
        Index("ix_campaign_unit", "unit_id", "id"),
        Index("ix_campaign_owner", "owner_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int | None = Field(default=None, foreign_key="person.id")  # None: the shell
    unit_id: int = Field(foreign_key="unit.id")
    name: str = Field(max_length=255)
    starts_on: date | None = Field(default=None)
    ends_on: date | None = Field(default=None)
    # members | no_initiative | idle_drafts | lagging_units | leaderboard
    audience: str = Field(max_length=16)
    bloc: str | None = Field(default=None, max_length=32)
    cluster: str | None = Field(default=None, max_length=128)
    below_pct: int | None = Field(default=None)   # whole percent
    idle_days: int | None = Field(default=None)
    kind: str = Field(max_length=12)      # once | daily | weekly | before_end
    once_at: datetime | None = Field(default=None)
    at_time: str | None = Field(default=None, max_length=5)   # HH:MM, Asia/Ho_Chi_Minh
    weekday: int | None = Field(default=None)
    days: int | None = Field(default=None)
    text: str = Field(sa_column=Column(Text, nullable=False))  # as the owner wrote it
    # draft | scheduled | running | paused | done | cancelled
    state: str = Field(default="draft", max_length=12)
    next_due_at: datetime | None = Field(default=None)
    skipped_opted_out: int = Field(default=0)
    skipped_capped: int = Field(default=0)
    held_quiet: int = Field(default=0)    # messages held until the end of quiet hours
    created_at: datetime
    updated_at: datetime


class CampaignSlot(SQLModel, table=True):
    """One sending of a campaign: expanded into outbox rows in batches, person by person in
    (unit, id) order; (`cursor_unit`, `cursor`) is the last person expanded, saved with each
    batch's rows, so expansion resumes after a crash, where it was."""

    __tablename__ = "campaign_slot"
    __table_args__ = (
        UniqueConstraint("campaign_id", "slot_key", name="uq_campaign_slot"),
        Index("ix_campaign_slot_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    slot_key: str = Field(max_length=16)      # the nominal local time, YYYYMMDDHHMM
    due_at: datetime                          # after quiet hours
    state: str = Field(default="pending", max_length=12)  # pending|done|cancelled
    cursor_unit: int | None = Field(default=None)   # the unit of the last person expanded
    cursor: int | None = Field(default=None, sa_column=Column(BigInteger))
    queued: int = Field(default=0)
    created_at: datetime
    done_at: datetime | None = Field(default=None)


class CampaignSlotUnit(SQLModel, table=True):
    """The units a slot's audience lives in (the owner's subtree, filtered by bloc and
    cluster), written when the slot starts and deleted when it ends."""

    __tablename__ = "campaign_slot_unit"

    slot_id: int = Field(foreign_key="campaign_slot.id", primary_key=True)
    unit_id: int = Field(primary_key=True)


class CampaignOptOut(SQLModel, table=True):
    """People who typed /tatthongbao: no campaign messages (review alerts still come)."""

    __tablename__ = "campaign_opt_out"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    at: datetime


class CampaignSend(SQLModel, table=True):
    """Campaign messages queued per person and local day: the cap per day and per week."""

    __tablename__ = "campaign_send"

    person_id: int = Field(primary_key=True)
    day: date = Field(primary_key=True)
    n: int = Field(default=0)


campaign_t = Campaign.__table__
campaign_slot_t = CampaignSlot.__table__
campaign_slot_unit_t = CampaignSlotUnit.__table__
campaign_opt_out_t = CampaignOptOut.__table__
campaign_send_t = CampaignSend.__table__
# Audiences are streamed person by person within units (storage/campaigns.py).
Index("ix_person_unit_person", person_t.c.unit_id, person_t.c.id)
# Each recipient's latest reachable account (storage/campaign_audiences.py), without a sort.
Index("ix_account_person_latest", account_t.c.person_id, account_t.c.updated_at, account_t.c.id)
