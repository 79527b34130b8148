"""One chat's state as loaded for an event, and the context a flow step runs in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bot.draft import Draft
from bot.events import Option, Reply
from bot.i18n import Gettext, gettext_for
from bot.services.actor import Actor
from bot.state import ChatState
from storage import access, queries
from storage.queries import DRAFT_FIELDS
from storage.unit_cache import Units

_ACCOUNT_FIELDS = ("step", "state", "draft_id", "locale")


class Conversation:
    """The account row (conversation state) and its drafts, with change tracking.

    Loaded once per batch; steps change it; only what changed is written back.
    """

    def __init__(self, row: dict[str, Any]) -> None:
        self.account_id: int = row["id"]
        self.person_id: int = row["person_id"]
        self.chat_id: str = row["chat_id"]
        self.step: str = row["step"]
        self.state = ChatState.loads(row["state"])
        self.draft_id: int | None = row["draft_id"]
        self.locale: str | None = row["locale"]
        # False: the person held no role when loaded (their roles need not be read). Set
        # again where this conversation's person may gain one (a code redeemed, a link).
        self.may_hold_roles: bool = row.get("has_grant", True)
        # As stored (the state as its text: dumping what was just loaded would only give
        # the same text back, at a cost paid for every event).
        self._saved = (self.step, row["state"] or "{}", self.draft_id, self.locale)
        self.drafts: dict[int, Draft] = {}
        self._drafts_saved: dict[int, dict[str, Any]] = {}
        if row.get("draft") is not None:
            self.track_draft(Draft.from_row(row["draft"]))

    # ---- drafts
    def track_draft(self, draft: Draft) -> Draft:
        self.drafts[draft.id] = draft
        self._drafts_saved[draft.id] = draft.to_row()   # as stored: compared on write-back
        return draft

    def forget_draft(self, draft_id: int) -> None:
        """The draft was deleted or submitted: nothing to write back."""
        self.drafts.pop(draft_id, None)
        self._drafts_saved.pop(draft_id, None)
        if self.draft_id == draft_id:
            self.draft_id = None

    @property
    def draft(self) -> Draft | None:
        return self.drafts.get(self.draft_id) if self.draft_id is not None else None

    # ---- write-back
    def _account_snapshot(self) -> tuple[Any, ...]:
        return (self.step, self.state.dumps(), self.draft_id, self.locale)

    def account_changes(self, now: datetime) -> dict[str, Any] | None:
        snap = self._account_snapshot()
        if snap == self._saved:
            return None
        self._saved = snap
        return {"_id": self.account_id, **dict(zip(_ACCOUNT_FIELDS, snap, strict=True)),
                "updated_at": now}

    def draft_changes(self, now: datetime) -> list[dict[str, Any]]:
        out = []
        for draft_id, draft in self.drafts.items():
            row = draft.to_row()
            if row == self._drafts_saved[draft_id]:
                continue
            self._drafts_saved[draft_id] = row
            out.append({"_id": draft_id, **{f: row[f] for f in DRAFT_FIELDS},
                        "updated_at": now})
        return out


@dataclass
class Ctx:
    """What a step may touch: the connection, the clock, the conversation, the replies."""

    conn: Connection
    now: datetime
    channel: str
    conv: Conversation
    locale: str
    _: Gettext
    default_locale: str = "vi"
    replies: list[Reply] = field(default_factory=list)
    toast: str | None = None
    # Person rows read in this batch, by id: shared by its conversations (one person may
    # write from two linked accounts in the same batch).
    people: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Who is in control of the conversation right now: the step being answered, or
    # "/<action>" while a command runs. The dispatcher checks each move against it.
    in_control: str = ""
    dispatcher: Any = None   # bot.flows.engine.Dispatcher, set when it runs the event
    # Unit lookups of this batch, shared by its events (kept by the core: storage/unit_cache).
    unit_reader: Units | None = None

    @property
    def units(self) -> Units:
        if self.unit_reader is None:
            self.unit_reader = Units(self.conn)
        return self.unit_reader

    @property
    def state(self) -> ChatState:
        return self.conv.state

    @property
    def draft(self) -> Draft:
        """The draft being written (only draft steps ask for it: there is one)."""
        draft = self.conv.draft
        assert draft is not None, f"no draft at step {self.conv.step}"
        return draft

    @property
    def actor(self) -> Actor:
        return Actor(person_id=self.conv.person_id, channel=self.channel)

    def person(self) -> dict[str, Any]:
        """The user's person row, read once per batch (see `update_person`)."""
        row = self.people.get(self.conv.person_id)
        if row is None:
            row = self.people[self.conv.person_id] = access.get_person(
                self.conn, person_id=self.conv.person_id)
        return row

    def update_person(self, **values: Any) -> None:
        access.update_person(self.conn, person_id=self.conv.person_id, **values)
        if self.conv.person_id in self.people:
            self.people[self.conv.person_id].update(values)

    def forget_people(self, *person_ids: int) -> None:
        """Person rows a service changed behind the cache (e.g. two people merged)."""
        for person_id in person_ids:
            self.people.pop(person_id, None)

    def set_locale(self, locale: str) -> None:
        self.conv.locale = locale
        self.locale = locale
        self._ = gettext_for(locale)

    def say(self, text: str, *, separate: bool = False) -> None:
        """A message with no options; leaves the menu on screen as it is. `separate`: sent as
        a message of its own, never joined with the next (e.g. a code someone forwards)."""
        self.replies.append(Reply(text, separate=separate))

    def ask(self, text: str, options: list[tuple[str, str]] | None = None) -> None:
        """Show a prompt; `options` are (label, value). Older buttons become stale."""
        options = options or []
        menu = self.conv.state.menu
        menu.id += 1
        menu.values = [value for _label, value in options]
        menu.labels = [label for label, _value in options]
        self.replies.append(Reply(text, tuple(
            Option(label, f"{menu.id}.{i}") for i, (label, _value) in enumerate(options))))

    # ---- drafts
    def new_draft(self, *, step: str = "title", on_behalf: bool = False) -> Draft:
        """Create a draft starting at `step` and make it the conversation's current one."""
        return self._current(queries.create_draft(
            self.conn, person_id=self.conv.person_id, now=self.now, step=step,
            on_behalf=on_behalf))

    def new_draft_after(self) -> tuple[Draft, str | None]:
        """`new_draft()` for the user's own initiative, and the title of the draft they
        touched last before it (None: none, or untitled)."""
        row, latest_title = queries.create_draft_after(
            self.conn, person_id=self.conv.person_id, now=self.now)
        return self._current(row), latest_title

    def _current(self, row: dict[str, Any]) -> Draft:
        draft = self.conv.track_draft(Draft.from_row(row))
        self.conv.draft_id = draft.id
        return draft

    def drop_empty_draft(self) -> bool:
        """Delete the current draft if nothing was answered in it yet (a new draft at its first
        question): it holds nothing to keep, and would only be an «(untitled)» line under /nhap.
        True when it was deleted (the conversation then has no current draft)."""
        draft = self.conv.draft
        if draft is None or not draft.is_empty():
            return False
        queries.delete_draft(self.conn, draft_id=draft.id, person_id=self.conv.person_id)
        self.conv.forget_draft(draft.id)
        return True

    def open_draft(self, draft_id: int) -> Draft | None:
        if draft_id in self.conv.drafts:
            draft = self.conv.drafts[draft_id]
        else:
            row = queries.get_draft(self.conn, draft_id=draft_id, person_id=self.conv.person_id)
            if row is None:
                return None
            draft = self.conv.track_draft(Draft.from_row(row))
        self.conv.draft_id = draft_id
        return draft
