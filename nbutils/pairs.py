"""The artifacts stages hand each other: training pairs (query, relevant passage) with provenance, mined
triples, curation flags, and their files; and pairs from a click log."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .data import DataIssues, load_clicks
from .paths import append_line, atomic_write_text, read_records

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "FlagFile",
    "Pair",
    "Triple",
    "apply_flags",
    "click_pairs",
    "load_pairs",
    "load_triples",
    "normalize_query",
    "plan_epochs",
    "resolve_loss",
    "save_pairs",
    "save_triples",
]


@dataclass(frozen=True)
class Pair:
    """One training pair with where it came from."""

    query: str
    positive: str  # passage id
    source: str  # gold | synthetic | clicks
    origin: str  # e.g. "train split", "generator:llm", "clicks:3"


def normalize_query(text: str) -> str:
    """Lower-case, collapse whitespace and drop punctuation, for duplicate checks."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def save_pairs(pairs: list[Pair], path: str | Path) -> None:
    """Write pairs as JSONL, atomically."""
    atomic_write_text(path, "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs))


def load_pairs(path: str | Path, sources: list[str] | None = None) -> list[Pair]:
    """Read pairs written by :func:`save_pairs`, optionally only the given sources."""
    pairs = read_records(path, Pair, "training pairs", "the synthesize stage")
    return [p for p in pairs if sources is None or p.source in sources]


def click_pairs(path: str, ws: Workspace, min_clicks: int = 1, issues: DataIssues | None = None) -> list[Pair]:
    """Pairs from a click log: queries normalised, duplicates merged, at least ``min_clicks`` clicks.

    Problems in the log (unknown doc ids, malformed rows) are added to ``issues`` when given.
    """
    clicks, found = load_clicks(path, ws.corpus)
    if issues is not None:
        issues.extend(found)
    merged: Counter[tuple[str, str]] = Counter()
    shown: dict[str, str] = {}
    for c in clicks:
        key = normalize_query(c.query)
        shown.setdefault(key, " ".join(c.query.split()))
        merged[(key, c.doc_id)] += c.clicks
    return [Pair(shown[q], d, "clicks", f"clicks:{n}") for (q, d), n in merged.items() if n >= min_clicks]


@dataclass(frozen=True)
class Triple:
    """A training pair with an optional hard negative and where that negative came from."""

    query: str
    positive: str
    source: str
    origin: str
    negative: str | None = None
    neg_source: str | None = None  # bm25 | dense | hybrid, "+cross-encoder" when rescored | manual
    neg_rank: int | None = None
    neg_score: float | None = None
    positive_text: str | None = None  # window of a long positive that training uses (long_passages: windows)
    negative_text: str | None = None  # same for the negative
    margin: float | None = None  # the teacher's score of the positive minus the negative's, on the base model's
    # cosine scale (loss: marginmse distils it); None without a dense part in the teacher or for manual negatives


def resolve_loss(loss: str, rows) -> tuple[str, str]:
    """The loss ``auto`` stands for, given the training pairs or triples ``rows``, and why (a sentence for the
    reports): ``marginmse`` when every row is synthetic (no gold label or click checks the generated questions,
    so the model learns the mining teacher's judgement of them), else ``mnrl``. Any other loss is kept."""
    if loss != "auto":
        return loss, f"`loss: {loss}`"
    sources = {r.source for r in rows}
    if sources and sources <= {"synthetic"}:
        why = "every training pair is synthetic: the model learns the mining teacher's margins"
        return "marginmse", f"`loss: auto` → `marginmse` ({why})"
    labelled = ", ".join(sorted(sources - {"synthetic"})) or "none"
    return "mnrl", f"`loss: auto` → `mnrl` (labelled training pairs: {labelled})"


RAISED_EPOCHS_MAX = 10  # ``min_steps`` raises ``epochs`` to this many at most (a few dozen rows stay a few dozen)


def plan_epochs(epochs: int, rows: int, batch_size: int, min_steps: int, processes: int = 1) -> tuple[int, str]:
    """The epochs a run over ``rows`` training rows takes, and why (a sentence for the reports): ``epochs``, raised
    (to :data:`RAISED_EPOCHS_MAX` at most) until training makes at least ``min_steps`` optimizer steps. A step
    takes a batch of ``batch_size`` rows on each of ``processes`` (the last batch partial), as the trainer
    counts them. A few hundred pairs make a handful of steps an epoch, too few for the model to move;
    ``min_steps: 0`` keeps ``epochs`` as given."""
    per_epoch = max(1, -(-rows // max(1, batch_size * processes)))
    needed = -(-min_steps // per_epoch)
    planned = max(epochs, min(needed, RAISED_EPOCHS_MAX)) if min_steps > 0 else epochs
    each = f" on each of {processes} processes" if processes > 1 else ""
    steps = f"{rows:,} rows make {per_epoch:,} step{'s' if per_epoch != 1 else ''} of {batch_size}{each} an epoch"
    if planned == epochs:
        return epochs, f"`epochs: {epochs}` ({steps}, {per_epoch * epochs:,} in all)"
    most = f", {RAISED_EPOCHS_MAX} epochs at most" if needed > planned else ""
    return planned, f"`epochs: {epochs}` raised to {planned} ({steps}; `min_steps: {min_steps}`{most})"


def save_triples(triples: list[Triple], path: str | Path) -> None:
    """Write triples as JSONL, atomically."""
    atomic_write_text(path, "".join(json.dumps(asdict(t), ensure_ascii=False) + "\n" for t in triples))


def load_triples(path: str | Path) -> list[Triple]:
    """Read triples written by :func:`save_triples`; a malformed line is an error naming file and line."""
    return read_records(path, Triple, "training triples", "the mine stage")


class FlagFile:
    """Append-only JSONL of (query, passage) pairs flagged as relevant, and of flags taken back.

    Each line is ``{"query": ..., "passage": ..., "flag": true | false}``; a line without ``"flag"`` (the
    older format) is a flag. Lines are replayed in order and the last one for a (normalised query,
    passage) pair decides, so :meth:`remove` undoes :meth:`add` without rewriting the file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def add(self, query: str, passage: str) -> None:
        """Flag ``passage`` as relevant to ``query`` (appends one line, flushed to disk)."""
        self._append({"query": query, "passage": passage, "flag": True})

    def remove(self, query: str, passage: str) -> None:
        """Take a flag back (appends an unflag line; the file stays append-only)."""
        self._append({"query": query, "passage": passage, "flag": False})

    def _append(self, row: dict) -> None:
        line = json.dumps(row, ensure_ascii=False)
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as f:
                f.seek(-1, 2)
                if f.read(1) != b"\n":
                    line = "\n" + line  # a torn last line must not swallow this record
        append_line(self.path, line)

    def pairs(self) -> set[tuple[str, str]]:
        """(normalised query, passage id) pairs flagged now: the last line for a pair decides.

        A torn or malformed line is ignored.
        """
        if not self.path.exists():
            return set()
        state: dict[tuple[str, str], bool] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                key = (normalize_query(row["query"]), row["passage"])
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue
            state[key] = bool(row.get("flag", True))
        return {key for key, on in state.items() if on}

    def as_positives(self) -> dict[str, set[str]]:
        """Flags as extra known positives per normalised query (for the next mining run)."""
        out: dict[str, set[str]] = {}
        for q, p in self.pairs():
            out.setdefault(q, set()).add(p)
        return out


def apply_flags(triples: list[Triple], flags: set[tuple[str, str]]) -> tuple[list[Triple], int]:
    """Drop flagged negatives; a pair left with none keeps one row without a negative.

    Args:
        flags: (normalised query, passage id) pairs flagged now, as :meth:`FlagFile.pairs` gives them
            (a flag taken back is not among them).

    Returns:
        ``(triples, number of negatives removed)``.
    """
    kept: list[Triple] = []
    removed = 0
    seen_pairs: set[tuple[str, str]] = set()
    flagged_pairs: set[tuple[str, str]] = set()
    for t in triples:
        if t.negative and (normalize_query(t.query), t.negative) in flags:
            removed += 1
            flagged_pairs.add((t.query, t.positive))
            continue
        kept.append(t)
        seen_pairs.add((t.query, t.positive))
    for q, pos in flagged_pairs - seen_pairs:
        t = next(t for t in triples if (t.query, t.positive) == (q, pos))
        kept.append(replace(t, negative=None, neg_source=None, neg_rank=None, neg_score=None))
    return kept, removed
