"""A loopback HTTP server on a background thread: the lifecycle both emulators share (imports
nothing of Countersign, so neither emulator depends on the app)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Generic, Self, TypeVar

ServerT = TypeVar("ServerT", bound=ThreadingHTTPServer)


class BackgroundServer(Generic[ServerT]):
    """start() binds (port 0 picks a free port) and serves in a daemon thread; stop() shuts
    down, closes the socket and joins. Also a context manager. Subclasses build the server."""

    thread_name = "emulator"

    def __init__(self) -> None:
        self._server: ServerT | None = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> ServerT:
        raise NotImplementedError

    def _before_shutdown(self, server: ServerT) -> None:
        """Hook: wake handlers that may be waiting, before the server is shut down."""

    @property
    def running(self) -> bool:
        return self._server is not None

    def _running_server(self) -> ServerT:
        if self._server is None:
            raise RuntimeError(f"the {self.thread_name} is not running; call start()")
        return self._server

    def _base_url(self) -> str:
        host, port = self._running_server().server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else host
        return f"http://{host_text}:{port}"

    def start(self) -> Self:
        """Serve on a background thread; starting a running server does nothing."""
        if self._server is not None:
            return self
        server = self._make_server()
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wait for in-flight requests, close the socket. Safe to call twice."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        self._before_shutdown(server)
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
