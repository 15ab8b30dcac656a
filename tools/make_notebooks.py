"""Write notebooks/*.ipynb from the cell lists below (run: python tools/make_notebooks.py).

The parameters cell of each notebook is generated from the stage dataclasses in nbutils/config.py,
so the keys, defaults and help comments of notebooks and params never drift apart. Code cells other
than the parameters cell are tagged ``hide-input`` so the HTML reports show results, not code.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nbutils import config  # noqa: E402
from nbutils.paths import NOTEBOOKS  # noqa: E402

NOTEBOOK_DEFAULTS = {"outputs_dir": "../outputs"}  # notebooks run with notebooks/ as working folder


def _comments() -> dict[str, str]:
    """Help comments of the dataclass fields in nbutils/config.py (``name: type = default  # help``)."""
    src = (ROOT / "nbutils" / "config.py").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"^    (\w+): [^#\n]+#\s(.*)$", src, re.M)}


def parameters_source(stage: str) -> str:
    comments = _comments()
    defaults = {}
    for cls in (config.CommonParams, *config.STAGES.values()):
        defaults.update(dataclasses.asdict(cls()))
    lines = ["# Parameters: literals only. Papermill injects overrides after this cell."]
    for name in config.stage_fields(stage):
        value = NOTEBOOK_DEFAULTS.get(name, defaults[name])
        lines.append(f"{name} = {value!r}  # {comments.get(name, '')}".rstrip())
    return "\n".join(lines)


def header(stage: str, title: str, purpose: str) -> list:
    return [
        ("md", f"# {title}\n\n{purpose}"),
        ("md", "## Global settings"),
        ("code", IMPORTS),
        ("params", parameters_source(stage)),
        (
            "code",
            f'P = config.from_namespace("{stage}", globals())\npaths = DomainPaths.from_params(P)\nMarkdown(f"Domain **{{P.domain}}** — data: `{{P.data_dir}}`")',
        ),
    ]


IMPORTS = """%matplotlib inline
import logging

import pandas as pd
from IPython.display import Markdown, display

from nbutils import config, decide, evaluate, filters, maintain, mine, models, plots, report, synthesize, train, workspace
from nbutils.decide import testset, vocabulary
from nbutils.evaluate import explorer
from nbutils.maintain import monitoring
from nbutils.mine import curation
from nbutils.paths import DomainPaths
from nbutils.synthesize import labeling
from nbutils.train import memory

logging.basicConfig(level=logging.WARNING)
pd.set_option("display.max_colwidth", 160)"""

