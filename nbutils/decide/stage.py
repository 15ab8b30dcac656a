"""The decide stage's entry point: :func:`run` prepares the domain, measures the generic setup and recommends."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Params
from ..metrics import compare_systems, confidence_table
from ..models import LoadedModel, load_encoder
from ..paths import DomainPaths
from ..workspace import Workspace, bm25_index, caption, dense_index, marked, other_sources, prepare_workspace
from .rule import (
    Recommendation,
    baseline_runs,
    corpus_stats,
    fine_tuning_cost,
    flowchart,
    issue_table,
    labelled_queries,
    pairs_by_source,
    passage_lengths,
    recommend,
    split_resolution,
)
from .testset import SyntheticSet, TestPlan, ensure, examples, plan, side_by_side
from .vocabulary import VocabularyReport, analyse_vocabulary

__all__ = ["DecideReport", "run"]


@dataclass
class DecideReport:
    """The prepared domain, what the generic setup scores on its test queries, the recommendation and the cost;
    :meth:`to_metrics` is ``metrics/01_decide.json``, the rest is what the report shows."""

    ws: Workspace
    params: object
    stats: dict
    base: LoadedModel
    lengths: dict
    vocabulary: VocabularyReport
    test_plan: TestPlan
    synthetic: SyntheticSet | None
    runs: dict
    scores: dict[str, dict[str, float]]
    confidence: object  # DataFrame
    side: object  # DataFrame: gold and synthetic test queries side by side (empty with one kind)
    resolution: object  # DataFrame
    recommendation: Recommendation
    cost: dict
    sources: object  # DataFrame: training pairs by source against min_pairs

    def issue_table(self):
        """The first problems found in the input files (a DataFrame)."""
        return issue_table(self.ws)

    def passage_words(self) -> list[int]:
        """Words per passage."""
        return [len(p.full_text().split()) for p in self.ws.corpus.values()]

    def test_examples(self):
        """A few test queries with their passage (a DataFrame)."""
        return examples(self.ws)

    def caption(self) -> str:
        """The suffix chart titles carry when the test queries are synthetic."""
        return caption(self.ws)

    def marked_scores(self):
        """The scores as a table, marked *synthetic* when they are."""
        return marked(self.scores, self.ws)

    def flowchart(self):
        """The rule as a flowchart with the path the recommendation took (a Figure)."""
        return flowchart(self.recommendation)

    def to_metrics(self) -> dict:
        """The stage's record (read by later stages, the runner and the index page)."""
        return {
            "stats": self.stats,
            "passage_lengths": self.lengths,
            "scores": self.scores,
            "confidence": self.confidence.to_dict("records"),
            "resolution": self.resolution.reset_index().to_dict("records"),
            "recommendation": self.recommendation.to_dict(),
            "test_source": self.ws.test_source,
            "test_plan": self.test_plan.to_dict(),
            "synthetic_test": self.synthetic.summary() if self.synthetic else None,
            "side_by_side": self.side.to_dict() if len(self.side) else {},
            "cost": self.cost,
            "pairs_by_source": self.sources["pairs"].to_dict(),
            "vocabulary": self.vocabulary.summary(),
            "top_terms": self.vocabulary.terms[:10],
            "base_model": self.base.describe(),
        }


def run(params: Params, paths: DomainPaths) -> DecideReport:
    """The decide stage: prepare and split the domain's data, measure generic dense, BM25 and hybrid on the test
    queries (a provisional synthetic test set when too few are labelled), and recommend fine-tune, hybrid or
    skip, with what fine-tuning would cost here.

    Raises:
        FileNotFoundError: for missing data files.
        ValueError: for data that cannot be used (named, with the file).
    """
    ws = prepare_workspace(params, paths)
    stats = corpus_stats(ws)
    base = load_encoder(
        params.base_model, params.device, params.max_seq_length,
        long_passages=params.long_passages, window_sentences=params.window_sentences,
    )  # fmt: skip
    vocab = analyse_vocabulary([p.full_text() for p in ws.corpus.values()], base.model.tokenizer)
    dense = dense_index(base, ws, paths.embeddings_dir, params.encode_batch_size)
    bm25 = bm25_index(ws, params.bm25_backend)
    test_plan = plan(ws, params, baseline_runs(ws, dense, bm25, base.model, "test") if ws.splits["test"] else None)
    ws, synthetic = ensure(ws, params, paths, test_plan, dense, bm25, base.model)
    runs = baseline_runs(ws, dense, bm25, base.model, "test")
    scores = compare_systems(ws.split("test")[1], runs, [1, 5, 10, 100])
    by_source = {
        s: baseline_runs(ws, dense, bm25, base.model, "test", source=s) for s in [ws.test_source, *other_sources(ws)]
    }
    rec = recommend(
        scores, stats["train_pairs"], params.min_pairs, params.recall_fine_tune_below, params.recall_skip_above,
        vocab, labelled_queries(ws, params.clicks_file, params.min_clicks), test_plan, passages=stats["passages"],
    )  # fmt: skip
    cost = fine_tuning_cost(ws, base, params, paths)
    return DecideReport(
        ws, params, stats, base, passage_lengths(ws, base), vocab, test_plan, synthetic, runs, scores,
        confidence_table(ws.split("test")[1], runs, seed=params.seed), side_by_side(ws, by_source),
        split_resolution(ws, dense, bm25, base.model, known={"test": runs}), rec, cost,
        pairs_by_source(ws, params.clicks_file, params.min_clicks, cost),
    )  # fmt: skip
