"""`sangkien campaign …` as a real process: create (sending now, with a progress bar),
list, show, preview, pause, resume, cancel — on the services the chat uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select

from storage.engine import utcnow
from storage.models import outbox_t
from tests import campaign_data as data


def sangkien(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
           "TELEGRAM_BOT_TOKEN": "", "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": "en",
           "QUIET_HOURS": "", "CAMPAIGN_BATCH": "7"}
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


def test_create_now_queues_everyone_with_a_progress_bar(tmp_path: Path) -> None:
    assert sangkien(tmp_path, "initdb").returncode == 0
    engine = create_engine(f"sqlite:///{tmp_path}/cli.db")
    with engine.begin() as conn:
        world = data.generate(conn, now=utcnow(), n=50)
    want = data.expected(world, data.subtree_codes_of(engine, "THA"), "members")
    made = sangkien(tmp_path, "campaign", "create", "--unit", "THA", "--audience", "members",
                    "--text", "Hello {name}", "--now")
    assert made.returncode == 0, made.stderr
    assert "Campaign 1 created." in made.stdout
    assert f"{len(want)} messages queued" in made.stdout
    assert "Queued [" in made.stderr and f"{len(want)}/{len(want)} (100%)" in made.stderr
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox_t)).scalar_one() == len(want)
    listed = sangkien(tmp_path, "campaign", "list")
    assert "done" in listed.stdout and "THA" in listed.stdout
    shown = sangkien(tmp_path, "campaign", "show", "1")
    assert f"Queued {len(want)}: sent 0, waiting {len(want)}" in shown.stdout
    later = sangkien(tmp_path, "campaign", "create", "--unit", "THA", "--audience",
                     "idle_drafts", "--idle-days", "5", "--text", "Finish it",
                     "--weekly", "mon", "08:00")
    assert later.returncode == 0 and "First sending:" in later.stdout
    preview = sangkien(tmp_path, "campaign", "preview", "2")
    assert "Recipients:" in preview.stdout and "Finish it" in preview.stdout
    assert "/tatthongbao" in preview.stdout
    assert sangkien(tmp_path, "campaign", "pause", "2").stdout == "Campaign 2 is now paused.\n"
    again = sangkien(tmp_path, "campaign", "pause", "2")
    assert again.returncode == 1 and "nothing was changed" in again.stderr
    assert "now scheduled" in sangkien(tmp_path, "campaign", "resume", "2").stdout
    assert "now cancelled" in sangkien(tmp_path, "campaign", "cancel", "2").stdout
    bad = sangkien(tmp_path, "campaign", "create", "--unit", "NOPE", "--audience", "members",
                   "--text", "x", "--daily", "25:00")
    assert bad.returncode == 2 and "schedule" in bad.stderr
    unknown = sangkien(tmp_path, "campaign", "show", "99")
    assert unknown.returncode == 2


def test_states_and_audiences_are_in_the_language_spoken(tmp_path: Path) -> None:
    """Vietnamese by default: no English key ("paused", "members") in what is printed."""
    assert sangkien(tmp_path, "initdb").returncode == 0
    made = sangkien(tmp_path, "campaign", "create", "--lang", "vi", "--unit", "THA",
                    "--audience", "members", "--text", "Xin chào {ten}", "--at",
                    "25/12/2030 08:00")
    assert made.returncode == 0, made.stderr
    paused = sangkien(tmp_path, "campaign", "pause", "--lang", "vi", "1")
    assert paused.stdout == "Chiến dịch 1 nay ở trạng thái tạm dừng.\n"
    shown = sangkien(tmp_path, "campaign", "show", "--lang", "vi", "1").stdout
    assert "Mọi đoàn viên dùng bot" in shown and "tạm dừng" in shown
    assert "members" not in shown and "paused" not in shown
    listed = sangkien(tmp_path, "campaign", "list", "--lang", "vi").stdout
    assert "tạm dừng" in listed and "25/12/2030 08:00" in listed
