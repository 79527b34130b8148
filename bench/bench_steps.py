"""Durable conversation steps per second: the full Telegram stack against a bare PTB echo bot.

    python -m bench.bench_steps [--steps N] [--users U] [--concurrency C] [--mix walk|text]
                                [--sequential] [--rounds R] [--pg URL]

A. baseline: a bare python-telegram-bot `Application` with one echo `MessageHandler`, fed
   `telegram.Update` objects (built with `Update.de_json` from dicts, as PTB's Updater
   does, outside the timing) with `await app.process_update(update)`.
B. full stack: the update dicts fed to `handlers.telegram.TelegramChannel.handle_update` (the
   channel's entry point for each update its polling loop fetches) → `Core.handle` (group
   commit) → an SQLite file (WAL; the per-message statements on the raw cursor,
   storage/fast.py), or PostgreSQL with `--pg URL` (each run in a schema of its own, dropped
   after) → replies sent as raw Bot API calls (sendMessage, answerCallbackQuery,
   editMessageReplyMarkup; replies without options joined to the next, as users get them).
   A step ends when its replies are sent.

A and B alternate for R rounds (default 5); the median ratio is reported, since the shared
machine's speed drifts by a third within minutes.

Both stacks talk to an in-process fake Bot API (`OfflineRequest`), so no network is used and
what is measured is our code plus PTB, not Telegram. Different users run concurrently (at
most C updates in flight), one user's updates run in order.

Every step of B is a durable change: an `inbound_event` row plus an `account` and/or `draft`
write, committed before the reply is sent. Mix `walk` (default), per user, repeated: the guided
submission of bot/submission.py as of commit 232e77f, 13 updates, 7 of them button presses:

     1 /sangkien          command (bot_command entity)   idle → title, new draft
     2 <title>            text                           → description
     3 <description>      text                           → field
     4 press button 1     callback (the first field)     → applied
     5 "15/03/2024"       text                           → recognized
     6 press button 1     callback ("Yes, recognised")   → benefit
     7 "200 triệu"        text                           → benefit_confirm
     8 press button 1     callback ("Yes, save it")      → coauthors
     9 press button 1     callback ("No co-authors")     → unit
    10 "phu rieng"        text (union search)            → unit (results shown)
    11 press button 1     callback (the first union)     → attachments
    12 press button 1     callback ("Skip")              → summary
    13 press button 1     callback ("Submit")            → idle, initiative created

Mix `text` (text only, the first questions of a draft): /sangkien, <title>, <description>, /huy.

A press sends the callback data of the keyboard the fake Bot API last received for that chat,
exactly what a user's tap would send. The baseline gets the same number of updates with the
same per-user ordering (text messages, each echoed back once). After B, the database is checked
(events, accounts' steps, drafts, initiatives) and any failure, apology reply, stale-button
notice or logged warning makes the run fail.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import logging
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text, update
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters
from telegram.request import BaseRequest, RequestData

from bench.common import pg_schema, sqlite_file
from bot import demo_progress
from bot.core import Core
from bot.demo import seed_if_empty
from bot.i18n import SUPPORTED_LOCALES, gettext_for
from handlers.telegram import TelegramChannel
from storage import queries
from storage.engine import utcnow
from storage.migrate import upgrade
from storage.models import person_t

TOKEN = "123:ABC"
BOT_ID = 123
GOALS = {"SQLite": 0.5, "PostgreSQL": 0.35}  # full stack / baseline, by the full stack's DB
PRESS = None  # in a mix: press the first button of the keyboard last shown to this chat


def _title(uid: int, cycle: int) -> str:
    return f"Tiết kiệm điện khu vực sản xuất số {cycle} (người {uid})"


def _description(uid: int, cycle: int) -> str:
    return ("Thay đèn cao áp bằng đèn LED và lắp cảm biến hiện diện ở xưởng chế biến mủ cao su, "
            f"áp dụng tại phân xưởng {uid % 7 + 1} từ tháng {cycle % 12 + 1}.")


@dataclass(frozen=True)
class Mix:
    """One user's repeated cycle: (what to send, the account's step afterwards) per update.

    What to send is a fixed text, a text made from (user, cycle), or PRESS.
    """

    name: str
    cycle: tuple[tuple[str | Callable[[int, int], str] | None, str], ...]
    drafts: Callable[[int], int]  # open drafts a user has after n updates
    initiatives: Callable[[int], int]  # initiatives a user has submitted after n updates

    def send(self, uid: int, j: int) -> str | None:
        cycle, pos = divmod(j, len(self.cycle))
        what = self.cycle[pos][0]
        return what(uid, cycle) if callable(what) else what

    def step_after(self, n: int) -> str:
        """The step the account is at after n updates ("a|b": either)."""
        return self.cycle[(n - 1) % len(self.cycle)][1]

    def at_expected_step(self, step: str | None, n: int) -> bool:
        return step in self.step_after(n).split("|")


MIXES = {
    # The guided submission from start to submit (bot/submission.py, ORDER_SELF).
    "walk": Mix("walk", (
        ("/sangkien", "title"),  # new draft
        (_title, "description"),
        (_description, "field"),
        (PRESS, "applied"),  # the first field
        ("15/03/2024", "recognized"),
        (PRESS, "benefit"),  # "Yes, it is recognised"
        ("200 triệu", "benefit_confirm"),
        (PRESS, "coauthors"),  # "Yes, save it"
        (PRESS, "unit"),  # "No co-authors"
        ("phu rieng", "unit"),  # union search: results shown
        (PRESS, "attachments"),  # the first union found
        (PRESS, "summary"),  # "Skip"
        (PRESS, "idle"),  # "Submit": initiative created, draft deleted
    ), drafts=lambda n: 1 if n % 13 else 0, initiatives=lambda n: n // 13),
    # Text only: start a draft, answer two questions, stop (the draft is kept).
    "text": Mix("text", (
        ("/sangkien", "title"),
        (_title, "description"),
        (_description, "field|benefit"),  # the next question (flow at 232e77f | 0cd4554)
        ("/huy", "idle"),
    ), drafts=lambda n: (n + 3) // 4, initiatives=lambda n: 0),
}


SORRY = "Sorry, something went wrong on our side. What you had saved is safe; " \
        "please try again in a moment."


# ============================================================================ fake Bot API


class OfflineRequest(BaseRequest):
    """Answers Bot API calls in-process (like PTB's test `OfflineRequest`, but answering).

    Remembers, per chat, the last message sent with an inline keyboard so the driver can
    press its buttons, and counts what would be an error visible to the user.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.keyboards: dict[int, tuple[int, list[str]]] = {}  # chat → (message_id, data)
        self.sorry_texts = {gettext_for(loc)(SORRY) for loc in SUPPORTED_LOCALES}
        self.sorry = 0  # "something went wrong" replies
        self.toasts: list[str] = []  # callback answers with a notice (stale button…)
        self._message_ids = itertools.count(1)

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data is not None else {}
        self.calls[endpoint] += 1
        answer = getattr(self, f"_api_{endpoint}", None)
        if answer is None:
            body = {"ok": False, "error_code": 400, "description": f"unknown method {endpoint}"}
            return 400, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": answer(params)}).encode()

    # ---- endpoints
    def _api_getMe(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Bench", "username": "bench_bot",
                "can_join_groups": False, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _api_setMyCommands(self, _p: dict[str, Any]) -> bool:
        return True

    def _api_deleteWebhook(self, _p: dict[str, Any]) -> bool:
        return True

    def _api_answerCallbackQuery(self, p: dict[str, Any]) -> bool:
        if p.get("text"):
            self.toasts.append(str(p["text"]))
        return True

    def _message(self, chat_id: int, message_id: int, **extra: Any) -> dict[str, Any]:
        return {"message_id": message_id, "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "U"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bench"}, **extra}

    def _api_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id, body = int(p["chat_id"]), str(p["text"])
        message_id = next(self._message_ids)
        if body in self.sorry_texts:
            self.sorry += 1
        extra: dict[str, Any] = {"text": body}
        markup = p.get("reply_markup")
        if markup:
            extra["reply_markup"] = markup
            data = [row[0]["callback_data"] for row in markup["inline_keyboard"]]
            self.keyboards[chat_id] = (message_id, data)
        return self._message(chat_id, message_id, **extra)

    def _api_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._message(int(p["chat_id"]), int(p["message_id"]), text="…")


# ============================================================================ updates


def _user(uid: int) -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": "Người", "last_name": f"Dùng {uid}",
            "language_code": "vi"}


