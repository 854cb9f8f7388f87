"""Settings come from the environment; a bad one stops start-up with a line naming it."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings, load_settings, settings_for


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment with none of Countersign's settings."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    """With nothing set, the documented defaults apply."""
    settings = load_settings()
    assert settings.DATABASE_URL == "sqlite:///./countersign.db"
    assert settings.SLACK_API_URL == "https://slack.com/api/"
    assert settings.INTACCT_API_URL == "https://api.intacct.com/ia/api/v1"
    assert settings.PORT == 3000
    assert settings.slack_configured is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("DATABASE_URL", "mysql://x"),
        ("LOG_FORMAT", "xml"),
        ("SLACK_API_URL", "slack.com/api"),
    ],
)
def test_malformed_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A malformed value raises ConfigError whose one line starts with the setting's name."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{name}:")
    assert "\n" not in str(caught.value)


def test_required_setting_is_named() -> None:
    """A command that needs an unset setting says which one."""
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN is not set"):
        load_settings().require("SLACK_BOT_TOKEN")


def test_every_unset_required_setting_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """All unset required settings are in one line; a blank secret counts as unset."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "  ")
    monkeypatch.setenv("INTACCT_USERNAME", "ops@acme")
    with pytest.raises(ConfigError) as caught:
        load_settings().require("SLACK_BOT_TOKEN", "INTACCT_USERNAME", "BILLING_WEBHOOK_SECRET")
    assert str(caught.value) == (
        "SLACK_BOT_TOKEN, BILLING_WEBHOOK_SECRET are not set; they are required for this command"
    )


def test_every_malformed_and_missing_setting_is_named_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One line names each malformed setting, then each unset required one."""
    monkeypatch.setenv("PORT", "abc")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as caught:
        settings_for("SLACK_BOT_TOKEN", "INTACCT_USERNAME")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("PORT: Input should be a valid integer")
    assert "(got 'abc'); LOG_FORMAT: Input should be 'json' or 'console' (got 'xml'); " in message
    assert message.endswith(
        "SLACK_BOT_TOKEN, INTACCT_USERNAME are not set; they are required for this command"
    )


def test_a_malformed_secret_or_database_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The value of a bad DATABASE_URL (it may hold a password) is never repeated."""
    monkeypatch.setenv("DATABASE_URL", "mysql://billing:hunter2-not-real@db/countersign")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    assert str(caught.value) == "DATABASE_URL: must start with sqlite:// or postgresql://"


def test_secrets_do_not_leak_into_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens and secrets are hidden when settings are printed or logged."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-fake-but-secret")
    assert "xoxb-fake-but-secret" not in repr(load_settings())


def test_api_urls_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack base URL gains its trailing slash; Intacct's loses it."""
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:3001/api")
    monkeypatch.setenv("INTACCT_API_URL", "http://127.0.0.1:3002/ia/api/v1/")
    settings = load_settings()
    assert settings.SLACK_API_URL == "http://127.0.0.1:3001/api/"
    assert settings.INTACCT_API_URL == "http://127.0.0.1:3002/ia/api/v1"


def test_a_lease_shorter_than_two_slack_calls_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """OUTBOX_LEASE_SECONDS under twice SLACK_TIMEOUT_SECONDS stops start-up, naming both."""
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "45")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "OUTBOX_LEASE_SECONDS" in str(caught.value)
    assert "SLACK_TIMEOUT_SECONDS" in str(caught.value)
    assert "\n" not in str(caught.value)
