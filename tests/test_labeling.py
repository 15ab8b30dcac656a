"""The labeling panel, driven headlessly through its widgets."""

import json

from nbutils.data import Passage
from nbutils.pairs import Pair
from nbutils.retrieval import BM25Index
from nbutils.synthesize.labeling import GoldFile, LabelingPanel, label_id

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
    assert len(gold.rows()) == 1 and "mark at least one" in panel.message.value
    assert panel.status is panel.message  # the older name of the message line
    panel.marks[0][1].value = True
    panel.save_marked.click()
    assert gold.rows()[-1]["positives"] == ["c"] and gold.rows()[-1]["query"] == "bread dough"


def _panel(tmp_path, candidates=None, corpus=CORPUS, k=2):
    bm25 = BM25Index(list(corpus), [p.full_text() for p in corpus.values()])
    return LabelingPanel(corpus, GoldFile(tmp_path / "work" / "gold.jsonl"), candidates, bm25, k=k)


CANDIDATES = [Pair("why do cats purr", "a", "synthetic", "generator:llm"), Pair("bad q", "b", "synthetic", "x")]


def test_saving_from_search_keeps_the_edit_of_the_question_under_review(tmp_path):
    panel = _panel(tmp_path, CANDIDATES)
    panel.question.value = "why does my cat purr"  # an edit, not accepted yet
    panel.search("bread dough")
    panel.marks[0][1].value = True
    panel.save_marked.click()
    assert panel.gold.rows()[-1]["query"] == "bread dough"
    assert panel.question.value == "why does my cat purr" and panel.current.positive == "a", "the edit survives"
    assert "1 label saved" in panel.counters.value and "saved new question" in panel.message.value
    panel.accept.click()
    assert [r["query"] for r in panel.gold.rows()] == ["bread dough", "why does my cat purr"]


def test_a_question_saved_twice_is_one_row_with_the_passages_merged(tmp_path):
    panel = _panel(tmp_path, k=3)
    panel.search("cats, dogs and bread")
    ticked = {"a"}
    for pid, box in panel.marks:
        box.value = pid in ticked
    panel.save_marked.click()
    assert "saved new question" in panel.message.value
    for pid, box in panel.marks:
        box.value = pid in {"a", "b", "c"}
    panel.save_marked.click()
    rows = panel.gold.rows()
    assert len(rows) == 1 and rows[0]["id"] == label_id("cats, dogs and bread")
    assert rows[0]["positives"][0] == "a" and sorted(rows[0]["positives"]) == ["a", "b", "c"], "union, order kept"
    assert "added 2 passages to an existing question" in panel.message.value
    assert "1 question in" in panel.counters.value and "2 labels saved" in panel.counters.value

    saved = panel.gold.save("Cats  dogs and bread?", ["b"])  # the same question, normalised: nothing new
    assert saved.action == "unchanged" and saved.new == [] and len(panel.gold.rows()) == 1
    assert panel.gold.save("a new one", ["c"]).action == "added"


def test_review_accepts_of_one_question_merge_too(tmp_path):
    cands = [Pair("why do cats purr", "a", "synthetic", "x"), Pair("Why do cats purr?", "b", "synthetic", "x")]
    panel = _panel(tmp_path, cands)
    panel.accept.click()
    panel.accept.click()
    assert [r["positives"] for r in panel.gold.rows()] == [["a", "b"]]
    assert "added 1 passage to an existing question" in panel.message.value


def test_merging_rewrites_the_file_keeping_every_other_line(tmp_path):
    path = tmp_path / "gold.jsonl"
    mine = label_id("why do cats purr")
    lines = [
        json.dumps({"id": "q7", "query": "user row", "positives": ["c"], "extra": 1}),
        json.dumps({"query": "no id: its id comes from its line number", "doc_id": "b"}),
        json.dumps({"id": mine, "query": "why do cats purr", "positives": ["a"], "source": "manual"}),
        "",
        json.dumps({"id": "q8", "query": "another user row", "positives": ["a", "b"]}),
        json.dumps({"id": mine, "query": "why do cats purr", "positives": ["c"], "source": "manual"}),  # old copy
    ]
    path.write_text("\n".join(lines) + "\n" + '{"id": "torn', encoding="utf-8")
    saved = GoldFile(path).save("why do cats purr", ["b", "a"], source="manual-search")
    assert saved.action == "merged" and saved.new == ["b"]
    after = path.read_text(encoding="utf-8").split("\n")
    assert after[:2] == lines[:2] and after[3:5] == lines[3:5], "other rows untouched, in place"
    assert json.loads(after[2]) == {
        "id": mine,
        "query": "why do cats purr",
        "positives": ["a", "c", "b"],
        "source": "manual",
    }
    assert after[5] == "", "the later copy is folded into the first and blanked: line numbers stay"
    assert after[6:] == ['{"id": "torn', ""], "a torn last line stays ignored, on a line of its own"
    assert [r.get("id") for r in GoldFile(path).rows()] == ["q7", None, mine, "q8"]
    assert not list(tmp_path.glob("*.tmp")), "written through a temporary file renamed over it"


