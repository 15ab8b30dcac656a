"""Whole passages vs their best sentence window, for one or more models on a suite's split.

    python bench/window_scoring.py --suite outputs/scifact --model base=sentence-transformers/all-MiniLM-L6-v2 \
        --model tuned=outputs/scifact/work/model_dev [--size 2] [--out bench/out/windows]

Each model encodes the corpus once as the suite does with ``window_sentences: SIZE``
(:func:`nbutils.workspace.dense_index`): every passage, then every window of ``--size`` consecutive sentences
(under the title) of a passage that has more than one. The whole-passage index is the first row of each passage;
the windowed index scores a passage as its best row.
Both are scored dense and fused with BM25 (weighted z-scores, BM25 weights 0.1–0.4) on the suite's dev and
test claims, and the windowed runs are tested against the whole-passage runs claim by claim (paired
permutation tests of nDCG@10 and recall@10). Prints a table per model; writes ``results.json`` to ``--out``,
and caches each model's rows there as the suite's embedding cache does (a re-run with the same model, size and
corpus encodes nothing).
On a 2-core CPU one MiniLM model takes about 20 minutes (SciFact: 5,183 passages and about 40,000 windows).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from nbutils.metrics import evaluate_run, paired_test
from nbutils.models import load_encoder
from nbutils.paths import DomainPaths
from nbutils.retrieval import BM25Index, DenseIndex, weighted_fusion
from nbutils.workspace import dense_index, load_workspace

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4)  # BM25 weights of the fused rows; 0 is the dense run alone


def windowed_index(loaded, ws, size: int, cache: Path) -> tuple[DenseIndex, float]:
    """The model's index of the corpus with ``size``-sentence windows, as the suite builds it with
    ``window_sentences`` (cached under ``cache``), and the seconds it took."""
    start = time.perf_counter()
    index = dense_index(replace(loaded, window_sentences=size), ws, cache)
    return index, time.perf_counter() - start


def score(loaded, ws, bm25: BM25Index, windowed: DenseIndex) -> dict:
    """Metrics of the whole-passage and windowed indexes, dense and fused, per split, with paired tests."""
    indexes = {"whole": DenseIndex(windowed.ids, windowed.passage_embeddings), "windows": windowed}
    out: dict = {}
    for split in ("dev", "test"):
        queries, qrels = ws.split(split)
        if not queries:
            continue
        lexical = bm25.search(queries, k=100)
        runs = {}
        for name, index in indexes.items():
            dense = index.search(loaded.model, queries, k=100, batch_size=256)
            for w in WEIGHTS:
                runs[(name, w)] = dense if w == 0 else weighted_fusion([dense, lexical], [1 - w, w])
                out[f"{split} {name} z{w}"] = evaluate_run(qrels, runs[(name, w)], (10, 100))
        for w in WEIGHTS:
            for metric in ("ndcg@10", "recall@10"):
                test = paired_test(qrels, runs[("windows", w)], runs[("whole", w)], metric)
                out[f"{split} windows - whole z{w} {metric}"] = test
    return out


def show(name: str, res: dict, windows: int, seconds: float) -> None:
    """Print one model's table: nDCG@10 / recall@10 per split, index and BM25 weight."""
    print(f"\n{name}: {windows:,} rows ({seconds:.0f} s to encode); nDCG@10 / recall@10, p = windows vs whole")
    print(f"{'':<20}" + "".join(f"{'dense' if w == 0 else f'BM25 {w}':>22}" for w in WEIGHTS))
    for split in ("dev", "test"):
        for index in ("whole", "windows"):
            if f"{split} {index} z0.0" not in res:
                continue
            cells = [res[f"{split} {index} z{w}"] for w in WEIGHTS]
            print(
                f"{split + ' ' + index:<20}" + "".join(f"{c['ndcg@10']:>14.3f} / {c['recall@10']:.3f}" for c in cells)
            )
        if f"{split} windows - whole z0.0 ndcg@10" in res:
            ps = [
                res[f"{split} windows - whole z{w} {m}"]["p_value"] for w in WEIGHTS for m in ("ndcg@10", "recall@10")
            ]
            print(f"{split + ' p':<20}" + "".join(f"{ps[i]:>14.3f} / {ps[i + 1]:.3f}" for i in range(0, len(ps), 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", required=True, help="a suite run's domain folder (its decide stage has run)")
    ap.add_argument("--model", action="append", default=[], help="NAME=PATH or hub id (repeat for several)")
    ap.add_argument("--size", type=int, default=2, help="sentences per window")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="bench/out/windows")
    args = ap.parse_args()
    models = dict(m.split("=", 1) if "=" in m else (m, m) for m in args.model)
    if not models:
        raise SystemExit("--model: give at least one, e.g. --model base=sentence-transformers/all-MiniLM-L6-v2")
    root = Path(args.suite)
    ws = load_workspace(DomainPaths(root.parent, root.name))
    ids, texts = ws.ids_and_texts()
    bm25 = BM25Index(ids, texts)
    out = Path(args.out)
    results = {"suite": str(root), "size": args.size, "models": {}}
    for name, location in models.items():
        loaded = load_encoder(location, args.device, args.seq)
        index, seconds = windowed_index(loaded, ws, args.size, out / "cache")
        res = {"location": location, "rows": len(index.embeddings), "encode_s": round(seconds, 1)}
        res |= score(loaded, ws, bm25, index)
        results["models"][name] = res
        show(name, res, len(index.embeddings), seconds)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
