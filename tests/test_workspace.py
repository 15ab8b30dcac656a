import numpy as np
import pytest

from nbutils.config import validate
from nbutils.mine import known_positives, mine_bm25
from nbutils.pairs import Pair, Triple
from nbutils.paths import DomainPaths
from nbutils.synthesize import leakage_filter
from nbutils.workspace import (
    bm25_index,
    document_of,
    load_workspace,
    prepare_workspace,
    split_by_document,
    split_queries,
)


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
    from nbutils.mine import known_positives

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
    from nbutils.mine import mine_hybrid
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


def test_mined_rows_carry_the_teachers_margin_on_the_base_models_cosine_scale(tmp_path, beir_dir, minilm):
    from nbutils.mine import mine_hybrid
    from nbutils.models import encode
    from nbutils.workspace import dense_index

    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out")})
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    pairs = [Pair("why do cats purr", "d1", "gold", "train split")]
    dense, bm25 = dense_index(minilm, ws, tmp_path / "emb"), bm25_index(ws)
    args = {"per_query": 4, "range_min": 0, "range_max": 5, "margin": 0.0}
    q_emb = encode(minilm.model, ["why do cats purr"], kind="query")[0]
    cosine = dict(zip(dense.ids, dense.embeddings @ q_emb, strict=True))
    rows = mine_hybrid(pairs, bm25, dense, minilm.model, {}, bm25_weight=0.0, **args)
    assert len(rows) == 4
    for t in rows:  # the dense teacher alone: its margins are the base model's own cosine gaps
        assert t.margin == pytest.approx(cosine["d1"] - cosine[t.negative], abs=1e-4)
    hybrid = mine_hybrid(pairs, bm25, dense, minilm.model, {}, bm25_weight=0.5, **args)
    assert all(t.margin is not None and t.margin >= 0 for t in hybrid), "negatives below the positive: gaps >= 0"
    assert {t.margin for t in hybrid} != {t.margin for t in rows}, "BM25 moves the teacher's margins"
    lexical = mine_hybrid(pairs, bm25, None, None, {}, bm25_weight=1.0, **args)
    assert lexical and all(t.negative and t.margin is None for t in lexical), "BM25 alone has no cosine scale"


def test_for_distillation_negatives_are_drawn_from_the_whole_top_of_the_teacher_whatever_their_margin(
    tmp_path, beir_dir, minilm
):
    from nbutils.mine import mine, mine_hybrid
    from nbutils.workspace import dense_index

    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out")})
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    pairs = [Pair("why do cats purr", "d1", "gold", "train split"), Pair("big planet", "d5", "gold", "train split")]
    dense, bm25 = dense_index(minilm, ws, tmp_path / "emb"), bm25_index(ws)
    args = {"per_query": 1, "range_min": 3, "range_max": 4, "margin": 50.0}  # ignored when drawing
    drawn = mine_hybrid(pairs, bm25, dense, minilm.model, {}, draw=3, seed=7, **args)
    assert [t.query for t in drawn] == ["why do cats purr"] * 3 + ["big planet"] * 3
    assert {t.neg_rank for t in drawn} <= {1, 2, 3, 4} and min(t.neg_rank for t in drawn) <= 3, "ranks 1-3 too"
    assert all(t.margin is not None for t in drawn) and min(t.margin for t in drawn) < 50.0
    assert drawn == mine_hybrid(pairs, bm25, dense, minilm.model, {}, draw=3, seed=7, **args), "seeded"
    assert mine_hybrid(pairs, bm25, dense, minilm.model, {}, **args) == [
        Triple(p.query, p.positive, p.source, p.origin) for p in pairs
    ], "without draw the margin keeps every candidate out"
    distil = params.replace(loss="marginmse", distill_negatives=2, base_model=minilm.resolved.location)
    rows = mine(distil, ws, pairs, {}, tmp_path / "emb")
    assert len(rows) == 4 and all(t.margin is not None for t in rows)


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_teacher_scores_in_query_batches_equal_one_query_at_a_time(tmp_path, beir_dir, minilm, monkeypatch, weight):
    import nbutils.mine.negatives as negatives
    from nbutils.models import encode
    from nbutils.workspace import dense_index

    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out")})
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    bm25, dense = bm25_index(ws), dense_index(minilm, ws, tmp_path / "emb")
    queries = ["why do cats purr", "telescope lenses", "bread and yeast", "the largest planet", "green tea"]
    q_emb = encode(minilm.model, queries, kind="query", progress=False)
    one_by_one = []
    for q, e in zip(queries, q_emb, strict=True):
        scores = negatives._z(dense.embeddings @ e)
        if weight >= 1:
            scores = negatives._z(bm25.scores(q))
        elif weight > 0:
            scores = weight * negatives._z(bm25.scores(q)) + (1 - weight) * scores
        one_by_one.append((scores, None if weight >= 1 else float((dense.embeddings @ e).std())))
    monkeypatch.setattr(negatives, "TEACHER_BLOCK_BYTES", 4 * len(bm25.ids) * 2)  # two queries a batch
    batched = list(negatives._teacher_scores(queries, q_emb, bm25, dense, weight))
    assert len(batched) == len(queries)
    for (got, scale), (want, spread) in zip(batched, one_by_one, strict=True):
        assert np.allclose(got, want, atol=1e-5) and list(np.argsort(-got)[:3]) == list(np.argsort(-want)[:3])
        assert scale == spread if spread is None else scale == pytest.approx(spread, rel=1e-4)


