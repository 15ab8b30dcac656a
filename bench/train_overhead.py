"""Time overhead of training through nbutils vs plain Sentence Transformers, same pairs, same settings.

    python bench/train_overhead.py --data ../shared/data/scifact [--model PATH] [--repeats 2]

Both sides train MultipleNegativesRankingLoss with the no-duplicates sampler for one epoch and save the
model; after one untimed warm-up of each, runs alternate (plain, nbutils, plain, …) and the medians are
compared (and the fastest of each). Goal: ratio ≤ 1.05. Use enough pairs (``--repeat-data``) that a run
lasts well over a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from synth_scifact import MODEL, workspace

from nbutils.mine import known_positives, mine_bm25
from nbutils.models import load_encoder
from nbutils.retrieval import BM25Index
from nbutils.synthesize import gold_pairs
from nbutils.train import build_datasets, fine_tune


def plain(location: str, data, out: Path, device: str, batch: int, seq: int) -> float:
    """The plain Sentence Transformers recipe, as its documentation writes it."""
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(location, device=device)
    model.max_seq_length = seq
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "ckpt"),
        num_train_epochs=1,
        per_device_train_batch_size=batch,
        learning_rate=2e-5,
        warmup_steps=0.1,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        report_to="none",
        bf16=device == "cuda",
        seed=42,
        disable_tqdm=True,
    )
    start = time.perf_counter()
    SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=MultipleNegativesRankingLoss(model)
    ).train()
    model.save_pretrained(str(out / "plain"))
    return time.perf_counter() - start


def ours(location: str, data, out: Path, device: str, batch: int, seq: int) -> float:
    model = load_encoder(location, device, seq, training=True)
    start = time.perf_counter()
    fine_tune(model.model, {"pairs": data}, out / "ours", device=model.device, epochs=1, batch_size=batch, seed=42)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/scifact")
    ap.add_argument("--model", default="")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=0, help="use only this many pairs (0: all gold train pairs)")
    ap.add_argument("--repeat-data", type=int, default=1, help="repeat the pairs this many times per epoch")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ws = workspace(args.data, 42)
    gold = gold_pairs(ws)[: args.pairs or None]
    ids, texts = ws.ids_and_texts()
    triples = mine_bm25(gold, BM25Index(ids, texts), known_positives(gold), 0)
    from datasets import concatenate_datasets

    data = build_datasets(triples, ws.corpus, 0)["pairs"]
    data = concatenate_datasets([data] * args.repeat_data)
    location = load_encoder(args.model or MODEL, "cpu").resolved.location
    device = load_encoder(location, args.device).device
    times = {"plain": [], "nbutils": []}
    with tempfile.TemporaryDirectory() as tmp:
        plain(location, data, Path(tmp), device, args.batch, args.seq)  # warm-up (CUDA context, kernels), not timed
        ours(location, data, Path(tmp), device, args.batch, args.seq)
        for _ in range(args.repeats):
            times["plain"].append(plain(location, data, Path(tmp), device, args.batch, args.seq))
            times["nbutils"].append(ours(location, data, Path(tmp), device, args.batch, args.seq))
    p, o = statistics.median(times["plain"]), statistics.median(times["nbutils"])
    print(f"{len(data)} pairs, 1 epoch, batch {args.batch}, {args.seq} tokens, device {device}")
    print(f"plain sentence-transformers: median {p:.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times['plain'])})")
    print(f"through nbutils:             median {o:.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times['nbutils'])})")
    print(f"ratio nbutils / plain: median {o / p:.3f}, fastest {min(times['nbutils']) / min(times['plain']):.3f}")
    print("goal ≤ 1.05; the fastest runs are the least disturbed by other load on the machine")


if __name__ == "__main__":
    main()
