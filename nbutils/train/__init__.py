"""Stage 4, train: fine-tune a Sentence Transformers model on the mined training data.

Wraps :class:`sentence_transformers.SentenceTransformerTrainer`. Losses: MultipleNegativesRankingLoss
(the default with labelled pairs), its cached variant for large effective batches on small memory, TripletLoss
with the mined negatives, CoSENTLoss for scored pairs, a symmetric InfoNCE, and MarginMSELoss on the mining
teacher's margins (the default when every pair is synthetic); optionally wrapped in MatryoshkaLoss.
In-batch-negative losses use the no-duplicates batch sampler. With a dev evaluator the model is scored
each epoch and the best epoch is kept; checkpoints let an interrupted run resume where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path

import numpy as np

from ..config import KeepEpoch, Params
from ..embedding_store import EmbeddingStore, passage_hash
from ..models import LOSSES, LoadedModel, load_encoder, make_loss, model_fingerprint
from ..pairs import FlagFile, Triple, apply_flags, load_triples, plan_epochs, resolve_loss
from ..paths import DomainPaths
from ..retrieval import DenseIndex
from ..workspace import bm25_index, load_workspace
from .memory import MemoryEstimate, check_memory

__all__ = [
    "TrainReport",
    "run",
    "LOSSES",
    "TrainResult",
    "build_datasets",
    "data_hash",
    "describe_refit",
    "dev_evaluator",
    "train_domain",
    "load_refit_data",
    "load_training_data",
    "model_card",
    "negatives_used",
    "planned_epochs",
    "refit",
    "refit_epochs",
    "refit_summary",
    "run_fingerprint",
    "TrainOptions",
    "fine_tune",
]

logger = logging.getLogger(__name__)


DEV_METRIC = "eval_dev_cosine_ndcg@10"  # what dev_evaluator reports; the best epoch is chosen by it


@dataclass
class TrainResult:
    model_dir: str
    seconds: float
    rows: int
    epochs: int
    device: str
    precision: str
    log_history: list[dict] = field(default_factory=list)
    resumed: bool = False
    fingerprint: str = ""
    processes: int = 1  # training processes (GPUs under torchrun or accelerate launch)
    dev_passages: int = 0  # passages the dev evaluation scored each epoch (0: no dev evaluation)
    reused: bool = False  # loaded from a finished run with the same fingerprint, not trained again
    kept: str = "best"  # which evaluated epoch was saved: best (by dev nDCG@10) or last

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"reused": False}, indent=1)

    @classmethod
    def load(cls, model_dir: str | Path) -> TrainResult | None:
        """The result saved with a model by :func:`fine_tune`, or ``None``."""
        path = Path(model_dir) / RESULT_FILE
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()) | {"model_dir": str(model_dir)})

    @property
    def rows_per_second(self) -> float:
        return self.rows * self.epochs / self.seconds if self.seconds else 0.0

    def loss_curve(self) -> tuple[list[float], list[float]]:
        """(epoch, training loss) points logged during training."""
        pts = [(h["epoch"], h["loss"]) for h in self.log_history if "loss" in h and "epoch" in h]
        return [p[0] for p in pts], [p[1] for p in pts]

    def dev_curve(self, metric: str = DEV_METRIC) -> tuple[list[float], list[float]]:
        """(epoch, dev metric) at each evaluation."""
        pts = [(h["epoch"], h[metric]) for h in self.log_history if metric in h]
        return [p[0] for p in pts], [p[1] for p in pts]

    def best_dev(self) -> dict[str, float]:
        """Dev metrics of the best evaluation by nDCG@10 (empty without an evaluator)."""
        evals = self._evaluations()
        return _dev_metrics(max(evals, key=lambda h: h[DEV_METRIC])) if evals else {}

    def kept_dev(self) -> dict[str, float]:
        """Dev metrics of the epoch whose weights were saved: the best one, or the last with ``keep_epoch: last``
        (empty without an evaluator)."""
        entry = self._kept_entry()
        return _dev_metrics(entry) if entry else {}

    def describe_dev(self) -> str:
        """A sentence on the dev evaluation during training and the saved epoch's scores, for the report."""
        entry = self._kept_entry()
        if entry is None:
            return (
                "The dev split was not scored during training (`eval_during_training: false`, or no dev "
                "queries); the evaluate stage scores the saved model."
            )
        scores = _dev_metrics(entry)
        shown = ", ".join(f"{k} {scores[k]:.3f}" for k in ("ndcg@10", "recall@10", "mrr@10") if k in scores)
        return (
            f"The dev split was scored after each of {len(self._evaluations())} epochs on {self.dev_passages:,} "
            f"passages; the saved epoch ({self.kept}: epoch {entry.get('epoch', 0):g}) scores {shown}."
        )

    def _evaluations(self) -> list[dict]:
        return [h for h in self.log_history if DEV_METRIC in h]

    def _kept_entry(self) -> dict | None:
        evals = self._evaluations()
        if not evals:
            return None
        return evals[-1] if self.kept == "last" else max(evals, key=lambda h: h[DEV_METRIC])


def _dev_metrics(entry: dict) -> dict[str, float]:
    return {k.replace("eval_dev_cosine_", ""): v for k, v in entry.items() if k.startswith("eval_dev_cosine_")}


Grouped = OrderedDict[tuple[str, str], tuple[str, list[str]]]


def _group(triples: list[Triple], corpus: dict, max_pairs: int, seed: int) -> Grouped:
    """(query, positive id) → (positive text, negative texts); a passage's chosen window stands in for it."""
    grouped: Grouped = OrderedDict()
    for t in triples:
        positive = t.positive_text or corpus[t.positive].full_text()
        _, negs = grouped.setdefault((t.query, t.positive), (positive, []))
        if t.negative:
            text = t.negative_text or corpus[t.negative].full_text()
            if text not in negs:  # the same pair mined twice (a repeated query) gives its negatives once
                negs.append(text)
    if max_pairs and len(grouped) > max_pairs:
        keep = set(random.Random(seed).sample(list(grouped), max_pairs))
        grouped = OrderedDict((k, v) for k, v in grouped.items() if k in keep)
    return grouped


