"""The terminal channel's scripted mode, run as a real process through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.terminal import parse_line

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


def test_scripted_submission_through_the_terminal(tmp_path: Path) -> None:
    out = run_chat(tmp_path, SCRIPT)
    assert "> Cải tiến <b>khuôn</b> & đồ gá hàn" in out  # each line is echoed
    assert "Title saved: Cải tiến <b>khuôn</b> & đồ gá hàn" in out  # shown literally
    assert "10–200" in out  # the short title was refused…
    assert "₫500,000" in out  # …the amount read back in English (chosen with "2")
    assert "  1. Công đoàn ngành Y tế · LĐLĐ tỉnh Đồng Tháp" in out  # numbered options
    assert "SK-000001" in out and "under review" in out
    # A second run on the same file: the directory is not seeded twice, data persists.
    out = run_chat(tmp_path, "/cuatoi\n")
    assert "SK-000001" in out


def test_the_default_language_is_vietnamese(tmp_path: Path) -> None:
    out = run_chat(tmp_path, "/sangkien\n")
    assert "Bước 1" in out


@pytest.mark.parametrize(("line", "parsed"), [
    ("/start ABC", ("command", "start", "ABC")),
    ("/SangKien@bot", ("command", "sangkien", "")),
    ("hello", ("text", "hello", "")),
    ("/", ("text", "/", "")),
])
def test_parse_line(line: str, parsed: tuple[str, str, str]) -> None:
    assert parse_line(line) == parsed
