"""Log lines from libraries come out in Countersign's own format."""

from __future__ import annotations

import json
import logging

import pytest

from app.logs import configure_logging


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
