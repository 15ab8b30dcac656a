"""The three panels of the executed demo notebooks, used in JupyterLab as a person would: open the saved notebook,
run what its text says to run, type, press Enter, click; then check what reached the disk and the screen."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.browser.helpers import DOMAIN, shot

pytestmark = pytest.mark.browser

SETUP_CELL = "P = config.from_namespace"


def _idle(page, timeout: float = 120_000) -> None:
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout)


def open_notebook(page, lab, name: str) -> None:
    """Open ``outputs/<domain>/<name>.ipynb`` in JupyterLab and wait for its kernel."""
    page.goto(f"{lab['url']}/lab/tree/{DOMAIN}/{name}.ipynb?reset&token={lab['token']}")  # no tabs of earlier tests
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
    target = page.locator(".jp-CodeCell", has_text=panel_cell).first
    target.wait_for()  # the notebook has loaded down to the panel
    target.scroll_into_view_if_needed()
    markdown = page.locator(".jp-MarkdownCell", has_text="Run All Above Selected Cell")
    markdown.first.wait_for(timeout=10_000)
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


def _flagged(cell) -> int:
    return int(cell.locator(".nb-curation-count").inner_text().split()[0])


def test_curation_panel_flags_and_undoes_on_screen_and_on_disk(page, lab):
    cell = open_panel(page, lab, "03_mine", "mine.open_panel(P, paths)")
    flags = lab["root"] / DOMAIN / "work" / "negative_flags.jsonl"
    button = cell.locator("button.nb-curation-flag, .nb-curation-flag button").first
    if "Flagged" in button.inner_text():  # a reused run where this negative was left flagged
        button.click()
        page.wait_for_timeout(500)
    before = _flagged(cell)
    assert button.inner_text().strip().endswith("Flag as relevant")
    assert button.bounding_box()["width"] > 100, "the label fits its button"
    button.click()
    page.wait_for_function(
        f"() => document.querySelector('.nb-curation-count').innerText.startsWith('{before + 1} ')", timeout=10_000
    )
    assert _rows(flags)[-1].get("flag", True) is True
    assert "Flagged · undo" in button.inner_text()
    count = cell.locator(".nb-curation-count").inner_text()
    assert "flagged as relevant" in count and "work/negative_flags.jsonl" in count
    button.click()  # undo
    page.wait_for_function(
        f"() => document.querySelector('.nb-curation-count').innerText.startsWith('{before} ')", timeout=10_000
    )
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


def test_labeling_panel_keeps_edits_merges_repeat_saves_and_searches_on_enter(page, lab):
    cell = open_panel(page, lab, "02_synthesize", "synthesize.open_panel(P, paths)")
    gold = lab["root"] / DOMAIN / "work" / "gold_labels.jsonl"
    run = uuid.uuid4().hex[:6]  # new questions on every run, also on a reused suite (BROWSER_SUITE)
    edited = f"what does the edited candidate ask {run}"
    question = cell.locator(".nb-label-question input").first
    question.fill(edited)  # an edit, not saved yet
    search = cell.locator(".nb-label-search input").first
    query = f"how do I open a file for reading {run}"
    search.fill(query)
    search.press("Enter")
    hits = cell.locator(".nb-label-hit")
    hits.first.wait_for(timeout=30_000)
    assert hits.count() >= 2 and len(hits.first.inner_text()) > 300, "a hit shows enough text to judge"
    hits.nth(0).locator("input[type=checkbox]").check()
    cell.locator("button.nb-label-save").click()
    page.wait_for_function("() => document.body.innerText.includes('saved new question')", timeout=10_000)
    rows = [r for r in _rows(gold) if r["query"] == query]
    assert len(rows) == 1 and len(rows[0]["positives"]) == 1
    assert question.input_value() == edited, "saving from search kept the edit"

    hits.nth(1).locator("input[type=checkbox]").check()
    cell.locator("button.nb-label-save").click()
    page.wait_for_function("() => document.body.innerText.includes('to an existing question')", timeout=10_000)
    rows = [r for r in _rows(gold) if r["query"] == query]
    assert len(rows) == 1 and len(rows[0]["positives"]) == 2, "a second save merges into the same row"
    counters = cell.locator(".nb-label-counters").inner_text()
    assert "work/gold_labels.jsonl" in counters and "question" in counters
    box = cell.locator("button.nb-label-save").bounding_box()
    assert box["width"] > 150, "the save button's label is not cut off"

    cell.locator("button.nb-label-accept").click()
    page.wait_for_function("() => document.body.innerText.includes('saved new question')", timeout=10_000)
    assert any(r["query"] == edited for r in _rows(gold))
    assert "work/gold_labels.jsonl" in cell.locator(".nb-label-counters").inner_text(), "counters stay visible"
    shot(page, "panel_labeling")
