"""Manual curation of mined negatives: flag a negative that is in fact relevant to its query.

Flags are appended to ``work/negative_flags.jsonl`` at once (one line, one write, flushed), are
removed from training by :func:`apply_flags`, and count as known positives the next time negatives
are mined.
"""

from __future__ import annotations

import html

from ..pairs import FlagFile, Triple, normalize_query

__all__ = ["CurationPanel"]


class CurationPanel:
    """Page through queries with their positive and mined negatives; flag negatives that are relevant.

    ``panel.widget`` displays it; ``prev``/``next`` page; each negative has a ``ToggleButton`` in
    ``panel.toggles`` (passage id → button) that saves a flag when switched on.
    """

    def __init__(self, triples: list[Triple], corpus: dict, flags: FlagFile, width: int = 400):
        import ipywidgets as w

        self.corpus, self.flags, self.width = corpus, flags, width
        self.groups: list[tuple[str, str, list[Triple]]] = []
        index: dict[tuple[str, str], list[Triple]] = {}
        for t in triples:
            if t.negative:
                index.setdefault((t.query, t.positive), []).append(t)
        self.groups = [(q, p, ts) for (q, p), ts in index.items()]
        self.page = 0
        self.header = w.HTML()
        self.body = w.VBox()
        self.prev = w.Button(description="◀ Previous")
        self.next = w.Button(description="Next ▶")
        self.prev.on_click(lambda _: self._go(-1))
        self.next.on_click(lambda _: self._go(1))
        self.toggles: dict[str, object] = {}
        self.widget = w.VBox([self.header, self.body, w.HBox([self.prev, self.next])])
        self._show()

    def _snippet(self, pid: str) -> str:
        return html.escape(self.corpus[pid].full_text().replace("\n", " ")[: self.width])

    def _go(self, step: int) -> None:
        self.page = max(0, min(len(self.groups) - 1, self.page + step))
        self._show()

    def _flag(self, query: str, passage: str, change) -> None:
        if change["new"]:
            self.flags.add(query, passage)

    def _show(self) -> None:
        import ipywidgets as w

        if not self.groups:
            self.header.value = "<i>No mined negatives to review.</i>"
            return
        query, positive, negs = self.groups[self.page]
        flagged = self.flags.pairs()
        self.header.value = (
            f"<b>{self.page + 1}/{len(self.groups)}</b> · query: <b>{html.escape(query)}</b><br>"
            f"positive <code>{html.escape(positive)}</code>: {self._snippet(positive)}"
        )
        rows, self.toggles = [], {}
        for t in negs:
            on = (normalize_query(query), t.negative) in flagged
            button = w.ToggleButton(value=on, description="relevant", icon="flag", disabled=on)
            button.observe(lambda ch, q=query, p=t.negative: self._flag(q, p, ch), names="value")
            self.toggles[t.negative] = button
            where = f"<code>{html.escape(t.negative)}</code> ({t.neg_source}, rank {t.neg_rank})"
            label = w.HTML(f"{where}: {self._snippet(t.negative)}")
            rows.append(w.HBox([button, label]))
        self.body.children = rows