def test_false_negative_estimate_finds_an_unlabelled_positive(tmp_path, beir_dir):
    from nbutils.mine import false_negative_estimate

    with (beir_dir / "qrels" / "train.tsv").open("a") as f:
        f.write("q1\td2\t1\n")  # q1 ("why do cats purr") has two relevant passages: d1 and d2
    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "test_fraction": 0.0, "dev_fraction": 0.0}
    )
    params = params.replace(mine_teacher="bm25", mine_range_min=0, mine_margin=-100.0, negatives_per_query=4)
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    summary, examples = false_negative_estimate(params, ws, tmp_path / "emb")
    assert summary["queries"] == 1 and summary["false_negatives"] == 1
    assert examples[0]["mined negative (gold-relevant)"] == "d2"


def test_false_negative_estimate_mines_nothing_for_in_batch_training(tmp_path, beir_dir, monkeypatch):
    import nbutils.mine
    import nbutils.workspace
    from nbutils.mine import examples, false_negative_estimate

    with (beir_dir / "qrels" / "train.tsv").open("a") as f:
        f.write("q1\td2\t1\n")
    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "test_fraction": 0.0, "dev_fraction": 0.0}
    )
    params = params.replace(negatives_per_query=0)
    ws = prepare_workspace(params, DomainPaths.from_params(params))

    def no_teacher(*args, **kwargs):
        raise AssertionError("no teacher is needed when nothing is mined")

    monkeypatch.setattr(nbutils.mine.negatives, "_teacher", no_teacher)
    monkeypatch.setattr(nbutils.workspace, "bm25_index", no_teacher)
    summary, rows = false_negative_estimate(params, ws, tmp_path / "emb")
    assert summary == {"queries": 1, "negatives": 0, "false_negatives": 0, "rate": None} and rows == []
    assert list(examples([], ws.corpus).columns) == ["query", "positive", "negative", "rank", "source"]


# --------------------------------------------------------------------------- split by document


def test_query_split_is_unchanged_for_the_same_seed():
    # pinned from the query split as it was before split_by existed: a query never changes split
    s = split_queries([f"q{i}" for i in range(20)], 0.2, 0.1, seed=42)
    assert s["dev"] == ["q1"]
    assert s["train"] == ["q0", "q12", "q13", "q16", "q2", "q4", "q7", "q9"]
    assert s["test"] == ["q10", "q11", "q14", "q15", "q17", "q18", "q19", "q3", "q5", "q6", "q8"]


def _chunked_qrels(n_queries: int = 400, n_docs: int = 120) -> dict[str, dict[str, int]]:
    """Queries over chunked documents: most with one relevant passage, some spanning two documents."""
    qrels = {}
    for i in range(n_queries):
        rel = {f"doc{i % n_docs}#sec-{i % 3}": 1}
        if i % 5 == 0:
            rel[f"doc{(i * 7 + 3) % n_docs}#other-0"] = 1
        qrels[f"q{i}"] = rel
    return qrels


def _docs(qrels, ids) -> set[str]:
    return {document_of(p) for q in ids for p in qrels[q]}


def test_document_split_keeps_held_out_documents_apart():
    qrels = _chunked_qrels()
    s = split_by_document(qrels, 0.2, 0.1, seed=5)
    assert not _docs(qrels, s["test"]) & _docs(qrels, s["train"] + s["dev"])
    assert not _docs(qrels, s["dev"]) & _docs(qrels, s["train"])
    assert sorted(s["test"] + s["dev"] + s["train"] + s["excluded"]) == sorted(qrels)
    assert s["excluded"] and all(i % 5 == 0 for i in (int(q[1:]) for q in s["excluded"])), "only spanning queries"
    assert 0.1 < len(s["test"]) / len(qrels) < 0.3 and s["dev"]
    assert s == split_by_document(dict(reversed(qrels.items())), 0.2, 0.1, seed=5)
    assert s != split_by_document(qrels, 0.2, 0.1, seed=6)


