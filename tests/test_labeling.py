"""The labeling panel, driven headlessly through its widgets."""

import json

from nbutils.data import Passage
from nbutils.pairs import Pair
from nbutils.retrieval import BM25Index
from nbutils.synthesize.labeling import GoldFile, LabelingPanel

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


DOCS = "tests/data/docs_nolabels"
QUESTIONS = {  # what a user of the tidepool docs asks, with a word the search finds the answer by
    "token expired 401 what now": "401",
    "how to stop deletions from syncing": "--delete",
    "limit upload speed": "max_upload_kbps",
    "skip files when uploading": ".tideignore",
    "install on ubuntu": "apt",
    "json output for scripts": "--json",
    "where is the config file": "config.toml",
    "too many open files on linux": "inotify",
    "keep only the newest copy on conflicts": "newest",
    "what does exit code 2 mean": "exit",
}


def test_labels_from_the_panel_reach_the_next_decide_run_and_take_over_the_test_split(tmp_path):
    """No labels → the panel (as `python -m nbutils label` opens it) → gold file → the next run uses them."""
    from nbutils.config import validate
    from nbutils.decide import testset
    from nbutils.paths import DomainPaths
    from nbutils.synthesize.labeling import open_panel, write_label_notebook
    from nbutils.workspace import prepare_workspace

    params = validate({"domain": "docs", "data_dir": DOCS, "outputs_dir": str(tmp_path), "gold_test_min": 2})
    paths = DomainPaths.from_params(params)
    ws = prepare_workspace(params, paths)
    assert not ws.queries and testset.plan(ws, params).build, "nothing labelled: a synthetic test set is needed"

    panel = open_panel(params, paths)
    for question, word in QUESTIONS.items():
        panel.search_box.value = question
        panel.search_button.click()
        hits = [pid for pid, _ in panel.marks if word in ws.corpus[pid].full_text()]
        assert hits, f"the search finds the answer to {question!r}"
        for pid, box in panel.marks:
            box.value = pid == hits[0]
        panel.save_marked.click()
    assert len(GoldFile(paths.labels).rows()) == len(QUESTIONS) and panel.accepted == len(QUESTIONS)

    again = prepare_workspace(params, paths)
    assert sorted(again.queries.values()) == sorted(QUESTIONS), "the next run reads every saved label"
    gold_test = again.labelled_split("test")[0]
    assert len(gold_test) >= 2, "some labels land in the test split"
    assert not testset.plan(again, params).build, "enough gold test queries (gold_test_min) replace synthetic ones"
    assert testset.plan(again, validate({**params.values, "gold_test_min": len(gold_test) + 1})).build

    notebook = write_label_notebook(params, paths)  # what `python -m nbutils label docs --no-lab` writes
    import papermill as pm

    ran = pm.execute_notebook(str(notebook), str(tmp_path / "ran.ipynb"), kernel_name="python3", progress_bar=False)
    outputs = json.dumps([c.get("outputs", []) for c in ran["cells"]])
    assert f"**{len(QUESTIONS)}** questions labelled" in outputs and "VBox" in outputs, "progress, then the panel"
