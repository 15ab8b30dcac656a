"""Training pairs (query, relevant passage) from every source, each with its provenance.

Sources: gold labels of the *train* split (never dev or test), click logs, and generators over the
corpus — an LLM asked for the question a passage answers (local model or OpenAI-compatible endpoint),
and the heuristic baselines ``title`` (the section heading) and ``cloze`` (one sentence of the passage),
kept for comparison. Generated questions pass quality filters (:mod:`nbutils.filters`); every pair,
whatever its source, passes the leakage guard against held-out questions. When every LLM request failed,
or more than ``llm_max_failures`` of them, :func:`check_failures` fails the stage with :class:`GenerationFailed`.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

from .. import filters
from ..config import Params
from ..data import DataIssues, Passage
from ..llm import ChatModel
from ..models import load_encoder
from ..pairs import Pair, click_pairs, normalize_query, save_pairs
from ..paths import DomainPaths
from ..questions import (
    Generation,
    few_shot_examples,
    filter_generated,
    llm_pairs,
    prompt_for,
)
from ..retrieval import reciprocal_rank_fusion
from ..tables import shorten
from ..workspace import (
    Workspace,
    bm25_index,
    dense_index,
    document_of,
    held_out_documents,
    holds_out_passages,
    section_of,
    trainable_passages,
)

__all__ = [
    "PairSet",
    "build_pairs",
    "dropped_examples",
    "examples",
    "generate",
    "gold_pairs",
    "leakage_filter",
    "roundtrip_retriever",
    "sample_passages",
    "save_training_pairs",
    "summary",
]


def gold_pairs(ws: Workspace, splits: tuple[str, ...] = ("train",)) -> list[Pair]:
    """Pairs from the gold labels of the train split only (or of ``splits``, e.g. train and dev for a refit)."""
    out = []
    for split in splits:
        queries, qrels = ws.split(split)
        out += [Pair(queries[q], pid, "gold", f"{split} split") for q in queries for pid in qrels[q]]
    return out


# --------------------------------------------------------------------------- heuristic generators

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _title_query(p: Passage, rng: random.Random) -> str | None:
    heading = p.text.split("\n", 1)[0].strip()
    return heading if 2 <= len(heading.split()) <= 12 else (p.title or None)


def _cloze_query(p: Passage, rng: random.Random) -> str | None:
    body = " ".join(p.text.split("\n")[1:]) or p.text
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(body.split())) if 5 <= len(s.split()) <= 30]
    return rng.choice(sentences) if sentences else None


HEURISTICS = {"title": _title_query, "cloze": _cloze_query}


def sample_passages(ws: Workspace, n: int, seed: int) -> list[str]:
    """A seeded sample of ``n`` passage ids (0 = all), in a stable order.

    Passages training may not see (held-out documents, sections of the synthetic test set) are never sampled.
    """

    ids = sorted(trainable_passages(ws))
    return ids if n <= 0 or n >= len(ids) else sorted(random.Random(seed).sample(ids, n))


def generate(ws: Workspace, generators: list[str], passage_ids: list[str], per_passage: int, seed: int) -> list[Pair]:
    """Run the heuristic generators over ``passage_ids``.

    Raises:
        ValueError: for an unknown generator, listing the valid ones.
    """
    for g in generators:
        if g not in HEURISTICS:
            raise ValueError(f"unknown heuristic generator {g!r}; valid: {', '.join(HEURISTICS)}")
    rng = random.Random(seed)
    pairs = []
    for g in generators:
        for pid in passage_ids:
            for _ in range(per_passage):
                q = HEURISTICS[g](ws.corpus[pid], rng)
                if q:
                    pairs.append(Pair(q, pid, "synthetic", f"generator:{g}"))
    return pairs


# --------------------------------------------------------------------------- LLM generator


# --------------------------------------------------------------------------- leakage and assembly


def leakage_filter(
    pairs: list[Pair], ws: Workspace, splits: tuple[str, ...] = ("test", "dev"), near: float = 0.9
) -> tuple[list[Pair], list[Pair]]:
    """Drop pairs whose query equals or nearly equals a held-out query (word n-gram cosine ≥ ``near``).

    When the workspace was split by document (``split_by: document``), also drop pairs whose positive
    belongs to a document of a held-out query, so held-out documents never train the model.

    Returns:
        ``(kept, dropped)``.
    """
    bad = _held_out_questions(pairs, ws, splits, near) | _held_out_positives(pairs, ws, splits)
    return _partition(pairs, bad)


def _partition(pairs: list[Pair], bad: set[int]) -> tuple[list[Pair], list[Pair]]:
    return [p for i, p in enumerate(pairs) if i not in bad], [p for i, p in enumerate(pairs) if i in bad]


def _held_out_questions(pairs: list[Pair], ws: Workspace, splits: tuple[str, ...], near: float) -> set[int]:
    """Indexes of pairs whose query equals or nearly equals a held-out query."""
    held = [ws.queries[q] for q in ws.held_out(splits)]
    held_norm = {normalize_query(q) for q in held}
    exact = {i for i, p in enumerate(pairs) if normalize_query(p.query) in held_norm}
    close = {i for i, _, _ in filters.near_duplicate_pairs([p.query for p in pairs], held, near)} if near < 1 else set()
    return exact | close


def _held_out_positives(pairs: list[Pair], ws: Workspace, splits: tuple[str, ...]) -> set[int]:
    """Indexes of pairs whose positive training may not see: in a held-out document (``split_by: document``)
    or in a section of the synthetic test set. None otherwise."""
    held = held_out_documents(ws, splits) if ws.split_by == "document" else set()
    units = set(ws.held_out_units)
    return {i for i, p in enumerate(pairs) if document_of(p.positive) in held or section_of(p.positive) in units}


@dataclass
class PairSet:
    """Pairs from every source after filtering, and what each filter dropped."""

    kept: list[Pair]
    report: filters.FilterReport
    failures: list[tuple[str, str]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    click_issues: DataIssues = field(default_factory=DataIssues)
    refit: list[Pair] = field(default_factory=list)  # with refit_with_dev: pairs of train and dev, guarded against test
    generation: Generation | None = None  # the LLM generator's outcome, for :func:`check_failures`

    @property
    def dropped(self) -> list[Pair]:
        return [p for ps in self.report.dropped.values() for p in ps]


def build_pairs(ws: Workspace, params: Params, chat: ChatModel | None = None, retriever=None) -> PairSet:
    """Collect gold (train split), click and generated pairs; filter the generated ones; guard leakage.

    Args:
        chat: the chat model for the ``llm`` generator (see :func:`chat_model`).
        retriever: ``fn(queries, k) -> run`` for the round-trip filter, or ``None`` to skip it.
    """
    passage_ids = sample_passages(ws, params.synth_passages, params.seed)
    generated = generate(
        ws, [g for g in params.generators if g != "llm"], passage_ids, params.synth_per_passage, params.seed
    )
    failures: list[tuple[str, str]] = []
    gen = None
    if "llm" in params.generators:
        shots = few_shot_examples(ws, params.few_shot, params.seed)
        gen = llm_pairs(
            ws, chat, passage_ids, params.synth_per_passage, prompt_for(params), shots, style=params.query_style
        )
        generated, failures = gen.pairs + generated, gen.failures
    report = filter_generated(generated, ws, params, retriever)
    issues = DataIssues()
    clicks = click_pairs(params.clicks_file, ws, params.min_clicks, issues) if params.clicks_file else []
    held = ("test", "dev")
    generated_kept = list(report.kept)
    pairs = gold_pairs(ws) + clicks + generated_kept
    report.step("held-out questions", *_partition(pairs, _held_out_questions(pairs, ws, held, params.near_duplicate)))
    if holds_out_passages(ws):
        name = "held-out documents" if ws.split_by == "document" else "held-out sections"
        report.step(name, *_partition(report.kept, _held_out_positives(report.kept, ws, held)))
    usage = chat.tally.as_dict() if chat is not None else {}
    refit: list[Pair] = []
    if params.refit_with_dev:  # the dev questions train the refit model; the test split stays held out
        refit_candidates = gold_pairs(ws, ("train", "dev")) + clicks + generated_kept
        refit = leakage_filter(refit_candidates, ws, ("test",), params.near_duplicate)[0]
    return PairSet(report.kept, report, failures, usage, issues, refit, gen)


def save_training_pairs(pairs: PairSet, params: Params, paths: DomainPaths) -> list[Pair]:
    """Write every kept pair (``pairs.jsonl``), those of ``train_sources`` (``train_pairs.jsonl``), the
    refit pairs of those sources (``refit_pairs.jsonl``, empty without ``refit_with_dev``) and the click
    log's problems (``click_issues.jsonl``).

    Returns:
        the training pairs of the train split.
    """
    train = [p for p in pairs.kept if p.source in params.train_sources]
    pairs.click_issues.write(paths.click_issues)
    save_pairs(pairs.kept, paths.pairs)
    save_pairs(train, paths.train_pairs)
    save_pairs([p for p in pairs.refit if p.source in params.train_sources], paths.refit_pairs)
    return train


def summary(pairs: list[Pair], train_sources: list[str]):
    """Pairs per source and origin, and whether they train the model (a DataFrame)."""
    import pandas as pd

    rows = Counter((p.source, p.origin.split(":")[0] if p.source == "clicks" else p.origin) for p in pairs)
    return pd.DataFrame(
        [
            {"source": s, "origin": o, "pairs": n, "trains the model": s in train_sources}
            for (s, o), n in sorted(rows.items())
        ]
    )


def examples(pairs: list[Pair], ws: Workspace, per_origin: int = 3, seed: int = 0, width: int = 160):
    """A few pairs of each origin with the start of their passage (a DataFrame)."""
    import pandas as pd

    rng = random.Random(seed)
    groups = filters.by_origin(
        [p if p.source != "clicks" else Pair(p.query, p.positive, p.source, "clicks") for p in pairs]
    )
    rows = []
    for origin, group in sorted(groups.items()):
        for p in rng.sample(group, min(per_origin, len(group))):
            text = ws.corpus[p.positive].full_text().replace("\n", " ")
            rows.append({"origin": origin, "query": p.query, "passage": p.positive, "text": text[:width] + "…"})
    return pd.DataFrame(rows, columns=["origin", "query", "passage", "text"])


def roundtrip_retriever(params: Params, ws: Workspace, embeddings_dir):
    """``fn(queries, k) -> run`` for the round-trip filter: base dense, BM25 or their fusion; ``None`` for none."""

    kind = params.roundtrip
    if kind == "none":
        return None
    bm25 = bm25_index(ws, params.bm25_backend) if kind in {"bm25", "hybrid"} else None
    dense = None
    if kind in {"dense", "hybrid"}:
        base = load_encoder(params.base_model, params.device, params.max_seq_length, long_passages=params.long_passages)
        dense = (base.model, dense_index(base, ws, embeddings_dir, params.encode_batch_size))

    def retrieve(queries: dict[str, str], k: int):
        runs = []
        if dense is not None:
            runs.append(dense[1].search(dense[0], queries, k=max(k, 100), batch_size=params.encode_batch_size))
        if bm25 is not None:
            runs.append(bm25.search(queries, k=max(k, 100)))
        return runs[0] if len(runs) == 1 else reciprocal_rank_fusion(runs, depth=max(k, 100))

    return retrieve


def dropped_examples(report: filters.FilterReport, ws: Workspace, per_filter: int = 3, seed: int = 0):
    """A few dropped questions per filter, with their passage's start (a DataFrame)."""
    import pandas as pd

    rng = random.Random(seed)
    rows = []
    for name, dropped in report.dropped.items():
        for p in rng.sample(dropped, min(per_filter, len(dropped))):
            text = shorten(ws.corpus[p.positive].full_text(), 120)
            rows.append({"filter": name, "origin": p.origin, "query": p.query, "passage": text})
    return pd.DataFrame(rows, columns=["filter", "origin", "query", "passage"])