DECIDE = header(
    "decide",
    "1 · Decide: is fine-tuning worth it for this domain?",
    "Before spending compute, measure how well generic embeddings, BM25 and their hybrid already retrieve on "
    "held-out labelled queries, and count the labelled pairs. The recommendation at the end — **fine-tune**, "
    "**hybrid** only, or **skip** — is built from those numbers and the thresholds in the params.",
) + [
    (
        "md",
        "## 1. Corpus and labelled data\n\nThe domain's data is loaded, checked and split once here; later stages read these prepared files. Held-out test queries are chosen now and never reach synthesis, mining or train. With `split_by: document` the queries are split by their relevant documents, so a test document never trains the model either: a query whose documents fall in different splits is left out of all of them (`queries_in_no_split`), and later stages drop training pairs whose positive is in a held-out document.",
    ),
    (
        "code",
        'ws = workspace.prepare_workspace(P, paths)\nstats = decide.corpus_stats(ws)\npd.Series(stats, dtype=object).to_frame("value")',
    ),
    (
        "md",
        "Problems found in the input files (file, line, kind), the first 20; the full list is in `work/data_issues.jsonl`. Bad rows are skipped and counted, not silently dropped.",
    ),
    ("code", "decide.issue_table(ws)"),
    (
        "code",
        'plots.histogram([len(p.full_text().split()) for p in ws.corpus.values()], xlabel="words per passage", title="Passage length")',
    ),
    (
        "md",
        "## 2. The generic model\n\nThe base model, which copy of it was loaded, and how many passages are longer than it reads.",
    ),
    (
        "code",
        'base = models.load_for(P.base_model, P.device, P.max_seq_length, long_passages=P.long_passages, window_sentences=P.window_sentences)\nlengths = decide.passage_lengths(ws, base)\nMarkdown(base.describe() + "\\n\\n" + lengths["sentence"])',
    ),
    (
        "md",
        "## 3. Vocabulary\n\nIs the vocabulary special? Word rarity against general English (wordfreq) and how the base model's tokenizer splits the most domain-specific terms compared with common words.",
    ),
    (
        "code",
        'vocab = vocabulary.analyse_vocabulary([p.full_text() for p in ws.corpus.values()], base.model.tokenizer)\ndisplay(pd.Series(vocab.summary(), dtype=object).to_frame("value"))\npd.DataFrame(vocab.terms[:10])',
    ),
    ("code", "plots.term_bars(vocab.terms[:20])"),
    (
        "md",
        "## 4. Test queries\n\nThe numbers below are only as good as the test queries they are measured on. Labelled (gold) test queries come first. When there are too few of them to tell a 5-point nDCG@10 difference apart (the power analysis below, or `gold_test_min`), the suite writes a **provisional synthetic test set**: it holds out a few sections of the corpus, asks the synthesize stage's LLM for one question per held-out passage, and keeps the questions that pass the same filters (length, copied span, duplicates) and a round trip through the hybrid of BM25 and the base model. Those sections never reach training, mining or synthesis, so the set cannot leak. Every number measured on it is marked *synthetic*; gold queries, while still too few to take over, are shown beside it.",
    ),
    (
        "code",
        'dense = workspace.dense_index(base, ws, paths.embeddings_dir, P.encode_batch_size)\nbm25 = workspace.bm25_index(ws, P.bm25_backend)\ngold_runs = decide.baseline_runs(ws, dense, bm25, base.model, "test") if ws.splits["test"] else None\ntest_plan = testset.plan(ws, P, gold_runs)\nws, synthetic = testset.ensure(ws, P, paths, test_plan, dense, bm25, base.model)\ndisplay(Markdown(test_plan.describe()))\npd.Series({**test_plan.to_dict(), **(synthetic.summary() if synthetic else {})}, dtype=object).to_frame("value")',
    ),
    (
        "code",
        'display(synthetic.filters.table() if synthetic else Markdown("No synthetic test set: the gold test queries are used."))\ntestset.examples(ws)',
    ),
    (
        "md",
        "## 5. Headroom on held-out queries\n\nBase dense retrieval, BM25 and their reciprocal-rank fusion on the test split, then the same recall@10 and nDCG@10 as means with 95 % bootstrap intervals over the test queries: with few queries the rule's thresholds can fall inside an interval, and the report should be read with that in mind. The `test set` column says whether the queries are gold or synthetic.",
    ),
    (
        "code",
        'runs = decide.baseline_runs(ws, dense, bm25, base.model, "test")\nscores = evaluate.compare_systems(ws.split("test")[1], runs, [1, 5, 10, 100])\nworkspace.marked(scores, ws)',
    ),
    (
        "code",
        'plots.bar_metrics(scores, ("recall@10", "ndcg@10", "recall@100"), title="Generic retrieval on held-out queries" + workspace.caption(ws))',
    ),
    (
        "code",
        'ci = evaluate.confidence_table(ws.split("test")[1], runs, seed=P.seed)\ndisplay(ci.round(3))\nplots.confidence_chart(ci, "recall@10", title="Generic recall@10 with 95 % intervals" + workspace.caption(ws), marks={"fine-tune below": P.recall_fine_tune_below, "skip at": P.recall_skip_above})',
    ),
    (
        "md",
        "Synthetic and gold test queries side by side, when both exist. Questions written from a passage share its words, which favours BM25: the gap between the two columns shows how far the synthetic numbers can be trusted on this domain.",
    ),
    (
        "code",
        'side = testset.side_by_side(ws, {source: decide.baseline_runs(ws, dense, bm25, base.model, "test", source=source) for source in [ws.test_source, *testset.other_sources(ws)]})\nside.round(3) if len(side) else Markdown("Only one kind of test query exists here.")',
    ),
    (
        "md",
        "How small a difference can the dev and test splits show? Comparing two recipes (or a recipe with plain training) on a split is a paired test over its queries. The per-query nDCG@10 differences between two related systems measured here, the base dense model and its hybrid with BM25, stand in for those between two recipes; from their spread follows the smallest mean difference a paired test detects 80 % of the time at the 5 % level. Recipes closer than that look alike on the split: a larger `dev_fraction` (or more labelled queries) tells them apart.",
    ),
    (
        "code",
        'resolution = decide.split_resolution(ws, dense, bm25, base.model, known={"test": runs})\nresolution.round(3)',
    ),
    ("md", "## 6. Recommendation"),
    (
        "code",
        'rec = decide.recommend(scores, stats["train_pairs"], P.min_pairs, P.recall_fine_tune_below, P.recall_skip_above, vocab, decide.labelled_queries(ws, P.clicks_file, P.min_clicks), test_plan, passages=stats["passages"])\nMarkdown(rec.to_markdown())',
    ),
    (
        "md",
        "The rule as a flowchart. Its questions are asked top to bottom until one leads to an outcome; the path taken for this domain is highlighted with the measured numbers, so a reader can see which threshold decided and how far the numbers were from the others.",
    ),
    ("code", "decide.flowchart(rec)"),
    (
        "md",
        "## 7. Cost of fine-tuning\n\nWhat fine-tuning would take here: the labelled pairs still missing to reach `min_pairs`, how many synthetic pairs the synthesize stage could add (passages × questions per passage × generators × the share kept by its filters, observed in this domain's last synthesize run or assumed, as the table says), and the training time, extrapolated from a few real training steps of the base model timed on this machine.",
    ),
    ("code", 'cost = decide.estimate_cost(ws, base, P, paths)\npd.Series(cost, dtype=object).to_frame("value")'),
    (
        "md",
        "Training pairs by source against `min_pairs`: gold pairs of the train split, pairs from the click log (as the synthesize stage would build them) and the synthetic pairs expected above.",
    ),
    (
        "code",
        "sources = decide.pairs_by_source(ws, P.clicks_file, P.min_clicks, cost)\ndisplay(sources)\nplots.pairs_by_source(sources, P.min_pairs)",
    ),
    ("md", "## Record\n\nKey results for later stages, tests and the index page."),
    (
        "code",
        'report.record_metrics(paths, "decide", {"stats": stats, "passage_lengths": lengths, "scores": scores, "confidence": ci.to_dict("records"), "resolution": resolution.reset_index().to_dict("records"), "recommendation": rec.to_dict(), "test_source": ws.test_source, "test_plan": test_plan.to_dict(), "synthetic_test": synthetic.summary() if synthetic else None, "side_by_side": side.to_dict() if len(side) else {}, "cost": cost, "pairs_by_source": sources["pairs"].to_dict(), "vocabulary": vocab.summary(), "top_terms": vocab.terms[:10], "base_model": base.describe()})',
    ),
]

