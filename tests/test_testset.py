"""The provisional synthetic test set: which sections it holds out, that nothing trains on them, how gold takes over."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nbutils import workspace as ws_module
from nbutils.data import Passage
from nbutils.decide import testset
from nbutils.llm import ChatModel, Completion
from nbutils.pairs import Pair
from nbutils.retrieval import BM25Index
from nbutils.workspace import (
    Workspace,
    load_workspace,
    other_sources,
    save_workspace,
    section_of,
    trainable_passages,
)

TOPICS = {
    "install": ["apt packages and homebrew formulae", "release archives and checksums", "self update command"],
    "config": ["toml config file tables", "environment variables for tokens", "bandwidth limits per process"],
    "sync": ["content hash comparison", "resumable uploads in parts", "deleting remote files"],
    "status": ["pending uploads and downloads", "watching folders with inotify"],
    "trouble": ["expired access tokens", "clock skew warnings", "open file limits", "files coming back"],
}


def corpus() -> dict[str, Passage]:
    """Five documents, one section per topic phrase, two passages per section: 32 passages, 16 sections."""
    out = {}
    for doc, phrases in TOPICS.items():
        for phrase in phrases:
            slug = phrase.replace(" ", "-")
            for n in range(2):
                pid = f"{doc}#{slug}-{n}"
                out[pid] = Passage(pid, doc, f"{phrase}\nPart {n} explains {phrase} in the {doc} guide in detail.")
    return out


class EchoChat(ChatModel):
    """Asks about the section heading of each passage (the words after the document title), as a question."""

    name = "echo"

    def _complete(self, prompts, sample, progress):
        for i, messages in enumerate(prompts):
            words = messages[-1]["content"].split("Passage:")[-1].split()
            part = words[words.index("Part") + 1]
            yield i, Completion(f"How do I handle {' '.join(words[1 : words.index('Part')])} in part {part}?")


def bm25_retriever(ws):
    ids, texts = ws.ids_and_texts()
    index = BM25Index(ids, texts)
    return lambda queries, k: index.search(queries, k=max(k, 100))


def params(**over):
    values = dict(
        synthetic_test_size=4, seed=3, few_shot=0, query_style="question", prompt_template=_prompt(),
        q_min_words=3, q_max_words=40, copy_max_words=0, near_duplicate=0.95, roundtrip_k=10, gold_test_min=0,
        test_fraction=0.2,
    )  # fmt: skip
    return SimpleNamespace(**{**values, **over})


def _prompt() -> str:
    from nbutils.config import DEFAULT_PROMPT

    return DEFAULT_PROMPT


def workspace() -> Workspace:
    return Workspace(corpus(), {}, {}, {"train": [], "dev": [], "test": []}, sets={"gold": {"test": [], "dev": []}})


def test_held_out_sections_are_whole_sections_stable_and_capped():
    c = corpus()
    test, dev = testset.held_out_sections(c, passages=6, seed=3)
    assert test and dev and not set(test) & set(dev)
    held = [pid for pid in c if section_of(pid) in set(test) | set(dev)]
    assert len(held) == 2 * len(test + dev), "whole sections, both passages of each"
    assert len(held) <= max(6, 0.2 * len(c)) + 2
    more = {**c, **{f"new#topic-{i}-0": Passage(f"new#topic-{i}-0", "new", f"new text {i}") for i in range(40)}}
    test2, dev2 = testset.held_out_sections(more, passages=6, seed=3)
    old_units = set(test + dev)
    assert {u for u in test2 + dev2 if not u.startswith("new#")} <= old_units, "growth keeps earlier choices"
    assert testset.held_out_sections(c, passages=6, seed=3) == (test, dev), "deterministic"


def test_needed_test_queries_follows_the_spread():
    assert testset.needed_test_queries([0.0, 0.1] * 20) < testset.needed_test_queries([0.0, 0.5] * 20)
    assert testset.needed_test_queries([0.0, 0.5] * 20, difference=0.1) < testset.needed_test_queries([0.0, 0.5] * 20)


def test_the_plan_says_what_fewer_labels_would_detect():
    plan = testset.TestPlan(gold_test=0, needed=197, basis="the power analysis", build=True, test_fraction=0.2)
    assert plan.detectable(197) == pytest.approx(testset.TARGET_DIFFERENCE, abs=0.001), "the analysis, inverted"
    assert plan.detectable(50) == pytest.approx(0.099, abs=0.001) and plan.detectable(100) < plan.detectable(50)
    text = plan.describe()
    assert "Label about 985 more questions" in text
    assert "250 more labels (50 test queries) detect about 10 points; 500 more labels (100 test queries)" in text
    some = testset.TestPlan(gold_test=60, needed=197, basis="x", build=True, test_fraction=0.2)
    assert "50 test queries" not in some.describe() and "200 more labels (100 test queries)" in some.describe()
    few = testset.TestPlan(gold_test=0, needed=40, basis="`gold_test_min`", build=True, test_fraction=0.2)
    assert "Fewer labels" not in few.describe(), "nothing smaller to offer below what is needed"


def test_plan_builds_until_gold_test_queries_are_enough():
    ws = workspace()
    plan = testset.plan(ws, params())
    assert plan.build and plan.gold_test == 0 and plan.labels_to_add == plan.needed * 5
    assert "synthetic" in plan.describe() and f"{plan.labels_to_add:,}" in plan.describe()
    gold = {f"g{i}": f"question {i}" for i in range(3)}
    qrels = {q: {"sync#deleting-remote-files-0": 1} for q in gold}
    splits, sets = {"train": [], "dev": [], "test": list(gold)}, {"gold": {"test": list(gold), "dev": []}}
    ws = Workspace(corpus(), gold, qrels, splits, sets=sets)
    assert testset.plan(ws, params(gold_test_min=4)).build
    assert not testset.plan(ws, params(gold_test_min=3)).build
    assert not testset.plan(ws, params(synthetic_test_size=0)).build, "0 turns the synthetic set off"


def test_synthetic_set_cannot_leak_into_training_pairs_mining_or_sampling(tmp_path):
    from nbutils.mine import known_positives, mine_hybrid
    from nbutils.paths import DomainPaths
    from nbutils.synthesize import build_pairs, leakage_filter, sample_passages

    ws = workspace()
    synthetic = testset.build(ws, params(), EchoChat(), bm25_retriever(ws))
    assert synthetic.splits["test"] and synthetic.splits["dev"]
    ws = testset.apply(ws, synthetic)
    assert ws.synthetic and ws.splits["test"] == synthetic.splits["test"]
    units = set(ws.held_out_units)
    held_pids = {pid for pid in ws.corpus if section_of(pid) in units}
    assert {p for q in ws.splits["test"] + ws.splits["dev"] for p in ws.qrels[q]} <= held_pids
    assert trainable_passages(ws) == set(ws.corpus) - held_pids
    assert not set(sample_passages(ws, 0, seed=1)) & held_pids, "synthesis never samples held-out sections"
    # a generated training pair on a held-out passage, or repeating a test question, is dropped
    test_q = ws.queries[ws.splits["test"][0]]
    on_held = Pair("some other question about it", sorted(held_pids)[0], "synthetic", "generator:llm")
    copy = Pair(test_q, sorted(set(ws.corpus) - held_pids)[0], "synthetic", "generator:llm")
    fine = Pair("a fine question", sorted(set(ws.corpus) - held_pids)[1], "synthetic", "generator:llm")
    kept, dropped = leakage_filter([on_held, copy, fine], ws)
    assert kept == [fine] and set(dropped) == {on_held, copy}
    # the whole synthesize stage: heuristic pairs never come from held-out sections
    p = params(generators=["title", "cloze"], synth_passages=0, synth_per_passage=1, clicks_file="", min_clicks=1,
               refit_with_dev=False)  # fmt: skip
    pairs = build_pairs(ws, p)
    assert pairs.kept and not {x.positive for x in pairs.kept} & held_pids
    assert "held-out sections" in pairs.report.table()["filter"].tolist()
    # mining: no negative from a held-out section
    ids, texts = ws.ids_and_texts()
    train = [Pair("toml config file tables", "config#toml-config-file-tables-0", "synthetic", "generator:title")]
    args = dict(per_query=30, range_min=0, range_max=40, margin=-100.0, bm25_weight=1.0)
    allowed = trainable_passages(ws)
    mined = mine_hybrid(train, BM25Index(ids, texts), None, None, known_positives(train), allowed=allowed, **args)
    assert mined and not {t.negative for t in mined} & held_pids
    # saved and read back by the later stages as it was
    paths = DomainPaths(tmp_path, "d")
    save_workspace(ws, paths, seed=3)
    back = load_workspace(paths)
    assert back.synthetic and back.held_out_units == ws.held_out_units and back.splits == ws.splits
    assert back.query_source == ws.query_source and trainable_passages(back) == trainable_passages(ws)


def test_gold_test_queries_stay_held_out_while_synthetic_ones_stand_in():
    from nbutils.synthesize import leakage_filter

    gold = {"g1": "how do I cap the upload rate", "g2": "why do deleted files return"}
    qrels = {"g1": {"config#bandwidth-limits-per-process-0": 1}, "g2": {"trouble#files-coming-back-0": 1}}
    ws = Workspace(corpus(), gold, qrels, {"train": ["g2"], "dev": [], "test": ["g1"]},
                   sets={"gold": {"test": ["g1"], "dev": []}})  # fmt: skip
    ws = testset.apply(ws, testset.build(ws, params(), EchoChat(), bm25_retriever(ws)))
    assert ws.splits["train"] == ["g2"] and "g1" not in ws.splits["test"]
    assert "g1" in ws.held_out() and ws.labelled_split("test")[0] == {"g1": gold["g1"]}
    kept, dropped = leakage_filter([Pair(gold["g1"], "sync#content-hash-comparison-0", "clicks", "clicks:2")], ws)
    assert not kept, "a training pair repeating a gold test question is dropped"
    assert other_sources(ws) == ["gold"]
    assert ws_module.test_queries(ws, "gold")[0] == {"g1": gold["g1"]}


def test_build_reports_failures_and_ensure_names_them(tmp_path):
    from nbutils.paths import DomainPaths

    class Broken(ChatModel):
        name = "broken"

        def _complete(self, prompts, sample, progress):
            for i, _ in enumerate(prompts):
                yield i, Completion(None, "APIConnectionError: connection refused")

    ws = workspace()
    plan = testset.plan(ws, params())
    with pytest.raises(RuntimeError, match="no synthetic test question could be made.*connection refused"):
        testset.ensure_with(ws, params(), DomainPaths(tmp_path, "d"), plan, Broken(), bm25_retriever(ws))
