"""The HTTP side of the emulator: a stdlib threading server, routing and admin endpoints."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from app.sandbox.emulator_kit.static import asset, send_asset
from app.sandbox.intacct_emulator.failures import FailureQueue, Operation, injected_reply
from app.sandbox.intacct_emulator.query import QUERY_PATH
from app.sandbox.intacct_emulator.recording import RecordedRequest, RequestLog
from app.sandbox.intacct_emulator.records import Reply, ia_error
from app.sandbox.intacct_emulator.state import NO_BODY, CompanyState

API_PREFIX = "/ia/api/v1"
ADMIN_PREFIX = "/_emulator"
INVOICE_PREFIX = "/objects/accounts-receivable/invoice/"
SUBMIT_PATH = "/workflows/accounts-receivable/invoice/submit"


@dataclass(frozen=True)
class Plan:
    """What to answer, and how long to stall first (a simulated timeout); `drop` closes the
    connection without answering (a response lost after the request was applied)."""

    reply: Reply
    delay: float = 0.0
    record: bool = True
    drop: bool = False


class Router:
    """Turns (method, path, headers, body) into a Plan; no sockets here."""

    def __init__(
        self, state: CompanyState, failures: FailureQueue, log: RequestLog | None = None
    ) -> None:
        self.state = state
        self.failures = failures
        self.log = log

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> Plan:
        if path.startswith(API_PREFIX + ADMIN_PREFIX):
            path = path[len(API_PREFIX) :]
        if path.startswith(ADMIN_PREFIX):
            return Plan(self._admin(method, path[len(ADMIN_PREFIX) :], body), record=False)
        if not path.startswith(API_PREFIX + "/"):
            return Plan(_no_route(method, path))
        route = path[len(API_PREFIX) :]
        if method == "POST" and route == "/oauth2/token":
            form = _is_form(_header(headers, "Content-Type"))
            return self._operation(
                "token", None, lambda: self.state.issue_token(body, form_encoded=form)
            )
        if method == "GET" and route.startswith(INVOICE_PREFIX):
            key = unquote(route[len(INVOICE_PREFIX) :])
            return self._authorized(headers, "get", key, lambda: self.state.get_invoice(key))
        if method == "POST" and route == SUBMIT_PATH:
            target = body.get("key") if isinstance(body, dict) else None
            idem = _header(headers, "Idempotency-Key")
            return self._authorized(
                headers, "submit", target, lambda: self.state.submit(body, idem)
            )
        if method == "POST" and route == QUERY_PATH:
            return self._authorized(headers, "query", None, lambda: self.state.query(body))
        return Plan(_no_route(method, path))

    def _authorized(
        self, headers: dict[str, str], op: Operation, key: Any, run: Callable[[], Reply]
    ) -> Plan:
        refusal = self.state.check_auth(_header(headers, "Authorization"))
        if refusal is not None:
            return Plan(refusal)
        return self._operation(op, key if isinstance(key, str) else None, run)

    def _operation(self, op: Operation, key: str | None, run: Callable[[], Reply]) -> Plan:
        failure = self.failures.take(op)
        if failure is None:
            return Plan(run())
        if failure.kind == "timeout_after_commit":
            return Plan(run(), delay=failure.delay)
        if failure.kind == "drop_after_commit":
            return Plan(run(), drop=True)
        if failure.kind == "500_after_commit":
            run()
            return Plan(injected_reply(op, failure, key))
        reply = injected_reply(op, failure, key)
        return Plan(reply, delay=failure.delay if failure.kind == "timeout" else 0.0)

    def _admin(self, method: str, route: str, body: Any) -> Reply:
        try:
            return self._admin_unchecked(method, route, body)
        except KeyError as exc:
            return Reply(404, {"error": f"no such invoice: {exc}"})
        except (TypeError, ValueError) as exc:
            return Reply(400, {"error": str(exc)})

    def _admin_unchecked(self, method: str, route: str, body: Any) -> Reply:
        args = body if isinstance(body, dict) else {}
        if route == "/invoices" and method == "GET":
            return Reply(200, {"invoices": self.state.invoices()})
        if route == "/invoices" and method == "POST":
            key = args.pop("key", None)
            if not isinstance(key, str):
                raise ValueError("key (a string) is required")
            for name in ("invoice_date", "due_date"):
                if isinstance(args.get(name), str):
                    args[name] = date.fromisoformat(args[name])
            return Reply(201, self.state.add_invoice(key, **args))
        if route.startswith("/invoices/") and route.endswith("/post") and method == "POST":
            key = unquote(route[len("/invoices/") : -len("/post")])
            return Reply(200, self.state.post_outside(key))
        if route.startswith("/invoices/") and method == "PATCH":
            key = unquote(route[len("/invoices/") :])
            if "amount" in args:
                return Reply(200, self.state.set_amount(key, args["amount"]))
            due = args.get("due_date")
            return Reply(
                200,
                self.state.edit(
                    key,
                    lines=args.get("lines"),
                    due_date=date.fromisoformat(due) if isinstance(due, str) else None,
                ),
            )
        if route == "/failures" and method == "POST":
            self.failures.add(**args)
            return Reply(200, {"ok": True})
        if route == "/tokens/expire" and method == "POST":
            self.state.expire_tokens(**args)
            return Reply(200, {"ok": True})
        if route == "/requests" and method == "GET":  # the page's history of API calls
            entries = self.log.select() if self.log is not None else []
            return Reply(200, {"requests": [request_json(e) for e in entries]})
        if route == "/failures" and method == "GET":
            return Reply(200, {"queued": self.failures.pending()})
        if route == "/submissions" and method == "GET":
            counts = self.state.submission_counts()
            return Reply(200, {"total": sum(counts.values()), "byKey": counts})
        return Reply(404, {"error": f"no admin route {method} {ADMIN_PREFIX}{route}"})


class EmulatorServer(ThreadingHTTPServer):
    """Joins its handler threads on close; a stalled handler wakes when `stopping` is set."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 128  # bursts of worker threads must not overflow the listen backlog

    def __init__(self, address: tuple[str, int], router: Router, log: RequestLog) -> None:
        self.router = router
        self.log = log
        self.stopping = threading.Event()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads
    timeout = 5.0

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read RecordedRequest instead of stderr."""

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        if self.command == "GET" and (path == "/" or path.startswith("/static/")):
            self._page_file("index.html" if path == "/" else path.removeprefix("/static/"))
            return
        headers = dict(self.headers.items())
        body = self._read_body()
        try:
            plan = self.server.router.handle(self.command, path, headers, body)
        except Exception as exc:  # an emulator bug must still answer, not drop the connection
            message = f"Emulator error: {type(exc).__name__}: {exc}"
            plan = Plan(ia_error(500, "internalServerError", message, "REST-1500"))
        if plan.record:  # as received, before any stall, with the status it will answer
            logged = None if body is NO_BODY else body
            self.server.log.add(self.command, path, headers, logged, plan.reply.status)
        if plan.delay:
            self.server.stopping.wait(plan.delay)
        if plan.drop:
            self.close_connection = True  # applied, then the answer is lost: close, say nothing
            return
        # The client may have given up waiting (a simulated timeout): then there is no one to tell.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
            self._send(plan.reply)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return NO_BODY
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(raw.decode("utf-8", "replace")))
        try:
            return json.loads(raw, parse_float=Decimal)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _page_file(self, name: str) -> None:
        """The emulator's page and its files (static/), with the page's security headers."""
        found = asset("app.sandbox.intacct_emulator", name)
        if found is None:
            self._send(_no_route("GET", self.path))
            return
        send_asset(self, *found)

    def _send(self, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body, default=str).encode()
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def request_json(entry: RecordedRequest) -> dict[str, Any]:
    """One logged API call for the page: what, its Idempotency-Key, the answer's status."""
    return {
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "idempotency_key": _header(entry.headers, "Idempotency-Key"),
        "body": entry.json,
    }


def _is_form(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/x-www-form-urlencoded"


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _no_route(method: str, path: str) -> Reply:
    return ia_error(404, "notFound", f"No resource at {method} {path}", "REST-1404")
