"""Slack's side of Socket Mode on loopback: a WebSocket server that says hello, pushes envelopes
to the connected app and collects its acknowledgements (the protocol as slack_sdk speaks it)."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

from websockets.sync.server import Server, ServerConnection, serve

Json = dict[str, Any]


class SocketModeServer:
    """One app connection at a time; `push` sends an envelope and waits for its ack."""

    def __init__(self) -> None:
        self._connections: queue.Queue[ServerConnection] = queue.Queue()
        self._acks: dict[str, queue.Queue[Json]] = {}
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=sandbox"

    def start(self) -> SocketModeServer:
        self._server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _session(self, connection: ServerConnection) -> None:
        hello = {
            "type": "hello",
            "num_connections": 1,
            "connection_info": {"app_id": "A0COUNTERSIGN"},
            "debug_info": {"host": "sandbox", "approximate_connection_time": 3600},
        }
        connection.send(json.dumps(hello))
        self._connections.put(connection)
        for text in connection:
            message = json.loads(text)
            envelope_id = message.get("envelope_id")
            with self._lock:
                waiting = self._acks.get(envelope_id)
            if waiting is not None:
                waiting.put(message)

    def wait_for_app(self, timeout: float = 30) -> ServerConnection:
        """The app's connection, once it has connected (it stays available for `push`)."""
        connection = self._connections.get(timeout=timeout)
        self._connections.put(connection)
        return connection

    def push(self, kind: str, payload: Json, timeout: float = 10) -> Json:
        """Send an envelope of `kind` (interactive, slash_commands, events_api); return the ack."""
        connection = self.wait_for_app()
        envelope_id = str(uuid.uuid4())
        answer: queue.Queue[Json] = queue.Queue()
        with self._lock:
            self._acks[envelope_id] = answer
        connection.send(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "payload": payload,
                    "accepts_response_payload": kind != "events_api",
                    "retry_attempt": 0,
                    "retry_reason": "",
                }
            )
        )
        return answer.get(timeout=timeout)
