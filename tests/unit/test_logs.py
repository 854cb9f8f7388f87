"""Log lines from libraries come out in Countersign's own format."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from app.logs import configure_logging


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """These tests point logging at capsys's stream, which closes after each test: put the
    previous handlers and structlog's configuration back, so later tests do not write to it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers, root.level = handlers, level
    structlog.configure(**config)


def test_a_library_line_is_json_with_its_logger_and_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Under LOG_FORMAT=json a standard-library record is one JSON object, not bare text."""
    configure_logging("json", "info")
    logging.getLogger("slack_bolt.App").warning("listener %s failed", "x")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "listener x failed"
    assert (record["logger"], record["level"]) == ("slack_bolt.App", "warning")


def test_per_request_library_chatter_is_hidden_at_info(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """httpx and alembic INFO lines (one per HTTP call or migration step) are not logged."""
    configure_logging("console", "info")
    logging.getLogger("httpx").info("HTTP Request: GET http://example.invalid")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("httpx").warning("kept")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "kept" in lines[0]
