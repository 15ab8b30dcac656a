"""Reports for a reader: tables formatted for reading and HTML pages without machine paths or stray output."""

import nbformat
import numpy as np
import pandas as pd

from nbutils.report import export_html, relative_paths
from nbutils.tables import cell_text, number, shorten, table_html


def test_numbers_are_rounded_and_missing_values_are_a_dash():
    assert number(0.123456) == "0.123" and number(12345.678) == "12,345.7" and number(3.0) == "3"
    assert number(np.float64("nan")) == "—" and number(None) == "—" and number(2e-05) == "2.0e-05"
    assert number(np.int64(1234567)) == "1,234,567"
    assert cell_text({"ndcg@10": 0.61234567890123, "recall@10": 0.7}) == "ndcg@10: 0.612 · recall@10: 0.700"
    assert cell_text(float("nan")) == "—" and cell_text("") == "—" and cell_text(["a", "b"]) == "a, b"


def test_shortened_text_says_it_was_cut_only_when_it_was():
    assert shorten("a  short\ntext", 20) == "a short text"
    assert shorten("one two three four", 12) == "one two…" and len(shorten("x" * 50, 10)) == 10


def test_tables_align_text_left_never_cut_it_and_say_none_when_empty():
    long = "a cold start, " * 20
    df = pd.DataFrame({"system": ["base", "hybrid"], "ndcg@10": [0.61234, np.nan], "note": [long, None]})
    page = table_html(df)
    left, right = "class='text' style='text-align:left'", "class='num' style='text-align:right'"
    assert f"<td {left}>base</td>" in page and f"<td {right}>0.612</td>" in page
    assert f"<td {right}>—</td>" in page and long.strip() in page and "NaN" not in page
    assert page.count("<th class") == 3, "a plain 0, 1, 2 index is not shown"
    named = pd.DataFrame({"pairs": [3]}, index=pd.Index(["gold"], name="source"))
    assert f"<th {left}>gold</th>" in table_html(named) and f"<th {left}>source</th>" in table_html(named)
    assert table_html(df.iloc[0:0]) == "<p class='nb-empty'><i>none</i></p>"


def test_relative_paths_leave_no_machine_path(tmp_path):
    domain = tmp_path / "outputs" / "docs"
    anchors = [(str(domain), "."), (str(tmp_path / "outputs"), "..")]
    text = f"saved to `{domain}/work/model`; index at {tmp_path}/outputs/index.html; {tmp_path}/outputsx stays"
    assert relative_paths(text, anchors) == (
        f"saved to `./work/model`; index at ../index.html; {tmp_path}/outputsx stays"
    )


def _notebook(domain) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# 3 · Mine: hard negatives\n\nWhy."))
    code = nbformat.v4.new_code_cell(
        'panel = open_panel()\nreport.panel_view(panel.widget, "curation panel")', metadata={"tags": ["hide-input"]}
    )
    code.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="Batches: 100%|#####| 3/3 [00:01<00:00, 2.1it/s]\n"),
        nbformat.v4.new_output("stream", name="stderr", text="WARNING: a library said something\n"),
        nbformat.v4.new_output("display_data", data={"text/markdown": f"Saved to `{domain}/work/triples.jsonl`."}),
        nbformat.v4.new_output(
            "display_data",
            data={"text/plain": "VBox(children=(HTML(value=''),))", "application/vnd.jupyter.widget-view+json": {}},
        ),
    ]
    nb.cells.append(code)
    bar = nbformat.v4.new_code_cell("run()")
    bar.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/plain": "Batches: 100%", "application/vnd.jupyter.widget-view+json": {}}
        )
    ]
    nb.cells.append(bar)
    return nb


def test_an_exported_report_has_a_title_relative_paths_and_gathers_library_messages(tmp_path):
    domain = tmp_path / "outputs" / "docs"
    domain.mkdir(parents=True)
    nbformat.write(_notebook(domain), domain / "03_mine.ipynb")
    page = export_html(domain / "03_mine.ipynb", domain / "03_mine.html", "docs").read_text()
    assert "<title>docs · 3 · Mine: hard negatives</title>" in page
    assert str(tmp_path) not in page and "<code>./work/triples.jsonl</code>" in page
    assert "Messages printed by libraries while this report ran (1)" in page
    assert "a library said something" in page and "it/s" not in page, "progress bars are dropped"
    assert "VBox(children" not in page and "Open <code>03_mine.ipynb</code> in JupyterLab" in page
    assert page.count("nb-panel-note") == 1 and "Batches: 100%" not in page, "a progress widget is dropped"


def test_counting_tokens_of_long_passages_prints_no_tokenizer_warning(minilm, capfd):
    from transformers import AutoTokenizer

    from nbutils.models import token_counts

    tokenizer = AutoTokenizer.from_pretrained(minilm.resolved.location)
    assert token_counts(tokenizer, ["word " * 1000]) == [1000]
    assert "longer than the specified maximum" not in capfd.readouterr().err


def test_a_panel_saved_without_its_kernel_says_how_to_bring_it_back():
    import ipywidgets as w

    from nbutils.report import panel_view

    data = panel_view(w.VBox([w.HTML("x")]), "curation panel")._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data, "live, it is the widget"
    assert data["text/plain"].startswith("[curation panel: an interactive panel that needs a live kernel")
    assert "VBox" not in data["text/plain"]