def build_datasets(
    triples: list[Triple],
    corpus: dict,
    negatives: int | None = None,
    max_pairs: int = 0,
    seed: int = 42,
    loss: str = "mnrl",
) -> dict:
    """Group triples per pair into Hugging Face datasets of texts, in the columns ``loss`` needs.

    - ``mnrl``, ``cached_mnrl``, ``infonce``: ``hard`` (anchor, positive, negative_1..n) for pairs with a
      full set of negatives and ``pairs`` (anchor, positive) for the others.
    - ``triplet``: (anchor, positive, negative), one row per mined negative; pairs without one are left out.
    - ``cosent``: (sentence1, sentence2, score): 1.0 for the positive, 0.0 for each negative.
    - ``marginmse``: ``margins`` (anchor, positive, negative_1..n, label), the label the mining teacher's margins
      (:attr:`Triple.margin`) to distil; pairs with fewer negatives carrying a margin than most are left out.

    A passage is given as its full text, or as the window chosen for it at mining
    (``positive_text``/``negative_text``, see :func:`nbutils.mining.choose_windows`). ``loss: auto`` stands
    for the loss :func:`nbutils.pairs.resolve_loss` picks on ``triples``.

    Args:
        negatives: hard negatives per row for the in-batch losses (default: the count most pairs have,
            see :func:`usual_negatives`); pairs with more are cut to it, pairs with fewer go to ``pairs``.
        max_pairs: sample this many pairs (0 = all).

    Raises:
        ValueError: when no row is left for the loss, or for an unknown loss.
    """
    loss = resolve_loss(loss, triples)[0]  # auto: the loss it stands for on these rows
    grouped = _group(triples, corpus, max_pairs, seed)
    if loss == "triplet":
        rows = [(q, pos, n) for (q, _), (pos, negs) in grouped.items() for n in negs]
        out = {"triplets": _columns(rows, ("anchor", "positive", "negative"))} if rows else {}
    elif loss == "cosent":
        rows = [(q, pos, 1.0) for (q, _), (pos, _) in grouped.items()] + [
            (q, n, 0.0) for (q, _), (_, negs) in grouped.items() for n in negs
        ]
        out = {"scored": _columns(rows, ("sentence1", "sentence2", "score"))}
    elif loss in IN_BATCH_LOSSES:
        out = _in_batch(grouped, negatives)
    elif loss == "marginmse":
        out = _margins(grouped, triples, corpus, negatives)
    else:
        raise ValueError(f"loss: {loss!r} is not allowed; valid: {', '.join(LOSSES)}")
    if not out:
        raise ValueError(
            f"no training rows for loss {loss!r}: check train_sources, the synthesize output and mined negatives"
        )
    return out


def _columns(rows: list[tuple], names: tuple[str, ...]):
    """A Hugging Face dataset of ``rows``, one column per name."""
    from datasets import Dataset

    return Dataset.from_dict({k: [r[i] for r in rows] for i, k in enumerate(names)})


def _margins(grouped: Grouped, triples: list[Triple], corpus: dict, negatives: int | None) -> dict:
    """MarginMSE rows: each pair with ``negatives`` (default: the count most pairs have) of its negatives that
    carry a teacher margin, and those margins as the label.

    Raises:
        ValueError: when no mined negative carries a margin (mined by BM25 alone, added by hand, or mined
            before margins were kept), naming what to run.
    """
    from datasets import Dataset

    margins: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for t in triples:
        if t.negative and t.margin is not None:
            margins[(t.query, t.positive)].setdefault(t.negative_text or corpus[t.negative].full_text(), t.margin)
    kept = OrderedDict((key, (pos, [n for n in negs if n in margins[key]])) for key, (pos, negs) in grouped.items())
    n = usual_negatives(kept) if negatives is None else negatives
    if n == 0:
        raise ValueError(
            "loss marginmse: no mined negative carries a teacher margin; mine again with mine_teacher hybrid or "
            "dense and this loss, so the mine stage draws distill_negatives per pair (BM25 alone and negatives "
            "added by hand have no margin)"
        )
    rows: dict[str, list] = {"anchor": [], "positive": [], **{f"negative_{i + 1}": [] for i in range(n)}, "label": []}
    for (q, pid), (pos, negs) in kept.items():
        if len(negs) < n:
            continue
        rows["anchor"].append(q)
        rows["positive"].append(pos)
        for i, text in enumerate(negs[:n]):
            rows[f"negative_{i + 1}"].append(text)
        rows["label"].append([margins[(q, pid)][text] for text in negs[:n]])
    return {"margins": Dataset.from_dict(rows)} if rows["anchor"] else {}


def usual_negatives(grouped: Grouped) -> int:
    """How many negatives most pairs that have any carry (ties: the larger count); 0 when none has one.

    Not the largest count: a pair that happens to hold more (the same claim twice in the gold data,
    say) must not push every other pair out of the rows with hard negatives.
    """
    counts = Counter(len(negs) for _, negs in grouped.values() if negs)
    return max(counts, key=lambda n: (counts[n], n)) if counts else 0


def _in_batch(grouped: Grouped, negatives: int | None) -> dict:
    from datasets import Dataset

    if negatives is None:
        negatives = usual_negatives(grouped)
    hard: dict[str, list[str]] = {"anchor": [], "positive": [], **{f"negative_{i + 1}": [] for i in range(negatives)}}
    plain: dict[str, list[str]] = {"anchor": [], "positive": []}
    for (q, _), (pos, negs) in grouped.items():
        negs = negs[:negatives]
        target = hard if negatives and len(negs) == negatives else plain
        target["anchor"].append(q)
        target["positive"].append(pos)
        for i, n in enumerate(negs if target is hard else []):
            target[f"negative_{i + 1}"].append(n)
    out = {}
    if hard["anchor"]:
        out["hard"] = Dataset.from_dict(hard)
    if plain["anchor"]:
        out["pairs"] = Dataset.from_dict(plain)
    return out


