"""Retrievers over a corpus: BM25 (bm25s or rank-bm25), exact dense top-k, and hybrid fusion.

Every retriever returns a *run*: ``{query_id: {passage_id: score}}``, highest score best.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .models import encode
from .paths import atomic_write_text

__all__ = [
    "BM25Index",
    "DenseIndex",
    "Run",
    "reciprocal_rank_fusion",
    "tokenize",
    "top_k",
    "weighted_fusion",
    "write_trec",
]

Run = dict[str, dict[str, float]]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str, stemmer=None) -> list[str]:
    """Lower-case word tokens without English stopwords, stemmed — the same rule for both backends."""
    from bm25s.stopwords import STOPWORDS_EN

    tokens = [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS_EN]
    return stemmer.stemWords(tokens) if stemmer is not None else tokens


class BM25Index:
    """BM25 over passages, through ``bm25s`` (default, fast) or ``rank_bm25`` (reference).

    Example:
        >>> idx = BM25Index(["a", "b"], ["cats purr", "dogs bark"])
        >>> list(idx.search({"q": "purring cat"}, k=1)["q"])
        ['a']
    """

    BACKENDS = ("bm25s", "rank_bm25")

    def __init__(self, ids: list[str], texts: list[str], backend: str = "bm25s"):
        if backend not in self.BACKENDS:
            raise ValueError(f"bm25_backend: {backend!r} is not allowed; valid: {', '.join(self.BACKENDS)}")
        if len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        self.ids = list(ids)
        self.backend = backend
        self._stemmer = _stemmer()
        if backend == "bm25s":
            import bm25s

            logging.getLogger("bm25s").setLevel(logging.WARNING)
            self._bm25 = bm25s.BM25()
            self._bm25.index(self._token_ids(texts), show_progress=False)
        else:
            from rank_bm25 import BM25Okapi

            self._bm25 = BM25Okapi([tokenize(t, self._stemmer) or ["\x00"] for t in texts])

    def _token_ids(self, texts: list[str]) -> tuple[list[list[int]], dict[str, int]]:
        """Each text's tokens as vocabulary ids, and the vocabulary, built one text at a time.

        Every occurrence of a token refers to the one ``int`` of its vocabulary entry, so a corpus costs a
        pointer per token rather than a string per token: a few hundred MB for a million passages, not GBs.
        The empty token is in the vocabulary, as bm25s puts it there for passages without any token.
        """
        vocab: dict[str, int] = {}
        ids = []
        for text in texts:
            ids.append([vocab.setdefault(tok, len(vocab)) for tok in tokenize(text, self._stemmer)])
        vocab.setdefault("", len(vocab))
        return ids, vocab

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for one query."""
        q = tokenize(query, self._stemmer)
        if not q:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(q), dtype=np.float32)

    def search(self, queries: dict[str, str], k: int = 100, progress: bool = False) -> Run:
        """Top-``k`` passages with a positive score per query."""
        run: Run = {}
        for qid, text in tqdm(queries.items(), desc="BM25", disable=not progress):
            run[qid] = top_k(self.scores(text), self.ids, k, positive_only=True)
        return run


def top_k(scores: np.ndarray, ids: list[str], k: int, positive_only: bool = False) -> dict[str, float]:
    """The ``k`` best (id, score) of one score vector, best first."""
    k = min(k, len(ids))
    if k <= 0:
        return {}
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return {ids[i]: float(scores[i]) for i in idx if not positive_only or scores[i] > 0}


BLOCK_ROWS = 65_536  # corpus rows scored at once: 256 queries × 65,536 rows of float32 scores is 64 MiB


