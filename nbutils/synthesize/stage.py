"""The synthesize stage's entry point: :func:`run` collects, generates, filters and saves the training pairs."""

from __future__ import annotations

from dataclasses import dataclass

from .. import filters
from ..config import Params
from ..pairs import Pair, load_pairs
from ..paths import DomainPaths
from ..questions import GenerationFailed, chat_model, check_failures
from ..workspace import Workspace, load_workspace
from .labeling import gold_target
from .sources import PairSet, build_pairs, dropped_examples, examples, roundtrip_retriever, save_training_pairs, summary

__all__ = ["SynthesizeReport", "run"]


@dataclass
class SynthesizeReport:
    """The kept pairs by source, what the filters dropped, the LLM's usage and failures, and the record the stage
    keeps (:meth:`to_metrics`). The pairs are saved only when the generation did not fail (:meth:`check`)."""

    ws: Workspace
    params: object
    pairs: PairSet
    model_name: str  # the chat model that wrote the questions
    train_pairs: list[Pair]  # saved for the mine stage (empty when the generation failed)
    refit_pairs: list[Pair]
    failure: GenerationFailed | None  # too many LLM requests failed: nothing was saved
    gold_file: str  # where labels from the panel go

    def summary(self):
        """Pairs per source and origin, and whether they train the model (a DataFrame)."""
        return summary(self.pairs.kept, self.params.train_sources)

    def click_issues(self):
        """Problems in the click log: file, line, kind, message (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame([vars(i) for i in self.pairs.click_issues], columns=["file", "line", "kind", "message"])

    def usage(self):
        """LLM requests, cache hits, tokens, the model, and how many passages failed (a one-column DataFrame)."""
        import pandas as pd

        rows = {**self.pairs.usage, "model": self.model_name, "failed passages": len(self.pairs.failures)}
        return pd.Series(rows, dtype=object).to_frame("value")

    def failures(self, n: int = 5):
        """The first ``n`` failures: passage and error or unusable answer (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.pairs.failures[:n], columns=["passage", "failure"])

    def check(self) -> None:
        """Raise the generation's failure, if any, once the report has shown the failures.

        Raises:
            GenerationFailed: when every LLM request failed, or more than ``llm_max_failures`` of them.
        """
        if self.failure is not None:
            raise self.failure

    def dropped_examples(self, per_filter: int = 3):
        """A few questions each filter dropped, with their passage's start (a DataFrame)."""
        return dropped_examples(self.pairs.report, self.ws, per_filter=per_filter, seed=self.params.seed)

    def examples(self, per_origin: int = 4):
        """A few kept pairs of each origin (a DataFrame)."""
        return examples(self.pairs.kept, self.ws, per_origin=per_origin, seed=self.params.seed)

    def query_lengths(self) -> dict[str, list[int]]:
        """Words per query, by origin."""
        return {o: [len(p.query.split()) for p in ps] for o, ps in filters.by_origin(self.pairs.kept).items()}

    def to_metrics(self) -> dict:
        """The stage's record, ``metrics/02_synthesize.json`` (read by the maintain stage for the registry)."""
        sources = self.params.train_sources
        return {
            "pairs": self.summary().to_dict("records"),
            "training_pairs": {s: sum(p.source == s for p in self.train_pairs) for s in sources},
            "refit_pairs": {s: sum(p.source == s for p in self.refit_pairs) for s in sources}
            if self.params.refit_with_dev
            else {},
            "filters": self.pairs.report.table().to_dict("records"),
            "llm_usage": self.pairs.usage,
            "llm_model": self.model_name if any(self.pairs.usage.get(k) for k in ("requests", "cache_hits")) else "",
            "llm_failures": len(self.pairs.failures),
            "click_issues": len(self.pairs.click_issues),
        }


def run(params: Params, paths: DomainPaths) -> SynthesizeReport:
    """The synthesize stage: gold pairs of the train split, click-log pairs and generated questions, filtered and
    guarded against held-out questions, then saved for the mine stage unless too many LLM requests failed.

    Raises:
        FileNotFoundError: when the decide stage has not run.
        LlmAuthError: when the endpoint refuses the key.
    """
    ws = load_workspace(paths)
    chat = chat_model(params, paths.llm_cache)
    pairs = build_pairs(ws, params, chat, roundtrip_retriever(params, ws, paths.embeddings_dir))
    try:
        check_failures(pairs.generation, params)
        failure = None
    except GenerationFailed as e:
        failure = e
    train_pairs = save_training_pairs(pairs, params, paths) if failure is None else []
    refit_pairs = load_pairs(paths.refit_pairs) if failure is None else []
    return SynthesizeReport(
        ws, params, pairs, chat.name, train_pairs, refit_pairs, failure, str(gold_target(params, paths))
    )
