"""Evaluate stage: the summary table, out-of-distribution sets and the general-English regression check."""

import re

import numpy as np
import pytest

from nbutils import evaluate, metrics
from nbutils.data import Passage
from nbutils.evaluate import EvalSet
from nbutils.metrics import evaluate_run, per_query
from nbutils.pairs import Pair, save_pairs
from nbutils.workspace import Workspace
from tests.conftest import SENTENCES

TEXTS = SENTENCES[:6]
CORPUS = {f"d{i}": Passage(f"d{i}", "", t) for i, t in enumerate(TEXTS)}


def _ranked(*ids):
    return {pid: float(len(ids) - i) for i, pid in enumerate(ids)}


def _system_runs():
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(6)}
    fillers = ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11"]

    def run(ranks):  # relevant passage of query i at rank ranks[i] (1-based), fillers elsewhere
        return {f"q{i}": _ranked(*fillers[: r - 1], f"d{i}", *fillers[r - 1 :]) for i, r in enumerate(ranks)}

    runs = {
        "base": run([1, 3, 12, 12, 2, 12]),
        "fine-tuned": run([1, 2, 4, 12, 1, 12]),
        "bm25": run([2, 2, 2, 2, 2, 2]),
        evaluate.RRF_HYBRID: run([1, 1, 2, 3, 1, 12]),
        evaluate.WEIGHTED_HYBRID.format(weight=0.3): run([1, 1, 1, 2, 1, 5]),
    }
    return qrels, runs


def test_summary_table_numbers_are_the_system_scores():
    qrels, runs = _system_runs()
    table = evaluate.summary_table(qrels, runs, seed=3).set_index("step")
    weighted = evaluate.WEIGHTED_HYBRID.format(weight=0.3)
    assert list(table.index) == ["generic", "fine-tuned", "fine-tuned + hybrid"]
    assert list(table["system"]) == ["base", "fine-tuned", weighted]
    scores = metrics.compare_systems(qrels, runs, [10])
    for step, system in zip(table.index, table["system"], strict=True):
        for metric, label in (("recall@10", "recall@10"), ("ndcg@10", "nDCG@10")):
            row = table.loc[step]
            assert row[label] == pytest.approx(scores[system][metric])
            assert row[f"{label} change"] == pytest.approx(scores[system][metric] - scores["base"][metric])
            values = [v[metric] for v in per_query(qrels, runs[system]).values()]
            assert (row[f"{label} low"], row[f"{label} high"]) == pytest.approx(metrics.bootstrap_ci(values, seed=3))
    assert table.loc["generic", "nDCG@10 change"] == 0.0
    assert table.loc["fine-tuned + hybrid", "nDCG@10 change"] > table.loc["fine-tuned", "nDCG@10 change"] > 0


def test_the_hybrid_in_the_summary_is_the_tuned_one_else_rrf():
    _, runs = _system_runs()
    assert evaluate.tuned_hybrid(runs).startswith("hybrid (weighted")
    without = {k: v for k, v in runs.items() if not k.startswith("hybrid (weighted")}
    assert evaluate.tuned_hybrid(without) == evaluate.RRF_HYBRID
    with pytest.raises(KeyError, match="no hybrid"):
        evaluate.tuned_hybrid({"base": {}, "fine-tuned": {}})


@pytest.mark.parametrize(
    ("sources", "clicks", "ood", "n_notes"),
    [
        (["gold", "synthetic"], False, [], 2),
        (["synthetic"], False, ["gold"], 1),
        (["synthetic"], True, ["gold", "clicks"], 0),
        (["gold", "synthetic", "clicks"], True, [], 2),
        (["clicks"], True, ["gold"], 1),
        (["gold"], True, ["clicks"], 1),
    ],
)
def test_which_sources_are_out_of_distribution(sources, clicks, ood, n_notes):
    got, notes = evaluate.out_of_distribution_sources(sources, clicks)
    assert got == ood and len(notes) == n_notes


def test_unknown_training_source_is_an_error():
    with pytest.raises(ValueError, match="'web'.*valid: clicks, gold, synthetic"):
        evaluate.out_of_distribution_sources(["gold", "web"], False)