def negatives_used(triples: list[Triple], datasets: dict) -> dict[str, int]:
    """Mined negatives (distinct query, positive, negative rows) and the negative texts the training rows
    carry: a report shows any that the loss leaves out (pairs with fewer negatives than the rest,
    ``max_train_pairs``)."""
    trained = 0
    for name, d in datasets.items():
        if name == "scored":
            trained += sum(1 for score in d["score"] if score == 0.0)
        else:
            trained += len(d) * sum(1 for c in d.column_names if c.startswith("negative"))
    return {"mined": len({(t.query, t.positive, t.negative) for t in triples if t.negative}), "trained": trained}


RESULT_FILE = "train_result.json"  # saved inside the model folder: timings, log history, fingerprint
IN_BATCH_LOSSES = ("mnrl", "cached_mnrl", "infonce")


def weights_signature(model) -> tuple:
    """A cheap signature of a model's weights (each parameter's float64 sum, computed where it lives): equal for
    the same weights, different after any training step in practice."""
    import torch

    with torch.no_grad():
        return tuple(round(float(p.detach().double().sum()), 12) for p in model.parameters())


@dataclass
class DevRows:
    """The dev passages' rows as the last dev evaluation encoded them, and the weights that encoded them."""

    signature: tuple
    passages: list
    rows: np.ndarray
    starts: np.ndarray
    long_passages: str
    window_sentences: int


def hand_dev_rows(evaluator, model, model_dir: Path, store_root: str | Path) -> int:
    """Give the shared embedding store the dev passages' rows the last dev evaluation encoded, when the model
    saved in ``model_dir`` has exactly those weights (the last epoch was kept): the evaluate stage then does
    not encode them again. Returns the passages handed over (0 when the weights differ)."""
    last = getattr(evaluator, "last_rows", None)
    if last is None or last.signature != weights_signature(model):
        return 0
    fingerprint = model_fingerprint(str(model_dir))
    loaded = LoadedModel(model, None, str(model.device), fingerprint, last.long_passages, last.window_sentences)
    EmbeddingStore(store_root, loaded).add([passage_hash(p.full_text()) for p in last.passages], last.rows, last.starts)
    return len(last.passages)


def _as_served(evaluator_cls, passages: list, long_passages: str, window_sentences: int):
    class ServedInformationRetrievalEvaluator(evaluator_cls):
        """Scores the dev passages as the index will serve them: long passages as the mean of their windows
        (``long_passages: windows``), each passage as the best of its own row and its sentence windows'
        (``window_sentences``); metrics as sentence-transformers computes them."""

        def compute_all_metrics(self, model, corpus_model=None, corpus_embeddings=None, output_path=None):

            loaded = LoadedModel(model, None, str(model.device), "", long_passages, window_sentences)
            rows, starts = loaded.encode_index(passages, self.batch_size, progress=False)
            self.last_rows = DevRows(weights_signature(model), passages, rows, starts, long_passages, window_sentences)
            index = DenseIndex([p.id for p in passages], rows, starts)
            cutoffs = (self.mrr_at_k, self.ndcg_at_k, self.accuracy_at_k, self.precision_recall_at_k, self.map_at_k)
            queries = dict(zip(self.queries_ids, self.queries, strict=True))
            run = index.search(model, queries, max(max(k) for k in cutoffs), self.batch_size)
            hits = [
                [{"corpus_id": pid, "score": score} for pid, score in run.get(qid, {}).items()]
                for qid in self.queries_ids
            ]
            scores = {name: self.compute_metrics(hits) for name in self.score_functions}
            for name in self.score_function_names:
                self.output_scores(scores[name])
            return scores

    return ServedInformationRetrievalEvaluator


def dev_corpus(
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    corpus: dict,
    limit: int,
    bm25=None,
    seed: int = 0,
    depth: int = 100,
) -> dict:
    """The passages the dev evaluation scores each epoch: ``limit`` of them, more only when the dev
    positives alone exceed it.

    The whole corpus when it fits (or ``limit`` is 0). Otherwise every relevant dev passage first, then
    the BM25 candidates of the dev queries (``bm25``: a :class:`~nbutils.retrieval.BM25Index`), rank by
    rank across queries so each query keeps its hardest distractors, then a seeded random sample of the
    rest. Scores on the pool run above full-corpus ones, and a small pool ranks epochs less reliably than
    the full corpus (docs/training.md), for a fraction of the encoding cost per epoch on a large corpus.
    """
    if not limit or len(corpus) <= limit:
        return corpus
    chosen: dict[str, None] = {}
    for rel in qrels.values():
        chosen.update((p, None) for p, g in rel.items() if g > 0 and p in corpus)
    if bm25 is not None and len(chosen) < limit:
        ranked = [list(r) for r in bm25.search(queries, depth).values()]
        for rank in range(depth):
            for cands in ranked:
                if rank < len(cands):
                    chosen.setdefault(cands[rank], None)
            if len(chosen) >= limit:
                break
    if len(chosen) < limit:
        rest = [p for p in corpus if p not in chosen]
        pick = np.random.default_rng(seed).choice(len(rest), size=min(limit - len(chosen), len(rest)), replace=False)
        chosen.update((rest[i], None) for i in sorted(pick))
    keep = set(list(chosen)[:limit]) | {p for rel in qrels.values() for p, g in rel.items() if g > 0}
    return {pid: p for pid, p in corpus.items() if pid in keep}


