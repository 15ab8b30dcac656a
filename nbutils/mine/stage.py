"""The mine stage's entry point: :func:`run` mines and saves the negatives and returns a :class:`MineReport`."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Params
from ..pairs import FlagFile, Triple, load_pairs, load_triples, resolve_loss, save_triples
from ..paths import DomainPaths
from ..workspace import Workspace, load_workspace
from .curation import CurationPanel
from .negatives import examples, false_negative_estimate, known_positives, mine, mine_refit, setting, summary

__all__ = ["MineReport", "open_panel", "run"]


@dataclass
class MineReport:
    """The mined training rows (and refit rows), the false-negative estimate, and the record the stage keeps
    (:meth:`to_metrics`); the rest is what the report shows."""

    ws: Workspace
    params: object
    triples: list[Triple]
    refit_rows: list[Triple]
    false_negatives: dict  # the estimate's numbers
    false_negative_examples: list[dict]
    flags: FlagFile

    @property
    def setting(self) -> str:
        """What the miner was asked to do (Markdown)."""
        return setting(self.params)

    def counts(self) -> dict[str, int]:
        """Pairs, negatives per source, windows, and the refit rows."""
        return summary(self.triples) | {"refit rows (train + dev, refit_with_dev)": len(self.refit_rows)}

    def examples(self, n: int = 8):
        """A few (query, positive, negative) rows to eyeball (a DataFrame)."""
        return examples(self.triples, self.ws.corpus, n=n, seed=self.params.seed)

    def negative_ranks(self) -> list[int]:
        """The teacher rank of every chosen negative."""
        return [t.neg_rank for t in self.triples if t.neg_rank]

    def to_metrics(self) -> dict:
        """The stage's record, ``metrics/03_mine.json``."""
        record = summary(self.triples) | {"refit_rows": len(self.refit_rows), "teacher": self.params.mine_teacher}
        return record | {"false_negative_estimate": self.false_negatives}


def open_panel(params: Params, paths: DomainPaths) -> CurationPanel:
    """The curation panel from what the stage saved (its rows, the corpus, the flags): a few seconds, so a saved
    report can open it without mining again.

    Raises:
        FileNotFoundError: when the mine stage has not run, saying what to run.
    """
    if not paths.triples.exists():
        raise FileNotFoundError(
            f"no mined rows in {paths.triples}: run `python -m nbutils run {paths.domain} --stages mine` first"
        )
    ws = load_workspace(paths)
    return CurationPanel(load_triples(paths.triples), ws.corpus, FlagFile(paths.negative_flags))


def run(params: Params, paths: DomainPaths) -> MineReport:
    """The mine stage: hard negatives for the training pairs (and the refit pairs), never a known positive of
    any source or one flagged by hand; saved to ``train_triples.jsonl`` and ``refit_triples.jsonl``.

    Raises:
        FileNotFoundError: when an earlier stage has not run.
    """
    ws = load_workspace(paths)
    flags = FlagFile(paths.negative_flags)
    known = known_positives(load_pairs(paths.pairs), ws.corpus, flags.as_positives())
    train_pairs = load_pairs(paths.train_pairs)
    params = params.replace(loss=resolve_loss(params.loss, train_pairs)[0])  # marginmse rows are mined apart
    triples = mine(params, ws, train_pairs, known, paths.embeddings_dir)
    refit_rows = mine_refit(params, ws, load_pairs(paths.refit_pairs), triples, known, paths.embeddings_dir)
    save_triples(triples, paths.triples)
    save_triples(refit_rows, paths.refit_triples)
    estimate, shown = false_negative_estimate(params, ws, paths.embeddings_dir)
    return MineReport(ws, params, triples, refit_rows, estimate, shown, flags)
