"""Settings from the environment, in one place. A bad setting stops start-up with one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


class Settings(BaseSettings):
    """Every setting Countersign reads, with its environment variable name."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    DATABASE_URL: str = "sqlite:///./countersign.db"
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    BILLING_WEBHOOK_SECRET: SecretStr | None = None
    INTACCT_API_URL: str = "https://api.intacct.com/ia/api/v1"
    INTACCT_CLIENT_ID: str | None = None
    INTACCT_CLIENT_SECRET: SecretStr | None = None
    INTACCT_USERNAME: str | None = None
    INTACCT_ENTITY_ID: str | None = None
    COUNTERSIGN_POLICIES: Path = Path("policies/")
    PORT: int = Field(default=3000, ge=1, le=65535)
    HOST: str = "0.0.0.0"  # noqa: S104 - a web service listens on all interfaces by default
    LOG_FORMAT: Literal["json", "console"] = "json"
    LOG_LEVEL: Literal["debug", "info", "warning", "error"] = "info"
    OUTBOX_POLL_SECONDS: float = Field(default=1.0, gt=0, le=60)
    OUTBOX_MAX_ATTEMPTS: int = Field(default=12, ge=1, le=100)
    TIMER_SWEEP_SECONDS: float = Field(default=5.0, gt=0, le=300)
    COUNTERSIGN_PID_FILE: Path = Path("countersign.pid")
    # Audit anchors: signed checkpoints of the chain's head, appended outside the database.
    AUDIT_ANCHOR_KEY: SecretStr | None = None
    AUDIT_ANCHOR_FILE: Path | None = None
    AUDIT_ANCHOR_SECONDS: float = Field(default=300.0, gt=0, le=86400)

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("SLACK_API_URL")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("INTACCT_API_URL")
    @classmethod
    def _intacct_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://api.intacct.com/ia/api/v1")
        return value.rstrip("/")

    @field_validator("AUDIT_ANCHOR_KEY")
    @classmethod
    def _anchor_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (a random secret)")
        return value

    @property
    def slack_configured(self) -> bool:
        return self.SLACK_BOT_TOKEN is not None and self.SLACK_SIGNING_SECRET is not None

    def require(self, *names: str) -> None:
        """Stop when a setting this command needs is unset."""
        for name in names:
            if getattr(self, name) in (None, ""):
                raise ConfigError(f"{name} is not set; it is required for this command")


def load_settings(**overrides: object) -> Settings:
    """Read the environment; turn pydantic's report into one line naming the first bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(f"{name}: {first['msg']}") from None
