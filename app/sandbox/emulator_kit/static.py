"""The emulators' pages: plain HTML, CSS and JavaScript files shipped in the package (package
data), served as they are. No CDN, no build step; a strict Content-Security-Policy so nothing
but these files runs in the page, whatever text the app or an event put in it."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler
from importlib import resources

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(html|css|js|png|svg)")
_TYPES = {
    "html": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "png": "image/png",
    "svg": "image/svg+xml",
}
# Only the page's own files: no inline script, no other origin (an injected <script> or
# onerror= attribute would not run even if a rendering bug let one into the document).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def asset(package: str, name: str) -> tuple[bytes, str] | None:
    """The file `static/<name>` of `package` and its Content-Type; None for any other name."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    path = resources.files(package).joinpath("static", name)
    if not path.is_file():
        return None
    return path.read_bytes(), _TYPES[match.group(1)]


def send_asset(handler: BaseHTTPRequestHandler, data: bytes, content_type: str) -> None:
    """Answer 200 with a page file and the page's security headers."""
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for header, value in PAGE_HEADERS.items():
        handler.send_header(header, value)
    handler.end_headers()
    handler.wfile.write(data)
