"""What Slack does to a slash command's text when the command has "Escape channels, users, and
links sent to your app" on (`should_escape: true` in the manifest, as Countersign's is):
`@name` of a member becomes `<@U…|name>` and `#name` of a channel `<#C…|name>`
(docs.slack.dev/interactivity/implementing-slash-commands, "Escaping"). Unknown names stay
as typed, as in Slack."""

from __future__ import annotations

import re
from collections.abc import Mapping

_MENTION = re.compile(r"(?<![\w<|])([@#])([a-z0-9][a-z0-9._-]*)", re.IGNORECASE)


def escape_command_text(text: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    """`users` and `channels` map a name (as typed after @ or #) to its id."""

    def swap(match: re.Match[str]) -> str:
        sigil, name = match.group(1), match.group(2)
        found = (users if sigil == "@" else channels).get(name.lower())
        if found is None:
            return match.group(0)
        return f"<@{found}|{name}>" if sigil == "@" else f"<#{found}|{name}>"

    return _MENTION.sub(swap, text)
