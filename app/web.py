"""The ASGI app: /slack/events, /billing-events, /healthz, /readyz, /metrics.

Bolt's sync App runs in a worker thread so a listener never blocks the event loop.
One structured log line per request."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import webhook
from app.domain import jsontext
from app.domain.batch import BatchTooLarge, Body, BodyError, is_batch, split_body
from app.flows.group_commit import GroupCommit
from app.flows.intake import DatabaseUnavailable, Incoming
from app.readiness import readiness
from app.runtime import Runtime
from app.slack import inbound
from app.store.gauges import DatabaseGauges

log = structlog.get_logger("countersign.http")
REQUESTS = Histogram("countersign_http_seconds", "HTTP request time", ["path", "status"])
EVENTS = Counter("countersign_events_total", "Billing events received", ["status"])


class AccessLog:
    """Pure ASGI middleware: one JSON line per request, with its status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            REQUESTS.labels(path if path in _PATHS else "other", str(status)).observe(elapsed)
            log.info(
                "http.request",
                method=scope["method"],
                path=path,
                status=status,
                duration_ms=round(elapsed * 1000, 1),
            )


def create_web_app(runtime: Runtime, *, manage_runtime: bool = True) -> Starlette:
    signing = runtime.settings.SLACK_SIGNING_SECRET
    assert signing is not None  # Runtime requires it
    signing_secret = signing.get_secret_value()
    writer = GroupCommit(runtime.intake)

    async def slack_events(request: Request) -> Response:
        """Capped, then signed, then well-formed: only then does Bolt see the request."""
        body = await _read_capped(request, inbound.MAX_BODY_BYTES)
        if isinstance(body, Response):
            return body
        try:
            inbound.verify(signing_secret, request.headers, body, runtime.clock.now().timestamp())
            text = inbound.decode(body, _content_type(request))
        except inbound.Refused as refusal:
            log.warning("slack.refused", why=str(refusal), status=refusal.status)
            return _error(refusal.status, str(refusal))
        sent: dict[str, str | Sequence[str]] = dict(request.headers.items())
        answer = await run_in_threadpool(
            inbound.dispatch, runtime.bolt, text, request.url.query, sent
        )
        headers = {k: v[0] for k, v in answer.headers.items() if v}
        return Response(answer.body, status_code=answer.status, headers=headers)

    async def billing_events(request: Request) -> Response:
        """Capped, then signed, then split: each event gets its own answer (never a 500)."""
        body = await _read_capped(request, webhook.MAX_BODY_BYTES)
        if isinstance(body, Response):
            return body
        now = runtime.clock.now()
        try:
            webhook.verify(
                runtime.webhook_secret,
                request.headers.get("x-countersign-timestamp"),
                request.headers.get("x-countersign-signature"),
                body,
                now,
            )
        except webhook.SignatureError as refusal:
            log.warning("webhook.refused", why=str(refusal))
            return _error(401, str(refusal))
        # surrogateescape: invalid UTF-8 stays in the event's text (and is refused, and kept,
        # with that event), so one bad byte in a batch does not sink the other events.
        text = body.decode("utf-8", "surrogateescape")
        try:
            parts, items = await run_in_threadpool(incoming_events, text, now)
            if parts.batch:
                outcomes = await run_in_threadpool(
                    runtime.intake.receive_items, items, via="webhook"
                )
            else:  # a single event: written with the others arriving now (group commit)
                outcomes = [await asyncio.wrap_future(writer.submit(items[0]))]
        except BatchTooLarge as error:
            return _error(413, str(error))
        except BodyError as error:
            return _error(400, str(error))
        except DatabaseUnavailable as error:
            log.error("webhook.database_unavailable", error=str(error))
            return _error(503, "the database is unavailable; retry later", retry_after=5)
        for outcome in outcomes:
            EVENTS.labels(outcome.status).inc()
        if not parts.batch:
            return JSONResponse(outcomes[0].as_json(), status_code=outcomes[0].http_status)
        results = [o.as_json() | {"http_status": o.http_status} for o in outcomes]
        return JSONResponse({"results": results}, status_code=200)

    async def healthz(_: Request) -> Response:
        """Liveness only: the process answers HTTP. Nothing it depends on is asked."""
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        """Readiness: 503 with the reason when this instance cannot work (app/readiness.py)."""
        ready, body = await run_in_threadpool(readiness, runtime)
        return JSONResponse(body, status_code=200 if ready else 503)

    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(DatabaseGauges(runtime.db, runtime.clock.now))

    def scrape() -> bytes:
        return generate_latest() + generate_latest(gauges)

    async def metrics(_: Request) -> Response:
        """This process's counters, then the gauges read from the database now."""
        return Response(await run_in_threadpool(scrape), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if manage_runtime:
            runtime.start()
        try:
            yield
        finally:
            writer.stop()
            if manage_runtime:
                runtime.stop()

    app = Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/billing-events", billing_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(AccessLog)
    return app


_PATHS = {"/slack/events", "/billing-events", "/healthz", "/readyz", "/metrics"}


def incoming_events(text: str, now: datetime) -> tuple[Body, list[Incoming]]:
    """The body's events, each with its exact text and, when the whole body is strict JSON, its
    parsed document (so no event is parsed twice); BodyError for a malformed batch."""
    try:
        document: Any = jsontext.loads(text)
    except jsontext.JsonRefused:  # a poison somewhere: each event is parsed (and judged) alone
        document = None
    if document is not None and not is_batch(document):
        return Body([text], batch=False), [Incoming(text, now, document)]
    parts = split_body(text)
    documents = document["events"] if document is not None else None
    if not isinstance(documents, list) or len(documents) != len(parts.events):
        return parts, [Incoming(raw, now) for raw in parts.events]
    return parts, [
        Incoming(raw, now, doc) for raw, doc in zip(parts.events, documents, strict=True)
    ]


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    body = {"error": message, "request_id": uuid.uuid4().hex[:12]}
    return JSONResponse(body, status_code=status, headers=headers)


def _content_type(request: Request) -> str | None:
    """The media type as Bolt reads it (the header up to any `;`)."""
    value = request.headers.get("content-type")
    return value.split(";")[0] if value else None


async def _read_capped(request: Request, limit: int) -> bytes | Response:
    """The body, or the 400/413 answer: a declared length is checked before reading, and the
    stream is cut off at `limit` bytes whatever the headers said."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit() and len(declared) <= 20):
            return _error(400, "malformed Content-Length")
        if int(declared) > limit:
            return _error(413, f"body too large: at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _error(413, f"body too large: at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
