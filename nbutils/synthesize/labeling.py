"""Manual gold labels: a gold file with one row per question and an ipywidgets panel to fill it.

The panel shows a passage with a candidate question (generated, or typed); the user accepts (after
editing, if needed) or rejects it. It also searches the corpus with BM25 for a typed question and lets
the user tick the relevant passages. Every accepted label is saved to the gold file at once, so nothing
is lost if the kernel dies: a new question is appended as one line written in a single call and flushed
to disk; a question saved again (same normalised text, so the same ``label-…`` id) has its new passages
merged into its existing row, and the file is rewritten atomically (a temporary file renamed over it).
Every other line of the file, including rows of other ids written by hand, is kept as it was.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from ..config import Params
from ..pairs import Pair, load_pairs, normalize_query
from ..paths import DomainPaths, append_line, atomic_write_text
from ..report import read_metrics
from ..tables import shorten
from ..workspace import bm25_index, load_workspace

try:
    import fcntl
except ImportError:  # Windows: saves are not serialised between processes
    fcntl = None

__all__ = [
    "GoldFile",
    "LabelingPanel",
    "Saved",
    "gold_target",
    "label_id",
    "open_panel",
    "progress",
    "write_label_notebook",
]


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


class Saved(NamedTuple):
    """What :meth:`GoldFile.save` did.

    Attributes:
        row: the question's row as it now stands in the gold file.
        action: ``"added"`` (a new question, appended), ``"merged"`` (new passages added to the question's
            existing row) or ``"unchanged"`` (the row already had every passage).
        new: the passages this save added, in the order given.
    """

    row: dict
    action: str
    new: list[str]


def label_id(query: str) -> str:
    """The id of a labelled question: ``label-`` and the start of the SHA-1 of its normalised text."""
    return "label-" + hashlib.sha1(normalize_query(query).encode()).hexdigest()[:10]


def _parse(line: str) -> dict | None:
    """A gold file line as a JSON object, or ``None`` (blank, torn or not an object)."""
    try:
        obj = json.loads(line.lstrip("\ufeff").rstrip("\r"))
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _positives(row: dict) -> list[str]:
    """A row's passages, read as the loader reads them (``positives``, else ``doc_id``)."""
    raw = row.get("positives", row.get("doc_id"))
    return [raw] if isinstance(raw, str) else [str(p) for p in raw or []]


class GoldFile:
    """A JSONL file of gold pairs (``id``, ``query``, ``positives``, ``source``), one row per question id.

    New questions are appended; a question saved again is merged into its row by an atomic rewrite that
    keeps every other line as it was. Saves by several panels on one file are serialised by an ``flock``
    on ``.<name>.lock`` beside it (where the platform has ``flock``).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def append(self, query: str, positives: list[str], source: str = "manual") -> dict:
        """Save one labelled query (see :meth:`save`); returns the question's row as it now stands."""
        return self.save(query, positives, source).row

    def save(self, query: str, positives: list[str], source: str = "manual") -> Saved:
        """Save one labelled query: append a new question, or merge ``positives`` into the row of the same
        question (same :func:`label_id`), keeping its passages first and its query and source as they were.

        Raises:
            ValueError: for an empty query, no positive passage, or (for a merge) a gold file that is not
                valid UTF-8, which is then left as it was.
        """
        query = " ".join(query.split())
        if not query:
            raise ValueError("the question is empty")
        positives = list(dict.fromkeys(str(p) for p in positives))
        if not positives:
            raise ValueError("mark at least one relevant passage")
        qid = label_id(query)
        with self._locked():
            data = self.path.read_bytes() if self.path.exists() else b""
            lines = data.decode("utf-8", errors="surrogateescape").split("\n")
            found = [i for i, line in enumerate(lines) if qid in line and str((_parse(line) or {}).get("id")) == qid]
            if found:
                return self._merge(lines, found, positives)
            row = {"id": qid, "query": query, "positives": positives, "source": source}
            torn = bool(data) and not data.endswith(b"\n")  # a torn last line stays a line of its own, still ignored
            append_line(self.path, ("\n" if torn else "") + json.dumps(row, ensure_ascii=False))
            return Saved(row, "added", positives)

    def _merge(self, lines: list[str], found: list[int], positives: list[str]) -> Saved:
        """Merge ``positives`` (and those of any later copies of the row) into the row at ``found[0]``."""
        first = _parse(lines[found[0]])
        old = list(dict.fromkeys(p for i in found for p in _positives(_parse(lines[i]))))
        new = [p for p in positives if p not in old]
        if not new and len(found) == 1:
            return Saved(first, "unchanged", [])
        row = {**first, "positives": old + new}
        if "positives" not in first:
            row.pop("doc_id", None)
        line = lines[found[0]]
        bom, cr = "\ufeff" if line.startswith("\ufeff") else "", "\r" if line.endswith("\r") else ""
        lines[found[0]] = bom + json.dumps(row, ensure_ascii=False) + cr
        for i in found[1:]:  # copies left by older versions: a blank line keeps the line numbers of the rest
            lines[i] = ""
        text = "\n".join(lines)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{self.path} has lines that are not valid UTF-8; fix them before adding passages to a saved question"
            ) from None
        atomic_write_text(self.path, text if text.endswith("\n") else text + "\n")
        return Saved(row, "merged", new)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def rows(self) -> list[dict]:
        """Rows written so far (blank lines, a torn last line and lines that are not JSON objects are skipped)."""
        if not self.path.exists():
            return []
        lines = self.path.read_bytes().decode("utf-8", errors="replace").split("\n")
        return [row for row in map(_parse, lines) if row is not None]


