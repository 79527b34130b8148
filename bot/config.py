"""Settings from the environment and `.env` (every variable is documented in .env.example)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///sangkien.db"
    default_language: str = "vi"
    log_level: str = "INFO"
    seed_demo_data: bool = True
    sangkien_fields_file: Path | None = None  # the fields (lĩnh vực) offered; default: 2021's

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str | None = None
    telegram_bot_username: str | None = None  # for deep links on QR posters

    zalo_bot_token: SecretStr | None = None
    zalo_base_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_url: str | None = None
    zalo_webhook_secret: SecretStr | None = None
    zalo_listen_host: str = "0.0.0.0"
    zalo_listen_port: int = 8080

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        return [s.get_secret_value() for s in (
            self.telegram_bot_token, self.zalo_bot_token, self.zalo_webhook_secret) if s]