SYNTHESIZE = header(
    "synthesize",
    "2 · Synthesize: training pairs with provenance",
    "Training pairs (query, relevant passage) from gold labels of the train split, click logs when given, and "
    "generators over the corpus: an LLM asked which question a passage answers, and cheap heuristics kept for "
    "comparison. Generated questions must pass quality filters; every pair records its source, and "
    "`train_sources` picks the sources that train the model.",
) + [
    (
        "md",
        "## 1. Generate and collect\n\nThe LLM answers are cached in the work folder: a re-run or a resumed run does not pay twice. Failures are kept per passage.",
    ),
    (
        "code",
        "ws = workspace.load_workspace(paths)\nchat = synthesize.chat_model(P, paths.llm_cache)\nretriever = synthesize.roundtrip_retriever(P, ws, paths.embeddings_dir)\npairs = synthesize.build_pairs(ws, P, chat, retriever)\nsynthesize.summary(pairs.kept, P.train_sources)",
    ),
    ("md", "Problems in the click log, if one is given (file, line, kind):"),
    ("code", 'pd.DataFrame([vars(i) for i in pairs.click_issues], columns=["file", "line", "kind", "message"])'),
    (
        "md",
        "LLM usage and failures (requests, cache hits, tokens; the API key is never shown, and keys in the endpoint's error texts are redacted). When every LLM request failed, or more than `llm_max_failures` of them, the stage stops here with `GenerationFailed`:",
    ),
    (
        "code",
        'display(pd.Series({**pairs.usage, "model": chat.name, "failed passages": len(pairs.failures)}, dtype=object).to_frame("value"))\ndisplay(pd.DataFrame(pairs.failures[:5], columns=["passage", "failure"]))\nsynthesize.check_failures(pairs.generation, P)',
    ),
    (
        "md",
        "## 2. Quality filters\n\nIn order: length limits, questions that copy a long span of their passage, exact and near duplicates, round trip (a retriever must find the source passage for the question), and finally the leakage guard, which drops any pair whose question is a held-out (test or dev) question or nearly one.",
    ),
    ("code", "pairs.report.table()"),
    ("md", "What each filter dropped, a few examples:"),
    ("code", "synthesize.dropped_examples(pairs.report, ws, per_filter=3, seed=P.seed)"),
    ("md", "## 3. Examples by source"),
    ("code", "synthesize.examples(pairs.kept, ws, per_origin=4, seed=P.seed)"),
    (
        "code",
        'plots.histogram({o: [len(p.query.split()) for p in ps] for o, ps in filters.by_origin(pairs.kept).items()}, xlabel="words per query", title="Query length by origin")',
    ),
    (
        "md",
        "## 4. Label by hand\n\nOpen this notebook in Jupyter to use the panel: accept (after editing) or reject generated questions, or search the corpus for a question of your own and tick the relevant passages. Each accepted label is appended at once to the domain's gold file; the next run's decide stage picks it up.",
    ),
    (
        "hidden-output",
        'panel = labeling.LabelingPanel(ws.corpus, labeling.GoldFile(labeling.gold_target(P, paths)), [p for p in pairs.kept if p.source == "synthetic"][:100], workspace.bm25_index(ws, P.bm25_backend))\npanel.widget',
    ),
    (
        "md",
        "## 5. Save\n\nThe training pairs of the train split, and with `refit_with_dev` also those of the train and dev splits together (guarded against the test split only): after the recipe is scored on dev, the shipped model is trained again on them.",
    ),
    (
        "code",
        'train_pairs = synthesize.save_training_pairs(pairs, P, paths)\nrefit_pairs = synthesize.load_pairs(paths.refit_pairs)\nreport.record_metrics(paths, "synthesize", {"pairs": synthesize.summary(pairs.kept, P.train_sources).to_dict("records"), "training_pairs": {s: sum(p.source == s for p in train_pairs) for s in P.train_sources}, "refit_pairs": {s: sum(p.source == s for p in refit_pairs) for s in P.train_sources} if P.refit_with_dev else {}, "filters": pairs.report.table().to_dict("records"), "llm_usage": pairs.usage, "llm_failures": len(pairs.failures), "click_issues": len(pairs.click_issues)})',
    ),
]