CLICKS = (
    "query,doc_id,clicks\nWhy do cats purr?,d0,2\nwhy do cats purr,d1,1\nbiggest planet,d4,3\ntea leaves,d5,1\n"
    "lost,nope,4\n"
)


def test_click_queries_merge_normalised_and_drop_training_queries(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text(CLICKS)
    queries, qrels, dropped = evaluate.click_queries(path, CORPUS, exclude=["Tea leaves!"])
    assert dropped == 1
    assert sorted(queries.values()) == ["Why do cats purr?", "biggest planet"]
    by_text = {queries[q]: qrels[q] for q in queries}
    assert by_text == {"Why do cats purr?": {"d0": 1, "d1": 1}, "biggest planet": {"d4": 1}}


def _workspace():
    queries = {"g1": "purring cats", "g2": "rising dough", "g3": "largest planet"}
    qrels = {"g1": {"d0": 1}, "g2": {"d3": 1}, "g3": {"d4": 1}}
    return Workspace(CORPUS, queries, qrels, {"train": ["g1"], "dev": [], "test": ["g2", "g3"]})


def test_robustness_sets_follow_the_training_sources(tmp_path):
    clicks = tmp_path / "clicks.csv"
    clicks.write_text(CLICKS)
    save_pairs([Pair("what makes tea", "d5", "synthetic", "generator:llm")], tmp_path / "a.jsonl")
    sets, notes = evaluate.robustness_sets(_workspace(), tmp_path / "a.jsonl", clicks)
    assert [(s.name, s.kind) for s in sets] == [
        ("test split (gold)", evaluate.OUT_OF_DISTRIBUTION),
        ("click-log queries", evaluate.OUT_OF_DISTRIBUTION),
    ]
    assert set(sets[0].queries) == {"g2", "g3"} and len(sets[1].queries) == 3 and notes == []
    pairs = [Pair("purring cats", "d0", "gold", "train split"), Pair("why do cats purr", "d0", "clicks", "clicks:3")]
    save_pairs(pairs, tmp_path / "b.jsonl")
    sets, notes = evaluate.robustness_sets(_workspace(), tmp_path / "b.jsonl", clicks)
    assert [(s.name, s.kind) for s in sets] == [("test split (gold)", evaluate.IN_DOMAIN)]
    assert any("click pairs trained the model" in n for n in notes)
    sets, notes = evaluate.robustness_sets(_workspace(), tmp_path / "b.jsonl", "")
    assert len(sets) == 1 and any("No click log" in n for n in notes)


def test_shipped_general_set_is_valid():
    corpus, queries, qrels = evaluate.general_set()
    assert 60 <= len(queries) <= 100
    assert all(re.fullmatch(r"gen-\d{3}", q) for q in queries) and set(corpus) == set(queries)
    assert all(p.text.strip() for p in corpus.values()) and all(q.strip() for q in queries.values())
    assert len({q.lower() for q in queries.values()}) == len(queries)
    assert len({p.text for p in corpus.values()}) == len(corpus)
    assert all(qrels[q] == {q: 1} for q in queries)


def test_general_set_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "g.jsonl"
    bad.write_text('{"id": "a", "query": "q", "passage": "p"}\n{"id": "b", "query": "q", "passage": " "}\n')
    with pytest.raises(ValueError, match=r"g\.jsonl:2: .*non-empty"):
        evaluate.general_set(bad)
    bad.write_text('{"id": "a", "query": "q", "passage": "p"}\n\n{"id": "a", "query": "r", "passage": "s"}\n')
    with pytest.raises(ValueError, match=r"g\.jsonl:3: id 'a' already used"):
        evaluate.general_set(bad)
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"g\.jsonl:1: not valid JSON"):
        evaluate.general_set(bad)
    bad.write_text('{"id": "a", "query": "q", "passage": "p"}\n["a", "q", "p"]\n')
    with pytest.raises(ValueError, match=r"g\.jsonl:2: not a JSON object"):
        evaluate.general_set(bad)


