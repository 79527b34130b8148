"""Several processes on PostgreSQL: webhook load, and chaos with SIGKILLs.

    python -m bench.bench_scale load  [--rate 300] [--seconds 60] [--webs 1|2] [--pg URL]
    python -m bench.bench_scale chaos [--users 1000] [--webs 2] [--kill-every 4] [--pg URL]

Real `sangkien run --role web` processes (and one `--role worker`) on a PostgreSQL database
of their own (created and dropped here), the fake Telegram Bot API of the test suite
(tests/fakes/telegram_server.py) answering their calls and recording every message sent,
and this script posting updates to the web processes' webhook, as Telegram would (round
robin; a process that does not answer is skipped, and the update posted again elsewhere).
Loopback only.

load: updates posted at a fixed rate, open loop (each at its time, whatever came back), by
users writing drafts (/sangkien, a title, a description, /huy, repeated). Printed: the
acknowledgement latency p50/p99/max, errors, updates/s acknowledged and handled, and the
processes' CPU — with one and with two web processes, on this machine's 2 cores.

chaos: every user onboards, walks a whole submission (13 updates, 7 of them button presses)
through the webhooks while a random process (web or worker) is killed with SIGKILL every few
seconds and started again. A chair of the users' district gets an alert per submission
through the outbox. Afterwards it checks: every user's initiative is committed once, or the
draft waits at the step last answered; no update was handled twice (one row per update id,
one initiative per user); the last reply each user saw matches the state committed; every
alert was delivered, and how many more than once (a kill between a send and its mark).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.engine import make_engine
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
HOOK = "/telegram/webhook"
SECRET = "bench-scale-secret"
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

# A whole submission, after onboarding: (what to send — text, or PRESS for the first button of
# the last keyboard — and a fragment of the reply that answers it).
PRESS = None
WALK: tuple[tuple[str | None, str], ...] = (
    ("/sangkien", "Step 1"),
    ("Cải tiến số {u}: tiết kiệm điện ở tổ sản xuất", "Step 2"),
    ("Vấn đề: tổ {u} tốn điện. Giải pháp: đèn LED và cảm biến. Áp dụng từ tháng 3.", "Step 3"),
    (PRESS, "Step 4"),                  # the first field
    ("15/03/2024", "Step 5"),
    (PRESS, "Step 6"),                  # recognised
    ("200 triệu", "Is that right?"),
    (PRESS, "Step 7"),                  # yes, save it
    (PRESS, "Step 8"),                  # no co-authors
    ("phu rieng", "Results for"),
    (PRESS, "Step 9"),                  # the first union found
    (PRESS, "Submit it?"),              # skip the attachments
    (PRESS, "Submitted!"),              # submit
)
ONBOARD = (("/start BPC-PR-001", "Choose your language"), ("English", "What name"),
           (PRESS, "profile is saved"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    def __init__(self, name: str, env: dict[str, str], home: Path, *args: str) -> None:
        self.name, self.env, self.home, self.args = name, env, home, args
        self.proc: asyncio.subprocess.Process | None = None
        self.kills = 0

    async def start(self) -> Proc:
        log = (self.home / f"{self.name}.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", *self.args, env=self.env, cwd=self.home,
            stdout=log, stderr=asyncio.subprocess.STDOUT)
        return self

    async def kill_and_restart(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.kills += 1
        await self.start()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=60)
            except TimeoutError:
                self.proc.kill()

    def cpu(self) -> float:
        """CPU seconds used so far (user + system), from /proc."""
        if self.proc is None or self.proc.returncode is not None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def server_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL backends serving the bench's database (a
    local server: its processes are readable here), by process id."""
    admin = make_engine(url)
    try:
        async with admin.connect() as conn:
            pids = (await conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"))).scalars().all()
    finally:
        await admin.dispose()
    return {pid: pid_cpu(pid) for pid in pids}


@dataclass
class Cluster:
    fake: FakeTelegram
    url: str
    home: Path
    webs: list[Proc] = field(default_factory=list)
    worker: Proc | None = None
    ports: list[int] = field(default_factory=list)
    http: aiohttp.ClientSession | None = None
    turn: itertools.cycle[int] = field(default_factory=lambda: itertools.cycle([0]))

    def env(self) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": self.url, "TELEGRAM_BOT_TOKEN": self.fake.token,
                "TELEGRAM_BASE_URL": self.fake.base_url, "ZALO_BOT_TOKEN": "",
                "TELEGRAM_WEBHOOK_URL": f"https://bot.example{HOOK}",
                "TELEGRAM_WEBHOOK_SECRET": SECRET, "DEFAULT_LANGUAGE": "en",
                "LOG_LEVEL": "WARNING", "JOB_LEASE_SECONDS": "3", "UPKEEP_SECONDS": "2",
                "UNSENT_REPLY_SECONDS": "5", "SANGKIEN_HOME": str(self.home)}

    async def start(self, webs: int, *, worker: bool) -> None:
        self.ports = [free_port() for _ in range(webs)]
        self.turn = itertools.cycle(range(webs))
        for i, port in enumerate(self.ports):
            self.webs.append(await Proc(f"web{i}", self.env(), self.home, "--role", "web",
                                        "--host", "127.0.0.1", "--port", str(port)).start())
        if worker:
            self.worker = await Proc("worker", self.env(), self.home, "--role",
                                     "worker").start()
        self.http = aiohttp.ClientSession()
        for port in self.ports:
            await self.ready(port)

    async def ready(self, port: int) -> None:
        assert self.http is not None
        for _ in range(600):
            try:
                async with self.http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"web process on {port} never ready")

    async def post(self, update: dict[str, Any]) -> float:
        """Deliver an update as Telegram would: to the next web process, again elsewhere
        until one answers 200. Returns the acknowledgement latency of the successful post."""
        assert self.http is not None
        for attempt in range(200):
            port = self.ports[next(self.turn)]
            started = time.perf_counter()
            try:
                async with self.http.post(
                        f"http://127.0.0.1:{port}{HOOK}", json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                        timeout=aiohttp.ClientTimeout(total=10)) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(min(0.05 * (attempt + 1), 1.0))
        raise RuntimeError("no web process took the update")

    async def stop(self) -> None:
        for p in [*self.webs, *([self.worker] if self.worker else [])]:
            await p.stop()
        if self.http is not None:
            await self.http.close()


