"""``outputs/index.html``: one page that says, for every domain, what the suite found, readable anywhere.

Built from the stages' metrics files only (``metrics/NN_stage.json``), so it needs no Jupyter, no server and no
model: the recommendation and why, generic → fine-tuned → hybrid with 95 % intervals (drawn and written),
the current model version and its history, the maintenance advice, and links to the six reports. Every value
shown is escaped; folders whose names are not valid domains are skipped.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from .paths import NOTEBOOKS, DomainPaths, UnsafePath, atomic_write_text, check_domain
from .tables import MISSING, number

__all__ = ["write_index"]

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;padding:0 1.5em;
color:#222;line-height:1.45}
h1{margin-bottom:0.2em}.lead{color:#555;margin-top:0}
section.domain{border:1px solid #ddd;border-radius:8px;padding:1em 1.4em;margin:1.4em 0}
section.domain h2{margin:0 0 0.2em 0}.meta{color:#666;font-size:0.9em;margin:0}
.rec{border-left:5px solid #999;background:#f7f7f7;padding:0.5em 1em;margin:0.8em 0}
.rec-fine-tune{border-color:#2e7d32}.rec-hybrid{border-color:#1565c0}.rec-skip{border-color:#757575}
.rec p{margin:0.3em 0 0 0}.mark{background:#fff3cd;border-radius:4px;padding:0 6px;font-size:0.85em;margin-left:6px}
table.steps{border-collapse:collapse;margin:0.6em 0;font-size:0.93em}
table.steps th,table.steps td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:middle}
table.steps th{background:#f5f5f5;white-space:nowrap}
table.steps td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{position:relative;width:14em;height:0.9em;background:#f0f0f0;border-radius:3px}
.bar .ci{position:absolute;top:0.35em;height:0.2em;background:#90a4ae}
.bar .dot{position:absolute;top:0.15em;width:0.6em;height:0.6em;margin-left:-0.3em;border-radius:50%;
background:#1565c0}
.links a{margin-right:0.8em}.failed{color:#b00}.none{color:#777;font-style:italic}
"""


