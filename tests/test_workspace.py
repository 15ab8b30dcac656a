import pytest

from nbutils.config import validate
from nbutils.mining import known_positives, mine_bm25
from nbutils.paths import DomainPaths
from nbutils.synthesize import Pair, leakage_filter
from nbutils.workspace import bm25_index, load_workspace, prepare_workspace, split_queries


def test_splits_are_disjoint_complete_and_seeded():
    ids = [f"q{i}" for i in range(100)]
    s = split_queries(ids, 0.2, 0.1, seed=1)
    assert 12 <= len(s["test"]) <= 28 and 4 <= len(s["dev"]) <= 16
    assert sorted(s["test"] + s["dev"] + s["train"]) == sorted(ids)
    assert s == split_queries(list(reversed(ids)), 0.2, 0.1, seed=1)
    assert s != split_queries(ids, 0.2, 0.1, seed=2)


def test_adding_queries_never_moves_a_query_between_splits():
    before = split_queries([f"q{i}" for i in range(100)], 0.2, 0.1, seed=3)
    after = split_queries([f"q{i}" for i in range(300)], 0.2, 0.1, seed=3)
    for name in ("train", "dev", "test"):
        assert set(before[name]) <= set(after[name])


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
    assert ws.splits["test"] and sorted(sum(ws.splits.values(), [])) == sorted(ws.queries)


def test_leakage_filter_drops_held_out_questions(tmp_path, beir_dir):
    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "test_fraction": 0.25, "dev_fraction": 0.0}
    )
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    test_q = ws.queries[ws.splits["test"][0]]
    pairs = [
        Pair(test_q.upper() + "?", "d1", "synthetic", "generator:x"),
        Pair(f"{test_q} exactly", "d2", "clicks", "clicks:3"),
        Pair("fresh question about ovens", "d1", "synthetic", "g"),
    ]
    kept, dropped = leakage_filter(pairs, ws, near=0.75)
    assert [p.query for p in kept] == ["fresh question about ovens"] and len(dropped) == 2


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


def test_copies_of_a_positive_are_known_positives():
    from nbutils.data import Passage
    from nbutils.mining import known_positives

    corpus = {
        "a#x-0": Passage("a#x-0", "Doc A", "Same body text."),
        "b#x-0": Passage("b#x-0", "Doc B", "same  body text."),
        "c#y-0": Passage("c#y-0", "Doc C", "Other text."),
    }
    known = known_positives([Pair("q", "a#x-0", "gold", "train split")], corpus)
    assert known["q"] == {"a#x-0", "b#x-0"}


def test_unknown_split_name(tmp_path, beir_dir):
    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out")})
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    with pytest.raises(ValueError, match="train, dev, test"):
        ws.split("holdout")


def test_hybrid_teacher_negatives_respect_window_margin_and_positives(tmp_path, beir_dir, minilm):
    from nbutils.mining import mine_hybrid
    from nbutils.workspace import dense_index

    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out")})
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    pairs = [Pair("why do cats purr", "d1", "gold", "train split"), Pair("Why do cats purr?", "d2", "clicks", "c")]
    dense = dense_index(minilm, ws, tmp_path / "emb")
    known = known_positives(pairs, ws.corpus)
    triples = mine_hybrid(
        pairs[:1], bm25_index(ws), dense, minilm.model, known, per_query=4, range_min=0, range_max=5, margin=0.0
    )
    negs = [t.negative for t in triples]
    assert negs and not {"d1", "d2"} & set(negs) and all(t.neg_source == "hybrid" for t in triples)
    strict = mine_hybrid(
        pairs[:1], bm25_index(ws), dense, minilm.model, known, per_query=4, range_min=0, range_max=5, margin=50.0
    )
    assert [t.negative for t in strict] == [None], "no candidate is that far below the positive"


def test_false_negative_estimate_finds_an_unlabelled_positive(tmp_path, beir_dir):
    from nbutils.mining import false_negative_estimate

    with (beir_dir / "qrels" / "train.tsv").open("a") as f:
        f.write("q1\td2\t1\n")  # q1 ("why do cats purr") has two relevant passages: d1 and d2
    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "test_fraction": 0.0, "dev_fraction": 0.0}
    )
    params.values.update(mine_teacher="bm25", mine_range_min=0, mine_margin=-100.0, negatives_per_query=4)
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    summary, examples = false_negative_estimate(params, ws, tmp_path / "emb")
    assert summary["queries"] == 1 and summary["false_negatives"] == 1
    assert examples[0]["mined negative (gold-relevant)"] == "d2"