MINE = header(
    "mine",
    "3 · Mine: hard negatives",
    "For each training pair, passages that look relevant to a teacher but are not labelled relevant make the "
    "model learn finer distinctions. The teacher (`mine_teacher`) is BM25, the base dense model, or their hybrid; "
    "candidates come from a rank window, every known positive of the query (from any source, and copies of it) is "
    "excluded, and a candidate must score `mine_margin` below the positive: close calls are likely unlabelled "
    "positives. With `mine_rescorer` set to a cross-encoder, the teacher only proposes candidates and the "
    "cross-encoder's scores decide which are kept, hardest first.",
) + [
    ("md", "## 1. Mine"),
    (
        "code",
        'ws = workspace.load_workspace(paths)\nall_pairs = synthesize.load_pairs(paths.pairs)\ntrain_pairs = synthesize.load_pairs(paths.train_pairs)\nflags = curation.FlagFile(paths.negative_flags)\nknown = mine.known_positives(all_pairs, ws.corpus, flags.as_positives())\ntriples = mine.mine(P, ws, train_pairs, known, paths.embeddings_dir)\nrefit_rows = mine.mine_refit(P, ws, synthesize.load_pairs(paths.refit_pairs), triples, known, paths.embeddings_dir)\ndisplay(Markdown(mine.setting(P)))\npd.Series(mine.summary(triples) | {"refit rows (train + dev, refit_with_dev)": len(refit_rows)}).to_frame("count")',
    ),
    (
        "md",
        "## 2. Estimated false-negative rate\n\nFor gold train queries with several relevant passages, negatives are mined knowing only one of them: the share of mined negatives that are among the others estimates how often this teacher and window pick an unlabelled positive. With `negatives_per_query: 0` nothing is mined, so there is nothing to estimate.",
    ),
    (
        "code",
        'fn, fn_examples = mine.false_negative_estimate(P, ws, paths.embeddings_dir)\ndisplay(pd.Series(fn, dtype=object).to_frame("value"))\npd.DataFrame(fn_examples)',
    ),
    ("md", "## 3. Examples"),
    ("code", "mine.examples(triples, ws.corpus, n=8, seed=P.seed)"),
    (
        "code",
        'plots.histogram([t.neg_rank for t in triples if t.neg_rank], xlabel="teacher rank of the chosen negative", title="Where negatives come from", bins=P.mine_range_max)',
    ),
    (
        "md",
        "## 4. Curate by hand\n\nOpen this notebook in Jupyter to page through queries with their positive and negatives and flag a negative that is in fact relevant. Flags are saved at once to the work folder, removed from training by the train stage, and treated as known positives the next time negatives are mined.",
    ),
    ("hidden-output", "panel = curation.CurationPanel(triples, ws.corpus, flags)\npanel.widget"),
    ("md", "## 5. Save"),
    (
        "code",
        'mine.save_triples(triples, paths.triples)\nmining.save_triples(refit_rows, paths.refit_triples)\nreport.record_metrics(paths, "mine", {**mine.summary(triples), "refit_rows": len(refit_rows), "teacher": P.mine_teacher, "false_negative_estimate": fn})',
    ),
]