def _load(paths: DomainPaths, stage: str) -> dict | None:
    """A stage's metrics, or ``None`` when missing or unreadable (the index never fails on one file)."""
    try:
        return json.loads(paths.metrics(stage).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _steps(paths: DomainPaths) -> tuple[list[dict], str]:
    """Rows of the generic → fine-tuned → hybrid table and what they were measured on.

    From the evaluate stage when it ran; else the decide stage's generic systems (before any training).
    """
    evaluate = _load(paths, "evaluate")
    if evaluate and evaluate.get("summary"):
        sets = ", ".join(dict.fromkeys(str(r.get("test set", "")) for r in evaluate["summary"] if r.get("test set")))
        return evaluate["summary"], f"held-out test queries, after training: {sets or 'test split'}"
    decide = _load(paths, "decide")
    if not decide:
        return [], ""
    by_system: dict[str, dict] = {}
    for r in decide.get("confidence") or []:
        label = "nDCG@10" if r.get("metric") == "ndcg@10" else r.get("metric", "")
        row = by_system.setdefault(r["system"], {"step": "generic (no training)", "system": r["system"]})
        row |= {label: r.get("mean"), f"{label} low": r.get("low"), f"{label} high": r.get("high")}
    queries = (decide.get("stats") or {}).get("test_queries")
    what = f"{queries:,} held-out test queries" if isinstance(queries, int) else "held-out test queries"
    return list(by_system.values()), f"{what}, before any training (decide stage)"


def _bar(mean, low, high) -> str:
    if not all(isinstance(v, (int, float)) for v in (mean, low, high)):
        return ""

    def pct(v: float) -> str:
        return f"{100 * min(1.0, max(0.0, v)):.1f}%"

    return (
        f"<div class='bar' title='{number(mean)} (95 % interval {number(low)}–{number(high)})'>"
        f"<span class='ci' style='left:{pct(low)};width:{pct(high - low)}'></span>"
        f"<span class='dot' style='left:{pct(mean)}'></span></div>"
    )


def _interval(row: dict, metric: str) -> str:
    low, high = row.get(f"{metric} low"), row.get(f"{metric} high")
    return f"{number(low)}–{number(high)}" if low is not None and high is not None else MISSING


def _steps_table(paths: DomainPaths, synthetic: bool) -> str:
    rows, what = _steps(paths)
    if not rows:
        return "<p class='none'>No retrieval measured yet.</p>"
    head = "<tr><th>step</th><th>system</th><th>nDCG@10</th><th>95 % interval</th><th></th>"
    head += "<th>recall@10</th><th>95 % interval</th></tr>"
    body = ""
    for r in rows:
        ndcg = r.get("nDCG@10")
        body += (
            f"<tr><td>{html.escape(str(r.get('step', '')))}</td><td>{html.escape(str(r.get('system', '')))}</td>"
            f"<td class='num'><b>{number(ndcg)}</b></td><td class='num'>{_interval(r, 'nDCG@10')}</td>"
            f"<td>{_bar(ndcg, r.get('nDCG@10 low'), r.get('nDCG@10 high'))}</td>"
            f"<td class='num'>{number(r.get('recall@10'))}</td><td class='num'>{_interval(r, 'recall@10')}</td></tr>"
        )
    mark = " <span class='mark'>synthetic test questions</span>" if synthetic else ""
    return f"<p class='meta'>Measured on {html.escape(what)}{mark}</p><table class='steps'>{head}{body}</table>"


def _recommendation(paths: DomainPaths) -> tuple[str, bool]:
    decide = _load(paths, "decide")
    if not decide:
        return "<p class='none'>The decide stage has not run.</p>", False
    rec = decide.get("recommendation") or {}
    decision = str(rec.get("decision", MISSING))
    synthetic = decide.get("test_source") == "synthetic"
    marks = "<span class='mark'>on synthetic test questions</span>" if synthetic else ""
    marks += "<span class='mark'>provisional: too little data</span>" if rec.get("provisional") else ""
    reasons = "".join(f"<p>{html.escape(str(r))}</p>" for r in (rec.get("reasons") or [])[:2])
    klass = decision if decision in ("fine-tune", "hybrid", "skip") else "other"
    return (
        f"<div class='rec rec-{klass}'><b>Recommendation: {html.escape(decision)}</b>{marks}{reasons}</div>",
        synthetic,
    )


def _versions(paths: DomainPaths) -> str:
    maintain = _load(paths, "maintain")
    if not maintain:
        return "<p class='none'>No model version registered yet.</p>"
    items = []
    for v in maintain.get("history") or []:
        score = v.get("ndcg@10")
        what = f"{html.escape(str(v.get('version')))} ({html.escape(str(v.get('created', ''))[:10])}"
        what += f", nDCG@10 {number(score)})" if score is not None else ")"
        items.append(f"<b>{what}</b>" if v.get("current") else what)
    advice = maintain.get("recommendation") or {}
    line = f"Current version <b>{html.escape(str(maintain.get('current') or MISSING))}</b>"
    line += f" · history: {' → '.join(items)}" if items else ""
    if advice.get("action"):
        reason = (advice.get("reasons") or [""])[0]
        line += f"<br>Maintenance: <b>{html.escape(str(advice['action']))}</b> — {html.escape(str(reason))}"
    return f"<p>{line}</p>"


def _links(paths: DomainPaths) -> str:
    folder = html.escape(quote(paths.domain))
    links = [
        f'<a href="{folder}/{name}.html">{name}</a>' for stage, name in NOTEBOOKS.items() if paths.html(stage).exists()
    ]
    links += [
        f'<a class="failed" href="{folder}/{name}.failed.html">{name} failed</a>'
        for stage, name in NOTEBOOKS.items()
        if paths.failed_html(stage).exists()
    ]
    return f"<p class='links'>Reports: {' '.join(links) or '<span class=none>none yet</span>'}</p>"


def _last_run(paths: DomainPaths) -> str:
    times = []
    for path in paths.metrics_dir.glob("*.json"):
        try:
            times.append(str(json.loads(path.read_text(encoding="utf-8")).get("written", "")))
        except (OSError, ValueError, AttributeError):
            continue
    return max(times, default="").replace("T", " ").replace("+00:00", " UTC")


def _domain_section(paths: DomainPaths) -> str:
    recommendation, synthetic = _recommendation(paths)
    return (
        f"<section class='domain'><h2>{html.escape(paths.domain)}</h2>"
        f"<p class='meta'>last run {html.escape(_last_run(paths)) or MISSING}</p>"
        f"{recommendation}{_steps_table(paths, synthetic)}{_versions(paths)}{_links(paths)}</section>"
    )


def _safe(name: str) -> bool:
    try:
        check_domain(name)
    except UnsafePath:
        return False
    return True


def write_index(outputs_dir: str | Path) -> Path:
    """Rewrite ``outputs/index.html``: one section per domain (see the module docstring), atomically."""
    root = Path(outputs_dir)
    domains = (
        sorted(p.name for p in root.iterdir() if (p / "metrics").is_dir() and _safe(p.name)) if root.is_dir() else []
    )
    sections = "\n".join(_domain_section(DomainPaths(root, d)) for d in domains)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Embedding fine-tuning reports</title><style>{STYLE}</style></head>
<body><h1>Embedding fine-tuning reports</h1>
<p class="lead">Does fine-tuning the embedding model pay off for each domain? Generic → fine-tuned → hybrid retrieval on
held-out queries, with 95 % bootstrap intervals (the bar: the interval on a 0–1 scale, the dot: the score).
Updated {when}.</p>
{sections or "<p class='none'>No domain has run yet: <code>python -m nbutils run DOMAIN --params FILE</code>.</p>"}
</body></html>
"""
    path = root / "index.html"
    atomic_write_text(path, page)
    return path
