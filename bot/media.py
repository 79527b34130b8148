"""Photos and documents that go with a reply: described when the reply is made, produced when
a channel sends it.

A step cannot hold a chart's PNG or a report's XLSX in its reply: replies are kept as JSON
with their event until sent (crash safety, see `bot.core`). It attaches an `Attachment` — a
small JSON description (what, which unit and phase, who asked, in which language) — and the
channel calls `produce` when sending: the figures are read again (the scope checked again),
the chart drawn and the workbook written off the event loop.

Zalo's sendPhoto takes a URL: `signed_token` makes an unguessable, expiring token for an
attachment (HMAC-SHA256 of the description and its expiry, keyed by a secret every process
of the deployment shares) that the web application serves at `/media/<token>`
(handlers/web.py), producing the file on request. Nothing is stored, so any number of web
processes can serve it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.events import Attachment
from bot.i18n import N_, gettext_for
from bot.services.actor import Actor
from storage.engine import sync_twin, utcnow

LINK_LIFETIME = 3 * 24 * 3600   # seconds a Zalo media link works
CHILDREN_IN_CHART = 25
# Reports are CPU-heavy (a province's: tens of seconds): a process writes two at a time in
# its worker threads, the others wait their turn rather than slowing every one down.
REPORT_SLOTS = threading.BoundedSemaphore(2)


@dataclass(frozen=True)
class Media:
    name: str            # file name shown to the user
    content_type: str
    data: bytes

    @property
    def photo(self) -> bool:
        return self.content_type.startswith("image/")


def attachment(kind: str, *, actor: Actor, unit_code: str, phase_code: str, locale: str,
               mode: str = "") -> Attachment:
    """`kind` "chart" (`mode` "cumulative" or "children") or "report"."""
    spec = {"unit": unit_code, "phase": phase_code, "person": actor.person_id,
            "channel": actor.channel, "locale": locale, "mode": mode}
    return Attachment(kind, json.dumps(spec, ensure_ascii=False, sort_keys=True))


def spec_of(att: Attachment) -> dict[str, Any]:
    return json.loads(att.spec)


# ------------------------------------------------------------------ producing


async def produce(engine: AsyncEngine, att: Attachment, *,
                  now: datetime | None = None) -> Media | None:
    """The attachment's file, or None when it cannot be made (no longer in the asker's
    scope, no phase)."""
    now = now or utcnow()
    spec = spec_of(att)
    if att.kind == "chart":
        async with engine.connect() as conn:
            chart = await conn.run_sync(lambda c: chart_data(c, spec, now))
        if chart is None:
            return None
        from bot import charts

        draw = (charts.draw_children if isinstance(chart, charts.ChildrenChart)
                else charts.draw_cumulative)
        png = await asyncio.to_thread(draw, chart, locale=spec["locale"])
        from bot.report import ascii_name

        prefix = "xephang" if spec.get("mode") == "children" else "tiendo"
        return Media(f"{prefix}-{ascii_name(spec['unit'])}.png", "image/png", png)
    if att.kind == "report":
        return await run_off_loop(engine, lambda c: report_file(c, spec, now))
    return None


def chart_data(conn: Connection, spec: dict[str, Any], now: datetime) -> Any:
    from bot import charts
    from bot.formatting import shorten
    from bot.render_progress import unit_pct
    from bot.services import progress as ps

    _ = gettext_for(spec["locale"])
    actor = Actor(spec["person"], spec["channel"])
    p = ps.progress(conn=conn, actor=actor, now=now, unit_code=spec["unit"] or None,
                    phase_code=spec["phase"] or None, series=spec.get("mode") != "children")
    if isinstance(p, ps.Refused):
        return None
    if spec.get("mode") == "children":
        page = ps.children(conn=conn, actor=actor, now=now, unit_id=p.unit.unit_id,
                           phase_id=p.phase.id, page=0, page_size=CHILDREN_IN_CHART)
        rows = () if isinstance(page, ps.Refused) else page.rows
        return charts.ChildrenChart(
            _("{name}: units below, share of target").format(name=p.unit.name),
            tuple((shorten(r.name, 36), unit_pct(r) or 0.0) for r in rows))
    main = p.unit.targets[0] if p.unit.targets else None
    return charts.CumulativeChart(
        _("{name} · phase {code}").format(name=p.unit.name, code=p.phase.code),
        p.phase.starts_on, p.phase.ends_on, tuple(p.cumulative),
        main.goal if main else None)


def report_file(conn: Connection, spec: dict[str, Any], now: datetime) -> Media | None:
    from bot.report import ReportDone, file_name, write_report

    buf = io.BytesIO()
    done = write_report(conn, actor=Actor(spec["person"], spec["channel"]), now=now,
                        unit_code=spec["unit"] or None, phase_code=spec["phase"] or None,
                        locale=spec["locale"], out=buf)
    if not isinstance(done, ReportDone):
        return None
    return Media(file_name(done.unit_code, done.phase_code),
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 buf.getvalue())


async def run_off_loop(engine: AsyncEngine, run: Callable[[Connection], Any]) -> Any:
    """`run(conn)` in a worker thread, on a synchronous twin engine of its own on the same
    database (`storage.engine.sync_twin`: the same file, or the same PostgreSQL schema),
    so that writing a large workbook never holds the event loop. An in-memory database
    has one connection: there it runs in place."""
    twin = sync_twin(engine)
    if twin is None:
        async with engine.connect() as conn:
            return await conn.run_sync(run)

    def on_twin() -> Any:
        try:
            with REPORT_SLOTS, twin.connect() as conn, conn.begin():
                return run(conn)
        finally:
            twin.dispose()
    return await asyncio.to_thread(on_twin)


# ------------------------------------------------------------------ links (Zalo)


def media_key(secret: str) -> bytes:
    """The signing key, derived from a secret all processes share (the Zalo bot token)."""
    return hashlib.sha256(b"sangkien-media\x00" + secret.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_token(key: bytes, att: Attachment, *, now: float | None = None,
                 lifetime: int = LINK_LIFETIME) -> str:
    body = json.dumps([att.kind, att.spec, int((now or time.time()) + lifetime)],
                      ensure_ascii=False, separators=(",", ":")).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()[:20]
    return f"{_b64(body)}.{_b64(mac)}"


def open_token(key: bytes, token: str, *, now: float | None = None) -> Attachment | None:
    """The attachment a token stands for; None when forged, malformed or expired."""
    try:
        body_part, mac_part = token.split(".")
        body = _unb64(body_part)
        if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest()[:20],
                                   _unb64(mac_part)):
            return None
        kind, spec, expires = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(expires, int) or expires < (now or time.time()):
        return None
    return Attachment(str(kind), str(spec))


def media_url(base_url: str, key: bytes, att: Attachment) -> str:
    return f"{base_url.rstrip('/')}/media/{signed_token(key, att)}"


# ------------------------------------------------------------------ words

NO_DOCUMENTS = N_("Zalo cannot receive files from the bot: ask for the report on Telegram, "
                  "or run «sangkien report {unit}» on the server.")
REPORT_LINK = N_("The report (Excel), for 3 days: {url}")
SAVED = N_("(file saved: {path})")
NOT_PRODUCED = N_("The file could not be made (the figures are no longer available to you).")


NOT_NOW = N_("The file could not be made just now. To get it again, send {command}")


def again_command(att: Attachment) -> str:
    """The command that asks for the attachment again."""
    spec = spec_of(att)
    unit, phase = spec.get("unit") or "", spec.get("phase") or ""
    if att.kind == "report":
        return " ".join(("/baocao", unit, phase)).strip()
    if spec.get("mode") == "children":
        return " ".join(("/bangxephang", unit)).strip()
    return " ".join(("/tiendo", unit, phase)).strip()


def not_now_text(att: Attachment, locale: str) -> str:
    """The file failed to be made (or cannot be made here): how to ask for it again."""
    try:
        command = again_command(att)
    except (ValueError, TypeError, AttributeError):
        command = "/tiendo"
    return gettext_for(locale)(NOT_NOW).format(command=command)


def no_documents_text(att: Attachment, locale: str) -> str:
    return gettext_for(locale)(NO_DOCUMENTS).format(unit=spec_of(att)["unit"] or "UNIT")


def link_text(url: str, locale: str) -> str:
    return gettext_for(locale)(REPORT_LINK).format(url=url)


def not_produced_text(locale: str) -> str:
    return gettext_for(locale)(NOT_PRODUCED)


def saved_text(path: str, locale: str) -> str:
    return gettext_for(locale)(SAVED).format(path=path)