def test_general_set_is_answerable_by_a_generic_model(minilm):
    """The regression check only catches forgetting if a generic model does well on it to begin with."""
    corpus, queries, qrels = evaluate.general_set()
    scores = evaluate.dense_scores(minilm.model, corpus, queries, qrels)
    assert scores["queries"] == len(queries) and scores["ndcg@10"] > 0.8 and scores["recall@10"] > 0.9
    assert scores["z-margin"] > 1.0  # the right passage stands clearly apart, with room to shrink


def test_z_margin_is_scale_free_and_turns_negative_when_a_wrong_passage_leads():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1, "c": 1}}
    run = {"q1": {"a": 0.9, "x": 0.5, "y": 0.4}, "q2": {"b": 0.8, "x": 0.7, "c": 0.6}}
    expected_q1 = (0.9 - 0.5) / np.std([0.9, 0.5, 0.4])
    expected_q2 = (0.6 - 0.7) / np.std([0.8, 0.7, 0.6])  # the lowest relevant against the best other
    assert evaluate.z_margin(qrels, run) == pytest.approx((expected_q1 + expected_q2) / 2)
    scaled = {q: {p: 10 * s + 3 for p, s in hits.items()} for q, hits in run.items()}
    assert evaluate.z_margin(qrels, scaled) == pytest.approx(evaluate.z_margin(qrels, run))
    assert np.isnan(evaluate.z_margin({"q1": {"a": 1}}, {"q1": {"a": 0.9}}))  # no other passage to beat


def test_robustness_table_scores_each_set_and_the_general_set(minilm, tmp_path):
    from nbutils.models import encode
    from nbutils.retrieval import DenseIndex

    general = tmp_path / "general.jsonl"
    general.write_text(
        '{"id": "g1", "query": "how do plants make food", "passage": "Photosynthesis turns light into sugar."}\n'
        '{"id": "g2", "query": "who painted the mona lisa", "passage": "Leonardo da Vinci painted the Mona Lisa."}\n'
        '{"id": "g3", "query": "fastest land animal", "passage": "The cheetah is the fastest land animal."}\n'
    )
    index = DenseIndex(list(CORPUS), encode(minilm.model, TEXTS, progress=False))
    shuffled = DenseIndex(list(CORPUS), index.embeddings[::-1].copy())  # a different, worse "fine-tuned" index
    ws = _workspace()
    sets = [EvalSet("test split (gold)", evaluate.IN_DOMAIN, *ws.split("test"))]
    table = evaluate.robustness_table(sets, (minilm.model, index), (minilm.model, shuffled), general=general)
    assert list(table["set"]) == ["test split (gold)", "general English (shipped pairs)"]
    assert list(table["kind"]) == [evaluate.IN_DOMAIN, evaluate.GENERAL]
    queries, qrels = ws.split("test")
    base = evaluate_run(qrels, index.search(minilm.model, queries), (10, 100))
    tuned = evaluate_run(qrels, shuffled.search(minilm.model, queries), (10, 100))
    row = table.iloc[0]
    assert row["queries"] == 2 and row["base nDCG@10"] == pytest.approx(base["ndcg@10"])
    assert row["fine-tuned nDCG@10"] == pytest.approx(tuned["ndcg@10"]) and row["nDCG@10 change"] < 0
    general_row = table.iloc[1]  # same model on both sides of the general set: no change
    assert general_row["queries"] == 3 and general_row["base nDCG@10"] == 1.0 and general_row["nDCG@10 change"] == 0
    assert general_row["base z-margin"] > 0 and general_row["z-margin change"] == 0
    assert np.isnan(row.get("base z-margin", np.nan))  # the domain sets show ranks only


