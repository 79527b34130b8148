"""The administrator's command line: invites and their revocation, as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def sangkien(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
           "TELEGRAM_BOT_TOKEN": "", "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": "en"}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_invite_use_and_revoke(tmp_path: Path) -> None:
    made = sangkien(tmp_path, "invite", "--role", "chair", "--unit", "dtp-yt")
    assert made.returncode == 0, made.stderr
    code = made.stdout.split()[0]
    assert code.startswith("MOI-") and "/start " + code in made.stdout
    chat = sangkien(tmp_path, "chat", stdin=f"/start {code}\n/hoso\n")
    assert "now chair of Công đoàn ngành Y tế" in chat.stdout
    assert "Role: chair of Công đoàn ngành Y tế" in chat.stdout
    revoked = sangkien(tmp_path, "revoke", code)
    assert revoked.returncode == 0 and "roles revoked: 1" in revoked.stdout
    chat = sangkien(tmp_path, "chat", stdin="/hoso\n/moi\n")
    assert "Role: chair" not in chat.stdout and "Only a union chair" in chat.stdout


def test_invite_for_an_unknown_unit_fails(tmp_path: Path) -> None:
    made = sangkien(tmp_path, "invite", "--role", "support", "--unit", "NOPE")
    assert made.returncode == 2 and "no unit" in made.stderr
