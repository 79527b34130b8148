"""Real `sangkien run` processes on one database: two `--role web` processes both take
Telegram updates (PostgreSQL), and a worker killed with SIGKILL hands its singleton jobs to
another within the lease's bound. Each test is bounded in time."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage import leases
from storage.engine import make_engine
from tests.channels_zalo import free_port
from tests.conftest import PG_URL
from tests.fakes.telegram_server import FakeTelegram
from tests.test_web import SECRET, WEBHOOK_URL, sample

HOOK_PATH = "/telegram/webhook"
LEASE = 3.0   # JOB_LEASE_SECONDS for the workers here: renewed every second


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """A database of its own (processes cannot be handed a schema), dropped afterwards."""
    async with _pg_database() as url:
        yield url


@pytest.fixture(params=["postgres", "sqlite"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/run.db"
        return
    async with _pg_database() as url:
        yield url


@asynccontextmanager
async def _pg_database() -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class Process:
    """`python -m bot run …`, its output in a file."""

    def __init__(self, tmp_path: Path, name: str, env: dict[str, str], *args: str) -> None:
        self.log_path = tmp_path / f"{name}.log"
        self.env, self.args = env, args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Process:
        out = self._open_log()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", *self.args, env=self.env,
                cwd=self.log_path.parent, stdout=out, stderr=asyncio.subprocess.STDOUT)
        finally:
            out.close()   # the child has its own copy
        return self

    def _open_log(self) -> Any:
        return open(self.log_path, "wb")  # noqa: SIM115 (closed by start)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_for_log(self, fragment: str, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        await until(lambda: fragment in self.log(), f"{fragment!r} in {self.log_path.name}",
                    timeout, also=self)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"{self.log_path.name} did not stop:\n{self.log()}") from None


async def until(check: Callable[[], Any], what: str, timeout: float = 60.0, *,  # noqa: ASYNC109
                also: Process | None = None) -> Any:
    """Poll `check` (sync or async) until it gives something true; fail with `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if also is not None and also.proc is not None and also.proc.returncode is not None:
            raise AssertionError(f"{also.log_path.name} exited ({also.proc.returncode}) "
                                 f"before {what}:\n{also.log()}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}"
                         + (f"\n{also.log()}" if also is not None else ""))


def base_env(fake: FakeTelegram, database_url: str, **more: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_BASE_URL": fake.base_url, "ZALO_BOT_TOKEN": "",
            "DEFAULT_LANGUAGE": "en", "LOG_LEVEL": "INFO", "TELEGRAM_WEBHOOK_URL": "",
            "TELEGRAM_WEBHOOK_SECRET": "", "WEB_PORT": "", "WORKER_PORT": "", **more}


async def test_two_web_processes_on_postgresql_both_take_updates(
        tmp_path: Path, pg_database: str) -> None:
    async with FakeTelegram() as fake, aiohttp.ClientSession() as http:
        env = base_env(fake, pg_database, TELEGRAM_WEBHOOK_URL=WEBHOOK_URL,
                       TELEGRAM_WEBHOOK_SECRET=SECRET, LOG_FORMAT="json")
        ports = [free_port(), free_port()]
        webs = [await Process(tmp_path, f"web{i}", env, "--role", "web", "--host",
                              "127.0.0.1", "--port", str(port)).start()
                for i, port in enumerate(ports)]
        try:
            async def ready(port: int) -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            for web, port in zip(webs, ports, strict=True):
                await until(lambda port=port: ready(port), "ready", also=web)
                await web.wait_for_log('"message": "running: telegram')

            async def deliver(port: int, user: int, said: str) -> int:
                update = fake.take(fake.push_text(user, said))
                async with http.post(f"http://127.0.0.1:{port}{HOOK_PATH}", json=update,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                                     ) as response:
                    return response.status

            # One user on each process; then each user's next message through the other
            # one: the conversation lives in the database, not in a process.
            assert await deliver(ports[0], 7001, "/sangkien") == 200
            assert await deliver(ports[1], 7002, "/sangkien") == 200
            assert await deliver(ports[1], 7001, "Cải tiến máy hàn tự động") == 200
            assert await deliver(ports[0], 7002, "Sơ đồ bố trí kho vật tư mới") == 200
            for user in (7001, 7002):
                await fake.wait_for_messages(user, 2, timeout=30)
                first, second = (m["text"] for m in fake.messages(user))
                assert "Step 1 of 9" in first and "Step 2 of 9" in second
            assert [name for name, _p in fake.calls].count("setWebhook") == 2
            assert fake.webhook["secret_token"] == SECRET
            assert await deliver(ports[0], 7003, "/start") == 200
            async with http.post(f"http://127.0.0.1:{ports[1]}{HOOK_PATH}", json={},
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "no"}) as refused:
                assert refused.status == 403
            await fake.wait_for_messages(7003, 1, timeout=30)
            handled = 0
            for port, recorded in zip(ports, (3, 2), strict=True):
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    exposed = await response.text()
                # Each process recorded what it was given; either may have handled it.
                assert sample(exposed, "sangkien_updates_recorded_total",
                              channel="telegram") == recorded
                handled += sum(sample(exposed, "sangkien_updates_total", channel="telegram",
                                      kind=kind, outcome="handled") or 0
                               for kind in ("command", "text"))
            assert handled == 5
        finally:
            codes = [await web.stop() for web in webs]
    logs = [web.log() for web in webs]
    assert codes == [0, 0], logs
    for log in logs:
        records = [json.loads(line) for line in log.splitlines()]   # every line is JSON
        assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
        assert fake.token not in log and SECRET not in log


def holders(database_url: str) -> Callable[[], Any]:
    async def read() -> dict[str, dict[str, Any]]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(leases.holders)
        finally:
            await engine.dispose()
    return read


def held_by(rows: dict[str, dict[str, Any]], proc: Process) -> bool:
    """Every singleton job is held by `proc` (holders read host:pid:nonce)."""
    return set(rows) == {"digests", "upkeep", "replies", "campaigns"} and all(
        row["holder"].split(":")[1] == str(proc.pid) for row in rows.values())


async def test_a_killed_worker_hands_its_jobs_to_another_within_the_lease(
        tmp_path: Path, database_url: str) -> None:
    read = holders(database_url)
    async with FakeTelegram() as fake:
        env = base_env(fake, database_url, JOB_LEASE_SECONDS=str(LEASE))
        first = await Process(tmp_path, "worker1", env, "--role", "worker").start()
        second: Process | None = None
        try:
            await first.wait_for_log("running: telegram")
            await until(lambda: _check(read, first), "worker1 holds every job", also=first)
            second = await Process(tmp_path, "worker2", env, "--role", "worker").start()
            await second.wait_for_log("running: telegram")
            await asyncio.sleep(2 * LEASE / 3)   # two renewals: the jobs stay where they are
            assert held_by(await read(), first)
            assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
            killed = time.monotonic()
            await until(lambda: _check(read, second), "worker2 took every job over",
                        timeout=30, also=second)
            waited = time.monotonic() - killed
            # Not before the lease ran out; within lease + one renewal (+ slack for a busy
            # machine) — the production bound is 15 + 5 s, under 30.
            assert 0 < waited < LEASE + LEASE / 3 + 5, waited
            await second.wait_for_log("job digests: this process runs it now")
            assert await second.stop() == 0, second.log()
            # A graceful stop gives the leases up: nothing is left for the next to wait on.
            assert await read() == {}
        finally:
            for proc in (first, second):
                if proc is not None and proc.proc is not None and proc.proc.returncode is None:
                    await proc.stop(signal.SIGKILL)
    assert fake.token not in first.log()


async def _check(read: Callable[[], Any], proc: Process) -> bool:
    return held_by(await read(), proc)