def test_document_split_never_moves_a_test_query_into_training_when_labels_are_added():
    qrels = _chunked_qrels()
    before = split_by_document(dict(list(qrels.items())[:200]), 0.2, 0.1, seed=1)
    after = split_by_document(qrels, 0.2, 0.1, seed=1)
    assert set(before["test"]) <= set(after["test"]) | set(after["excluded"])
    assert not set(before["test"]) & set(after["train"] + after["dev"])


def test_document_split_keeps_a_fixed_test_split_and_excludes_queries_on_its_documents():
    qrels = {"t1": {"a#x-0": 1}, "q1": {"a#y-3": 1}, "q2": {"b#x-0": 1}, "q3": {"c#x-0": 1}, "q4": {"d": 1}}
    s = split_by_document(qrels, 0.2, 0.1, seed=0, fixed={"test": ["t1"]})
    assert s["test"] == ["t1"] and s["excluded"] == ["q1"], "q1 shares document a with the fixed test query"
    assert sorted(s["train"] + s["dev"]) == ["q2", "q3", "q4"]


def test_split_by_is_validated_and_lists_the_valid_values():
    from nbutils.config import ParamsError

    with pytest.raises(ParamsError, match="split_by: 'passage' is not allowed; valid: query, document"):
        validate({"split_by": "passage"})


