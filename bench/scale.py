"""One machine, many passages: exact search and mining over a million passages, index build memory, and the
suite's encoding throughput against plain sentence-transformers.

    python bench/scale.py [--passages 1000000] [--mine-queries 10000] [--out bench/out/scale] \
        [--results bench/results/scale_cpu.json]

Vectors are synthetic (random unit vectors of the bundled model's dimension, 384): search cost depends on the
number and size of rows, not on what they mean. Each measurement runs in a fresh process, so its peak resident
memory (``ru_maxrss``) is its own. The index is stored as the suite stores it (``embeddings.npy``, float32) and
opened memory-mapped, as ``nbutils.maintain.read_index_folder`` opens it. Peak RSS counts the pages of the
memory-mapped file that were read, so it includes the part of the index the page cache holds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DIM = 384


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def make_vectors(folder: Path, n: int, seed: int = 0) -> Path:
    """``folder/embeddings.npy``: ``n`` random unit vectors (float32), written in chunks; reused when present."""
    path = folder / "embeddings.npy"
    if path.exists() and np.load(path, mmap_mode="r").shape == (n, DIM):
        return path
    folder.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    rng = np.random.default_rng(seed)
    for lo in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - lo), DIM), dtype=np.float32)
        out[lo : lo + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    out.flush()
    return path


def _queries(n: int, seed: int = 1) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def child_search(path: str, queries: int, k: int) -> dict:
    """Exact top-``k`` for ``queries`` queries over the memory-mapped index (the suite's DenseIndex)."""
    from nbutils.retrieval import DenseIndex

    emb = np.load(path, mmap_mode="r")
    index = DenseIndex([f"p{i}" for i in range(len(emb))], emb)
    q = _queries(queries)
    start = time.perf_counter()
    run = index.search_embeddings([f"q{i}" for i in range(queries)], q, k)
    seconds = time.perf_counter() - start
    assert len(run) == queries and all(len(r) == k for r in run.values())
    return {"queries": queries, "k": k, "seconds": round(seconds, 2), "peak_rss_mb": round(_peak_mb())}


def child_build(path: str) -> dict:
    """Store an index of all rows the way the maintain stage does (``build_index``) from the memory-mapped rows."""
    import tempfile

    from nbutils.maintain import Registry, build_index

    emb = np.load(path, mmap_mode="r")
    ids = [f"p{i}" for i in range(len(emb))]
    with tempfile.TemporaryDirectory(dir=Path(path).parent) as tmp:
        start = time.perf_counter()
        build_index(Registry(Path(tmp) / "registry"), "v1", ids, emb, "synthetic", [f"h{i}" for i in range(len(ids))])
        seconds = time.perf_counter() - start
    return {"passages": len(ids), "seconds": round(seconds, 1), "peak_rss_mb": round(_peak_mb())}


def child_encode(texts: int, repeats: int = 3) -> dict:
    """Passages per second: the suite's encoding (``nbutils.models.encode``) against plain ``model.encode`` on the
    same texts and model, alternating, best of ``repeats`` each."""
    import tempfile

    from nbutils.builtin import materialize
    from nbutils.data import load_documents
    from nbutils.models import encode, load_encoder

    model = load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu", 128).model
    with tempfile.TemporaryDirectory() as tmp:
        corpus = load_documents(materialize("builtin:python-docs", tmp)[0], 80).corpus
    sample = [p.full_text() for p in list(corpus.values())[:texts]]
    model.encode(sample[:32], batch_size=32)  # warm-up
    suite, plain = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        encode(model, sample, 64, kind="document", progress=False)
        suite.append(len(sample) / (time.perf_counter() - start))
        start = time.perf_counter()
        model.encode(sample, batch_size=64, normalize_embeddings=True)
        plain.append(len(sample) / (time.perf_counter() - start))
    return {
        "texts": len(sample),
        "suite_per_s": round(max(suite), 1),
        "plain_per_s": round(max(plain), 1),
        "ratio": round(max(suite) / max(plain), 3),
    }


class _RandomQueries:
    """Stands in for the base model when mining: random unit query vectors, as the corpus rows are random."""

    device = "cpu"

    def encode_query(self, texts, **kwargs):
        return _queries(len(texts), seed=2)

    def get_sentence_embedding_dimension(self) -> int:
        return DIM


def synthetic_texts(n: int, words: int = 50, vocabulary: int = 50_000, seed: int = 3) -> list[str]:
    """``n`` passages of ``words`` made-up words drawn from a Zipf law over ``vocabulary`` words, as text has."""
    rng = np.random.default_rng(seed)
    names = [f"w{i}x" for i in range(vocabulary)]
    out: list[str] = []
    for lo in range(0, n, 10_000):  # in chunks: the draws of a million passages would take GBs at once
        ranks = np.minimum(rng.zipf(1.2, size=(min(10_000, n - lo), words)), vocabulary) - 1
        out += [" ".join(names[r] for r in row) for row in ranks.tolist()]
    return out


def child_mine(path: str, queries: int) -> dict:
    """The whole miner (``mine_hybrid``: BM25 and dense teacher, z-scored and weighted, rank window and margin)
    for ``queries`` pairs over every passage: BM25 index build, then mining, each with seconds and peak RSS."""
    from nbutils.mine import mine_hybrid
    from nbutils.pairs import Pair
    from nbutils.retrieval import BM25Index, DenseIndex

    emb = np.load(path, mmap_mode="r")
    ids = [f"p{i}" for i in range(len(emb))]
    texts = synthetic_texts(len(ids))
    rng = np.random.default_rng(4)
    chosen = rng.choice(len(ids), size=queries, replace=False)
    pairs = [Pair(" ".join(rng.choice(texts[i].split(), 4)), ids[i], "synthetic", "bench") for i in chosen]
    after_texts = _peak_mb()
    start = time.perf_counter()
    bm25 = BM25Index(ids, texts)
    del texts
    bm25_seconds, after_bm25 = time.perf_counter() - start, _peak_mb()
    start = time.perf_counter()
    positives = {p.query: {p.positive} for p in pairs}
    triples = mine_hybrid(pairs, bm25, DenseIndex(ids, emb), _RandomQueries(), positives, 1, 3, 40, 0.5, 0.5)
    seconds = time.perf_counter() - start
    assert len(triples) == queries
    return {
        "passages": len(ids),
        "queries": queries,
        "peak_rss_mb_texts": round(after_texts),
        "bm25_build_seconds": round(bm25_seconds, 1),
        "peak_rss_mb_bm25": round(after_bm25),
        "mine_seconds": round(seconds, 1),
        "with_negative": sum(t.negative is not None for t in triples),
        "peak_rss_mb": round(_peak_mb()),
    }


def _run_child(*args: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "_child", *args], cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=1_000_000)
    ap.add_argument("--mine-queries", type=int, default=10_000)
    ap.add_argument("--encode-texts", type=int, default=256)
    ap.add_argument("--out", default="bench/out/scale")
    ap.add_argument("--results", default="")
    ap.add_argument("--only", choices=["miner"], help="run one measurement and merge it into --results")
    args = ap.parse_args()
    if args.only:
        path = make_vectors(Path(args.out), args.passages)
        out = _run_child("mine", str(path), str(args.mine_queries))
        print(f"the whole miner (BM25 + dense teacher), {args.mine_queries:,} queries: {out}")
        if args.results:
            saved = json.loads(Path(args.results).read_text()) if Path(args.results).exists() else {}
            Path(args.results).write_text(json.dumps(saved | {"miner": out}, indent=2) + "\n")
        return
    start = time.perf_counter()
    path = make_vectors(Path(args.out), args.passages)
    print(f"{args.passages:,} vectors of {DIM} dimensions ready in {time.perf_counter() - start:.0f} s: {path}")
    results = {"passages": args.passages, "dim": DIM, "index_gb": round(path.stat().st_size / 1e9, 2)}
    results["search"] = _run_child("search", str(path), "100", "100")
    print(f"search, 100 queries, top 100: {results['search']}")
    results["mining"] = _run_child("search", str(path), str(args.mine_queries), "40")
    print(f"mining candidates, {args.mine_queries:,} queries, top 40: {results['mining']}")
    results["miner"] = _run_child("mine", str(path), str(args.mine_queries))
    print(f"the whole miner (BM25 + dense teacher), {args.mine_queries:,} queries: {results['miner']}")
    results["build"] = _run_child("build", str(path))
    print(f"index build: {results['build']}")
    results["encode"] = _run_child("encode", str(args.encode_texts))
    print(f"encoding, suite vs plain sentence-transformers: {results['encode']}")
    if args.results:
        Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {args.results}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "search":
            out = child_search(rest[0], int(rest[1]), int(rest[2]))
        elif kind == "mine":
            out = child_mine(rest[0], int(rest[1]))
        elif kind == "build":
            out = child_build(rest[0])
        else:
            out = child_encode(int(rest[0]))
        print(json.dumps(out))
    else:
        main()
