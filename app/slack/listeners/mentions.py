"""A person named in a slash command: `<@U0BEN|ben>` (Slack escapes @mentions, see
`should_escape` in manifest.yml), `<@U0BEN>`, or a member ID `U0BEN` / `@U0BEN`."""

from __future__ import annotations

import re

_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^@?([UW][A-Z0-9]{2,})$")


def person(token: str) -> str | None:
    """The Slack user id `token` names, or None."""
    found = _MENTION.match(token) or _USER_ID.match(token)
    return found.group(1) if found else None