async def pg_database(url: str) -> tuple[str, Any]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(url).set(database=name).render_as_string(hide_password=False), (admin, name)


async def drop_database(handle: Any) -> None:
    admin, name = handle
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] if s else float("nan")


# --------------------------------------------------------------------------- load

async def load(args: argparse.Namespace) -> int:
    url, handle = await pg_database(args.pg)
    try:
        with tempfile.TemporaryDirectory(prefix="sangkien-scale-") as tmp:
            async with FakeTelegram() as fake:
                cluster = Cluster(fake, url, Path(tmp))
                await cluster.start(args.webs, worker=True)
                try:
                    return await drive_load(cluster, args)
                finally:
                    await cluster.stop()
    finally:
        await drop_database(handle)


async def drive_load(cluster: Cluster, args: argparse.Namespace) -> int:
    fake = cluster.fake
    cycle = ("/sangkien", "Cải tiến số {n} của tổ {u} ở phân xưởng",
             "Vấn đề: việc số {n} chậm. Giải pháp: làm lại quy trình. Áp dụng ở tổ {u}.",
             "/huy")
    total = int(args.rate * args.seconds)
    users = max(1, args.rate * 3)          # each user writes about every 3 s
    updates = [fake.take(fake.push_text(10_000 + i % users,
                                        cycle[(i // users) % 4].format(n=i // users,
                                                                       u=i % users)))
               for i in range(total)]
    job_file, out_file = cluster.home / "post-job.json", cluster.home / "post-out.json"
    job_file.write_text(json.dumps({"ports": cluster.ports, "secret": SECRET, "path": HOOK,
                                    "rate": args.rate, "updates": updates}))
    del updates
    cpu_before = [p.cpu() for p in cluster.webs]
    worker_before = cluster.worker.cpu() if cluster.worker else 0.0
    own_before = time.process_time()
    server_before = await server_cpu(cluster.url)
    started = time.perf_counter()
    # The poster runs apart (bench/scale_post.py): this process's fake Telegram, busy with
    # the bot's sends, would otherwise delay the posts and be counted in their latency.
    poster = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.scale_post", str(job_file), str(out_file),
        cwd=ROOT)
    if await poster.wait() != 0:
        raise RuntimeError("the poster failed")
    posted = json.loads(out_file.read_text())
    latencies, errors, acked = posted["latencies"], posted["errors"], posted["acked_in"]
    # Handled: every update's replies reached the fake.
    expected = total
    for _ in range(1200):
        got = sum(len(fake.messages(10_000 + u)) for u in range(users))
        if got >= expected:
            break
        await asyncio.sleep(0.1)
    handled_in = time.perf_counter() - started
    cpu = [p.cpu() - b for p, b in zip(cluster.webs, cpu_before, strict=True)]
    worker_cpu = (cluster.worker.cpu() if cluster.worker else 0.0) - worker_before
    own_cpu = time.process_time() - own_before
    server_after = await server_cpu(cluster.url)
    server = sum(c - server_before.get(pid, 0.0) for pid, c in server_after.items())
    print(f"{args.webs} web process(es), {args.rate}/s for {args.seconds} s "
          f"({total} updates, {users} users):")
    print(f"  acknowledged: p50 {pct(latencies, 50) * 1000:.1f} ms, p99 "
          f"{pct(latencies, 99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms; "
          f"errors {errors}; {len(latencies) / acked:.0f}/s")
    print(f"  handled and answered: {got} of {expected} replies' messages by "
          f"{handled_in:.1f} s ({got / handled_in:.0f}/s)")
    print(f"  CPU, share of a core over {handled_in:.0f} s: web "
          f"{', '.join(f'{c / handled_in:.0%}' for c in cpu)}; worker "
          f"{worker_cpu / handled_in:.0%}; the fake Telegram {own_cpu / handled_in:.0%}; "
          f"the poster {posted['cpu'] / handled_in:.0%} ({posted['cpu'] / acked:.0%} while "
          f"posting); PostgreSQL {server / handled_in:.0%}")
    ok = errors == 0 and pct(latencies, 99) <= 0.050
    print("  goal (p99 ≤ 50 ms, no error):", "met" if ok else "NOT met")
    return 0 if ok else 1


