"""Channel-neutral inbound events and render-neutral replies.

Adapters translate a Telegram update, a Zalo event or a terminal line into an `Inbound`, and
draw each `Reply` their own way: Telegram as a message with inline buttons, Zalo and the
terminal as text followed by a numbered list answered by number or by text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

InboundKind = Literal["text", "command", "choice", "file", "unsupported"]


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: str  # "telegram" | "zalo" | "terminal"
    event_id: str  # unique per channel; a redelivery carries the same id
    user_id: str  # the sender's id on the channel
    chat_id: str  # where replies go
    kind: InboundKind
    text: str = ""  # the message text; the command name; or the pressed option's token
    args: str = ""  # a command's argument ("/start ABC" → "ABC")
    display_name: str = ""
    language_code: str | None = None
    attachment_kind: str | None = None  # "photo" | "document", for kind "file"
    attachment_id: str | None = None  # the channel's file id


@dataclass(frozen=True, slots=True)
class Option:
    label: str  # already localized
    token: str  # "<menu id>.<index>", or "a:<action>:<id>" in messages the bot sends on its own
    command: str = ""  # the typed equivalent ("/xem SK-000123") for channels without buttons


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # HTML: user-supplied text is escaped; only <b>, <i>, <code> are used
    options: tuple[Option, ...] = ()
    separate: bool = False  # its own message, never joined with others (a code to forward)


@dataclass(slots=True)
class Outcome:
    """What one inbound event produced, available once it is committed."""

    replies: list[Reply] = field(default_factory=list)
    locale: str = "vi"
    duplicate: bool = False
    toast: str | None = None  # a short notice for a stale or repeated button press
    enqueued: bool = False  # the step wrote outbox messages
