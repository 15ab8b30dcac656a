import numpy as np
import pytest

from nbutils.retrieval import BM25Index, DenseIndex, reciprocal_rank_fusion, weighted_fusion, write_trec
from tests.conftest import COHORT

IDS = ["cat", "dog", "scope", "bread", "planet"]
TEXTS = [
    "Cats purr when they are content and sleep most of the day.",
    "Dogs bark at strangers and need daily walks.",
    "A refracting telescope uses lenses to gather starlight.",
    "Yeast makes bread dough rise before baking in the oven.",
    "Jupiter is the largest planet of the solar system.",
]
QUERIES = {"q1": "purring cats", "q2": "baking bread with yeast", "q3": "telescope lenses", "q4": "the of and"}


@pytest.mark.parametrize("backend", ["bm25s", "rank_bm25"])
def test_bm25_known_answers(backend):
    run = BM25Index(IDS, TEXTS, backend).search(QUERIES, k=3)
    assert next(iter(run["q1"])) == "cat"
    assert next(iter(run["q2"])) == "bread"
    assert next(iter(run["q3"])) == "scope"
    assert run["q4"] == {}  # only stopwords: nothing retrieved
    assert all(s > 0 for r in run.values() for s in r.values())


def test_backends_agree_on_rankings():
    a = BM25Index(IDS, TEXTS, "bm25s").search(QUERIES, k=5)
    b = BM25Index(IDS, TEXTS, "rank_bm25").search(QUERIES, k=5)
    assert {q: list(r)[:1] for q, r in a.items()} == {q: list(r)[:1] for q, r in b.items()}


def test_bm25_from_vocabulary_ids_scores_as_bm25s_does_from_token_strings(tmp_path):
    import bm25s

    from nbutils.builtin import materialize
    from nbutils.data import load_documents
    from nbutils.retrieval import tokenize

    corpus = load_documents(materialize("builtin:python-docs", tmp_path)[0], 80).corpus
    ids, texts = list(corpus), [p.full_text() for p in corpus.values()] + [""]
    ids.append("empty")
    ours = BM25Index(ids, texts)
    reference = bm25s.BM25()
    reference.index([tokenize(t, ours._stemmer) for t in texts], show_progress=False)
    for q in ["how do I catch an exception", "yield generator", "decorator with arguments", "zzzz unknown"]:
        tokens = tokenize(q, ours._stemmer)
        want = np.asarray(reference.get_scores(tokens), dtype=np.float32) if tokens else np.zeros(len(ids))
        assert np.allclose(ours.scores(q), want, atol=1e-6)


def test_bad_backend():
    with pytest.raises(ValueError, match="rank_bm25"):
        BM25Index(IDS, TEXTS, "lucene")


def test_dense_exact_topk_matches_brute_force():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    q = emb[:7] + 0.01
    idx = DenseIndex([f"p{i}" for i in range(50)], emb)
    run = idx.search_embeddings([f"q{i}" for i in range(7)], q, k=5, chunk=3)
    for i in range(7):
        expected = [f"p{j}" for j in np.argsort(-(emb @ q[i]))[:5]]
        assert list(run[f"q{i}"]) == expected


def test_dense_with_real_model(minilm):
    from nbutils.models import encode

    idx = DenseIndex(IDS, encode(minilm.model, TEXTS, progress=False))
    run = idx.search(minilm.model, {"a": "my kitten makes a rumbling sound", "b": "biggest gas giant"}, k=2)
    assert next(iter(run["a"])) == "cat"
    assert next(iter(run["b"])) == "planet"


def test_fusion():
    a = {"q": {"x": 3.0, "y": 2.0, "z": 1.0}}
    b = {"q": {"y": 9.0, "w": 5.0}}
    rrf = reciprocal_rank_fusion([a, b], k=60)
    assert list(rrf["q"])[0] == "y"
    assert rrf["q"]["y"] == pytest.approx(1 / 62 + 1 / 61)
    assert list(weighted_fusion([a, b], [1.0, 0.0])["q"])[:2] == ["x", "y"]
    assert list(weighted_fusion([a, b], [0.0, 1.0])["q"])[0] == "y"


