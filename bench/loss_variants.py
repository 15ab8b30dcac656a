"""Loss variants of sentence-transformers on SciFact, on the split of ``params/scifact.yaml``, measured the same way.

    python bench/loss_variants.py --data ../shared/data/scifact [--rows gte,hardness] [--negatives 1]

Every row trains MiniLM from the same gold pairs of the suite's train claims (after its leakage guard), 10 epochs
of batch 64 at lr 3e-5 (``--epochs``, ``--batch-size``, ``--learning-rate``), seed 42 (``--seed``), through
``nbutils.train.train`` with a loss built here (``loss_module``), and is scored dense and fused with BM25 on
the suite's dev and test claims (``bench/train_scifact.py``'s ``scores``).
``--negatives N`` adds N hybrid-teacher negatives per pair (ranks 4–40, margin 0.5, as the mine stage mines them) to
every row; ``--mini-batch M`` computes the MNRL row as CachedMultipleNegativesRankingLoss in mini-batches of M texts
(the same loss; memory follows M, as the train stage's ``memory_guard`` does where a step would not fit). Rows:
- mnrl: MultipleNegativesRankingLoss as the suite trains it (the baseline);
- gte: the same with all four directions in one softmax (query→passage, query→query, passage→query,
  passage→passage; the "improved contrastive loss" of GTE);
- hardness: in-batch negatives weighted by their hardness (``hardness_mode="in_batch_negatives"``, strength 9);
- gist: GISTEmbedLoss with the base model as its guide (in-batch negatives the guide scores above the positive
  are masked as likely false negatives).
Raw results go to ``--out`` (results.json, runs.json), with paired permutation tests of MNRL against each other
row when both ran (significance.json). On a 2-core CPU a row takes 25 to 35 minutes, about 50 with one negative.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from synth_scifact import MODEL
from train_scifact import paired_tests, scores, show_tests

from nbutils.config import load_params
from nbutils.mine import known_positives, mine_bm25, mine_hybrid
from nbutils.models import encode, load_encoder
from nbutils.paths import DomainPaths
from nbutils.retrieval import BM25Index, DenseIndex
from nbutils.synthesize import gold_pairs, leakage_filter
from nbutils.train import build_datasets, fine_tune
from nbutils.workspace import prepare_workspace

ROWS = ("mnrl", "gte", "hardness", "gist")


def make(name: str, model, base: str, device: str, mini_batch: int = 0):
    """The loss of row ``name`` around ``model`` (GIST's guide: the base model ``base``, loaded on ``device``);
    ``mini_batch`` > 0 makes the MNRL row CachedMultipleNegativesRankingLoss in mini-batches of that many texts."""
    from sentence_transformers.sentence_transformer import losses

    if name == "mnrl" and mini_batch:
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch)
    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model)
    if name == "gte":
        directions = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
        return losses.MultipleNegativesRankingLoss(model, directions=directions, partition_mode="joint")
    if name == "hardness":
        return losses.MultipleNegativesRankingLoss(model, hardness_mode="in_batch_negatives", hardness_strength=9.0)
    if name == "gist":
        return losses.GISTEmbedLoss(model, load_encoder(base, device, 256).model, temperature=0.05)
    raise SystemExit(f"--rows: unknown row {name!r}; the rows are {', '.join(ROWS)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/scifact")
    ap.add_argument("--params", default="params/scifact.yaml")
    ap.add_argument("--out", default="bench/out/loss-variants")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--negatives", type=int, default=0, choices=range(6), metavar="{0..5}")
    ap.add_argument("--mini-batch", type=int, default=0, help="MNRL row as cached MNRL, this many texts at once")
    ap.add_argument("--model", default=MODEL, help="the base model: hub id or folder")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--learning-rate", type=float, default=3e-5)
    ap.add_argument("--seed", type=int, default=42, help="the training seed (the split stays the suite's)")
    args = ap.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    if unknown := set(rows) - set(ROWS):
        raise SystemExit(f"--rows: unknown rows {sorted(unknown)}; the rows are {', '.join(ROWS)}")
    if args.mini_batch < 0 or (args.mini_batch and rows != ["mnrl"]):
        raise SystemExit(f"--mini-batch {args.mini_batch}: a positive count of texts, for --rows mnrl alone")
    out = Path(args.out)
    params = load_params("scifact", args.params, [f"outputs_dir={out / 'outputs'}", f"data_dir={args.data}"])
    ws = prepare_workspace(params, DomainPaths.from_params(params))  # the suite's split: train / dev / test claims
    ids, texts = ws.ids_and_texts()
    bm25 = BM25Index(ids, texts)
    gold, dropped = leakage_filter(gold_pairs(ws), ws)
    print(f"{len(gold)} gold pairs ({len(dropped)} dropped by the leakage guard)", flush=True)
    if args.negatives:
        base = load_encoder(args.model, args.device, 256)
        dense = DenseIndex(ids, encode(base.model, texts, 256, progress=False))
        triples = mine_hybrid(
            gold, bm25, dense, base.model, known_positives(gold, ws.corpus), args.negatives, 3, 40, 0.5
        )
    else:
        triples = mine_bm25(gold, bm25, {}, 0)
    results, runs = {}, {}
    for name in rows:
        model = load_encoder(args.model, args.device, 256, training=True)
        datasets = build_datasets(triples, ws.corpus, args.negatives)
        loss = make(name, model.model, args.model, model.device, args.mini_batch)
        start = time.perf_counter()
        res = fine_tune(
            model.model,
            datasets,
            out / f"model-{name}",
            device=model.device,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=args.seed,
            loss="cached_mnrl" if args.mini_batch else "mnrl",
            loss_module=loss,
        )
        tuned = load_encoder(str(out / f"model-{name}"), args.device, 256)
        runs[name] = {}
        results[name] = {"rows": res.rows, "train_s": round(time.perf_counter() - start, 1), "seed": args.seed}
        results[name] |= {"loss": type(loss).__name__, "columns": {k: len(d.column_names) for k, d in datasets.items()}}
        results[name] |= scores(tuned, ws, bm25, False, ("dev", "test"), runs[name])
        print(name, json.dumps(results[name]), flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        (out / "runs.json").write_text(json.dumps(runs))
    print(f"\n{'row':<10}{'dev nDCG@10':>12}{'R@10':>7}{'z0.3':>14}{'test nDCG@10':>14}{'R@10':>7}{'z0.3':>14}")
    for name, r in results.items():
        dev = f"{r['z0.3 ndcg@10']:.3f}/{r['z0.3 recall@10']:.3f}"
        test = f"{r['test z0.3 ndcg@10']:.3f}/{r['test z0.3 recall@10']:.3f}"
        print(
            f"{name:<10}{r['dense ndcg@10']:>12.3f}{r['dense recall@10']:>7.3f}{dev:>14}"
            f"{r['test dense ndcg@10']:>14.3f}{r['test dense recall@10']:>7.3f}{test:>14}"
        )
    if "mnrl" in runs and len(runs) > 1:  # MNRL minus each variant, claim by claim
        tests = paired_tests(ws, runs, "mnrl", ("dev", "test"))
        (out / "significance.json").write_text(json.dumps(tests, indent=2))
        show_tests(tests, "mnrl")


if __name__ == "__main__":
    main()
