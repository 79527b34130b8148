"""Channel-neutral inbound events and render-neutral replies.

Adapters translate a Telegram update, a Zalo event or a terminal line into an `Inbound`, and
draw each `Reply` their own way: Telegram as a message with inline buttons, Zalo and the
terminal as text followed by a numbered list answered by number or by text.
"""

from __future__ import annotations

import json
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
    # What the channel needs to answer the event when it is handled later, from the queue
    # (Telegram: the pressed button's query id, its chat and message).
    ref: str = ""


@dataclass(frozen=True, slots=True)
class Option:
    label: str  # already localized
    token: str  # "<menu id>.<index>", or "a:<action>:<id>" in messages the bot sends on its own
    command: str = ""  # the typed equivalent ("/xem SK-000123") for channels without buttons


@dataclass(frozen=True, slots=True)
class Attachment:
    """A photo or document sent with a reply, produced only when the channel sends it
    (`bot.media.produce`): a reply is kept with its event as JSON until it is sent, so it
    holds what to make (a small JSON `spec`: unit, phase, who asked), never the bytes."""

    kind: str   # "chart" (a PNG photo) | "report" (an XLSX document)
    spec: str   # JSON


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # HTML: user-supplied text is escaped; only <b>, <i>, <code> are used
    options: tuple[Option, ...] = ()
    separate: bool = False  # its own message, never joined with others (a code to forward)
    attachment: Attachment | None = None   # sent with the text as its caption (separate)


@dataclass(slots=True)
class Outcome:
    """What one inbound event produced, available once it is committed. Once its replies
    are sent, the channel says so (`Core.sent`): until then they are kept with the event."""

    replies: list[Reply] = field(default_factory=list)
    locale: str = "vi"
    duplicate: bool = False  # a redelivery of an event whose replies went out: say nothing
    toast: str | None = None  # a short notice for a stale or repeated button press
    enqueued: bool = False  # the step wrote outbox messages
    key: tuple[str, str] | None = None  # (channel, event id) of the event answered
    resent: bool = False  # replies of a redelivered event, never sent the first time


def inbound_json(ev: Inbound) -> str:
    """An event as it waits in the queue (`inbound_event.payload`)."""
    return json.dumps({f: getattr(ev, f) for f in Inbound.__slots__}, ensure_ascii=False)


def inbound_from_json(text: str) -> Inbound:
    return Inbound(**json.loads(text))


def replies_json(outcome: Outcome) -> str | None:
    """What to keep until the replies are sent (None: nothing to send)."""
    if not outcome.replies:
        return None
    return json.dumps({"locale": outcome.locale, "replies": [
        [r.text, [[o.label, o.token, o.command] for o in r.options], r.separate,
         *([[r.attachment.kind, r.attachment.spec]] if r.attachment else [])]
        for r in outcome.replies]}, ensure_ascii=False)


def attachment_json(att: Attachment | None) -> str | None:
    """An attachment as an outbox row keeps it (`outbox.attachment`)."""
    return None if att is None else json.dumps([att.kind, att.spec], ensure_ascii=False)


def attachment_from_json(text: str | None) -> Attachment | None:
    if not text:
        return None
    kind, spec = json.loads(text)
    return Attachment(str(kind), str(spec))


def replies_from_json(text: str) -> tuple[str, list[Reply]]:
    """(locale, replies) kept by `replies_json`."""
    kept = json.loads(text)
    return kept["locale"], [Reply(t, tuple(Option(*o) for o in opts), bool(sep),
                                  Attachment(*att[0]) if att else None)
                            for t, opts, sep, *att in kept["replies"]]
