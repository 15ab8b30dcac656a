"""The labeling panel, driven headlessly through its widgets."""

import json

from nbutils.data import Passage
from nbutils.labeling import GoldFile, LabelingPanel
from nbutils.pairs import Pair
from nbutils.retrieval import BM25Index

CORPUS = {
    "a": Passage("a", "Cats", "Cats purr when content."),
    "b": Passage("b", "Dogs", "Dogs bark at strangers."),
    "c": Passage("c", "Bread", "Yeast makes dough rise."),
}


def test_accept_edit_reject_and_search(tmp_path):
    gold = GoldFile(tmp_path / "gold.jsonl")
    cands = [
        Pair("why do cats purr", "a", "synthetic", "generator:llm"),
        Pair("bad q", "b", "synthetic", "generator:llm"),
    ]
    bm25 = BM25Index(list(CORPUS), [p.full_text() for p in CORPUS.values()])
    panel = LabelingPanel(CORPUS, gold, cands, bm25, k=2)
    assert panel.question.value == "why do cats purr" and "Cats purr" in panel.passage.value

    panel.question.value = "why does my cat purr"  # edit, then accept
    panel.accept.click()
    rows = [json.loads(line) for line in (tmp_path / "gold.jsonl").read_text().splitlines()]
    assert rows == [{"id": rows[0]["id"], "query": "why does my cat purr", "positives": ["a"], "source": "manual"}]

    panel.reject.click()
    assert panel.current is None and panel.rejected == 1 and len(gold.rows()) == 1

    panel.search_box.value = "bread dough"
    panel.search_button.click()
    assert [pid for pid, _ in panel.marks][0] == "c"
    panel.save_marked.click()  # nothing marked: refused, nothing written
    assert len(gold.rows()) == 1 and "mark at least one" in panel.status.value
    panel.marks[0][1].value = True
    panel.save_marked.click()
    assert gold.rows()[-1]["positives"] == ["c"] and gold.rows()[-1]["query"] == "bread dough"


def test_labels_feed_the_next_run(tmp_path, beir_dir):
    from nbutils.config import validate
    from nbutils.paths import DomainPaths
    from nbutils.workspace import prepare_workspace

    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "o")})
    paths = DomainPaths.from_params(params)
    GoldFile(paths.labels).append("how do telescopes use lenses", ["d3"])
    ws = prepare_workspace(params, paths)
    assert "how do telescopes use lenses" in ws.queries.values()
