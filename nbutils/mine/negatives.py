"""Hard negatives for each training pair, with provenance and scores.

A candidate is never a known positive of its query, from any source. Candidates are taken from a
rank window (``range_min`` … ``range_max``) of BM25's results, skipping the very top where
unlabelled positives hide.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import asdict, dataclass, replace

import numpy as np
from tqdm.auto import tqdm

from ..config import Params
from ..data import duplicate_groups
from ..models import encode, load_encoder, passage_windows, resolve_device, sentence_windows
from ..pairs import Pair, Triple, normalize_query
from ..retrieval import BM25Index, DenseIndex
from ..workspace import bm25_index, dense_index, holds_out_passages, trainable_passages

__all__ = [
    "CrossEncoderRescorer",
    "choose_windows",
    "examples",
    "known_positives",
    "mine_bm25",
    "mine_hybrid",
    "mine",
    "mine_refit",
    "false_negative_estimate",
    "setting",
    "summary",
]


def known_positives(
    pairs: list[Pair], corpus: dict | None = None, extra: dict[str, set[str]] | None = None
) -> dict[str, set[str]]:
    """Every passage known to be relevant to each (normalised) query, from all sources.

    Args:
        corpus: when given, passages with the same text as a known positive count as positives too.
        extra: more known positives per normalised query (e.g. negatives flagged as relevant by hand).
    """
    out: dict[str, set[str]] = defaultdict(set)
    for p in pairs:
        out[normalize_query(p.query)].add(p.positive)
    for q, ids in (extra or {}).items():
        out[q].update(ids)
    if corpus is not None:
        groups = duplicate_groups(corpus)
        for ids in out.values():
            ids.update(*(groups.get(pid, ()) for pid in list(ids)))
    return out


def mine_bm25(
    pairs: list[Pair],
    bm25: BM25Index,
    positives: dict[str, set[str]],
    per_query: int = 1,
    range_min: int = 3,
    range_max: int = 30,
) -> list[Triple]:
    """Pick ``per_query`` BM25 negatives per pair from ranks ``range_min+1 … range_max``, no margin.

    BM25 as the only teacher of :func:`mine_hybrid` (scores saved in z units). Pairs for which no
    candidate is left keep ``negative=None`` (they still train with in-batch negatives) and are
    counted in the report.
    """
    return mine_hybrid(pairs, bm25, None, None, positives, per_query, range_min, range_max, -np.inf, 1.0)


def _triples(p: Pair, chosen: list[tuple[int, str, float, float]], source: str, scale: float | None) -> list[Triple]:
    """The rows of one pair: one per chosen (rank, passage, score, gap) negative, or one without a negative.
    ``gap`` is how far the negative's teacher z-score is below the positive's; times ``scale`` (the spread of
    the base model's cosines for the query) it is the row's ``margin``, on the scale the student scores on."""
    base = asdict(p)
    if not chosen:
        return [Triple(**base)]
    return [
        Triple(**base, negative=pid, neg_source=source, neg_rank=r, neg_score=round(s, 4),
               margin=None if scale is None else round(gap * scale, 5))
        for r, pid, s, gap in chosen
    ]  # fmt: skip


def _z(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / (std if std > 0 else 1.0)


TEACHER_BLOCK_BYTES = 256 << 20  # dense scores of one batch of queries over the whole corpus stay under this


def _teacher_scores(queries: list[str], q_emb: np.ndarray, bm25: BM25Index, dense, bm25_weight: float):
    """Yield the teacher's score of every passage for each query, in order (z-scored BM25 and dense cosine,
    weighted), with the spread (standard deviation) of the query's dense cosines: the scale that turns
    teacher score gaps into cosine gaps (``None`` for BM25 alone).

    Dense cosines are computed for a batch of queries at once (one pass over the corpus rows per batch,
    not per query, which matters when the rows are a memory-mapped index of millions of passages); the
    batch is sized so its scores stay under :data:`TEACHER_BLOCK_BYTES`.
    """
    n = len(bm25.ids)
    batch = 1 if bm25_weight >= 1.0 else int(np.clip(TEACHER_BLOCK_BYTES // max(1, 4 * n), 1, 256))
    for start in range(0, len(queries), batch):
        block = None
        if bm25_weight < 1.0:
            block = np.asarray(dense.passage_embeddings @ q_emb[start : start + batch].T, dtype=np.float32)
        for j, query in enumerate(queries[start : start + batch]):
            if block is None:
                yield _z(bm25.scores(query)), None
                continue
            scores = _z(block[:, j])
            if bm25_weight > 0:
                scores = bm25_weight * _z(bm25.scores(query)) + (1 - bm25_weight) * scores
            yield scores, float(block[:, j].std())


def mine_hybrid(
    pairs: list[Pair],
    bm25: BM25Index,
    dense: DenseIndex | None,
    model,
    positives: dict[str, set[str]],
    per_query: int = 1,
    range_min: int = 3,
    range_max: int = 40,
    margin: float = 0.5,
    bm25_weight: float = 0.5,
    batch_size: int = 64,
    rescorer: CrossEncoderRescorer | None = None,
    allowed: set[str] | None = None,
    draw: int = 0,
    seed: int = 42,
) -> list[Triple]:
    """Negatives ranked by a hybrid teacher: z-scored BM25 plus z-scored base-model cosine (``bm25_weight`` 1:
    BM25 alone, ``dense`` and ``model`` may then be ``None``; 0: the base dense model alone).

    A candidate from ranks ``range_min+1 … range_max`` of the teacher is kept only if its teacher score is at
    least ``margin`` below the positive's (in z units): close calls are likely unlabelled positives. Dense
    scores are computed for a batch of queries at a time, so memory stays at a few hundred MB of scores
    whatever the corpus size (:data:`TEACHER_BLOCK_BYTES`). With a ``rescorer`` (a cross-encoder), the
    teacher only proposes the candidates: the cross-encoder scores them with the positive, z-scored over that
    list, the margin applies to them, and the hardest are taken first. ``allowed`` limits negatives to those
    passage ids (e.g. no passage of a held-out document).

    With ``draw`` (loss ``marginmse``, GPL's recipe), each pair gets ``draw`` negatives drawn at random (seeded
    by ``seed`` and the pair) from ranks 1 … ``range_max``, whatever their score (``range_min``, ``margin``
    and ``per_query`` do not apply): each row's ``margin`` tells the student how close the teacher found it.
    """

    if per_query <= 0 and not draw:  # in-batch negatives only: nothing to rank
        return [t for p in pairs for t in _triples(p, [], "", None)]
    by_query: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        by_query[p.query].append(p)
    queries = list(by_query)
    lexical_only = bm25_weight >= 1.0
    q_emb = (
        np.zeros((len(queries), 1)) if lexical_only else encode(model, queries, batch_size, kind="query", progress=True)
    )
    label = "bm25" if lexical_only else "dense" if bm25_weight <= 0 else "hybrid"
    label += "+cross-encoder" if rescorer else ""
    lowest, margin = (0, -np.inf) if draw else (range_min, margin)
    ids = {pid: i for i, pid in enumerate(bm25.ids)}
    window = _Window(bm25.ids, ids, lowest, range_max, margin, allowed, draw or per_query, draw > 0, seed)
    triples: list[Triple] = []
    teacher = zip(
        queries, _teacher_scores(queries, np.asarray(q_emb, np.float32), bm25, dense, bm25_weight), strict=True
    )
    for query, (scores, scale) in tqdm(teacher, total=len(queries), desc=f"Mining {label} negatives"):
        ranked, known = window.ranked(scores), positives.get(normalize_query(query), set())
        for p in by_query[query]:
            candidates = window.candidates(ranked, known, p.positive)
            triples += _triples(p, window.pick(query, scores, candidates, p.positive, rescorer), label, scale)
    return triples


@dataclass(frozen=True)
class _Window:
    """The teacher's ranks ``range_min+1 … range_max`` a negative is taken from, and the margin it must keep."""

    ids: list[str]
    index_of: dict[str, int]
    range_min: int
    range_max: int
    margin: float
    allowed: set[str] | None
    keep: int = 1  # negatives per pair
    at_random: bool = False  # drawn at random from the candidates (loss marginmse) rather than the hardest first
    seed: int = 42

    def ranked(self, scores: np.ndarray) -> list[tuple[int, str]]:
        """(rank, passage id) of the window, best first."""
        top = np.argpartition(-scores, min(self.range_max, len(scores) - 1))[: self.range_max]
        order = top[np.argsort(-scores[top], kind="stable")][self.range_min :]
        return [(r, self.ids[i]) for r, i in enumerate(order, self.range_min + 1)]

    def candidates(self, ranked: list[tuple[int, str]], known: set[str], positive: str) -> list[tuple[int, str]]:
        """The window without known positives, the pair's own positive and passages not allowed."""
        ok = self.allowed
        return [(r, pid) for r, pid in ranked if pid not in known and pid != positive and (ok is None or pid in ok)]

    def pick(self, query: str, scores: np.ndarray, candidates, positive: str, rescorer) -> list:
        """The pair's negatives: (rank, id, score, gap below the positive) of the candidates that keep the
        margin (by the teacher, or by ``rescorer``), the hardest first or drawn at random (seeded by the pair)."""
        negs = self.below_margin(scores, candidates, positive) if rescorer is None else (
            rescorer.rerank(query, positive, candidates, self.margin)
        )  # fmt: skip
        if self.at_random:
            return sorted(random.Random(f"{self.seed}:{query}:{positive}").sample(negs, min(self.keep, len(negs))))
        return negs[: self.keep]

    def below_margin(self, scores: np.ndarray, candidates, positive: str) -> list[tuple[int, str, float, float]]:
        """Candidates whose teacher score is at least ``margin`` below the positive's, with their scores and
        how far below the positive's they are."""
        top = float(scores[self.index_of[positive]])
        scored = [(r, pid, float(scores[self.index_of[pid]])) for r, pid in candidates]
        return [(r, pid, s, top - s) for r, pid, s in scored if s <= top - self.margin]


