"""The click-ack baseline: a bare Bolt app on Countersign's stack (uvicorn, Starlette, Bolt's
sync App run in Starlette's threadpool) with one block_actions listener that only acks.

`python bench/bare_bolt_app.py PORT SIGNING_SECRET SLACK_API_URL BOT_TOKEN`"""

from __future__ import annotations

import re
import sys

import uvicorn
from slack_bolt import Ack, App, BoltRequest
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def bare_app(signing_secret: str, api_url: str, token: str) -> Starlette:
    bolt = App(
        client=WebClient(token=token, base_url=api_url),
        signing_secret=signing_secret,
        token_verification_enabled=False,
    )

    @bolt.action(re.compile(".*"))
    def only_ack(ack: Ack) -> None:
        ack()

    async def events(request: Request) -> Response:
        body = (await request.body()).decode()
        headers = dict(request.headers.items())
        answer = await run_in_threadpool(bolt.dispatch, BoltRequest(body=body, headers=headers))
        return Response(answer.body, status_code=answer.status)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


if __name__ == "__main__":
    port, secret, api_url, token = sys.argv[1:5]
    uvicorn.run(
        bare_app(secret, api_url, token), host="127.0.0.1", port=int(port), log_level="warning"
    )