TRAIN = header(
    "train",
    "4 · Train: fine-tune the embedding model",
    "1. Load the base model · 2. load the mined training data in the columns the loss needs · 3. train "
    "(MultipleNegativesRankingLoss by default: in-batch and hard negatives, no duplicate texts in a batch), "
    "scoring the dev split each epoch and keeping the best epoch (or the last, `keep_epoch: last`) · 4. save a standard sentence-transformers "
    "folder with a model card. An interrupted run resumes from its last epoch checkpoint when re-run; a finished "
    "run with the same data and settings (for example one trained on several GPUs with "
    "`torchrun --nproc_per_node N -m nbutils train DOMAIN`) is reported, not trained again.",
) + [
    ("md", "## 1. Base model and training data"),
    (
        "code",
        'ws = workspace.load_workspace(paths)\ntriples, datasets = train.load_training_data(P, ws, paths)\nbase = models.load_for(P.base_model, P.device, P.max_seq_length, training=True)\nused = train.negatives_used(triples, datasets)\ndisplay(Markdown(f"Mined negatives in the training rows: **{used[\'trained\']:,} of {used[\'mined\']:,}**"))\npd.DataFrame({name: {"rows": len(d), "columns": ", ".join(d.column_names)} for name, d in datasets.items()}).T',
    ),
    (
        "md",
        "Will a training step fit in memory? The estimate counts the activations of every text that gets gradients at once (the whole batch, or one mini-batch for `cached_mnrl`) at the padded length of its column, plus the model and optimiser states; on a CPU it came within about 15 % of measured peaks. When it does not fit, `memory_guard` decides before training starts: `adapt` (default) runs MultipleNegativesRankingLoss as its cached variant with a mini-batch that fits (the same loss and batch, computed in pieces), `stop` stops with the settings that would fit, `warn` trains anyway.",
    ),
    (
        "code",
        "P, mem = memory.guarded(P, base.model, datasets, base.device)\nMarkdown(mem.describe())",
    ),
    ("md", "## 2. Train"),
    (
        "code",
        'result = train.fit(P, ws, datasets, base, paths, triples)\npd.Series({"loss": P.loss, "rows": result.rows, "epochs": result.epochs, "seconds": round(result.seconds, 1), "rows/s": round(result.rows_per_second, 2), "device": result.device, "precision": result.precision, "processes": result.processes, "dev passages scored per epoch": f"{result.dev_passages:,} of {len(ws.corpus):,}", "resumed from a checkpoint": result.resumed, "finished run reused": result.reused, "saved to": result.model_dir}).to_frame("value")',
    ),
    ("code", "plots.loss_curve(*result.loss_curve())"),
    (
        "md",
        "Dev nDCG@10 after each epoch (the best epoch is the one saved, or the last with `keep_epoch: last`). On a corpus larger than `dev_corpus_max` the "
        "dev evaluation scores a pool (every dev positive, BM25's candidates for the dev queries, a sample): its "
        "numbers run above full-corpus ones and a small pool ranks epochs less reliably; the evaluate stage scores "
        "the whole corpus.",
    ),
    (
        "code",
        'display(Markdown(result.describe_dev()))\nplots.curve(*result.dev_curve(), xlabel="epoch", ylabel="dev nDCG@10", title="Dev evaluation")',
    ),
    (
        "md",
        "## 3. Refit on train + dev\n\nWith `refit_with_dev`, the recipe scored above is trained once more from the base model on the train and dev pairs together, for the epochs of the kept epoch: more labelled queries for the model that ships, while the choices were still made on a dev split it had not seen.",
    ),
    (
        "code",
        "refit_result = train.refit(P, ws, paths, result)\nMarkdown(train.describe_refit(refit_result, result))",
    ),
    ("md", "## 4. Record"),
    (
        "code",
        'report.record_metrics(paths, "train", {"base_model": base.describe(), "base_model_fingerprint": base.fingerprint, "loss": P.loss, "rows": result.rows, "seconds": result.seconds, "rows_per_second": result.rows_per_second, "device": result.device, "precision": result.precision, "resumed": result.resumed, "reused": result.reused, "processes": result.processes, "dev_passages": result.dev_passages, "negatives": used, "final_loss": (result.loss_curve()[1] or [None])[-1], "dev": result.kept_dev(), "kept_epoch": result.kept, "memory": mem.to_dict(), "training_data_hash": train.data_hash(triples), "refit": train.refit_summary(P, paths, refit_result), "params": {k: P.values[k] for k in config.stage_fields("train")}})',
    ),
]

