"""The query explorer, driven headlessly: type a query, search, read what each column rendered."""

import html
import re

import pytest

from nbutils.data import Passage
from nbutils.evaluate.explorer import COLUMNS, QueryExplorer
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


def test_each_hit_shows_its_rank_and_the_score_from_its_run(systems):
    base, tuned, bm25 = systems
    explorer = QueryExplorer(base, tuned, bm25, CORPUS, fusion_weight=0.3, top=3)
    query = "which planet is the biggest"
    explorer.text.value = query
    q = {"q": query}
    tuned_run = tuned[1].search(tuned[0], q)
    runs = {
        "base": base[1].search(base[0], q),
        "fine-tuned": tuned_run,
        "hybrid": weighted_fusion([tuned_run, bm25.search(q)], [0.7, 0.3]),
    }
    for column, run in runs.items():
        assert explorer.scores[column] == pytest.approx({pid: run["q"][pid] for pid in explorer.results[column]})
        rendered = explorer.columns[column].value
        for rank, pid in enumerate(explorer.results[column], 1):
            score = f"{run['q'][pid]:.3f}"
            assert f'data-pid="{pid}" data-rank="{rank}" data-score="{score}"' in rendered
            shown = rf'{rank}\. (<s[^>]*>)?<code>{pid}</code>(</s>)? <span class="nb-explorer-score">{score}</span>'
            assert re.search(shown, rendered)


def test_differences_between_base_and_fine_tuned_are_computed_and_marked(systems):
    base, tuned, bm25 = systems
    explorer = QueryExplorer(base, tuned, bm25, CORPUS, fusion_weight=0.3, top=3)
    explorer.text.value = "which planet is the biggest"
    b, t, h = (set(explorer.results[c]) for c in ("base", "fine-tuned", "hybrid"))
    diff = explorer.differences
    assert diff == {"only_base": b - t, "only_fine_tuned": t - b, "only_hybrid": h - b}
    assert diff["only_base"] and diff["only_fine_tuned"]  # the reversed index makes them differ
    assert "d4" in diff["only_base"]
    columns = {c: explorer.columns[c].value for c in COLUMNS}
    for pid in explorer.results["base"]:
        dropped = f'class="nb-explorer-hit nb-explorer-hit-dropped" data-pid="{pid}"' in columns["base"]
        assert dropped == (pid in diff["only_base"])
    for pid in explorer.results["fine-tuned"]:
        new = f'class="nb-explorer-hit nb-explorer-hit-new" data-pid="{pid}"' in columns["fine-tuned"]
        assert new == (pid in diff["only_fine_tuned"])
    assert columns["base"].count("nb-explorer-dropped") == len(diff["only_base"])
    assert columns["fine-tuned"].count('class="nb-explorer-badge nb-explorer-new"') == len(diff["only_fine_tuned"])
    assert "nb-explorer-dropped" not in columns["fine-tuned"] and "nb-explorer-new" not in columns["base"]
    assert "new" in explorer.legend.value and "dropped" in explorer.legend.value
    explorer.text.value = ""
    assert explorer.differences == {"only_base": set(), "only_fine_tuned": set(), "only_hybrid": set()}
    assert explorer.legend.value == "" and explorer.scores == {c: {} for c in COLUMNS}


def test_layout_is_wide_for_the_query_and_compact_for_the_hits(systems):
    base, tuned, bm25 = systems
    long = dict(CORPUS, d4=Passage("d4", "Title 4", TEXTS[4] + " " + "more words " * 40))
    explorer = QueryExplorer(base, tuned, bm25, long, top=5, width=60)
    assert explorer.text.layout.width == "60%" and explorer.text.continuous_update is False
    assert explorer.search.layout.width == "auto"
    assert "nb-explorer-input" in explorer.text._dom_classes
    assert all("nb-explorer-column" in c._dom_classes for c in explorer.columns.values())
    explorer.text.value = "which planet is the biggest"  # Enter
    assert explorer.results["base"][0] == "d4"
    rendered = explorer.columns["base"].value
    assert "<ol" not in rendered and "<br" not in rendered and "line-height:1.35" in rendered
    hit = rendered[rendered.index('data-pid="d4"') : rendered.index('data-pid="d4"') + 2000].split("</div></div>")[0]
    assert "more words " * 2 in hit and "…" in hit  # cut, with an ellipsis
    assert f'title="{html.escape(long["d4"].full_text().replace(chr(10), " "))[:200]}' in hit  # whole text on hover
    assert rendered.count("more words") < 40 + 10
