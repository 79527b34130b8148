"""The terminal channel's scripted mode, run as a real process through the CLI."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from handlers.terminal import parse_line
from handlers.terminal_seats import Seats
from tests.pty_process import PtyProcess

SCRIPT = """\
/ngonngu
2
/sangkien
Cải tiến <b>khuôn</b> & đồ gá hàn
ngắn
Vấn đề: hàn thủ công chậm. Giải pháp: đồ gá định vị. Áp dụng tại phân xưởng cơ khí.
1
15/3/2023
1
500k
1
No co-authors
y te dong thap
1
Skip
Submit
1
cao su phu rieng
1
Submit
/cuatoi
"""


def run_chat(tmp_path: Path, script: str, *extra_env: tuple[str, str]) -> str:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chat.db",
           "TELEGRAM_BOT_TOKEN": "", **dict(extra_env)}
    proc = subprocess.run([sys.executable, "-m", "bot", "chat"], input=script, env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def submitted_code(out: str) -> str:
    found = re.search(r"code is (SK-\d{6})", out)
    assert found, out
    return found[1]


def test_scripted_submission_through_the_terminal(tmp_path: Path) -> None:
    out = run_chat(tmp_path, SCRIPT)
    assert "> Cải tiến <b>khuôn</b> & đồ gá hàn" in out  # each line is echoed
    assert "Title saved: Cải tiến <b>khuôn</b> & đồ gá hàn" in out  # shown literally
    assert "10–200" in out  # the short title was refused…
    assert "₫500,000" in out  # …the amount read back in English (chosen with "2")
    assert "  1. Công đoàn ngành Y tế · LĐLĐ tỉnh Đồng Tháp" in out  # numbered options
    code = submitted_code(out)   # after the demo's generated initiatives
    assert "under review" in out
    # A second run on the same file: the directory is not seeded twice, data persists.
    out = run_chat(tmp_path, "/cuatoi\n")
    assert code in out


def test_the_default_language_is_vietnamese(tmp_path: Path) -> None:
    out = run_chat(tmp_path, "/sangkien\n")
    assert "Bước 1" in out


@pytest.mark.parametrize(("line", "parsed"), [
    ("/start ABC", ("command", "start", "ABC")),
    ("/SangKien@bot", ("command", "sangkien", "")),
    ("hello", ("text", "hello", "")),
    ("/", ("text", "/", "")),
    # Command words typed without the slash, accents or spaces, as on a cheap phone.
    ("tien do BPC-PR", ("command", "tiendo", "BPC-PR")),
    ("Bảng xếp hạng", ("command", "bangxephang", "")),
    ("Huỷ", ("command", "huy", "")),
    ("tien do cua toi la cham", ("command", "tiendo", "cua toi la cham")),
    ("Máy ép mía cải tiến", ("text", "Máy ép mía cải tiến", "")),
])
def test_parse_line(line: str, parsed: tuple[str, str, str]) -> None:
    assert parse_line(line) == parsed


def chat_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chat.db",
            "TELEGRAM_BOT_TOKEN": "", "ZALO_BOT_TOKEN": "", **extra}


def test_ctrl_c_leaves_the_chat_at_once(tmp_path: Path) -> None:
    """Standard input is read by the event loop, not a blocked thread: Ctrl-C at the prompt
    ends the chat at once, without a traceback, not at the next Enter."""
    with PtyProcess([sys.executable, "-m", "bot", "chat"], env=chat_env(tmp_path),
                    cwd=tmp_path) as term:
        term.expect("\n> ")
        term.type("/ngonngu\r")
        term.expect("2. English")
        term.expect("\n> ")
        pressed = time.monotonic()
        term.type("\x03")
        code = term.wait(timeout=10)
        assert time.monotonic() - pressed < 2, term.output
    assert code == 0, term.output
    assert "Traceback" not in term.output and "KeyboardInterrupt" not in term.output


def test_log_lines_go_to_a_file_named_at_the_start(tmp_path: Path) -> None:
    """At a terminal, log lines (the demo data loaded, a refusal) never land in the
    conversation: they go to sangkien.log beside the database, which the start names."""
    with PtyProcess([sys.executable, "-m", "bot", "chat"], env=chat_env(tmp_path),
                    cwd=tmp_path) as term:
        start = term.expect("\n> ")
        term.type("/choduyet\r")   # a worker asking for the review queue: refused
        term.expect("\n> ")
        term.type("\x04")          # Ctrl-D: the end
        assert term.wait(timeout=10) == 0
    assert f"{tmp_path}/chat.db" in start and f"{tmp_path}/sangkien.log" in start
    assert " INFO " not in term.output and " WARNING " not in term.output, term.output
    logged = (tmp_path / "sangkien.log").read_text(encoding="utf-8")
    assert "demo units" in logged and "refused" in logged


def test_two_chats_open_at_once_are_two_people(tmp_path: Path) -> None:
    """A second `sangkien chat` while the first is open (e.g. `./scripts/run`) is another
    person, not the same one taken over; it says so. Closed again, the first user is free."""
    env = chat_env(tmp_path, DEFAULT_LANGUAGE="en")
    with PtyProcess([sys.executable, "-m", "bot", "chat"], env=env, cwd=tmp_path) as term:
        banner = term.expect("\n> ")
        second = subprocess.run([sys.executable, "-m", "bot", "chat"], input="/start\n",
                                env=env, capture_output=True, text=True, timeout=60,
                                cwd=tmp_path)
        term.type("\x04")
        assert term.wait(timeout=10) == 0
    assert "You are demo-worker." in banner
    assert second.returncode == 0, second.stderr
    assert "this chat is demo-worker-2" in second.stderr
    with closing(sqlite3.connect(tmp_path / "chat.db")) as db:
        users = {r[0] for r in db.execute(
            "SELECT external_id FROM account WHERE channel = 'terminal'")}
    assert users == {"demo-worker", "demo-worker-2"}
    third = subprocess.run([sys.executable, "-m", "bot", "chat"], input="/start\n", env=env,
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "demo-worker-2" not in third.stderr


def test_seats_are_per_database_and_freed_with_their_chat(tmp_path: Path) -> None:
    first, second = Seats("db-1", folder=tmp_path), Seats("db-1", folder=tmp_path)
    assert first.take(None) == ("demo-worker", True)
    assert second.take(None) == ("demo-worker-2", True)
    assert second.take("demo-worker") == ("demo-worker", False)   # chosen: shared, and said
    assert Seats("db-2", folder=tmp_path).take(None) == ("demo-worker", True)
    first.release()
    assert Seats("db-1", folder=tmp_path).take(None) == ("demo-worker", True)
    second.release()


def test_an_alert_reaches_the_chairs_open_terminal(tmp_path: Path) -> None:
    """A chair (invited with `sangkien invite`) has the chat open; a worker in another
    process submits to the chair's union: the alert appears in the chair's chat, drawn like
    a reply with the commands to type, above the line the chair was typing, which is kept."""
    env = chat_env(tmp_path, DEFAULT_LANGUAGE="en")
    invite = subprocess.run([sys.executable, "-m", "bot", "invite", "--role", "chair",
                             "--unit", "dtp-yt"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    code = invite.stdout.split()[0]
    with PtyProcess([sys.executable, "-m", "bot", "chat", "--user", "chair"], env=env,
                    cwd=tmp_path) as chair:
        chair.expect("\n> ")
        chair.type(f"/start {code}\r")
        chair.expect("now chair of Công đoàn ngành Y tế")
        chair.expect("\n> ")
        chair.type("/xem SK")        # half typed when the alert comes
        code = submitted_code(run_chat(tmp_path, SCRIPT, *env.items()))
        alert = chair.expect(f"/xem {code}", timeout=30)
        chair.expect("> /xem SK")    # the line being typed, drawn again below
        chair.type(f"{code[2:]}\r")
        chair.expect("Cải tiến <b>khuôn</b> & đồ gá hàn")
        chair.type("\x04")
        assert chair.wait(timeout=10) == 0
    assert "New initiative to review" in alert and code in alert
    assert f"• Valid: /hople {code}" in alert
    with closing(sqlite3.connect(tmp_path / "chat.db")) as db:
        assert db.execute("SELECT status FROM outbox").fetchall() == [("sent",)]
