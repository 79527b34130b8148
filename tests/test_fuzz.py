"""Fuzzing every step and every command (hypothesis): hostile text at any point of any
conversation never becomes an unhandled error, the conversation stays at a declared step,
and the stored draft stays valid and within the flow's limits.

Each example is a new user brought by a recipe to one declared step (tests/driver.py's way:
through the core, as a channel would), who then sends one to three random events: text with
combining marks, zero-width and right-to-left characters, control characters, lone
surrogates (as a channel hands over an escaped `\\ud800`), 10,000-character strings,
numbers with hundreds of digits, SQL- and HTML-looking text; commands with such arguments;
stale or forged button tokens; files. After each: no apology (the core's answer to an
unhandled error, in either language) and the event not recorded as failed, the account's
step declared (`bot.flows.REGISTRY.steps`), every draft readable (`Draft.from_row`) and
within limits.

A few hundred examples run by default on SQLite (derandomized, so that a run is repeatable)
and a few dozen on PostgreSQL; the big run is `pytest -m fuzz` (10,000 examples on SQLite
and 1,000 on PostgreSQL, FUZZ_EXAMPLES to change it, random each time). SQLite in a file,
not in memory: measured twice as fast, as the core then runs each batch in one thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot import fields
from bot.core import Core
from bot.demo import seed_if_empty
from bot.draft import ORDER_BEHALF, Draft
from bot.events import Outcome
from bot.flows import REGISTRY
from bot.flows.submission import (
    DESC_MAX,
    MAX_ATTACHMENTS,
    MAX_COAUTHORS,
    TITLE_MAX,
    TITLE_MIN,
    DraftStep,
)
from bot.flows.widgets import NAME_MAX, NAME_MIN
from storage import targets
from storage.migrate import upgrade
from storage.models import account_t, draft_t, inbound_event_t, initiative_t, person_t
from tests.conftest import _drop_schema, _new_backend
from tests.driver import Chat
from tests.test_flow import DESC, TITLE
from tests.test_hostile_input import failed
from tests.test_people import invite

BIG_RUN = int(os.environ.get("FUZZ_EXAMPLES", "10000"))
QUICK_SQLITE, QUICK_POSTGRES = 200, 50

# --------------------------------------------------------------------------- what is sent

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
RTL = "\u200f\u202b\u202e\u2067\u2069مرحبا بالعالم שלום"
COMBINING = "\u0300\u0301\u0303\u0309\u0323\u0306\u031b\u0302\u20dd"
CONTROLS = "".join(map(chr, range(32))) + "\x7f\x85\u2028\u2029"
SURROGATES = "\ud800\udbff\udc00\udfff\ud83d"
VIETNAMESE = "Cải tiến máy hàn tự động Đồng Tháp ưởễ ĐỖ đờn 0912 345 678"
SPECIAL = ZERO_WIDTH + RTL + COMBINING + CONTROLS + SURROGATES + VIETNAMESE

HOSTILE = [
    "'; DROP TABLE account; --", "1 OR 1=1", "' OR ''='", "Robert'); DROP TABLE draft;--",
    "%", "_", "\\", "\\x00", "$1", ":name", "?", "NULL", "None", "null", "[]", "{}",
    "<b>", "</i>", "<script>alert(1)</script>", "&amp;", "&", "&#0;", "&#x110000;", "<a href='x'>",
    "<", ">", "<b><i>x</b></i>", "<tg-spoiler>", "{0}", "{name}", "%s", "%(x)s",
    "1", "0", "-1", "99", "²", "①", "٣", "1.", "1,5 tỷ", "200 triệu/tháng", "-5 triệu",
    "31/02/2023", "15/03/99999", "00/00/0000", "12/2023", "13/2023", "1/1/1",
    "SK-000001", "SK-999999999999", "BPC-PR-001", "/start", "start", "Huỷ", "có", "không",
]


def big_number(digits: int, sep: str, sign: str, tail: str) -> str:
    body = ("9876543210" * (digits // 10 + 1))[:digits]
    if sep:
        body = sep.join(body[max(i - 3, 0):i] for i in range(len(body), 0, -3)[::-1])
    return sign + body + tail


# Lists of characters joined, not st.text: text() would fold the special characters into
# one range of code points, where they are almost never drawn.
characters = st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIAL))


def strings(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.lists(characters, min_size=min_size, max_size=max_size).map("".join)


texts = st.one_of(
    strings(),
    strings(150, 600),
    st.builds(lambda s, n: (s * (n // max(len(s), 1) + 1))[:n],
              strings(1, 8), st.integers(3000, 10_000)),
    st.builds(big_number, st.integers(20, 400), st.sampled_from(["", ".", ",", " "]),
              st.sampled_from(["", "-", "+"]),
              st.sampled_from(["", " tỷ", " triệu", ",5", "/tháng"])),
    st.sampled_from(HOSTILE),
    st.lists(st.one_of(st.sampled_from(HOSTILE), strings(max_size=10)),
             min_size=2, max_size=6).map(" ".join),
)
command_words = st.one_of(st.sampled_from(sorted(REGISTRY.words)),
                          strings(1, 20))


@dataclass(frozen=True)
class Send:
    kind: str
    text: str = ""
    args: str = ""

    def __repr__(self) -> str:   # a failing example printed short
        return f"Send({self.kind}, {self.text[:80]!r}{'…' if len(self.text) > 80 else ''}, " \
               f"{self.args[:80]!r})"


events = st.one_of(
    texts.map(lambda t: Send("text", t)),
    st.builds(lambda w, a: Send("command", w, a), command_words, texts),
    st.builds(lambda t: Send("choice", t), st.one_of(
        texts, st.sampled_from(["a:view:1", "a:valid:1", "a:edit:1", "a:revise:99999999999",
                                "1.0", "0.0", "9" * 30 + ".1", "a:", "a:x:y:z"]))),
    st.builds(lambda t: Send("file", t), texts),
    st.just(Send("unsupported")),
)

# --------------------------------------------------------------------------- recipes


@dataclass
class World:
    """The core on one database, shared by every example; each example is a new user."""

    core: Core
    users: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**9)))
    worker: Chat | None = None   # submits initiatives for the reviewers to find
    examples: int = 0
    events: int = 0
    started: float = field(default_factory=time.monotonic)

    def chat(self, role: str = "w") -> Chat:
        return Chat(self.core, f"fz-{role}-{next(self.users)}", channel="telegram")

    async def pending_initiative(self) -> None:
        """One initiative waiting for review at LĐLĐ huyện Phú Riềng: submitted by the
        shared worker when none is left (a fuzzed decision may have taken the last one)."""
        async with self.core.engine.connect() as conn:
            waiting = await conn.scalar(select(func.count()).select_from(initiative_t)
                                        .where(initiative_t.c.status == "pending"))
        if waiting:
            return
        if self.worker is None:
            self.worker = self.chat("author")
            await onboarded(self.worker)
        await to_summary(self.worker)
        await self.worker.press("Submit")


Recipe = Callable[[World, Chat], Awaitable[None]]


async def onboarded(chat: Chat) -> None:
    await chat.say("/start BPC-PR-001")
    await chat.press("English")
    await chat.press("Use")


SUBMISSION = [  # (step reached, what gets there from the step before)
    ("title", lambda c: c.say("/sangkien")),
    ("description", lambda c: c.say(TITLE)),
    ("field", lambda c: c.say(DESC)),
    ("applied", lambda c: c.press("Production")),
    ("recognized", lambda c: c.say("15/03/2023")),
    ("benefit", lambda c: c.press("Yes, it is")),
    ("benefit_confirm", lambda c: c.say("200 triệu")),
    ("coauthors", lambda c: c.press("Yes")),
    ("unit", lambda c: c.press("No co-authors")),
    ("attachments", lambda c: c.press("Phú Riềng")),   # the union used last is offered
    ("summary", lambda c: c.press("Skip")),
]


async def to_step(chat: Chat, step: str) -> None:
    for name, move in SUBMISSION:
        await move(chat)
        if name == step:
            return
    raise AssertionError(step)


async def to_summary(chat: Chat) -> None:
    await to_step(chat, "summary")


def submission(step: str) -> Recipe:
    async def recipe(_w: World, chat: Chat) -> None:
        await onboarded(chat)
        await to_step(chat, step)
    return recipe


def then(before: Recipe, *moves: Callable[[Chat], Awaitable[Any]]) -> Recipe:
    async def recipe(w: World, chat: Chat) -> None:
        await before(w, chat)
        for move in moves:
            await move(chat)
    return recipe


async def fresh(_w: World, _chat: Chat) -> None:
    pass


async def worker(_w: World, chat: Chat) -> None:
    await onboarded(chat)


def with_role(role: str, unit: str) -> Recipe:
    async def recipe(w: World, chat: Chat) -> None:
        await chat.say(await invite(w.core, role, unit))
    return recipe


async def chair_with_pending(w: World, chat: Chat) -> None:
    await w.pending_initiative()
    await with_role("chair", "BPC-PR")(w, chat)
    await chat.say("/choduyet")


async def author_of_one(w: World, chat: Chat) -> None:
    await onboarded(chat)
    await to_summary(chat)
    await chat.press("Submit")
    await chat.say("/cuatoi")


async def asked_to_link(w: World, chat: Chat) -> None:
    other = w.chat("other")
    await onboarded(other)
    shown = await other.say("/lienket")
    code = next(word for word in shown.split() if word.startswith("LK-"))
    await chat.say(f"/start {code}")


async def chair_with_progress(w: World, chat: Chat) -> None:
    """A chair at /tiendo, in a phase holding today (made once)."""
    def phase(conn: Any) -> None:
        if "FZ" not in targets.phases(conn):
            today = date.today()
            targets.save_phase(conn, code="FZ", starts_on=today - timedelta(days=10),
                               ends_on=today + timedelta(days=10))
    async with w.core.engine.begin() as conn:
        await conn.run_sync(phase)
    await with_role("chair", "BPC-PR")(w, chat)
    await chat.say("/tiendo")


behalf = then(with_role("support", "BPC-PR-001"), lambda c: c.say("/khaiho"))
drafts = then(submission("description"), lambda c: c.say("/huy"), lambda c: c.say("/nhap"))
campaigns = then(with_role("chair", "BPC-PR"), lambda c: c.say("/chiendich"))




async def skip_filters(chat: Chat) -> None:
    """Past the bloc and cluster filters (each asked only when the subtree has a choice)."""
    for _filter in ("bloc", "cluster"):
        if any(label == "Skip" for label, _token in chat.options):
            await chat.press("Skip")


new_audience = then(campaigns, lambda c: c.press("New campaign"))
new_campaign = then(new_audience, lambda c: c.press("Every member"), skip_filters,
                    lambda c: c.press("Now"))

RECIPES: dict[str, Recipe] = {
    "idle": worker,
    # A draft with its title: an empty one at its first question is deleted, not asked about.
    "interrupt": then(submission("description"), lambda c: c.say("/nhap")),
    "ob_language": then(fresh, lambda c: c.say("/start")),
    "ob_unit": then(fresh, lambda c: c.say("/start"), lambda c: c.press("English")),
    "ob_name": then(fresh, lambda c: c.say("/start BPC-PR-001"), lambda c: c.press("English")),
    **{step: submission(step) for step, _move in SUBMISSION},
    "edit": then(submission("summary"), lambda c: c.press("Edit")),
    "author_name": behalf,
    "author_phone": then(behalf, lambda c: c.say("Trần Thị Bình")),
    "author_unit": then(behalf, lambda c: c.say("Trần Thị Bình"), lambda c: c.press("Skip")),
    "drafts": drafts,
    "draft_actions": then(drafts, lambda c: c.press(TITLE)),
    "discard": then(drafts, lambda c: c.press(TITLE), lambda c: c.press("Delete")),
    "mine": author_of_one,
    "pending": chair_with_pending,
    "view": then(chair_with_pending, lambda c: c.press("SK-")),
    "review_reason": then(chair_with_pending, lambda c: c.press("SK-"),
                          lambda c: c.press("Needs revision")),
    "decision_confirm": then(chair_with_pending, lambda c: c.press("SK-"),
                             lambda c: c.press("Valid")),
    "alert_mode": then(with_role("support", "BPC-PR"), lambda c: c.say("/thongbao")),
    "language": then(worker, lambda c: c.say("/ngonngu")),
    "profile": then(worker, lambda c: c.say("/hoso")),
    "invites": then(with_role("chair", "BPC-PR"), lambda c: c.say("/moi")),
    "link_confirm": asked_to_link,
    "progress_view": chair_with_progress,
    "campaign_menu": campaigns,
    "campaign_audience": new_audience,
    "campaign_threshold": then(new_audience, lambda c: c.press("behind their target")),
    "campaign_idle": then(new_audience, lambda c: c.press("draft untouched")),
    "campaign_bloc": then(new_audience, lambda c: c.press("Every member")),
    "campaign_cluster": then(new_audience, lambda c: c.press("Every member"),
                             lambda c: c.press("Skip")),
    "campaign_schedule": then(new_audience, lambda c: c.press("Every member"), skip_filters),
    "campaign_text": new_campaign,
    "campaign_preview": then(new_campaign, lambda c: c.say("Hello {ten}")),
    "campaign_view": then(new_campaign, lambda c: c.say("Hello {ten}"),
                          lambda c: c.press("Confirm")),
}
STEPS = sorted(RECIPES)

# --------------------------------------------------------------------------- the checks


async def account_of(core: Core, chat: Chat) -> dict[str, Any]:
    async with core.engine.connect() as conn:
        row = (await conn.execute(select(account_t).where(
            account_t.c.channel == chat.channel, account_t.c.external_id == chat.user_id))
        ).mappings().one()
        return dict(row)


def check_text(value: object, what: str) -> None:
    if isinstance(value, str):
        assert "\x00" not in value, what
        value.encode("utf-8")   # no lone surrogate was stored


def check_draft(row: dict[str, Any]) -> None:
    draft = Draft.from_row(row)
    for name, value in row.items():
        check_text(value, f"draft.{name}")
    assert draft.step in draft.order or draft.step in ORDER_BEHALF, draft.step
    if draft.title is not None:
        assert TITLE_MIN <= len(draft.title) <= TITLE_MAX, draft.title
    if draft.description is not None:
        assert len(draft.description) <= DESC_MAX
    if draft.field_code is not None:
        assert draft.field_code in fields.fields(), draft.field_code
    if draft.applied_on is not None:
        assert date(1900, 1, 1) < draft.applied_on <= date.today(), draft.applied_on
    if draft.benefit_vnd is not None:
        assert draft.benefit_known and 0 <= draft.benefit_vnd < 2**63, draft.benefit_vnd
    if draft.coauthors is not None:
        assert len(draft.coauthors) <= MAX_COAUTHORS
        assert all(NAME_MIN <= len(n) <= NAME_MAX for n in draft.coauthors), draft.coauthors
    assert len(draft.attachments) <= MAX_ATTACHMENTS
    if draft.author_name is not None:
        assert NAME_MIN <= len(draft.author_name) <= NAME_MAX, draft.author_name
    if draft.author_phone is not None:
        assert len(draft.author_phone) <= 20, draft.author_phone


async def check(core: Core, chat: Chat, sent: Send, out: Outcome, event_id: str) -> None:
    seen = Chat.text_of(out)
    assert not failed(seen), f"{sent!r} was answered with the apology: {seen[:500]}"
    account = await account_of(core, chat)
    assert account["step"] in REGISTRY.steps, account["step"]
    assert isinstance(json.loads(account["state"]), dict)
    async with core.engine.connect() as conn:
        was_failed = await conn.scalar(select(inbound_event_t.c.failed).where(
            inbound_event_t.c.channel == chat.channel, inbound_event_t.c.event_id == event_id))
        assert not was_failed, f"{sent!r}: the event was recorded as failed"
        person = (await conn.execute(select(person_t).where(
            person_t.c.id == account["person_id"]))).mappings().one()
        for name, value in person.items():
            check_text(value, f"person.{name}")
        drafts = {}
        for row in (await conn.execute(select(draft_t).where(
                draft_t.c.person_id == account["person_id"]))).mappings():
            check_draft(dict(row))
            drafts[row["id"]] = row
    if issubclass(REGISTRY.steps[account["step"]], DraftStep):
        # A question of a draft has its draft: none left dangling (e.g. deleted under it).
        assert account["draft_id"] in drafts, (account["step"], account["draft_id"])


async def example(world: World, step: str, sends: list[Send]) -> None:
    chat = world.chat()
    await RECIPES[step](world, chat)
    reached = (await account_of(world.core, chat))["step"]
    assert reached == step, f"the recipe for {step} reached {reached}"
    for sent in sends:
        event_id = f"fz-{next(world.users)}"
        out = await chat.event(sent.kind, sent.text, sent.args, event_id=event_id)
        await check(world.core, chat, sent, out, event_id)
    world.examples += 1
    world.events += len(sends)


# --------------------------------------------------------------------------- running


class Rig:
    """A World on its own event loop, for hypothesis's synchronous examples."""

    def __init__(self, backend: str, tmp_path: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.schema: str | None = None
        self.world = self.run(self._start(backend, tmp_path))

    async def _start(self, backend: str, tmp_path: object) -> World:
        engine, _url, self.schema = await _new_backend(backend, tmp_path)
        await upgrade(engine=engine)
        await seed_if_empty(engine)
        return World(Core(engine, default_locale="en"))

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        async def stop() -> None:
            await self.world.core.aclose()
            await self.world.core.engine.dispose()
            if self.schema:
                await _drop_schema(self.schema)
        self.run(stop())
        self.loop.close()

    def report(self, label: str) -> str:
        w = self.world
        took = time.monotonic() - w.started
        return (f"fuzz {label}: {w.examples} examples, {w.events} fuzzed events over "
                f"{len(STEPS)} steps in {took:.1f} s")


def fuzz(rig: Rig, max_examples: int, *, derandomize: bool, steps: list[str] = STEPS,
         phases: tuple[Phase, ...] = tuple(Phase)) -> None:
    @settings(max_examples=max_examples, deadline=None, derandomize=derandomize,
              database=None, print_blob=True, phases=phases,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example,
                                     HealthCheck.filter_too_much])
    @given(step=st.sampled_from(steps), sends=st.lists(events, min_size=1, max_size=3))
    def one(step: str, sends: list[Send]) -> None:
        rig.run(example(rig.world, step, sends))

    one()