def dev_evaluator(
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    corpus: dict,
    batch_size: int = 64,
    windows: bool = False,
    window_sentences: int = 0,
):
    """An InformationRetrievalEvaluator over the dev queries (metric ``dev_cosine_ndcg@10``), or ``None``.

    Args:
        windows: encode long passages as the mean of their windows, as the index will
            (``long_passages: windows``), so the best epoch is chosen on what will be served.
        window_sentences: score each passage as the best of its own row and its windows of this many
            sentences, as the index will (``window_sentences``).
    """
    try:
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    except ImportError:  # 5.x layout
        from sentence_transformers.evaluation import InformationRetrievalEvaluator

    relevant = {q: {p for p, g in rel.items() if g > 0} for q, rel in qrels.items()}
    if not any(relevant.values()):
        return None
    # always scored as served (the same metrics as sentence-transformers' own for plain passages), which also
    # keeps the last rows it encoded for the embedding store (hand_dev_rows)
    long_passages = "windows" if windows else "truncate"
    cls = _as_served(InformationRetrievalEvaluator, list(corpus.values()), long_passages, window_sentences)
    return cls(
        queries,
        {pid: p.full_text() for pid, p in corpus.items()},
        relevant,
        name="dev",
        accuracy_at_k=[1],
        precision_recall_at_k=[10],
        map_at_k=[100],
        batch_size=batch_size,
        write_csv=False,
    )


