"""Write a packet into a folder: packet.json, packet.html, packet.pdf (when headless Chromium
is present) and SHA256SUMS over them."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.evidence.check import PACKET, SUMS, sums_text
from app.evidence.page import render

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
PDF_SECONDS = 90


@dataclass(frozen=True)
class Written:
    folder: Path
    files: list[str]
    pdf_note: str | None  # why there is no PDF, when there is none


def chromium() -> str | None:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    return None


def write(packet: dict[str, Any], folder: Path, *, pdf: bool = True) -> Written:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PACKET).write_text(
        json.dumps(packet, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (folder / "packet.html").write_text(render(packet), encoding="utf-8")
    files = [PACKET, "packet.html"]
    note = _pdf(folder) if pdf else "no PDF: not asked for"
    if note is None:
        files.append("packet.pdf")
    (folder / SUMS).write_text(sums_text(folder, files), encoding="utf-8")
    return Written(folder, files, note)


def _pdf(folder: Path) -> str | None:
    """Print packet.html to packet.pdf; None when done, else why not."""
    browser = chromium()
    if browser is None:
        return "no PDF: headless Chromium is not installed (print packet.html instead)"
    target = folder / "packet.pdf"
    target.unlink(missing_ok=True)
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-pdf-header-footer",
        f"--print-to-pdf={target}",
        (folder / "packet.html").resolve().as_uri(),
    ]
    try:
        subprocess.run(command, capture_output=True, timeout=PDF_SECONDS, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"no PDF: Chromium failed ({type(error).__name__})"
    if not target.is_file() or target.stat().st_size == 0:
        return "no PDF: Chromium did not print the page"
    return None
