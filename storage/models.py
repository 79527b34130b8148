"""SQLModel tables: the whole schema in one place.

Conversation state lives here, not in memory: `account` holds the step a chat is at and a
small JSON blob (the menu on screen, a parsed value awaiting confirmation); `draft` holds the
fields answered so far. Every lookup the bot does per message has an index.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

# Search terms are compared byte-wise (prefix ranges); PostgreSQL needs the C collation
# for a btree range scan to mean the same thing as on SQLite.
TermType = String(64).with_variant(String(64, collation="C"), "postgresql")


class Unit(SQLModel, table=True):
    """A union in the hierarchy (national → province/sector → district → grassroots)."""

    __tablename__ = "unit"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=255)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    kind: str = Field(max_length=32)
    bloc: str = Field(default="other", max_length=32)
    member_count: int = Field(default=0)
    cluster: str | None = Field(default=None, max_length=128)
    depth: int = Field(default=0)
    is_demo: bool = Field(default=False)


class DirectoryVersion(SQLModel, table=True):
    """One row: bumped by triggers on `unit` and `phase` (migration 0770) whenever a unit
    is added, removed, renamed, moved or given another bloc, or a phase added, removed or
    redated. Processes keep unit rows, searches and chains while it stays the same
    (storage/unit_cache.py)."""

    __tablename__ = "directory_version"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    n: int = Field(sa_column=Column(BigInteger, nullable=False))


class UnitTerm(SQLModel, table=True):
    """One folded search word of a unit's name or of one of its ancestors' names.

    The key leads with `grassroots` (the unit's kind is grassroots): the bot always searches
    either grassroots unions (a worker's own) or the unions above them (the receiving union),
    and an ancestor's word such as a province's name is shared by tens of thousands of
    grassroots units. With the flag first, a search for the unions above scans only their
    terms instead of filtering every grassroots unit out after the range scan.
    """

    __tablename__ = "unit_term"
    __table_args__ = (Index("ix_unit_term_unit", "unit_id", "term"),)

    grassroots: bool = Field(primary_key=True)
    term: str = Field(sa_column=Column(TermType, primary_key=True))
    unit_id: int = Field(foreign_key="unit.id", primary_key=True)
    own: bool = Field(default=True)


class UnitTermCount(SQLModel, table=True):
    """How many units of a kind have a search word: a search starts from its rarest word, and
    adding these up over a prefix range costs the number of distinct words in the range, not
    the number of units that have them."""

    __tablename__ = "unit_term_count"

    grassroots: bool = Field(primary_key=True)
    term: str = Field(sa_column=Column(TermType, primary_key=True))
    units: int


class Person(SQLModel, table=True):
    """A human; one person may reach the bot through several channel accounts."""

    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=128)  # the name credited on initiatives
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)  # grassroots
    onboarded: bool = Field(default=False)
    alert_mode: str = Field(default="instant", max_length=8)  # instant | digest
    created_at: datetime


class RoleGrant(SQLModel, table=True):
    """A role on a unit; it covers the unit and everything below it."""

    __tablename__ = "role_grant"
    __table_args__ = (Index("ix_role_grant_person", "person_id", "role"),
                      Index("ix_role_grant_unit", "unit_id", "role"))

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    role: str = Field(max_length=16)  # support | chair | admin
    unit_id: int = Field(foreign_key="unit.id")
    granted_by: int | None = Field(default=None, foreign_key="person.id")
    code: str | None = Field(default=None, max_length=24)  # the invite it came from
    created_at: datetime
    revoked_at: datetime | None = Field(default=None)


class OneTimeCode(SQLModel, table=True):
    """Invites, account links and initiative claims: used once, expiring, revocable."""

    __tablename__ = "one_time_code"
    __table_args__ = (Index("ix_code_creator", "created_by", "purpose"),)

    code: str = Field(primary_key=True, max_length=24)
    purpose: str = Field(max_length=16)  # invite | link | claim
    role: str | None = Field(default=None, max_length=16)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    target_id: int | None = Field(default=None)  # the initiative a claim code hands over
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime
    expires_at: datetime
    used_by: int | None = Field(default=None, foreign_key="person.id")
    used_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)


class Account(SQLModel, table=True):
    """A person's identity on one channel, and the conversation state of that chat."""

    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_account_channel_ext"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    locale: str | None = Field(default=None, max_length=8)
    step: str = Field(default="idle", max_length=32)
    state: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    draft_id: int | None = Field(default=None)
    reachable: bool = Field(default=True)  # False once the user blocked the bot
    created_at: datetime
    updated_at: datetime


class Draft(SQLModel, table=True):
    """An initiative being written; saved after every answered step."""

    __tablename__ = "draft"
    __table_args__ = (Index("ix_draft_person_updated", "person_id", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    step: str = Field(default="title", max_length=32)
    title: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, sa_column=Column(Text))
    benefit_vnd: int | None = Field(default=None, sa_column=Column(BigInteger))
    benefit_known: bool | None = Field(default=None)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    field_code: str | None = Field(default=None, max_length=32)
    applied_on: date | None = Field(default=None)
    applied_month_only: bool = Field(  # typed as a month ("3/2025")
        default=False, sa_column_kwargs={"server_default": false()})
    recognized: bool | None = Field(default=None)
    coauthors: str | None = Field(default=None, sa_column=Column(Text))  # JSON list of names
    attachments: str | None = Field(default=None, sa_column=Column(Text))  # JSON list
    on_behalf: bool = Field(default=False)
    author_name: str | None = Field(default=None, max_length=128)
    author_phone: str | None = Field(default=None, max_length=20)
    author_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    initiative_id: int | None = Field(default=None)  # set when revising a returned initiative
    created_at: datetime
    updated_at: datetime


class Initiative(SQLModel, table=True):
    """A submitted initiative (sáng kiến)."""

    __tablename__ = "initiative"
    __table_args__ = (
        Index("ix_initiative_person", "person_id", "id"),
        Index("ix_initiative_unit_status", "unit_id", "status", "submitted_at"),
        Index("ix_initiative_author_unit_status", "author_unit_id", "status", "submitted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = Field(default=None, max_length=16, unique=True)
    person_id: int | None = Field(default=None, foreign_key="person.id")  # the author's account
    entered_by: int = Field(foreign_key="person.id")  # who typed it in (author or support team)
    author_name: str = Field(default="", max_length=128)
    author_phone: str | None = Field(default=None, max_length=20)
    author_unit_id: int | None = Field(default=None, foreign_key="unit.id")  # grassroots
    title: str = Field(max_length=255)
    description: str = Field(sa_column=Column(Text, nullable=False))
    field_code: str | None = Field(default=None, max_length=32)
    applied_on: date | None = Field(default=None)
    applied_month_only: bool = Field(  # typed as a month ("3/2025")
        default=False, sa_column_kwargs={"server_default": false()})
    recognized: bool = Field(default=False)
    benefit_vnd: int | None = Field(default=None, sa_column=Column(BigInteger))
    benefit_known: bool = Field(default=True)
    attachments: str | None = Field(default=None, sa_column=Column(Text))  # JSON list
    unit_id: int = Field(foreign_key="unit.id")  # the receiving (superior) union
    status: str = Field(default="under_review", max_length=16)
    channel: str = Field(max_length=16)
    submitted_at: datetime


class InitiativeAuthor(SQLModel, table=True):
    """The author group: the initiative counts once, its authors are credited together."""

    __tablename__ = "initiative_author"

    initiative_id: int = Field(foreign_key="initiative.id", primary_key=True)
    position: int = Field(primary_key=True)
    name: str = Field(max_length=128)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)


class InitiativeEvent(SQLModel, table=True):
    """The audit log of an initiative: who changed its status, when, from, to, and why."""

    __tablename__ = "initiative_event"
    __table_args__ = (Index("ix_initiative_event_ini", "initiative_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: int = Field(foreign_key="initiative.id")
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    at: datetime
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text))


class InitiativeTerm(SQLModel, table=True):
    """Folded words of an initiative's title and description, per receiving union: the
    candidates for the similar-initiatives check are found through this index."""

    __tablename__ = "initiative_term"
    __table_args__ = (Index("ix_initiative_term_ini", "initiative_id"),)

    unit_id: int = Field(primary_key=True)
    term: str = Field(sa_column=Column(TermType, primary_key=True))
    initiative_id: int = Field(primary_key=True)


class PendingAlert(SQLModel, table=True):
    """A new-submission alert held for a reviewer who chose the daily digest."""

    __tablename__ = "pending_alert"
    __table_args__ = (Index("ix_pending_alert_person", "person_id", "digested_at"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    initiative_id: int = Field(foreign_key="initiative.id")
    created_at: datetime
    digested_at: datetime | None = Field(default=None)


_ACTIVE = text("status IN ('pending', 'sending')")
_SENDING = text("status = 'sending'")
_CAMPAIGN = text("campaign_slot_id IS NOT NULL")
KeyType = String(128).with_variant(String(128, collation="C"), "postgresql")


class Outbox(SQLModel, table=True):
    """Every message the bot sends on its own initiative (alerts, decisions, digests).

    Written in the same transaction as the change that causes it; a sender claims due rows
    (a lease), sends, and marks them sent, so a crash or restart neither loses nor repeats.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # Claims walk a channel's pending rows by priority, then due time, then age.
        Index("ix_outbox_due", "status", "channel", "priority", "not_before", "id"),
        # A chat's rows still to send: whose turn it is, without its history of sent rows
        # (and a chat's pending rows, `mark_unreachable`: no index of every row per chat, which
        # a campaign's million rows would have to write for nobody; migration 0740).
        Index("ix_outbox_chat_active", "channel", "chat_id", "priority", "id",
              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE),
        # Whether a chat has a row in flight (a few rows at any time).
        Index("ix_outbox_sending", "channel", "chat_id",
              sqlite_where=_SENDING, postgresql_where=_SENDING),
        # A campaign's rows: one per slot and account (the scheduler's key), and a campaign's
        # rows found by its slots (counts, pause, cancel). Two integers: the text key
        # "camp:<campaign>:<slot>:<account>" it replaces was three times the size, in an index
        # that a million rows written in a minute each update at a random place (0740).
        Index("uq_outbox_campaign", "campaign_slot_id", "account_id", unique=True,
              sqlite_where=_CAMPAIGN, postgresql_where=_CAMPAIGN),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    # An account's id, without a foreign key (migration 0740): accounts are never deleted,
    # and PostgreSQL checked the key by locking the account's row for every message queued.
    account_id: int | None = Field(default=None)
    kind: str = Field(max_length=16)  # alert | decision | digest | notice
    locale: str = Field(default="vi", max_length=8)
    text: str = Field(sa_column=Column(Text, nullable=False))  # HTML, user text escaped
    options: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    # A reply's chart or report (JSON [kind, spec]: what to make, `bot.media`), made again
    # when sent: a reference, never the file, so it survives a restart.
    attachment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Byte order on PostgreSQL too, so that a key prefix ("digest:12:") is an index range.
    # (Campaign rows have none since 0740: `campaign_slot_id` and `account_id` are their key.)
    dedupe_key: str | None = Field(default=None, sa_column=Column(
        KeyType, unique=True, nullable=True))
    # A campaign's row: its slot (`campaign_slot.id`; no foreign key: slots are never deleted)
    campaign_slot_id: int | None = Field(default=None)
    # pending|sending|sent|failed|unreachable|cancelled (a cancelled campaign's unsent rows)
    status: str = Field(default="pending", max_length=12)
    # 0 replies, alerts, decisions (always first); 5 digests; 9 campaigns and broadcasts.
    priority: int = Field(default=0, sa_column=Column(
        Integer, nullable=False, default=0, server_default="0"))
    not_before: datetime
    attempts: int = Field(default=0)
    claimed_until: datetime | None = Field(default=None)
    claimed_by: str | None = Field(default=None, max_length=64)  # outbox_sender.id
    created_at: datetime
    sent_at: datetime | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=255)


_QUEUED = text("payload IS NOT NULL")
_UNSENT = text("replies IS NOT NULL")


class InboundEvent(SQLModel, table=True):
    """Inbound events: a redelivered update is recognised here; one taken from a webhook
    waits here until it is handled (`payload` is set while it waits, in `seq` order per
    chat); and the replies of a handled event stay here until the channel has sent them
    (`replies` is cleared then), so that none is lost to a crash between commit and reply."""

    __tablename__ = "inbound_event"
    __table_args__ = (
        Index("ix_inbound_event_queued", "channel", "chat_id", "seq",
              sqlite_where=_QUEUED, postgresql_where=_QUEUED),
        Index("ix_inbound_event_unsent", "received_at",
              sqlite_where=_UNSENT, postgresql_where=_UNSENT),
    )

    channel: str = Field(primary_key=True, max_length=16)
    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(index=True)
    failed: bool = Field(default=False)
    chat_id: str | None = Field(default=None, max_length=64)
    seq: int | None = Field(default=None, sa_column=Column(BigInteger))  # order in its chat
    payload: str | None = Field(default=None, sa_column=Column(Text))    # waiting: the event
    replies: str | None = Field(default=None, sa_column=Column(Text))    # not yet sent


class JobLease(SQLModel, table=True):
    """Which process runs a singleton job (digests, upkeep, campaigns): a lease it renews
    every few seconds; once `expires_at` has passed, another process may take it over.
    See `storage.leases` and `bot.leader`."""

    __tablename__ = "job_lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)   # host:pid:nonce of the process holding it
    acquired_at: datetime                 # when this holder took it (kept on renewals)
    expires_at: datetime


class OutboxSender(SQLModel, table=True):
    """A running outbox sender: its heartbeat. Rows it claimed (`outbox.claimed_by`) are
    claimed again at once when `seen_at` is stale (the process died), not after the lease."""

    __tablename__ = "outbox_sender"

    id: str = Field(primary_key=True, max_length=64)   # host:pid:nonce
    started_at: datetime
    seen_at: datetime


class OutboxChannel(SQLModel, table=True):
    """A channel's overall pacing, shared by every sender process: the next free send slot.
    Claims take slots `1/rate` apart and move `next_at` on, in the claim's transaction."""

    __tablename__ = "outbox_channel"

    channel: str = Field(primary_key=True, max_length=16)
    next_at: datetime
    # Seconds the slots were moved on after late sends, ever: a late send moves them on only
    # by what the shifts since its slot was handed out did not already (`shift_channel`).
    shifted: float = Field(default=0.0, sa_column=Column(
        Double, nullable=False, default=0.0, server_default="0"))


class OutboxChat(SQLModel, table=True):
    """A chat's pacing, shared by every sender process: nothing is sent to it before
    `next_at` (set at the claim from the row's slot, and from the answer once sent)."""

    __tablename__ = "outbox_chat"

    channel: str = Field(primary_key=True, max_length=16)
    chat_id: str = Field(primary_key=True, max_length=64)
    next_at: datetime = Field(index=True)


unit_t = Unit.__table__
directory_version_t = DirectoryVersion.__table__
unit_term_t = UnitTerm.__table__
unit_term_count_t = UnitTermCount.__table__
person_t = Person.__table__
account_t = Account.__table__
draft_t = Draft.__table__
initiative_t = Initiative.__table__
inbound_event_t = InboundEvent.__table__
role_grant_t = RoleGrant.__table__
one_time_code_t = OneTimeCode.__table__
initiative_author_t = InitiativeAuthor.__table__
initiative_event_t = InitiativeEvent.__table__
initiative_term_t = InitiativeTerm.__table__
pending_alert_t = PendingAlert.__table__
outbox_t = Outbox.__table__
job_lease_t = JobLease.__table__
outbox_sender_t = OutboxSender.__table__
outbox_channel_t = OutboxChannel.__table__
outbox_chat_t = OutboxChat.__table__


# The progress and campaign tables live beside this module; importing them here puts them in
# the one metadata every `storage.models` user (migrations, tests) sees.
from storage import models_campaigns as models_campaigns  # noqa: E402
from storage import models_progress as models_progress  # noqa: E402
