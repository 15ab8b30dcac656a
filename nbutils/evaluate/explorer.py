"""Query explorer: type a query and compare what base, fine-tuned and hybrid retrieval return, side by side.

The rankings and scores come from :func:`nbutils.evaluation.system_runs`, the same code that scores the
systems in the evaluate report, so what the explorer shows is what was measured.
"""

from __future__ import annotations

import html

from ..retrieval import BM25Index, DenseIndex
from ..tables import shorten
from .compare import system_runs, tuned_hybrid

__all__ = ["QueryExplorer"]

COLUMNS = ("base", "fine-tuned", "hybrid")
# The HTML widget's content gets a line height of a whole widget row (28 px); every block sets its own.
COLUMN_STYLE = "line-height:1.35;margin:0;font-size:12px"
HIT_STYLE = "margin:0 0 3px 0;padding-left:4px;border-left:3px solid {color}"
SNIPPET_STYLE = (
    "font-size:11px;line-height:1.3;color:#555;overflow:hidden;max-height:2.6em;"
    "display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow-wrap:anywhere"
)
BADGES = {
    "new": ("new", "#1a7f37", "#e6f4ea"),  # in this column's top k, not in base's
    "dropped": ("dropped", "#777", "#eee"),  # in base's top k, not in fine-tuned's
}
TITLE_CHARS = 2000  # characters of a passage in its hover text


def _badge(kind: str) -> str:
    label, color, background = BADGES[kind]
    return (
        f'<span class="nb-explorer-badge nb-explorer-{kind}" style="font-size:10px;padding:0 4px;'
        f'border-radius:3px;color:{color};background:{background};border:1px solid {color}">{label}</span>'
    )


