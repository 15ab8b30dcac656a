import math

import pytest

from nbutils.metrics import average_precision_at_k, evaluate_run, mrr_at_k, ndcg_at_k, recall_at_k
from tests.conftest import SENTENCES


def test_hand_computed_values():
    rel = {"a": 1, "b": 1}
    ranked = ["x", "a", "y", "b"]
    assert recall_at_k(rel, ranked, 1) == 0.0
    assert recall_at_k(rel, ranked, 2) == 0.5
    assert recall_at_k(rel, ranked, 4) == 1.0
    assert mrr_at_k(rel, ranked, 10) == 0.5
    assert mrr_at_k(rel, ranked, 1) == 0.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(rel, ranked, 10) == pytest.approx(dcg / idcg)


def test_graded_ndcg_and_perfect_run():
    rel = {"a": 2, "b": 1}
    assert ndcg_at_k(rel, ["a", "b"]) == pytest.approx(1.0)
    assert ndcg_at_k(rel, ["b", "a"]) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_average_precision_hand_computed():
    rel = {"a": 1, "b": 1, "z": 0}  # grade 0 is not relevant
    ranked = ["x", "a", "y", "b", "z"]
    assert average_precision_at_k(rel, ranked, 100) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert average_precision_at_k(rel, ranked, 2) == pytest.approx((1 / 2) / 2)  # b is cut off
    assert average_precision_at_k(rel, ["a"], 1) == 1.0  # divided by min(k, relevant) = 1
    assert average_precision_at_k({"a": 1, "b": 1, "c": 1}, ["a", "c", "x"], 100) == pytest.approx(2 / 3)
    assert average_precision_at_k({"a": 0}, ["a"]) == 0.0
    m = evaluate_run({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {"x": 2.0, "a": 1.0}, "q2": {"b": 1.0}}, (10,))
    assert m["map@100"] == pytest.approx((1 / 2 + 1) / 2)


def test_evaluate_run_averages_and_missing_queries_score_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": {"a": 0.9, "c": 0.1}}
    m = evaluate_run(qrels, run, k_values=(1, 10))
    assert m["recall@1"] == 0.5 and m["mrr@10"] == 0.5 and m["queries"] == 2
    with pytest.raises(ValueError):
        evaluate_run({}, run)


def test_metrics_match_sentence_transformers_evaluator(minilm):
    """Our dense run + metrics agree with sentence-transformers' InformationRetrievalEvaluator."""
    from nbutils.data import Passage
    from nbutils.models import encode
    from nbutils.retrieval import DenseIndex
    from nbutils.train import dev_evaluator

    texts = SENTENCES
    corpus = {f"d{i}": Passage(f"d{i}", "", t) for i, t in enumerate(texts)}
    queries = {
        "q1": "why is my cat rumbling",
        "q2": "biggest planet",
        "q3": "how does dough rise",
        "q4": "birds that do not fly",
        "q5": "hot drinks",
    }
    queries["q6"] = "things that are cold"  # judged loosely on purpose, so rankings are imperfect
    qrels = {"q1": {"d0": 1}, "q2": {"d4": 1}, "q3": {"d3": 1}, "q4": {"d8": 1, "d10": 1}, "q5": {"d5": 1, "d11": 1}}
    qrels["q6"] = {"d9": 1, "d8": 1, "d2": 1}
    ours = evaluate_run(  # every passage ranked, as the evaluator ranks the whole corpus for map@100
        qrels,
        DenseIndex(list(corpus), encode(minilm.model, texts, progress=False)).search(minilm.model, queries, k=100),
        k_values=(1, 10),
    )
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    plain = InformationRetrievalEvaluator(
        queries, {pid: p.full_text() for pid, p in corpus.items()}, {q: set(r) for q, r in qrels.items()},
        name="dev", accuracy_at_k=[1], precision_recall_at_k=[10], map_at_k=[100], write_csv=False,
    )  # fmt: skip
    theirs = plain(minilm.model)
    served = dev_evaluator(queries, qrels, corpus)(minilm.model)
    assert all(served[k] == pytest.approx(v, abs=1e-6) for k, v in theirs.items())
    assert ours["ndcg@10"] == pytest.approx(theirs["dev_cosine_ndcg@10"], abs=1e-6)
    assert ours["mrr@10"] == pytest.approx(theirs["dev_cosine_mrr@10"], abs=1e-6)
    assert ours["recall@10"] == pytest.approx(theirs["dev_cosine_recall@10"], abs=1e-6)
    assert ours["map@100"] == pytest.approx(theirs["dev_cosine_map@100"], abs=1e-6)
    assert ours["ndcg@10"] < 1.0 and ours["map@100"] < 1.0  # not vacuous: some rankings are imperfect


