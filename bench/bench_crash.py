"""Random SIGKILLs: `sangkien run` is killed every few seconds while users write drafts, and
started again; afterwards every update must have been handled once and every user must
have had every reply.

    python -m bench.bench_crash [--users 40] [--cycles 5] [--kill-every 3.0] [--pg URL]

Runs against the fake Telegram Bot API of the test suite (tests/fakes/telegram_server.py,
over loopback HTTP) and an SQLite file in a temporary folder (or a PostgreSQL schema of its
own with --pg). Each user repeats: /sangkien, a title, a description, /huy — every step a
durable change — and sends the next message only once the reply to the last one arrived
(after a kill it may come from a redelivery, or from the outbox when the update was already
confirmed). Printed: kills survived, updates sent, updates handled (once each), replies
expected and received, replies received twice (a kill between a send and its mark).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from tests.fakes.telegram_server import FakeTelegram

# (what the user sends, a fragment of the reply that answers it)
CYCLE = (
    ("/sangkien", "Step 1"),
    ("Cải tiến số {n} của người {u}", "Step 2"),
    ("Vấn đề: việc số {n} chậm. Giải pháp: làm lại quy trình. Áp dụng ở tổ {u}.", "Step 3"),
    ("/huy", "Stopped"),
)


class Bot:
    def __init__(self, fake: FakeTelegram, url: str, home: Path) -> None:
        self.env = {**os.environ, "DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": fake.token,
                    "TELEGRAM_BASE_URL": fake.base_url, "ZALO_BOT_TOKEN": "",
                    "DEFAULT_LANGUAGE": "en", "LOG_LEVEL": "WARNING", "UPKEEP_SECONDS": "1",
                    "JOB_LEASE_SECONDS": "2",
                    "UNSENT_REPLY_SECONDS": "2", "SANGKIEN_HOME": str(home)}
        self.home = home
        self.proc: asyncio.subprocess.Process | None = None
        self.kills = 0

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=self.env, cwd=self.home,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def kill_and_restart(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.kills += 1
        await self.start()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), timeout=60)


async def user(fake: FakeTelegram, uid: int, cycles: int, sent: list[int],
               missing: list[str]) -> None:
    chat = 9000 + uid
    for n in range(cycles):
        for text, expect in CYCLE:
            before = sum(expect in m["text"] for m in fake.messages(chat))
            fake.push_text(chat, text.format(n=n, u=uid))
            sent[0] += 1
            try:
                await fake.wait_for_count(chat, expect, before + 1, timeout=60)
            except Exception:
                missing.append(f"chat {chat}: {text[:20]!r} never answered")
                return


async def amain(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="sangkien-crash-") as tmp:
        home = Path(tmp)
        url = args.pg or f"sqlite+aiosqlite:///{home / 'crash.db'}"
        async with FakeTelegram() as fake:
            bot = Bot(fake, url, home)
            await bot.start()
            sent, missing = [0], []
            users = [asyncio.create_task(user(fake, u, args.cycles, sent, missing))
                     for u in range(args.users)]
            started = time.monotonic()
            while not all(t.done() for t in users):
                await asyncio.sleep(random.uniform(0.5, 1.5) * args.kill_every)
                if not all(t.done() for t in users):
                    await bot.kill_and_restart()
            await asyncio.gather(*users)
            await asyncio.sleep(3)   # late duplicates, if any, arrive
            await bot.stop()
            elapsed = time.monotonic() - started
            replies = {exp: 0 for _t, exp in CYCLE}
            twice = 0
            for u in range(args.users):
                texts = [m["text"] for m in fake.messages(9000 + u)]
                for _text, expect in CYCLE:
                    got = sum(expect in t for t in texts)
                    replies[expect] += got
                    twice += max(0, got - args.cycles)
        handled = drafts = 0
        if not args.pg:
            with sqlite3.connect(home / "crash.db") as db:
                handled = db.execute("SELECT count(*) FROM inbound_event "
                                     "WHERE channel = 'telegram'").fetchone()[0]
                drafts = db.execute("SELECT count(*) FROM draft").fetchone()[0]
    expected = args.users * args.cycles
    print(f"kills survived: {bot.kills} in {elapsed:.0f} s")
    print(f"updates sent: {sent[0]}; handled (recorded once each): "
          f"{handled if not args.pg else 'n/a on --pg'}")
    print(f"drafts: {drafts} (expected {expected}: one per cycle, none twice)"
          if not args.pg else "")
    print(f"replies expected: {expected * len(CYCLE)}, received: {sum(replies.values())}, "
          f"of which repeated: {twice}")
    for line in missing:
        print("MISSING", line)
    ok = not missing and (args.pg or (handled == sent[0] and drafts == expected))
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=40)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between kills")
    p.add_argument("--pg", help="PostgreSQL URL (the run uses the database as given)")
    return asyncio.run(amain(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
