"""Settings from the environment and `.env` (every variable is documented in .env.example),
and the bot's home folder: where the default database, the log file and `.env` live."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

HOME_VARIABLE = "SANGKIEN_HOME"
DATABASE_FILE = "sangkien.db"
LOG_FILE = "sangkien.log"
DEFAULT_HOST, DEFAULT_PORT = "0.0.0.0", 8080
_CHECKOUT = Path(__file__).resolve().parent.parent


def home(env: Mapping[str, str] = os.environ, *,
         checkout: Path = _CHECKOUT) -> Path:
    """The same folder from wherever the bot is started: SANGKIEN_HOME when set; the project
    folder when running from a checkout (`pip install -e .`: bot/ sits beside
    pyproject.toml); otherwise the per-user data folder ($XDG_DATA_HOME/sangkien, by default
    ~/.local/share/sangkien)."""
    if env.get(HOME_VARIABLE):
        return Path(env[HOME_VARIABLE]).expanduser().resolve()
    if (checkout / "pyproject.toml").is_file():
        return checkout
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "sangkien"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = ""   # default: an SQLite file in the home folder (see `home`)
    default_language: str = "vi"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"   # json: one JSON object a line
    seed_demo_data: bool = True
    sangkien_fields_file: Path | None = None  # the fields (lĩnh vực) offered; default: 2021's
    upkeep_seconds: float = 60.0          # how often digests, pruning and recovery run
    unsent_reply_seconds: float = 60.0    # replies unsent this long go through the outbox

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str | None = None
    telegram_bot_username: str | None = None  # for deep links on QR posters
    # Webhook instead of long polling: the public HTTPS URL (its path is the route served)
    # and the secret Telegram sends back with every delivery.
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    zalo_bot_token: SecretStr | None = None
    zalo_base_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_url: str | None = None
    zalo_webhook_secret: SecretStr | None = None
    # Where Zalo's webhook was served before the web application existed: read as WEB_HOST
    # and WEB_PORT when those are not set.
    zalo_listen_host: str | None = None
    zalo_listen_port: int | None = None
    # The public HTTPS address of the web application (https://bot.example.vn): Zalo gets
    # charts and reports as links to `/media/…` there. Unset: text only on Zalo.
    public_base_url: str | None = None

    # The outbox's pacing, held across every sender process (bot/outbox.py): messages a
    # second overall per channel, and seconds between two messages to one chat.
    telegram_rate: float = Field(default=30.0, gt=0)
    zalo_rate: float = Field(default=10.0, gt=0)
    zalo_per_chat_interval: float = Field(default=1.0, ge=0)

    # The web application of `sangkien run` (webhooks, /healthz, /readyz, /metrics).
    web_host: str | None = None
    web_port: int | None = None
    # `--role worker` serves /healthz, /readyz and /metrics here when set (or --port).
    worker_port: int | None = None
    # Singleton jobs (digests, upkeep): seconds a worker's lease lasts; renewed every third
    # of it. Another worker takes a job over within 4/3 of it after its holder died.
    job_lease_seconds: float = 15.0

    # Campaigns (bot/campaign_scheduler.py): quiet hours in Asia/Ho_Chi_Minh, "HH:MM-HH:MM"
    # (empty: none), when no campaign message is sent; the cap of campaign messages a person
    # gets a day and in any 7 days; people queued per transaction; seconds between rounds.
    quiet_hours: str = "21:00-07:00"
    campaign_cap_day: int = 1
    campaign_cap_week: int = 3
    campaign_batch: int = 2000
    campaign_every_seconds: float = 30.0

    def outbox_pace(self) -> dict[str, tuple[float, float, int]]:
        """Channel → (messages a second overall, seconds between two to one chat, the
        characters of its longest message)."""
        return {"telegram": (self.telegram_rate, 1.0, 4096),
                "zalo": (self.zalo_rate, self.zalo_per_chat_interval, 2000)}

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, values: Any) -> Any:
        """`WEB_PORT=` in .env (as .env.example leaves it) means "not set", not an error."""
        if isinstance(values, dict):
            for key in ("web_port", "worker_port", "zalo_listen_port", "web_host",
                        "zalo_listen_host", "telegram_webhook_url", "telegram_webhook_secret",
                        "public_base_url"):
                if values.get(key) == "":
                    values[key] = None
        return values

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """The environment, over `.env` in the current folder, over `.env` in the home
        folder; `overrides` (from the command line) over all."""
        return cls(_env_file=(home() / ".env", ".env"), **overrides)  # type: ignore[call-arg]

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{home() / DATABASE_FILE}"
        return self

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        return [s.get_secret_value() for s in (
            self.telegram_bot_token, self.telegram_webhook_secret, self.zalo_bot_token,
            self.zalo_webhook_secret) if s]

    def serves_chat_apps(self) -> bool:
        """A chat app's token is set (the factories in handlers/plugins.py decide the same
        way): `sangkien run` is then a service, not the terminal demo."""
        return bool(self.telegram_bot_token or self.zalo_bot_token)

    def listen_address(self) -> tuple[str, int]:
        """Where the web application listens: WEB_HOST/WEB_PORT, else ZALO_LISTEN_HOST/PORT,
        else 0.0.0.0:8080."""
        return (self.web_host or self.zalo_listen_host or DEFAULT_HOST,
                self.web_port if self.web_port is not None else
                self.zalo_listen_port if self.zalo_listen_port is not None else DEFAULT_PORT)

    def listen_configured(self) -> bool:
        """An address was chosen for the web application (WEB_PORT or ZALO_LISTEN_PORT)."""
        return self.web_port is not None or self.zalo_listen_port is not None

    def database_file(self) -> Path | None:
        """The SQLite file, absolute; None for PostgreSQL or an in-memory database."""
        url = make_url(self.database_url)
        name = url.database or ""
        if url.get_backend_name() != "sqlite" or name in ("", ":memory:") or \
                name.startswith("file:") or url.query.get("mode") == "memory":
            return None
        return Path(name).expanduser().resolve()

    def database_shown(self) -> str:
        """The database as a person reads it: the file, or the URL without its password."""
        path = self.database_file()
        return str(path) if path else make_url(self.database_url).render_as_string(
            hide_password=True)

    def log_file(self) -> Path:
        """Beside the SQLite file; with PostgreSQL, in the home folder."""
        path = self.database_file()
        return (path.parent if path else home()) / LOG_FILE
