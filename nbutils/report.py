"""Report helpers: display settings, stage metrics as JSON, and the notebook → HTML export for readers.

The ``outputs/index.html`` overview is :mod:`nbutils.overview`.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .paths import DomainPaths, atomic_write_text, write_json
from .tables import table_html

__all__ = [
    "export_html",
    "PanelView",
    "panel_view",
    "prepare_for_reading",
    "read_metrics",
    "record_metrics",
    "relative_paths",
    "setup",
    "table",
]

HIDE_INPUT_TAG = "hide-input"


def setup() -> None:
    """Display settings every report shares: call it once, in the first cell of a notebook.

    Tables display through :func:`nbutils.tables.table_html` (text left-aligned and never cut, numbers
    rounded, ``—`` for missing, *none* for empty). Log records of WARNING and above, and Python warnings, go
    to stderr, which :func:`export_html` gathers at the end of the report instead of between results.
    """
    import pandas as pd
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)
    logging.basicConfig(level=logging.WARNING)
    logging.captureWarnings(True)


def record_metrics(paths: DomainPaths, stage: str, metrics: dict[str, Any]):
    """Write a stage's key results to ``metrics/NN_stage.json`` (with the time), atomically.

    Returns:
        A Markdown line saying where they went, for display in the notebook.
    """
    from IPython.display import Markdown

    path = paths.metrics(stage)
    write_json(path, _strict({"stage": stage, "domain": paths.domain, "written": _now(), **metrics}))
    return Markdown(f"Key results saved to `{path.relative_to(paths.root)}` in the domain's folder.")


def _strict(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float (e.g. an empty cell of a table) as ``None``: strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def read_metrics(paths: DomainPaths, stage: str) -> dict[str, Any] | None:
    """A stage's recorded metrics, or ``None`` when it has not run."""
    path = paths.metrics(stage)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def table(scores: dict[str, dict[str, float]], digits: int = 3):
    """Metrics per system as a pandas DataFrame (systems as rows), rounded for display."""
    import pandas as pd

    df = pd.DataFrame(scores).T.round(digits)
    if "queries" in df:
        df["queries"] = df["queries"].astype(int)
    return df


