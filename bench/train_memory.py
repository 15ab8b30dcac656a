"""Peak memory of one training run per loss: how much RAM a batch of long passages needs.

    python bench/train_memory.py [--model PATH] [--pairs 256] [--batch 64] [--seq 256] [--negatives 0] [--mini-batch 32]

Each loss trains in a fresh process (so the peaks do not mix) on the same synthetic pairs: a short
query and a passage of ``--words`` random words, long enough to fill ``--seq`` tokens; one epoch,
batch ``--batch``. Prints the process's peak RSS and the rows per second for each loss, and their
ratio to MultipleNegativesRankingLoss, and the peak :func:`nbutils.train.memory.training_estimate` predicts
before train. ``cached_mnrl`` computes the same loss with gradient caching in mini-batches: memory
should follow the mini-batch, not the batch.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synth_scifact import MODEL

from nbutils.data import Passage
from nbutils.pairs import Triple

LOSSES = ("mnrl", "cached_mnrl")


def synthetic(pairs: int, words: int, negatives: int, seed: int = 0) -> tuple[list[Triple], dict]:
    """``pairs`` (query, passage) rows over a random vocabulary, with ``negatives`` negatives each."""
    rng = random.Random(seed)
    vocab = [f"w{rng.randrange(10**6)}" for _ in range(5000)]
    corpus = {
        f"p{i}": Passage(f"p{i}", "", " ".join(rng.choices(vocab, k=words))) for i in range(pairs * (1 + negatives))
    }
    triples = []
    for i in range(pairs):
        query = " ".join(rng.choices(vocab, k=12))
        negs = [f"p{pairs + i * negatives + j}" for j in range(negatives)] or [None]
        triples += [Triple(query, f"p{i}", "synthetic", "bench", negative=n) for n in negs]
    return triples, corpus


def one(args) -> dict:
    """Train with one loss in this process; return its peak RSS and speed."""
    from types import SimpleNamespace

    from nbutils.models import load_encoder
    from nbutils.train import build_datasets, fine_tune
    from nbutils.train.memory import training_estimate

    triples, corpus = synthetic(args.pairs, args.words, args.negatives)
    loaded = load_encoder(args.model or MODEL, args.device, args.seq, training=True)
    datasets = build_datasets(triples, corpus, args.negatives, loss=args.one)
    settings = SimpleNamespace(
        loss=args.one, batch_size=args.batch, cached_mini_batch=args.mini_batch, max_seq_length=args.seq
    )
    estimate = training_estimate(settings, loaded.model, datasets, loaded.device, available_gb=float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        res = fine_tune(
            loaded.model,
            datasets,
            Path(tmp) / "model",
            device=loaded.device,
            batch_size=args.batch,
            loss=args.one,
            mini_batch_size=args.mini_batch,
        )
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux
    return {
        "loss": args.one,
        "peak_rss_gb": round(peak, 2),
        "estimate_gb": round(estimate.peak_gb, 2),
        "rows_per_s": round(res.rows / seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--words", type=int, default=400, help="words per passage (fills --seq tokens)")
    ap.add_argument("--negatives", type=int, default=0, help="mined negatives per row")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--mini-batch", type=int, default=32, help="texts cached_mnrl encodes at once")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)  # internal: run one loss in this process
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return
    forwarded = sys.argv[1:]
    rows = []
    for loss in LOSSES:
        done = subprocess.run(
            [sys.executable, __file__, *forwarded, "--one", loss], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(
        f"\n{args.pairs} pairs, batch {args.batch}, {args.seq} tokens, {args.negatives} negatives per row, "
        f"cached_mnrl mini-batch {args.mini_batch}, device {args.device}"
    )
    print(f"{'loss':<14}{'peak RSS GB':>12}{'rows/s':>8}{'RSS ratio':>10}{'estimate GB':>12}{'est/peak':>9}")
    for r in rows:
        print(
            f"{r['loss']:<14}{r['peak_rss_gb']:>12.2f}{r['rows_per_s']:>8.2f}"
            f"{r['peak_rss_gb'] / rows[0]['peak_rss_gb']:>10.2f}{r['estimate_gb']:>12.2f}"
            f"{r['estimate_gb'] / r['peak_rss_gb']:>9.2f}"
        )


if __name__ == "__main__":
    main()