class QueryExplorer:
    """A text box, a search button and one result column per system, side by side (ipywidgets).

    ``explorer.widget`` displays it. Typing a query and pressing Enter in ``text``, or clicking
    ``search``, fills ``results`` (column → passage ids, best first), ``scores`` (column → passage id →
    the system's score in its run) and ``columns`` (column → ``HTML`` widget: one compact entry per hit
    with rank, id, score to 3 decimals and the start of its passage; the whole passage shows on hover).
    Passages in the fine-tuned or hybrid top ``top`` but not in base's are badged "new"; passages in base's
    top ``top`` that the fine-tuned model does not return there are badged "dropped" in the base column
    (also as :attr:`differences`). ``legend`` explains the badges.

    Stable CSS classes: ``nb-explorer`` (the panel), ``nb-explorer-input``, ``nb-explorer-search``,
    ``nb-explorer-status``, ``nb-explorer-legend``, ``nb-explorer-column`` (each column's widget); inside a
    column each hit is a ``div.nb-explorer-hit`` with ``data-pid``, ``data-rank`` and ``data-score``, and
    badges are ``span.nb-explorer-new`` / ``span.nb-explorer-dropped``.

    Args:
        base: (model, index) of the base model.
        tuned: (model, index) of the fine-tuned model.
        bm25: BM25 index of the same corpus.
        corpus: passages by id.
        fusion_weight: BM25 weight of the weighted hybrid tuned on dev; ``None`` shows the RRF hybrid.
        top: results shown per system.
        depth: results each system retrieves before fusion (as in the evaluation).
        width: characters of each passage shown in its entry (ending in "…" when cut).
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
        width: int = 120,
    ):
        import ipywidgets as w

        if top < 1 or depth < top:
            raise ValueError(f"need 1 <= top <= depth, got top={top}, depth={depth}")
        self.base, self.tuned, self.bm25, self.corpus = base, tuned, bm25, corpus
        self.fusion_weight, self.top, self.depth, self.width = fusion_weight, top, depth, width
        self.text = w.Text(
            placeholder="Type a query and press Enter",
            continuous_update=False,
            layout=w.Layout(width="60%", min_width="16em"),
        )
        self.search = w.Button(description="Search", icon="search", layout=w.Layout(width="auto"))
        self.status = w.HTML()
        self.legend = w.HTML()
        self.columns = {name: w.HTML(layout=w.Layout(width="100%", min_width="0")) for name in COLUMNS}
        self.results: dict[str, list[str]] = {name: [] for name in COLUMNS}
        self.scores: dict[str, dict[str, float]] = {name: {} for name in COLUMNS}
        self.text.observe(lambda _: self.run(), names="value")
        self.search.on_click(lambda _: self.run())
        boxes = [w.Box([c], layout=w.Layout(width=f"{100 / len(COLUMNS):.0f}%")) for c in self.columns.values()]
        self.widget = w.VBox([w.HBox([self.text, self.search]), self.status, w.HBox(boxes), self.legend])
        for widget, name in [(self.widget, ""), (self.text, "-input"), (self.search, "-search"),
                             (self.status, "-status"), (self.legend, "-legend")]:  # fmt: skip
            widget.add_class(f"nb-explorer{name}")
        for column in self.columns.values():
            column.add_class("nb-explorer-column")

    def hits(self, query: str) -> dict[str, tuple[str, list[tuple[str, float]]]]:
        """Top (passage id, score) per column for ``query``, best first, with the system behind each column."""
        runs = system_runs(
            {"q": query}, self.base, self.tuned, self.bm25, k=self.depth, fusion_weight=self.fusion_weight
        )
        systems = {"base": "base", "fine-tuned": "fine-tuned", "hybrid": tuned_hybrid(runs)}
        out = {}
        for column, system in systems.items():
            ranked = sorted(runs[system].get("q", {}).items(), key=lambda kv: -kv[1])
            out[column] = (system, [(pid, float(score)) for pid, score in ranked[: self.top]])
        return out

    def rank(self, query: str) -> dict[str, tuple[str, list[str]]]:
        """Top passage ids per column for ``query``, with the name of the system behind each column."""
        return {column: (system, [pid for pid, _ in hits]) for column, (system, hits) in self.hits(query).items()}

    @property
    def differences(self) -> dict[str, set[str]]:
        """Where the last search's top lists differ: ``only_base`` (dropped by the fine-tuned model),
        ``only_fine_tuned`` and ``only_hybrid`` (new compared with base)."""
        base = set(self.results["base"])
        return {
            "only_base": base - set(self.results["fine-tuned"]),
            "only_fine_tuned": set(self.results["fine-tuned"]) - base,
            "only_hybrid": set(self.results["hybrid"]) - base,
        }

    def run(self) -> None:
        """Search for the text box's query and render the columns (an empty query clears them)."""
        query = self.text.value.strip()
        if not query:
            self.status.value = "<i>Type a query.</i>"
            self.results = {name: [] for name in COLUMNS}
            self.scores = {name: {} for name in COLUMNS}
            self.legend.value = ""
            for c in self.columns.values():
                c.value = ""
            return
        self.status.value = f"Top {self.top} for <b>{html.escape(query)}</b>"
        found = self.hits(query)
        self.results = {column: [pid for pid, _ in hits] for column, (_, hits) in found.items()}
        self.scores = {column: dict(hits) for column, (_, hits) in found.items()}
        differences = self.differences
        marks = {
            "base": dict.fromkeys(differences["only_base"], "dropped"),
            "fine-tuned": dict.fromkeys(differences["only_fine_tuned"], "new"),
            "hybrid": dict.fromkeys(differences["only_hybrid"], "new"),
        }
        for column, (system, hits) in found.items():
            self.columns[column].value = self._render(system, hits, marks[column])
        self.legend.value = (
            f'<div style="{COLUMN_STYLE};color:#555">{_badge("new")} not in base\'s top {self.top} · '
            f"{_badge('dropped')} in base's top {self.top}, not in fine-tuned's · "
            "hover a hit for its whole passage</div>"
        )

    def _render(self, system: str, hits: list[tuple[str, float]], marks: dict[str, str]) -> str:
        items = "".join(self._hit(rank, pid, score, marks.get(pid)) for rank, (pid, score) in enumerate(hits, 1))
        return f'<div style="{COLUMN_STYLE}"><b>{html.escape(system)}</b>{items or "<div><i>no result</i></div>"}</div>'

    def _hit(self, rank: int, pid: str, score: float, mark: str | None) -> str:
        text = " ".join(self.corpus[pid].full_text().split())
        snippet, title = shorten(text, self.width), shorten(text, TITLE_CHARS)
        color = {"new": BADGES["new"][1], "dropped": "#bbb"}.get(mark or "", "transparent")
        ident = f"<code>{html.escape(pid)}</code>"
        if mark == "dropped":
            ident = f'<s style="color:#888">{ident}</s>'
        classes = "nb-explorer-hit" + (f" nb-explorer-hit-{mark}" if mark else "")
        return (
            f'<div class="{classes}" data-pid="{html.escape(pid)}" data-rank="{rank}" data-score="{score:.3f}" '
            f'title="{html.escape(title)}" style="{HIT_STYLE.format(color=color)}">'
            f'{rank}. {ident} <span class="nb-explorer-score">{score:.3f}</span> {_badge(mark) if mark else ""}'
            f'<div style="{SNIPPET_STYLE}">{html.escape(snippet)}</div></div>'
        )