class CrossEncoderRescorer:
    """Rescores a teacher's candidates with a cross-encoder (a stronger, slower judge of relevance).

    Args:
        model: a ``sentence_transformers.CrossEncoder``.
        texts: passage id → text.
        batch_size: (query, passage) pairs per forward pass.
    """

    def __init__(self, model, texts: dict[str, str], batch_size: int = 32) -> None:
        self.model, self.texts, self.batch_size = model, texts, batch_size

    @classmethod
    def load(cls, name: str, corpus: dict, device: str = "cpu", batch_size: int = 32) -> CrossEncoderRescorer:
        """Load a cross-encoder from a local folder or a Hugging Face id (``mine_rescorer``)."""
        from sentence_transformers import CrossEncoder

        try:
            model = CrossEncoder(name, device=device)
        except OSError as exc:
            raise ValueError(f"mine_rescorer: cannot load cross-encoder {name!r}: {exc}") from exc
        return cls(model, {pid: p.full_text() for pid, p in corpus.items()}, batch_size)

    def scores(self, query: str, pids: list[str]) -> np.ndarray:
        """Cross-encoder scores of (query, passage) for each passage id."""
        pairs = [(query, self.texts[pid]) for pid in pids]
        return np.asarray(self.model.predict(pairs, batch_size=self.batch_size), dtype=float).reshape(-1)

    def rerank(
        self, query: str, positive: str, candidates: list[tuple[int, str]], margin: float
    ) -> list[tuple[int, str, float, float]]:
        """Candidates (teacher rank, id) scoring ``margin`` z below the positive, hardest first, with their
        cross-encoder scores and how many z (over the candidates and the positive) below the positive's."""
        if not candidates:
            return []
        raw = self.scores(query, [positive] + [pid for _, pid in candidates])
        z = _z(raw)
        kept = [(r, pid, float(raw[j + 1]), float(z[0] - z[j + 1])) for j, (r, pid) in enumerate(candidates)]
        return sorted((n for n in kept if n[3] >= margin), key=lambda n: -n[2])


