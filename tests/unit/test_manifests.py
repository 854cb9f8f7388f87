"""The two Slack app manifests (HTTP and Socket Mode) describe the same app, each with the
transport its README paragraph promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> Any:
    return YAML(typ="safe").load((ROOT / name).read_text(encoding="utf-8"))


def _without_transport(manifest: Any) -> Any:
    """The manifest with every request URL and the Socket Mode switch taken out."""
    settings = dict(manifest["settings"])
    settings.pop("socket_mode_enabled")
    settings["event_subscriptions"] = {
        k: v for k, v in settings["event_subscriptions"].items() if k != "request_url"
    }
    settings["interactivity"] = {
        k: v for k, v in settings["interactivity"].items() if k != "request_url"
    }
    features = dict(manifest["features"])
    features["slash_commands"] = [
        {k: v for k, v in command.items() if k != "url"} for command in features["slash_commands"]
    ]
    return {**manifest, "settings": settings, "features": features}


def test_both_manifests_describe_the_same_app() -> None:
    """Scopes, events, commands and features are the same; only the transport differs."""
    http, socket = _load("manifest.yml"), _load("manifest-socket-mode.yml")
    assert _without_transport(http) == _without_transport(socket)


def test_http_manifest_sends_everything_to_slack_events() -> None:
    """Over HTTP, events, interactivity and the slash command all go to /slack/events."""
    http = _load("manifest.yml")
    assert http["settings"]["socket_mode_enabled"] is False
    urls = [
        http["settings"]["event_subscriptions"]["request_url"],
        http["settings"]["interactivity"]["request_url"],
        *(command["url"] for command in http["features"]["slash_commands"]),
    ]
    assert len(urls) == 3
    assert all(url.endswith("/slack/events") for url in urls)


def test_socket_mode_manifest_has_no_request_urls() -> None:
    """Over Socket Mode, Slack is told no URL at all: requests come over the WebSocket."""
    socket = _load("manifest-socket-mode.yml")
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in socket["settings"]["event_subscriptions"]
    assert "request_url" not in socket["settings"]["interactivity"]
    assert all("url" not in command for command in socket["features"]["slash_commands"])


@pytest.mark.parametrize("name", ["manifest.yml", "manifest-socket-mode.yml"])
def test_the_readme_names_each_manifest(name: str) -> None:
    """The README's "Running for real" says which manifest to use for which transport."""
    assert f"`{name}`" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_sandbox_bot_token_has_the_manifest_s_bot_scopes() -> None:
    """The Slack emulator grants its bot token exactly the bot scopes manifest.yml asks for."""
    from app.sandbox.slack_emulator.access import DEFAULT_SCOPES

    assert set(_load("manifest.yml")["oauth_config"]["scopes"]["bot"]) == DEFAULT_SCOPES