def _docs_folder(tmp_path):
    """Eight Markdown documents of two sections each, and gold questions over them (two span documents)."""
    import json

    folder = tmp_path / "docs"
    folder.mkdir()
    gold = []
    for d in range(8):
        (folder / f"doc{d}.md").write_text(
            f"# Part one\n\nAlpha text {d} about ovens.\n\n# Part two\n\nBeta text {d}.\n"
        )
        gold.append({"id": f"q{d}a", "query": f"alpha {d}", "positives": [f"doc{d}#part-one-0"]})
        gold.append({"id": f"q{d}b", "query": f"beta {d}", "positives": [f"doc{d}#part-two-0"]})
    gold.append({"id": "span1", "query": "alpha zero and one", "positives": ["doc0#part-one-0", "doc1#part-one-0"]})
    gold.append({"id": "span2", "query": "beta six and seven", "positives": ["doc6#part-two-0", "doc7#part-two-0"]})
    (tmp_path / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    return folder, tmp_path / "gold.jsonl"


def test_prepare_workspace_by_document_records_the_mode(tmp_path):
    import json

    folder, gold = _docs_folder(tmp_path)
    raw = {"data_dir": str(folder), "gold_file": str(gold), "outputs_dir": str(tmp_path / "out"), "seed": 3}
    params = validate({**raw, "split_by": "document", "test_fraction": 0.3})
    paths = DomainPaths.from_params(params)
    ws = prepare_workspace(params, paths)
    assert ws.split_by == "document" and ws.splits["test"] and ws.splits["train"]
    assert not _docs(ws.qrels, ws.splits["test"]) & _docs(ws.qrels, ws.splits["train"] + ws.splits["dev"])
    assert sorted(sum(ws.splits.values(), []) + ws.excluded) == sorted(ws.queries)
    saved = json.loads(paths.splits.read_text())
    assert saved["split_by"] == "document" and saved["excluded"] == ws.excluded
    again = load_workspace(paths)
    assert again.split_by == "document" and again.splits == ws.splits and again.excluded == ws.excluded
    by_query = prepare_workspace(validate(raw), DomainPaths.from_params(validate(raw)))
    assert by_query.split_by == "query" and by_query.splits == split_queries(sorted(ws.queries), 0.2, 0.1, seed=3)


def _small_workspace(split_by: str):
    from nbutils.data import Passage
    from nbutils.workspace import Workspace

    ids = ["a#s-0", "a#s-1", "b#s-0", "c#s-0", "d"]
    corpus = {i: Passage(i, i, f"text of {i}") for i in ids}
    queries = {"q1": "what is in section a", "q2": "where is b", "q3": "tell me about c"}
    qrels = {"q1": {"a#s-0": 1}, "q2": {"b#s-0": 1}, "q3": {"c#s-0": 1}}
    return Workspace(corpus, queries, qrels, {"test": ["q1"], "dev": ["q3"], "train": ["q2"]}, split_by=split_by)


def test_leakage_filter_drops_positives_from_held_out_documents_in_document_mode():
    pairs = [
        Pair("an unseen question on the other section", "a#s-1", "synthetic", "generator:llm"),
        Pair("a question on the train document", "b#s-0", "synthetic", "generator:llm"),
        Pair("a question on the dev document", "c#s-0", "clicks", "clicks:2"),
        Pair("a question on an unlabelled document", "d", "synthetic", "generator:title"),
    ]
    kept, dropped = leakage_filter(pairs, _small_workspace("document"), near=0.9)
    assert [p.positive for p in kept] == ["b#s-0", "d"] and [p.positive for p in dropped] == ["a#s-1", "c#s-0"]
    kept, dropped = leakage_filter(pairs, _small_workspace("document"), splits=("test",), near=0.9)
    assert [p.positive for p in dropped] == ["a#s-1"]
    kept, dropped = leakage_filter(pairs, _small_workspace("query"), near=0.9)
    assert kept == pairs and not dropped, "query mode filters questions only"


def test_document_mode_never_samples_or_mines_passages_of_held_out_documents():
    from nbutils.mine import known_positives, mine_hybrid
    from nbutils.retrieval import BM25Index
    from nbutils.synthesize import sample_passages
    from nbutils.workspace import trainable_passages

    ws = _small_workspace("document")
    assert trainable_passages(ws) == {"b#s-0", "d"}, "documents a (test) and c (dev) are held out"
    assert sample_passages(ws, 0, seed=1) == ["b#s-0", "d"]
    assert sample_passages(_small_workspace("query"), 0, seed=1) == sorted(ws.corpus)
    ids, texts = ws.ids_and_texts()
    pairs = [Pair("where is b", "b#s-0", "gold", "train split")]
    args = dict(per_query=5, range_min=0, range_max=5, margin=-100.0, bm25_weight=1.0)
    free = mine_hybrid(pairs, BM25Index(ids, texts), None, None, known_positives(pairs), **args)
    assert {"a#s-0", "c#s-0"} & {t.negative for t in free}, "without the limit held-out passages are candidates"
    limited = mine_hybrid(
        pairs, BM25Index(ids, texts), None, None, known_positives(pairs), allowed=trainable_passages(ws), **args
    )
    assert [t.negative for t in limited] == ["d"]
    none = mine_hybrid(pairs, BM25Index(ids, texts), None, None, known_positives(pairs), **{**args, "per_query": 0})
    assert [(t.positive, t.negative) for t in none] == [("b#s-0", None)], "0 per query: in-batch negatives only"


def test_synthesis_report_counts_held_out_documents_apart_from_held_out_questions(tmp_path):
    from types import SimpleNamespace

    from nbutils.synthesize import build_pairs

    clicks = tmp_path / "clicks.csv"
    clicks.write_text(
        "query,doc_id,clicks\nwhere is b,b#s-0,2\nsomething about the dev document c,c#s-0,3\n", encoding="utf-8"
    )
    params = SimpleNamespace(
        synth_passages=0, seed=0, generators=[], synth_per_passage=1, few_shot=0, clicks_file=str(clicks),
        min_clicks=1, near_duplicate=0.9, q_min_words=1, q_max_words=40, copy_max_words=0, roundtrip_k=10,
        refit_with_dev=False,
    )  # fmt: skip
    table = build_pairs(_small_workspace("document"), params).report.table().set_index("filter")
    assert table.loc["held-out questions", "dropped"] == 0
    assert table.loc["held-out documents", "dropped"] == 1  # the click on dev document c
    plain = build_pairs(_small_workspace("query"), params).report.table()["filter"].tolist()
    assert "held-out documents" not in plain
    params.refit_with_dev = True  # the refit trains on dev documents too, never on test ones
    refit = build_pairs(_small_workspace("document"), params).refit
    assert sorted((p.positive, p.origin) for p in refit) == [
        ("b#s-0", "clicks:2"),
        ("b#s-0", "train split"),
        ("c#s-0", "clicks:3"),
        ("c#s-0", "dev split"),
    ]


def test_dense_index_with_sentence_windows_is_cached_apart_and_scores_by_the_best_window(tmp_path, minilm):
    from dataclasses import replace

    from nbutils.data import Passage
    from nbutils.workspace import Workspace, corpus_embeddings, dense_index

    text = "The cohort was large. Statins cut strokes. Vitamin D did not prevent fractures. Follow-up was long."
    corpus = {"a": Passage("a", "Cohort", text), "b": Passage("b", "Bones", "Calcium and bone density.")}
    ws = Workspace(corpus, {}, {}, {})
    whole = dense_index(minilm, ws, tmp_path)
    windowed = replace(minilm, window_sentences=2)
    index = dense_index(windowed, ws, tmp_path)
    assert whole.starts is None and list(index.starts) == [0, 4]  # a: itself + 3 windows; b: itself
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2  # one store folder per way of encoding
    assert np.allclose(index.passage_embeddings, whole.embeddings, atol=1e-5)
    assert np.allclose(corpus_embeddings(windowed, ws, tmp_path), whole.embeddings, atol=1e-5)
    again = dense_index(windowed, ws, tmp_path / "nowhere-else")  # a new cache folder encodes again
    assert np.allclose(again.embeddings, index.embeddings, atol=1e-5)
    q = {"q": "vitamin D supplements do not prevent bone fractures"}
    assert index.search(minilm.model, q)["q"]["a"] > whole.search(minilm.model, q)["q"]["a"]
