"""What a chat remembers between messages besides its step: the typed conversation state.

It is stored as JSON in `account.state` (only the fields that differ from their defaults, so
an idle chat stores `{}`). Fields marked `transient` belong to the flow in progress: leaving
it (going home, `/huy`, a command that switches flows) clears them all, so nothing half-done
leaks into the next flow. `menu` is not transient: the options on screen stay answerable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

_TRANSIENT = {"transient": True}


def transient(default: Any = None) -> Any:
    return field(default=default, metadata=_TRANSIENT)


@dataclass(slots=True)
class Menu:
    """The options last shown: a button carries "<id>.<index>"; a typed answer is matched
    against the labels. A newer menu makes older buttons stale."""

    id: int = 0
    values: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Onboarding:
    """Onboarding in progress: a grassroots union preset by a QR poster; where a single
    answer returns to (the profile, a draft's summary) instead of asking on."""

    unit_id: int | None = None
    back: str | None = None


@dataclass(slots=True)
class PendingDecision:
    """A decision waiting for its reason, or for its confirmation (a final one)."""

    initiative_id: int
    to_status: str
    reason: str | None = None


@dataclass(slots=True)
class PendingBenefit:
    """A benefit value read from the user's words, waiting for "is that right?". `vnd` is a
    year's; `per_month` what was typed for a month, when it was ("20 triệu mỗi tháng")."""

    vnd: int | None
    known: bool
    per_month: int | None = None


@dataclass(slots=True)
class ChatState:
    menu: Menu = field(default_factory=Menu)
    # -- transient: the flow in progress
    editing: bool = transient(False)            # a field changed from the summary
    pending_benefit: PendingBenefit | None = transient()
    unit_query: str | None = transient()        # union search: the words typed
    unit_page: int = transient(0)               # union search: the page shown
    selected_draft: int | None = transient()    # /nhap: the draft picked
    discard_back: str | None = transient()      # where "No, keep it" returns
    page: int = transient(0)                    # a paged list's page
    resume_step: str | None = transient()       # a command mid-draft: the step to go on at
    switch_command: str | None = transient()    # … and the command to switch to
    switch_args: str = transient("")
    language_back: str | None = transient()     # /ngonngu: the step to return to
    onboarding: Onboarding | None = transient()
    decision: PendingDecision | None = transient()
    viewing: int | None = transient()           # /xem: the initiative on screen
    pending_link: str | None = transient()      # a link code typed, waiting to be confirmed
    campaign: dict | None = transient()         # /chiendich: the campaign being made or shown

    def leave_flow(self) -> None:
        """Forget everything of the flow in progress."""
        for f in _TRANSIENT_FIELDS:
            setattr(self, f.name, f.default)

    # ---- storage
    def dumps(self) -> str:
        out: dict[str, Any] = {}
        if self.menu.id:
            out["menu"] = {"id": self.menu.id, "values": self.menu.values,
                           "labels": self.menu.labels}
        for f in _TRANSIENT_FIELDS:
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = _plain(value)
        return json.dumps(out, ensure_ascii=False, sort_keys=True) if out else "{}"

    @classmethod
    def loads(cls, text: str | None) -> ChatState:
        raw = json.loads(text) if text and text != "{}" else {}
        state = cls()
        if not raw:
            return state
        menu = raw.get("menu")
        if isinstance(menu, dict):
            state.menu = Menu(int(menu.get("id", 0)), list(menu.get("values", [])),
                              list(menu.get("labels", [])))
        for name, value in raw.items():   # what was stored: a few keys, not every field
            if name in _NESTED:
                if isinstance(value, dict):
                    setattr(state, name, _NESTED[name](**value))
            elif name in _TRANSIENT_NAMES:
                setattr(state, name, value)
        return state


_TRANSIENT_FIELDS = tuple(f for f in fields(ChatState) if f.metadata.get("transient"))
_TRANSIENT_NAMES = frozenset(f.name for f in _TRANSIENT_FIELDS)
_NESTED = {"pending_benefit": PendingBenefit, "onboarding": Onboarding,
           "decision": PendingDecision}


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return value