def message_update(update_id: int, uid: int, body: str) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "message_id": update_id, "date": int(time.time()),
        "chat": {"id": uid, "type": "private", "first_name": "Người"},
        "from": _user(uid), "text": body,
    }
    if body.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0,
                            "length": len(body.split(" ", 1)[0])}]
    return {"update_id": update_id, "message": msg}


def callback_update(update_id: int, uid: int, message_id: int, data: str) -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": f"cq{update_id}", "from": _user(uid), "chat_instance": f"ci{uid}", "data": data,
        "message": {"message_id": message_id, "date": int(time.time()),
                    "chat": {"id": uid, "type": "private", "first_name": "Người"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bench"},
                    "text": "…"},
    }}


UpdateMaker = Callable[[int, int, int], dict[str, Any]]  # (update_id, user, step) → update


def full_stack_maker(mix: Mix, req: OfflineRequest) -> UpdateMaker:
    def make(update_id: int, uid: int, j: int) -> dict[str, Any]:
        body = mix.send(uid, j)
        if body is not None:
            return message_update(update_id, uid, body)
        if uid not in req.keyboards:
            raise RuntimeError(f"user {uid}: no keyboard to press at update {j}")
        message_id, data = req.keyboards[uid]
        return callback_update(update_id, uid, message_id, data[0])
    return make