def export_html(notebook: str | Path, out: str | Path, domain: str = "") -> Path:
    """Render an executed notebook to HTML for a reader who never opens the code or the machine it ran on.

    The code of cells tagged ``hide-input`` is hidden. The page is titled after the notebook's first heading
    (with ``domain``). Absolute paths become relative (:func:`relative_paths`). Messages that libraries
    printed to stderr are gathered in one collapsed block at the end instead of red boxes between results
    (progress bars are dropped). An interactive panel, which a static page cannot run, is replaced by a
    note saying how to open it.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    cfg = Config()
    cfg.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT_TAG}
    cfg.TagRemovePreprocessor.remove_cell_tags = {"parameters"}  # the defaults; the injected values stay
    cfg.TagRemovePreprocessor.remove_all_outputs_tags = {"hide-output"}
    cfg.TagRemovePreprocessor.enabled = True
    exporter = HTMLExporter(config=cfg)
    exporter.register_preprocessor(TagRemovePreprocessor(config=cfg), enabled=True)
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    nb = nbformat.read(str(notebook), as_version=4)
    out = Path(out)
    prepare_for_reading(nb, Path(notebook).name, _anchors(out.parent), domain)
    body, _ = exporter.from_notebook_node(nb)
    atomic_write_text(out, body)
    return out


def _anchors(folder: Path) -> list[tuple[str, str]]:
    """Absolute folders and what a reader of a report in ``folder`` sees instead, longest first."""
    cwd = Path.cwd().resolve()
    pairs = {str(folder.resolve()): ".", str(folder.resolve().parent): ".."}
    pairs.setdefault(str(cwd), ".")
    if len(cwd.parent.parts) > 1:
        pairs.setdefault(str(cwd.parent), "..")
    pairs.setdefault(str(Path.home()), "~")
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def relative_paths(text: str, anchors: list[tuple[str, str]]) -> str:
    """``text`` with every absolute path under one of ``anchors`` (folder, replacement) written relative.

    One pass, longest folder first, so a replacement is never matched again; a folder matches only as a whole
    path component (``/a/outputs`` does not match ``/a/outputsx``).
    """
    folders = {folder: short for folder, short in anchors if folder and folder != "/"}
    if not folders:
        return text
    alternatives = "|".join(re.escape(f) for f in sorted(folders, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w./-])({alternatives})(?=[/\\\s'\"`)\],:;<]|$)", re.M)
    return pattern.sub(lambda m: folders[m.group(1)], text)


def prepare_for_reading(nb, name: str, anchors: list[tuple[str, str]], domain: str = "") -> None:
    """Edit an executed notebook in place for its HTML report (see :func:`export_html`)."""
    heading = next((_first_heading(c.source) for c in nb.cells if c.cell_type == "markdown"), "") or name
    nb.metadata["title"] = f"{domain} · {heading}" if domain else heading
    messages: list[str] = []
    for cell in nb.cells:
        cell.source = relative_paths(cell.source, anchors)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                messages += _message_lines(output.get("text", ""))
                continue
            data = output.get("data", {})
            if WIDGET in data:
                if not _is_panel(cell.source):
                    continue  # a progress bar: nothing to show once the run is over
                output["data"] = {"text/html": _panel_note(name)}
            for key in ("text/plain", "text/html", "text/markdown", "text"):
                container = output if key == "text" else output.get("data", {})
                if isinstance(container.get(key), str):
                    container[key] = relative_paths(container[key], anchors)
            kept.append(output)
        cell.outputs = kept
    if messages:
        nb.cells.append(_messages_cell(messages, anchors))


WIDGET = "application/vnd.jupyter.widget-view+json"
_PROGRESS = re.compile(r"\d+%\||\d+/\d+ \[|it/s\]|s/it\]")


def _is_panel(source: str) -> bool:
    """Whether a cell shows one of the interactive panels (its last line is a :func:`panel_view`)."""
    lines = [line for line in source.strip().splitlines() if line.strip()]
    return bool(lines) and "panel_view(" in lines[-1]


class PanelView:
    """An interactive panel for display: the live widget, and for a saved notebook opened without a live kernel,
    a text that says how to bring it back instead of ``VBox(children=…)``."""

    def __init__(self, widget, name: str):
        self.widget, self.name = widget, name

    def _repr_mimebundle_(self, **kwargs):
        data = self.widget._repr_mimebundle_(**kwargs)
        data["text/plain"] = (
            f"[{self.name}: an interactive panel that needs a live kernel. Run the set-up cells and this cell, "
            "as the text above says; it reads what is saved on disk.]"
        )
        return data


def panel_view(widget, name: str) -> PanelView:
    """Display ``widget`` (a panel's ipywidgets tree) as :class:`PanelView`; ``name`` says which panel it is."""
    return PanelView(widget, name)


def _first_heading(source: str) -> str:
    for line in source.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _message_lines(text: str) -> list[str]:
    """Lines a library printed, without progress bars (the last state of a carriage-returned line kept)."""
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    return [line for line in lines if line.strip() and not _PROGRESS.search(line)]


def _panel_note(name: str) -> str:
    return (
        "<div class='nb-panel-note' style='border:1px dashed #999;padding:8px 12px;color:#444'>"
        f"An interactive panel stood here. Open <code>{html.escape(name)}</code> in JupyterLab and run this cell "
        "(the text above it says what it needs) to use it; a static page cannot.</div>"
    )


def _messages_cell(lines: list[str], anchors: list[tuple[str, str]]):
    import nbformat

    unique = list(dict.fromkeys(relative_paths(line, anchors) for line in lines))
    text = html.escape("\n".join(unique))
    return nbformat.v4.new_markdown_cell(
        f"<details><summary>Messages printed by libraries while this report ran ({len(unique)})</summary>"
        f"<pre style='white-space:pre-wrap'>{text}</pre></details>"
    )
