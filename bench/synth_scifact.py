"""No-gold synthetic training on BEIR SciFact: does each generator, and the filtered mix, beat the base model?

Two steps, so generation (slow on a CPU, cached) and training (fast on a GPU) can run on different machines:

    python bench/synth_scifact.py generate --data ../shared/data/scifact --out bench/out/scifact --passages 1000
    python bench/synth_scifact.py train-eval --data ../shared/data/scifact --out bench/out/scifact [--model PATH]

``generate`` writes every generated pair with its provenance, and the pairs left after each filter, to
``--out``. ``train-eval`` trains one model per training set (1 epoch, MNRL, no gold pair), evaluates dense
retrieval on a dev split of 200 training claims carved with the seed, and prints nDCG@10 and recall@10
per configuration, base model first. Gold labels are used only for the dev evaluate.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nbutils import filters
from nbutils.config import validate
from nbutils.data import duplicate_groups, load_beir
from nbutils.llm import LocalChatModel, ResponseCache
from nbutils.metrics import evaluate_run
from nbutils.mine import known_positives, mine_bm25, mine_hybrid
from nbutils.models import encode, load_encoder
from nbutils.pairs import Pair, load_pairs, save_pairs
from nbutils.questions import Generation, filter_generated, llm_pairs
from nbutils.retrieval import BM25Index, DenseIndex, reciprocal_rank_fusion
from nbutils.synthesize import generate, leakage_filter, sample_passages
from nbutils.train import build_datasets, fine_tune
from nbutils.workspace import Workspace, split_queries

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def workspace(data: str, seed: int, dev: int = 200) -> Workspace:
    """SciFact's training claims with a dev split of about ``dev`` claims carved by seeded hash."""
    ds = load_beir(data)
    splits = split_queries(sorted(ds.queries), 0.0, min(0.9, dev / len(ds.queries)), seed)
    return Workspace(ds.corpus, ds.queries, ds.qrels, splits)


def cmd_generate(args) -> None:
    ws = workspace(args.data, args.seed, args.dev)
    out = Path(args.out)
    ids = sample_passages(ws, args.passages, args.seed)
    chat = LocalChatModel(device=args.device, batch_size=args.batch_size, cache=ResponseCache(out / "llm_cache.jsonl"))
    start = time.perf_counter()
    pairs, failures, done = [], [], []
    for i in range(0, len(ids), 240):  # in chunks, so a time budget can stop it between two
        gen = llm_pairs(ws, chat, ids[i : i + 240], max_words=args.max_words)
        pairs, failures, done = pairs + gen.pairs, failures + gen.failures, done + ids[i : i + 240]
        if args.budget_seconds and time.perf_counter() - start > args.budget_seconds:
            break
    seconds = time.perf_counter() - start
    ids = done
    gen = Generation(pairs, failures)
    heuristics = generate(ws, ["title", "cloze"], ids, 1, args.seed)
    save_pairs(gen.pairs + heuristics, out / "generated.jsonl")
    params = validate({"roundtrip": "none", "copy_max_words": 10, "q_min_words": 4, "q_max_words": 40})
    report = filter_generated(gen.pairs, ws, params)
    save_pairs(report.kept, out / "llm_filtered_static.jsonl")
    stats = {"passages": len(ids), "llm_pairs": len(gen.pairs), "llm_failures": len(gen.failures), "seconds": seconds}
    stats |= {"usage": chat.tally.as_dict(), "filters": report.table().to_dict("records")}
    (out / "generate_stats.json").write_text(json.dumps(stats, indent=2))
    print(json.dumps(stats, indent=2))


def dense_run(model, ws: Workspace, index: DenseIndex, queries: dict[str, str], k: int = 100):
    return index.search(model, queries, k=k, batch_size=256)


def evaluate(loaded, ws: Workspace, seq: int) -> dict[str, float]:
    ids, texts = ws.ids_and_texts()
    index = DenseIndex(ids, encode(loaded.model, texts, 256, progress=False))
    queries, qrels = ws.split("dev")
    return evaluate_run(qrels, dense_run(loaded.model, ws, index, queries), (10, 100))


def roundtrip_filter(pairs: list[Pair], ws: Workspace, base, bm25: BM25Index, k: int) -> list[Pair]:
    """Keep pairs whose passage the hybrid (base dense + BM25) retriever finds in the top ``k``."""
    ids, texts = ws.ids_and_texts()
    index = DenseIndex(ids, encode(base.model, texts, 256, progress=False))
    queries = {str(i): p.query for i, p in enumerate(pairs)}
    run = reciprocal_rank_fusion(
        [index.search(base.model, queries, k=100, batch_size=256), bm25.search(queries, k=100)]
    )
    kept, _ = filters.roundtrip(pairs, run, k, duplicate_groups(ws.corpus))
    return kept


