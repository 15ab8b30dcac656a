"""Our metrics, fusions and significance test against ranx, a maintained IR evaluation library."""

import random

import pytest
import ranx  # a dev dependency (pip install -e .[dev])

from nbutils.metrics import evaluate_run, paired_test
from nbutils.retrieval import reciprocal_rank_fusion, weighted_fusion

DOCS = [f"d{i}" for i in range(60)]
pytestmark = pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaTypeSafetyWarning")  # inside ranx


def _data(seed: int, queries: int = 40, same_docs: bool = False):
    """Binary qrels and two runs of distinct scores; with ``same_docs`` both runs rank the same passages."""
    rng = random.Random(seed)
    qrels, run_a, run_b = {}, {}, {}
    for i in range(queries):
        q = f"q{i}"
        qrels[q] = {d: 1 for d in rng.sample(DOCS, rng.randint(1, 4))}
        pool = rng.sample(DOCS, 30)
        run_a[q] = {d: rng.random() + (0.4 if d in qrels[q] else 0.0) for d in pool}
        other = pool if same_docs else rng.sample(DOCS, 30)
        run_b[q] = {d: rng.gauss(0, 3) + (1.0 if d in qrels[q] else 0.0) for d in other}
    return qrels, run_a, run_b


def _ranx(qrels, run, metrics):
    return ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), metrics)


@pytest.mark.parametrize("seed", [1, 2])
def test_metrics_equal_ranx(seed):
    qrels, run_a, _ = _data(seed)
    ours = evaluate_run(qrels, run_a, (1, 5, 10, 100))
    names = ["recall@1", "recall@5", "recall@10", "recall@100", "mrr@10", "ndcg@10", "map@100"]
    theirs = _ranx(qrels, run_a, names)
    for name in names:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-9), name


def test_reciprocal_rank_fusion_equals_ranx():
    _, run_a, run_b = _data(3)
    ours = reciprocal_rank_fusion([run_a, run_b], k=60, depth=100)
    theirs = ranx.fuse([ranx.Run(run_a, name="a"), ranx.Run(run_b, name="b")], method="rrf", params={"k": 60})
    theirs = theirs.to_dict()
    for q in ours:
        assert ours[q] == pytest.approx(theirs[q], abs=1e-12)


def test_weighted_z_score_fusion_equals_ranx_when_both_runs_score_the_same_passages():
    """ranx's ``wsum`` of ``zmuv``-normalised runs; with the same passages no score is missing from either run."""
    _, run_a, run_b = _data(4, same_docs=True)
    ours = weighted_fusion([run_a, run_b], [0.7, 0.3])
    runs = [ranx.Run(run_a, name="a"), ranx.Run(run_b, name="b")]
    theirs = ranx.fuse(runs, norm="zmuv", method="wsum", params={"weights": [0.7, 0.3]}).to_dict()
    for q in ours:
        assert ours[q] == pytest.approx(theirs[q], abs=1e-9)


def test_paired_permutation_test_agrees_with_ranx_fisher_randomization():
    qrels, run_a, run_b = _data(5, queries=60)
    ours = paired_test(qrels, run_a, run_b, "ndcg@10")
    report = ranx.compare(
        ranx.Qrels(qrels),
        [ranx.Run(run_a, name="a"), ranx.Run(run_b, name="b")],
        metrics=["ndcg@10"],
        stat_test="fisher",
        max_p=0.05,
        random_seed=42,
        n_permutations=9999,
    )
    theirs = report.to_dict()["a"]["comparisons"]["b"]["ndcg@10"]
    assert 0.0 < ours["p_value"] < 1.0
    assert ours["p_value"] == pytest.approx(theirs, abs=0.02), "both are Monte Carlo estimates of the same p-value"
