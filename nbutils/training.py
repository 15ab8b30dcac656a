"""Stage 4, train: fine-tune a Sentence Transformers model on the mined training data.

Wraps :class:`sentence_transformers.SentenceTransformerTrainer` with MultipleNegativesRankingLoss
and the no-duplicates batch sampler. Pairs that got a full set of hard negatives train as
(anchor, positive, negative_1 … negative_n) rows; the others as (anchor, positive) rows, in a second
dataset of the same run.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from .mining import Triple

__all__ = ["TrainResult", "build_datasets", "data_hash", "train"]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_dir: str
    seconds: float
    rows: int
    epochs: int
    device: str
    precision: str
    log_history: list[dict] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows * self.epochs / self.seconds if self.seconds else 0.0

    def loss_curve(self) -> tuple[list[float], list[float]]:
        """(epoch, training loss) points logged during training."""
        pts = [(h["epoch"], h["loss"]) for h in self.log_history if "loss" in h and "epoch" in h]
        return [p[0] for p in pts], [p[1] for p in pts]


def build_datasets(
    triples: list[Triple], corpus: dict, negatives: int | None = None, max_pairs: int = 0, seed: int = 42
) -> dict:
    """Group triples per pair into Hugging Face datasets of texts.

    Args:
        negatives: hard negatives per row (default: the most any pair has).

    Returns:
        ``{"hard": Dataset(anchor, positive, negative_1..n), "pairs": Dataset(anchor, positive)}``,
        leaving out an empty one.
    """
    from datasets import Dataset

    grouped: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
    for t in triples:
        negs = grouped.setdefault((t.query, t.positive), [])
        if t.negative:
            negs.append(t.negative)
    keys = list(grouped)
    if negatives is None:
        negatives = max((len(v) for v in grouped.values()), default=0)
    if max_pairs and len(keys) > max_pairs:
        keys = random.Random(seed).sample(keys, max_pairs)
    hard: dict[str, list[str]] = {"anchor": [], "positive": [], **{f"negative_{i + 1}": [] for i in range(negatives)}}
    plain: dict[str, list[str]] = {"anchor": [], "positive": []}
    for q, pos in keys:
        negs = grouped[(q, pos)][:negatives]
        target = hard if negatives and len(negs) == negatives else plain
        target["anchor"].append(q)
        target["positive"].append(corpus[pos].full_text())
        for i, n in enumerate(negs if target is hard else []):
            target[f"negative_{i + 1}"].append(corpus[n].full_text())
    out = {}
    if hard["anchor"]:
        out["hard"] = Dataset.from_dict(hard)
    if plain["anchor"]:
        out["pairs"] = Dataset.from_dict(plain)
    if not out:
        raise ValueError("no training pairs: check train_sources and the synthesize stage's output")
    return out


def _progress_callback():
    """A compact tqdm bar over training steps showing the latest loss (instead of a printed log table)."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc="Training", unit="step")

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


def train(
    model,
    datasets: dict,
    out_dir: str | Path,
    *,
    device: str,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    warmup_ratio: float = 0.1,
    seed: int = 42,
    checkpoint_dir: str | Path | None = None,
) -> TrainResult:
    """Fine-tune ``model`` with MultipleNegativesRankingLoss and save it to ``out_dir``.

    The model is written to a temporary folder and renamed into place, so ``out_dir`` always holds
    a complete model.
    """
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    try:  # sentence-transformers >= 6
        from sentence_transformers.base.sampler import BatchSamplers
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:  # 5.x layout
        from sentence_transformers.losses import MultipleNegativesRankingLoss
        from sentence_transformers.training_args import BatchSamplers

    out_dir = Path(out_dir)
    rows = sum(len(d) for d in datasets.values())
    steps = max(1, rows // batch_size) * epochs
    precision_args, precision = _precision(device)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoint_dir or out_dir.with_name(out_dir.name + "-checkpoints")),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup_ratio,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        logging_steps=max(1, steps // 40),
        save_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_pin_memory=device == "cuda",
        **precision_args,
    )
    train_data = datasets if len(datasets) > 1 else next(iter(datasets.values()))
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train_data, loss=MultipleNegativesRankingLoss(model)
    )
    _quiet_progress(trainer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    old = out_dir.with_name(f".{out_dir.name}.old")
    if out_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return TrainResult(str(out_dir), seconds, rows, epochs, device, precision, list(trainer.state.log_history))


def data_hash(triples: list[Triple]) -> str:
    """Content hash of the training rows (query, positive, negative, provenance), order-independent."""
    import hashlib

    h = hashlib.sha256()
    for row in sorted(f"{t.query}\x00{t.positive}\x00{t.negative}\x00{t.source}" for t in triples):
        h.update(row.encode())
        h.update(b"\x01")
    return h.hexdigest()[:16]