def baseline_maker(mix: Mix) -> UpdateMaker:
    def make(update_id: int, uid: int, j: int) -> dict[str, Any]:
        return message_update(update_id, uid, mix.send(uid, j) or "1")
    return make


# ============================================================================ driver


@dataclass
class Result:
    name: str
    seconds: float  # wall clock
    cpu: float  # CPU time of this process (all threads): robust when the machine is shared
    latencies: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.steps / self.seconds

    def pct(self, q: float) -> float:
        s = sorted(self.latencies)
        return s[min(len(s) - 1, round(q * (len(s) - 1)))] * 1000

    @property
    def cpu_per_step(self) -> float:
        return self.cpu / self.steps

    def line(self) -> str:
        return (f"{self.name:<30}: {self.rate:6.0f} steps/s  p50 {self.pct(0.5):7.2f} ms  "
                f"p99 {self.pct(0.99):7.2f} ms  CPU {self.cpu_per_step * 1000:5.2f} ms/step  "
                f"({self.steps} steps, {self.seconds:.2f} s)")


_update_ids = itertools.count(1)


@dataclass(frozen=True)
class Stack:
    """How a stack takes an update: `prepare` (untimed) turns the dict into what `feed`
    (timed: a step) takes."""

    prepare: Callable[[dict[str, Any]], Any]
    feed: Callable[[Any], Awaitable[None]]


def ptb_stack(app: Application[Any, Any, Any, Any, Any, Any]) -> Stack:
    return Stack(lambda data: Update.de_json(data, app.bot), app.process_update)


def channel_stack(channel: TelegramChannel) -> Stack:
    async def feed(data: dict[str, Any]) -> None:
        sending = await channel.handle_update(data)  # returns once committed
        if sending is not None:
            await sending  # and the step ends when its replies are sent
    return Stack(lambda data: data, feed)


