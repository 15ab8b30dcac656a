"""The decision rule and what it is measured on: generic embeddings, BM25 and hybrid, the data, the cost.

The recommendation is one of ``fine-tune``, ``hybrid`` or ``skip``, with the reasons written as
sentences built from the measured numbers and the path it took through the questions of :data:`RULE`
(drawn by :func:`flowchart`). :func:`fine_tuning_cost` says what fine-tuning would
take: pairs still missing, synthetic pairs expected, and training time from throughput measured here.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import asdict, dataclass, field
from enum import Enum

import numpy as np

from .. import plots
from ..config import MineParams, Params, SynthesizeParams, TrainParams
from ..data import duplicate_groups
from ..metrics import detectable_difference, per_query
from ..models import make_loss, split_sentences, token_counts
from ..pairs import click_pairs, normalize_query, plan_epochs
from ..paths import DomainPaths
from ..report import read_metrics
from ..retrieval import BM25Index, DenseIndex, Run, reciprocal_rank_fusion
from ..workspace import Workspace, document_of, test_queries

__all__ = [
    "ASSUMED_KEEP_RATE",
    "HYBRID_GAIN",
    "LAST_NO",
    "RULE",
    "Check",
    "Decision",
    "Recommendation",
    "Step",
    "Throughput",
    "baseline_runs",
    "corpus_stats",
    "passage_lengths",
    "cost_from_throughput",
    "fine_tuning_cost",
    "flowchart",
    "issue_table",
    "labelled_queries",
    "keep_rate",
    "measure_throughput",
    "pairs_by_source",
    "planning_values",
    "recommend",
    "sample_training_rows",
    "split_resolution",
    "walk",
]


class Decision(str, Enum):
    FINE_TUNE = "fine-tune"
    HYBRID = "hybrid"
    SKIP = "skip"


HYBRID_GAIN = 0.05  # recall@10 points hybrid must add over dense to be recommended instead of fine-tuning


@dataclass(frozen=True)
class Step:
    """A question of the rule: its flowchart node, its label there, and what a *yes* leads to.

    ``on_yes`` is ``None`` for evidence that does not branch (either answer leads on); ``note`` says
    what the outcome of a *yes* means.
    """

    node: str
    label: str
    on_yes: Decision | None = None
    note: str = ""


RULE: tuple[Step, ...] = (
    Step("vocabulary", "Special vocabulary?"),
    Step("no_labels", "Nothing labelled at all\n(no gold, no clicks)?", Decision.HYBRID, "the safe answer"),
    Step("generic_high", "Generic recall@10 at or above\nrecall_skip_above?", Decision.SKIP, "generic is good enough"),
    Step("hybrid_high", "Hybrid recall@10 at or above\nrecall_skip_above?", Decision.HYBRID, "no training needed"),
    Step(
        "generic_low",
        "Generic recall@10 under\nrecall_fine_tune_below?",
        Decision.FINE_TUNE,
        "the model misses the domain",
    ),
    Step("enough_pairs", "At least min_pairs\nlabelled pairs?", Decision.FINE_TUNE, "on labelled pairs"),
    Step(
        "hybrid_gain",
        f"Hybrid beats dense recall@10\nby at least {HYBRID_GAIN * 100:.0f} points?",
        Decision.HYBRID,
        "start there",
    ),
)
LAST_NO = (Decision.FINE_TUNE, "with synthetic pairs")  # the outcome when the last question is answered no


@dataclass(frozen=True)
class Check:
    """One question of :data:`RULE` as the rule answered it, with the numbers behind the answer."""

    node: str
    question: str
    answer: bool
    value: float | None  # the measured number compared
    threshold: float | None  # what it is compared with (None: a composite rule, see ``evidence``)
    evidence: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Recommendation:
    """The decision, the reasons as sentences, and the path of :class:`Check` objects that led to it."""

    decision: Decision
    reasons: list[str] = field(default_factory=list)
    path: list[Check] = field(default_factory=list)
    provisional: bool = False  # too few passages or test queries for the rule's numbers to mean much

    @property
    def outcome_node(self) -> str | None:
        """Flowchart id of the outcome reached: ``<last question>:yes`` or ``<last question>:no``."""
        if not self.path:
            return None
        last = self.path[-1]
        return f"{last.node}:{'yes' if last.answer else 'no'}"

    def to_dict(self) -> dict:
        return {
            "decision": self.decision.value,
            "reasons": self.reasons,
            "path": [c.to_dict() for c in self.path],
            "outcome": self.outcome_node,
            "provisional": self.provisional,
        }

    def to_markdown(self) -> str:
        mark = " (provisional)" if self.provisional else ""
        return f"### Recommendation: **{self.decision.value}**{mark}\n\n" + "\n".join(f"- {r}" for r in self.reasons)


def corpus_stats(ws: Workspace) -> dict[str, float | int | str]:
    """Size of the corpus and of the labelled data, per split (for a folder of documents, also how many of
    each format were read: ``"8 .md, 3 .pdf"``)."""
    words = np.array([len(p.full_text().split()) for p in ws.corpus.values()])
    formats = ", ".join(f"{n} {suffix}" for suffix, n in ws.formats.items())
    pairs = {s: sum(len(ws.qrels[q]) for q in ws.splits[s]) for s in ws.splits}
    return {
        "passages": len(ws.corpus),
        "documents": len({document_of(pid) for pid in ws.corpus}),
        **({"documents_by_format": formats} if formats else {}),
        "words_per_passage_mean": round(float(words.mean()), 1),
        "words_per_passage_median": float(np.median(words)),
        "labelled_queries": sum(1 for q in ws.queries if ws.query_source.get(q) != "synthetic"),
        "train_queries": len(ws.splits["train"]),
        "dev_queries": len(ws.splits["dev"]),
        "test_queries": len(ws.splits["test"]),
        "split_by": ws.split_by,
        "queries_in_no_split": len(ws.excluded),
        "labelled_pairs": sum(pairs.values()),
        "train_pairs": pairs["train"],
        "passages_with_duplicate_text": len(duplicate_groups(ws.corpus)),
        "data_issues": len(ws.issues),
    }


def passage_lengths(ws: Workspace, loaded) -> dict[str, object]:
    """How many passages are longer than the model's window, and what happens to them.

    Args:
        loaded: the base model's :class:`~nbutils.models.LoadedModel` (its tokenizer, sequence length
            and ``long_passages``).

    Returns:
        ``tokens_median``, ``tokens_p90``, ``passages_over_window``, ``share_over_window``,
        ``sentences_median`` and a ``sentence`` for the report (with a hint at ``window_sentences`` when
        passages hold more than 3 sentences on median and the param is off).
    """

    seq = loaded.model.max_seq_length
    counts = np.array(token_counts(loaded.model.tokenizer, [p.full_text() for p in ws.corpus.values()])) + 2
    over = int((counts > seq).sum())
    share = over / len(counts) if len(counts) else 0.0
    out: dict[str, object] = {
        "tokens_median": float(np.median(counts)) if len(counts) else 0.0,
        "tokens_p90": float(np.percentile(counts, 90)) if len(counts) else 0.0,
        "passages_over_window": over,
        "share_over_window": round(share, 4),
    }
    head = f"{over:,} of {len(counts):,} passages ({share:.0%}) are longer than the model's {seq} tokens"
    if not over:
        out["sentence"] = f"Every passage fits the model's {seq} tokens."
    elif loaded.windows:
        out["sentence"] = f"{head}; they are encoded in windows (`long_passages: windows`)."
    else:
        out["sentence"] = (
            f"{head}; with `long_passages: truncate` the model never sees their ends. "
            "Consider `long_passages: windows` (docs/long-passages.md)."
        )
    sentences = [len(split_sentences(p.text)) for p in ws.corpus.values()]
    out["sentences_median"] = float(np.median(sentences)) if sentences else 0.0
    if out["sentences_median"] > 3 and not loaded.window_sentences:
        out["sentence"] += (
            f" Passages hold {out['sentences_median']:.0f} sentences on median: `window_sentences: 2` would also "
            "score each by its best two sentences (docs/long-passages.md, Sentence windows)."
        )
    return out


def baseline_runs(
    ws: Workspace,
    dense: DenseIndex,
    bm25: BM25Index,
    model,
    split: str = "test",
    k: int = 100,
    rrf_k: int = 60,
    source: str | None = None,
) -> dict[str, Run]:
    """Runs of the base dense model, BM25 and their reciprocal-rank fusion on one split, or on the test
    queries of ``source`` (``gold`` or ``synthetic``, see :func:`nbutils.workspace.test_queries`)."""

    queries = test_queries(ws, source)[0] if source else ws.split(split)[0]
    dense_run = dense.search(model, queries, k=k)
    bm25_run = bm25.search(queries, k=k)
    hybrid = reciprocal_rank_fusion([dense_run, bm25_run], k=rrf_k, depth=k)
    return {"base": dense_run, "bm25": bm25_run, "hybrid": hybrid}


def split_resolution(
    ws: Workspace,
    dense: DenseIndex,
    bm25: BM25Index,
    model,
    splits=("dev", "test"),
    metric: str = "ndcg@10",
    known: dict[str, dict[str, Run]] | None = None,
):
    """How small a difference in ``metric`` each split can show (a DataFrame, one row per split).

    Comparing two recipes on a split is a paired test over its queries. The spread of per-query differences
    between two related systems measured here, the base dense model and its hybrid with BM25, stands in
    for the spread between two recipes; from it, the smallest mean difference a paired test would detect
    80 % of the time at the 5 % level (:func:`~nbutils.evaluation.detectable_difference`). ``known`` holds
    the :func:`baseline_runs` of splits already searched (e.g. ``{"test": runs}``), which are not searched again.
    """
    import pandas as pd

    rows = []
    for split in splits:
        queries, qrels = ws.split(split)
        if not queries:
            continue
        runs = (known or {}).get(split) or baseline_runs(ws, dense, bm25, model, split)
        base, hybrid = per_query(qrels, runs["base"], (10,)), per_query(qrels, runs["hybrid"], (10,))
        diffs = [hybrid[q][metric] - base[q][metric] for q in base]
        rows.append(
            {
                "split": split,
                "queries": len(diffs),
                f"sd of per-query {metric} difference": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else None,
                f"smallest detectable {metric} difference": detectable_difference(diffs),
            }
        )
    return pd.DataFrame(rows).set_index("split") if rows else pd.DataFrame()


def labelled_queries(ws: Workspace, clicks_file: str = "", min_clicks: int = 1) -> int:
    """Labelled queries of every kind: gold queries in any split plus distinct click-log queries
    (with at least ``min_clicks`` clicks). Synthetic test questions do not count."""

    gold = sum(1 for q in ws.queries if ws.query_source.get(q) != "synthetic")
    clicks = {normalize_query(p.query) for p in click_pairs(clicks_file, ws, min_clicks)} if clicks_file else set()
    return gold + len(clicks)


def issue_table(ws: Workspace, limit: int = 20):
    """Data problems found while loading: counts per kind and the first ``limit`` (a DataFrame)."""
    import pandas as pd

    rows = [{"file": i.file, "line": i.line, "kind": i.kind, "message": i.message} for i in list(ws.issues)[:limit]]
    return pd.DataFrame(rows, columns=["file", "line", "kind", "message"])


def recommend(
    scores: dict[str, dict[str, float]],
    labelled_pairs: int,
    min_pairs: int,
    fine_tune_below: float,
    skip_above: float,
    vocabulary=None,
    labelled_queries: int | None = None,
    test_plan=None,
    passages: int | None = None,
) -> Recommendation:
    """Apply the rule: hybrid when nothing is labelled; skip when generic recall@10 is already high; hybrid
    when fusion closes the gap; fine-tune when generic recall is low (with synthetic pairs when labels are scarce).

    The questions of :data:`RULE` are asked in order until one whose *yes* decides is answered yes;
    the checks asked are the recommendation's ``path``.

    Args:
        scores: metrics per system with at least ``base``, ``bm25`` and ``hybrid`` (``recall@10``).
        labelled_pairs: labelled training pairs available.
        min_pairs: pairs needed to fine-tune on labels alone.
        fine_tune_below: base recall@10 under which fine-tuning is recommended.
        skip_above: recall@10 at or above which the generic setup is good enough.
        vocabulary: a :class:`~nbutils.vocabulary.VocabularyReport` (adds the vocabulary evidence), or ``None``.
        labelled_queries: gold queries and click-log queries of every split (default: ``labelled_pairs``).
        test_plan: a :class:`~nbutils.testset.TestPlan`; when it built a synthetic test set, the numbers are
            said to be synthetic and the reasons end with how many questions to label.
        passages: corpus size; with too few passages or test queries (``scores["base"]["queries"]``) the
            recommendation is marked provisional and the first reason says why, with the numbers.
    """
    base, bm25, hybrid = (scores[s]["recall@10"] for s in ("base", "bm25", "hybrid"))
    labelled = labelled_pairs if labelled_queries is None else labelled_queries
    checks = _checks(base, hybrid, labelled_pairs, min_pairs, fine_tune_below, skip_above, vocabulary)
    checks["no_labels"] = Check("no_labels", "Nothing labelled at all?", labelled == 0, labelled, 0,
                                f"{labelled:,} labelled queries")  # fmt: skip
    path, decision = walk(checks)
    synthetic = test_plan is not None and test_plan.build
    on = "on **synthetic** test questions (written by an LLM from held-out sections) " if synthetic else ""
    facts = [
        f"Measured {on}generic embeddings find {base:.0%} of relevant passages in the top 10 (recall@10); "
        f"BM25 {bm25:.0%}; hybrid {hybrid:.0%}.",
        f"{labelled_pairs:,} labelled training pairs are available (threshold {min_pairs:,}).",
    ]
    if vocabulary is not None:
        v = vocabulary
        facts.append(
            f"{v.rare_token_share:.0%} of word occurrences are rare in general English; the base tokenizer splits the "
            f"top domain terms into {v.pieces_domain:.1f} pieces per word (general words: {v.pieces_general:.1f}): "
            + ("the vocabulary is special." if v.special else "the vocabulary is close to general English.")
        )
    sentences = _sentences(base, hybrid, fine_tune_below, skip_above)
    reasons = facts + [sentences[(c.node, c.answer)] for c in path if (c.node, c.answer) in sentences]
    if path[-1].node == "generic_low" and not checks["enough_pairs"].answer:
        reasons.append(sentences[("enough_pairs", False)])
    if synthetic:
        reasons.append(_synthetic_caveat(test_plan))
    too_small = _too_small(passages, scores["base"].get("queries"))
    return Recommendation(decision, ([too_small] if too_small else []) + reasons, path, provisional=bool(too_small))


MIN_TEST_QUERIES = 30  # below this, recall@10 of one system has a 95 % interval wider than ±18 points
MIN_PASSAGES = 100  # below this, a random ranking already puts over 10 % of the corpus in the top 10


def _too_small(passages: int | None, test_queries: int | None) -> str:
    """A sentence saying why the numbers cannot carry the rule, or "" when the inputs are large enough."""
    problems = []
    if passages is not None and passages < MIN_PASSAGES:
        chance = min(1.0, 10 / max(passages, 1))
        problems.append(
            f"the corpus has {passages:,} passages (a random ranking puts {chance:.0%} of them in the top 10; "
            f"at least {MIN_PASSAGES} are needed for recall@10 to tell systems apart)"
        )
    if test_queries is not None and test_queries < MIN_TEST_QUERIES:
        width = 0.98 / max(test_queries, 1) ** 0.5
        problems.append(
            f"{test_queries:,} test quer{'y' if test_queries == 1 else 'ies'} measured it (a recall on so few has a "
            f"95 % interval of up to ±{min(width, 1):.0%}; at least {MIN_TEST_QUERIES} are needed)"
        )
    if not problems:
        return ""
    return (
        "**Provisional: too little data for the rule to mean much.** "
        + "; and ".join(problems).capitalize()
        + ". Add documents or label test questions before acting on this."
    )


def _synthetic_caveat(test_plan) -> str:
    """What synthetic numbers can and cannot show, and what would change the recommendation."""
    return (
        "Synthetic questions share words with the passage they were written from: they favour BM25 and flatter "
        "every system against what people ask, so these numbers rank systems only roughly. What would change "
        f"this: label about {test_plan.labels_to_add:,} questions (the panel: `python -m nbutils label DOMAIN`); "
        f"once {test_plan.needed:,} of them are test queries they replace the synthetic ones and the rule runs on "
        "real questions."
    )


def walk(checks: dict[str, Check]) -> tuple[list[Check], Decision]:
    """Follow :data:`RULE` through answered ``checks`` (a missing one is skipped): the path and the decision."""
    path = []
    for step in RULE:
        if step.node not in checks:
            continue
        path.append(checks[step.node])
        if step.on_yes is not None and path[-1].answer:
            return path, step.on_yes
    return path, LAST_NO[0]


def _checks(base, hybrid, pairs, min_pairs, low, high, vocabulary) -> dict[str, Check]:
    """Every question of :data:`RULE` answered from the measured numbers (``low``/``high``: the recall thresholds)."""
    gain = hybrid - base
    rows = [
        ("generic_high", f"Generic recall@10 ≥ {high:.0%}?", base >= high, base, high, f"generic {base:.0%}"),
        ("hybrid_high", f"Hybrid recall@10 ≥ {high:.0%}?", hybrid >= high, hybrid, high, f"hybrid {hybrid:.0%}"),
        ("generic_low", f"Generic recall@10 < {low:.0%}?", base < low, base, low, f"generic {base:.0%}"),
        (
            "enough_pairs",
            f"At least {min_pairs:,} labelled pairs?",
            pairs >= min_pairs,
            pairs,
            min_pairs,
            f"{pairs:,} pairs",
        ),
        (
            "hybrid_gain",
            f"Hybrid beats dense by ≥ {HYBRID_GAIN * 100:.0f} points?",
            gain >= HYBRID_GAIN,
            gain,
            HYBRID_GAIN,
            f"hybrid {hybrid:.0%} vs dense {base:.0%}",
        ),
    ]
    if vocabulary is not None:
        v = vocabulary
        pieces = f"{v.pieces_domain:.1f} vs {v.pieces_general:.1f} pieces per word"
        rows.append(("vocabulary", "Special vocabulary?", bool(v.special), v.rare_token_share, None,
                     f"{v.rare_token_share:.0%} rare words, {pieces}"))  # fmt: skip
    return {r[0]: Check(*r) for r in rows}


def _sentences(base: float, hybrid: float, low: float, high: float) -> dict[tuple[str, bool], str]:
    """The reason each answer on the path adds, by (node, answer)."""
    headroom = f"Generic recall@10 is already at or above {high:.0%}: fine-tuning has little headroom."
    middle = f"Generic recall@10 is between {low:.0%} and {high:.0%}: fine-tuning may still pay off."
    synthetic = (
        "Labelled pairs are below the threshold: add synthetic pairs (stage 2) and weigh the result on held-out gold."
    )
    return {
        ("generic_high", True): headroom,
        ("hybrid_high", True): f"Hybrid retrieval already reaches {high:.0%}: it closes the gap without training.",
        ("generic_low", True): f"Generic recall@10 is below {low:.0%}: the model misses this domain.",
        ("generic_low", False): middle,
        ("enough_pairs", False): synthetic,
        ("hybrid_gain", True): f"Hybrid gains {hybrid - base:+.0%} over dense alone with no training: start there.",
        ("no_labels", True): (
            "Nothing is labelled yet (no gold questions, no click log): hybrid retrieval (BM25 + the generic model) "
            "is the safe answer. The later stages still fine-tune on synthetic pairs, so the evaluate report can "
            "show what fine-tuning would bring."
        ),
    }


# --------------------------------------------------------------------------- cost of fine-tuning

# Share of generated questions kept by the filters, measured on SciFact with the bundled SmolLM2
# (bench/README.md "SciFact results": 535 of 800 and 2,141 of 3,360).
ASSUMED_KEEP_RATE = 0.65
_PLAN_KEYS = (
    "synth_passages",
    "synth_per_passage",
    "generators",
    "epochs",
    "loss",
    "negatives_per_query",
    "distill_negatives",
    "batch_size",
    "min_steps",
)


@dataclass(frozen=True)
class Throughput:
    """Training rows per second measured on this device, and what was timed."""

    rows_per_second: float
    rows: int
    seconds: float
    batch_size: int
    max_seq_length: int
    device: str
    negatives: int = 1  # mined negatives in each timed row, as training will carry them

    def describe(self) -> str:
        negs = f"{self.negatives} negative{'s' * (self.negatives != 1)}"
        return (
            f"{self.rows} rows in {self.seconds:.1f} s of real training steps (query + positive + {negs} a row, "
            f"batch {self.batch_size}, {self.max_seq_length} tokens, {self.device}); "
            "the trainer's start-up, dev evaluation and checkpoints come on top"
        )


def sample_training_rows(ws: Workspace, n: int = 16, seed: int = 0, negatives: int = 1) -> list[tuple[str, ...]]:
    """Up to ``n`` (query, positive, negative 1 … ``negatives``) texts to time training on.

    Gold train pairs when there are any, else passages with their title as the query; the negatives
    are random passages.
    """
    queries, qrels = ws.split("train")
    pairs = [(queries[q], pid) for q in sorted(queries) for pid in qrels[q] if pid in ws.corpus]
    pairs = pairs or [(ws.corpus[pid].title or pid, pid) for pid in ws.corpus]
    rng, ids = random.Random(seed), list(ws.corpus)
    chosen = rng.sample(pairs, min(n, len(pairs)))
    negs = [[ws.corpus[rng.choice(ids)].full_text() for _ in range(negatives)] for _ in chosen]
    return [(q, ws.corpus[pid].full_text(), *ns) for (q, pid), ns in zip(chosen, negs, strict=True)]


def measure_throughput(
    model, rows: list[tuple[str, ...]], max_seq_length: int, batch_size: int = 8, steps: int = 2
) -> Throughput:
    """Time ``steps`` real training steps on a copy of ``model`` after one untimed warm-up step.

    The copy trains in float32 (bf16 autocast on CUDA, as the trainer does); ``model`` is left untouched.

    Returns:
        A :class:`Throughput`.

    Raises:
        ValueError: when ``rows`` is empty.
    """
    import torch

    if not rows:
        raise ValueError("measure_throughput: no rows to time training on")
    student = copy.deepcopy(model).float()
    student.max_seq_length = max_seq_length
    student.train()
    loss = make_loss("mnrl", student)
    optimizer = torch.optim.AdamW(student.parameters(), lr=2e-5)
    batch = (list(rows) * batch_size)[:batch_size]
    _train_step(student, loss, optimizer, batch)
    start = time.perf_counter()
    for _ in range(steps):
        _train_step(student, loss, optimizer, batch)
    seconds = time.perf_counter() - start
    return Throughput(
        steps * len(batch) / seconds, steps * len(batch), seconds, len(batch), max_seq_length, student.device.type,
        len(batch[0]) - 2,
    )  # fmt: skip


def _train_step(model, loss, optimizer, batch: list[tuple[str, ...]]) -> None:
    import torch

    device = model.device
    prepare = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers ≥ 6 renamed tokenize
    columns = [prepare(list(col)) for col in zip(*batch, strict=True)]
    features = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in f.items()} for f in columns]
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        value = loss(features, None)
    value.backward()
    optimizer.step()
    optimizer.zero_grad()
    if device.type == "cuda":
        torch.cuda.synchronize()


def keep_rate(paths: DomainPaths) -> tuple[float, str]:
    """Share of generated questions that survive the filters: observed in the domain's last synthesize
    run when there is one (``metrics/02_synthesize.json``), else :data:`ASSUMED_KEEP_RATE`; and which."""
    m = read_metrics(paths, "synthesize") or {}
    generated = sum(r["in"] for r in m.get("filters", []) if r["filter"] == "length") + m.get("llm_failures", 0)
    kept = sum(r["pairs"] for r in m.get("pairs", []) if r["source"] == "synthetic")
    if generated:
        return kept / generated, f"observed: {kept:,} of {generated:,} generated questions kept ({m['written']})"
    return ASSUMED_KEEP_RATE, "assumed: measured on SciFact with the bundled SmolLM2, no synthesize run yet"


def planning_values(params: Params) -> tuple[dict, str]:
    """``synth_passages``, ``synth_per_passage``, ``generators``, the epochs (``epochs``, ``batch_size``,
    ``min_steps``) and the loss and negatives a training row will carry (``loss``, ``negatives_per_query``,
    ``distill_negatives``) for the cost estimate.

    Taken from ``params`` when it holds them (the decide notebook receives them, see
    ``config.ALSO_RECEIVES``), else the synthesize and train stages' defaults. Returns the values and which.
    """
    defaults = {**asdict(SynthesizeParams()), **asdict(MineParams()), **asdict(TrainParams())}
    given = {k: params.values[k] for k in _PLAN_KEYS if k in params.values}
    source = "params" if len(given) == len(_PLAN_KEYS) else "synthesize, mine and train stage defaults"
    return {k: given.get(k, defaults[k]) for k in _PLAN_KEYS}, source


def cost_from_throughput(
    labelled_pairs: int,
    min_pairs: int,
    throughput: Throughput,
    passages: int,
    per_passage: int,
    generators: int,
    epochs: int,
    rate: tuple[float, str] = (ASSUMED_KEEP_RATE, "assumed"),
    refit_pairs: int = 0,
    steps: tuple[int, int] = (32, 0),
) -> dict:
    """Pairs still missing, what synthesis could add, and the training time at ``throughput``.

    Synthetic pairs expected = ``passages`` × ``per_passage`` × ``generators`` × keep rate; training
    time = (labelled + synthetic pairs) × epochs / measured rows per second, the epochs being ``epochs``
    raised to make ``min_steps`` steps (:func:`~nbutils.pairs.plan_epochs`).

    Args:
        rate: (keep rate, where it comes from), see :func:`keep_rate`.
        refit_pairs: labelled pairs of the train and dev splits when the model is trained again on them
            (``refit_with_dev``): their training time is added as ``refit_seconds``; 0 for no refit.
        steps: ``(batch_size, min_steps)``.
    """
    needed = max(0, min_pairs - labelled_pairs)
    kept_per_passage = per_passage * generators * rate[0]
    synthetic = int(passages * kept_per_passage)
    rps = throughput.rows_per_second
    per_epoch = (labelled_pairs + synthetic) / rps
    epochs, epochs_choice = plan_epochs(epochs, labelled_pairs + synthetic, *steps)
    return {
        "labelled_pairs": labelled_pairs,
        "min_pairs": min_pairs,
        "pairs_needed": needed,
        "synthesis": f"{passages:,} passages × {per_passage} per passage × {generators} generator(s) × {rate[0]:.2f}",
        "keep_rate": round(rate[0], 3),
        "keep_rate_source": rate[1],
        "synthetic_pairs_expected": synthetic,
        "synthesis_closes_the_gap": synthetic >= needed,
        "passages_to_close_the_gap": math.ceil(needed / kept_per_passage) if kept_per_passage else None,
        "training_pairs": labelled_pairs + synthetic,
        "epochs": epochs,
        "epochs_choice": epochs_choice,
        "rows_per_second": round(throughput.rows_per_second, 2),
        "throughput_measured": throughput.describe(),
        "training_seconds_per_epoch": round(per_epoch, 1),
        "training_seconds": round(per_epoch * epochs, 1),
        "refit_seconds": round((refit_pairs + synthetic) * epochs / rps, 1) if refit_pairs else 0,
    }


def fine_tuning_cost(ws: Workspace, loaded, params: Params, paths: DomainPaths, rows: int = 16) -> dict:
    """The cost of fine-tuning this domain, with training throughput measured on this device.

    Args:
        loaded: the base model (:class:`~nbutils.models.LoadedModel`); a copy of it is trained for a few steps.
        params: validated params (``min_pairs``, ``max_seq_length``, ``seed``; see :func:`planning_values`).
        paths: the domain's paths, for an observed keep rate.
    """
    plan, source = planning_values(params)
    labelled = sum(len(ws.qrels[q]) for q in ws.splits["train"])
    synthetic_only = not labelled and not params.clicks_file  # loss auto then distils (loss marginmse)
    distils = plan["loss"] == "marginmse" or (plan["loss"] == "auto" and synthetic_only)
    negatives = plan["distill_negatives"] if distils else max(1, plan["negatives_per_query"])
    sample = sample_training_rows(ws, rows, params.seed, negatives)
    throughput = measure_throughput(loaded.model, sample, params.max_seq_length)
    passages = min(plan["synth_passages"] or len(ws.corpus), len(ws.corpus))
    refit = sum(len(ws.qrels[q]) for s in ("train", "dev") for q in ws.splits[s]) if params.refit_with_dev else 0
    cost = cost_from_throughput(
        labelled, params.min_pairs, throughput, passages, plan["synth_per_passage"], len(plan["generators"]),
        plan["epochs"], keep_rate(paths), refit, (plan["batch_size"], plan["min_steps"]),
    )  # fmt: skip
    return {**cost, "planning_values": source}


def pairs_by_source(ws: Workspace, clicks_file: str, min_clicks: int, cost: dict):
    """Training pairs available per source against ``min_pairs``: gold (train split), click log, synthetic.

    Click pairs are counted as the synthesize stage builds them (normalised queries, at least
    ``min_clicks`` clicks); synthetic pairs are the expectation of :func:`fine_tuning_cost`. Returns a
    DataFrame with one row per source and the total.
    """
    import pandas as pd

    gold = sum(len(ws.qrels[q]) for q in ws.splits["train"])
    clicks = len(click_pairs(clicks_file, ws, min_clicks)) if clicks_file else 0
    rows = [
        ("gold (train split)", gold, "labelled"),
        ("click log", clicks, f"at least {min_clicks} click(s)" if clicks_file else "no click log given"),
        ("synthetic (expected)", cost["synthetic_pairs_expected"], cost["synthesis"]),
    ]
    table = pd.DataFrame(rows, columns=["source", "pairs", "how counted"])
    total = int(table["pairs"].sum())
    table.loc[len(table)] = ["total", total, f"threshold min_pairs {cost['min_pairs']:,}"]
    table["share of min_pairs"] = (table["pairs"] / cost["min_pairs"]).round(2)
    return table.set_index("source")


def flowchart(rec: Recommendation, title: str = ""):
    """The decision rule as a flowchart with the path ``rec`` took highlighted (a matplotlib Figure)."""
    return plots.decision_flowchart(rec, RULE, LAST_NO, title)
