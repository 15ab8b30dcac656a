"""The evaluate stage's comparisons: base vs fine-tuned vs BM25 vs hybrid on the held-out test queries.

Beyond the test split: queries from a source that did not train the model (out of distribution) and
a shipped general-English set that catches forgetting, scored for base and fine-tuned side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Params
from ..data import Passage, load_clicks
from ..llm import BUNDLED_CHAT_MODEL
from ..metrics import (
    confidence_table,
    evaluate_run,
    paired_test,
)
from ..models import encode, load_encoder
from ..pairs import load_pairs, normalize_query
from ..paths import DomainPaths, json_lines
from ..retrieval import BM25Index, DenseIndex, Run, reciprocal_rank_fusion, weighted_fusion
from ..tables import shorten
from ..workspace import dense_index, other_sources, test_queries

__all__ = [
    "RRF_HYBRID",
    "WEIGHTED_HYBRID",
    "WEIGHTS",
    "IN_DOMAIN",
    "OUT_OF_DISTRIBUTION",
    "GENERAL",
    "GENERAL_SET",
    "GENERAL_SET",
    "EvalSet",
    "best_fusion_weight",
    "fusion_note",
    "biggest_changes",
    "click_queries",
    "dense_scores",
    "dev_scored_system",
    "general_set",
    "out_of_distribution_sources",
    "refit_comparison",
    "robustness_sets",
    "robustness_table",
    "significance_table",
    "summaries_by_source",
    "summary_table",
    "test_set_note",
    "system_runs",
    "tuned_hybrid",
    "tune_fusion_weight",
    "z_margin",
]

RRF_HYBRID = "hybrid (fine-tuned + bm25, RRF)"
WEIGHTED_HYBRID = "hybrid (weighted, bm25 weight {weight:g})"  # the report says whether dev or the prior chose it


def system_runs(
    queries: dict[str, str],
    base: tuple[object, DenseIndex],
    tuned: tuple[object, DenseIndex],
    bm25: BM25Index,
    k: int = 100,
    rrf_k: int = 60,
    batch_size: int = 64,
    fusion_weight: float | None = None,
) -> dict[str, Run]:
    """Runs of every system on ``queries``.

    Args:
        base: (model, index) of the base model.
        tuned: (model, index) of the fine-tuned model.
        fusion_weight: BM25 weight of a weighted z-score fusion (tuned on dev, see
            :func:`tune_fusion_weight`); ``None`` leaves that system out.
    """
    base_run = base[1].search(base[0], queries, k=k, batch_size=batch_size)
    tuned_run = tuned[1].search(tuned[0], queries, k=k, batch_size=batch_size)
    bm25_run = bm25.search(queries, k=k)
    runs = {
        "base": base_run,
        "fine-tuned": tuned_run,
        "bm25": bm25_run,
        RRF_HYBRID: reciprocal_rank_fusion([tuned_run, bm25_run], k=rrf_k, depth=k),
    }
    if fusion_weight is not None:
        runs[WEIGHTED_HYBRID.format(weight=fusion_weight)] = weighted_fusion(
            [tuned_run, bm25_run], [1 - fusion_weight, fusion_weight], depth=k
        )
    return runs


WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7)


def tune_fusion_weight(
    queries: dict[str, str],
    qrels: dict,
    tuned: tuple[object, DenseIndex],
    bm25: BM25Index,
    weights=WEIGHTS,
    k: int = 100,
    metric: str = "ndcg@10",
    prior: float | None = None,
    evidence: float = 0.05,
):
    """Pick the BM25 weight of weighted z-score fusion on the dev split: the one that maximises ``metric``
    (``fusion_metric``), or ``prior`` when the dev split cannot tell them apart; see :func:`best_fusion_weight`.

    Returns:
        ``(weight or None when there are no dev queries, table of the dev metrics per weight)``.
    """
    import pandas as pd

    if not queries:
        return None, pd.DataFrame(columns=["bm25 weight", *_weight_columns(metric)])
    dense_run, bm25_run = tuned[1].search(tuned[0], queries, k=k), bm25.search(queries, k=k)
    return best_fusion_weight(qrels, dense_run, bm25_run, weights, metric, prior, evidence)


def _weight_columns(metric: str) -> list[str]:
    """Columns of the fusion-weight table: the chosen metric first, nDCG@10 as the tie-break."""
    return [f"dev {metric}"] + (["dev ndcg@10"] if metric != "ndcg@10" else [])


def dev_scored_system(
    params: Params, paths: DomainPaths, ws, tuned: tuple[object, DenseIndex]
) -> tuple[object, DenseIndex]:
    """The (model, index) the dev split may score: with ``refit_with_dev`` the model trained on the train
    split only (the shipped one trained on dev too), else ``tuned`` itself.

    Raises:
        FileNotFoundError: when ``refit_with_dev`` is set but the train stage left no dev-scored model.
    """
    if not params.refit_with_dev:
        return tuned

    if not paths.dev_model_dir.exists():
        raise FileNotFoundError(
            f"refit_with_dev: no dev-scored model at {paths.dev_model_dir}; run the train stage with refit_with_dev"
        )
    loaded = load_encoder(
        str(paths.dev_model_dir),
        params.device,
        params.max_seq_length,
        long_passages=params.long_passages,
        window_sentences=params.window_sentences,
    )
    return loaded.model, dense_index(loaded, ws, paths.embeddings_dir, params.encode_batch_size)


def refit_comparison(
    queries: dict[str, str],
    qrels: dict,
    dev_scored: tuple[object, DenseIndex],
    shipped: tuple[object, DenseIndex],
    bm25: BM25Index,
    fusion_weight: float | None,
    k: int = 100,
    batch_size: int = 64,
    seed: int = 42,
):
    """What refitting on train + dev brought, on the test ``queries``: the model trained on the train split
    only against the shipped refit, each alone and fused with BM25 at the dev-chosen weight (skipped when
    ``fusion_weight`` is ``None``), with a paired permutation test of nDCG@10 against the train-only row.

    Returns:
        a DataFrame: system, nDCG@10, recall@10, difference and p-value of nDCG@10 against its train-only row.
    """
    import pandas as pd

    bm25_run = bm25.search(queries, k=k) if fusion_weight is not None else None
    rows = []
    for kind in ("dense", "hybrid"):
        if kind == "hybrid" and bm25_run is None:
            continue
        runs = {}
        for name, (model, index) in (("train split only", dev_scored), ("train + dev (shipped)", shipped)):
            run = index.search(model, queries, k=k, batch_size=batch_size)
            if kind == "hybrid":
                run = weighted_fusion([run, bm25_run], [1 - fusion_weight, fusion_weight], depth=k)
            runs[name] = run
        label = "" if kind == "dense" else f" + bm25 (weight {fusion_weight:g})"
        test = paired_test(qrels, runs["train + dev (shipped)"], runs["train split only"], seed=seed)
        for name, run in runs.items():
            scores = evaluate_run(qrels, run, (10,))
            shipped_row = name.startswith("train + dev")
            rows.append(
                {
                    "system": name + label,
                    "nDCG@10": scores["ndcg@10"],
                    "recall@10": scores["recall@10"],
                    "nDCG@10 difference": test["difference"] if shipped_row else None,
                    "p-value": test["p_value"] if shipped_row else None,
                }
            )
    return pd.DataFrame(rows)


def best_fusion_weight(
    qrels: dict,
    dense_run: Run,
    bm25_run: Run,
    weights=WEIGHTS,
    metric: str = "ndcg@10",
    prior: float | None = None,
    evidence: float = 0.05,
):
    """The BM25 weight (among ``weights``) whose weighted z-score fusion scores the best ``metric`` on ``qrels``.

    A metric with few distinct values (recall@10 on a small split) often ties: ties go to the better
    nDCG@10, then to the smaller weight. With ``prior``, the best weight replaces the prior only when a paired
    permutation test of ``metric`` on these queries gives p < ``evidence``: a dev split of twenty synthetic
    questions cannot tell weights apart, and its best one by a hair is as likely noise (measured on the click
    docs: weight 0 best on 20 dev questions by 0.015, 8 points worse than 0.3 on questions people wrote).

    Returns:
        ``(weight, table of the metric per weight (and nDCG@10 when another metric chooses), with the
        p-value of each weight against the prior and the chosen row marked when there is a prior)``.
    """
    import pandas as pd

    k = int(metric.split("@")[1])
    if prior is not None:
        weights = tuple(sorted({*weights, prior}))
    rows, runs = [], {}
    for w in weights:
        runs[w] = weighted_fusion([dense_run, bm25_run], [1 - w, w])
        scores = evaluate_run(qrels, runs[w], (k, 10))
        rows.append({"bm25 weight": w} | {f"dev {m}": scores[m] for m in dict.fromkeys([metric, "ndcg@10"])})
    columns = _weight_columns(metric)
    best = max(rows, key=lambda r: tuple(r[c] for c in columns))["bm25 weight"]
    table = pd.DataFrame(rows, columns=["bm25 weight", *columns])
    if prior is None:
        return best, table
    table["p vs prior"] = [
        float("nan") if w == prior else paired_test(qrels, runs[w], runs[prior], metric, k_values=(k, 10))["p_value"]
        for w in weights
    ]
    chosen = best if table.loc[table["bm25 weight"] == best, "p vs prior"].iloc[0] < evidence else prior
    table["chosen"] = ["✓" if w == chosen else "" for w in weights]
    return chosen, table


def fusion_note(table, prior: float | None, metric: str = "ndcg@10") -> str:
    """One sentence on how the weight in ``table`` (from :func:`best_fusion_weight`) was chosen (Markdown)."""
    if table is None or table.empty or "chosen" not in table:
        return ""
    col, columns = f"dev {metric}", _weight_columns(metric)
    best = table.sort_values([*columns, "bm25 weight"], ascending=[*[False] * len(columns), True]).iloc[0]
    chosen = table[table["chosen"] == "✓"].iloc[0]
    n = f"{best[col]:.3f} against {table.loc[table['bm25 weight'] == prior, col].iloc[0]:.3f}"
    if best["bm25 weight"] == prior:
        return f"The dev split's best BM25 weight is the prior one, {prior:g}."
    if chosen["bm25 weight"] == prior:
        return (
            f"The dev split's best BM25 weight, {best['bm25 weight']:g} ({metric} {n} for the prior {prior:g}), is "
            f"not reliably better (paired test p = {best['p vs prior']:.2f}): the prior weight {prior:g} is kept."
        )
    return (
        f"The dev split shows BM25 weight {best['bm25 weight']:g} better than the prior {prior:g} ({metric} {n}, "
        f"p = {best['p vs prior']:.3f}): it is used."
    )


def biggest_changes(
    deltas: dict[str, float], queries: dict[str, str], qrels: dict, runs: dict[str, Run], corpus: dict, n: int = 5
):
    """The ``n`` biggest wins and losses of fine-tuned vs base, with the relevant passage and each top hit."""
    import pandas as pd

    def top1(run: Run, q: str) -> str:
        ranked = sorted(run.get(q, {}).items(), key=lambda kv: -kv[1])
        return ranked[0][0] if ranked else ""

    order = sorted(deltas, key=deltas.get)
    chosen = [q for q in order[::-1][:n] if deltas[q] > 0] + [q for q in order[:n] if deltas[q] < 0]
    rows = []
    for q in chosen:
        rel = next(iter(qrels[q]))
        rows.append(
            {
                "query": queries[q],
                "nDCG@10 change": round(deltas[q], 3),
                "relevant passage": shorten(corpus[rel].full_text(), 100),
                "base top hit": top1(runs["base"], q),
                "fine-tuned top hit": top1(runs["fine-tuned"], q),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- summary


def tuned_hybrid(runs: dict[str, Run]) -> str:
    """Name of the hybrid that counts as "fine-tuned + hybrid": the weighted one tuned on dev, else RRF.

    Raises:
        KeyError: when ``runs`` holds no hybrid system.
    """
    weighted = [name for name in runs if name.startswith("hybrid (weighted")]
    if weighted:
        return weighted[0]
    if RRF_HYBRID in runs:
        return RRF_HYBRID
    raise KeyError(f"no hybrid system among the runs; systems: {', '.join(runs)}")


def summary_table(qrels: dict, runs: dict[str, Run], seed: int = 42):
    """Generic → fine-tuned → fine-tuned + hybrid: recall@10 and nDCG@10 with 95 % intervals and change vs generic.

    The hybrid is :func:`tuned_hybrid`. Means and intervals are those of :func:`confidence_table`; the
    change is the difference of means against the generic (base) model.

    Returns:
        A DataFrame with one row per step (``step``, ``system``, then for each metric its mean, ``low``,
        ``high`` and ``change``).
    """
    import pandas as pd

    steps = {"generic": "base", "fine-tuned": "fine-tuned", "fine-tuned + hybrid": tuned_hybrid(runs)}
    ci = confidence_table(qrels, {system: runs[system] for system in steps.values()}, seed=seed)
    cell = ci.set_index(["system", "metric"])
    rows = []
    for step, system in steps.items():
        row: dict[str, object] = {"step": step, "system": system}
        for metric, label in (("recall@10", "recall@10"), ("ndcg@10", "nDCG@10")):
            mean, low, high = cell.loc[(system, metric), ["mean", "low", "high"]]
            generic = cell.loc[("base", metric), "mean"]
            row.update({label: mean, f"{label} low": low, f"{label} high": high, f"{label} change": mean - generic})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- beyond the test split

IN_DOMAIN = "in-domain"
OUT_OF_DISTRIBUTION = "out-of-distribution"
GENERAL = "general-domain regression"
GENERAL_SET = Path(__file__).parent.parent / "builtin" / "general_pairs.jsonl"


@dataclass
class EvalSet:
    """Labelled queries to score base and fine-tuned models on, with what kind of set they are."""

    name: str
    kind: str  # in-domain | out-of-distribution
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def out_of_distribution_sources(train_sources: Iterable[str], clicks_given: bool) -> tuple[list[str], list[str]]:
    """Which sources of labelled queries the model was not trained on.

    Gold test queries are out of distribution when no gold pair trained the model (e.g. synthetic only);
    click-log queries are when a click log is given and no click pair trained the model.

    Args:
        train_sources: sources of the pairs that trained the model (``gold``, ``synthetic``, ``clicks``).
        clicks_given: whether a click log (``clicks_file``) is set.

    Returns:
        ``(sources out of distribution among "gold" and "clicks", one sentence per source that is not)``.

    Raises:
        ValueError: for an unknown source, listing the valid ones.

    Example:
        >>> out_of_distribution_sources(["synthetic"], clicks_given=True)[0]
        ['gold', 'clicks']
    """
    used = set(train_sources)
    valid = {"gold", "synthetic", "clicks"}
    if used - valid:
        raise ValueError(f"unknown training source(s) {sorted(used - valid)}; valid: {', '.join(sorted(valid))}")
    ood, notes = [], []
    if "gold" in used:
        notes.append("The gold test queries are in-distribution: gold train pairs trained the model.")
    else:
        ood.append("gold")
    if not clicks_given:
        notes.append("No click log is given (`clicks_file`), so there are no click-log queries to evaluate.")
    elif "clicks" in used:
        notes.append("Click-log queries are not evaluated: click pairs trained the model.")
    else:
        ood.append("clicks")
    return ood, notes


def click_queries(
    clicks_file: str | Path, corpus: dict[str, Passage], exclude: Iterable[str] = ()
) -> tuple[dict[str, str], dict[str, dict[str, int]], int]:
    """Queries of a click log with their clicked passages as relevant (grade 1).

    Queries are merged by normalised text; those whose normalised text is in ``exclude`` (e.g. the
    training queries) are dropped, so no evaluated query trained the model. Rows naming unknown
    passages are skipped, as in the synthesize stage.

    Returns:
        ``(queries, qrels, number of queries dropped by exclude)``; ids are ``click-1``, ``click-2`` … in
        order of normalised text.
    """
    clicks, _ = load_clicks(clicks_file, corpus)
    excluded = {normalize_query(q) for q in exclude}
    shown: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for c in clicks:
        key = normalize_query(c.query)
        shown.setdefault(key, c.query)
        relevant.setdefault(key, set()).add(c.doc_id)
    kept = sorted(k for k in relevant if k not in excluded)
    queries = {f"click-{i}": shown[k] for i, k in enumerate(kept, 1)}
    qrels = {f"click-{i}": dict.fromkeys(sorted(relevant[k]), 1) for i, k in enumerate(kept, 1)}
    return queries, qrels, len(relevant) - len(kept)


def robustness_sets(ws, train_pairs_file: str | Path, clicks_file: str | Path = "") -> tuple[list[EvalSet], list[str]]:
    """The held-out test split, the gold test queries when the test split is synthetic, and, where it
    exists, an out-of-distribution click-log set.

    Which sources trained the model is read from the training pairs (``train_pairs.jsonl``, the pairs
    of ``train_sources`` written by the synthesize stage).

    Returns:
        ``(sets, notes)``: the test split first (kind in-domain, or out-of-distribution when no pair of its
        source trained the model), then gold test queries beside a synthetic test split, then the click-log
        queries when they count as out of distribution; ``notes`` are sentences saying which sources are left
        out and why.
    """

    pairs = load_pairs(train_pairs_file)
    used = {p.source for p in pairs}
    ood, notes = out_of_distribution_sources(used, bool(clicks_file))
    queries, qrels = ws.split("test")
    kind = IN_DOMAIN if ws.test_source in used else OUT_OF_DISTRIBUTION
    sets = [EvalSet(f"test split ({ws.test_source})", kind, queries, qrels)]
    if ws.synthetic and (gold := test_queries(ws, "gold"))[0]:
        sets.append(EvalSet("test split (gold)", OUT_OF_DISTRIBUTION if "gold" in ood else IN_DOMAIN, *gold))
    if "clicks" in ood:
        cq, cr, dropped = click_queries(clicks_file, ws.corpus, exclude=[p.query for p in pairs])
        if dropped:
            notes.append(f"{dropped} click-log queries equal a training query and are left out.")
        if cq:
            sets.append(EvalSet("click-log queries", OUT_OF_DISTRIBUTION, cq, cr))
        else:
            notes.append("The click log has no query on a known passage left to evaluate.")
    return sets, notes


def summaries_by_source(ws, base, tuned, bm25, fusion_weight, params: Params):
    """:func:`summary_table` on the test queries of every source there is (the test split's first), with a
    ``test set`` column: synthetic and gold side by side while both exist.

    Args:
        base, tuned: ``(model, DenseIndex)`` of the generic and the fine-tuned model.
        fusion_weight: the BM25 weight chosen on dev (``None`` for reciprocal rank fusion).
        params: ``k_values``, ``rrf_k``, ``encode_batch_size``, ``seed``.
    """
    import pandas as pd

    tables = []
    for source in [ws.test_source, *other_sources(ws)]:
        queries, qrels = test_queries(ws, source)
        runs = system_runs(queries, base, tuned, bm25, max(*params.k_values, 100), params.rrf_k,
                           params.encode_batch_size, fusion_weight)  # fmt: skip
        table = summary_table(qrels, runs, seed=params.seed)
        table.insert(0, "test set", f"{source} ({len(qrels)} queries)")
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


BUNDLED_GENERATOR_NOTE = (
    " The training pairs came from the bundled 135M-parameter question writer. On real developer documentation "
    "scored with questions people wrote, fine-tuning on its questions alone moved nDCG@10 by about one point "
    "while the tuned hybrid gained six to eight (bench/README.md, cold start): serve the hybrid, and for "
    "fine-tuning to pay, label questions or give synthesis a stronger generator (`llm_model`, or "
    "`llm_backend: openai` with `llm_base_url`)."
)


def test_set_note(ws, generator: str = "") -> str:
    """What the test queries can and cannot show (Markdown), said plainly when they are synthetic; with
    ``generator`` (the chat model that wrote the training pairs) the bundled one's measured limits too."""

    n = len(ws.splits["test"])
    if not ws.synthetic:
        return f"{n:,} gold (labelled) test queries, held out from every earlier stage."
    gold = " The gold test queries labelled so far are scored beside them." if "gold" in other_sources(ws) else ""
    return (
        f"**The {n:,} test queries are synthetic**: an LLM wrote them from sections held out of training, mining "
        "and synthesis. They can show whether fine-tuning moved the model on those unseen sections and whether "
        "the hybrid helps, with intervals. They cannot show how well it answers what people really ask: "
        "questions written from a passage reuse its words (which favours BM25), come from the same kind of "
        "generator as the synthetic training pairs (which favours the fine-tuned model), and miss the vague, "
        "misspelled and multi-passage questions of real users. Treat differences as provisional until gold "
        f"questions replace them (`python -m nbutils label DOMAIN`).{gold}"
        + (BUNDLED_GENERATOR_NOTE if generator == BUNDLED_CHAT_MODEL else "")
    )


def general_set(path: str | Path = GENERAL_SET) -> tuple[dict[str, Passage], dict[str, str], dict]:
    """The shipped general-English question → passage pairs, as ``(corpus, queries, qrels)``.

    Each JSONL line is ``{"id", "query", "passage"}``; the passage id is the pair's id, and each query's
    only relevant passage is its own.

    Raises:
        ValueError: naming the file and line of a malformed line, an empty field or a repeated id.
    """
    path = Path(path)
    corpus: dict[str, Passage] = {}
    queries: dict[str, str] = {}
    for n, row in json_lines(path, objects=True):
        pid, query, passage = (str(row.get(key) or "").strip() for key in ("id", "query", "passage"))
        if not (pid and query and passage):
            raise ValueError(f"{path}:{n}: 'id', 'query' and 'passage' must all be non-empty")
        if pid in corpus:
            raise ValueError(f"{path}:{n}: id {pid!r} already used")
        corpus[pid], queries[pid] = Passage(pid, "", passage), query
    return corpus, queries, {pid: {pid: 1} for pid in queries}


def dense_scores(
    model, corpus: dict[str, Passage], queries: dict[str, str], qrels: dict, batch_size: int = 64
) -> dict[str, float]:
    """recall@10, recall@100, MRR@10, nDCG@10 and MAP@100 of ``model`` retrieving among ``corpus`` alone,
    and its mean ``z-margin`` (see :func:`z_margin`)."""

    ids = list(corpus)
    embeddings = encode(model, [corpus[i].full_text() for i in ids], batch_size, kind="document", progress=False)
    run = DenseIndex(ids, embeddings).search(model, queries, k=100, batch_size=batch_size)
    return {**evaluate_run(qrels, run, (10, 100)), "z-margin": z_margin(qrels, run)}


def z_margin(qrels: dict, run: Run) -> float:
    """Mean over queries of (lowest relevant score − highest other score) / standard deviation of the query's
    scores in ``run``: how clearly the right passages stand apart, in units that do not depend on a model's
    score scale. Unlike rank metrics it moves before a right passage loses its rank (e.g. on the general
    set, where every rank is already first). Queries without a relevant or an other passage in the run are
    skipped; ``nan`` when none is left."""
    margins = []
    for qid, hits in run.items():
        relevant = [s for pid, s in hits.items() if qrels.get(qid, {}).get(pid, 0) > 0]
        others = [s for pid, s in hits.items() if qrels.get(qid, {}).get(pid, 0) <= 0]
        spread = float(np.std(list(hits.values())))
        if relevant and others and spread > 0:
            margins.append((min(relevant) - max(others)) / spread)
    return float(np.mean(margins)) if margins else float("nan")


def _shift_row(name: str, kind: str, base: dict[str, float], tuned: dict[str, float]) -> dict[str, object]:
    row: dict[str, object] = {"set": name, "kind": kind, "queries": base["queries"]}
    for metric, label in (("ndcg@10", "nDCG@10"), ("recall@10", "recall@10"), ("z-margin", "z-margin")):
        if metric in base and metric in tuned:
            row.update(
                {
                    f"base {label}": base[metric],
                    f"fine-tuned {label}": tuned[metric],
                    f"{label} change": tuned[metric] - base[metric],
                }
            )
    return row


def robustness_table(
    sets: list[EvalSet],
    base: tuple[object, DenseIndex],
    tuned: tuple[object, DenseIndex],
    batch_size: int = 64,
    general: str | Path = GENERAL_SET,
):
    """Base vs fine-tuned on each set, and on the general-English regression set, side by side.

    Args:
        sets: from :func:`robustness_sets`, scored against the domain's corpus.
        base: (model, index) of the base model.
        tuned: (model, index) of the fine-tuned model.
        general: JSONL of general-English pairs (see :func:`general_set`); each model retrieves among
            its passages only.

    Returns:
        A DataFrame, one row per set (the general set last): ``set``, ``kind``, ``queries``, base and
        fine-tuned nDCG@10 and recall@10 and their changes; for the general set also the z-margin
        (:func:`z_margin`). A drop on the general set means forgetting; with ranks that stay first, a
        falling z-margin shows it coming.
    """
    import pandas as pd

    rows = []
    for s in sets:
        scores = [
            evaluate_run(s.qrels, idx.search(m, s.queries, k=100, batch_size=batch_size), (10, 100))
            for m, idx in (base, tuned)
        ]
        rows.append(_shift_row(s.name, s.kind, *scores))
    corpus, queries, qrels = general_set(general)
    general = [dense_scores(m, corpus, queries, qrels, batch_size) for m in (base[0], tuned[0])]
    rows.append(_shift_row("general English (shipped pairs)", GENERAL, *general))
    return pd.DataFrame(rows)


def significance_table(qrels: dict, runs: dict[str, Run], metric: str = "ndcg@10", seed: int = 42):
    """Fine-tuned vs base, and hybrid vs the best single system, with p-values (a DataFrame).

    The hybrid is the one chosen without the test queries (:func:`tuned_hybrid`); the single system it
    is compared with is the best on the test queries, which favours the single system.
    """
    import pandas as pd

    singles = {k: v for k, v in runs.items() if not k.startswith("hybrid")}
    scores = {k: evaluate_run(qrels, v, (10,))[metric] for k, v in singles.items()}
    best = max(scores, key=scores.get)
    hybrid = tuned_hybrid(runs) if any(k.startswith("hybrid") for k in runs) else None
    pairs = [("fine-tuned", "base")] + ([(hybrid, best)] if hybrid else [])
    rows = [{"comparison": f"{a} vs {b}", **paired_test(qrels, runs[a], runs[b], metric, seed)} for a, b in pairs]
    return pd.DataFrame(rows)
