"""Manual curation of mined negatives: flag a negative that is in fact relevant to its query.

Flags are appended to ``work/negative_flags.jsonl`` at once (one line, one write, flushed); switching a
flag off appends an unflag line (the file stays append-only, the last line for a pair decides). Flagged
negatives are removed from training by :func:`apply_flags` and count as known positives the next time
negatives are mined.
"""

from __future__ import annotations

import html
from pathlib import Path

from ..pairs import FlagFile, Triple, normalize_query
from ..tables import shorten

__all__ = ["CurationPanel"]

# The HTML widget's content gets a line height of a whole widget row (28 px), which makes wrapped text
# look double-spaced; every block of text sets its own.
TEXT_STYLE = "line-height:1.35;margin:0"
SNIPPET_STYLE = f"{TEXT_STYLE};max-height:6.75em;overflow:auto;overflow-wrap:anywhere;white-space:normal"
FLAG_OFF = "Flag as relevant"
FLAG_ON = "Flagged · undo"
BUTTON_WIDTH = "11em"


class CurationPanel:
    """Page through queries with their positive and mined negatives; flag negatives that are relevant.

    ``panel.widget`` displays it; ``prev``/``next`` page; each negative on the page has a ``ToggleButton``
    in ``panel.toggles`` (passage id → button): switching it on saves a flag, switching it off saves an
    unflag. ``panel.count`` (``HTML``) says how many negatives are flagged and in which file. The
    buttons show the flags on disk, so a new panel on the same file (after a kernel restart) shows them.

    Stable CSS classes: ``nb-curation`` (the panel), ``nb-curation-header``, ``nb-curation-row`` (one
    negative), ``nb-curation-flag`` (its button), ``nb-curation-count``, ``nb-curation-prev``/``-next``.

    Args:
        triples: mined triples; those with a negative are grouped per (query, positive).
        corpus: passages by id.
        flags: the flag file.
        width: characters of each passage shown, in a box that scrolls past about four lines; a longer
            passage ends in "…".
    """

    def __init__(self, triples: list[Triple], corpus: dict, flags: FlagFile, width: int = 2000):
        import ipywidgets as w

        self.corpus, self.flags, self.width = corpus, flags, width
        index: dict[tuple[str, str], list[Triple]] = {}
        for t in triples:
            if t.negative:
                index.setdefault((t.query, t.positive), []).append(t)
        self.groups: list[tuple[str, str, list[Triple]]] = [(q, p, ts) for (q, p), ts in index.items()]
        self.page = 0
        self.header = w.HTML()
        self.body = w.VBox()
        self.count = w.HTML()
        self.prev = w.Button(description="◀ Previous", layout=w.Layout(width="auto"))
        self.next = w.Button(description="Next ▶", layout=w.Layout(width="auto"))
        self.prev.on_click(lambda _: self._go(-1))
        self.next.on_click(lambda _: self._go(1))
        self.toggles: dict[str, object] = {}
        self._reverting = False
        self.widget = w.VBox([self.header, self.body, w.HBox([self.prev, self.next]), self.count])
        for widget, name in [(self.widget, ""), (self.header, "-header"), (self.count, "-count"),
                             (self.prev, "-prev"), (self.next, "-next")]:  # fmt: skip
            widget.add_class(f"nb-curation{name}")
        self._show()

    def _snippet(self, pid: str) -> str:
        """The passage's text (cut at ``width`` with "…") in a compact box that scrolls when long."""
        cut = shorten(self.corpus[pid].full_text(), self.width)
        return f'<div class="nb-snippet" style="{SNIPPET_STYLE}">{html.escape(cut)}</div>'

    def _go(self, step: int) -> None:
        self.page = max(0, min(len(self.groups) - 1, self.page + step))
        self._show()

    def _where(self) -> str:
        """The flag file as ``folder/name`` (``work/negative_flags.jsonl``), not a whole path."""
        path = self.flags.path
        return Path(path.parent.name, path.name).as_posix() if path.parent.name else path.name

    def _update_count(self, error: str = "") -> None:
        n = len(self.flags.pairs())
        where = html.escape(self._where())
        line = f"{n} negative{'' if n == 1 else 's'} flagged as relevant · saved to <code>{where}</code>"
        if error:
            line += f' · <span style="color:#b00">could not save: {html.escape(error)}</span>'
        self.count.value = f'<div style="{TEXT_STYLE}">{line}</div>'

    @staticmethod
    def _look(button) -> None:
        """Label, icon and colour of a flag button for its state."""
        on = bool(button.value)
        button.description = FLAG_ON if on else FLAG_OFF
        button.icon = "undo" if on else "flag"
        button.button_style = "warning" if on else ""
        button.tooltip = "Take the flag back" if on else "This negative is relevant: drop it from training"

    def _toggle(self, query: str, passage: str, button, change) -> None:
        """Save a flag (switched on) or an unflag (switched off); on a failed write, switch back."""
        if self._reverting:
            return
        try:
            (self.flags.add if change["new"] else self.flags.remove)(query, passage)
        except OSError as e:
            self._reverting = True
            try:
                button.value = change["old"]
            finally:
                self._reverting = False
            self._update_count(str(e))
            return
        self._look(button)
        self._update_count()

    def _row(self, query: str, t: Triple, on: bool):
        import ipywidgets as w

        button = w.ToggleButton(value=on, layout=w.Layout(width=BUTTON_WIDTH, flex="0 0 auto"))
        button.add_class("nb-curation-flag")
        self._look(button)
        button.observe(lambda ch, b=button, p=t.negative: self._toggle(query, p, b, ch), names="value")
        self.toggles[t.negative] = button
        where = f"<code>{html.escape(t.negative)}</code> ({html.escape(str(t.neg_source))}, rank {t.neg_rank})"
        label = w.HTML(
            f'<div style="{TEXT_STYLE}">{where}</div>{self._snippet(t.negative)}',
            layout=w.Layout(flex="1 1 auto", min_width="0"),
        )
        row = w.HBox([button, label], layout=w.Layout(align_items="flex-start"))
        row.add_class("nb-curation-row")
        return row

    def _show(self) -> None:
        self._update_count()
        if not self.groups:
            self.header.value = "<i>No mined negatives to review.</i>"
            return
        query, positive, negs = self.groups[self.page]
        flagged = self.flags.pairs()
        self.header.value = (
            f'<div style="{TEXT_STYLE}"><b>{self.page + 1}/{len(self.groups)}</b> · query: '
            f"<b>{html.escape(query)}</b><br>positive <code>{html.escape(positive)}</code>:</div>"
            f"{self._snippet(positive)}"
        )
        self.toggles = {}
        self.body.children = [self._row(query, t, (normalize_query(query), t.negative) in flagged) for t in negs]