TEACHER_WEIGHTS = {"bm25": 1.0, "hybrid": 0.5, "dense": 0.0}


def choose_windows(
    triples: list[Triple], corpus: dict, model, batch_size: int = 64, progress: bool = True, sentences: int = 0
) -> list[Triple]:
    """For positives and negatives longer than the model's window, the window that training uses.

    A long passage is split as :func:`nbutils.models.passage_windows` splits it for encoding; the
    window the model finds closest to the query stands in for the passage (``positive_text``,
    ``negative_text``), so training never pairs a query with a cut-off start of the passage that
    lacks the part it asks about. Passages that fit are left as they are.

    With ``sentences`` > 0 the windows are those of ``window_sentences`` instead
    (:func:`nbutils.models.sentence_windows`): every passage of more than that many sentences trains as
    its closest run of ``sentences`` sentences under its title.
    """

    def split(pid: str) -> list[str]:
        p = corpus[pid]
        if sentences:
            return sentence_windows(p.title, p.text, sentences)
        return passage_windows(p.full_text(), model.tokenizer, model.max_seq_length)

    needed = sorted({t.positive for t in triples} | {t.negative for t in triples if t.negative})
    windows = {pid: split(pid) for pid in needed}
    windows = {pid: w for pid, w in windows.items() if len(w) > 1}
    if not windows:
        return list(triples)
    rows: dict[str, slice] = {}
    flat: list[str] = []
    for pid, parts in windows.items():
        rows[pid] = slice(len(flat), len(flat) + len(parts))
        flat += parts
    emb = encode(model, flat, batch_size, kind="document", progress=progress)
    queries = sorted({t.query for t in triples})
    q_emb = dict(zip(queries, encode(model, queries, batch_size, kind="query", progress=False), strict=True))

    def best(query: str, pid: str | None) -> str | None:
        if pid not in windows:
            return None
        return windows[pid][int(np.argmax(emb[rows[pid]] @ q_emb[query]))]

    return [
        replace(t, positive_text=best(t.query, t.positive), negative_text=best(t.query, t.negative)) for t in triples
    ]