def cmd_train_eval(args) -> None:
    ws = workspace(args.data, args.seed, args.dev)
    out = Path(args.out)
    # no generated question may equal or nearly equal a dev claim (the evaluation queries)
    generated, leaked = leakage_filter(load_pairs(out / "generated.jsonl"), ws, splits=("dev",))
    static, _ = leakage_filter(load_pairs(out / "llm_filtered_static.jsonl"), ws, splits=("dev",))
    print(f"{len(leaked)} generated pairs dropped as near-duplicates of dev claims")
    base = load_encoder(args.model or MODEL, args.device, args.seq)
    ids, texts = ws.ids_and_texts()
    bm25 = BM25Index(ids, texts)
    results = {"base": evaluate(base, ws, args.seq)}
    llm_rt = roundtrip_filter(static, ws, base, bm25, args.roundtrip_k)
    by = filters.by_origin(generated)
    rt = f"llm, + hybrid round trip top-{args.roundtrip_k}"
    runs = {  # label: (pairs, hard negative, epochs)
        "title alone": (by["generator:title"], None, 1),
        "cloze alone": (by["generator:cloze"], None, 1),
        "llm alone, unfiltered": (by["generator:llm"], None, 1),
        "llm, filtered (length, copy, dup)": (static, None, 1),
        rt: (llm_rt, None, 1),
        rt + " + BM25 negative": (llm_rt, "bm25", 1),
        rt + " + hybrid negative": (llm_rt, "hybrid", 1),
        rt + " + hybrid negative, 3 epochs": (llm_rt, "hybrid", 3),
        "filtered mix (llm round trip + title)": (llm_rt + by["generator:title"], None, 1),
        "filtered mix + hybrid negative": (llm_rt + by["generator:title"], "hybrid", 1),
    }
    only = {s.strip() for s in args.only.split(";") if s.strip()}
    dense = None
    for label, (pairs, negative, epochs) in runs.items():
        if only and label not in only:
            continue
        pairs = pairs[:30] if args.smoke else pairs
        known = known_positives(pairs, ws.corpus)
        if negative == "hybrid":
            dense = dense or DenseIndex(ids, encode(base.model, texts, 256, progress=False))
            triples = mine_hybrid(pairs, bm25, dense, base.model, known, 1, 3, 40, 0.5)
        else:
            triples = mine_bm25(pairs, bm25, known, 1 if negative else 0, 3, 30)
        model = load_encoder(args.model or MODEL, args.device, args.seq, training=True)
        data = build_datasets(triples, ws.corpus, 1 if negative else 0)
        res = fine_tune(
            model.model,
            data,
            out / "model-tmp",
            device=model.device,
            epochs=epochs,
            batch_size=args.batch,
            seed=args.seed,
        )
        tuned = load_encoder(str(out / "model-tmp"), args.device, args.seq)
        results[label] = evaluate(tuned, ws, args.seq) | {"pairs": len(pairs), "train_s": round(res.seconds, 1)}
        print(label, {k: round(v, 4) if isinstance(v, float) else v for k, v in results[label].items()}, flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    b = results["base"]["ndcg@10"]
    print(f"\n{'configuration (no gold pair used for training)':<52}{'pairs':>7}{'nDCG@10':>9}{'Δ':>7}{'R@10':>7}")
    for name, r in results.items():
        delta = (r["ndcg@10"] - b) * 100
        print(f"{name:<52}{r.get('pairs', 0):>7}{r['ndcg@10']:>9.3f}{delta:>+7.1f}{r['recall@10']:>7.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("generate", "train-eval"):
        p = sub.add_parser(name)
        p.add_argument("--data", default="../shared/data/scifact")
        p.add_argument("--out", default="bench/out/scifact")
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--device", default="auto")
        p.add_argument("--dev", type=int, default=200, help="dev claims carved from the training claims")
    g = sub.choices["generate"]
    g.add_argument("--passages", type=int, default=1000)
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--max-words", type=int, default=150)
    g.add_argument("--budget-seconds", type=int, default=0, help="stop generating after this long (0: no limit)")
    t = sub.choices["train-eval"]
    t.add_argument("--model", default="")
    t.add_argument("--seq", type=int, default=256)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--roundtrip-k", type=int, default=10)
    t.add_argument("--smoke", action="store_true", help="check the script quickly: 30 pairs per configuration")
    t.add_argument("--only", default="", help="semicolon-separated configuration labels to run")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    cmd_generate(args) if args.cmd == "generate" else cmd_train_eval(args)


if __name__ == "__main__":
    main()