async def drive(stack: Stack, make: UpdateMaker, plan: dict[int, int], concurrency: int,
                name: str) -> Result:
    """Run plan[user] updates for every user; one user's in order, users concurrently.

    At most `concurrency` updates are being fed at once; the latency of a step is the time
    its `feed` took (not the wait for a slot). Preparing the update counts in the wall time
    only.
    """
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    clock = time.perf_counter

    async def one_user(uid: int, n: int) -> None:
        for j in range(n):
            update = stack.prepare(make(next(_update_ids), uid, j))
            async with sem:
                t0 = clock()
                await stack.feed(update)
                latencies.append(clock() - t0)

    # Neither stack pays for the other's garbage: what the previous run left is collected
    # before the clock starts (both stacks alike; collections during the run still count).
    gc.collect()
    t0, c0 = clock(), time.process_time()
    await asyncio.gather(*(one_user(uid, n) for uid, n in plan.items()))
    return Result(name, clock() - t0, time.process_time() - c0, latencies)


def make_plan(first_uid: int, users: int, steps: int) -> dict[int, int]:
    """Spread `steps` updates over `users` users as evenly as possible."""
    base, extra = divmod(steps, users)
    return {first_uid + i: base + (1 if i < extra else 0) for i in range(users)
            if base or i < extra}


