"""Stage 5, evaluate: base vs fine-tuned vs BM25 vs hybrid on the held-out test queries."""

from __future__ import annotations

from .metrics import evaluate_run, per_query
from .retrieval import BM25Index, DenseIndex, Run, reciprocal_rank_fusion, weighted_fusion

__all__ = [
    "best_fusion_weight",
    "biggest_changes",
    "bootstrap_ci",
    "compare_systems",
    "confidence_table",
    "paired_test",
    "per_query_deltas",
    "significance_table",
    "system_runs",
    "tune_fusion_weight",
]


def system_runs(
    queries: dict[str, str],
    base: tuple[object, DenseIndex],
    tuned: tuple[object, DenseIndex],
    bm25: BM25Index,
    k: int = 100,
    rrf_k: int = 60,
    batch_size: int = 64,
    fusion_weight: float | None = None,
) -> dict[str, Run]:
    """Runs of every system on ``queries``.

    Args:
        base: (model, index) of the base model.
        tuned: (model, index) of the fine-tuned model.
        fusion_weight: BM25 weight of a weighted z-score fusion (tuned on dev, see
            :func:`tune_fusion_weight`); ``None`` leaves that system out.
    """
    base_run = base[1].search(base[0], queries, k=k, batch_size=batch_size)
    tuned_run = tuned[1].search(tuned[0], queries, k=k, batch_size=batch_size)
    bm25_run = bm25.search(queries, k=k)
    runs = {
        "base": base_run,
        "fine-tuned": tuned_run,
        "bm25": bm25_run,
        "hybrid (fine-tuned + bm25, RRF)": reciprocal_rank_fusion([tuned_run, bm25_run], k=rrf_k, depth=k),
    }
    if fusion_weight is not None:
        name = f"hybrid (weighted, bm25 weight {fusion_weight:g} from dev)"
        runs[name] = weighted_fusion([tuned_run, bm25_run], [1 - fusion_weight, fusion_weight], depth=k)
    return runs


WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7)


def tune_fusion_weight(
    queries: dict[str, str],
    qrels: dict,
    tuned: tuple[object, DenseIndex],
    bm25: BM25Index,
    weights=WEIGHTS,
    k: int = 100,
):
    """Pick the BM25 weight of weighted z-score fusion that maximises nDCG@10 on the dev split.

    Returns:
        ``(best weight or None when there are no dev queries, table of nDCG@10 per weight)``.
    """
    import pandas as pd

    if not queries:
        return None, pd.DataFrame(columns=["bm25 weight", "dev nDCG@10"])
    return best_fusion_weight(qrels, tuned[1].search(tuned[0], queries, k=k), bm25.search(queries, k=k), weights)


def best_fusion_weight(qrels: dict, dense_run: Run, bm25_run: Run, weights=WEIGHTS):
    """The BM25 weight (among ``weights``) whose weighted z-score fusion scores the best nDCG@10 on ``qrels``.

    Returns:
        ``(weight, table of nDCG@10 per weight)``; ties go to the smaller weight.
    """
    import pandas as pd

    rows = [
        {
            "bm25 weight": w,
            "dev nDCG@10": evaluate_run(qrels, weighted_fusion([dense_run, bm25_run], [1 - w, w]), (10,))["ndcg@10"],
        }
        for w in weights
    ]
    best = max(rows, key=lambda r: r["dev nDCG@10"])["bm25 weight"]
    return best, pd.DataFrame(rows)


def compare_systems(qrels: dict, runs: dict[str, Run], k_values: list[int]) -> dict[str, dict[str, float]]:
    """Metrics per system: recall at every cut-off in ``k_values``, MRR@10 and nDCG@10."""
    return {name: evaluate_run(qrels, run, tuple(k_values)) for name, run in runs.items()}


def per_query_deltas(qrels: dict, before: Run, after: Run, metric: str = "ndcg@10") -> dict[str, float]:
    """Per-query change of ``metric`` from run ``before`` to run ``after``."""
    a, b = per_query(qrels, before), per_query(qrels, after)
    return {q: b[q][metric] - a[q][metric] for q in a}


def bootstrap_ci(values, n_resamples: int = 1000, seed: int = 42, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of per-query ``values``."""
    import numpy as np

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


def paired_test(qrels: dict, run_a: Run, run_b: Run, metric: str = "ndcg@10", seed: int = 42) -> dict[str, float]:
    """Paired permutation test (two-sided) of ``metric`` between two runs on the same queries (scipy)."""
    from scipy.stats import permutation_test

    a, b = per_query(qrels, run_a, (10, 100)), per_query(qrels, run_b, (10, 100))
    xs = [a[q][metric] for q in a]
    ys = [b[q][metric] for q in a]
    res = permutation_test(
        (xs, ys),
        lambda x, y: sum(x) / len(x) - sum(y) / len(y),
        permutation_type="samples",
        n_resamples=9999,
        alternative="two-sided",
        random_state=seed,
    )
    return {"difference": float(res.statistic), "p_value": float(res.pvalue), "queries": len(xs)}


def significance_table(qrels: dict, runs: dict[str, Run], metric: str = "ndcg@10", seed: int = 42):
    """Fine-tuned vs base, and hybrid vs the best single system, with p-values (a DataFrame)."""
    import pandas as pd

    singles = {k: v for k, v in runs.items() if not k.startswith("hybrid")}
    scores = {k: evaluate_run(qrels, v, (10,))[metric] for k, v in singles.items()}
    best = max(scores, key=scores.get)
    hybrids = {k: evaluate_run(qrels, v, (10,))[metric] for k, v in runs.items() if k.startswith("hybrid")}
    hybrid = max(hybrids, key=hybrids.get) if hybrids else None
    pairs = [("fine-tuned", "base")] + ([(hybrid, best)] if hybrid else [])
    rows = [{"comparison": f"{a} vs {b}", **paired_test(qrels, runs[a], runs[b], metric, seed)} for a, b in pairs]
    return pd.DataFrame(rows)


def biggest_changes(
    deltas: dict[str, float], queries: dict[str, str], qrels: dict, runs: dict[str, Run], corpus: dict, n: int = 5
):
    """The ``n`` biggest wins and losses of fine-tuned vs base, with the relevant passage and each top hit."""
    import pandas as pd

    def top1(run: Run, q: str) -> str:
        ranked = sorted(run.get(q, {}).items(), key=lambda kv: -kv[1])
        return ranked[0][0] if ranked else ""

    order = sorted(deltas, key=deltas.get)
    chosen = [q for q in order[::-1][:n] if deltas[q] > 0] + [q for q in order[:n] if deltas[q] < 0]
    rows = []
    for q in chosen:
        rel = next(iter(qrels[q]))
        rows.append(
            {
                "query": queries[q],
                "nDCG@10 change": round(deltas[q], 3),
                "relevant passage": corpus[rel].full_text().replace("\n", " ")[:100] + "…",
                "base top hit": top1(runs["base"], q),
                "fine-tuned top hit": top1(runs["fine-tuned"], q),
            }
        )
    return pd.DataFrame(rows)