def test_write_trec(tmp_path):
    path = tmp_path / "run.tsv"
    write_trec({"q1": {"a": 0.5, "b": 0.9}}, path, tag="t")
    assert path.read_text().splitlines() == ["q1 Q0 b 1 0.900000 t", "q1 Q0 a 2 0.500000 t"]


def test_passages_with_several_rows_score_as_their_best_row():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(9, 6)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    starts = np.array([0, 3, 4, 8])  # passage rows: 3, 1, 4, 1
    q = rng.normal(size=(5, 6)).astype(np.float32)
    idx = DenseIndex(["a", "b", "c", "d"], emb, starts)
    run = idx.search_embeddings([f"q{i}" for i in range(5)], q, k=4, chunk=2)
    bounds = [*starts, len(emb)]
    for i in range(5):
        best = [max(emb[bounds[j] : bounds[j + 1]] @ q[i]) for j in range(4)]
        assert list(run[f"q{i}"].values()) == pytest.approx(sorted(best, reverse=True), abs=1e-6)
        assert list(run[f"q{i}"]) == [["a", "b", "c", "d"][j] for j in np.argsort(best)[::-1]]
    assert np.array_equal(idx.passage_embeddings, emb[starts])


@pytest.mark.parametrize(
    ("starts", "message"),
    [([0, 3], "3 ids but 2 starts"), ([0, 2, 2], "rise from 0"), ([1, 2, 3], "rise from 0"), ([0, 2, 9], "below")],
)
def test_bad_starts_are_refused(starts, message):
    with pytest.raises(ValueError, match=message):
        DenseIndex(["a", "b", "c"], np.zeros((5, 2), dtype=np.float32), np.array(starts))


def test_best_sentence_window_finds_a_claim_the_whole_passage_dilutes(minilm):
    """A claim about one sentence of a long, mostly unrelated abstract: the whole-passage vector ranks a
    same-topic distractor first, the passage's best window ranks the abstract first."""
    from nbutils.data import Passage
    from nbutils.models import encode, encode_with_windows

    passages = [
        Passage("long", *COHORT),
        Passage("bones", "Bone health", "Calcium intake and bone density in elderly women."),
    ]
    query = {"q": "vitamin D does not prevent fractures in older women"}
    whole = DenseIndex(["long", "bones"], encode(minilm.model, [p.full_text() for p in passages], progress=False))
    rows, starts = encode_with_windows(minilm, passages, size=2, progress=False)
    assert list(starts) == [0, 7] and len(rows) == 8  # the long passage: itself and 6 windows; the short: itself
    windowed = DenseIndex(["long", "bones"], rows, starts)
    assert next(iter(whole.search(minilm.model, query)["q"])) == "bones"
    assert next(iter(windowed.search(minilm.model, query)["q"])) == "long"
    assert np.allclose(windowed.passage_embeddings, whole.embeddings, atol=1e-5)


def _brute_force(emb: np.ndarray, q: np.ndarray, starts, k: int) -> list[list[int]]:
    sims = q @ emb.T
    if starts is not None:
        sims = np.maximum.reduceat(sims, starts, axis=1)
    return [sorted(range(sims.shape[1]), key=lambda i: (-sims[r, i], i))[:k] for r in range(len(q))]


@pytest.mark.parametrize("windows", [False, True])
def test_search_in_blocks_is_exact_and_memory_mapped_indexes_search_the_same(tmp_path, windows):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(500, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    starts = np.sort(rng.choice(np.arange(1, 500), 199, replace=False)) if windows else None
    starts = np.concatenate([[0], starts]) if windows else None
    ids = [f"p{i}" for i in range(200 if windows else 500)]
    q = rng.normal(size=(7, 16)).astype(np.float32)
    expected = [[ids[i] for i in row] for row in _brute_force(emb, q, starts, 25)]
    np.save(tmp_path / "emb.npy", emb)
    mapped = np.load(tmp_path / "emb.npy", mmap_mode="r")
    for embeddings, block in ((emb, 65_536), (emb, 37), (mapped, 50)):
        run = DenseIndex(ids, embeddings, starts).search_embeddings([f"q{i}" for i in range(7)], q, 25, 3, block)
        assert [list(run[f"q{i}"]) for i in range(7)] == expected