def _progress_callback():
    """A compact tqdm bar over training steps showing the latest loss (instead of a printed log table)."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(
                total=state.max_steps, desc="Training", unit="step", disable=not state.is_world_process_zero
            )

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.3f}", epoch=f"{state.epoch:.2f}")

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return StepProgress()


def _quiet_progress(trainer) -> None:
    default = {"NotebookProgressCallback", "ProgressCallback", "PrinterCallback"}
    for cb in list(trainer.callback_handler.callbacks):
        if type(cb).__name__ in default:
            trainer.remove_callback(cb)
    trainer.add_callback(_progress_callback())


def _precision(device: str) -> tuple[dict, str]:
    import torch

    if device != "cuda":
        return {}, "fp32"
    if torch.cuda.is_bf16_supported():
        return {"bf16": True}, "bf16"
    return {"fp16": True}, "fp16"


def _resume_point(checkpoint_dir: Path, fingerprint: str, main: bool = True) -> bool:
    """Whether ``checkpoint_dir`` holds checkpoints of this very run; the main process clears it otherwise."""
    marker = checkpoint_dir / "run.json"
    same = marker.exists() and json.loads(marker.read_text()).get("fingerprint") == fingerprint
    if not same and main:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"fingerprint": fingerprint}))
    return same and any(checkpoint_dir.glob("checkpoint-*"))


def _save_atomically(model, out_dir: Path, card: str, result: TrainResult | None = None) -> None:
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    if result is not None:
        (tmp / RESULT_FILE).write_text(result.to_json())
    if card:
        readme = tmp / "README.md"
        readme.write_text((readme.read_text() if readme.exists() else "") + "\n" + card)
    old = out_dir.with_name(f".{out_dir.name}.old")
    if out_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _withhold_examples(card_data) -> None:
    """Stop sentence-transformers from drawing the card's widget and usage examples from the training rows
    (its trainer does so when it starts; the card then shows its generic example sentences)."""
    card_data.set_widget_examples = lambda dataset: None
    card_data.widget = []
    card_data.usage_examples = None


def _strip_samples(card_data) -> None:
    """Drop the sample rows sentence-transformers keeps per training and evaluation dataset for the card."""
    for info in (*card_data.train_datasets, *card_data.eval_datasets):
        for key in ("examples", "examples_table", "_example_columns"):
            info.pop(key, None)


def _copy_atomically(src: Path, out_dir: Path) -> None:
    """Copy a saved model folder to ``out_dir`` through a temporary folder, replacing what was there."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def _training_args(
    checkpoint_dir: Path,
    *,
    device: str,
    steps: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    warmup_ratio: float,
    seed: int,
    in_batch: bool,
    evaluate: bool,
    save: bool,
    keep_best: bool = True,
):
    """The trainer's arguments (epoch checkpoints, dev scoring, no-duplicates batches for in-batch
    losses, bf16/fp16 on CUDA) and the precision name."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    try:  # sentence-transformers >= 6
        from sentence_transformers.base.sampler import BatchSamplers
    except ImportError:  # 5.x layout
        from sentence_transformers.training_args import BatchSamplers

    precision_args, precision = _precision(device)
    best = {"load_best_model_at_end": True, "metric_for_best_model": DEV_METRIC} if evaluate and keep_best else {}
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup_ratio,
        batch_sampler=BatchSamplers.NO_DUPLICATES if in_batch else BatchSamplers.BATCH_SAMPLER,
        logging_steps=max(1, steps // 40),
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="epoch" if save else "no",
        save_total_limit=2,
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_pin_memory=device == "cuda",
        use_cpu=device == "cpu",  # also makes several CPU processes under torchrun talk over gloo
        **best,
        **precision_args,
    )
    return args, precision


@dataclass(frozen=True)
class TrainOptions:
    """How :func:`fine_tune` trains; every field but ``device`` has a default.

    Attributes:
        loss: the loss (``mnrl``, ``cached_mnrl``, ``triplet``, ``cosent``, ``infonce``, ``marginmse``);
            ``datasets`` must come from :func:`build_datasets` with the same one.
        mini_batch_size: texts ``cached_mnrl`` encodes at once (memory follows it, not ``batch_size``).
        evaluator: scored after every epoch (see :func:`dev_evaluator`); ``keep`` says which epoch's weights
            are saved: ``best`` (by dev nDCG@10) or ``last``.
        checkpoint_dir: where epoch checkpoints go. When it holds checkpoints of a run with the same
            ``fingerprint`` (data, params and base model), training resumes from the last one.
        card: Markdown appended to the model card (README.md), or a function of the result giving it.
        card_examples: let sentence-transformers' part of the card quote training rows (widget and usage
            examples, three sample rows per dataset), as it does by default; ``False`` keeps training text
            out of the card (sizes and length statistics stay).
        callbacks: extra ``transformers.TrainerCallback`` objects.
        embedding_store: the shared embedding store's folder: the last dev evaluation's rows go there when
            the saved weights are the ones it scored (:func:`hand_dev_rows`).
        loss_module: a sentence-transformers loss built by the caller around the model, for a loss or loss
            options the params do not offer (e.g. MultipleNegativesRankingLoss with ``hardness_mode``); it
            replaces the loss ``loss`` names, which still picks the batch sampler (``mnrl``, ``cached_mnrl``
            and ``infonce`` keep duplicates out of a batch) and must match ``datasets``; ``matryoshka`` and
            ``mini_batch_size`` do not apply to it (wrap or configure the loss itself).
    """

    device: str
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    seed: int = 42
    loss: str = "mnrl"
    matryoshka: bool = False
    mini_batch_size: int = 32
    evaluator: object = None
    keep: str = "best"
    checkpoint_dir: str | Path | None = None
    fingerprint: str = ""
    card: str | Callable[[TrainResult], str] = ""
    card_examples: bool = True
    callbacks: list | None = None
    loss_module: object = None
    embedding_store: str | Path | None = None

    def __post_init__(self) -> None:
        if self.keep not in {k.value for k in KeepEpoch}:
            raise ValueError(f"keep: {self.keep!r} is not allowed; valid: {', '.join(k.value for k in KeepEpoch)}")


def fine_tune(model, datasets: dict, out_dir: str | Path, **options) -> TrainResult:
    """Fine-tune ``model`` and save it to ``out_dir`` as a standard sentence-transformers folder.

    Args:
        datasets: from :func:`build_datasets` with the same ``loss``.
        options: the fields of :class:`TrainOptions` (``device`` is required).

    The model is written to a temporary folder and renamed into place: ``out_dir`` always holds a
    complete model. Checkpoints are removed after a successful save.

    Raises:
        ValueError: for an unknown option (listing the valid ones) or a bad ``keep``.
    """
    valid = {f.name for f in dataclass_fields(TrainOptions)}
    if unknown := sorted(set(options) - valid):
        raise ValueError(f"train: unknown options {unknown}; valid: {', '.join(sorted(valid))}")
    return _train(model, datasets, Path(out_dir), TrainOptions(**options))


def _train(model, datasets: dict, out_dir: Path, o: TrainOptions) -> TrainResult:
    from sentence_transformers import SentenceTransformerTrainer

    checkpoint_dir = Path(o.checkpoint_dir or out_dir.with_name(out_dir.name + "-checkpoints"))
    rows = sum(len(d) for d in datasets.values())
    args, precision = _arguments(o, checkpoint_dir, rows)
    resume = _resume_or_clear(args, checkpoint_dir, o.fingerprint)
    if not o.card_examples:
        _withhold_examples(model.model_card_data)
    loss = o.loss_module if o.loss_module is not None else make_loss(o.loss, model, o.matryoshka, o.mini_batch_size)
    train_data = datasets if len(datasets) > 1 else next(iter(datasets.values()))
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train_data, loss=loss, evaluator=o.evaluator, callbacks=o.callbacks
    )
    _quiet_progress(trainer)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if resume else None)
    evaluated = len(getattr(o.evaluator, "corpus", ())) if o.evaluator is not None else 0
    result = TrainResult(
        str(out_dir), time.perf_counter() - start, rows, o.epochs, o.device, precision,
        list(trainer.state.log_history), resume, o.fingerprint, args.world_size, evaluated, kept=o.keep,
    )  # fmt: skip
    if not o.card_examples:
        _strip_samples(model.model_card_data)
    if trainer.is_world_process_zero():
        _save_atomically(model, out_dir, o.card(result) if callable(o.card) else o.card, result)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        if o.embedding_store is not None and o.evaluator is not None:
            hand_dev_rows(o.evaluator, model, out_dir, o.embedding_store)
    return result


def _arguments(o: TrainOptions, checkpoint_dir: Path, rows: int):
    """The trainer's arguments for ``o`` over ``rows`` training rows, and the precision they train in."""
    return _training_args(
        checkpoint_dir,
        device=o.device,
        steps=max(1, rows // o.batch_size) * o.epochs,
        epochs=o.epochs,
        batch_size=o.batch_size,
        learning_rate=o.learning_rate,
        warmup_ratio=o.warmup_ratio,
        seed=o.seed,
        in_batch=o.loss in IN_BATCH_LOSSES,
        evaluate=o.evaluator is not None,
        save=o.evaluator is not None or bool(o.fingerprint),
        keep_best=o.keep != "last",
    )


def _resume_or_clear(args, checkpoint_dir: Path, fingerprint: str) -> bool:
    """Whether to resume from ``checkpoint_dir`` (a run with the same ``fingerprint`` left checkpoints there);
    without a fingerprint, old checkpoints are removed. Under torchrun, rank 0 prepares and the others follow."""
    with args.main_process_first(desc="checkpoint folder"):
        main = args.process_index == 0
        resume = _resume_point(checkpoint_dir, fingerprint, main) if fingerprint else False
        if not fingerprint and main:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return resume


def model_card(
    base: str, sources: dict[str, int], params: dict, metrics: dict[str, float], kept: str = "best", heading: str = ""
) -> str:
    """The fine-tuning record appended to the model card: base model, training data, params, and the dev
    metrics of the saved epoch (``kept``: best or last; ``heading`` replaces the line naming them)."""
    lines = ["## Fine-tuning record", "", f"- Base model: {base}", "- Training pairs by source:"]
    lines += [f"  - {k}: {v:,}" for k, v in sources.items()]
    lines += ["- Parameters:"] + [f"  - `{k}`: `{v!r}`" for k, v in params.items()]
    if metrics:
        lines += [heading or f"- Dev metrics ({kept} epoch):"] + [f"  - {k}: {v:.4f}" for k, v in metrics.items()]
    return "\n".join(lines) + "\n"


def data_hash(triples: list[Triple], margins: bool = False) -> str:
    """Content hash of the training rows (query, positive, negative, provenance, chosen windows; with ``margins``
    the teacher margins too, the labels of loss ``marginmse``), order-independent."""
    import hashlib

    def row(t: Triple) -> str:
        windows = f"\x00{t.positive_text}\x00{t.negative_text}" if t.positive_text or t.negative_text else ""
        margin = f"\x00{t.margin}" if margins else ""  # the labels of loss marginmse
        return f"{t.query}\x00{t.positive}\x00{t.negative}\x00{t.source}{windows}{margin}"

    h = hashlib.sha256()
    for row_text in sorted(row(t) for t in triples):
        h.update(row_text.encode())
        h.update(b"\x01")
    return h.hexdigest()[:16]


def _dev_pool(params: Params, corpus_size: int) -> int:
    """How many passages the dev evaluation scores per epoch when it samples a pool; 0 when it scores them all."""
    limit = params.dev_corpus_max
    return limit if params.eval_during_training and limit and corpus_size > limit else 0


def _settings(params: Params, corpus_size: int) -> dict:
    keys = ("loss", "matryoshka", "epochs", "min_steps", "batch_size", "learning_rate", "warmup_ratio")
    keys += ("max_train_pairs", "seed")
    settings = {k: getattr(params, k) for k in keys}
    settings["eval_during_training"] = params.eval_during_training  # decides which epoch is kept
    if params.eval_during_training:
        settings["keep_epoch"] = params.keep_epoch
        if params.window_sentences:  # the dev split scores passages by their best window too
            settings["window_sentences"] = params.window_sentences
    if pool := _dev_pool(params, corpus_size):
        settings["dev_corpus_max"] = pool
    return settings | {"max_seq_length": params.max_seq_length, "long_passages": params.long_passages}


def run_fingerprint(params: Params, triples: list[Triple], base_fingerprint: str, corpus_size: int) -> str:
    """Identifies a training run: its data, base model and training settings.

    ``dev_corpus_max`` counts only when the dev evaluation samples a pool, that is when the corpus
    (``corpus_size`` passages) is larger than it.
    """
    params = params.replace(loss=resolve_loss(params.loss, triples)[0])  # auto: the loss it stands for
    return _fingerprint(triples, base_fingerprint, _settings(params, corpus_size))


def _fingerprint(triples: list[Triple], base_fingerprint: str, settings: dict) -> str:
    """Hash of the rows, the base model and the settings. ``cached_mnrl`` counts as ``mnrl``: the same loss
    computed in pieces, which ``memory_guard`` picks on a machine with less memory, so a run finished (or
    checkpointed) on a larger machine is still found on a smaller one, and the other way round."""
    import hashlib

    settings = settings | {"loss": "mnrl"} if settings.get("loss") == "cached_mnrl" else settings
    rows = data_hash(triples, margins=settings.get("loss") == "marginmse")
    key = json.dumps([rows, base_fingerprint, settings], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def load_training_data(params: Params, ws, paths: DomainPaths) -> tuple[list[Triple], dict]:
    """The mined rows without negatives flagged by hand, and the datasets the loss needs (``loss: auto`` resolved
    on the rows by :func:`build_datasets`).

    Returns:
        ``(triples, datasets)``; see :func:`build_datasets`.
    """

    triples, _ = apply_flags(load_triples(paths.triples), FlagFile(paths.negative_flags).pairs())
    datasets = build_datasets(triples, ws.corpus, max_pairs=params.max_train_pairs, seed=params.seed, loss=params.loss)
    return triples, datasets


def _train_settings(params: Params) -> dict:
    """The arguments of :func:`fine_tune` that come straight from the params."""
    return {
        "batch_size": params.batch_size,
        "learning_rate": params.learning_rate,
        "warmup_ratio": params.warmup_ratio,
        "seed": params.seed,
        "loss": params.loss,
        "matryoshka": params.matryoshka,
        "mini_batch_size": params.cached_mini_batch,
        "card_examples": params.model_card_examples,
    }


def _sources(triples: list[Triple]) -> dict[str, int]:
    """Training pairs per source, for the model card."""
    return dict(Counter(source for _, _, source in {(t.query, t.positive, t.source) for t in triples}))


def _finished(params: Params, folder: Path, fingerprint: str) -> TrainResult | None:
    """The saved result of a finished run with this fingerprint in ``folder`` (with ``resume``), marked reused."""
    done = TrainResult.load(folder)
    if params.resume and done is not None and done.fingerprint == fingerprint:
        logger.info("%s already holds a finished run with fingerprint %s: not training again", folder, fingerprint)
        return replace(done, reused=True)
    return None


def train_domain(params: Params, ws, datasets: dict, base, paths: DomainPaths, triples: list[Triple]) -> TrainResult:
    """Train as the params say: dev evaluation, checkpoints, the model card; the model goes to ``paths.model_dir``
    (to ``paths.dev_model_dir`` with ``refit_with_dev``, the shipped model then comes from :func:`refit`).

    With ``resume``, a finished run with the same fingerprint (data, base model, settings) already in
    its folder is not trained again: its saved result is returned with ``reused=True``. That is how a
    model trained on several GPUs with ``torchrun -m nbutils train`` reaches the notebooks. A run finished
    in ``paths.model_dir`` before ``refit_with_dev`` was switched on is copied to ``paths.dev_model_dir``
    and reused the same way.

    Args:
        params: validated train-stage params.
        ws: the domain's workspace (dev split and corpus for evaluation).
        base: a :class:`~nbutils.models.LoadedModel` loaded with ``training=True``.
        triples: the training rows (their hash and sources go into the fingerprint and the card).
    """
    params = params.replace(loss=resolve_loss(params.loss, triples)[0])
    epochs = planned_epochs(params, datasets)[0]
    settings = _settings(params, len(ws.corpus)) | {"epochs": epochs}  # for the card: the epochs it trained
    fingerprint = run_fingerprint(params, triples, base.fingerprint, len(ws.corpus))
    out_dir = paths.dev_model_dir if params.refit_with_dev else paths.model_dir
    if done := _finished(params, out_dir, fingerprint):
        return done
    if out_dir != paths.model_dir and _finished(params, paths.model_dir, fingerprint):
        _copy_atomically(paths.model_dir, out_dir)  # the same run, finished before refit_with_dev was switched on
        return _finished(params, out_dir, fingerprint)
    evaluator = None
    if params.eval_during_training:
        queries, qrels = ws.split("dev")
        if queries:
            corpus = ws.corpus
            if pool := _dev_pool(params, len(corpus)):
                bm25 = bm25_index(ws, params.bm25_backend)
                corpus = dev_corpus(queries, qrels, corpus, pool, bm25, params.seed)
            windows = params.long_passages == "windows"
            evaluator = dev_evaluator(
                queries, qrels, corpus, params.encode_batch_size, windows, params.window_sentences
            )
    return fine_tune(
        base.model,
        datasets,
        out_dir,
        device=base.device,
        epochs=epochs,
        evaluator=evaluator,
        keep=params.keep_epoch,
        checkpoint_dir=paths.checkpoints,
        fingerprint=fingerprint if params.resume else "",
        embedding_store=paths.embeddings_dir,
        card=lambda r: model_card(base.resolved.describe(), _sources(triples), settings, r.kept_dev(), r.kept),
        **_train_settings(params),
    )


def planned_epochs(params: Params, datasets: dict, processes: int | None = None) -> tuple[int, str]:
    """The epochs training on ``datasets`` takes (``epochs``, raised to make ``min_steps`` steps), and why;
    see :func:`nbutils.pairs.plan_epochs`. ``processes``: those training together, by default this launch's
    (``WORLD_SIZE``, which ``torchrun`` sets; 1 without it)."""
    rows = sum(len(d) for d in datasets.values())
    processes = processes or int(os.environ.get("WORLD_SIZE", "1") or 1)
    return plan_epochs(params.epochs, rows, params.batch_size, params.min_steps, processes)


def refit_epochs(params: Params, result: TrainResult) -> int:
    """Epochs for the refit: those of the epoch the dev-scored run kept (best or last), else those the run took."""
    entry = result._kept_entry()
    return max(1, round(entry["epoch"])) if entry and entry.get("epoch") else result.epochs


def load_refit_data(params: Params, ws, paths: DomainPaths) -> tuple[list[Triple], dict]:
    """The refit rows (train and dev pairs, see :func:`nbutils.mining.mine_refit`) without negatives flagged
    by hand, and their datasets.

    Raises:
        FileNotFoundError: when the mine stage left no refit rows (it ran without ``refit_with_dev``).
    """

    rows = load_triples(paths.refit_triples) if paths.refit_triples.exists() else []
    if not rows:
        raise FileNotFoundError(
            f"no refit rows in {paths.refit_triples}: run the synthesize and mine stages with refit_with_dev: true"
        )
    triples, _ = apply_flags(rows, FlagFile(paths.negative_flags).pairs())
    datasets = build_datasets(triples, ws.corpus, max_pairs=params.max_train_pairs, seed=params.seed, loss=params.loss)
    return triples, datasets


def refit(params: Params, ws, paths: DomainPaths, first: TrainResult) -> TrainResult | None:
    """With ``refit_with_dev``: train the shipped model (``paths.model_dir``) from the base model again, on the
    train and dev pairs, with the settings of the dev-scored run ``first`` and the epochs of the epoch it kept.

    The dev split cannot score this model (it trained on it): its card names the dev-scored run's metrics
    as those of the recipe. A finished refit with the same fingerprint is reused, an interrupted one
    resumes, as in :func:`train_domain`. Returns ``None`` without ``refit_with_dev``.
    """
    if not params.refit_with_dev:
        return None

    triples, datasets = load_refit_data(params, ws, paths)
    params = params.replace(loss=resolve_loss(params.loss, triples)[0])
    epochs = refit_epochs(params, first)
    base = load_encoder(params.base_model, params.device, params.max_seq_length, training=True)
    settings = _settings(params, len(ws.corpus)) | {"epochs": epochs, "eval_during_training": False}
    settings["refit_with_dev"] = True
    for key in ("keep_epoch", "dev_corpus_max", "window_sentences"):  # no dev evaluation: they choose nothing
        settings.pop(key, None)
    fingerprint = _fingerprint(triples, base.fingerprint, settings)
    if done := _finished(params, paths.model_dir, fingerprint):
        return done
    heading = (
        "- Refit on the train and dev splits, so the dev split cannot score it; dev metrics of the same recipe "
        f"trained on the train split only ({first.kept} epoch):"
    )
    return fine_tune(
        base.model,
        datasets,
        paths.model_dir,
        device=base.device,
        epochs=epochs,
        evaluator=None,
        keep="last",
        checkpoint_dir=paths.refit_checkpoints,
        fingerprint=fingerprint if params.resume else "",
        card=model_card(base.resolved.describe(), _sources(triples), settings, first.kept_dev(), first.kept, heading),
        **_train_settings(params),
    )


def refit_summary(params: Params, paths: DomainPaths, result: TrainResult | None) -> dict:
    """What the refit recorded for later stages: rows, epochs, time and the hash of its training rows
    (``{}`` without a refit)."""
    if result is None:
        return {}

    triples, _ = apply_flags(load_triples(paths.refit_triples), FlagFile(paths.negative_flags).pairs())
    return {
        "model_dir": result.model_dir,
        "rows": result.rows,
        "epochs": result.epochs,
        "seconds": result.seconds,
        "rows_per_second": result.rows_per_second,
        "resumed": result.resumed,
        "reused": result.reused,
        "training_data_hash": data_hash(triples),
    }


def describe_refit(result: TrainResult | None, first: TrainResult) -> str:
    """A paragraph for the report on the refit, or on its absence."""
    if result is None:
        return (
            f"`refit_with_dev` is off: the model above ({first.model_dir}) is the one the evaluate stage scores "
            "and the maintain stage registers."
        )
    epochs = f"{result.epochs} epoch" + ("s" if result.epochs != 1 else "")
    how = (
        "reused from a finished run"
        if result.reused
        else f"{result.seconds:,.0f} s, {result.rows_per_second:.2f} rows/s"
    )
    return (
        f"**Refit** (`refit_with_dev`): the model was trained again from the base model on {result.rows:,} rows of "
        f"the train and dev splits for {epochs} (those of the epoch kept above) with the same "
        f"settings ({how}), into {result.model_dir}. It is the model the evaluate stage scores on the test split "
        "(next to the train-only model above) and the maintain stage registers. The dev split cannot score it, "
        "having trained it: the dev scores above are the recipe's."
    )


# --------------------------------------------------------------------------- the stage's entry point


@dataclass
class TrainReport:
    """What the train stage did: its data, the memory check, the run (and the refit), and the record it keeps.

    Made by :func:`run`; the notebook shows its pieces, ``python -m nbutils train`` prints :meth:`summary`,
    and :meth:`to_metrics` is what ``metrics/04_train.json`` holds.
    """

    params: object  # the train-stage params, as the memory check adapted them
    base: LoadedModel
    datasets: dict
    negatives: dict[str, int]  # mined negatives, and those the training rows use
    memory: MemoryEstimate
    result: TrainResult
    refit: TrainResult | None
    refit_record: dict
    data_hash: str
    corpus_passages: int
    loss_choice: str = ""  # which loss trained and why (``loss: auto`` → …)
    epochs_choice: str = ""  # how many epochs and why (``min_steps`` raises ``epochs`` on few rows)

    def datasets_table(self):
        """Rows and columns of each training dataset (a DataFrame)."""
        import pandas as pd

        rows = {n: {"rows": len(d), "columns": ", ".join(d.column_names)} for n, d in self.datasets.items()}
        return pd.DataFrame(rows).T

    def negatives_line(self) -> str:
        """Which loss trained and why, and how many mined negatives the training rows use (Markdown)."""
        used = f"Mined negatives in the training rows: **{self.negatives['trained']:,} of {self.negatives['mined']:,}**"
        loss = f"Loss: {self.loss_choice}. " if self.loss_choice else ""
        epochs = f"Epochs: {self.epochs_choice}. " if self.epochs_choice else ""
        return f"{loss}{epochs}{used}"

    def run_table(self):
        """What the training run did: rows, epochs, time, device, where the model went (a one-column DataFrame)."""
        import pandas as pd

        r = self.result
        rows = {"loss": self.params.loss, "rows": r.rows, "epochs": r.epochs, "seconds": round(r.seconds, 1)}
        rows |= {"rows/s": round(r.rows_per_second, 2), "device": r.device, "precision": r.precision}
        rows |= {
            "processes": r.processes,
            "dev passages scored per epoch": f"{r.dev_passages:,} of {self.corpus_passages:,}",
        }
        rows |= {"resumed from a checkpoint": r.resumed, "finished run reused": r.reused, "saved to": r.model_dir}
        return pd.Series(rows).to_frame("value")

    def refit_text(self) -> str:
        """What the refit on train + dev did, or why there was none (Markdown)."""
        return describe_refit(self.refit, self.result)

    def summary(self) -> dict:
        """The few numbers ``python -m nbutils train`` prints as one JSON line."""
        r = self.result
        out = {"model_dir": r.model_dir, "rows": r.rows, "epochs": r.epochs, "seconds": round(r.seconds, 1)}
        out |= {"rows_per_second": round(r.rows_per_second, 1), "processes": r.processes, "device": r.device}
        out |= {"precision": r.precision, "reused": r.reused, "dev": r.kept_dev()}
        if self.refit is not None:
            f = self.refit
            out["refit"] = {"model_dir": f.model_dir, "rows": f.rows, "epochs": f.epochs}
            out["refit"] |= {"seconds": round(f.seconds, 1), "reused": f.reused}
        return out

    def to_metrics(self) -> dict:
        """The stage's record, ``metrics/04_train.json`` (read by the evaluate and maintain stages)."""
        r = self.result
        return {
            "base_model": self.base.describe(),
            "base_model_fingerprint": self.base.fingerprint,
            "loss": self.params.loss,
            "loss_choice": self.loss_choice,
            "epochs_choice": self.epochs_choice,
            "rows": r.rows,
            "seconds": r.seconds,
            "rows_per_second": r.rows_per_second,
            "device": r.device,
            "precision": r.precision,
            "resumed": r.resumed,
            "reused": r.reused,
            "processes": r.processes,
            "dev_passages": r.dev_passages,
            "negatives": self.negatives,
            "final_loss": (r.loss_curve()[1] or [None])[-1],
            "dev": r.kept_dev(),
            "kept_epoch": r.kept,
            "memory": self.memory.to_dict(),
            "training_data_hash": self.data_hash,
            "refit": self.refit_record,
            "params": self.params.stage_values("train"),
        }


def run(params: Params, paths: DomainPaths) -> TrainReport:
    """The train stage: load the mined rows and the base model, check a step fits in memory, train as the params
    say (resuming or reusing a finished run), then refit on train + dev when asked.

    Used by the train notebook and ``python -m nbutils train`` alike.

    Raises:
        FileNotFoundError: when an earlier stage has not run.
        StepTooLarge: when a step would not fit and ``memory_guard`` is ``stop``.
    """
    ws = load_workspace(paths)
    loss, why = resolve_loss(params.loss, load_triples(paths.triples))
    params = params.replace(loss=loss)
    triples, datasets = load_training_data(params, ws, paths)
    base = load_encoder(params.base_model, params.device, params.max_seq_length, training=True)
    params, estimate = check_memory(params, base.model, datasets, base.device)
    result = train_domain(params, ws, datasets, base, paths, triples)
    refitted = refit(params, ws, paths, result)
    return TrainReport(
        params, base, datasets, negatives_used(triples, datasets), estimate, result, refitted,
        refit_summary(params, paths, refitted), data_hash(triples), len(ws.corpus), why,
        planned_epochs(params, datasets, result.processes)[1],
    )  # fmt: skip