def mine(
    params: Params, ws, pairs: list[Pair], positives: dict[str, set[str]], embeddings_dir, windows: bool = True
) -> list[Triple]:
    """Mine negatives for ``pairs`` with the teacher the params name (``mine_teacher``: bm25, dense, hybrid).

    With ``split_by: document``, no passage of a held-out document becomes a negative, nor, with a
    synthetic test set, any passage of its sections. With
    ``long_passages: windows`` (and ``windows``), long passages are given the window training uses
    (:func:`choose_windows`, by the base model).
    """

    bm25, dense, model = _teacher(params, ws, embeddings_dir)
    rescorer = None
    if params.mine_rescorer:
        rescorer = CrossEncoderRescorer.load(
            params.mine_rescorer, ws.corpus, resolve_device(params.device), params.encode_batch_size
        )
    triples = mine_hybrid(
        pairs,
        bm25,
        dense,
        model,
        positives,
        params.negatives_per_query,
        params.mine_range_min,
        params.mine_range_max,
        params.mine_margin,
        TEACHER_WEIGHTS[params.mine_teacher],
        params.encode_batch_size,
        rescorer,
        trainable_passages(ws) if holds_out_passages(ws) else None,
        draw=params.distill_negatives if params.loss == "marginmse" else 0,
        seed=params.seed,
    )
    if not windows or params.long_passages != "windows":
        return triples
    if model is None:
        model = load_encoder(params.base_model, params.device, params.max_seq_length).model
    return choose_windows(triples, ws.corpus, model, params.encode_batch_size)


def mine_refit(
    params: Params, ws, refit_pairs: list[Pair], triples: list[Triple], positives: dict[str, set[str]], embeddings_dir
) -> list[Triple]:
    """The rows that train the refit model (``refit_with_dev``); empty without it.

    A pair that is also a train pair keeps the rows mined for it (``triples``); the others (the dev split's
    pairs, and pairs the dev leakage guard kept out of the train split) are mined the same way, with the
    refit pairs' own positives known as well.
    """
    if not params.refit_with_dev:
        return []

    def key(p) -> tuple[str, str, str]:
        return (p.query, p.positive, p.source)

    wanted = {key(p) for p in refit_pairs}
    have = {key(t) for t in triples}
    new = [p for p in refit_pairs if key(p) not in have]
    known = {q: set(ids) for q, ids in positives.items()}
    for q, ids in known_positives(refit_pairs, ws.corpus).items():
        known.setdefault(q, set()).update(ids)
    mined = mine(params, ws, new, known, embeddings_dir) if new else []
    return [t for t in triples if key(t) in wanted] + mined


def _teacher(params: Params, ws, embeddings_dir):

    bm25 = bm25_index(ws, params.bm25_backend)
    if params.mine_teacher == "bm25":
        return bm25, None, None
    base = load_encoder(params.base_model, params.device, params.max_seq_length, long_passages=params.long_passages)
    return bm25, dense_index(base, ws, embeddings_dir, params.encode_batch_size), base.model


