"""Quality filters for synthetic questions, each reporting what it kept and dropped.

Applied in order by :func:`apply_filters`: length limits, copied spans, exact and near duplicates,
held-out (test/dev) questions, and round-trip consistency (the question must find its own passage).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from .pairs import Pair, normalize_query
from .retrieval import Run

__all__ = [
    "FilterReport",
    "copied_span",
    "drop_copies",
    "drop_length",
    "drop_near_duplicates",
    "near_duplicate_pairs",
    "roundtrip",
    "word_overlap",
]

_WORD = re.compile(r"\w+")


@dataclass
class FilterReport:
    """Kept pairs after each filter, and the dropped ones per filter (in order of application)."""

    kept: list[Pair]
    dropped: dict[str, list[Pair]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def step(self, name: str, kept: list[Pair], dropped: list[Pair]) -> None:
        self.seen[name] = len(kept) + len(dropped)
        self.kept = kept
        self.dropped[name] = dropped

    def table(self):
        """Pairs in, dropped and kept per filter, with the share passing (a DataFrame)."""
        import pandas as pd

        rows = []
        for name, dropped in self.dropped.items():
            n = self.seen[name]
            rows.append(
                {
                    "filter": name,
                    "in": n,
                    "dropped": len(dropped),
                    "passing": round(1 - len(dropped) / n, 3) if n else 1.0,
                }
            )
        return pd.DataFrame(rows)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


_STOP = frozenset(
    "a an the of to in on for and or is are was were be been it its this that these those what which who whom how "
    "why when where does do did can could should would will shall may might must i me you we they he she my your our "
    "their about with by from as at if not no into than then so there here have has had any all some".split()
)


def word_overlap(question: str, passage: str) -> float:
    """Share of the question's content words (stop words aside, lower-cased) that the passage holds: near 1
    for a question built from the passage's own words, lower for one that asks in other words (0 when the
    question has no content word)."""
    q = {w for w in _words(question) if w not in _STOP}
    return len(q & set(_words(passage))) / len(q) if q else 0.0


def drop_length(pairs: list[Pair], min_words: int, max_words: int) -> tuple[list[Pair], list[Pair]]:
    """Keep questions of ``min_words`` … ``max_words`` words."""
    kept, dropped = [], []
    for p in pairs:
        (kept if min_words <= len(_words(p.query)) <= max_words else dropped).append(p)
    return kept, dropped


def copied_span(question: str, passage: str, n: int) -> bool:
    """Whether the question repeats ``n`` or more consecutive words of the passage."""
    q, d = _words(question), _words(passage)
    if len(q) < n:
        return False
    grams = {tuple(d[i : i + n]) for i in range(len(d) - n + 1)}
    return any(tuple(q[i : i + n]) in grams for i in range(len(q) - n + 1))


def drop_copies(pairs: list[Pair], corpus: dict, n: int) -> tuple[list[Pair], list[Pair]]:
    """Drop questions that copy a span of ``n`` or more words from their passage (0 disables)."""
    if n <= 0:
        return list(pairs), []
    kept, dropped = [], []
    for p in pairs:
        (dropped if copied_span(p.query, corpus[p.positive].full_text(), n) else kept).append(p)
    return kept, dropped


def near_duplicate_pairs(
    a: list[str], b: list[str], threshold: float, chunk: int = 2000
) -> list[tuple[int, int, float]]:
    """Index pairs (i in ``a``, j in ``b``) whose word 1–2-gram cosine is at least ``threshold``.

    Term frequencies without IDF weighting, so the score does not depend on how many texts are compared.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not a or not b:
        return []
    vec = TfidfVectorizer(ngram_range=(1, 2), use_idf=False).fit(a + b)
    ma, mb = vec.transform(a), vec.transform(b)
    out = []
    for start in range(0, ma.shape[0], chunk):
        sims = (ma[start : start + chunk] @ mb.T).tocoo()
        for i, j, s in zip(sims.row, sims.col, sims.data, strict=True):
            if s >= threshold:
                out.append((start + int(i), int(j), float(s)))
    return out


def drop_near_duplicates(pairs: list[Pair], threshold: float) -> tuple[list[Pair], list[Pair]]:
    """Keep the first of each group of exact (normalised) or near-duplicate questions."""
    kept, dropped, seen = [], [], set()
    for p in pairs:
        key = normalize_query(p.query)
        (dropped if key in seen else kept).append(p)
        seen.add(key)
    if threshold >= 1.0 or len(kept) < 2:
        return kept, dropped
    texts = [p.query for p in kept]
    later = {j for i, j, _ in near_duplicate_pairs(texts, texts, threshold) if j > i}
    return [p for j, p in enumerate(kept) if j not in later], dropped + [p for j, p in enumerate(kept) if j in later]


def roundtrip(
    pairs: list[Pair], run: Run, k: int, same_text: dict[str, set[str]] | None = None
) -> tuple[list[Pair], list[Pair]]:
    """Keep a pair when its passage (or a copy of it) is in the top ``k`` of ``run`` for its question.

    Args:
        run: results keyed by the pair's index as a string (``"0"``, ``"1"``, …).
        same_text: passage id → ids with the same text (see :func:`nbutils.mining.duplicate_groups`).
    """
    same_text = same_text or {}
    kept, dropped = [], []
    for i, p in enumerate(pairs):
        top = list(run.get(str(i), {}))[:k]
        ok = {p.positive} | same_text.get(p.positive, set())
        (kept if ok.intersection(top) else dropped).append(p)
    return kept, dropped


def by_origin(pairs: list[Pair]) -> dict[str, list[Pair]]:
    """Pairs grouped by origin."""
    out: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        out[p.origin].append(p)
    return dict(out)
