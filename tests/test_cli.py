"""The administrator's command line: invites and their revocation, as real processes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.fakes.telegram_server import FakeTelegram


def sangkien(tmp_path: Path, *args: str, stdin: str = "",
             language: str | None = "en") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
           "TELEGRAM_BOT_TOKEN": "", "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": language or ""}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_invite_use_and_revoke(tmp_path: Path) -> None:
    made = sangkien(tmp_path, "invite", "--role", "chair", "--unit", "dtp-yt")
    assert made.returncode == 0, made.stderr
    code = made.stdout.split()[0]
    assert code.startswith("MOI-") and "/start " + code in made.stdout
    assert "the role chair of Công đoàn ngành Y tế, valid for 7 days." in made.stdout
    chat = sangkien(tmp_path, "chat", stdin=f"/start {code}\n/hoso\n")
    assert "now chair of Công đoàn ngành Y tế" in chat.stdout
    assert "Role: chair of Công đoàn ngành Y tế" in chat.stdout
    revoked = sangkien(tmp_path, "revoke", code)
    assert revoked.returncode == 0
    assert revoked.stdout == f"Revoked the code {code} and 1 role granted through it.\n"
    chat = sangkien(tmp_path, "chat", stdin="/hoso\n/moi\n")
    assert "Role: chair" not in chat.stdout and "Only a union chair" in chat.stdout


def test_invite_for_an_unknown_unit_fails(tmp_path: Path) -> None:
    made = sangkien(tmp_path, "invite", "--role", "support", "--unit", "NOPE")
    assert made.returncode == 2 and made.stderr == "No unit has the code NOPE.\n"


def test_the_administrator_is_spoken_to_in_the_default_language(tmp_path: Path) -> None:
    """Vietnamese unless DEFAULT_LANGUAGE or --lang says otherwise; what was done is said
    plainly, and logged at INFO in the log file, not on the screen."""
    made = sangkien(tmp_path, "invite", "--role", "support", "--unit", "dtp-yt", "--days", "1",
                    language=None)
    code = made.stdout.split()[0]
    assert "Mã mời nhận vai trò thành viên Tổ hỗ trợ sáng kiến của Công đoàn ngành Y tế, " \
           "có hiệu lực 1 ngày." in made.stdout
    assert made.stderr == ""
    unused = sangkien(tmp_path, "revoke", code, language=None)
    assert unused.stdout == f"Đã thu hồi mã {code}; chưa ai dùng mã này.\n"
    again = sangkien(tmp_path, "revoke", code.lower(), "--lang", "en", language=None)
    assert again.returncode == 1
    assert again.stderr == f"Nothing to revoke: no unused code {code}, and no role " \
                           "granted through it.\n"
    made = sangkien(tmp_path, "invite", "--role", "chair", "--unit", "dtp-yt", language=None)
    code = made.stdout.split()[0]
    sangkien(tmp_path, "chat", stdin=f"/start {code}\n", language=None)
    revoked = sangkien(tmp_path, "revoke", code, language=None)
    assert revoked.stdout == f"Đã thu hồi mã {code} và 1 vai trò đã cấp qua mã này.\n"
    logged = (tmp_path / "sangkien.log").read_text(encoding="utf-8")
    assert re.search(r" INFO bot\.services\.roles: invite for support of DTP-YT", logged)
    assert re.search(rf" INFO bot\.services\.roles: revoked {code}", logged)


def test_the_help_starts_with_plain_text(tmp_path: Path) -> None:
    shown = sangkien(tmp_path, "--help")
    assert shown.stdout.split("\n\n")[1].startswith("The sangkien command line: ")
    assert "`" not in shown.stdout


async def test_the_main_job_serves_telegram_and_stops_cleanly(tmp_path: Path) -> None:
    """`sangkien run` as a real process with a Telegram token: it registers the command menu,
    answers a worker through the fake Bot API, freezes its start-up objects out of the
    garbage collector, and exits 0 on SIGTERM."""
    async with FakeTelegram() as fake:
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.db",
               "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_BASE_URL": fake.base_url,
               "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": "en", "LOG_LEVEL": "INFO"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            fake.push_text(7001, "/sangkien")
            await fake.wait_for_messages(7001, 1, timeout=30)
            assert "Step 1 of 9" in fake.messages(7001)[0]["text"]
            assert [c["command"] for c in fake.commands("en")][:2] == ["start", "new"]
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        log = out.decode()
        assert proc.returncode == 0, log
        frozen = re.search(r"running: telegram \((\d+) long-lived objects", log)
        assert frozen and int(frozen.group(1)) > 10_000, log
        assert fake.token not in log   # the token never reaches the logs


async def test_the_main_job_exits_1_when_telegram_rejects_the_token(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        wrong = fake.token.split(":")[0] + ":WRONG-PART-of-the-token"
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.db",
               "TELEGRAM_BOT_TOKEN": wrong, "TELEGRAM_BASE_URL": fake.base_url,
               "ZALO_BOT_TOKEN": "", "LOG_LEVEL": "INFO"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    log = out.decode()
    assert proc.returncode == 1, log
    assert "rejected the bot token" in log and "Traceback" not in log
    assert "WRONG-PART" not in log


async def test_units_qr_asks_telegram_for_the_bot_username(tmp_path: Path) -> None:
    """With a token and no TELEGRAM_BOT_USERNAME, `units qr` asks Telegram (getMe)."""
    assert sangkien(tmp_path, "initdb").returncode == 0
    async with FakeTelegram(bot_username="sangkien_demo_bot") as fake:
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
               "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_BASE_URL": fake.base_url,
               "TELEGRAM_BOT_USERNAME": "", "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": "en"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "units", "qr", "DTP-YT", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "https://t.me/sangkien_demo_bot?start=DTP-YT" in out.decode()
    assert (tmp_path / "qr-DTP-YT.png").is_file()
    assert [name for name, _params in fake.calls] == ["getMe"]
