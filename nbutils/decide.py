"""Stage 1, decide: how good are generic embeddings, BM25 and hybrid already, and is there enough data?

The recommendation is one of ``fine-tune``, ``hybrid`` or ``skip``, with the reasons written as
sentences built from the measured numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .mining import duplicate_groups
from .retrieval import BM25Index, DenseIndex, Run, reciprocal_rank_fusion
from .workspace import Workspace

__all__ = ["Decision", "Recommendation", "baseline_runs", "corpus_stats", "issue_table", "recommend"]


class Decision(str, Enum):
    FINE_TUNE = "fine-tune"
    HYBRID = "hybrid"
    SKIP = "skip"


@dataclass
class Recommendation:
    decision: Decision
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"decision": self.decision.value, "reasons": self.reasons}

    def to_markdown(self) -> str:
        return f"### Recommendation: **{self.decision.value}**\n\n" + "\n".join(f"- {r}" for r in self.reasons)


def corpus_stats(ws: Workspace) -> dict[str, float | int]:
    """Size of the corpus and of the labelled data, per split."""
    words = np.array([len(p.full_text().split()) for p in ws.corpus.values()])
    pairs = {s: sum(len(ws.qrels[q]) for q in ws.splits[s]) for s in ws.splits}
    return {
        "passages": len(ws.corpus),
        "documents": len({pid.split("#", 1)[0] for pid in ws.corpus}),
        "words_per_passage_mean": round(float(words.mean()), 1),
        "words_per_passage_median": float(np.median(words)),
        "labelled_queries": len(ws.queries),
        "train_queries": len(ws.splits["train"]),
        "dev_queries": len(ws.splits["dev"]),
        "test_queries": len(ws.splits["test"]),
        "labelled_pairs": sum(pairs.values()),
        "train_pairs": pairs["train"],
        "passages_with_duplicate_text": len(duplicate_groups(ws.corpus)),
        "data_issues": len(ws.issues),
    }


def baseline_runs(
    ws: Workspace, dense: DenseIndex, bm25: BM25Index, model, split: str = "test", k: int = 100, rrf_k: int = 60
) -> dict[str, Run]:
    """Runs of the base dense model, BM25 and their reciprocal-rank fusion on one split."""
    queries, _ = ws.split(split)
    dense_run = dense.search(model, queries, k=k)
    bm25_run = bm25.search(queries, k=k)
    return {"base": dense_run, "bm25": bm25_run, "hybrid": reciprocal_rank_fusion([dense_run, bm25_run], k=rrf_k)}


def issue_table(ws: Workspace, limit: int = 20):
    """Data problems found while loading: counts per kind and the first ``limit`` (a DataFrame)."""
    import pandas as pd

    rows = [{"file": i.file, "line": i.line, "kind": i.kind, "message": i.message} for i in list(ws.issues)[:limit]]
    return pd.DataFrame(rows, columns=["file", "line", "kind", "message"])


def recommend(
    scores: dict[str, dict[str, float]],
    labelled_pairs: int,
    min_pairs: int,
    fine_tune_below: float,
    skip_above: float,
    vocabulary=None,
) -> Recommendation:
    """Apply the rule: skip when generic recall@10 is already high; hybrid when fusion closes the gap;
    fine-tune when generic recall is low (with synthetic pairs when labels are scarce).

    Args:
        scores: metrics per system with at least ``base``, ``bm25`` and ``hybrid`` (``recall@10``).
        labelled_pairs: labelled training pairs available.
        min_pairs: pairs needed to fine-tune on labels alone.
        fine_tune_below: base recall@10 under which fine-tuning is recommended.
        skip_above: recall@10 at or above which the generic setup is good enough.
        vocabulary: a :class:`~nbutils.vocabulary.VocabularyReport` (adds the vocabulary evidence), or ``None``.
    """
    base, bm25, hybrid = (scores[s]["recall@10"] for s in ("base", "bm25", "hybrid"))
    facts = [
        f"Generic embeddings find {base:.0%} of relevant passages in the top 10 (recall@10); "
        f"BM25 {bm25:.0%}; hybrid {hybrid:.0%}.",
        f"{labelled_pairs:,} labelled training pairs are available (threshold {min_pairs:,}).",
    ]
    if vocabulary is not None:
        v = vocabulary
        facts.append(
            f"{v.rare_token_share:.0%} of word occurrences are rare in general English; the base tokenizer splits the "
            f"top domain terms into {v.pieces_domain:.1f} pieces per word (general words: {v.pieces_general:.1f}): "
            + ("the vocabulary is special." if v.special else "the vocabulary is close to general English.")
        )
    if base >= skip_above:
        return Recommendation(
            Decision.SKIP,
            [*facts, f"Generic recall@10 is already at or above {skip_above:.0%}: fine-tuning has little headroom."],
        )
    if hybrid >= skip_above:
        return Recommendation(
            Decision.HYBRID,
            [*facts, f"Hybrid retrieval already reaches {skip_above:.0%}: it closes the gap without training."],
        )
    reasons = list(facts)
    if base < fine_tune_below:
        reasons.append(f"Generic recall@10 is below {fine_tune_below:.0%}: the model misses this domain.")
    else:
        reasons.append(
            f"Generic recall@10 is between {fine_tune_below:.0%} and {skip_above:.0%}: fine-tuning may still pay off."
        )
    if labelled_pairs < min_pairs:
        reasons.append(
            "Labelled pairs are below the threshold: add synthetic pairs (stage 2) "
            "and weigh the result on held-out gold."
        )
    if base >= fine_tune_below and hybrid - base >= 0.05 and labelled_pairs < min_pairs:
        reasons.append(f"Hybrid gains {hybrid - base:+.0%} over dense alone with no training: start there.")
        return Recommendation(Decision.HYBRID, reasons)
    return Recommendation(Decision.FINE_TUNE, reasons)
