"""Manual gold labels: an append-only gold file and an ipywidgets panel to fill it.

The panel shows a passage with a candidate question (generated, or typed); the user accepts (after
editing, if needed) or rejects it. It also searches the corpus with BM25 for a typed question and lets
the user tick the relevant passages. Every accepted label is appended to the gold file at once, as one
line written in a single call and flushed to disk, so nothing is lost if the kernel dies.
"""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path

from ..config import Params
from ..pairs import Pair, load_pairs, normalize_query
from ..paths import DomainPaths, append_line, atomic_write_text
from ..report import read_metrics
from ..workspace import bm25_index, load_workspace

__all__ = ["GoldFile", "LabelingPanel", "gold_target", "open_panel", "progress", "write_label_notebook"]


def gold_target(params: Params, paths: DomainPaths) -> Path:
    """The file new labels go to: the domain's ``gold_file`` when set, else ``work/gold_labels.jsonl``."""
    return Path(params.gold_file) if params.gold_file else paths.labels


def open_panel(params: Params, paths: DomainPaths, limit: int = 200) -> LabelingPanel:
    """The labeling panel for a prepared domain: its corpus, BM25 search, and the synthetic training
    questions of the synthesize stage (when it has run) as candidates to accept, edit or reject.

    Labels go to :func:`gold_target`; the next run's decide stage reads them.

    Raises:
        FileNotFoundError: when the decide stage has not prepared the domain yet, saying what to run.
    """

    ws = load_workspace(paths)
    candidates = load_pairs(paths.pairs, ["synthetic"])[:limit] if paths.pairs.exists() else []
    return LabelingPanel(
        ws.corpus, GoldFile(gold_target(params, paths)), candidates, bm25_index(ws, params.bm25_backend)
    )


LABEL_NOTEBOOK = Path(__file__).resolve().parent.parent.parent / "notebooks" / "label.ipynb"


def write_label_notebook(params: Params, paths: DomainPaths, template: str | Path = LABEL_NOTEBOOK) -> Path:
    """Write ``<domain>/label.ipynb``: the labeling notebook with the domain's params injected, not executed.

    Raises:
        FileNotFoundError: when the decide stage has not prepared the domain, saying what to run.
    """
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    if not paths.splits.exists():
        raise FileNotFoundError(
            f"domain {paths.domain!r} is not prepared yet: run `python -m nbutils run {paths.domain} --stages decide`"
        )
    nb = parameterize_notebook(load_notebook_node(str(template)), params.stage_values("synthesize"))
    out = paths.root / "label.ipynb"
    atomic_write_text(out, nbformat.writes(nb))
    return out


def progress(params: Params, paths: DomainPaths) -> str:
    """How many labelled questions the domain has and how many the decide stage last asked for (Markdown)."""

    rows = GoldFile(gold_target(params, paths)).rows()
    plan = (read_metrics(paths, "decide") or {}).get("test_plan") or {}
    asked = plan.get("labels_to_add")
    head = f"**{len({r.get('id') for r in rows}):,}** questions labelled in `{gold_target(params, paths).name}`"
    tail = f"; the last decide run asked for about {asked:,} more." if asked else "."
    return head + tail + " Run `python -m nbutils run DOMAIN` again and the decide stage uses them."


class GoldFile:
    """An append-only JSONL file of gold pairs (``id``, ``query``, ``positives``, ``source``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def append(self, query: str, positives: list[str], source: str = "manual") -> dict:
        """Append one labelled query; returns the row written.

        Raises:
            ValueError: for an empty query or no positive passage.
        """
        query = " ".join(query.split())
        if not query:
            raise ValueError("the question is empty")
        if not positives:
            raise ValueError("mark at least one relevant passage")
        qid = "label-" + hashlib.sha1(normalize_query(query).encode()).hexdigest()[:10]
        row = {"id": qid, "query": query, "positives": list(positives), "source": source}
        append_line(self.path, json.dumps(row, ensure_ascii=False))
        return row

    def rows(self) -> list[dict]:
        """Rows written so far (a torn last line is ignored)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


