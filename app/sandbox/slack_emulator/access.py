"""What a bot token may do where: OAuth scopes per method, channel membership, private
channels. Each answer is the error Slack documents for the method, or None when allowed."""

from __future__ import annotations

from app.sandbox.slack_emulator.workspace import Workspace

# "Required scopes" on each method's page, docs.slack.dev/reference/methods/<method>.
NEEDED_SCOPES: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
}
# conversations.history needs the history scope of the conversation's kind
# (docs.slack.dev/reference/methods/conversations.history, "Required scopes").
HISTORY_SCOPES = {"public": "channels:history", "private": "groups:history", "im": "im:history"}
# What the sandbox's bot token was granted: the bot scopes Countersign's manifest asks for.
DEFAULT_SCOPES = frozenset(
    {
        "chat:write",
        "chat:write.public",
        "channels:history",
        "groups:history",
        "commands",
        "im:write",
        "users:read",
        "users:read.email",
    }
)


def kind(ws: Workspace, channel: str) -> str:
    """ "public", "private" or "im" (a DM with the bot)."""
    with ws.lock:
        if channel in ws.dms.values():
            return "im"
        return "private" if channel in ws.private else "public"


def needed_scope(ws: Workspace, method: str, channel: str | None) -> str | None:
    if method == "conversations.history":
        return HISTORY_SCOPES[kind(ws, channel)] if channel is not None else None
    return NEEDED_SCOPES.get(method)


def missing_scope(ws: Workspace, method: str, channel: str | None) -> str | None:
    """The scope `method` needs and the token lacks (Slack answers `missing_scope` with
    `needed` and `provided`, docs.slack.dev/reference/methods/chat.postMessage "Errors")."""
    needed = needed_scope(ws, method, channel)
    with ws.lock:
        return needed if needed is not None and needed not in ws.scopes else None


def post_refusal(ws: Workspace, channel: str) -> str | None:
    """Why the bot may not post in `channel` (docs.slack.dev/reference/methods/chat.postMessage):
    `is_archived` for an archived channel; in a public channel the bot has not joined it needs
    chat:write.public, else `not_in_channel`; a private channel needs membership — the bot
    cannot see a private channel it is not in, so it is `channel_not_found` (guess: Slack does
    not show private channels to non-members, docs.slack.dev/reference/scopes/groups.read)."""
    with ws.lock:
        if channel in ws.archived:
            return "is_archived"
        if channel not in ws.bot_absent:
            return None
        if channel in ws.private:
            return "channel_not_found"
        return None if "chat:write.public" in ws.scopes else "not_in_channel"


def history_refusal(ws: Workspace, channel: str) -> str | None:
    """conversations.history lists `not_in_channel` (a public channel the bot is not in) and
    `channel_not_found` (one it cannot see) among its errors; archived channels stay readable."""
    with ws.lock:
        if channel not in ws.bot_absent:
            return None
        return "channel_not_found" if channel in ws.private else "not_in_channel"