def false_negative_estimate(params: Params, ws, embeddings_dir, limit: int = 500) -> tuple[dict, list[dict]]:
    """How often the miner picks a passage that is in fact relevant.

    For gold train queries with two or more relevant passages, negatives are mined knowing only one of
    them; the share of mined negatives that are among the others estimates the false-negative rate.
    With ``negatives_per_query`` 0 nothing is mined and nothing is loaded.

    Returns:
        ``(summary, examples)``.
    """
    queries, qrels = ws.split("train")
    multi = [q for q in sorted(queries) if len(qrels[q]) > 1][:limit]
    pairs = [Pair(queries[q], sorted(qrels[q])[0], "gold", "train split") for q in multi]
    if not pairs or params.negatives_per_query <= 0:
        return {"queries": len(pairs), "negatives": 0, "false_negatives": 0, "rate": None}, []
    known = known_positives(pairs, ws.corpus)
    triples = mine(params, ws, pairs, known, embeddings_dir, windows=False)
    by_text = {queries[q]: q for q in multi}
    mined = [t for t in triples if t.negative]
    wrong = [t for t in mined if t.negative in qrels[by_text[t.query]]]
    summary = {"queries": len(pairs), "negatives": len(mined), "false_negatives": len(wrong)}
    summary["rate"] = round(len(wrong) / len(mined), 4) if mined else None
    examples = [{"query": t.query, "mined negative (gold-relevant)": t.negative, "rank": t.neg_rank} for t in wrong[:8]]
    return summary, examples


def setting(params: Params) -> str:
    """One Markdown sentence saying what the miner was asked to do (for the report)."""
    if params.loss == "marginmse":
        judge = f", rescored by the cross-encoder `{params.mine_rescorer}`" if params.mine_rescorer else ""
        return (
            f"`loss: marginmse`: **{params.distill_negatives}** negatives per pair drawn at random from the top "
            f"{params.mine_range_max} of the **{params.mine_teacher}** teacher{judge}, each with the teacher's "
            "margin (how far below the positive it scores) for the model to learn."
        )
    if params.negatives_per_query <= 0:
        return "`negatives_per_query: 0`: nothing is mined, training uses in-batch negatives only" + (
            " (long positives still get their window)." if params.long_passages == "windows" else "."
        )
    judge = f", rescored by the cross-encoder `{params.mine_rescorer}`" if params.mine_rescorer else ""
    return (
        f"Up to **{params.negatives_per_query}** negatives per pair from ranks {params.mine_range_min + 1}–"
        f"{params.mine_range_max} of the **{params.mine_teacher}** teacher{judge}, each at least "
        f"{params.mine_margin} z below the positive's score."
    )


def summary(triples: list[Triple]) -> dict[str, int]:
    """Pairs, pairs with at least one negative, negatives, negatives per source, and how many long
    positives and negatives are given as a window (see :func:`choose_windows`)."""
    pairs = {(t.query, t.positive) for t in triples}
    with_neg = {(t.query, t.positive) for t in triples if t.negative}
    out = {"pairs": len(pairs), "pairs_with_negative": len(with_neg), "pairs_without_negative": len(pairs - with_neg)}
    out["negatives"] = sum(1 for t in triples if t.negative)
    if any(t.positive_text or t.negative_text for t in triples):
        out["positives_as_window"] = len({(t.query, t.positive) for t in triples if t.positive_text})
        out["negatives_as_window"] = sum(1 for t in triples if t.negative_text)
    for src in sorted({t.neg_source for t in triples if t.neg_source}):
        out[f"negatives_{src}"] = sum(1 for t in triples if t.neg_source == src)
    return out


def examples(triples: list[Triple], corpus: dict, n: int = 8, seed: int = 0, width: int = 120):
    """A few (query, positive, negative) rows with passage starts, for eyeballing (a DataFrame)."""
    import random

    import pandas as pd

    chosen = [t for t in triples if t.negative]
    chosen = random.Random(seed).sample(chosen, min(n, len(chosen)))
    snip = lambda pid: corpus[pid].full_text().replace("\n", " ")[:width] + "…"  # noqa: E731
    return pd.DataFrame(
        columns=["query", "positive", "negative", "rank", "source"],
        data=[
            {
                "query": t.query,
                "positive": snip(t.positive),
                "negative": snip(t.negative),
                "rank": t.neg_rank,
                "source": t.neg_source,
            }
            for t in chosen
        ],
    )
