"""Settings from the environment, in one place. Bad settings stop start-up with one clear line
that lists every missing or malformed setting at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
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
    OUTBOX_CONCURRENCY: int = Field(default=4, ge=1, le=32)  # jobs in flight together
    # Slack's documented rates times this (1 = Slack's); more only against an emulator.
    SLACK_RATE_SCALE: float = Field(default=1.0, gt=0, le=1000)
    # A worker's claim on one outbox job; must outlast that job's calls (see the validator).
    OUTBOX_LEASE_SECONDS: float = Field(default=120.0, ge=2, le=3600)
    SLACK_TIMEOUT_SECONDS: int = Field(default=30, ge=1, le=300)  # one Web API call
    TIMER_SWEEP_SECONDS: float = Field(default=5.0, gt=0, le=300)
    COUNTERSIGN_PID_FILE: Path = Path("countersign.pid")
    COUNTERSIGN_ERROR_LOG: Path | None = None  # None: $XDG_STATE_HOME/countersign/errors.log
    # Audit anchors: signed checkpoints of the chain's head, appended outside the database.
    AUDIT_ANCHOR_KEY: SecretStr | None = None
    AUDIT_ANCHOR_FILE: Path | None = None
    AUDIT_ANCHOR_SECONDS: float = Field(default=300.0, gt=0, le=86400)
    # Weekly reconciliation with Intacct, summary to the policy's admin_channel (UTC).
    RECONCILE_WEEKDAY: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "off"] = "mon"
    RECONCILE_HOUR: int = Field(default=6, ge=0, le=23)
    RECONCILE_CHECK_SECONDS: float = Field(default=3600.0, gt=0, le=86400)

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

    @model_validator(mode="after")
    def _lease_outlasts_a_call(self) -> Settings:
        if self.OUTBOX_LEASE_SECONDS < 2 * self.SLACK_TIMEOUT_SECONDS:
            raise ValueError(
                "OUTBOX_LEASE_SECONDS must be at least twice SLACK_TIMEOUT_SECONDS, so that a"
                " job's claim outlasts its Slack calls"
            )
        return self

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
        """Stop when settings this command needs are unset, naming all of them."""
        missing = [name for name in names if _unset(getattr(self, name))]
        if missing:
            raise ConfigError(_missing(missing))


def _unset(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is None or (isinstance(value, str) and not value.strip())


def _missing(names: list[str]) -> str:
    if len(names) == 1:
        return f"{names[0]} is not set; it is required for this command"
    return f"{', '.join(names)} are not set; they are required for this command"


def _problem(error: ErrorDetails) -> str:
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    message = error["msg"].removeprefix("Value error, ")
    field = Settings.model_fields.get(name)
    private = name == "DATABASE_URL" or (field is not None and "SecretStr" in str(field.annotation))
    if not private and isinstance(error.get("input"), str):
        message += f" (got {error['input']!r})"
    return f"{name}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Read the environment; every malformed setting is named in one ConfigError line."""
    return _load(overrides, ())


def settings_for(*required: str) -> Settings:
    """Read the environment for a command that needs `required`: every malformed setting and
    every unset required one are named in one ConfigError line, so one run shows all to fix."""
    return _load({}, required)


def _load(overrides: dict[str, object], required: tuple[str, ...]) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = [_problem(detail) for detail in error.errors()]
        bad = {problem.split(":", 1)[0] for problem in problems}
        unset = [name for name in required if name not in bad and _unset(os.environ.get(name))]
        if unset:
            problems.append(_missing(unset))
        raise ConfigError("; ".join(problems)) from None
    settings.require(*required)
    return settings
