"""Where the bot keeps its data: one place whatever the current folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.config import Settings, home


def test_home_is_the_checkout_else_the_user_data_folder(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("")
    assert home({}, checkout=checkout) == checkout
    installed = tmp_path / "site-packages"     # a wheel install: no pyproject.toml beside
    assert home({"XDG_DATA_HOME": str(tmp_path / "data")}, checkout=installed) == \
        tmp_path / "data" / "sangkien"
    assert home({}, checkout=installed) == Path.home() / ".local" / "share" / "sangkien"
    assert home({"SANGKIEN_HOME": str(tmp_path / "h")}, checkout=checkout) == tmp_path / "h"


def test_the_database_is_shown_without_its_password() -> None:
    settings = Settings(database_url="postgresql+asyncpg://bot:s3cr3t@db.example:5432/sk")
    assert settings.database_shown() == "postgresql+asyncpg://bot:***@db.example:5432/sk"
    assert settings.database_file() is None


def test_the_database_does_not_depend_on_the_current_folder(tmp_path: Path) -> None:
    """`sangkien initdb` in one folder and `sangkien units export` in another use the same
    database, in the home folder, and leave no sangkien.db behind in either."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(SANGKIEN_HOME=str(tmp_path / "home"), TELEGRAM_BOT_TOKEN="", ZALO_BOT_TOKEN="")
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()

    def sangkien(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    sangkien(here, "initdb")
    exported = sangkien(there, "units", "export")
    assert "DTP-YT" in exported.stdout
    assert (tmp_path / "home" / "sangkien.db").is_file()
    assert not (here / "sangkien.db").exists() and not (there / "sangkien.db").exists()
    assert "INFO" in (tmp_path / "home" / "sangkien.log").read_text(encoding="utf-8")
