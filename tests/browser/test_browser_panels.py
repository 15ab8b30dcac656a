"""The three panels of the executed demo notebooks, used in JupyterLab as a person would: open the saved notebook,
run what its text says to run, type, press Enter, click; then check what reached the disk and the screen."""

from __future__ import annotations

import json

import pytest

from tests.browser.helpers import DOMAIN, shot

pytestmark = pytest.mark.browser

SETUP_CELL = "P = config.from_namespace"


def _idle(page, timeout: float = 120_000) -> None:
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout)


def open_notebook(page, lab, name: str) -> None:
    """Open ``outputs/<domain>/<name>.ipynb`` in JupyterLab and wait for its kernel."""
    page.goto(f"{lab['url']}/lab/tree/{DOMAIN}/{name}.ipynb?token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    _idle(page)


def run_cell(page, text: str) -> object:
    """Select the code cell containing ``text`` and run it with Shift+Enter; returns the cell."""
    cell = page.locator(".jp-CodeCell", has_text=text).first
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    _idle(page)
    return cell


def open_panel(page, lab, name: str, panel_cell: str) -> object:
    """What the markdown above each panel says: select the set-up cell, Run ▸ Run All Above Selected Cell,
    Shift+Enter, then Shift+Enter on the panel's cell. Returns the panel's cell once its widget shows."""
    open_notebook(page, lab, name)
    markdown = page.locator(".jp-MarkdownCell", has_text="Run All Above Selected Cell")
    assert markdown.count() == 1, "the text above the panel says what to run"
    page.locator(".jp-CodeCell", has_text=SETUP_CELL).first.locator(".jp-InputArea-editor").click()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Above Selected Cell").click()
    _idle(page)
    run_cell(page, SETUP_CELL)
    cell = run_cell(page, panel_cell)
    cell.locator(".jupyter-widgets").first.wait_for(timeout=120_000)
    return cell


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_curation_panel_flags_and_undoes_on_screen_and_on_disk(page, lab):
    cell = open_panel(page, lab, "03_mine", "mine.open_panel(P, paths)")
    flags = lab["root"] / DOMAIN / "work" / "negative_flags.jsonl"
    before = len(_rows(flags))
    button = cell.locator(".nb-curation-flag button, button.nb-curation-flag").first
    assert button.inner_text().strip().endswith("Flag as relevant")
    assert button.bounding_box()["width"] > 100, "the label fits its button"
    button.click()
    page.wait_for_function(f"() => document.body.innerText.includes('{before + 1} negative')", timeout=10_000)
    assert _rows(flags)[-1].get("flag", True) is True and len(_rows(flags)) == before + 1
    assert "Flagged · undo" in button.inner_text()
    count = cell.locator(".nb-curation-count").inner_text()
    assert "flagged as relevant" in count and "work/negative_flags.jsonl" in count
    button.click()  # undo
    page.wait_for_timeout(500)
    assert _rows(flags)[-1]["flag"] is False, "the undo reached the disk"
    assert "Flag as relevant" in button.inner_text(), "the screen agrees with the disk"
    shot(page, "panel_curation")


def test_query_explorer_searches_on_enter_with_scores_and_differences(page, lab):
    cell = open_panel(page, lab, "05_evaluate", "evaluate.open_explorer(P, paths)")
    box = cell.locator(".nb-explorer-input input").first
    assert box.bounding_box()["width"] > 400, "a wide input"
    box.fill("how do I read a file line by line")
    box.press("Enter")
    cell.locator(".nb-explorer-hit").first.wait_for(timeout=60_000)
    columns = cell.locator(".nb-explorer-column")
    assert columns.count() == 3
    scores = [float(h.get_attribute("data-score")) for h in cell.locator(".nb-explorer-hit").all()]
    assert len(scores) == 15 and all(s == s for s in scores), "five hits per system, each with its score"
    assert cell.locator(".nb-explorer-legend").inner_text().strip()
    height = cell.locator(".nb-explorer-column").first.bounding_box()["height"]
    assert height < 450, f"a top-5 column is compact ({height:.0f} px)"
    shot(page, "panel_explorer")
