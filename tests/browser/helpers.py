"""What the browser tests share besides fixtures: the demo domain and screenshots."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT

DOMAIN = "python_docs"
SHOTS = ROOT / "outputs" / "screenshots"  # screenshots of every page the tests open, for a person to look at


def shot(page, name: str) -> Path:
    """Save a full-page screenshot under ``outputs/screenshots/`` and return its path."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
