"""Query explorer: type a query and compare what base, fine-tuned and hybrid retrieval return, side by side.

The rankings come from :func:`nbutils.evaluation.system_runs`, the same code that scores the systems
in the evaluate report, so what the explorer shows is what was measured.
"""

from __future__ import annotations

import html

from ..retrieval import BM25Index, DenseIndex
from .compare import system_runs, tuned_hybrid

__all__ = ["QueryExplorer"]

COLUMNS = ("base", "fine-tuned", "hybrid")


class QueryExplorer:
    """A text box, a search button and one result column per system (ipywidgets).

    ``explorer.widget`` displays it. Typing a query and pressing Enter, or clicking ``search``, fills
    ``results`` (column → passage ids, best first) and ``columns`` (column → ``HTML`` widget listing
    each id with the start of its passage).

    Args:
        base: (model, index) of the base model.
        tuned: (model, index) of the fine-tuned model.
        bm25: BM25 index of the same corpus.
        corpus: passages by id.
        fusion_weight: BM25 weight of the weighted hybrid tuned on dev; ``None`` shows the RRF hybrid.
        top: results shown per system.
        depth: results each system retrieves before fusion (as in the evaluation).
        width: characters of each passage shown.
    """

    def __init__(
        self,
        base: tuple[object, DenseIndex],
        tuned: tuple[object, DenseIndex],
        bm25: BM25Index,
        corpus: dict,
        fusion_weight: float | None = None,
        top: int = 5,
        depth: int = 100,
        width: int = 160,
    ):
        import ipywidgets as w

        if top < 1 or depth < top:
            raise ValueError(f"need 1 <= top <= depth, got top={top}, depth={depth}")
        self.base, self.tuned, self.bm25, self.corpus = base, tuned, bm25, corpus
        self.fusion_weight, self.top, self.depth, self.width = fusion_weight, top, depth, width
        self.text = w.Text(placeholder="Type a query and press Enter", continuous_update=False)
        self.search = w.Button(description="Search", icon="search")
        self.status = w.HTML()
        self.columns = {name: w.HTML() for name in COLUMNS}
        self.results: dict[str, list[str]] = {name: [] for name in COLUMNS}
        self.text.observe(lambda _: self.run(), names="value")
        self.search.on_click(lambda _: self.run())
        boxes = [w.Box([c], layout=w.Layout(width=f"{100 / len(COLUMNS):.0f}%")) for c in self.columns.values()]
        self.widget = w.VBox([w.HBox([self.text, self.search]), self.status, w.HBox(boxes)])

    def rank(self, query: str) -> dict[str, tuple[str, list[str]]]:
        """Top passage ids per column for ``query``, with the name of the system behind each column."""

        runs = system_runs(
            {"q": query}, self.base, self.tuned, self.bm25, k=self.depth, fusion_weight=self.fusion_weight
        )
        systems = {"base": "base", "fine-tuned": "fine-tuned", "hybrid": tuned_hybrid(runs)}
        out = {}
        for column, system in systems.items():
            ranked = sorted(runs[system].get("q", {}).items(), key=lambda kv: -kv[1])
            out[column] = (system, [pid for pid, _ in ranked[: self.top]])
        return out

    def run(self) -> None:
        """Search for the text box's query and render the columns (an empty query clears them)."""
        query = self.text.value.strip()
        if not query:
            self.status.value = "<i>Type a query.</i>"
            self.results = {name: [] for name in COLUMNS}
            for c in self.columns.values():
                c.value = ""
            return
        self.status.value = f"Top {self.top} for <b>{html.escape(query)}</b>"
        for column, (system, ids) in self.rank(query).items():
            self.results[column] = ids
            self.columns[column].value = self._render(system, ids)

    def _render(self, system: str, ids: list[str]) -> str:
        items = "".join(f"<li><code>{html.escape(pid)}</code><br>{self._snippet(pid)}</li>" for pid in ids)
        return f"<b>{html.escape(system)}</b><ol>{items or '<i>no result</i>'}</ol>"

    def _snippet(self, pid: str) -> str:
        text = self.corpus[pid].full_text().replace("\n", " ")
        return html.escape(text[: self.width] + ("…" if len(text) > self.width else ""))
