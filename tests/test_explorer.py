"""The query explorer, driven headlessly: type a query, search, read what each column rendered."""

import html

import pytest

from nbutils.data import Passage
from nbutils.evaluate.explorer import QueryExplorer
from nbutils.models import encode
from nbutils.retrieval import BM25Index, DenseIndex, reciprocal_rank_fusion, weighted_fusion
from tests.conftest import SENTENCES

TEXTS = SENTENCES[:10]
CORPUS = {f"d{i}": Passage(f"d{i}", f"Title {i}", t) for i, t in enumerate(TEXTS)}


@pytest.fixture(scope="module")
def systems(minilm):
    ids = list(CORPUS)
    emb = encode(minilm.model, [CORPUS[i].full_text() for i in ids], progress=False)
    base = (minilm.model, DenseIndex(ids, emb))
    tuned = (minilm.model, DenseIndex(ids, emb[::-1].copy()))  # a different index, so columns must differ
    return base, tuned, BM25Index(ids, [CORPUS[i].full_text() for i in ids])


def _top(run, n):
    return [pid for pid, _ in sorted(run["q"].items(), key=lambda kv: -kv[1])][:n]


def test_typing_a_query_shows_each_systems_top_results(systems):
    base, tuned, bm25 = systems
    explorer = QueryExplorer(base, tuned, bm25, CORPUS, fusion_weight=0.3, top=3)
    query = "which planet is the biggest"
    explorer.text.value = query  # what pressing Enter in the text box does
    q = {"q": query}
    base_run, tuned_run = base[1].search(base[0], q), tuned[1].search(tuned[0], q)
    expected = {
        "base": _top(base_run, 3),
        "fine-tuned": _top(tuned_run, 3),
        "hybrid": _top(weighted_fusion([tuned_run, bm25.search(q)], [0.7, 0.3]), 3),
    }
    assert explorer.results == expected
    assert explorer.results["base"][0] == "d4" and explorer.results["base"] != explorer.results["fine-tuned"]
    for column, ids in expected.items():
        rendered = explorer.columns[column].value
        assert [rendered.index(f"<code>{pid}</code>") for pid in ids] == sorted(
            rendered.index(f"<code>{pid}</code>") for pid in ids
        )  # in rank order
        assert all(html.escape(CORPUS[pid].full_text().replace("\n", " ")[:20]) in rendered for pid in ids)
    assert "weighted, bm25 weight 0.3" in explorer.columns["hybrid"].value
    assert html.escape(query) in explorer.status.value


def test_search_button_without_a_tuned_weight_shows_rrf_and_empty_query_clears(systems):
    base, tuned, bm25 = systems
    explorer = QueryExplorer(base, tuned, bm25, CORPUS, top=2)
    explorer.text.value = "glaciers of ice"
    explorer.results, explorer.columns["hybrid"].value = {}, ""
    explorer.search.click()  # the button searches again for the text box's query
    q = {"q": "glaciers of ice"}
    rrf = reciprocal_rank_fusion([tuned[1].search(tuned[0], q), bm25.search(q)])
    assert explorer.results["hybrid"] == _top(rrf, 2) and "RRF" in explorer.columns["hybrid"].value
    explorer.text.value = "  "
    assert explorer.results == {"base": [], "fine-tuned": [], "hybrid": []}
    assert explorer.columns["base"].value == "" and "Type a query" in explorer.status.value


def test_bad_sizes_are_refused(systems):
    base, tuned, bm25 = systems
    with pytest.raises(ValueError, match="top=0"):
        QueryExplorer(base, tuned, bm25, CORPUS, top=0)