EVALUATE = header(
    "evaluate",
    "5 · Evaluate: base vs fine-tuned vs BM25 vs hybrid",
    "All systems are scored on the held-out test queries, which no earlier stage trained on. The fine-tuned model "
    "is then checked on queries from a source it was not trained on, and on general English for forgetting.",
) + [
    ("md", "## 1. Systems"),
    (
        "code",
        'ws = workspace.load_workspace(paths)\nqueries, qrels = ws.split("test")\nbase = models.load_for(P.base_model, P.device, P.max_seq_length, long_passages=P.long_passages, window_sentences=P.window_sentences)\ntuned = models.load_for(str(paths.model_dir), P.device, P.max_seq_length, long_passages=P.long_passages, window_sentences=P.window_sentences)\nbase_system = (base.model, workspace.dense_index(base, ws, paths.embeddings_dir, P.encode_batch_size))\ntuned_system = (tuned.model, workspace.dense_index(tuned, ws, paths.embeddings_dir, P.encode_batch_size))\nbm25 = workspace.bm25_index(ws, P.bm25_backend)\nMarkdown(evaluate.test_set_note(ws))',
    ),
    (
        "md",
        "The BM25 weight of the weighted hybrid is chosen on the **dev** split only (by `fusion_metric`), then applied to the test queries (with `refit_with_dev`, by the model trained on the train split only: the shipped model trained on dev):",
    ),
    (
        "code",
        'dev_system = evaluate.dev_scored_system(P, paths, ws, tuned_system)\nweight, weight_table = evaluate.tune_fusion_weight(*ws.split("dev"), dev_system, bm25, metric=P.fusion_metric)\nweight_table.round(4)',
    ),
    (
        "code",
        "runs = evaluate.system_runs(queries, base_system, tuned_system, bm25, k=max(*P.k_values, 100), rrf_k=P.rrf_k, fusion_weight=weight)",
    ),
    (
        "md",
        "## Summary\n\nWhat fine-tuning, then adding BM25, bring over the generic model on the test queries: recall@10 and nDCG@10 with 95 % bootstrap intervals, and the change against the generic model. The hybrid is the weighted fusion whose BM25 weight was chosen on dev (reciprocal rank fusion when there are no dev queries). When the test split is synthetic and some gold test queries exist, both are shown (`test set`): read the gold rows as the truer ones, the synthetic rows as the larger sample.",
    ),
    (
        "code",
        "summary = evaluate.summaries_by_source(ws, base_system, tuned_system, bm25, weight, P)\nsummary.round(3)",
    ),
    ("md", "## 2. Results\n\nEvery system on the test queries: recall@K, MRR@10, nDCG@10 and MAP@100."),
    ("code", "scores = evaluate.compare_systems(qrels, runs, P.k_values)\nworkspace.marked(scores, ws)"),
    ("code", 'plots.recall_curves(scores, P.k_values, title="Recall at K" + workspace.caption(ws))'),
    (
        "md",
        "## 3. Uncertainty\n\nMeans with 95 % bootstrap intervals over the test queries, and paired permutation tests: fine-tuned vs base, and hybrid vs the best single system. With few test queries, intervals are wide: read differences against them.",
    ),
    (
        "code",
        "ci = evaluate.confidence_table(qrels, runs, seed=P.seed)\ndisplay(ci.round(3))\nevaluation.significance_table(qrels, runs, seed=P.seed).round(4)",
    ),
    ("code", 'plots.confidence_chart(ci, "ndcg@10", title="nDCG@10 with 95 % intervals" + workspace.caption(ws))'),
    (
        "md",
        "### Refit on train + dev\n\nWith `refit_with_dev`, the shipped model was trained on the train and dev splits. Here it meets the same recipe trained on the train split only, on the test queries, alone and fused with BM25 at the dev-chosen weight, with a paired permutation test of nDCG@10.",
    ),
    (
        "code",
        'refit_table = evaluate.refit_comparison(queries, qrels, dev_system, tuned_system, bm25, weight, seed=P.seed) if P.refit_with_dev else None\nrefit_table.round(4) if refit_table is not None else Markdown("`refit_with_dev` is off: the fine-tuned model was trained on the train split only.")',
    ),
    (
        "md",
        "## 4. Per query: fine-tuned vs base\n\nnDCG@10 change per test query (positive: the fine-tuned model ranks the relevant passage higher).",
    ),
    (
        "code",
        'deltas = evaluate.per_query_deltas(qrels, runs["base"], runs["fine-tuned"])\nplots.histogram(list(deltas.values()), xlabel="nDCG@10 fine-tuned − base", title="Per-query change")',
    ),
    ("md", "Wins, losses and ties, and the biggest changes with the relevant passage and each model's top hit:"),
    (
        "code",
        'display(pd.Series({"wins": sum(d > 0 for d in deltas.values()), "losses": sum(d < 0 for d in deltas.values()), "ties": sum(d == 0 for d in deltas.values())}).to_frame("queries"))\nevaluation.biggest_changes(deltas, queries, qrels, runs, ws.corpus, n=4)',
    ),
    (
        "md",
        "## 5. Beyond the test split\n\nFine-tuning can help on the queries it was shaped for and hurt elsewhere. Queries from a source that did not train the model show whether the gain carries over: the gold test queries when no gold pair trained it, and click-log queries (the clicked passages count as relevant) when a click log is given and clicks did not train it. A small general-English set shipped with the package (question → passage pairs, each model retrieving among those passages only) shows whether the model forgot general language; its z-margin (how far the right passage's score stands above the best wrong one, in units of the query's score spread) shrinks as general language erodes, before any rank changes. Which sources trained the model is read from its training pairs (`train_sources`).",
    ),
    (
        "code",
        'sets, notes = evaluate.robustness_sets(ws, paths.train_pairs, P.clicks_file)\nMarkdown(" ".join(notes) or "Every source of labelled queries is out of distribution and evaluated below.")',
    ),
    (
        "code",
        "robustness = evaluate.robustness_table(sets, base_system, tuned_system, P.encode_batch_size)\nrobustness.round(3)",
    ),
    ("code", 'plots.robustness_chart(robustness, "nDCG@10")'),
    (
        "md",
        "## 6. Explore queries\n\nOpen this notebook in Jupyter to type a query and see the top passages of the base model, the fine-tuned model and the hybrid side by side.",
    ),
    (
        "hidden-output",
        "panel = explorer.QueryExplorer(base_system, tuned_system, bm25, ws.corpus, fusion_weight=weight)\npanel.widget",
    ),
    ("md", "## Record"),
    (
        "code",
        'report.record_metrics(paths, "evaluate", {"test_source": ws.test_source, "summary": summary.to_dict("records"), "systems": scores, "fusion_weight": weight, "fusion_metric": P.fusion_metric, "confidence": ci.to_dict("records"), "wins": sum(d > 0 for d in deltas.values()), "losses": sum(d < 0 for d in deltas.values()), "ties": sum(d == 0 for d in deltas.values()), "robustness": robustness.to_dict("records"), "robustness_notes": notes, "refit": refit_table.to_dict("records") if refit_table is not None else []})',
    ),
]

