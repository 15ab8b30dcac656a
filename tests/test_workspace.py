import pytest

from nbutils.config import validate
from nbutils.mining import known_positives, mine_bm25
from nbutils.paths import DomainPaths
from nbutils.synthesize import Pair, leakage_filter
from nbutils.workspace import bm25_index, load_workspace, prepare_workspace, split_queries


def test_splits_are_disjoint_complete_and_seeded():
    ids = [f"q{i}" for i in range(100)]
    s = split_queries(ids, 0.2, 0.1, seed=1)
    assert (len(s["test"]), len(s["dev"]), len(s["train"])) == (20, 10, 70)
    assert sorted(s["test"] + s["dev"] + s["train"]) == sorted(ids)
    assert s == split_queries(list(reversed(ids)), 0.2, 0.1, seed=1)
    assert s != split_queries(ids, 0.2, 0.1, seed=2)


def test_fixed_test_split_is_respected():
    s = split_queries(["a", "b", "c", "d"], 0.5, 0.0, seed=0, fixed={"test": ["d"]})
    assert s["test"] == ["d"] and "d" not in s["train"]


def test_prepare_and_load_roundtrip(tmp_path, beir_dir):
    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "test_fraction": 0.25, "dev_fraction": 0.0}
    )
    paths = DomainPaths.from_params(params)
    ws = prepare_workspace(params, paths)
    again = load_workspace(paths)
    assert again.corpus == ws.corpus and again.queries == ws.queries and again.splits == ws.splits
    assert len(ws.splits["test"]) == 1


def test_leakage_filter_drops_held_out_questions(tmp_path, beir_dir):
    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "test_fraction": 0.25, "dev_fraction": 0.0}
    )
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    test_q = ws.queries[ws.splits["test"][0]]
    pairs = [
        Pair(test_q.upper() + "?", "d1", "synthetic", "generator:x"),
        Pair("fresh question", "d1", "synthetic", "g"),
    ]
    kept, dropped = leakage_filter(pairs + [pairs[1]], ws)
    assert [p.query for p in kept] == ["fresh question"] and len(dropped) == 2


def test_mining_never_returns_a_known_positive(tmp_path, beir_dir):
    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out")})
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    pairs = [
        Pair("cats dogs bread planet", "d1", "gold", "train split"),
        Pair("Cats dogs bread planet?", "d2", "synthetic", "g"),
    ]
    triples = mine_bm25(pairs[:1], bm25_index(ws), known_positives(pairs), per_query=2, range_min=0, range_max=5)
    assert triples and all(t.negative not in {"d1", "d2"} for t in triples)
    assert len(triples) == 2 and all(t.neg_source == "bm25" and t.neg_rank >= 1 for t in triples)


def test_unknown_split_name(tmp_path, beir_dir):
    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out")})
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    with pytest.raises(ValueError, match="train, dev, test"):
        ws.split("holdout")
