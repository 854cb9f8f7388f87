"""The ASGI app: /slack/events, /billing-events, /healthz, /readyz, /metrics.

Bolt's sync App runs in a worker thread so a listener never blocks the event loop.
One structured log line per request."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from slack_bolt.request import BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import webhook
from app.domain.batch import BatchTooLarge, BodyError, split_events
from app.readiness import readiness
from app.runtime import Runtime

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
    async def slack_events(request: Request) -> Response:
        body = (await request.body()).decode("utf-8")
        bolt_request = BoltRequest(
            body=body, query=request.url.query, headers=dict(request.headers.items())
        )
        answer = await run_in_threadpool(runtime.bolt.dispatch, bolt_request)
        headers = {k: v[0] for k, v in answer.headers.items() if v}
        return Response(answer.body, status_code=answer.status, headers=headers)

    async def billing_events(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > webhook.MAX_BODY_BYTES:
            return _error(413, "body too large")
        body = await _read_capped(request)
        if body is None:
            return _error(413, "body too large")
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
        try:
            text = body.decode("utf-8")
            raw_events = split_events(text)
        except BatchTooLarge as error:
            return _error(413, str(error))
        except (BodyError, UnicodeDecodeError) as error:
            return _error(400, str(error))
        outcomes = await run_in_threadpool(
            runtime.intake.receive, raw_events, via="webhook", now=now
        )
        for outcome in outcomes:
            EVENTS.labels(outcome.status).inc()
        if raw_events == [text]:  # a single event, not a batch
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

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if manage_runtime:
            runtime.start()
        try:
            yield
        finally:
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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "request_id": uuid.uuid4().hex[:12]}, status_code=status)


async def _read_capped(request: Request) -> bytes | None:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > webhook.MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
