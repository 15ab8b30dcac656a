"""Report helpers: stage metrics as JSON, notebook → HTML export, and the ``outputs/index.html`` overview."""

from __future__ import annotations

import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .paths import NOTEBOOKS, DomainPaths, UnsafePath, atomic_write_text, check_domain, write_json

__all__ = ["export_html", "headline", "read_metrics", "record_metrics", "table", "write_index"]

HIDE_INPUT_TAG = "hide-input"


def record_metrics(paths: DomainPaths, stage: str, metrics: dict[str, Any]):
    """Write a stage's key results to ``metrics/NN_stage.json`` (with the time), atomically.

    Returns:
        A Markdown line saying where they went, for display in the notebook.
    """
    from IPython.display import Markdown

    path = paths.metrics(stage)
    write_json(path, _strict({"stage": stage, "domain": paths.domain, "written": _now(), **metrics}))
    return Markdown(f"Key results saved to `{path}`.")


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


def export_html(notebook: str | Path, out: str | Path) -> Path:
    """Render an executed notebook to HTML, hiding the code of cells tagged ``hide-input``."""
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
    body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
    atomic_write_text(out, body)
    return Path(out)


def headline(paths: DomainPaths) -> dict[str, str]:
    """The few numbers shown per domain in the index: recommendation and test metrics, each marked
    *synthetic* when the test queries were written by the suite rather than labelled."""
    out: dict[str, str] = {}
    decide = read_metrics(paths, "decide")
    if decide:
        mark = " (on synthetic test questions)" if decide.get("test_source") == "synthetic" else ""
        rec = decide.get("recommendation", {})
        mark += " (provisional: too little data)" if rec.get("provisional") else ""
        out["recommendation"] = rec.get("decision", "") + mark
    ev = read_metrics(paths, "evaluate")
    if ev:
        mark = " (synthetic)" if ev.get("test_source") == "synthetic" else ""
        systems = ev.get("systems", {})
        hybrid = next((s for s in systems if s.startswith("hybrid (weighted")), None) or next(
            (s for s in systems if s.startswith("hybrid")), None
        )
        for label, system in (("base", "base"), ("fine-tuned", "fine-tuned"), ("hybrid", hybrid)):
            row = systems.get(system) if system else None
            if row:
                out[f"{label} nDCG@10{mark}"] = f"{row['ndcg@10']:.3f}"
                out[f"{label} recall@10{mark}"] = f"{row['recall@10']:.3f}"
    maintain = read_metrics(paths, "maintain")
    if maintain:
        out["current version"] = str(maintain.get("current", ""))
    return out


def _domain_row(paths: DomainPaths) -> str:
    folder = html.escape(quote(paths.domain))
    links = " ".join(
        f'<a href="{folder}/{name}.html">{name}</a>' for stage, name in NOTEBOOKS.items() if paths.html(stage).exists()
    )
    failed = [
        f'<a style="color:#b00" href="{folder}/{name}.failed.html">{name} failed</a>'
        for stage, name in NOTEBOOKS.items()
        if paths.failed_html(stage).exists()
    ]
    links += ("<br>" + " ".join(failed)) if failed else ""
    times = [str(_written(p)) for p in paths.metrics_dir.glob("*.json")]
    metrics = "<br>".join(f"{html.escape(k)}: <b>{html.escape(v)}</b>" for k, v in headline(paths).items())
    cells = [html.escape(paths.domain), links, html.escape(max(times, default="")), metrics]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _written(path: Path) -> str:
    """The ``written`` time of a metrics file, or "" when it cannot be read (the index never fails on one)."""
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("written", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _safe(name: str) -> bool:
    try:
        check_domain(name)
    except UnsafePath:
        return False
    return True


def write_index(outputs_dir: str | Path) -> Path:
    """Rewrite ``outputs/index.html``: one row per domain with its reports, last run time and headline metrics."""
    root = Path(outputs_dir)
    domains = (
        sorted(p.name for p in root.iterdir() if (p / "metrics").is_dir() and _safe(p.name)) if root.is_dir() else []
    )
    rows = "\n".join(_domain_row(DomainPaths(root, d)) for d in domains)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Embedding fine-tuning reports</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:6px 10px;vertical-align:top}}th{{background:#f3f3f3}}</style></head>
<body><h1>Embedding fine-tuning reports</h1>
<table><tr><th>domain</th><th>reports</th><th>last run (UTC)</th><th>headline</th></tr>
{rows}
</table></body></html>
"""
    path = root / "index.html"
    atomic_write_text(path, page)
    return path
