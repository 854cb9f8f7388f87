"""Only the workspace Countersign is installed in may talk to it.

The installation's team (and enterprise) id comes from `auth.test`, asked on the first Slack
request and then cached (never at start-up, so Countersign starts while Slack is unreachable).
A request whose team or enterprise id differs is refused with 401 and one log line; when the
installation cannot be confirmed (Slack unreachable), the request is refused too: fail closed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = structlog.get_logger("countersign.slack")


@dataclass(frozen=True)
class Team:
    team_id: str
    enterprise_id: str | None


class Installation:
    """The installed team, from `auth.test`, fetched once it is first needed."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._team: Team | None = None
        self._lock = threading.Lock()

    def team(self) -> Team | None:
        """The installed team, or None while Slack cannot say (not cached: asked again)."""
        with self._lock:
            if self._team is None:
                try:
                    answer = self._client.auth_test()
                except (SlackApiError, SlackClientError, OSError) as error:
                    log.warning("slack.installation_unknown", error=str(error))
                    return None
                team_id = answer.get("team_id")
                if not isinstance(team_id, str) or not team_id:
                    log.warning("slack.installation_unknown", error="auth.test without team_id")
                    return None
                enterprise = answer.get("enterprise_id")
                self._team = Team(team_id, enterprise if isinstance(enterprise, str) else None)
            return self._team


def _team_ids(body: dict[str, Any], context_team: Any) -> set[str]:
    """Every team id the request names: the one Bolt routes on and the acting user's (any
    value that is not a string is named by its repr, so it never matches)."""
    named = [context_team]
    user = body.get("user")
    if isinstance(user, dict) and "team_id" in user:
        named.append(user.get("team_id"))
    return {value if isinstance(value, str) else repr(value)[:40] for value in named}


def refuse_other_teams(app: App, installation: Installation) -> None:
    """Register the check as Bolt middleware (it runs after signature verification)."""

    @app.use
    def same_team(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> Any:
        installed = installation.team()
        if installed is None:
            return BoltResponse(status=401, body="workspace not confirmed; try again")
        teams = _team_ids(req.body, req.context.team_id)
        enterprise = req.context.enterprise_id or None  # a slash command sends ""
        if not isinstance(enterprise, str | None):
            enterprise = repr(enterprise)[:40]
        if teams != {installed.team_id} or enterprise not in (None, installed.enterprise_id):
            log.warning(
                "slack.other_team_refused",
                team_ids=sorted(teams),
                enterprise_id=enterprise,
                installed_team_id=installed.team_id,
            )
            return BoltResponse(status=401, body="")
        return next()

    # Bolt logs a refused request's whole body at INFO; unsigned requests never reach Bolt
    # (app.web verifies first), and this keeps any other body out of the log as well.
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
