import math

import pytest

from nbutils.metrics import evaluate_run, mrr_at_k, ndcg_at_k, recall_at_k


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


def test_evaluate_run_averages_and_missing_queries_score_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": {"a": 0.9, "c": 0.1}}
    m = evaluate_run(qrels, run, k_values=(1, 10))
    assert m["recall@1"] == 0.5 and m["mrr@10"] == 0.5 and m["queries"] == 2
    with pytest.raises(ValueError):
        evaluate_run({}, run)
