"""Stage 5, evaluate: base vs fine-tuned vs BM25 vs hybrid on the held-out test queries."""

from __future__ import annotations

from .metrics import evaluate_run, per_query
from .retrieval import BM25Index, DenseIndex, Run, reciprocal_rank_fusion

__all__ = ["compare_systems", "per_query_deltas", "system_runs"]


def system_runs(
    queries: dict[str, str],
    base: tuple[object, DenseIndex],
    tuned: tuple[object, DenseIndex],
    bm25: BM25Index,
    k: int = 100,
    rrf_k: int = 60,
    batch_size: int = 64,
) -> dict[str, Run]:
    """Runs of every system on ``queries``.

    Args:
        base: (model, index) of the base model.
        tuned: (model, index) of the fine-tuned model.
    """
    base_run = base[1].search(base[0], queries, k=k, batch_size=batch_size)
    tuned_run = tuned[1].search(tuned[0], queries, k=k, batch_size=batch_size)
    bm25_run = bm25.search(queries, k=k)
    return {
        "base": base_run,
        "fine-tuned": tuned_run,
        "bm25": bm25_run,
        "hybrid (fine-tuned + bm25, RRF)": reciprocal_rank_fusion([tuned_run, bm25_run], k=rrf_k, depth=k),
    }


def compare_systems(qrels: dict, runs: dict[str, Run], k_values: list[int]) -> dict[str, dict[str, float]]:
    """Metrics per system: recall at every cut-off in ``k_values``, MRR@10 and nDCG@10."""
    return {name: evaluate_run(qrels, run, tuple(k_values)) for name, run in runs.items()}


def per_query_deltas(qrels: dict, before: Run, after: Run, metric: str = "ndcg@10") -> dict[str, float]:
    """Per-query change of ``metric`` from run ``before`` to run ``after``."""
    a, b = per_query(qrels, before), per_query(qrels, after)
    return {q: b[q][metric] - a[q][metric] for q in a}
