"""Cold start on real documentation: the suite from a folder of Markdown pages alone, scored on questions people wrote.

    python bench/cold_start.py run --docs "$(npm root -g)/npm/docs/content" --out bench/out/npm
    python bench/cold_start.py score --questions bench/data/npm_docs_questions.jsonl --out bench/out/npm \
        --results bench/results/cold_start_npm_cpu.json

``run`` writes a params file holding only ``data_dir`` and runs all six stages through the CLI, as a user
would (``python -m nbutils run``), timing each stage. ``score`` never shows the questions to the suite: it
maps each question's evidence snippets to the passages that contain them, scores the generic model, the
fine-tuned model, BM25 and the hybrids (the weighted one at the BM25 weight the suite chose on its own
synthetic dev split) with 95 % intervals and paired tests, apart for questions whose answer lies in a
section the suite held out for its synthetic test set, and sets the systems' scores on the suite's
synthetic test questions beside those on the human ones: the synthetic set's bias. ``loader`` scores the
document loader alone (generic model, BM25, their fusion on a fresh load of the docs), to compare checkouts.
``ceiling``, ``retrain`` and ``distill`` train MiniLM afresh on a finished run (on the human questions in
folds; on a subset of the run's pairs; with MarginMSE on a hybrid teacher's margins over the run's queries)
and score it against the generic model on the human questions.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nbutils.config import stage_fields
from nbutils.data import DOCUMENT_SUFFIXES, load_documents
from nbutils.evaluate import system_runs
from nbutils.metrics import compare_systems, confidence_table, paired_test
from nbutils.models import load_encoder
from nbutils.pairs import Pair, load_pairs, save_pairs
from nbutils.paths import DomainPaths, write_json
from nbutils.retrieval import reciprocal_rank_fusion
from nbutils.workspace import (
    Workspace,
    bm25_index,
    dense_index,
    document_of,
    load_workspace,
    section_of,
    trainable_passages,
)

DOMAIN = "npm_docs"  # the domain's folder name under <out>/outputs (--domain)
BASE_MODEL = stage_fields("train")["base_model"].default  # the generic model the suite fine-tunes by default


def cmd_run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    params = out / "params.yaml"
    params.write_text(f"data_dir: {Path(args.docs).resolve()}\n", encoding="utf-8")
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "nbutils", "run", args.domain, "--params", str(params), "--quiet"]
    r = subprocess.run([*cmd, "--set", f"outputs_dir={out / 'outputs'}"], capture_output=True, text=True)
    print(r.stdout[-3000:], r.stderr[-3000:] if r.returncode else "", sep="\n")
    seconds = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s+(\w+)\s+(\d+) s", r.stdout, re.M)}
    write_json(out / "run.json", {"returncode": r.returncode, "seconds": seconds, "total": time.perf_counter() - start})
    if r.returncode:
        sys.exit(r.returncode)


def _norm(text: str) -> str:
    return " ".join(text.replace("`", "").split()).lower()


def _grams(words: list[str], n: int = 3) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def locate(snippet: str, doc: str, corpus: dict) -> str | None:
    """The passage of document ``doc`` that holds ``snippet`` (whitespace and backticks ignored), or the one
    holding most of its word 3-grams when chunking cut it (at least half); ``None`` when none does."""
    passages = {pid: _norm(p.text) for pid, p in corpus.items() if document_of(pid) == doc}
    target = _norm(snippet)
    exact = [pid for pid, text in passages.items() if target in text]
    if exact:
        return exact[0]
    grams = _grams(target.split())
    best = max(passages, key=lambda pid: len(grams & _grams(passages[pid].split())), default=None)
    if best is not None and len(grams & _grams(passages[best].split())) >= len(grams) / 2:
        return best
    return None


def _doc_id(file: str) -> str:
    """A document id from a file name, with or without the suffix: "a/b.md" and "a/b" are "a/b"."""
    path = Path(file)
    return path.with_suffix("").as_posix() if path.suffix.lower() in DOCUMENT_SUFFIXES else file


def human_questions(path: Path, corpus: dict) -> tuple[dict, dict, list[str]]:
    """Queries and qrels of the hand-written questions, and the ids whose evidence no passage holds."""
    queries, qrels, missing = {}, {}, []
    for line in path.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        found = {locate(e["snippet"], _doc_id(e["file"]), corpus) for e in q["evidence"]} - {None}
        if found:
            queries[q["id"]], qrels[q["id"]] = q["query"], dict.fromkeys(sorted(found), 1)
        else:
            missing.append(q["id"])
    return queries, qrels, missing


def _rows(qrels: dict, runs: dict, seed: int) -> dict:
    scores = compare_systems(qrels, runs, [1, 10, 100])
    ci = confidence_table(qrels, runs, seed=seed)
    for r in ci.to_dict("records"):
        scores[r["system"]][f"{r['metric']} 95%"] = [round(r["low"], 4), round(r["high"], 4)]
    return scores


def cmd_score(args) -> None:
    out = Path(args.out)
    paths = DomainPaths(out / "outputs", args.domain)
    ws = load_workspace(paths)
    ev = json.loads(paths.metrics("evaluate").read_text())
    queries, qrels, missing = human_questions(Path(args.questions), ws.corpus)
    base = load_encoder(BASE_MODEL, "auto", 128)
    tuned = load_encoder(str(paths.model_dir), "auto", 128)
    systems = [(m.model, dense_index(m, ws, paths.embeddings_dir)) for m in (base, tuned)]
    bm25 = bm25_index(ws)
    runs = system_runs(queries, *systems, bm25, k=100, fusion_weight=ev["fusion_weight"])
    runs["generic + bm25, RRF"] = reciprocal_rank_fusion([runs["base"], runs["bm25"]], depth=100)
    units = set(ws.held_out_units)
    held = {q for q in qrels if any(section_of(p) in units for p in qrels[q])}
    tests = {name: paired_test(qrels, runs[name], runs["base"]) for name in runs if name != "base"}
    result = {
        "questions": len(queries),
        "questions_without_evidence": missing,
        "held_out_questions": len(held),
        "fusion_weight_from_synthetic_dev": ev["fusion_weight"],
        "human": _rows(qrels, runs, args.seed),
        "human_trained_sections": _rows({q: r for q, r in qrels.items() if q not in held}, runs, args.seed),
        "paired_vs_generic_ndcg@10": tests,
        "synthetic_test": {k: {m: v[m] for m in ("ndcg@10", "recall@10", "queries")} for k, v in ev["systems"].items()},
        "run": json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {},
    }
    write_json(args.results, result)
    print(f"{len(queries)} questions ({len(missing)} without evidence in the corpus), {len(held)} on held-out sections")
    print(f"{'system':<45} {'human nDCG@10':>14} {'recall@10':>10} {'synthetic nDCG@10':>18}")
    for name, row in result["human"].items():
        synth = result["synthetic_test"].get(name, {}).get("ndcg@10", float("nan"))
        print(f"{name:<45} {row['ndcg@10']:>14.3f} {row['recall@10']:>10.3f} {synth:>18.3f}")
    for name, t in tests.items():
        print(f"  {name} − generic: {t['difference']:+.3f} nDCG@10 (p = {t['p_value']:.3f})")


def cmd_loader(args) -> None:
    """The document loader alone, as this checkout has it: generic MiniLM, BM25 and their RRF fusion on a fresh
    load of ``--docs``, scored on the human questions. Run on two checkouts to measure a cleaner change."""
    corpus = load_documents(args.docs, args.chunk_words or stage_fields("decide")["chunk_words"].default).corpus
    ws = Workspace(corpus, {}, {}, {"train": [], "dev": [], "test": []})
    queries, qrels, missing = human_questions(Path(args.questions), corpus)
    base = load_encoder(BASE_MODEL, "auto", 128)
    index = dense_index(base, ws, Path(args.cache))
    runs = system_runs(queries, (base.model, index), (base.model, index), bm25_index(ws), k=100)
    fused = runs["hybrid (fine-tuned + bm25, RRF)"]  # both dense sides are the generic model here
    runs = {"generic": runs["base"], "bm25": runs["bm25"], "generic + bm25, RRF": fused}
    result = {"passages": len(corpus), "questions": len(queries), "questions_without_evidence": missing}
    result["human"] = _rows(qrels, runs, args.seed)
    write_json(args.results, result)
    print(f"{len(corpus)} passages, {len(queries)} questions ({len(missing)} without evidence in the corpus)")
    for name, row in result["human"].items():
        print(f"  {name:<25} nDCG@10 {row['ndcg@10']:.3f}  recall@10 {row['recall@10']:.3f}")


def _fine_tuned(triples: list, ws: Workspace, folder: Path, epochs: int, learning_rate: float, seed: int):
    """MiniLM fine-tuned afresh on ``triples`` at the suite's train defaults (batch size, sequence length),
    saved under ``folder`` and loaded for search as ``score`` loads models."""
    from nbutils.train import build_datasets, fine_tune

    defaults = {k: f.default for k, f in stage_fields("train").items()}
    model = load_encoder(BASE_MODEL, "auto", defaults["max_seq_length"], training=True).model
    datasets = build_datasets(triples, ws.corpus, seed=seed)
    fine_tune(model, datasets, folder / "model", device="cpu", epochs=epochs, learning_rate=learning_rate,
              batch_size=defaults["batch_size"], seed=seed)  # fmt: skip
    return load_encoder(str(folder / "model"), "auto", 128)


def cmd_ceiling(args) -> None:
    """What hand-written questions buy: the human questions in ``--folds`` folds; on each, MiniLM fine-tuned
    at the suite's defaults on the other folds' questions (their first evidence passage as positive, in-batch
    negatives; with ``--with-synthetic`` also on the run's own mined training rows) is scored against the
    generic model on the held-out fold. Every question is scored once, by a model that never saw it."""
    import random
    import tempfile

    from nbutils.pairs import Triple, load_triples

    out = Path(args.out)
    paths = DomainPaths(out / "outputs", args.domain)
    ws = load_workspace(paths)
    queries, qrels, _ = human_questions(Path(args.questions), ws.corpus)
    qids = sorted(queries)
    random.Random(args.seed).shuffle(qids)
    folds = [qids[i :: args.folds] for i in range(args.folds)]
    synthetic = load_triples(paths.triples) if args.with_synthetic else []
    base = load_encoder(BASE_MODEL, "auto", 128)
    bm25 = bm25_index(ws)
    base_index = dense_index(base, ws, paths.embeddings_dir)
    runs: dict[str, dict] = {"base": {}, "fine-tuned": {}}
    for n, test in enumerate(folds):
        train = [q for q in qids if q not in set(test)]
        human = [Triple(queries[q], next(iter(qrels[q])), "gold", "human") for q in train]
        with tempfile.TemporaryDirectory() as tmp:
            tuned = _fine_tuned(human + synthetic, ws, Path(tmp), args.epochs, args.learning_rate, args.seed)
            fold_runs = system_runs({q: queries[q] for q in test}, (base.model, base_index),
                                    (tuned.model, dense_index(tuned, ws, Path(tmp) / "emb")), bm25, k=100)  # fmt: skip
        runs["base"] |= fold_runs["base"]
        runs["fine-tuned"] |= fold_runs["fine-tuned"]
        print(f"fold {n + 1}/{args.folds}: trained on {len(human)} human + {len(synthetic)} synthetic rows")
    scores = _rows(qrels, runs, args.seed)
    test = paired_test(qrels, runs["fine-tuned"], runs["base"], "ndcg@10", seed=args.seed)
    delta, p = test["difference"], test["p_value"]
    result = {"questions": len(qids), "folds": args.folds, "epochs": args.epochs, "learning_rate": args.learning_rate,
              "synthetic_rows": len(synthetic), "human": scores, "fine-tuned vs base": test}  # fmt: skip
    write_json(args.results, result)
    print(f"generic {scores['base']['ndcg@10']:.3f}, fine-tuned {scores['fine-tuned']['ndcg@10']:.3f} "
          f"({delta * 100:+.1f} nDCG@10 points, p = {p:.3f})")  # fmt: skip


def cmd_retrain(args) -> None:
    """MiniLM fine-tuned again on a subset of a finished run's mined training rows, scored against the generic
    model on the human questions: the pairs whose question shares at most ``--max-overlap`` of its content
    words with its passage (:func:`nbutils.filters.word_overlap`), or ``--sample`` pairs drawn at random (a
    control of the same size), at the suite's defaults unless ``--epochs``/``--learning-rate`` say otherwise."""
    import random
    import tempfile

    from nbutils.filters import word_overlap
    from nbutils.pairs import load_triples

    out = Path(args.out)
    paths = DomainPaths(out / "outputs", args.domain)
    ws = load_workspace(paths)
    queries, qrels, _ = human_questions(Path(args.questions), ws.corpus)
    triples = load_triples(paths.triples)
    pairs = sorted({(t.query, t.positive) for t in triples})
    keep = {pq for pq in pairs if word_overlap(pq[0], ws.corpus[pq[1]].full_text()) <= args.max_overlap}
    if args.sample:
        keep = set(random.Random(args.seed).sample(pairs, min(args.sample, len(pairs))))
    chosen = [t for t in triples if (t.query, t.positive) in keep]
    defaults = {k: f.default for k, f in stage_fields("train").items()}
    epochs, lr = args.epochs or defaults["epochs"], args.learning_rate or defaults["learning_rate"]
    base = load_encoder(BASE_MODEL, "auto", 128)
    with tempfile.TemporaryDirectory() as tmp:
        tuned = _fine_tuned(chosen, ws, Path(tmp), epochs, lr, args.seed)
        runs = system_runs(queries, (base.model, dense_index(base, ws, paths.embeddings_dir)),
                           (tuned.model, dense_index(tuned, ws, Path(tmp) / "emb")), bm25_index(ws), k=100,
                           fusion_weight=args.fusion_weight)  # fmt: skip
    scores = _rows(qrels, runs, args.seed)
    test = paired_test(qrels, runs["fine-tuned"], runs["base"], "ndcg@10", seed=args.seed)
    result = {"pairs": len(keep), "of": len(pairs), "max_overlap": args.max_overlap, "sample": args.sample,
              "epochs": epochs, "learning_rate": lr, "human": scores, "fine-tuned vs base": test}  # fmt: skip
    write_json(args.results, result)
    gain = f"{test['difference'] * 100:+.1f} points, p = {test['p_value']:.3f}"
    print(f"{len(keep)} of {len(pairs)} pairs; fine-tuned against generic: {gain}")
    for name, row in scores.items():
        print(f"  {name:<45} nDCG@10 {row['ndcg@10']:.3f}")


def _margin_rows(pairs, ws: Workspace, base, index, bm25, weight: float, negatives: int, depth: int, seed: int,
                 mined: dict | None = None):  # fmt: skip
    """GPL-style rows: each pair's query with its positive and ``negatives`` passages drawn from the hybrid
    teacher's top ``depth`` (trainable passages only, the query's positives left out), or with ``mined``
    negatives (``{(query, positive): [negative ids]}``, the run's own), labelled with the teacher's margins.
    The teacher is z-scored BM25 and base cosine, ``weight`` on BM25, rescaled by the query's cosine spread
    so that at weight 0 the margins are the base model's own cosine margins."""
    import random

    import numpy as np

    from nbutils.mine.negatives import _z

    position = {pid: i for i, pid in enumerate(index.ids)}
    allowed = np.zeros(len(index.ids), dtype=bool)
    allowed[[position[p] for p in trainable_passages(ws)]] = True
    positives: dict[str, set[str]] = {}
    for q, p in pairs:
        positives.setdefault(q, set()).add(p)
    queries = sorted(positives)
    q_emb = base.model.encode(queries, batch_size=64, normalize_embeddings=True, show_progress_bar=True)
    rng = random.Random(seed)
    rows = {"anchor": [], "positive": [], **{f"negative_{i + 1}": [] for i in range(negatives)}, "label": []}
    for query, emb in zip(queries, q_emb, strict=True):
        cos = index.passage_embeddings @ emb
        teacher = (weight * _z(bm25.scores(query)) + (1 - weight) * _z(cos)) * cos.std()
        order = [i for i in np.argsort(-teacher) if allowed[i] and index.ids[i] not in positives[query]][:depth]
        for pid in sorted(positives[query]):
            drawn = rng.sample(order, min(negatives, len(order)))
            if mined is not None:
                drawn = [position[n] for n in mined.get((query, pid), [])][:negatives]
            if len(drawn) < negatives:
                continue
            rows["anchor"].append(query)
            rows["positive"].append(ws.corpus[pid].full_text())
            for i, j in enumerate(drawn):
                rows[f"negative_{i + 1}"].append(ws.corpus[index.ids[j]].full_text())
            rows["label"].append([float(teacher[position[pid]] - teacher[j]) for j in drawn])
    return rows


def cmd_distill(args) -> None:
    """MiniLM trained afresh on a finished run's training queries with MarginMSE on a hybrid teacher's margins
    (GPL-style: the dense model learns to score as BM25 and the generic model do together), scored against
    the generic model on the human questions."""
    import tempfile

    from datasets import Dataset
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss

    from nbutils.pairs import load_triples
    from nbutils.train import fine_tune

    out = Path(args.out)
    paths = DomainPaths(out / "outputs", args.domain)
    ws = load_workspace(paths)
    queries, qrels, _ = human_questions(Path(args.questions), ws.corpus)
    pairs = sorted({(t.query, t.positive) for t in load_triples(paths.triples)})
    base = load_encoder(BASE_MODEL, "auto", 128)
    base_index = dense_index(base, ws, paths.embeddings_dir)
    bm25 = bm25_index(ws)
    mined = None
    if args.mined:
        mined = {}
        for t in load_triples(paths.triples):
            if t.negative:
                mined.setdefault((t.query, t.positive), []).append(t.negative)
    rows = _margin_rows(pairs, ws, base, base_index, bm25, args.teacher_weight, args.negatives, args.depth, args.seed,
                        mined)  # fmt: skip
    defaults = {k: f.default for k, f in stage_fields("train").items()}
    epochs, lr = args.epochs or defaults["epochs"], args.learning_rate or defaults["learning_rate"]
    model = load_encoder(BASE_MODEL, "auto", defaults["max_seq_length"], training=True).model
    with tempfile.TemporaryDirectory() as tmp:
        fine_tune(model, {"margins": Dataset.from_dict(rows)}, Path(tmp) / "model", device="cpu", epochs=epochs,
                  learning_rate=lr, batch_size=defaults["batch_size"], seed=args.seed, loss="triplet",
                  loss_module=MarginMSELoss(model))  # fmt: skip
        tuned = load_encoder(str(Path(tmp) / "model"), "auto", 128)
        runs = system_runs(queries, (base.model, base_index), (tuned.model, dense_index(tuned, ws, Path(tmp) / "emb")),
                           bm25, k=100, fusion_weight=args.fusion_weight)  # fmt: skip
    scores = _rows(qrels, runs, args.seed)
    test = paired_test(qrels, runs["fine-tuned"], runs["base"], "ndcg@10", seed=args.seed)
    result = {"rows": len(rows["anchor"]), "queries": len({q for q, _ in pairs}), "teacher_weight": args.teacher_weight,
              "mined_negatives": args.mined,
              "negatives": args.negatives, "depth": args.depth, "epochs": epochs, "learning_rate": lr,
              "human": scores, "fine-tuned vs base": test}  # fmt: skip
    write_json(args.results, result)
    print(f"{len(rows['anchor'])} rows; fine-tuned against generic: {test['difference'] * 100:+.1f} points, "
          f"p = {test['p_value']:.3f}")  # fmt: skip
    for name, row in scores.items():
        print(f"  {name:<45} nDCG@10 {row['ndcg@10']:.3f}")


def heading_query(passage) -> str:
    """The document title and the passage's section heading (its first line when that reads as a heading)."""
    first = passage.text.split("\n", 1)[0].strip()
    heading = "" if len(first.split()) > 12 or first.startswith(("```", "|", "*", "-")) else first.replace("`", "")
    title = passage.title or ""
    return f"{title} {heading}".strip() if heading and heading.lower() not in title.lower() else title


def cmd_headings(args) -> None:
    """A copy of a finished run whose training pairs also hold one heading query per trainable section
    (no LLM): then ``python -m nbutils run npm_docs --stages mine,train,evaluate`` on the copy, and ``score``."""
    src, out = Path(args.source), Path(args.out)
    shutil.copytree(src / "outputs", out / "outputs", ignore=shutil.ignore_patterns("model"))
    shutil.copy(src / "params.yaml", out / "params.yaml")
    paths = DomainPaths(out / "outputs", args.domain)
    ws = load_workspace(paths)
    pairs = load_pairs(paths.train_pairs)
    seen = {p.query.lower() for p in pairs}
    for pid in sorted(trainable_passages(ws), key=list(ws.corpus).index):
        q = heading_query(ws.corpus[pid])
        if q and q.lower() not in seen:  # one passage per heading: no duplicate queries in a batch
            seen.add(q.lower())
            pairs.append(Pair(q, pid, "synthetic", "generator:headings"))
    save_pairs(pairs, paths.train_pairs)
    print(f"{len(pairs)} training pairs in {paths.train_pairs}")


def _trained_on_a_run(sub, name: str, func):
    """A subcommand that trains on a finished run (``--out``, ``--domain``) and scores the human questions."""
    parser = sub.add_parser(name)
    parser.add_argument("--questions", default="bench/data/npm_docs_questions.jsonl")
    parser.add_argument("--out", default="bench/out/npm")
    parser.add_argument("--domain", default=DOMAIN)
    parser.add_argument("--results", required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.set_defaults(func=func)
    return parser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--docs", required=True)
    run.add_argument("--out", default="bench/out/npm")
    run.add_argument("--domain", default=DOMAIN)
    run.set_defaults(func=cmd_run)
    score = sub.add_parser("score")
    score.add_argument("--questions", default="bench/data/npm_docs_questions.jsonl")
    score.add_argument("--out", default="bench/out/npm")
    score.add_argument("--results", default="bench/results/cold_start_npm_cpu.json")
    score.add_argument("--seed", type=int, default=42)
    score.add_argument("--domain", default=DOMAIN)
    score.set_defaults(func=cmd_score)
    loader = sub.add_parser("loader")
    loader.add_argument("--docs", required=True)
    loader.add_argument("--questions", default="bench/data/npm_docs_questions.jsonl")
    loader.add_argument("--cache", default="bench/out/loader_embeddings")
    loader.add_argument("--results", required=True)
    loader.add_argument("--seed", type=int, default=42)
    loader.add_argument("--chunk-words", type=int, default=0, help="words per passage; 0: the params default")
    loader.set_defaults(func=cmd_loader)
    headings = sub.add_parser("headings")
    headings.add_argument("--source", default="bench/out/npm")
    headings.add_argument("--out", default="bench/out/npm_headings")
    headings.add_argument("--domain", default=DOMAIN)
    headings.set_defaults(func=cmd_headings)
    ceiling = _trained_on_a_run(sub, "ceiling", cmd_ceiling)
    ceiling.add_argument("--folds", type=int, default=2)
    ceiling.add_argument("--epochs", type=int, default=1)
    ceiling.add_argument("--learning-rate", type=float, default=2e-5)
    ceiling.add_argument("--with-synthetic", action="store_true")
    retrain = _trained_on_a_run(sub, "retrain", cmd_retrain)
    retrain.add_argument("--max-overlap", type=float, default=1.0)
    retrain.add_argument("--sample", type=int, default=0, help="train on this many pairs drawn at random instead")
    retrain.add_argument("--epochs", type=int, default=0)
    retrain.add_argument("--learning-rate", type=float, default=0.0)
    retrain.add_argument("--fusion-weight", type=float, default=0.3)
    distill = _trained_on_a_run(sub, "distill", cmd_distill)
    distill.add_argument("--teacher-weight", type=float, default=0.3, help="the teacher's BM25 weight")
    distill.add_argument("--negatives", type=int, default=4)
    distill.add_argument("--depth", type=int, default=40, help="negatives come from the teacher's top DEPTH")
    distill.add_argument("--mined", action="store_true", help="the run's mined negatives instead (--negatives of them)")
    distill.add_argument("--epochs", type=int, default=0)
    distill.add_argument("--learning-rate", type=float, default=0.0)
    distill.add_argument("--fusion-weight", type=float, default=0.3)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
