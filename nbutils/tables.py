"""How a report shows tables: formatted for reading, the same in Jupyter and in the exported HTML.

:func:`nbutils.report.setup` (the first cell of every notebook) makes every pandas ``DataFrame`` display
through :func:`table_html`: text left-aligned and never cut, numbers right-aligned and rounded, ``—`` for a missing
value, *none* for a table without rows, dicts and lists written as ``key: value`` rather than Python
syntax.
"""

from __future__ import annotations

import html
import math
import numbers
from typing import Any

__all__ = ["MISSING", "cell_text", "number", "shorten", "table_html"]

MISSING = "—"
EMPTY = "<p class='nb-empty'><i>none</i></p>"
STYLE = (
    "<style>.nb-table{border-collapse:collapse;margin:0.4em 0;font-size:0.92em}"
    ".nb-table th,.nb-table td{padding:3px 10px;border-bottom:1px solid #e3e3e3;vertical-align:top}"
    ".nb-table th{background:#f5f5f5;text-align:left}.nb-table td.num,.nb-table th.num{text-align:right;"
    "font-variant-numeric:tabular-nums;white-space:nowrap}.nb-table td.text{text-align:left;max-width:48em;"
    "white-space:normal}</style>"
)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters, with "…" only when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


def number(value: Any) -> str:
    """A number written for reading: thousands separated, at most three decimals, small values in
    scientific notation, ``—`` for NaN or ``None``."""
    if value is None or isinstance(value, bool):
        return MISSING if value is None else str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    x = float(value)
    if not math.isfinite(x):
        return MISSING if math.isnan(x) else str(x)
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.1f}"
    if abs(x) >= 0.001:
        return f"{x:.3f}"
    return f"{x:.1e}"


def cell_text(value: Any) -> str:
    """One table cell as text: numbers by :func:`number`, dicts as ``key: value · …``, lists joined."""
    if value is None:
        return MISSING
    if isinstance(value, (numbers.Number, bool)) and not isinstance(value, complex):
        return number(value)
    if isinstance(value, dict):
        return " · ".join(f"{k}: {cell_text(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, (list, tuple, set)):
        return ", ".join(cell_text(v) for v in value) or MISSING
    text = str(value)
    return text if text.strip() and text not in ("nan", "NaN", "None") else MISSING


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if cell_text(v) != MISSING]
    return bool(present) and all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in present)


def _cell(tag: str, text: str, numeric: bool) -> str:
    """One cell, aligned inline (inline styles win over any page's table CSS, Jupyter's included)."""
    klass, align = ("num", "right") if numeric else ("text", "left")
    return f"<{tag} class='{klass}' style='text-align:{align}'>{html.escape(text)}</{tag}>"


def table_html(df) -> str:
    """A pandas ``DataFrame`` as an HTML table for reading (see the module docstring); *none* when empty."""
    if len(df.index) == 0:
        return EMPTY
    columns = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in df.columns]
    show_index = not _plain_index(df.index)
    rows = [list(r) for r in df.itertuples(index=False, name=None)]
    numeric = [_numeric([r[i] for r in rows]) for i in range(len(columns))]
    head = _cell("th", str(df.index.name or ""), False) if show_index else ""
    head += "".join(_cell("th", c, n) for c, n in zip(columns, numeric, strict=True))
    body = []
    for label, row in zip(df.index, rows, strict=True):
        cells = _cell("th", cell_text(label), False) if show_index else ""
        cells += "".join(_cell("td", cell_text(value), n) for value, n in zip(row, numeric, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return f"{STYLE}<table class='nb-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _plain_index(index) -> bool:
    """Whether ``index`` is 0, 1, 2 … with no name: nothing a reader needs to see."""
    return index.name is None and list(index) == list(range(len(index)))
