"""Retrieval metrics from qrels and runs: recall@K, MRR@10, nDCG@10, MAP@100; and their statistics:
bootstrap intervals, paired permutation tests, the smallest difference a set of queries can show.

``qrels``: ``{query_id: {passage_id: grade}}`` (grade > 0 is relevant); ``run``: ``{query_id:
{passage_id: score}}``. Queries without relevant passages are ignored; a query missing from the run
scores 0.
"""

from __future__ import annotations

import math

import numpy as np

Run = dict[str, dict[str, float]]  # query id → passage id → score

__all__ = [
    "average_precision_at_k",
    "bootstrap_ci",
    "compare_systems",
    "confidence_table",
    "detectable_difference",
    "evaluate_run",
    "mrr_at_k",
    "ndcg_at_k",
    "paired_test",
    "per_query",
    "per_query_deltas",
    "recall_at_k",
]


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


def compare_systems(qrels: dict, runs: dict[str, Run], k_values: list[int]) -> dict[str, dict[str, float]]:
    """Metrics per system: recall at every cut-off in ``k_values``, MRR@10, nDCG@10 and MAP@100."""
    return {name: evaluate_run(qrels, run, tuple(k_values)) for name, run in runs.items()}


def per_query_deltas(qrels: dict, before: Run, after: Run, metric: str = "ndcg@10") -> dict[str, float]:
    """Per-query change of ``metric`` from run ``before`` to run ``after``."""
    a, b = per_query(qrels, before), per_query(qrels, after)
    return {q: b[q][metric] - a[q][metric] for q in a}


def bootstrap_ci(values, n_resamples: int = 1000, seed: int = 42, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of per-query ``values``."""
    vals = np.asarray(list(values), dtype=float)
    if len(vals) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = vals[rng.integers(0, len(vals), size=(n_resamples, len(vals)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def confidence_table(qrels: dict, runs: dict[str, Run], metrics=("ndcg@10", "recall@10"), seed: int = 42):
    """Mean and 95 % bootstrap interval of each metric for each system (a DataFrame)."""
    import pandas as pd

    rows = []
    for name, run in runs.items():
        per = per_query(qrels, run, (10, 100))
        for m in metrics:
            vals = [r[m] for r in per.values()]
            low, high = bootstrap_ci(vals, seed=seed)
            rows.append({"system": name, "metric": m, "mean": sum(vals) / len(vals), "low": low, "high": high})
    return pd.DataFrame(rows)


def paired_test(
    qrels: dict, run_a: Run, run_b: Run, metric: str = "ndcg@10", seed: int = 42, k_values=(10, 100)
) -> dict[str, float]:
    """Paired permutation test (two-sided) of ``metric`` between two runs on the same queries (scipy);
    ``k_values`` must hold the metric's cut-off. Fewer than two queries show nothing: p = 1."""
    from scipy.stats import permutation_test

    a, b = per_query(qrels, run_a, k_values), per_query(qrels, run_b, k_values)
    xs = [a[q][metric] for q in a]
    ys = [b[q][metric] for q in a]
    if len(xs) < 2:
        return {"difference": sum(xs) - sum(ys), "p_value": 1.0, "queries": len(xs)}
    res = permutation_test(
        (xs, ys),
        lambda x, y: sum(x) / len(x) - sum(y) / len(y),
        permutation_type="samples",
        n_resamples=9999,
        alternative="two-sided",
        random_state=seed,
    )
    return {"difference": float(res.statistic), "p_value": float(res.pvalue), "queries": len(xs)}


def detectable_difference(differences, power: float = 0.8, alpha: float = 0.05) -> float:
    """Smallest mean difference a two-sided paired test at level ``alpha`` detects with probability ``power``,
    given per-query ``differences`` between two systems: ``(z(1 - alpha/2) + z(power)) * sd / sqrt(n)``
    (normal approximation). ``nan`` with fewer than two queries."""
    from scipy.stats import norm

    d = np.asarray(list(differences), dtype=float)
    if len(d) < 2:
        return float("nan")
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * d.std(ddof=1) / np.sqrt(len(d)))
