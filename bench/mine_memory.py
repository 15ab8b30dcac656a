"""Peak memory and time of hard-negative mining at scale: 10,000 queries against 100,000 passages.

    python bench/mine_memory.py [--queries 10000] [--passages 100000] [--teacher hybrid]

Texts are synthetic (random words from a fixed vocabulary, so BM25 has real work to do); passage
embeddings are random unit vectors (encoding 100,000 passages on a CPU would take hours and does not
change the memory picture); queries are encoded with the real model. Prints the time and the peak
resident memory of the process. Goal: peak RSS under 4 GB.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

import numpy as np

from nbutils.mine import mine_hybrid
from nbutils.models import load_encoder
from nbutils.pairs import Pair
from nbutils.retrieval import BM25Index, DenseIndex


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--teacher", default="hybrid", choices=["hybrid", "bm25", "dense"])
    args = ap.parse_args()
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(30_000)]
    ids = [f"p{i}" for i in range(args.passages)]
    t0 = time.perf_counter()
    texts = [" ".join(rng.choices(vocab, k=60)) for _ in ids]
    bm25 = BM25Index(ids, texts)
    emb = np.random.default_rng(0).standard_normal((args.passages, 384), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    dense = DenseIndex(ids, emb)
    build_s = time.perf_counter() - t0
    print(f"indexes built in {build_s:.0f} s, peak RSS so far {rss_gb():.2f} GB", flush=True)
    pairs = []
    for _ in range(args.queries):
        pos = rng.randrange(args.passages)
        words = texts[pos].split()
        pairs.append(Pair(" ".join(rng.sample(words, 6)), ids[pos], "synthetic", "bench"))
    model = load_encoder("sentence-transformers/all-MiniLM-L6-v2", "auto", 32).model
    weight = {"hybrid": 0.5, "bm25": 1.0, "dense": 0.0}[args.teacher]
    t1 = time.perf_counter()
    triples = mine_hybrid(pairs, bm25, dense, model, {}, 3, 3, 40, 0.5, weight, 256)
    mine_s = time.perf_counter() - t1
    found = sum(t.negative is not None for t in triples)
    print(f"\n{args.queries:,} queries × {args.passages:,} passages, teacher {args.teacher}")
    print(f"mining: {mine_s:.0f} s ({args.queries / mine_s:.0f} queries/s), {found:,} negatives")
    print(f"peak RSS: {rss_gb():.2f} GB (goal: under 4 GB)")


if __name__ == "__main__":
    main()
