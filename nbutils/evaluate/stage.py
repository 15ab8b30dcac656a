"""The evaluate stage's entry point: :func:`run` scores every system and returns an :class:`EvaluateReport`."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Params
from ..metrics import compare_systems, confidence_table, per_query_deltas
from ..models import load_encoder
from ..paths import DomainPaths
from ..report import read_metrics
from ..workspace import Workspace, bm25_index, dense_index, load_workspace
from .compare import (
    biggest_changes,
    dev_scored_system,
    fusion_note,
    refit_comparison,
    robustness_sets,
    robustness_table,
    significance_table,
    summaries_by_source,
    system_runs,
    test_set_note,
    tune_fusion_weight,
)
from .explorer import QueryExplorer

__all__ = ["EvaluateReport", "open_explorer", "run"]


@dataclass
class EvaluateReport:
    """Every system scored on the test queries, with intervals, tests, per-query changes and the checks beyond the
    test split; :meth:`to_metrics` is ``metrics/05_evaluate.json``, the rest is what the report shows."""

    ws: Workspace
    params: object
    systems: dict  # base, fine-tuned: (model, dense index); bm25: the BM25 index
    weight: float | None  # the BM25 weight chosen on dev
    weight_table: object  # DataFrame: the dev metric per weight
    runs: dict
    summary: object  # DataFrame: generic → fine-tuned → hybrid, per test source
    scores: dict[str, dict[str, float]]
    confidence: object  # DataFrame
    significance: object  # DataFrame
    refit_table: object | None  # DataFrame, with refit_with_dev
    deltas: dict[str, float]  # nDCG@10 fine-tuned − base, per test query
    robustness_notes: list[str]
    robustness: object  # DataFrame
    generator: str = ""  # the chat model that wrote the synthetic training pairs (synthesize metrics), if any

    @property
    def weight_note(self) -> str:
        """How the hybrid's BM25 weight was chosen on dev (Markdown)."""
        return fusion_note(self.weight_table, self.params.fusion_prior, self.params.fusion_metric)

    @property
    def test_note(self) -> str:
        """What the test queries are (gold, synthetic) and what that means for the numbers (Markdown)."""
        return test_set_note(self.ws, self.generator)

    def outcomes(self) -> dict[str, int]:
        """Test queries the fine-tuned model wins, loses and ties against the base model (nDCG@10)."""
        d = self.deltas.values()
        return {"wins": sum(x > 0 for x in d), "losses": sum(x < 0 for x in d), "ties": sum(x == 0 for x in d)}

    def biggest_changes(self, n: int = 4):
        """The test queries fine-tuning changed most, with their relevant passage and each system's top hit."""
        queries, qrels = self.ws.split("test")
        return biggest_changes(self.deltas, queries, qrels, self.runs, self.ws.corpus, n=n)

    def to_metrics(self) -> dict:
        """The stage's record (read by the maintain stage, the index page and the registry)."""
        return {
            "test_source": self.ws.test_source,
            "summary": self.summary.to_dict("records"),
            "systems": self.scores,
            "fusion_weight": self.weight,
            "fusion_metric": self.params.fusion_metric,
            "fusion_prior": self.params.fusion_prior,
            "fusion_choice": self.weight_note,
            "confidence": self.confidence.to_dict("records"),
            **self.outcomes(),
            "robustness": self.robustness.to_dict("records"),
            "robustness_notes": self.robustness_notes,
            "refit": self.refit_table.to_dict("records") if self.refit_table is not None else [],
        }


def _systems(params: Params, paths: DomainPaths, ws: Workspace) -> dict:
    """The base and fine-tuned models with their corpus indexes, and BM25."""
    out: dict = {}
    for name, location in (("base", params.base_model), ("fine-tuned", str(paths.model_dir))):
        loaded = load_encoder(
            location, params.device, params.max_seq_length,
            long_passages=params.long_passages, window_sentences=params.window_sentences,
        )  # fmt: skip
        out[name] = (loaded.model, dense_index(loaded, ws, paths.embeddings_dir, params.encode_batch_size))
    out["bm25"] = bm25_index(ws, params.bm25_backend)
    return out


def open_explorer(params: Params, paths: DomainPaths) -> QueryExplorer:
    """The query explorer from what earlier stages saved: both models, their cached corpus embeddings, BM25, and
    the BM25 weight this stage chose on dev (from its metrics). Loading takes seconds; nothing is scored again.

    Raises:
        FileNotFoundError: when the train or evaluate stage has not run, saying what to run.
    """
    recorded = read_metrics(paths, "evaluate")
    if recorded is None or not paths.model_dir.exists():
        raise FileNotFoundError(
            f"domain {paths.domain!r} has no evaluated model yet: run `python -m nbutils run {paths.domain}` first"
        )
    ws = load_workspace(paths)
    systems = _systems(params, paths, ws)
    weight = recorded.get("fusion_weight")
    return QueryExplorer(systems["base"], systems["fine-tuned"], systems["bm25"], ws.corpus, fusion_weight=weight)


def run(params: Params, paths: DomainPaths) -> EvaluateReport:
    """The evaluate stage: score base, fine-tuned, BM25 and the hybrids (the BM25 weight chosen on dev) on the test
    queries, with intervals and paired tests, per-query changes, the refit comparison and the robustness checks.

    Raises:
        FileNotFoundError: when an earlier stage has not run.
    """
    ws = load_workspace(paths)
    queries, qrels = ws.split("test")
    systems = _systems(params, paths, ws)
    base, tuned, bm25 = systems["base"], systems["fine-tuned"], systems["bm25"]
    dev_system = dev_scored_system(params, paths, ws, tuned)
    weight, weight_table = tune_fusion_weight(
        *ws.split("dev"), dev_system, bm25, metric=params.fusion_metric, prior=params.fusion_prior,
        evidence=params.fusion_evidence,
    )  # fmt: skip
    k = max(*params.k_values, 100)
    runs = system_runs(queries, base, tuned, bm25, k=k, rrf_k=params.rrf_k, fusion_weight=weight)
    refit_table = (
        refit_comparison(queries, qrels, dev_system, tuned, bm25, weight, seed=params.seed)
        if params.refit_with_dev else None
    )  # fmt: skip
    sets, notes = robustness_sets(ws, paths.train_pairs, params.clicks_file)
    return EvaluateReport(
        ws, params, systems, weight, weight_table, runs,
        summaries_by_source(ws, base, tuned, bm25, weight, params),
        compare_systems(qrels, runs, params.k_values),
        confidence_table(qrels, runs, seed=params.seed),
        significance_table(qrels, runs, seed=params.seed),
        refit_table,
        per_query_deltas(qrels, runs["base"], runs["fine-tuned"]),
        notes,
        robustness_table(sets, base, tuned, params.encode_batch_size),
        (read_metrics(paths, "synthesize") or {}).get("llm_model", ""),
    )  # fmt: skip