# --------------------------------------------------------------------------- chaos

async def chaos(args: argparse.Namespace) -> int:
    url, handle = await pg_database(args.pg)
    try:
        with tempfile.TemporaryDirectory(prefix="sangkien-chaos-") as tmp:
            async with FakeTelegram() as fake:
                cluster = Cluster(fake, url, Path(tmp))
                await cluster.start(args.webs, worker=True)
                try:
                    return await drive_chaos(cluster, args, url)
                finally:
                    await cluster.stop()
    finally:
        await drop_database(handle)


TRACE: dict[int, list[str]] = {}   # chat → what the simulated user did, for diagnostics


async def say(cluster: Cluster, chat: int, what: str | None, expect: str,
              under: str = "") -> bool:
    """Send `what` (PRESS: the first button under the newest message with a keyboard that
    says `under`, the question being answered, as a person would — not under an older
    reply the outbox sent again after a crash) and wait for a reply that says `expect`."""
    fake = cluster.fake
    before = sum(expect in m.get("text", "") for m in fake.messages(chat))
    if what is PRESS:
        shown = [m for m in fake.messages(chat)
                 if m.get("reply_markup") and under in m.get("text", "")]
        if not shown:
            TRACE.setdefault(chat, []).append(f"no keyboard to press for {expect!r}")
            return False
        last = shown[-1]
        data = last["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        update = fake.take(fake.push_callback(chat, last["message_id"], data))
        did = f"press {data!r} under message {last['message_id']}"
    else:
        update = fake.take(fake.push_text(chat, what))
        did = f"text {what[:30]!r}"
    started = time.monotonic()
    await cluster.post(update)
    TRACE.setdefault(chat, []).append(
        f"{time.monotonic() - T0:7.1f} s update {update['update_id']}: {did}, acknowledged in "
        f"{time.monotonic() - started:.2f} s, waiting for {expect!r}")
    try:
        await fake.wait_for_count(chat, expect, before + 1, timeout=120)
    except Exception:
        return False
    return True


T0 = time.monotonic()


async def diagnose(cluster: Cluster, conn: Any, chat: int) -> None:
    """What happened to a chat whose walk stalled: what its user did, its inbound rows,
    its conversation's state, its outbox rows and the messages it was sent."""
    print(f"  --- chat {chat}")
    for line in TRACE.get(chat, []):
        print("    did:", line)
    for row in (await conn.execute(text(
            "SELECT event_id, seq, received_at, failed, payload IS NOT NULL AS waiting, "
            "replies IS NOT NULL AS unsent FROM inbound_event WHERE chat_id = :c "
            "ORDER BY seq"), {"c": str(chat)})).all():
        print("    inbound:", *row)
    for row in (await conn.execute(text(
            "SELECT a.step, d.step, d.id FROM account a LEFT JOIN draft d ON d.id = a.draft_id "
            "WHERE a.external_id = :c"), {"c": str(chat)})).all():
        print("    account step, draft step, draft:", *row)
    for row in (await conn.execute(text(
            "SELECT id, kind, status, attempts, dedupe_key, left(text, 40) FROM outbox "
            "WHERE chat_id = :c ORDER BY id"), {"c": str(chat)})).all():
        print("    outbox:", *row)
    for m in cluster.fake.messages(chat):
        keys = (m.get("reply_markup") or {}).get("inline_keyboard") or []
        print(f"    message {m['message_id']}: {(m.get('text') or '')[:60]!r}"
              f"{' [keyboard ' + keys[0][0]['callback_data'] + ']' if keys else ''}")
    for a in cluster.fake.callback_answers:
        if a["user_id"] == chat:
            print(f"    button {a['data']!r} under {a['message_id']} answered: {a['text']!r}")


async def drive_chaos(cluster: Cluster, args: argparse.Namespace, url: str) -> int:
    fake = cluster.fake
    chair = 5000
    # The chair of the users' district, invited from the shell.
    made = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "invite", "--role", "chair", "--unit", "BPC-PR",
        env=cluster.env(), cwd=cluster.home, stdout=asyncio.subprocess.PIPE)
    code = (await made.communicate())[0].decode().split()[0]
    await say(cluster, chair, f"/start {code}", "chair of")
    steps_done: dict[int, int] = {}
    failures: list[str] = []
    stalled: list[int] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for u in range(args.users):
        queue.put_nowait(7000 + u)

    async def walker() -> None:
        while not queue.empty():
            chat = queue.get_nowait()
            steps_done[chat] = 0
            under = ""
            for what, expect in (*ONBOARD, *WALK):
                text_ = what.format(u=chat) if isinstance(what, str) else what
                ok = await say(cluster, chat, text_, expect, under)
                under = expect
                if not ok:
                    failures.append(f"chat {chat}: no {expect!r}")
                    stalled.append(chat)
                    break
                steps_done[chat] += 1

    procs = [*cluster.webs, *([cluster.worker] if cluster.worker else [])]
    walkers = [asyncio.create_task(walker()) for _ in range(args.concurrency)]
    started = time.monotonic()
    kills = 0
    shown = time.monotonic()
    while not all(w.done() for w in walkers):
        await asyncio.sleep(random.uniform(0.5, 1.5) * args.kill_every)
        if all(w.done() for w in walkers):
            break
        if time.monotonic() - shown > 30:
            shown = time.monotonic()
            done = sum(1 for n in steps_done.values() if n == len(ONBOARD) + len(WALK))
            print(f"  {shown - started:.0f} s: {done} walks done, {len(failures)} stalled, "
                  f"{kills} kills", flush=True)
        victim = random.choice(procs)
        await victim.kill_and_restart()
        kills += 1
    await asyncio.gather(*walkers)
    took = time.monotonic() - started
    # The alerts all go to one chair's chat, paced at one a second there: wait for the outbox
    # to empty (or give up after two seconds per user and a minute more).
    engine = make_engine(url)
    give_up = time.monotonic() + (args.outbox_wait if args.outbox_wait is not None
                                  else 2 * args.users + 60)
    while time.monotonic() < give_up:
        async with engine.connect() as conn:
            left = (await conn.execute(text(
                "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"))).scalar()
        if not left:
            break
        await asyncio.sleep(2)
    await engine.dispose()
    await asyncio.sleep(2)       # the last answers reach the fake server

    engine = make_engine(url)
    async with engine.connect() as conn:
        initiatives = dict((await conn.execute(text(
            "SELECT a.external_id, count(i.id) FROM initiative i JOIN account a "
            "ON a.person_id = i.person_id GROUP BY a.external_id"))).all())
        steps = dict((await conn.execute(text(
            "SELECT external_id, step FROM account"))).all())
        events = (await conn.execute(text(
            "SELECT count(*), count(DISTINCT event_id) FROM inbound_event"))).one()
        waiting = (await conn.execute(text(
            "SELECT count(*) FROM inbound_event WHERE payload IS NOT NULL"))).scalar()
        outbox = dict((await conn.execute(text(
            "SELECT status, count(*) FROM outbox GROUP BY status"))).all())
        for row in (await conn.execute(text(
                "SELECT kind, status, attempts, not_before, claimed_until, last_error "
                "FROM outbox WHERE status NOT IN ('sent') LIMIT 10"))).all():
            print("  outbox left:", *row)
        resent = dict((await conn.execute(text(
            "SELECT chat_id, count(*) FROM outbox WHERE kind = 'reply' GROUP BY chat_id"))).all())
        # A message whose text the chat was sent before is a reply sent again: by the outbox
        # (replies a killed process had sent, or not, before recording it), or else because
        # an update was handled twice, or an outbox row sent twice (a kill between its send
        # and its mark) — those are the unexplained ones.
        repeats, unexplained = 0, []
        for c in range(7000, 7000 + args.users):
            said = [m.get("text", "") for m in fake.messages(c)]
            again = len(said) - len(set(said))
            repeats += again
            if again > resent.get(str(c), 0):
                unexplained.append(c)
        for chat in [*stalled[:5], *unexplained[:3]]:
            await diagnose(cluster, conn, chat)
    await engine.dispose()
    twice = [c for c, n in initiatives.items() if n > 1]
    alerts = [m for m in fake.messages(chair) if "New initiative to review" in m["text"]]
    codes = [m["text"].split("SK-")[1][:6] for m in alerts if "SK-" in m["text"]]
    submitted = sum(1 for c in range(7000, 7000 + args.users) if initiatives.get(str(c)))
    mismatched = [c for c in range(7000, 7000 + args.users)
                  if bool(initiatives.get(str(c))) != (steps_done.get(c) == len(ONBOARD)
                                                        + len(WALK))
                  and steps.get(str(c)) != "idle"]
    print(f"chaos: {args.users} users, {args.webs} web + 1 worker, {kills} kills in "
          f"{took:.0f} s ({', '.join(f'{p.name} {p.kills}' for p in procs)})")
    print(f"  submissions committed: {submitted}; users with two: {len(twice)}; "
          f"walks not finished: {len(failures)}")
    print(f"  inbound events: {events[0]} rows for {events[1]} ids; still waiting: {waiting}")
    print(f"  replies seen vs state: {len(mismatched)} mismatches")
    print(f"  replies sent again: {sum(resent.values())} through the outbox after a kill; "
          f"messages repeated in users' chats: {repeats}; chats with repeats the outbox does "
          f"not explain (an update handled twice, or an outbox row sent twice): "
          f"{len(unexplained)} {unexplained[:5]}")
    print(f"  alerts: {len(set(codes))} initiatives alerted of {submitted}; messages "
          f"{len(alerts)} ({len(alerts) - len(set(codes))} repeated); outbox {outbox}")
    for line in failures[:10]:
        print("  FAILED", line)
    ok = (not twice and not failures and not unexplained and waiting == 0
          and not mismatched and len(set(codes)) == submitted == args.users)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--rate", type=int, default=300)
    lp.add_argument("--seconds", type=int, default=60)
    lp.add_argument("--webs", type=int, default=1)
    cp = sub.add_parser("chaos")
    cp.add_argument("--users", type=int, default=1000)
    cp.add_argument("--webs", type=int, default=2)
    cp.add_argument("--concurrency", type=int, default=100, help="users walking at once")
    cp.add_argument("--kill-every", type=float, default=4.0)
    cp.add_argument("--outbox-wait", type=float, default=None,
                    help="seconds to wait for the outbox to empty (2 a user and 60 more)")
    for q in (lp, cp):
        q.add_argument("--pg", default=PG, help="PostgreSQL (a database is made and dropped)")
    args = p.parse_args()
    return asyncio.run(load(args) if args.mode == "load" else chaos(args))


if __name__ == "__main__":
    raise SystemExit(main())