MAINTAIN = header(
    "maintain",
    "6 · Maintain: versioned models, indexes and monitoring",
    "The trained model becomes a new version of this domain's model, with what it was trained on and its test "
    "metrics. The corpus embedding index is built with that version and tagged with it, so a search can never mix versions. "
    "The current version is then watched: every evaluation joins the domain's history, drift of the corpus and of the "
    "logged queries is measured against what the version was trained on, and the report ends with a recommendation — "
    "**keep**, **re-train** or **roll back** — built from those numbers.",
) + [
    (
        "md",
        "## 1. Register the model with its index\n\nThe model is copied in as the next version and the corpus is embedded with it; only when both are complete is the version recorded (and made current with `promote`), so a search never meets a version without its index, and a crash on the way leaves the registry as it was. Embeddings this very model already computed in the evaluate stage are reused. The version also records the system it serves: the weighted fusion with BM25 at the weight the evaluate stage chose on dev, or the model alone when BM25 added nothing there.",
    ),
    (
        "code",
        'registry = maintain.Registry(paths.registry)\nmanifest, built = maintain.publish_run(registry, paths, P)\ndisplay(Markdown(built.describe()))\npd.Series({k: v for k, v in manifest.items() if k != "params"}).to_frame("value")',
    ),
    (
        "md",
        "## 2. What searches get\n\n`python -m nbutils search DOMAIN` answers with the system below unless `--mode` asks for another.",
    ),
    ("code", 'ws = workspace.load_workspace(paths)\npd.Series(manifest["serving"]).to_frame("served system")'),
    ("md", "## 3. Version history"),
    ("code", "maintain.history_table(registry)"),
    ("code", "plots.version_history(registry.versions(), current=registry.current)"),
    (
        "md",
        "## 4. Evaluation history\n\nThe new version's test result from the evaluate stage joins the history. Then the **current** version's index is brought up to date with the corpus and the version is evaluated again through it, on the test split and on the click-log queries logged since it was registered that it was not trained on, if there are any. Over time these records show whether a version holds up.",
    ),
    (
        "code",
        'current = maintain.load_version(registry, registry.current, P.device)\nrefreshed = maintain.reembed(registry, registry.current, current, ws.corpus, P.encode_batch_size, cache_dir=paths.embeddings_dir)\nstage_record = monitoring.record_stage_evaluation(registry, paths, manifest["version"])\nmonitor_records = monitoring.evaluate_current(registry, current, ws, P)\ndisplay(Markdown(refreshed.describe()))\nmonitoring.evaluations_table(monitoring.read_evaluations(registry))',
    ),
    ("code", "plots.evaluation_history(monitoring.read_evaluations(registry))"),
    (
        "md",
        "## 5. Drift\n\nHow far the corpus moved from the one the current version was trained on: the share of word occurrences never seen in training, the cosine distance between the mean passage embeddings, and how many passages have no training passage nearby. With a click log, the same vocabulary measure for its queries against the training queries, counting only queries clicked since the version was registered (clicks without a timestamp always count) and leaving out the queries it was trained on.",
    ),
    (
        "code",
        "logged = monitoring.monitored_queries(registry, P, ws)  # clicked since registration, training queries left out\ndrift = monitoring.measure_drift(registry, registry.current, ws.corpus, P.drift_similarity, logged)\ndrift.table()",
    ),
    (
        "md",
        "## 6. What drift looks like: a simulation\n\nA copy of the corpus gets passages on an unrelated topic (beekeeping). The copy's index is re-embedded incrementally — only the new passages are encoded, with a time estimate from the measured throughput — and drift is measured on it. The real corpus and index are not touched.",
    ),
    (
        "code",
        'sim = monitoring.simulate_drift(registry, current, ws, P, paths.work / "simulation")\ndisplay(Markdown(sim.describe()))\nsim.table()',
    ),
    (
        "md",
        "## 7. Triggers and recommendation\n\nEach trigger with the numbers behind it: corpus shift, query shift, a newer base model configured than the one the version was trained from, and a recall regression beyond `regression_drop` and outside the 95 % interval against the version's own first evaluate.",
    ),
    ("code", "triggers = monitoring.check_triggers(registry, drift, P)\nmonitoring.trigger_table(triggers)"),
    (
        "code",
        "rec = monitoring.recommend(triggers, registry.current, registry.previous())\nMarkdown(rec.to_markdown())",
    ),
    ("md", "## Record"),
    (
        "code",
        'report.record_metrics(paths, "maintain", {"current": registry.current, "versions": len(registry.versions()), "registered": manifest["version"], "reembedding": built.to_dict(), "evaluations": monitor_records, "drift": drift.to_dict(), "simulation": sim.to_dict(), "triggers": [t.to_dict() for t in triggers], "recommendation": rec.to_dict()})',
    ),
]

