"""Test queries for a domain without enough labels: a provisional synthetic test set that cannot leak.

Most domains start with documents and no labelled questions. The decide stage then writes its own test
and dev questions: it holds out a few sections of the corpus (:func:`held_out_sections`, chosen by a
seeded hash, so the choice is stable as the corpus grows), asks the same LLM as the synthesize stage
for one question per held-out passage, and keeps the questions that pass the same filters (length,
copied span, duplicates) and a round trip through the hybrid of BM25 and the base model. Those
sections never reach training: no training pair, no mined negative and no synthesis sample comes from
them (:func:`nbutils.workspace.trainable_passages`).

Synthetic questions are written by reading a passage, so they share its words: they favour BM25 and
flatter every system against what people ask. Every number measured on them is marked *synthetic*.
Gold labels take over the test split once the gold test queries are enough to detect a difference of
:data:`TARGET_DIFFERENCE` in nDCG@10 (:func:`needed_test_queries`), or ``gold_test_min`` when set;
until then both are reported side by side.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace

import numpy as np

from .. import questions
from ..config import Params
from ..metrics import evaluate_run, per_query
from ..pairs import Pair
from ..paths import DomainPaths
from ..questions import check_failures
from ..retrieval import reciprocal_rank_fusion
from ..workspace import (
    GOLD,
    SYNTHETIC,
    Workspace,
    _test_ids,
    save_workspace,
    section_of,
)

__all__ = [
    "TARGET_DIFFERENCE",
    "SyntheticSet",
    "TestPlan",
    "apply",
    "build",
    "ensure",
    "ensure_with",
    "examples",
    "side_by_side",
    "held_out_sections",
    "hybrid_retriever",
    "needed_test_queries",
    "plan",
]

TARGET_DIFFERENCE = 0.05  # nDCG@10 a test split should tell apart (the hybrid gain the decide rule asks for)
FALLBACK_SD = 0.25  # per-query nDCG@10 difference spread assumed when no test query is scored yet
MAX_HELD_OUT_SHARE = 0.2  # at most this share of the passages is held out for synthetic questions
MIN_GOLD_SD_QUERIES = 10  # gold test queries needed before their spread sets the power analysis


def _unit(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00synthetic-test\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def held_out_sections(corpus: dict, passages: int, seed: int) -> tuple[list[str], list[str]]:
    """Sections to write test and dev questions from: about ``passages`` passages, at most a fifth of them.

    Sections (see :func:`~nbutils.workspace.section_of`) are taken in the order of a seeded hash of their
    id until they hold ``passages`` passages, so adding documents later keeps the earlier choice; every
    third one goes to dev. A corpus of at least two sections keeps one for test, and of at least four one
    for dev.

    Returns:
        ``(test sections, dev sections)``, sorted.
    """
    sizes: dict[str, int] = {}
    for pid in corpus:
        sizes[section_of(pid)] = sizes.get(section_of(pid), 0) + 1
    order = sorted(sizes, key=lambda u: _unit(seed, u))
    cap = min(passages, int(MAX_HELD_OUT_SHARE * len(corpus)))
    chosen, total = [], 0
    for unit in order:
        if total >= cap and len(chosen) >= min(2, len(order) // 2):
            break
        chosen.append(unit)
        total += sizes[unit]
    dev = chosen[2::3] or (chosen[1:2] if len(order) >= 4 else [])
    test = [u for u in chosen if u not in dev]
    return sorted(test), sorted(dev)


def needed_test_queries(differences=None, difference: float = TARGET_DIFFERENCE, power: float = 0.8) -> int:
    """Test queries a paired test needs to detect a mean difference of ``difference`` with ``power`` at 5 %.

    ``n = ((z(0.975) + z(power)) * sd / difference)²``, with ``sd`` the spread of per-query differences
    between two related systems (:data:`FALLBACK_SD` when fewer than two are given).

    Example:
        >>> needed_test_queries()
        197
    """
    from scipy.stats import norm

    return math.ceil(((norm.ppf(0.975) + norm.ppf(power)) * _sd(differences) / difference) ** 2)


def _sd(differences) -> float:
    """Spread of per-query differences, :data:`FALLBACK_SD` when fewer than two are given or all are equal."""
    d = np.asarray(list(differences or []), dtype=float)
    return float(d.std(ddof=1)) if len(d) > 1 and d.std(ddof=1) > 0 else FALLBACK_SD


def _spread(qrels: dict, dense_run: dict, hybrid_run: dict) -> list[float]:
    a, b = per_query(qrels, dense_run, (10,)), per_query(qrels, hybrid_run, (10,))
    return [b[q]["ndcg@10"] - a[q]["ndcg@10"] for q in a]


@dataclass
class TestPlan:
    """Whether the gold test queries suffice, and how many are needed.

    Attributes:
        gold_test: gold test queries there are.
        needed: gold test queries needed before they replace the synthetic test set.
        basis: how ``needed`` was found (a sentence).
        build: whether a synthetic test set is built.
    """

    gold_test: int
    needed: int
    basis: str
    build: bool
    test_fraction: float = 0.2
    sd: float = FALLBACK_SD  # spread of per-query nDCG@10 differences the power analysis assumed

    def detectable(self, test_queries: int, power: float = 0.8) -> float:
        """The nDCG@10 difference ``test_queries`` gold test queries detect with ``power`` at 5 % (the
        power analysis of :func:`needed_test_queries` solved for the difference)."""
        from scipy.stats import norm

        return (norm.ppf(0.975) + norm.ppf(power)) * self.sd / math.sqrt(max(test_queries, 1))

    @property
    def labels_to_add(self) -> int:
        """Questions to label so that, at ``test_fraction`` of them, the test split reaches ``needed``."""
        return max(0, math.ceil((self.needed - self.gold_test) / max(self.test_fraction, 0.01)))

    def describe(self) -> str:
        if not self.build:
            return f"{self.gold_test:,} gold test queries: enough ({self.basis}); no synthetic test set is needed."
        have = "No labelled test query exists" if not self.gold_test else f"Only {self.gold_test:,} gold test queries"
        fewer = [n for n in (50, 100) if self.gold_test < n < self.needed]
        smaller = (
            " Fewer labels tell apart only larger differences: "
            + "; ".join(
                f"{math.ceil((n - self.gold_test) / max(self.test_fraction, 0.01)):,} more labels ({n} test queries) "
                f"detect about {self.detectable(n) * 100:.0f} points"
                for n in fewer
            )
            + " (set `gold_test_min` to the test queries you will label)."
            if fewer
            else ""
        )
        return (
            f"{have}; {self.needed:,} are needed ({self.basis}). Until then the test and dev splits are "
            f"**synthetic** questions written by the LLM from held-out sections. Label about "
            f"{self.labels_to_add:,} more questions (a share `test_fraction` of them becomes test queries) and the "
            f"gold labels take over.{smaller}"
        )

    def to_dict(self) -> dict:
        return {
            "gold_test_queries": self.gold_test,
            "gold_test_needed": self.needed,
            "basis": self.basis,
            "synthetic_test_set": self.build,
            "labels_to_add": self.labels_to_add if self.build else 0,
        }


def plan(ws: Workspace, params: Params, runs: dict | None = None) -> TestPlan:
    """Decide whether the gold test split suffices or a synthetic one must stand in.

    Args:
        runs: base dense and hybrid runs (``{"base": …, "hybrid": …}``) on the gold test queries, for the
            spread of their per-query differences; ignored with fewer than 10 gold test queries.
    """
    gold_test = len(ws.labelled_split("test")[0])
    sd = FALLBACK_SD
    if params.gold_test_min:
        needed, basis = params.gold_test_min, "`gold_test_min`"
    elif runs and gold_test >= MIN_GOLD_SD_QUERIES:
        differences = _spread(ws.labelled_split("test")[1], runs["base"], runs["hybrid"])
        needed, sd = needed_test_queries(differences), _sd(differences)
        basis = f"to detect a {TARGET_DIFFERENCE * 100:.0f}-point nDCG@10 difference, from the gold queries' spread"
    else:
        needed = needed_test_queries()
        basis = f"to detect a {TARGET_DIFFERENCE * 100:.0f}-point nDCG@10 difference at a typical spread"
    build = gold_test < needed and params.synthetic_test_size > 0
    return TestPlan(gold_test, needed, basis, build, params.test_fraction, sd)


def hybrid_retriever(dense, bm25, model, batch_size: int = 64):
    """``fn(queries, k) -> run``: reciprocal rank fusion of base dense and BM25, for the round trip."""

    def retrieve(queries: dict[str, str], k: int):
        depth = max(k, 100)
        runs = [dense.search(model, queries, k=depth, batch_size=batch_size), bm25.search(queries, k=depth)]
        return reciprocal_rank_fusion(runs, depth=depth)

    return retrieve


@dataclass
class SyntheticSet:
    """Generated test and dev questions with what the filters did."""

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    splits: dict[str, list[str]]
    units: list[str]
    generated: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    filters: object = None  # a filters.FilterReport
    generation: object = None  # the questions.Generation, for questions.check_failures

    def summary(self) -> dict:
        return {
            "held_out_sections": len(self.units),
            "questions_generated": self.generated,
            "failed_passages": len(self.failures),
            "test_questions": len(self.splits.get("test", [])),
            "dev_questions": len(self.splits.get("dev", [])),
        }


def build(ws: Workspace, params: Params, chat, retriever) -> SyntheticSet:
    """Generate, filter and split the synthetic test and dev questions (see the module docstring).

    Args:
        chat: the synthesize stage's chat model (:func:`nbutils.questions.chat_model`).
        retriever: ``fn(queries, k) -> run`` for the round trip (:func:`hybrid_retriever`).
    """

    per_split = params.synthetic_test_size
    test_units, dev_units = held_out_sections(ws.corpus, math.ceil(per_split * 1.5 / 0.65), params.seed)
    units = set(test_units) | set(dev_units)
    pids = [pid for pid in ws.corpus if section_of(pid) in units]
    shots = questions.few_shot_examples(ws, params.few_shot, params.seed)
    gen = questions.llm_pairs(ws, chat, pids, 1, questions.prompt_for(params), shots, style=params.query_style)
    report = questions.filter_generated(gen.pairs, ws, params, retriever)
    queries, qrels, splits = _as_queries(report.kept, set(dev_units), per_split)
    return SyntheticSet(queries, qrels, splits, sorted(units), len(gen.pairs), gen.failures, report, gen)


def _as_queries(pairs: list[Pair], dev_units: set[str], size: int):
    queries, qrels, splits = {}, {}, {"test": [], "dev": []}
    for p in pairs:
        name = "dev" if section_of(p.positive) in dev_units else "test"
        if len(splits[name]) >= (size if name == "test" else math.ceil(size / 2)):
            continue
        qid = "synthetic-" + hashlib.sha1(f"{p.positive}\x00{p.query}".encode()).hexdigest()[:10]
        queries[qid], qrels[qid] = p.query, {p.positive: 1}
        splits[name].append(qid)
    return queries, qrels, {k: sorted(v) for k, v in splits.items()}


def apply(ws: Workspace, synthetic: SyntheticSet) -> Workspace:
    """``ws`` with the synthetic questions as its test and dev splits; gold test and dev queries stay
    held out (reported beside them), gold train queries still train."""
    sets = {GOLD: {"test": list(ws.splits["test"]), "dev": list(ws.splits["dev"])}, SYNTHETIC: synthetic.splits}
    splits = {"train": ws.splits["train"], **synthetic.splits}
    return replace(
        ws,
        queries={**ws.queries, **synthetic.queries},
        qrels={**ws.qrels, **synthetic.qrels},
        splits=splits,
        test_source=SYNTHETIC,
        sets=sets,
        held_out_units=synthetic.units,
        query_source={**ws.query_source, **dict.fromkeys(synthetic.queries, SYNTHETIC)},
    )


def ensure(
    ws: Workspace, params: Params, paths: DomainPaths, test_plan: TestPlan, dense, bm25, model
) -> tuple[Workspace, SyntheticSet | None]:
    """Build the synthetic test set when ``test_plan`` asks for one (with the synthesize stage's chat model
    and a round trip through the hybrid of ``dense`` and ``bm25``), save the workspace, and return both.

    Raises:
        RuntimeError: see :func:`ensure_with`.
    """

    if not test_plan.build:
        return ws, None
    chat = questions.chat_model(params, paths.llm_cache)
    return ensure_with(
        ws, params, paths, test_plan, chat, hybrid_retriever(dense, bm25, model, params.encode_batch_size)
    )


def ensure_with(ws: Workspace, params: Params, paths: DomainPaths, test_plan: TestPlan, chat, retriever):
    """:func:`ensure` with a given chat model and round-trip retriever.

    Raises:
        RuntimeError: when no synthetic question survives (the LLM failed or every answer was filtered
            out), naming the counts and the first failure.
        GenerationFailed: when some survive but more than ``llm_max_failures`` of the LLM requests failed
            (:func:`nbutils.questions.check_failures`).
        LlmAuthError: when the endpoint refuses the key.
    """

    if not test_plan.build:
        return ws, None
    synthetic = build(ws, params, chat, retriever)
    if not synthetic.splits["test"]:
        first = synthetic.failures[0][1] if synthetic.failures else "every question was dropped by the filters"
        raise RuntimeError(
            f"no synthetic test question could be made: {synthetic.generated} generated from "
            f"{len(synthetic.units)} held-out sections, {len(synthetic.failures)} passages failed ({first}). "
            "Check the LLM settings (llm_backend, llm_base_url, llm_model) or label questions with "
            "`python -m nbutils label DOMAIN`."
        )
    check_failures(synthetic.generation, params)
    ws = apply(ws, synthetic)
    save_workspace(ws, paths, params.seed)
    return ws, synthetic


def examples(ws: Workspace, n: int = 6, width: int = 140):
    """A few synthetic test questions with the start of their passage (a DataFrame)."""
    import pandas as pd

    rows = []
    for qid in ws.sets.get(SYNTHETIC, {}).get("test", [])[:n]:
        pid = next(iter(ws.qrels[qid]))
        text = ws.corpus[pid].full_text().replace("\n", " ")
        rows.append({"question": ws.queries[qid], "passage": pid, "text": text[:width] + "…"})
    return pd.DataFrame(rows, columns=["question", "passage", "text"])


def side_by_side(ws: Workspace, runs_by_set: dict[str, dict], metrics=("recall@10", "ndcg@10")):
    """The same systems on every test set there is (synthetic and gold), one column per set and metric.

    Args:
        runs_by_set: ``{"synthetic": runs, "gold": runs}`` on each set's test queries.

    Returns:
        A DataFrame (systems as rows), or an empty one when there is only one set.
    """
    import pandas as pd

    if len(runs_by_set) < 2:
        return pd.DataFrame()
    table = {}
    for source, runs in runs_by_set.items():
        qrels = {q: ws.qrels[q] for q in _test_ids(ws, source)}
        for system, run in runs.items():
            row = evaluate_run(qrels, run, (10,))
            for m in metrics:
                table.setdefault(system, {})[f"{m} ({source}, {row['queries']} queries)"] = row[m]
    return pd.DataFrame(table).T
