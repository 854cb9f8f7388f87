"""structlog set-up: JSON lines in production, readable console in development.
Secrets never reach a log line: settings hold them as SecretStr and nothing logs headers."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import structlog


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Libraries log through the standard library: render their lines like ours (JSON in
    # production), so a log processor sees one format.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # Per-tick and per-request chatter at INFO; only their warnings and errors matter here.
    for chatty in ("apscheduler", "httpx", "httpcore", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def error_log_path(configured: Path | None) -> Path:
    """Where one-shot commands log unexpected errors: COUNTERSIGN_ERROR_LOG, else the XDG state
    folder ($XDG_STATE_HOME or ~/.local/state)/countersign/errors.log."""
    if configured is not None:
        return configured
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "countersign" / "errors.log"


def log_unexpected_error(path: Path, error_id: str, error: BaseException, argv: list[str]) -> bool:
    """Append the error with its traceback to `path` as one JSON line; False if it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            logger = structlog.wrap_logger(
                structlog.WriteLogger(file),
                processors=[
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            )
            logger.error("cli.unexpected_error", error_id=error_id, argv=argv, exc_info=error)
    except OSError:
        return False
    return True
