"""Escaping text for Slack: the one helper every message kind goes through.

Slack reserves `&`, `<` and `>` in message text and mrkdwn ("Escaping text",
https://docs.slack.dev/messaging/formatting-message-text#escaping): left raw, `<!channel>` pings a
channel and `<http://x|y>` makes a link. External text (customer names, reasons, Intacct's error
text) is escaped as `&amp;`, `&lt;`, `&gt;`."""

from __future__ import annotations

import re

# Countersign's own user mentions (<@U123>, <@W123>) in text built by the flows.
_OWN_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,})&gt;")


def escape(text: str) -> str:
    """Escape the three characters Slack reserves: &, < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_keeping_mentions(text: str) -> str:
    """Escape `text` but keep user mentions `<@U…>` written by Countersign's flows.

    Everything else (`<!channel>`, `<!here>`, links, `&`) arrives as plain characters; a user
    mention can only ever name one user, never a channel or everyone."""
    return _OWN_MENTION.sub(r"<@\1>", escape(text))


def unescape(text: str) -> str:
    """The text `escape` was given back (for a sender that escapes once more itself)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
