"""HTTP routing: the Web API under /api/, response_url targets, and the /_emulator/ surface."""

from __future__ import annotations

import contextlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.sandbox.emulator_kit.static import asset, send_asset
from app.sandbox.slack_emulator import ui
from app.sandbox.slack_emulator.models import Json
from app.sandbox.slack_emulator.web_api import dispatch
from app.sandbox.slack_emulator.workspace import Workspace

MAX_BODY_BYTES = 5_000_000


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that owns one workspace; request threads are joined on close."""

    daemon_threads = False
    block_on_close = True

    def __init__(
        self, address: tuple[str, int], workspace: Workspace, page: ui.PageConfig | None = None
    ) -> None:
        super().__init__(address, EmulatorHandler)
        self.workspace = workspace
        self.page = page or ui.PageConfig()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else host
        return f"http://{host_text}:{port}/"


class EmulatorHandler(BaseHTTPRequestHandler):
    server: EmulatorServer
    timeout = 10  # a silent client cannot hold a request thread (and stop()) for ever
    server_version = "SlackEmulator/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the call log, not stderr."""

    # --- plumbing ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, verb: str) -> None:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        path = parts.path
        ws = self.server.workspace
        if path.startswith("/api/"):
            self._web_api(path.removeprefix("/api/"), query)
        elif path.startswith("/response/") and verb == "POST":
            body = self._json_body()
            if not isinstance(body, dict):
                self._send_text(400, "invalid_payload")
                return
            status, text = ws.respond(path.removeprefix("/response/"), body)
            self._send_text(status, text)
        elif path.startswith("/_emulator/ui/"):
            body = self._json_body() if verb == "POST" else None
            status, answer = ui.handle(
                ws,
                self.server.page,
                self.server.base_url,
                verb,
                path[len("/_emulator/ui/") :],
                query,
                body,
            )
            self._send_json(status, answer)
        elif path.startswith("/_emulator/"):
            self._admin(verb, path.removeprefix("/_emulator/"), query)
        elif verb == "GET" and (path == "/" or path.startswith("/static/")):
            self._page_file("index.html" if path == "/" else path.removeprefix("/static/"))
        else:
            self._send_json(404, {"ok": False, "error": "not_found"})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY_BYTES)) if length > 0 else b""

    def _json_body(self) -> Any:
        try:
            return json.loads(self._read_body() or b"{}")
        except json.JSONDecodeError:
            return None

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _page_file(self, name: str) -> None:
        """The workspace page and its files (static/), with the page's security headers."""
        found = asset("app.sandbox.slack_emulator", name)
        if found is None:
            self._send_json(404, {"ok": False, "error": "not_found"})
            return
        send_asset(self, *found)

    # --- the Web API -------------------------------------------------------------------------

    def _web_api(self, method: str, query: Json) -> None:
        args: Json = dict(query)
        raw = self._read_body()
        content_type = (self.headers.get("Content-Type") or "").lower()
        if raw:
            if content_type.startswith("application/json") or raw.lstrip().startswith(b"{"):
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send_json(200, {"ok": False, "error": "invalid_json"})
                    return
                if isinstance(body, dict):
                    args.update(body)
            else:
                form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
                args.update({key: values[-1] for key, values in form.items()})
        authorization = self.headers.get("Authorization") or ""
        token = authorization.removeprefix("Bearer ").strip() or None
        if token is None and isinstance(args.get("token"), str):
            token = args["token"]
        reply = dispatch(self.server.workspace, method, args, token)
        if reply.drop:
            self.close_connection = True  # applied, but the client never hears back
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send_json(reply.status, reply.body, reply.headers)  # late: client may be gone

    # --- the inspection surface --------------------------------------------------------------

    def _admin(self, verb: str, name: str, query: Json) -> None:
        ws = self.server.workspace
        if verb == "GET" and name == "messages":
            channel = ws.resolve_channel(query.get("channel", "")) or query.get("channel", "")
            self._send_json(200, [m.to_json() for m in ws.messages(channel)])
        elif verb == "GET" and name == "message":
            channel = ws.resolve_channel(query.get("channel", "")) or ""
            message = ws.find(channel, query.get("ts", ""))
            if message is None:
                self._send_json(404, {"error": "message_not_found"})
            else:
                self._send_json(200, message.to_json())
        elif verb == "POST" and name == "trigger":
            self._send_json(200, {"trigger_id": ws.issue_trigger()})
        elif verb == "POST" and name == "response_url":
            self._issue_response_url(ws)
        elif verb == "GET" and name == "views":
            with ws.lock:
                self._send_json(200, {"opened": ws.opened_views, "home": ws.home_views})
        elif verb == "GET" and name == "view":
            view = ws.find_view(query.get("id", ""))
            if view is None:
                self._send_json(404, {"error": "view_not_found"})
            else:
                self._send_json(200, view)
        elif verb == "GET" and name == "directory":
            self._send_json(200, ws.directory())
        elif verb == "GET" and name == "state":
            self._send_json(200, ws.snapshot())
        else:
            self._send_json(404, {"error": "not_found"})

    def _issue_response_url(self, ws: Workspace) -> None:
        body = self._json_body()
        if not isinstance(body, dict) or not body.get("channel") or not body.get("user"):
            self._send_json(400, {"error": "channel and user are required"})
            return
        message_ts = body.get("message_ts")
        token = ws.issue_response_token(
            str(body["channel"]), str(body["user"]), str(message_ts) if message_ts else None
        )
        self._send_json(200, {"response_url": f"{self.server.base_url}response/{token}"})