def _top_k_blocks(q: np.ndarray, blocks: list[tuple[int, int]], score, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``k`` best (scores, passage indexes) over all blocks, best first, ties by passage index."""
    best_scores = np.empty((len(q), 0), dtype=np.float32)
    best_ids = np.empty((len(q), 0), dtype=np.int64)
    for lo, hi in blocks:
        sims = score(q, lo, hi)
        kk = min(k, hi - lo)
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        scores = np.concatenate([best_scores, np.take_along_axis(sims, part, axis=1)], axis=1)
        ids = np.concatenate([best_ids, part + lo], axis=1)
        order = np.lexsort((ids, -scores), axis=1)[:, :k]
        best_scores, best_ids = np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)
    return best_scores, best_ids


@dataclass
class DenseIndex:
    """Exact cosine top-k over normalised passage embeddings, computed in query chunks.

    Memory stays at ``chunk × rows`` scores, never the full query × corpus matrix. With ``starts``, a
    passage owns several rows (itself and its sentence windows, see
    :func:`nbutils.models.encode_with_windows`): rows ``starts[i]`` up to ``starts[i + 1]`` belong to
    passage ``ids[i]``, and a passage scores as its best row.
    """

    ids: list[str]
    embeddings: np.ndarray  # (rows, dim), L2-normalised float32; one row per passage unless ``starts``
    starts: np.ndarray | None = None  # first row of each passage, when passages own several rows

    def __post_init__(self) -> None:
        if self.starts is None:
            if len(self.ids) != len(self.embeddings):
                raise ValueError(f"{len(self.ids)} ids but {len(self.embeddings)} embeddings")
            return
        starts = np.asarray(self.starts)
        if len(starts) != len(self.ids):
            raise ValueError(f"{len(self.ids)} ids but {len(starts)} starts")
        if len(starts) and (starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] >= len(self.embeddings)):
            raise ValueError(f"starts must rise from 0 and stay below the {len(self.embeddings)} embedding rows")

    @property
    def passage_embeddings(self) -> np.ndarray:
        """One row per passage: the whole passage's embedding (its first row)."""
        return self.embeddings if self.starts is None else self.embeddings[self.starts]

    def _blocks(self, rows: int) -> list[tuple[int, int]]:
        """Passage ranges ``[lo, hi)`` of about ``rows`` embedding rows each (a passage's rows never split)."""
        if self.starts is None:
            return [(lo, min(lo + rows, len(self.ids))) for lo in range(0, len(self.ids), rows)]
        cuts = np.searchsorted(self.starts, np.arange(rows, len(self.embeddings), rows))
        edges = [0, *sorted({int(c) for c in cuts if 0 < c < len(self.ids)}), len(self.ids)]
        return list(zip(edges[:-1], edges[1:], strict=True))

    def _block_scores(self, q_emb: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Cosine of each query with passages ``lo`` … ``hi - 1`` (each its best row when it owns several)."""
        if self.starts is None:
            return q_emb @ np.asarray(self.embeddings[lo:hi], dtype=np.float32).T
        first, last = int(self.starts[lo]), int(self.starts[hi]) if hi < len(self.ids) else len(self.embeddings)
        sims = q_emb @ np.asarray(self.embeddings[first:last], dtype=np.float32).T
        return np.maximum.reduceat(sims, np.asarray(self.starts[lo:hi]) - first, axis=1)

    def search_embeddings(
        self, qids: list[str], q_emb: np.ndarray, k: int = 100, chunk: int = 256, block_rows: int = BLOCK_ROWS
    ) -> Run:
        """Exact top-``k`` passages for already-encoded queries.

        The corpus is scored in blocks of ``block_rows`` rows, keeping each query's best ``k`` so far, so memory
        stays at ``chunk × block_rows`` scores whatever the corpus size, and an index memory-mapped from disk
        (see :func:`nbutils.maintain.read_index_folder`) is read block by block. Ties rank by passage order.
        """
        run: Run = {}
        k = min(k, len(self.ids))
        if k < 1:
            return {qid: {} for qid in qids}
        blocks = self._blocks(block_rows)
        for start in range(0, len(qids), chunk):
            q = np.asarray(q_emb[start : start + chunk], dtype=np.float32)
            best_scores, best_ids = _top_k_blocks(q, blocks, self._block_scores, k)
            for row, qid in enumerate(qids[start : start + chunk]):
                run[qid] = {self.ids[i]: float(sc) for i, sc in zip(best_ids[row], best_scores[row], strict=True)}
        return run

    def search(self, model, queries: dict[str, str], k: int = 100, batch_size: int = 64, progress: bool = False) -> Run:
        """Encode ``queries`` with ``model`` and return their top-``k`` passages."""

        qids = list(queries)
        q_emb = encode(model, [queries[q] for q in qids], batch_size, kind="query", progress=progress)
        return self.search_embeddings(qids, q_emb, k)


def reciprocal_rank_fusion(runs: list[Run], k: int = 60, depth: int = 100) -> Run:
    """Fuse runs by ``sum(1 / (k + rank))`` (Cormack et al., 2009); keeps the top ``depth``.

    Ranks follow each run's scores (highest first), whatever the order of its dict.
    """
    fused: Run = {}
    for qid in set().union(*runs):
        acc: dict[str, float] = {}
        for run in runs:
            ranked = sorted(run.get(qid, {}).items(), key=lambda kv: -kv[1])
            for rank, (pid, _) in enumerate(ranked, 1):
                acc[pid] = acc.get(pid, 0.0) + 1.0 / (k + rank)
        best = sorted(acc.items(), key=lambda kv: -kv[1])[:depth]
        fused[qid] = dict(best)
    return fused


def _zscores(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    vals = np.fromiter(scores.values(), dtype=np.float64)
    std = vals.std() or 1.0
    return {pid: (s - vals.mean()) / std for pid, s in scores.items()}


def weighted_fusion(runs: list[Run], weights: list[float], depth: int = 100) -> Run:
    """Fuse runs by a weighted sum of per-query z-normalised scores (missing = the run's minimum)."""
    if len(runs) != len(weights):
        raise ValueError("one weight per run is needed")
    fused: Run = {}
    for qid in set().union(*runs):
        normed = [_zscores(run.get(qid, {})) for run in runs]
        floor = [min(n.values(), default=0.0) for n in normed]
        pids = set().union(*normed)
        acc = {p: sum(w * n.get(p, f) for w, n, f in zip(weights, normed, floor, strict=True)) for p in pids}
        fused[qid] = dict(sorted(acc.items(), key=lambda kv: -kv[1])[:depth])
    return fused


def write_trec(run: Run, path, tag: str = "nbutils") -> None:
    """Write a run in TREC format: ``qid Q0 docid rank score tag``, best first. Queries without results
    write no line (the format has none for them).

    Raises:
        ValueError: for an id or tag that is empty or holds whitespace (it would break the six fields).
    """

    for value in [tag, *run, *(pid for scores in run.values() for pid in scores)]:
        if not value or any(c.isspace() for c in value):
            raise ValueError(
                f"{value!r} cannot be written to a TREC run: ids and the tag must be non-empty, without spaces"
            )
    lines = []
    for qid, scores in run.items():
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        lines += [f"{qid} Q0 {pid} {rank} {score:.6f} {tag}" for rank, (pid, score) in enumerate(ranked, 1)]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
