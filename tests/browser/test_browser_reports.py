"""The HTML reports and the index page as a reader sees them: opened from disk in Chromium, no Jupyter, no server."""

from __future__ import annotations

import re

import pytest

from tests.browser.helpers import DOMAIN, shot
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

STAGES = {
    "01_decide": "Decide",
    "02_synthesize": "Synthesize",
    "03_mine": "Mine",
    "04_train": "Train",
    "05_evaluate": "Evaluate",
    "06_maintain": "Maintain",
}


def _machine_paths(suite) -> list[str]:
    return [str(suite.parent), str(ROOT), str(ROOT.parent)]


def _shows_path(text: str, path: str) -> bool:
    """Whether ``path`` appears as an absolute path (not as the tail of a relative one such as ``./work``)."""
    return re.search(rf"(?<![\w.~]){re.escape(path)}(?![\w-])", text) is not None


@pytest.mark.parametrize("name", list(STAGES))
def test_each_report_reads_well(page, suite, name):
    page.goto((suite / DOMAIN / f"{name}.html").as_uri())
    shot(page, name)
    assert page.title().startswith(f"{DOMAIN} · ") and STAGES[name] in page.title()
    text = page.inner_text("body")
    for path in _machine_paths(suite):
        assert not _shows_path(text, path), f"{name}: a machine path is shown: {path}"
    assert not re.search(r"\bNaN\b", text), f"{name}: a raw NaN is shown"
    assert "VBox(children" not in text and "HBox(children" not in text
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0, "no red message boxes"
    assert "Token indices sequence length" not in text
    for cell in page.locator("table.nb-table td.text").all()[:20]:
        assert cell.evaluate("e => getComputedStyle(e).textAlign") in ("left", "start")
    assert page.locator("table.dataframe").count() == 0, "every table goes through the reading format"
    assert page.locator("img").count() >= 1, "every report has at least one chart"


def test_the_panels_are_replaced_by_a_note_saying_how_to_use_them(page, suite):
    for name in ("02_synthesize", "03_mine", "05_evaluate"):
        page.goto((suite / DOMAIN / f"{name}.html").as_uri())
        note = page.locator(".nb-panel-note")
        assert note.count() == 1 and f"Open {name}.ipynb in JupyterLab" in note.inner_text()
        assert "Run All Above Selected Cell" in page.inner_text("body"), "the markdown says exactly what to run"


def test_the_index_page_tells_the_story_and_links_every_report(page, suite):
    page.goto((suite / "index.html").as_uri())
    shot(page, "index")
    text = page.inner_text("body")
    assert "Recommendation:" in text and "fine-tuned + hybrid" in text and "95 % interval" in text
    assert re.search(r"\d\.\d{3}–\d\.\d{3}", text), "intervals are written out"
    assert "Current version" in text and "history:" in text
    for path in _machine_paths(suite):
        assert not _shows_path(text, path)
    links = page.locator("p.links a")
    assert links.count() == 6
    links.nth(4).click()
    page.wait_for_load_state()
    assert page.title().startswith(f"{DOMAIN} · 5 · Evaluate")
