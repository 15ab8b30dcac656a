"""Gold-pair training on BEIR SciFact: plain Sentence Transformers recipes vs ours, measured the same way.

    python bench/train_scifact.py --data ../shared/data/scifact [--model PATH] [--synthetic bench/out/scifact]
    python bench/train_scifact.py --suite outputs/scifact --only "plain ST, 10 epochs, b64, lr 3e-5" \
        --only "+ 1 hybrid-teacher negative, 10 epochs"
    python bench/train_scifact.py --suite outputs-b/scifact --test --reuse bench/out/scifact-train --out bench/out/b

Trains on the gold pairs of the training claims minus a dev split of 200 claims (the same carve as
bench/synth_scifact.py) and reports dense and hybrid nDCG@10 / recall@10 / recall@100 on the dev claims.
With ``--suite`` (the domain folder of a finished `python -m nbutils run scifact`), the split is the suite's
(gold pairs of its train claims, its dev claims) and the suite's fine-tuned model is scored as one more row,
the same way in the same run: the recipe of ``params/scifact.yaml`` against the plain ones; ``--test``
scores every row on the suite's test split as well (a second table), and ``--seed`` changes the training
seed of the trained rows only (the split stays the suite's). With ``--suite`` the suite's model is also tested
against every trained row, claim by claim (paired permutation tests of nDCG@10 and recall@10, dense and fused
at BM25 weight 0.3; ``significance.json``; every row's runs are kept in ``runs.json``). The suite's model is
scored as its suite scores it (its ``long_passages``); ``--windows`` scores every trained row with long passages
in windows, as a suite with ``long_passages: windows`` does, so the rows differ in training only. ``--reuse``
takes the rows of an earlier run on the same split (its ``--out`` folder) instead of training them again; with it
only the rows named by ``--only`` are trained. ``--seeds 42,1,2`` trains every row once per seed and scores the
uniform soup of those models (their weights averaged: one model to serve) as a row of its own. With ``--suite``
the rows train on the suite's gold pairs after its leakage guard (training claims that nearly repeat a dev or
test claim are dropped), as the suite's model does.
A suite that refit its model on train + dev (``refit_with_dev``) is represented by its train-only model
(``work/model_dev``): the refit model trained on the dev claims, and the suite's evaluate report compares the
two on its test split.
Rows:
- plain ST: MNRL, 1 epoch, batch 32, lr 2e-5 — and 10 epochs, batch 64, lr 3e-5 (the usual plain recipes);
- hybrid-teacher negatives (z-scored BM25 + base cosine, ranks 4–40, margin 0.5), 10 epochs, at lr 3e-5 and, as
  ``params/scifact.yaml`` trains, at lr 1e-4;
- the same with copies of positives excluded and more negatives, and with filtered synthetic pairs added;
- the same with long passages in windows (teacher, training windows and scoring; docs/long-passages.md);
- one hybrid negative, positive and negative given as their 2-sentence window closest to the claim (by the base
  model), for a suite with ``window_sentences: 2``: score its model (``--out``/model-tmp) with
  bench/window_scoring.py (docs/long-passages.md, "Sentence windows").
Runs in minutes on one GPU; on a CPU each 10-epoch row takes about an hour.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from synth_scifact import MODEL, workspace

from nbutils.config import validate
from nbutils.metrics import evaluate_run, paired_test
from nbutils.mine import choose_windows, known_positives, mine_bm25, mine_hybrid
from nbutils.models import encode, load_encoder
from nbutils.pairs import load_pairs
from nbutils.paths import DomainPaths
from nbutils.retrieval import BM25Index, DenseIndex, reciprocal_rank_fusion, weighted_fusion
from nbutils.synthesize import gold_pairs, leakage_filter
from nbutils.train import build_datasets, fine_tune
from nbutils.train.memory import check_memory
from nbutils.workspace import load_workspace

FUSED = 0.3  # the BM25 weight of the fused runs kept for paired tests (the weight the suite chose on dev)


def scores(loaded, ws, bm25: BM25Index, windows: bool = False, splits=("dev",), runs=None) -> dict[str, float]:
    """Dense, RRF and weighted z-score fusion metrics of one model on the dev claims (and other ``splits``,
    their keys prefixed with the split's name). ``runs``, a dict, receives the dense and fused runs per split
    for paired tests."""
    ids, texts = ws.ids_and_texts()
    index = DenseIndex(ids, encode(loaded.model, texts, 256, progress=False, windows=windows))
    out = {}
    for split in splits:
        queries, qrels = ws.split(split)
        dense = index.search(loaded.model, queries, k=100, batch_size=256)
        lexical = bm25.search(queries, k=100)
        row = {f"dense {k}": v for k, v in evaluate_run(qrels, dense, (10, 100)).items() if k != "queries"}
        row |= {
            f"rrf {k}": v
            for k, v in evaluate_run(qrels, reciprocal_rank_fusion([dense, lexical]), (10, 100)).items()
            if k != "queries"
        }
        for w in (0.1, 0.2, 0.3, 0.4):
            fused_run = weighted_fusion([dense, lexical], [1 - w, w])
            fused = evaluate_run(qrels, fused_run, (10,))
            row[f"z{w} ndcg@10"], row[f"z{w} recall@10"] = fused["ndcg@10"], fused["recall@10"]
            if runs is not None and w == FUSED:
                runs[split] = {"dense": dense, f"z{w}": fused_run}
        out |= {(k if split == "dev" else f"{split} {k}"): v for k, v in row.items()}
    return out


def recipes(args, ws, bm25: BM25Index, base) -> dict[str, Callable[[], tuple]]:
    """Row name → a function giving (triples, epochs, batch, lr, negatives per row, windows); mining runs
    only for the rows asked for."""
    ids, texts = ws.ids_and_texts()
    gold = gold_pairs(ws)
    if args.suite:  # the suite's gold pairs: without the claims that nearly repeat a dev or test claim
        gold, dropped = leakage_filter(gold, ws)
        print(f"leakage guard: {len(dropped)} of {len(gold) + len(dropped)} gold pairs dropped, as the suite does")
    gold = gold[:40] if args.smoke else gold

    @cache
    def dense(windows: bool = False) -> DenseIndex:
        return DenseIndex(ids, encode(base.model, texts, 256, progress=False, windows=windows))

    def plain() -> list:  # the gold pairs as rows, no mined negative
        return mine_bm25(gold, bm25, {}, 0)

    @cache
    def hybrid1() -> list:
        return mine_hybrid(gold, bm25, dense(), base.model, known_positives(gold), 1, 3, 40, 0.5)

    def hybrid3(windows: bool = False) -> list:
        positives = known_positives(gold, ws.corpus)
        mined = mine_hybrid(gold, bm25, dense(windows), base.model, positives, 3, 3, 40, 0.5)
        return choose_windows(mined, ws.corpus, base.model, progress=False) if windows else mined

    def sentence_rows() -> list:  # positive and negative as their 2-sentence window closest to the claim
        return choose_windows(hybrid1(), ws.corpus, base.model, progress=False, sentences=2)

    def with_synthetic() -> tuple:
        synthetic, _ = leakage_filter(
            load_pairs(Path(args.synthetic) / "llm_filtered_static.jsonl"), ws, splits=("dev",)
        )
        syn = mine_hybrid(synthetic, bm25, dense(), base.model, known_positives(synthetic, ws.corpus), 1, 3, 40, 0.5)
        return hybrid1() + syn, 10, 64, 3e-5, 1, False

    rows = {
        "plain ST, 1 epoch, b32, lr 2e-5": lambda: (plain(), 1, 32, 2e-5, 0, False),
        "plain ST, 10 epochs, b64, lr 3e-5": lambda: (plain(), 10, 64, 3e-5, 0, False),
        "+ 1 hybrid-teacher negative, 10 epochs": lambda: (hybrid1(), 10, 64, 3e-5, 1, False),
        "+ 1 hybrid negative, lr 1e-4 (params/scifact.yaml)": lambda: (hybrid1(), 10, 64, 1e-4, 1, False),
        "+ 3 hybrid negatives, copies excluded, 10 epochs": lambda: (hybrid3(), 10, 64, 3e-5, 3, False),
        "+ 3 hybrid negatives, long passages in windows": lambda: (hybrid3(True), 10, 64, 3e-5, 3, True),
        "+ 1 hybrid negative, trained on 2-sentence windows": lambda: (sentence_rows(), 10, 64, 3e-5, 1, False),
    }
    if args.synthetic:
        rows["+ 1 hybrid negative + filtered LLM pairs, 10 epochs"] = with_synthetic
    return rows


def train_row(args, ws, bm25: BM25Index, out: Path, recipe: tuple, runs: dict, seed: int, folder: str) -> dict:
    """Train one recipe from the base model with ``seed`` into ``out/folder`` and score it (its runs go to
    ``runs``)."""
    triples, epochs, batch, lr, negs, windows = recipe
    model = load_encoder(args.model or MODEL, args.device, args.seq, training=True)
    datasets = build_datasets(triples, ws.corpus, negs)
    # as the train stage does (memory_guard: adapt): a step too large for the memory runs as cached_mnrl
    params = validate({"batch_size": batch, "max_seq_length": args.seq, "loss": "mnrl"})
    params, estimate = check_memory(params, model.model, datasets, model.device)
    if estimate.adapted:
        print(f"memory: {estimate.adapted}", flush=True)
    start = time.perf_counter()
    res = fine_tune(
        model.model,
        datasets,
        out / folder,
        device=model.device,
        epochs=1 if args.smoke else epochs,
        batch_size=batch,
        learning_rate=lr,
        seed=seed,
        loss=params.loss,
        mini_batch_size=params.cached_mini_batch,
    )
    tuned = load_encoder(str(out / folder), args.device, args.seq)
    return {
        "pairs": res.rows,
        "train_s": round(time.perf_counter() - start, 1),
        "rows_per_s": round(res.rows_per_second, 1),
        **scores(tuned, ws, bm25, windows or args.windows, splits(args), runs),
    }


def soup_row(args, ws, bm25: BM25Index, out: Path, folders: list[str], windows: bool, runs: dict) -> dict:
    """Average the weights of the models in ``folders`` (trained from the same base with different seeds: a
    uniform model soup, one model to serve), save it to ``out/model-soup`` and score it."""
    states = [load_encoder(str(out / f), "cpu", args.seq).model.state_dict() for f in folders]
    soup = load_encoder(str(out / folders[0]), "cpu", args.seq).model
    soup.load_state_dict({k: sum(st[k].float() for st in states) / len(states) for k in states[0]})
    soup.save_pretrained(str(out / "model-soup"))
    tuned = load_encoder(str(out / "model-soup"), args.device, args.seq)
    return scores(tuned, ws, bm25, windows or args.windows, splits(args), runs)


def train_seeds(args, ws, bm25: BM25Index, out: Path, name: str, recipe: tuple, results: dict, runs: dict) -> None:
    """Train one row once per training seed (``--seeds``; else ``--seed``), and with several seeds also score
    the soup of their weights as a row of its own."""
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    folders = []
    for i, seed in enumerate(seeds):
        row = name if len(seeds) == 1 else f"{name}, seed {seed}"
        folders.append(f"model-{i}" if len(seeds) > 1 else "model-tmp")
        runs[row] = {}
        results[row] = train_row(args, ws, bm25, out, recipe, runs[row], seed, folders[-1])
        print(row, json.dumps(results[row]), flush=True)
    if len(seeds) > 1:
        row = f"{name}, soup of {len(seeds)} seeds"
        runs[row] = {}
        results[row] = {"pairs": results[f"{name}, seed {seeds[0]}"]["pairs"]}
        results[row] |= soup_row(args, ws, bm25, out, folders, recipe[-1], runs[row])
        print(row, json.dumps(results[row]), flush=True)


def splits(args) -> tuple[str, ...]:
    """The splits every row is scored on: dev, and the suite's test split with ``--test``."""
    return ("dev", "test") if args.test else ("dev",)


def suite_windows(folder: str) -> bool:
    """Whether a suite run scores its model with long passages in windows (its train stage's ``long_passages``)."""
    metrics = Path(folder) / "metrics" / "04_train.json"
    if not metrics.is_file():
        raise SystemExit(f"--suite: {metrics} is missing; run the suite's train stage first")
    return json.loads(metrics.read_text())["params"].get("long_passages", "truncate") == "windows"


def suite_model(folder: str) -> Path:
    """The suite's model that the dev split may score: ``work/model``, or ``work/model_dev`` when the suite
    refit its shipped model on train + dev (``refit_with_dev``; its evaluate report compares the two on test)."""
    metrics = json.loads((Path(folder) / "metrics" / "04_train.json").read_text())
    return Path(folder) / "work" / ("model_dev" if metrics.get("refit") else "model")


def reused_rows(folder: str, ws, split_names) -> tuple[dict, dict]:
    """Results and runs of the trained rows of an earlier run (``--reuse``: its ``--out`` folder), after checking
    they were scored on the same claims of every split asked for, with its base rows (the same base model is
    assumed); suite rows (another suite's model) are left out."""
    root = Path(folder)
    if missing := [f for f in ("results.json", "runs.json") if not (root / f).is_file()]:
        raise SystemExit(f"--reuse: {root} lacks {', '.join(missing)} (the --out folder of a run with --suite)")
    results = json.loads((root / "results.json").read_text())
    runs = json.loads((root / "runs.json").read_text())
    rows = [name for name in runs if not name.startswith("the suite's model")]
    if not rows:
        raise SystemExit(f"--reuse: {root / 'runs.json'} holds no trained row to check the claims against")
    for name in rows:
        for split in split_names:
            if split not in runs[name]:
                raise SystemExit(f"--reuse: row {name!r} of {root / 'runs.json'} was not scored on {split}")
            claims = set(ws.split(split)[0])
            if set(runs[name][split]["dense"]) != claims:
                raise SystemExit(f"--reuse: row {name!r} of {root / 'runs.json'} was scored on other {split} claims")
    base = ("base", "base, long passages in windows", *rows)
    return {name: results[name] for name in base if name in results}, {name: runs[name] for name in rows}


def suite_workspace(folder: str):
    """The workspace (corpus, claims, splits) of a suite run's domain folder, e.g. outputs/scifact."""
    root = Path(folder)
    return load_workspace(DomainPaths(root.parent, root.name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/scifact")
    ap.add_argument("--out", default="bench/out/scifact-train")
    ap.add_argument("--model", default="")
    ap.add_argument("--synthetic", default="", help="folder of bench/synth_scifact.py generate (optional)")
    ap.add_argument("--suite", default="", help="a suite run's domain folder: its splits, and its model as a row")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--seeds", default="", help="training seeds, e.g. 42,1,2: each row per seed, then their soup")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dev", type=int, default=200, help="dev claims carved from the training claims")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--only", action="append", default=[], help="a row name to run (repeat for several)")
    ap.add_argument("--test", action="store_true", help="with --suite: score its test split too")
    ap.add_argument(
        "--windows", action="store_true", help="score every trained row with long passages in windows, as the suite"
    )
    ap.add_argument("--smoke", action="store_true", help="check the script quickly: 40 pairs, 1 epoch per row")
    ap.add_argument("--reuse", default="", help="an earlier --out folder on the same split: its rows, reused")
    args = ap.parse_args()
    if args.test and not args.suite:
        raise SystemExit("--test needs --suite: without it the training claims hold no test split")
    windowed = suite_windows(args.suite) if args.suite else False  # checked before any encoding
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ws = suite_workspace(args.suite) if args.suite else workspace(args.data, args.seed, args.dev)
    ids, texts = ws.ids_and_texts()
    bm25 = BM25Index(ids, texts)
    base = load_encoder(args.model or MODEL, args.device, args.seq)
    rows = recipes(args, ws, bm25, base)
    if unknown := set(args.only) - set(rows):
        raise SystemExit(f"--only: unknown rows {sorted(unknown)}; the rows are {list(rows)}")
    earlier, earlier_runs = reused_rows(args.reuse, ws, splits(args)) if args.reuse else ({}, {})
    bases = ("base", "base, long passages in windows")
    if all(name in earlier for name in bases):  # the same claims, the same base model: scored already
        results = {name: earlier.pop(name) for name in bases}
    else:
        results = {"base": {"pairs": 0, **scores(base, ws, bm25, splits=splits(args))}}
        results["base, long passages in windows"] = {"pairs": 0, **scores(base, ws, bm25, True, splits(args))}
    print(json.dumps(results), flush=True)
    runs: dict[str, dict] = {}  # row → split → run name → run, for paired tests against the suite's model
    suite_row = f"the suite's model ({args.suite})"
    if args.suite:
        model = suite_model(args.suite)
        trained = json.loads((model / "train_result.json").read_text())["rows"]
        tuned = load_encoder(str(model), args.device, args.seq)
        runs[suite_row] = {}
        results[suite_row] = {"pairs": trained, **scores(tuned, ws, bm25, windowed, splits(args), runs[suite_row])}
        print(json.dumps(results[suite_row]), flush=True)
    reused = lambda name: name if name.endswith(" (reused)") else f"{name} (reused)"  # noqa: E731
    results |= {reused(name): row for name, row in earlier.items()}
    runs |= {reused(name): row for name, row in earlier_runs.items()}
    for name, recipe in rows.items():
        if name in args.only or not (args.only or args.reuse):
            train_seeds(args, ws, bm25, out, name, recipe(), results, runs)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "runs.json").write_text(json.dumps(runs))
    for split in splits(args):
        show(results, split, len(ws.split(split)[0]))
    if args.suite and len(runs) > 1:
        tests = paired_tests(ws, runs, suite_row, splits(args))
        (out / "significance.json").write_text(json.dumps(tests, indent=2))
        show_tests(tests, suite_row)


def paired_tests(ws, runs: dict, against: str, split_names) -> list[dict]:
    """Paired permutation tests (nDCG@10 and recall@10, dense and fused) of ``against`` vs every other row."""
    out = []
    for split in split_names:
        _, qrels = ws.split(split)
        for name, by_split in runs.items():
            if name == against:
                continue
            for system, run in by_split[split].items():
                for metric in ("ndcg@10", "recall@10"):
                    res = paired_test(qrels, runs[against][split][system], run, metric)
                    out.append({"split": split, "row": name, "system": system, "metric": metric, **res})
    return out


def show_tests(tests: list[dict], against: str) -> None:
    """Print the paired tests: the suite's model minus each row, with the two-sided p-value."""
    print(f"\n{against} minus each row (paired permutation test, two-sided p)")
    for t in tests:
        what = f"{t['split']} {t['system']} {t['metric']}"
        print(f"  {t['row']:<44}{what:<26}{t['difference']:>+8.3f}  p={t['p_value']:.3f}  ({t['queries']} claims)")


def show(results: dict, split: str, claims: int) -> None:
    """Print the results table of one split."""
    p = "" if split == "dev" else f"{split} "
    head = f"{f'{split} split, {claims} claims':<52}{'pairs':>6}{'nDCG@10':>9}{'R@10':>7}{'R@100':>7}"
    print(f"\n{head}{'RRF nDCG':>9}{'z0.2 nDCG':>10}{'z0.3 nDCG':>10}{'z0.3 R@10':>10}")
    for name, r in results.items():
        print(
            f"{name:<52}{r['pairs']:>6}{r[p + 'dense ndcg@10']:>9.3f}{r[p + 'dense recall@10']:>7.3f}"
            f"{r[p + 'dense recall@100']:>7.3f}{r[p + 'rrf ndcg@10']:>9.3f}{r[p + 'z0.2 ndcg@10']:>10.3f}"
            f"{r[p + 'z0.3 ndcg@10']:>10.3f}{r[p + 'z0.3 recall@10']:>10.3f}"
        )


if __name__ == "__main__":
    main()