class ErrorCounter(logging.Handler):
    """Counts (and shows the first few) warnings and errors logged anywhere."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if len(self.records) <= 3:
            print(f"  !! {describe(record)}", file=sys.stderr)


def describe(record: logging.LogRecord) -> str:
    text = f"{record.levelname} {record.name}: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
    return text[:400]


# ============================================================================ the two stacks


WARMUP_UID, FIRST_UID = 1_000_000, 1


async def run_baseline(args: argparse.Namespace, concurrency: int, steps: int,
                       errors: ErrorCounter) -> Result:
    """A. A bare Application: one MessageHandler that echoes the text back."""

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    req = OfflineRequest()
    app = (Application.builder().token(TOKEN).request(req)
           .get_updates_request(OfflineRequest()).concurrent_updates(concurrency).build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    mix = MIXES[args.mix]
    await app.initialize()  # getMe, answered by the fake
    try:
        warm = args.warmup_users * len(mix.cycle)
        stack = ptb_stack(app)
        await drive(stack, baseline_maker(mix), make_plan(WARMUP_UID, args.warmup_users, warm),
                    concurrency, "warm-up")
        before = len(errors.records)
        result = await drive(stack, baseline_maker(mix), make_plan(FIRST_UID, args.users, steps),
                             concurrency, f"baseline echo (C={concurrency})")
        if len(errors.records) != before or req.calls["sendMessage"] != warm + steps:
            raise SystemExit(f"baseline: {len(errors.records) - before} errors logged, "
                             f"{req.calls['sendMessage']} of {warm + steps} echoes sent")
    finally:
        await app.shutdown()
    return result


def database(args: argparse.Namespace) -> str:
    return "PostgreSQL" if args.pg else "SQLite"


async def run_full(args: argparse.Namespace, concurrency: int, steps: int,
                   errors: ErrorCounter) -> Result:
    """B. TelegramChannel.handle_update → Core (group commit) → SQLite file in WAL mode, or a
    PostgreSQL schema of its own → replies."""
    mix = MIXES[args.mix]
    async with (pg_schema(args.pg) if args.pg else sqlite_file()) as engine:
        await upgrade(engine=engine)
        await seed_if_empty(engine)
        # A phase holding today, with targets: every submission updates the rollups.
        await demo_progress.seed(engine, now=utcnow())
        core = Core(engine)
        req = OfflineRequest()
        channel = TelegramChannel(core, token=TOKEN, request=req,
                                  get_updates_request=OfflineRequest())
        await channel.start(polling=False)  # getMe and setMyCommands, answered by the fake
        try:
            before = len(errors.records)
            stack = channel_stack(channel)
            warm = make_plan(WARMUP_UID, args.warmup_users, args.warmup_users * len(mix.cycle))
            await returning_workers(engine, [*warm, *make_plan(FIRST_UID, args.users, steps)])
            await drive(stack, full_stack_maker(mix, req), warm, concurrency, "warm-up")
            plan = make_plan(FIRST_UID, args.users, steps)
            result = await drive(stack, full_stack_maker(mix, req), plan, concurrency,
                                 f"full stack, {database(args)} (C={concurrency})")
            await verify(engine, req, mix, {**warm, **plan}, errors.records[before:])
        finally:
            await channel.stop()
            await core.aclose()
    return result


async def returning_workers(engine: Any, uids: list[int]) -> None:
    """Workers who have used the bot before: their profile (name, grassroots union) is
    complete, so their submissions are not held for it (a first one would be)."""
    now = utcnow()
    async with engine.begin() as conn:
        def setup(c: Any) -> None:
            unit = queries.unit_by_code(c, "BPC-PR-001")
            queries.create_accounts(c, channel="telegram", now=now, new=[
                (str(uid), str(uid), f"Người dùng {uid}") for uid in uids])
            c.execute(update(person_t).values(onboarded=True, unit_id=unit.id))
        await conn.run_sync(setup)


async def verify(engine: Any, req: OfflineRequest, mix: Mix, plan: dict[int, int],
                 new_errors: list[logging.LogRecord]) -> None:
    """Fail loudly unless every update did what it should have, durably."""
    async with engine.connect() as conn:
        async def scalar(sql: str) -> int:
            return int((await conn.execute(text(sql))).scalar_one())

        counts = {t: await scalar(f"SELECT count(*) FROM {t}")
                  for t in ("account", "draft", "inbound_event")}
        counts["initiative"] = await scalar(   # not the demo phase's generated ones
            f"SELECT count(*) FROM initiative WHERE channel <> '{demo_progress.DEMO_CHANNEL}'")
        counts["rollup"] = await scalar(
            "SELECT count(*) FROM progress_delta d JOIN unit u ON u.id = d.unit_id "
            "WHERE u.code = 'BPC-PR-001' AND d.registered > 0")
        failed = await scalar("SELECT count(*) FROM inbound_event WHERE failed")
        steps = dict((await conn.execute(text(
            "SELECT external_id, step FROM account WHERE channel = 'telegram'"))).all())
    expect = {
        "account": len(plan),
        "inbound_event": sum(plan.values()),
        "initiative": sum(mix.initiatives(n) for n in plan.values()),
        "draft": sum(mix.drafts(n) for n in plan.values()),
        # each submission counted for its author's grassroots union in the demo phase
        "rollup": sum(mix.initiatives(n) for n in plan.values()),
    }
    problems = [f"{table}: {counts[table]} rows, expected {n}"
                for table, n in expect.items() if counts[table] != n]
    wrong = [uid for uid, n in plan.items() if not mix.at_expected_step(steps.get(str(uid)), n)]
    if wrong:
        uid = wrong[0]
        problems.append(f"{len(wrong)} accounts at an unexpected step, e.g. user {uid} at "
                        f"{steps.get(str(uid))!r}, expected {mix.step_after(plan[uid])!r}")
    if failed:
        problems.append(f"{failed} events recorded as failed")
    if req.sorry:
        problems.append(f"{req.sorry} 'something went wrong' replies")
    if req.toasts:
        problems.append(f"{len(req.toasts)} callback notices, e.g. {req.toasts[0]!r}")
    if new_errors:
        problems.append(f"{len(new_errors)} warnings/errors logged, first: "
                        f"{describe(new_errors[0])}")
    if problems:
        raise SystemExit(f"full stack FAILED verification (mix {mix.name!r}):\n  "
                         + "\n  ".join(problems))
    calls = ", ".join(f"{k} {v}" for k, v in sorted(req.calls.items()))
    print(f"  verified: {counts['inbound_event']} events, 0 failed; {counts['account']} "
          f"accounts at the expected step; {counts['draft']} drafts, {counts['initiative']} "
          f"initiatives (each in the rollups) as expected. Bot API calls: {calls}")


# ============================================================================ main


async def amain(args: argparse.Namespace) -> int:
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    mix = MIXES[args.mix]
    goal = GOALS[database(args)]
    print(f"mix {mix.name!r} ({len(mix.cycle)} updates per cycle), {args.steps} steps, "
          f"{args.users} users, concurrency {args.concurrency}; warm-up "
          f"{args.warmup_users * len(mix.cycle)} updates per run; full stack on "
          f"{database(args)}; Python {sys.version.split()[0]}")
    runs = [(args.concurrency, args.steps)]
    if args.sequential:
        runs.append((1, args.sequential_steps))
    ratio_ok = True
    for concurrency, steps in runs:
        # Baseline and full stack alternate, round after round: the machine is shared and its
        # speed drifts by a third within minutes, so each ratio compares neighbours in time and
        # the median of the rounds is reported.
        rounds: list[tuple[Result, Result]] = []
        for r in range(args.rounds):
            base = await run_baseline(args, concurrency, steps, errors)
            full = await run_full(args, concurrency, steps, errors)
            print(f"  round {r + 1}, C={concurrency}")
            print("    " + base.line())
            print("    " + full.line(), flush=True)
            rounds.append((base, full))
        main_run = concurrency == args.concurrency
        ratios = sorted(full.rate / base.rate for base, full in rounds)
        cpu_ratios = sorted(base.cpu_per_step / full.cpu_per_step for base, full in rounds)
        base, full = sorted(rounds, key=lambda bf: bf[1].rate / bf[0].rate)[len(rounds) // 2]
        ratio = statistics.median(ratios)
        print()
        print(base.line())
        print(full.line())
        print(f"{'ratio full/baseline':<30}: {ratio:6.2f}   "
              + (f"(goal >= {goal})" if main_run else "(one update at a time: no batching)")
              + f"   by CPU time per step: {statistics.median(cpu_ratios):.2f}"
              + (f"   (median of {len(rounds)} rounds: "
                 + ", ".join(f"{x:.2f}" for x in ratios) + ")" if len(rounds) > 1 else ""))
        print()
        ratio_ok = ratio_ok and (ratio >= goal or not main_run)
    return 0 if ratio_ok or not args.strict else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_steps", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4000, help="measured updates per stack")
    p.add_argument("--users", type=int, default=200, help="distinct chats")
    p.add_argument("--concurrency", type=int, default=64, help="updates in flight at most")
    p.add_argument("--mix", choices=sorted(MIXES), default="walk",
                   help="what each user does (see above); default: walk")
    p.add_argument("--sequential", action="store_true",
                   help="also run both stacks with concurrency 1 (no group commit possible)")
    p.add_argument("--sequential-steps", type=int, default=1000,
                   help="measured updates per stack with --sequential")
    p.add_argument("--warmup-users", type=int, default=50,
                   help="warm-up chats per run, each doing one full cycle")
    p.add_argument("--rounds", type=int, default=5,
                   help="baseline/full-stack pairs, alternating; the median ratio is reported")
    p.add_argument("--pg", metavar="URL",
                   help="run the full stack on PostgreSQL (e.g. postgresql+asyncpg://postgres@"
                        "127.0.0.1/test), each run in a schema of its own, dropped after; "
                        "goal 0.35 instead of 0.5")
    p.add_argument("--strict", action="store_true", help="exit 1 when the ratio is below goal")
    args = p.parse_args(argv)
    if min(args.steps, args.users, args.concurrency, args.warmup_users,
           args.sequential_steps, args.rounds) < 1:
        p.error("counts must be positive")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