LABEL = [
    (
        "md",
        "# Label questions for this domain\n\nReal questions with the passages that answer them are what every number of the suite is best measured on. Type a question a user of these documents would ask, press **Search**, tick every passage that answers it and press **Save marked passages**; or review the questions the synthesize stage wrote (edit one before accepting it if it is close). Each label is appended at once to the domain's gold file (`gold_file`, else `work/gold_labels.jsonl`). The next `python -m nbutils run DOMAIN` reads them: gold test queries appear beside the synthetic ones, and replace them once there are enough (see the decide report).",
    ),
    (
        "code",
        "from IPython.display import Markdown, display\n\nfrom nbutils import config\nfrom nbutils.paths import DomainPaths\nfrom nbutils.synthesize import labeling",
    ),
    ("params", parameters_source("synthesize")),
    (
        "code",
        'P = config.from_namespace("synthesize", globals())\npaths = DomainPaths.from_params(P)\ndisplay(Markdown(labeling.progress(P, paths)))\npanel = labeling.open_panel(P, paths)\npanel.widget',
    ),
]

ALL = {
    "decide": DECIDE,
    "synthesize": SYNTHESIZE,
    "mine": MINE,
    "train": TRAIN,
    "evaluate": EVALUATE,
    "maintain": MAINTAIN,
}


def build(cells: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for kind, src in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(src))
        elif kind == "params":
            nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": ["parameters"]}))
        elif kind == "hidden-output":  # interactive widgets: no static rendering in the HTML report
            nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": ["hide-input", "hide-output"]}))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": ["hide-input"]}))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


def main() -> None:
    for stage, cells in ALL.items():
        path = ROOT / "notebooks" / f"{NOTEBOOKS[stage]}.ipynb"
        nbformat.write(build(cells), str(path))
        print(path)
    path = ROOT / "notebooks" / "label.ipynb"  # opened by `python -m nbutils label DOMAIN`, not part of the run
    nbformat.write(build(LABEL), str(path))
    print(path)


if __name__ == "__main__":
    main()