def test_a_new_question_after_a_torn_last_line_is_not_glued_to_it(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"id": "q1", "query": "q", "positives": ["a"]}) + '\n{"id": "to', encoding="utf-8")
    GoldFile(path).append("why do dogs bark", ["b"])
    assert [r["id"] for r in GoldFile(path).rows()] == ["q1", label_id("why do dogs bark")]


def test_enter_in_the_search_box_searches_once(tmp_path):
    panel = _panel(tmp_path)
    calls = []
    search = panel.bm25.search
    panel.bm25.search = lambda queries, k: calls.append(queries) or search(queries, k=k)
    assert panel.search_box.continuous_update is False, "the value arrives when Enter is pressed"
    panel.search_box.value = "bread dough"  # what Enter sends
    assert panel.marks and panel.marks[0][0] == "c" and len(calls) == 1
    panel.search_button.click()  # the click after the box lost focus: same query, no second search
    assert len(calls) == 1
    assert panel.search("why dogs bark")[0] == "b" and len(calls) == 2


def test_ticked_passages_survive_a_new_search(tmp_path):
    panel = _panel(tmp_path, k=1)
    panel.search("bread dough")
    panel.marks[0][1].value = True
    assert panel.search("dogs bark") == ["c", "b"] and [box.value for _, box in panel.marks] == [True, False]


def test_a_hit_shows_enough_text_to_judge_in_a_scroll_box(tmp_path):
    long = " ".join(f"word{i}" for i in range(400))
    corpus = {**CORPUS, "d": Passage("d", "Manual", "Manual\n" + long), "e": Passage("e", "Manual", "short one", "12")}
    panel = _panel(tmp_path, corpus=corpus, k=5)
    panel.search("word1 word2 manual")
    hits = dict(zip([pid for pid, _ in panel.marks], panel.results.children, strict=False))
    box, text = hits["d"].children
    assert box.description == "d · Manual"
    shown = text.value.split(">", 1)[1].rsplit("<", 1)[0]
    assert len(shown) >= 400 and shown.endswith("…") and shown.startswith("word0"), "the title is not repeated"
    assert text.layout.max_height and text.layout.overflow == "auto", "a fixed-height scroll box"
    assert "short one" in hits["e"].children[1].value and "…" not in hits["e"].children[1].value
    assert hits["e"].children[0].description == "e · Manual · p. 12", "a PDF passage says its page"


def test_counters_stay_while_an_error_shows_and_the_next_action_clears_it(tmp_path):
    panel = _panel(tmp_path, CANDIDATES)
    assert "0/2 candidates reviewed" in panel.counters.value and "work/gold.jsonl" in panel.counters.value
    assert str(tmp_path) not in panel.counters.value, "the gold file is named by its folder, not its full path"
    panel.question.value = "  "
    panel.accept.click()
    assert "the question is empty" in panel.message.value and "#b00" in panel.message.value
    assert "0/2 candidates reviewed" in panel.counters.value, "the counters stay"
    assert panel.current.positive == "a", "nothing saved, the candidate stays"
    panel.question.value = "why do cats purr"
    panel.accept.click()
    assert "saved new question" in panel.message.value and "#b00" not in panel.message.value
    assert "1/2 candidates reviewed" in panel.counters.value
    panel.save_marked.click()  # nothing searched, nothing marked
    assert "the question is empty" in panel.message.value
    panel.reject.click()
    assert panel.message.value == "" and "2/2 candidates reviewed · 1 label saved · 1 rejected" in panel.counters.value


def test_the_review_buttons_sit_above_a_fixed_height_passage_and_buttons_fit_their_labels(tmp_path):
    panel = _panel(tmp_path, CANDIDATES)
    review = panel.widget.children[1].children
    assert review.index(panel.question) < review.index(panel.passage)
    assert any(panel.accept in getattr(c, "children", ()) for c in review[: review.index(panel.passage)])
    assert panel.passage.layout.height and panel.passage.layout.overflow == "auto"
    for button in (panel.accept, panel.reject, panel.search_button, panel.save_marked):
        assert button.layout.width == "auto"


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
