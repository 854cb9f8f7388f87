"""Run the Slack emulator standalone: `python -m app.sandbox.slack_emulator --port 3001`."""

from __future__ import annotations

import argparse
import contextlib
import threading

from app.sandbox.slack_emulator.models import DEFAULT_BOT_TOKEN, DEFAULT_TEAM_ID
from app.sandbox.slack_emulator.server import SlackEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve an emulated Slack Web API on loopback.")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3001, help="port; 0 picks a free one")
    parser.add_argument("--bot-token", default=DEFAULT_BOT_TOKEN, help="the token to accept")
    parser.add_argument("--team-id", default=DEFAULT_TEAM_ID)
    parser.add_argument("--app-url", help="where the page's clicks go (the app's Request URL)")
    parser.add_argument("--signing-secret", default="", help="what they are signed with")
    args = parser.parse_args(argv)
    emulator = SlackEmulator(
        bot_token=args.bot_token, team_id=args.team_id, host=args.host, port=args.port
    )
    if args.app_url:
        emulator.connect_app(args.app_url, args.signing_secret)
    with emulator:
        print(emulator.api_url, flush=True)
        print(f"the workspace page: {emulator.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
