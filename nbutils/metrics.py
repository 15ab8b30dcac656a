"""Retrieval metrics from qrels and runs: recall@K, MRR@10, nDCG@10, MAP@100.

``qrels``: ``{query_id: {passage_id: grade}}`` (grade > 0 is relevant); ``run``: ``{query_id:
{passage_id: score}}``. Queries without relevant passages are ignored; a query missing from the run
scores 0.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["average_precision_at_k", "evaluate_run", "mrr_at_k", "ndcg_at_k", "per_query", "recall_at_k"]


def _ranked(scores: dict[str, float]) -> list[str]:
    return [pid for pid, _ in sorted(scores.items(), key=lambda kv: -kv[1])]


def recall_at_k(rel: dict[str, int], ranked: list[str], k: int) -> float:
    """Share of the relevant passages found in the top ``k``."""
    relevant = {p for p, g in rel.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at_k(rel: dict[str, int], ranked: list[str], k: int = 10) -> float:
    """Reciprocal rank of the first relevant passage within the top ``k`` (0 if none)."""
    for i, pid in enumerate(ranked[:k], 1):
        if rel.get(pid, 0) > 0:
            return 1.0 / i
    return 0.0


def ndcg_at_k(rel: dict[str, int], ranked: list[str], k: int = 10) -> float:
    """nDCG with linear gains (``grade / log2(rank + 1)``), as in BEIR and trec_eval."""
    dcg = sum(rel.get(pid, 0) / math.log2(i + 1) for i, pid in enumerate(ranked[:k], 1))
    ideal = sorted((g for g in rel.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, 1))
    return dcg / idcg if idcg else 0.0


def average_precision_at_k(rel: dict[str, int], ranked: list[str], k: int = 100) -> float:
    """Average precision over the top ``k``: the mean of precision@rank at each relevant hit.

    The sum is divided by ``min(k, number of relevant passages)``, as in sentence-transformers'
    ``InformationRetrievalEvaluator`` (``map@100``); with fewer than ``k`` relevant passages this is
    trec_eval's AP cut at ``k``. Its mean over queries is MAP@k.

    Example:
        >>> average_precision_at_k({"a": 1, "b": 1}, ["a", "x", "b"])  # (1/1 + 2/3) / 2
        0.8333333333333333
    """
    relevant = {p for p, g in rel.items() if g > 0}
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for i, pid in enumerate(ranked[:k], 1):
        if pid in relevant:
            found += 1
            total += found / i
    return total / min(k, len(relevant))


def per_query(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], k_values=(1, 5, 10, 100)
) -> dict[str, dict[str, float]]:
    """Every metric for every judged query: ``{query_id: {"recall@10": …, "ndcg@10": …, "map@100": …, …}}``."""
    out: dict[str, dict[str, float]] = {}
    for qid, rel in qrels.items():
        if not any(g > 0 for g in rel.values()):
            continue
        ranked = _ranked(run.get(qid, {}))
        row = {f"recall@{k}": recall_at_k(rel, ranked, k) for k in k_values}
        row["mrr@10"] = mrr_at_k(rel, ranked, 10)
        row["ndcg@10"] = ndcg_at_k(rel, ranked, 10)
        row["map@100"] = average_precision_at_k(rel, ranked, 100)
        out[qid] = row
    return out


def evaluate_run(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], k_values=(1, 5, 10, 100)
) -> dict[str, float]:
    """Mean of each metric over the judged queries (and ``queries``, their count).

    Example:
        >>> evaluate_run({"q": {"a": 1}}, {"q": {"b": 2.0, "a": 1.0}}, k_values=(1, 2))
        {'recall@1': 0.0, 'recall@2': 1.0, 'mrr@10': 0.5, 'ndcg@10': 0.6309297535714575, 'map@100': 0.5, 'queries': 1}
    """
    rows = per_query(qrels, run, k_values)
    if not rows:
        raise ValueError("no judged queries to evaluate")
    keys = next(iter(rows.values())).keys()
    summary = {key: float(np.mean([r[key] for r in rows.values()])) for key in keys}
    summary["queries"] = len(rows)
    return summary