SNIPPET_CHARS = 900  # of a search hit's text, in its scroll box
TEXT_STYLE = "line-height:1.4;margin:4px 0;white-space:normal;overflow-wrap:anywhere"  # not the 28 px rows of a widget
BUTTON = {"width": "auto", "min_width": "7em"}  # buttons as wide as their label


def _body(passage) -> str:
    """A passage's text without its first line when that line only repeats the title."""
    text, title = passage.text.strip(), (passage.title or "").strip()
    first, _, rest = text.partition("\n")
    if title and first.strip(" #:").lower() == title.lower():
        return rest.strip()
    return text


def _snippet(passage, limit: int = SNIPPET_CHARS) -> str:
    """The passage's text, cut at a word near ``limit`` characters and ended with "…" when cut."""
    return shorten(_body(passage), limit)


def _n(count: int, word: str) -> str:
    """``1 passage``, ``2 passages``."""
    return f"{count} {word}{'s' * (count != 1)}"


def _describe(saved: Saved, where: str) -> str:
    """The confirmation shown after a save."""
    query = saved.row.get("query", "")
    if saved.action == "added":
        return f"saved new question “{query}” with {_n(len(saved.new), 'passage')} to {where}"
    if saved.action == "merged":
        return f"added {_n(len(saved.new), 'passage')} to an existing question “{query}” in {where}"
    return f"“{query}” is already saved with these passages; nothing changed"


