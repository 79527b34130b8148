"""Issue 12, the chair's side, end to end over the fake Bot APIs on both backends: /tiendo
with its chart photo, drilling into a child unit, /bangxephang, /baocao arriving as a
document that openpyxl reads back with the right sums, scope refusals; Zalo with and without
PUBLIC_BASE_URL (chart and report as links served by the web application)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from openpyxl import load_workbook
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.flows import progress as progress_flow
from bot.formatting import TIMEZONE
from handlers.web import WebApp
from handlers.zalo import ZaloChannel
from storage.engine import utcnow
from tests.channels import TelegramHarness
from tests.channels_zalo import ZaloHarness, free_port
from tests.test_e2e_people import admin_invite
from tests.test_progress import add, set_targets

CHAIR, OTHER, WORKER = 9101, 9102, 9103
PHASE = "GĐT"


def today() -> date:
    return utcnow().astimezone(TIMEZONE).date()


def seed(conn: Connection) -> None:
    """A phase holding today; 10% of members for Phú Riềng (12,500 members: 1,250), reaching
    its unions below through their member counts; initiatives inside and outside it."""
    t = today()
    set_targets(conn, PHASE, t - timedelta(days=40), t + timedelta(days=20),
                [("BPC-PR", None, "member_ratio", "0.10")])
    add(conn, grassroots="BPC-PR-001", status="valid", day=t - timedelta(days=30), n=30,
        author="Nguyễn Văn", benefit=2_000_000)
    add(conn, grassroots="BPC-PR-001", status="under_review", day=t - timedelta(days=3), n=10)
    add(conn, grassroots="BPC-PR-002", status="under_review", day=t - timedelta(days=5), n=5)
    add(conn, grassroots="BPC-PR-002", status="invalid", day=t - timedelta(days=6), n=2)
    add(conn, grassroots="BPC-PR-004", status="valid", day=t - timedelta(days=1), n=3,
        author="=HYPERLINK(\"http://x\")", benefit=5_000_000)
    add(conn, grassroots="BPC-KCN-001", status="valid", day=t - timedelta(days=2), n=7)


async def seeded(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(seed)


# ------------------------------------------------------------------ Telegram


@pytest.fixture
async def tg(db_factory: Callable[[], AsyncEngine]) -> AsyncIterator[TelegramHarness]:
    harness = TelegramHarness(db_factory)
    await harness.start()
    assert harness.engine is not None
    await seeded(harness.engine)
    try:
        yield harness
    finally:
        await harness.stop()


def uploads(fake: Any, method: str, field: str) -> list[Any]:
    return [params[field] for name, params in fake.calls if name == method]


async def test_chair_progress_chart_drill_ranking_report(tg: TelegramHarness) -> None:
    await tg.send(CHAIR, await admin_invite(tg, "chair", "BPC-PR"))
    seen = await tg.send(CHAIR, "/tiendo")
    text = "\n".join(seen)
    assert "Progress: LĐLĐ huyện Phú Riềng" in text
    assert "Registered: 48" in text                       # 30 + 10 + 5 + 3; not the invalid
    assert "valid 33 · under review 15 · needs revision 0 · invalid 2" in text
    assert "10% of 12,500 members" in text and "1,202 short" in text
    assert "21 days left" in text      # today and the last day included
    assert "Total benefit: ₫75,000,000" in text or "75,000,000" in text
    # The chart came as a photo, a PNG, before the message.
    [photo] = uploads(tg.fake, "sendPhoto", "photo")
    assert photo.data.startswith(b"\x89PNG")
    assert [m["kind"] for m in tg.fake.messages(CHAIR)[-2:]] == ["photo", "text"]
    # The unions below, lagging first: each button says its % of target.
    labels = tg.labels(CHAIR)
    pcts = [float(re.search(r"— ([\d.]+)%", lbl).group(1).replace(",", ""))   # type: ignore[union-attr]
            for lbl in labels if "—" in lbl]
    assert len(pcts) == 5 and pcts == sorted(pcts)
    assert {"Ranking", "Report (Excel)", "‹ Close"} <= set(labels)

    # One press opens a child's own /tiendo, with its chart.
    seen = await tg.press(CHAIR, "Cao su Phú Riềng")
    text = "\n".join(seen)
    assert "Progress: CĐCS Công ty TNHH Cao su Phú Riềng (demo)" in text
    assert "Registered: 40" in text and "10% of 2,850 members" in text
    assert "(the target of BPC-PR)" in text
    assert len(uploads(tg.fake, "sendPhoto", "photo")) == 2
    seen = await tg.press(CHAIR, "Back to BPC-PR")
    assert "Progress: LĐLĐ huyện Phú Riềng" in "\n".join(seen)

    # The ranking of the unions below, with the top authors.
    seen = await tg.send(CHAIR, "/bang xep hang")        # typed in parts, without accents
    text = "\n".join(seen)
    assert "Ranking of the units under LĐLĐ huyện Phú Riềng" in text
    assert "per 100 members" in text and "Top authors" in text
    assert "Nguyễn Văn" in text
    assert len(uploads(tg.fake, "sendPhoto", "photo")) == 3   # the units' % of target

    # The report arrives as a document; its sums are right.
    seen = await tg.send(CHAIR, "/baocao")
    [doc] = uploads(tg.fake, "sendDocument", "document")
    assert doc.filename.endswith(".xlsx")
    wb = load_workbook(io.BytesIO(doc.data))
    units, inis = wb.worksheets
    rows = list(units.iter_rows(values_only=True))
    header, children, total = rows[0], rows[1:-1], rows[-1]
    assert header[0] == "Code" and "Registered" in header and "Share of target" in header
    reg = header.index("Registered")
    assert len(children) == 5
    assert total[1] == "Total" and total[reg] == sum(r[reg] for r in children) == 48
    assert total[header.index("Invalid")] == 2
    assert total[header.index("Benefit (VND)")] == 30 * 2_000_000 + 3 * 5_000_000
    assert units.freeze_panes == "A2"
    ini_rows = list(inis.iter_rows(values_only=True))
    assert len(ini_rows) == 1 + 50                         # every initiative, the invalid too
    submitted = ini_rows[0].index("Submitted")
    assert all(isinstance(r[submitted], datetime) for r in ini_rows[1:])
    # A formula typed as an author's name stays text.
    authors = ini_rows[0].index("Authors")
    assert any(str(r[authors]).startswith("=HYPERLINK") for r in ini_rows[1:])
    assert all(c.data_type != "f" for row in inis.iter_rows() for c in row)


async def test_scope_refusals(tg: TelegramHarness) -> None:
    await tg.send(CHAIR, await admin_invite(tg, "chair", "BPC-PR"))
    seen = await tg.send(CHAIR, "/tiendo BPC-KCN")     # another district of the province
    assert "of your own union and of the unions below it only" in "\n".join(seen)
    assert "LĐLĐ" not in "\n".join(seen) and not uploads(tg.fake, "sendPhoto", "photo")
    seen = await tg.send(CHAIR, "/bangxephang BPC")    # the province above
    assert "of your own union and of the unions below it only" in "\n".join(seen)
    seen = await tg.send(CHAIR, "/baocao BPC-KCN-001")
    assert "of your own union and of the unions below it only" in "\n".join(seen)
    assert not uploads(tg.fake, "sendDocument", "document")
    seen = await tg.send(CHAIR, "/tiendo NOPE-1")
    assert "No union has the code «NOPE-1»" in "\n".join(seen)
    # Lower case and no accents work as the other commands do.
    seen = await tg.send(CHAIR, "/tiendo bpc-pr-002 gdt")
    assert "Hạt điều Long Hà" in "\n".join(seen)
    # …and typed as words, without the slash, as on a phone with no command menu.
    seen = await tg.send(CHAIR, "Tiến độ bpc-pr-002")
    assert "Hạt điều Long Hà" in "\n".join(seen)
    # A chair of another district is refused Phú Riềng.
    await tg.send(OTHER, await admin_invite(tg, "chair", "BPC-KCN"))
    seen = await tg.send(OTHER, "/tiendo BPC-PR")
    assert "of your own union and of the unions below it only" in "\n".join(seen)
    seen = await tg.send(OTHER, "/tiendo")
    assert "Công đoàn các KCN tỉnh Bình Phước" in "\n".join(seen)


async def test_paging_and_a_member(tg: TelegramHarness, monkeypatch: pytest.MonkeyPatch
                                    ) -> None:
    monkeypatch.setattr(progress_flow, "PAGE_SIZE", 2)
    await tg.send(CHAIR, await admin_invite(tg, "chair", "BPC-PR"))
    seen = await tg.send(CHAIR, "/tiendo")
    assert "page 1 of 3" in seen[-1]
    assert len([lbl for lbl in tg.labels(CHAIR) if "—" in lbl]) == 2
    seen = await tg.press(CHAIR, "More units")
    assert "page 2 of 3" in seen[-1] and "‹ Previous units" in tg.labels(CHAIR)
    assert len(uploads(tg.fake, "sendPhoto", "photo")) == 1   # no chart again for a page
    seen = await tg.press(CHAIR, "More units")
    assert "page 3 of 3" in seen[-1] and "More units ›" not in tg.labels(CHAIR)
    seen = await tg.press(CHAIR, "Close")
    assert "What would you like to do?" in seen[-1]
    monkeypatch.setattr(progress_flow, "CHAT_REPORT_MAX", 49)   # 48 registered + 2 invalid
    seen = await tg.send(CHAIR, "/baocao")
    assert "too large to send in a chat" in seen[-1] and "sangkien report BPC-PR" in seen[-1]
    assert not uploads(tg.fake, "sendDocument", "document")
    # A member sees their own grassroots union, and nothing above it.
    await tg.onboard(WORKER)
    seen = await tg.send(WORKER, "/tiendo")
    assert "Progress: CĐCS Công ty TNHH Cao su Phú Riềng (demo)" in "\n".join(seen)
    assert "Report (Excel)" not in tg.labels(WORKER)
    seen = await tg.send(WORKER, "/tiendo BPC-PR")
    assert "of your own union and of the unions below it only" in "\n".join(seen)
    seen = await tg.send(WORKER, "/baocao")
    assert "Reports are for chairs and support teams" in "\n".join(seen)
    assert not uploads(tg.fake, "sendDocument", "document")


# ------------------------------------------------------------------ Zalo


class ZaloWithMedia(ZaloHarness):
    """The Zalo channel, with the web application serving /media at PUBLIC_BASE_URL."""

    def __init__(self, engine_factory: Callable[[], AsyncEngine], *, public: bool) -> None:
        super().__init__(engine_factory)
        self.public = public
        self.media_port = free_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.media_port}"

    def make_channel(self, core: Any) -> ZaloChannel:
        channel = super().make_channel(core)
        channel.public_base_url = self.base_url if self.public else None
        return channel

    async def start_channel(self) -> None:
        self.media_web = WebApp(engine=self.engine, host="127.0.0.1", port=self.media_port,
                                media_secret=self.fake.token)
        await self.media_web.start()
        await super().start_channel()

    async def _stop_app(self) -> None:
        await self.media_web.stop()
        await super()._stop_app()


@pytest.fixture(params=[True, False], ids=["public_url", "no_public_url"])
async def zl(request: pytest.FixtureRequest, db_factory: Callable[[], AsyncEngine]
             ) -> AsyncIterator[ZaloWithMedia]:
    harness = ZaloWithMedia(db_factory, public=request.param)
    await harness.start()
    assert harness.engine is not None
    await seeded(harness.engine)
    try:
        yield harness
    finally:
        await harness.stop()


async def fetch(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


async def test_zalo_chart_and_report(zl: ZaloWithMedia) -> None:
    await zl.send(CHAIR, await admin_invite(zl, "chair", "BPC-PR"))  # type: ignore[arg-type]
    seen = await zl.send(CHAIR, "tien do")              # no slash, no accents, two words
    assert any("Registered: 48" in s for s in seen)
    photos = zl.fake.calls_to("sendPhoto")
    # The same reply recovered through the outbox (never sent after it was handled): the
    # outbox's Zalo sender sends its file as a reply's, a link or where to get it.
    from bot.events import Inbound

    assert zl.core is not None
    chat = zl.fake.user_id(CHAIR)
    out = await zl.core.handle(Inbound("zalo", "lost-1", chat, chat, "command",
                                       text="baocao", args="BPC-PR-001"))
    [report] = [r for r in out.replies if r.attachment]
    before = len(zl.texts(CHAIR))
    await zl.channel.deliver(chat, report, "en")
    recovered = zl.texts(CHAIR)[before:]
    if not zl.public:
        assert photos == []                              # the text alone
        seen = await zl.send(CHAIR, "bao cao BPC-PR-001")
        assert any("Zalo cannot receive files" in s and "sangkien report BPC-PR-001" in s
                   for s in [*seen, *recovered])
        assert any("Zalo cannot receive files" in s for s in recovered)
        return
    [link] = [m for s in recovered for m in re.findall(r"http://\S+", s)]
    assert link.startswith(zl.base_url + "/media/") and (await fetch(link))[0] == 200
    [photo] = photos
    assert photo["photo"].startswith(zl.base_url + "/media/")
    status, body, kind = await fetch(photo["photo"])
    assert status == 200 and kind == "image/png" and body.startswith(b"\x89PNG")
    # A forged or altered link gets nothing.
    assert (await fetch(photo["photo"][:-3] + "AAA"))[0] == 404
    assert (await fetch(zl.base_url + "/media/x.y"))[0] == 404

    seen = await zl.send(CHAIR, "baocao")
    [link] = [m for s in seen for m in re.findall(r"http://\S+", s)]
    status, body, kind = await fetch(link)
    assert status == 200 and "spreadsheetml" in kind
    units = load_workbook(io.BytesIO(body)).worksheets[0]
    assert list(units.iter_rows(values_only=True))[-1][1] == "Total"


async def test_a_reply_recovered_through_the_outbox_keeps_its_file(tg: TelegramHarness) -> None:
    """/tiendo's chart and /baocao's report, handled but never sent (the process died before
    sending): the outbox sends them later as a photo and a document, made again from the
    database; a sender that cannot make them sends the text and how to ask again."""
    from bot.events import Inbound
    from bot.outbox import OutboxWorker
    from bot.outbox_marks import unsent_to_outbox
    from handlers.telegram_sender import TelegramSender
    from storage.models import outbox_t
    from tests.test_outbox import FAST, drain

    assert tg.core is not None and tg.engine is not None
    await tg.send(CHAIR, await admin_invite(tg, "chair", "BPC-PR"))
    for i, (command, args) in enumerate((("tiendo", ""), ("baocao", f"BPC-PR {PHASE}"))):
        out = await tg.core.handle(Inbound("telegram", f"lost-{i}", str(CHAIR), str(CHAIR),
                                           "command", text=command, args=args))
        assert any(r.attachment for r in out.replies)       # never sent: the core keeps them
    async with tg.engine.begin() as conn:     # as `Core.recover_unsent` does, a while later
        assert await conn.run_sync(lambda c: unsent_to_outbox(
            c, now=utcnow(), before=utcnow() + timedelta(seconds=1), limit=10)) == 2
        queued = (await conn.execute(outbox_t.select().order_by(outbox_t.c.id))).mappings().all()
    kinds = [q["attachment"] and q["attachment"].split('"')[1] for q in queued]
    assert kinds.count("chart") == 1 and kinds.count("report") == 1
    photos, docs = (len(uploads(tg.fake, m, f)) for m, f in
                    (("sendPhoto", "photo"), ("sendDocument", "document")))
    worker = OutboxWorker(tg.engine, [TelegramSender(tg.channel.bot, tg.engine)], **FAST)
    await worker.start()
    try:
        assert (await drain(tg.engine))["sent"] == len(queued)
    finally:
        await worker.stop()
    [photo] = uploads(tg.fake, "sendPhoto", "photo")[photos:]
    assert photo.data.startswith(b"\x89PNG")
    [doc] = uploads(tg.fake, "sendDocument", "document")[docs:]
    assert doc.filename.endswith(".xlsx")
    rows = list(load_workbook(io.BytesIO(doc.data)).worksheets[0].iter_rows(values_only=True))
    assert rows[-1][1] == "Total" and rows[-1][rows[0].index("Registered")] == 48

    # A sender with no database to make the file from: the text, and how to get it again.
    report = next(q for q in queued if q["attachment"] and "report" in q["attachment"])
    from bot.outbox_marks import reply_of

    before = len(tg.fake.messages(CHAIR))
    await TelegramSender(tg.channel.bot).deliver(str(CHAIR), reply_of(dict(report)), "en")
    [said] = tg.texts(CHAIR)[before:]
    assert said.startswith("Progress report of") and f"/baocao BPC-PR {PHASE}" in said
    assert len(uploads(tg.fake, "sendDocument", "document")) == docs + 1