class LabelingPanel:
    """Review candidate questions and search-and-mark relevant passages; headless-testable.

    Args:
        corpus: passages by id.
        gold: where accepted labels go.
        candidates: (question, passage) pairs to review, e.g. generated ones.
        bm25: a :class:`~nbutils.retrieval.BM25Index` for the search box (optional).
        k: search results shown.

    Use ``panel.widget`` to display it. Buttons: ``accept``, ``reject``, ``search_button``, ``save_marked``.
    """

    def __init__(self, corpus: dict, gold: GoldFile, candidates: list[Pair] | None = None, bm25=None, k: int = 5):
        import ipywidgets as w

        self.corpus, self.gold, self.bm25, self.k = corpus, gold, bm25, k
        self.candidates = list(candidates or [])
        self.position = 0
        self.accepted = self.rejected = 0
        self.passage = w.HTML()
        self.question = w.Text(description="Question", layout=w.Layout(width="95%"))
        self.accept = w.Button(description="Accept", button_style="success")
        self.reject = w.Button(description="Reject", button_style="warning")
        self.status = w.HTML()
        self.search_box = w.Text(description="Search", placeholder="type a question", layout=w.Layout(width="80%"))
        self.search_button = w.Button(description="Search")
        self.results = w.VBox()
        self.marks: list[tuple[str, w.Checkbox]] = []
        self.save_marked = w.Button(description="Save marked passages", button_style="success")
        self.accept.on_click(lambda _: self._accept())
        self.reject.on_click(lambda _: self._reject())
        self.search_button.on_click(lambda _: self._search())
        self.save_marked.on_click(lambda _: self._save_marked())
        review = w.VBox(
            [w.HTML("<b>Review candidates</b>"), self.passage, self.question, w.HBox([self.accept, self.reject])]
        )
        search = w.VBox(
            [
                w.HTML("<b>Search and mark</b>"),
                w.HBox([self.search_box, self.search_button]),
                self.results,
                self.save_marked,
            ]
        )
        self.widget = w.VBox([review, search, self.status])
        self._show()

    @property
    def current(self) -> Pair | None:
        return self.candidates[self.position] if self.position < len(self.candidates) else None

    def _show(self) -> None:
        pair = self.current
        if pair is None:
            self.passage.value = "<i>No more candidates.</i>"
            self.question.value = ""
        else:
            text = html.escape(self.corpus[pair.positive].full_text())
            self.passage.value = (
                f"<code>{html.escape(pair.positive)}</code><br><pre style='white-space:pre-wrap'>{text}</pre>"
            )
            self.question.value = pair.query
        self.status.value = (
            f"{self.position}/{len(self.candidates)} reviewed · {self.accepted} accepted · "
            f"{self.rejected} rejected · labels in <code>{html.escape(str(self.gold.path))}</code>"
        )

    def _accept(self) -> None:
        pair = self.current
        if pair is None:
            return
        try:
            self.gold.append(self.question.value, [pair.positive])
        except ValueError as e:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(e))}</span>"
            return
        self.accepted += 1
        self.position += 1
        self._show()

    def _reject(self) -> None:
        if self.current is None:
            return
        self.rejected += 1
        self.position += 1
        self._show()

    def _search(self) -> None:
        import ipywidgets as w

        if self.bm25 is None or not self.search_box.value.strip():
            return
        hits = self.bm25.search({"q": self.search_box.value}, k=self.k)["q"]
        self.marks = []
        for pid in hits:
            snippet = self.corpus[pid].full_text().replace("\n", " ")[:160]
            self.marks.append(
                (pid, w.Checkbox(description=f"{pid}: {snippet}", indent=False, layout=w.Layout(width="95%")))
            )
        self.results.children = [box for _, box in self.marks]

    def _save_marked(self) -> None:
        chosen = [pid for pid, box in self.marks if box.value]
        try:
            self.gold.append(self.search_box.value, chosen, source="manual-search")
        except ValueError as e:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(e))}</span>"
            return
        self.accepted += 1
        for _, box in self.marks:
            box.value = False
        self._show()