class LabelingPanel:
    """Review candidate questions and search-and-mark relevant passages; headless-testable.

    Args:
        corpus: passages by id.
        gold: where accepted labels go.
        candidates: (question, passage) pairs to review, e.g. generated ones.
        bm25: a :class:`~nbutils.retrieval.BM25Index` for the search box (optional).
        k: search results shown.

    Use ``panel.widget`` to display it. Widgets: ``counters`` (progress and where labels go, always shown),
    ``message`` (the last action's confirmation or error, shown next to the buttons that did it; ``status``
    is the same widget), ``candidate``, ``question``, ``passage`` (a fixed-height scroll box), ``accept``,
    ``reject``, ``search_box`` (Enter searches), ``search_button``, ``results``, ``save_marked``;
    ``marks`` holds ``(passage id, checkbox)`` per hit shown. :meth:`search` searches from code.
    """

    def __init__(self, corpus: dict, gold: GoldFile, candidates: list[Pair] | None = None, bm25=None, k: int = 5):
        import ipywidgets as w

        self.corpus, self.gold, self.bm25, self.k = corpus, gold, bm25, k
        self.candidates = list(candidates or [])
        self.position = 0
        self.accepted = self.rejected = 0
        self.questions = len(gold.rows())
        self.marks: list[tuple[str, w.Checkbox]] = []
        self._searched = ""  # the query whose results are shown
        self.counters = w.HTML()
        self.message = w.HTML()
        review, search = self._review_box(w), self._search_box(w)
        self.widget = w.VBox([self.counters, review, search])
        for widget, name in (
            (self.widget, "nb-label"),
            (self.counters, "nb-label-counters"),
            (self.message, "nb-label-message"),
        ):
            widget.add_class(name)
        self._show_candidate()
        self._count()

    def _review_box(self, w):
        self.candidate = w.HTML()
        self.question = w.Text(description="Question", layout=w.Layout(width="95%"))
        self.accept = w.Button(description="Accept", button_style="success", layout=w.Layout(**BUTTON))
        self.reject = w.Button(description="Reject", button_style="warning", layout=w.Layout(**BUTTON))
        self._review_note = w.HBox(layout=w.Layout(align_items="center"))
        self.passage = w.HTML(
            layout=w.Layout(height="14em", overflow="auto", border="1px solid #ddd", padding="0 6px", width="95%")
        )
        for widget, name in (
            (self.question, "nb-label-question"),
            (self.accept, "nb-label-accept"),
            (self.reject, "nb-label-reject"),
            (self.passage, "nb-label-passage"),
        ):
            widget.add_class(name)
        self.accept.on_click(lambda _: self._accept())
        self.reject.on_click(lambda _: self._reject())
        buttons = w.HBox([self.accept, self.reject, self._review_note])
        return w.VBox([w.HTML("<b>Review candidates</b>"), self.candidate, self.question, buttons, self.passage])

    def _search_box(self, w):
        self.search_box = w.Text(
            description="Search",
            placeholder="type a question, then Enter",
            continuous_update=False,  # the value arrives on Enter (or on leaving the box): then search
            layout=w.Layout(width="80%"),
        )
        self.search_button = w.Button(description="Search", layout=w.Layout(**BUTTON))
        self.results = w.VBox()
        self.save_marked = w.Button(
            description="Save marked passages", button_style="success", layout=w.Layout(**BUTTON)
        )
        self._search_note = w.HBox(layout=w.Layout(align_items="center"))
        for widget, name in (
            (self.search_box, "nb-label-search"),
            (self.search_button, "nb-label-search-button"),
            (self.save_marked, "nb-label-save"),
        ):
            widget.add_class(name)
        self.search_box.observe(lambda _: self._search(), "value")
        self.search_button.on_click(lambda _: self._search())
        self.save_marked.on_click(lambda _: self._save_marked())
        return w.VBox(
            [
                w.HTML("<b>Search and mark</b>"),
                w.HBox([self.search_box, self.search_button]),
                self.results,
                w.HBox([self.save_marked, self._search_note]),
            ]
        )

    @property
    def status(self):
        """The message line (its older name)."""
        return self.message

    @property
    def current(self) -> Pair | None:
        return self.candidates[self.position] if self.position < len(self.candidates) else None

    def _show_candidate(self) -> None:
        """Show the current candidate: its passage and question (replacing any edit of the last one)."""
        pair = self.current
        if pair is None:
            self.candidate.value = f"<i>No more candidates ({len(self.candidates)} reviewed).</i>"
            self.passage.value = ""
            self.question.value = ""
            return
        passage = self.corpus[pair.positive]
        self.candidate.value = (
            f"Candidate {self.position + 1} of {len(self.candidates)} · passage "
            f"<code>{html.escape(pair.positive)}</code> <b>{html.escape(passage.title or '')}</b>"
        )
        self.passage.value = f"<div style='{TEXT_STYLE}'>{html.escape(_body(passage))}</div>"
        self.question.value = pair.query

    def _where(self) -> str:
        """The gold file as its folder and name, e.g. ``work/gold_labels.jsonl``."""
        return f"{self.gold.path.parent.name}/{self.gold.path.name}"

    def _count(self) -> None:
        self.counters.value = (
            f"{self.position}/{len(self.candidates)} candidates reviewed · {_n(self.accepted, 'label')} saved · "
            f"{self.rejected} rejected · {_n(self.questions, 'question')} in <code>{html.escape(self._where())}</code>"
        )

    def _say(self, note, text: str = "", error: bool = False) -> None:
        """Replace the message with ``text`` (red for an error), shown in ``note``; empty clears it."""
        color = "#b00" if error else "#070"
        self.message.value = f"<span style='color:{color}'>{html.escape(text)}</span>" if text else ""
        for box in (self._review_note, self._search_note):
            box.children = [self.message] if box is note and text else []

    def _save(self, note, query: str, positives: list[str], source: str) -> Saved | None:
        """Save a label, then update the counters and say what was saved; on failure say why."""
        try:
            saved = self.gold.save(query, positives, source)
        except (ValueError, OSError) as e:
            self._say(note, f"not saved: {e}", error=True)
            return None
        self.accepted += 1
        self.questions += saved.action == "added"
        self._say(note, _describe(saved, self._where()))
        return saved

    def _accept(self) -> None:
        pair = self.current
        if pair is None:
            self._say(self._review_note, "no candidate left to accept", error=True)
            return
        if self._save(self._review_note, self.question.value, [pair.positive], "manual"):
            self.position += 1
            self._show_candidate()
        self._count()

    def _reject(self) -> None:
        if self.current is None:
            self._say(self._review_note, "no candidate left to reject", error=True)
            return
        self._say(self._review_note)
        self.rejected += 1
        self.position += 1
        self._show_candidate()
        self._count()

    def search(self, query: str | None = None) -> list[str]:
        """Search for ``query`` (default: the search box's text) as Enter or the Search button do; returns
        the passage ids shown. Ticked passages of the last search stay, ticked, at the top."""
        if query is not None and query != self.search_box.value:
            self.search_box.value = query  # searches, through the box's observer
        else:
            self._search()
        return [pid for pid, _ in self.marks]

    def _search(self) -> None:
        import ipywidgets as w

        query = self.search_box.value.strip()
        if self.bm25 is None:
            self._say(self._search_note, "search is not available: no BM25 index was given", error=True)
            return
        if not query:
            self._say(self._search_note, "type a question to search for", error=True)
            return
        self._say(self._search_note)
        if query == self._searched:  # Enter, then a click on Search: the results are shown already
            return
        self._searched = query
        kept = [pid for pid, box in self.marks if box.value]
        hits = [pid for pid in self.bm25.search({"q": query}, k=self.k)["q"] if pid not in kept]
        self.marks, rows = [], []
        for pid in kept + hits:
            box, row = self._hit(w, pid, ticked=pid in kept)
            self.marks.append((pid, box))
            rows.append(row)
        if not hits:
            rows.append(w.HTML(f"<i>No passage matches “{html.escape(query)}”.</i>"))
        self.results.children = rows

    def _hit(self, w, pid: str, ticked: bool = False):
        """A search hit: a checkbox with the passage id, title and page, over its text in a fixed-height scroll box."""
        passage = self.corpus[pid]
        page = f"p. {passage.page}" if passage.page else ""
        label = " · ".join(x for x in (pid, passage.title, page) if x)
        box = w.Checkbox(value=ticked, description=label, indent=False, layout=w.Layout(width="95%"))
        text = w.HTML(
            f"<div style='{TEXT_STYLE}'>{html.escape(_snippet(passage))}</div>",
            layout=w.Layout(
                max_height="8em", overflow="auto", border="1px solid #ddd", padding="0 6px", margin="0 0 6px 1.6em"
            ),
        )
        row = w.VBox([box, text], layout=w.Layout(width="95%"))
        row.add_class("nb-label-hit")
        return box, row

    def _save_marked(self) -> None:
        """Save the search box's question with the ticked passages; the candidate under review is not touched."""
        chosen = [pid for pid, box in self.marks if box.value]
        if self._save(self._search_note, self.search_box.value, chosen, "manual-search"):
            for _, box in self.marks:
                box.value = False
        self._count()