def test_robustness_chart_draws_base_and_fine_tuned_per_set():
    import pandas as pd

    from nbutils.plots import robustness_chart

    table = pd.DataFrame(
        [
            {"set": "test split (gold)", "kind": evaluate.IN_DOMAIN, "base nDCG@10": 0.5, "fine-tuned nDCG@10": 0.6},
            {"set": "general", "kind": evaluate.GENERAL, "base nDCG@10": 1.0, "fine-tuned nDCG@10": 0.9},
        ]
    )
    ax = robustness_chart(table).axes[0]
    assert [round(b.get_height(), 2) for b in ax.patches] == [0.5, 1.0, 0.6, 0.9]
    assert [t.get_text() for t in ax.figure.legends[0].get_texts()] == ["base", "fine-tuned"]


def test_significance_compares_the_dev_tuned_hybrid_not_the_best_hybrid_on_test():
    qrels, runs = _system_runs()
    weighted = evaluate.WEIGHTED_HYBRID.format(weight=0.3)
    runs[evaluate.RRF_HYBRID] = runs[weighted] | {"q5": _ranked("d5")}  # RRF now beats it on the test queries
    table = evaluate.significance_table(qrels, runs, seed=3)
    assert list(table["comparison"]) == ["fine-tuned vs base", f"{weighted} vs bm25"]
    row = table.iloc[1]
    best_single = evaluate_run(qrels, runs["bm25"], (10,))["ndcg@10"]
    assert row["difference"] == pytest.approx(evaluate_run(qrels, runs[weighted], (10,))["ndcg@10"] - best_single)
    assert 0 < row["p_value"] <= 1 and row["queries"] == 6


def test_confidence_chart_draws_each_system_and_the_threshold_marks():
    from nbutils.plots import confidence_chart

    qrels, runs = _system_runs()
    ci = metrics.confidence_table(qrels, runs, seed=3)
    fig = confidence_chart(ci, "recall@10", marks={"fine-tune below": 0.7, "skip at": 0.9})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(runs)
    assert sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--") == [0.7, 0.9]
    assert [t.get_text() for t in ax.figure.legends[0].get_texts()] == ["fine-tune below 0.7", "skip at 0.9"]


def test_detectable_difference_has_the_power_it_claims():
    """Differences of exactly the detectable size are found by a paired t-test about 80 % of the time."""
    from scipy.stats import ttest_1samp

    rng = np.random.default_rng(0)
    n, sd = 120, 0.3
    assert metrics.detectable_difference(rng.normal(0, sd, n)) == pytest.approx(2.8 * sd / np.sqrt(n), rel=0.2)
    exact = (1.959964 + 0.841621) * sd / np.sqrt(n)
    found = np.mean([ttest_1samp(rng.normal(exact, sd, n), 0).pvalue < 0.05 for _ in range(2000)])
    assert 0.75 < found < 0.85
    two = metrics.detectable_difference([0.1, 0.3])
    assert two == pytest.approx(2.8016 * np.std([0.1, 0.3], ddof=1) / 2**0.5, rel=1e-3)
    assert np.isnan(metrics.detectable_difference([0.5]))
    assert metrics.detectable_difference([0.2] * 50) == pytest.approx(0.0, abs=1e-12)  # no spread


def test_the_synthetic_test_note_names_the_bundled_generators_limits_only_for_it():
    from nbutils.evaluate.compare import BUNDLED_GENERATOR_NOTE, test_set_note
    from nbutils.llm import BUNDLED_CHAT_MODEL, LocalChatModel
    from nbutils.workspace import Workspace

    splits = {"train": [], "dev": [], "test": ["q1", "q2"]}
    ws = Workspace({}, {}, {}, splits, test_source="synthetic")
    assert LocalChatModel().name == BUNDLED_CHAT_MODEL and LocalChatModel("Qwen/x").name == "local:Qwen/x"
    plain = test_set_note(ws)
    assert plain.startswith("**The 2 test queries are synthetic**") and "135M" not in plain
    assert test_set_note(ws, "openai:http://localhost:8011/v1:big") == plain
    assert test_set_note(ws, BUNDLED_CHAT_MODEL) == plain + BUNDLED_GENERATOR_NOTE
    assert "`llm_model`" in BUNDLED_GENERATOR_NOTE
    gold = Workspace({}, {}, {}, splits)
    assert test_set_note(gold, BUNDLED_CHAT_MODEL).startswith("2 gold (labelled) test queries")