@pytest.fixture
def rig_factory(tmp_path: object) -> Iterator[Callable[[str], Rig]]:
    rigs: list[Rig] = []

    def make(backend: str) -> Rig:
        rigs.append(Rig(backend, tmp_path))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def test_every_declared_step_has_a_recipe_that_reaches_it(
        rig_factory: Callable[[str], Rig]) -> None:
    assert set(RECIPES) == set(REGISTRY.steps)
    rig = rig_factory("sqlite")
    for step in STEPS:
        rig.run(example(rig.world, step, []))


def test_the_checks_catch_a_planted_fault(rig_factory: Callable[[str], Rig],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A title step that fails on right-to-left text or very long text: found."""
    step = REGISTRY.steps["title"]
    text = step.text

    def faulty(ctx: Any, answer: str) -> Any:
        if "\u202e" in answer or len(answer) > 5000:
            raise RuntimeError("planted")
        return text(ctx, answer)

    monkeypatch.setattr(step, "text", faulty)
    rig = rig_factory("sqlite")
    with pytest.raises(AssertionError, match="answered with the apology"):
        fuzz(rig, 200, derandomize=True, steps=["title"], phases=(Phase.generate,))


def test_fuzz_every_step_and_command(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory("sqlite")
    fuzz(rig, QUICK_SQLITE, derandomize=True)
    print(rig.report("sqlite"))


def test_fuzz_on_postgresql(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory("postgres")
    fuzz(rig, QUICK_POSTGRES, derandomize=True)
    print(rig.report("postgresql"))


@pytest.mark.fuzz
def test_fuzz_big_run(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory("sqlite")
    fuzz(rig, BIG_RUN, derandomize=False)
    print(rig.report("big run"))


@pytest.mark.fuzz
def test_fuzz_big_run_on_postgresql(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory("postgres")
    fuzz(rig, max(BIG_RUN // 10, 1), derandomize=False)
    print(rig.report("big run, postgresql"))