def test_bootstrap_interval_and_paired_test():
    from nbutils.metrics import bootstrap_ci, paired_test

    low, high = bootstrap_ci([0.0, 1.0] * 50, seed=1)
    assert low < 0.5 < high and high - low < 0.3
    assert bootstrap_ci([0.7] * 20) == pytest.approx((0.7, 0.7))
    qrels = {f"q{i}": {"a": 1} for i in range(30)}
    good = {q: {"a": 1.0, "b": 0.5} for q in qrels}
    bad = {q: {"b": 1.0, "a": 0.5} for q in qrels}
    res = paired_test(qrels, good, bad)
    assert res["difference"] == pytest.approx(1 - 1 / math.log2(3)) and res["p_value"] < 0.001
    assert paired_test(qrels, good, good)["p_value"] == pytest.approx(1.0)
    one = {"q0": qrels["q0"]}
    single = paired_test(one, good, bad)
    assert single["p_value"] == 1.0 and single["queries"] == 1, "one query shows nothing"


def test_fusion_weight_follows_the_better_retriever():
    from nbutils.evaluate import best_fusion_weight

    qrels = {f"q{i}": {f"rel{i}": 1} for i in range(6)}
    good = {q: {f"rel{i}": 3.0, "x": 2.0, "y": 1.0} for i, q in enumerate(qrels)}
    poor = {q: {"x": 3.0, "y": 2.0, f"rel{i}": 1.0} for i, q in enumerate(qrels)}
    assert best_fusion_weight(qrels, dense_run=good, bm25_run=poor)[0] == 0.0
    weight, table = best_fusion_weight(qrels, dense_run=poor, bm25_run=good)
    assert weight > 0.5 and len(table) == 9


def test_fusion_weight_by_another_metric_breaks_ties_by_ndcg():
    """recall@3 ties across weights here: the chosen weight has the best recall@3, then the best nDCG@10."""
    from nbutils.evaluate import best_fusion_weight

    qrels = {f"q{i}": {f"rel{i}": 1} for i in range(6)}
    dense = {q: {"x": 3.0, f"rel{i}": 2.0, "y": 1.0, "z": 0.5} for i, q in enumerate(qrels)}
    bm25 = {q: {f"rel{i}": 3.0, "z": 2.0, "y": 1.0, "x": 0.0} for i, q in enumerate(qrels)}
    weight, table = best_fusion_weight(qrels, dense, bm25, metric="recall@3")
    assert list(table.columns) == ["bm25 weight", "dev recall@3", "dev ndcg@10"]
    assert (table["dev recall@3"] == 1.0).all(), "every weight finds the passage in the top 3"
    chosen = table[table["bm25 weight"] == weight].iloc[0]
    assert chosen["dev ndcg@10"] == table["dev ndcg@10"].max() > table["dev ndcg@10"].iloc[0]
    assert weight == best_fusion_weight(qrels, dense, bm25)[0], "nDCG@10 decides the tie as it decides alone"


def _fusion_case(n: int):
    """Dense ranks the relevant passage first for every query, BM25 ranks it third: weight 0 wins on each."""
    qrels = {f"q{i}": {f"rel{i}": 1} for i in range(n)}
    dense = {q: {f"rel{i}": 3.0, "x": 2.0, "y": 1.0} for i, q in enumerate(qrels)}
    bm25 = {q: {"x": 3.0, "y": 2.0, f"rel{i}": 1.0} for i, q in enumerate(qrels)}
    return qrels, dense, bm25


def test_a_weight_replaces_the_prior_only_when_the_dev_split_shows_it_better():
    from nbutils.evaluate import best_fusion_weight, fusion_note

    few = _fusion_case(3)
    weight, table = best_fusion_weight(*few, prior=0.5)
    best = table.sort_values("dev ndcg@10", ascending=False).iloc[0]
    assert best["dev ndcg@10"] > table.loc[table["bm25 weight"] == 0.5, "dev ndcg@10"].iloc[0]
    assert weight == 0.5 and best["p vs prior"] >= 0.05, "three queries cannot show it"
    assert list(table.loc[table["chosen"] == "✓", "bm25 weight"]) == [0.5]
    note = fusion_note(table, 0.5)
    assert "not reliably better" in note and "the prior weight 0.5 is kept" in note

    weight, table = best_fusion_weight(*_fusion_case(30), prior=0.5)
    assert weight == best_fusion_weight(*_fusion_case(30))[0] < 0.5, "thirty queries that all agree do"
    assert "it is used" in fusion_note(table, 0.5)
    assert best_fusion_weight(*few, prior=0.5, evidence=1.0)[0] < 0.5, "evidence 1 follows the dev split alone"
    assert 0.25 in set(best_fusion_weight(*few, prior=0.25)[1]["bm25 weight"]), "a prior off the grid is scored too"
    assert fusion_note(best_fusion_weight(*few)[1], None) == "", "no prior, nothing to say"
    assert best_fusion_weight(*_fusion_case(1), prior=0.5)[0] == 0.5, "one dev query shows nothing"
