"""Stage 5, evaluate: base vs fine-tuned vs BM25 vs hybrid on the held-out test queries.

Beyond the test split: queries from a source that did not train the model (out of distribution) and a shipped
general-English set that catches forgetting, scored for base and fine-tuned side by side. :func:`run` is the
stage; :mod:`.compare` holds the comparisons it makes, :mod:`.explorer` the interactive query panel.
"""

from __future__ import annotations

from .compare import (
    GENERAL,
    GENERAL_SET,
    IN_DOMAIN,
    OUT_OF_DISTRIBUTION,
    RRF_HYBRID,
    WEIGHTED_HYBRID,
    WEIGHTS,
    EvalSet,
    best_fusion_weight,
    biggest_changes,
    bootstrap_ci,
    click_queries,
    compare_systems,
    confidence_table,
    dense_scores,
    detectable_difference,
    dev_scored_system,
    general_set,
    out_of_distribution_sources,
    paired_test,
    per_query_deltas,
    refit_comparison,
    robustness_sets,
    robustness_table,
    significance_table,
    summaries_by_source,
    summary_table,
    system_runs,
    test_set_note,
    tune_fusion_weight,
    tuned_hybrid,
    z_margin,
)
from .explorer import QueryExplorer
from .stage import EvaluateReport, run

__all__ = [
    "EvalSet",
    "EvaluateReport",
    "GENERAL",
    "GENERAL_SET",
    "IN_DOMAIN",
    "OUT_OF_DISTRIBUTION",
    "QueryExplorer",
    "RRF_HYBRID",
    "WEIGHTED_HYBRID",
    "WEIGHTS",
    "best_fusion_weight",
    "biggest_changes",
    "bootstrap_ci",
    "click_queries",
    "compare_systems",
    "confidence_table",
    "dense_scores",
    "detectable_difference",
    "dev_scored_system",
    "general_set",
    "out_of_distribution_sources",
    "paired_test",
    "per_query_deltas",
    "refit_comparison",
    "robustness_sets",
    "robustness_table",
    "run",
    "significance_table",
    "summaries_by_source",
    "summary_table",
    "system_runs",
    "test_set_note",
    "tune_fusion_weight",
    "tuned_hybrid",
    "z_margin",
]
