"""The curation panel, driven headlessly, and flags removed from train."""

import json
import re

from nbutils.data import Passage
from nbutils.mine.curation import CurationPanel
from nbutils.pairs import FlagFile, Triple, apply_flags

CORPUS = {k: Passage(k, k.upper(), f"text of {k}") for k in ("a", "b", "c", "d")}
TRIPLES = [
    Triple("q one", "a", "gold", "train split", "b", "hybrid", 4, 0.1),
    Triple("q one", "a", "gold", "train split", "c", "hybrid", 5, 0.0),
    Triple("q two", "b", "gold", "train split", "d", "bm25", 4, 0.2),
]


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _count(panel) -> int:
    return int(re.search(r"(\d+) negatives? flagged as relevant", panel.count.value).group(1))


def test_flagging_saves_at_once_and_removes_from_training(tmp_path):
    flags = FlagFile(tmp_path / "flags.jsonl")
    panel = CurationPanel(TRIPLES, CORPUS, flags)
    assert "q one" in panel.header.value and set(panel.toggles) == {"b", "c"}
    panel.toggles["c"].value = True
    assert flags.pairs() == {("q one", "c")}
    panel.next.click()
    assert "q two" in panel.header.value
    panel.toggles["d"].value = True
    panel.prev.click()
    assert panel.toggles["c"].value is True and not panel.toggles["c"].disabled  # shown as flagged, can be undone
    kept, removed = apply_flags(TRIPLES, FlagFile(tmp_path / "flags.jsonl").pairs())
    assert removed == 2
    assert [(t.query, t.negative) for t in kept] == [("q one", "b"), ("q two", None)]
    assert FlagFile(tmp_path / "flags.jsonl").as_positives() == {"q one": {"c"}, "q two": {"d"}}


def test_switching_a_flag_off_saves_an_unflag_that_every_reader_honours(tmp_path):
    path = tmp_path / "work" / "negative_flags.jsonl"
    flags = FlagFile(path)
    panel = CurationPanel(TRIPLES, CORPUS, flags)
    panel.toggles["b"].value = True
    panel.toggles["c"].value = True
    assert panel.toggles["b"].description == "Flagged · undo"
    panel.toggles["b"].value = False  # undo
    assert _rows(path)[-1] == {"query": "q one", "passage": "b", "flag": False}  # append-only: 3 lines
    assert len(_rows(path)) == 3
    assert flags.pairs() == {("q one", "c")}
    assert flags.as_positives() == {"q one": {"c"}}
    kept, removed = apply_flags(TRIPLES, flags.pairs())
    assert removed == 1 and [t.negative for t in kept] == ["b", "d"]
    assert panel.toggles["b"].description == "Flag as relevant" and not panel.toggles["b"].disabled
    panel.toggles["b"].value = True  # and on again: the last line decides
    assert flags.pairs() == {("q one", "b"), ("q one", "c")}

    reopened = CurationPanel(TRIPLES, CORPUS, FlagFile(path))  # e.g. after a kernel restart
    assert reopened.toggles["b"].value is True and reopened.toggles["c"].value is True
    reopened.toggles["c"].value = False
    again = CurationPanel(TRIPLES, CORPUS, FlagFile(path))
    assert again.toggles["c"].value is False and again.toggles["c"].description == "Flag as relevant"


def test_old_flag_lines_without_a_flag_key_still_count_and_can_be_undone(tmp_path):
    path = tmp_path / "flags.jsonl"
    old = [{"query": "Q  One!", "passage": "c"}, {"query": "q two", "passage": "d"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in old) + '{"query": "q one", "pass')  # torn last line
    flags = FlagFile(path)
    assert flags.pairs() == {("q one", "c"), ("q two", "d")}
    panel = CurationPanel(TRIPLES, CORPUS, flags)
    assert panel.toggles["c"].value is True and panel.toggles["b"].value is False
    panel.toggles["c"].value = False
    assert flags.pairs() == {("q two", "d")}  # the unflag was not swallowed by the torn line
    flags.remove("Q TWO", "d")  # normalised like the flag
    assert flags.pairs() == set() and flags.as_positives() == {}


def test_count_line_names_the_file_and_follows_every_change(tmp_path):
    path = tmp_path / "work" / "negative_flags.jsonl"
    panel = CurationPanel(TRIPLES, CORPUS, FlagFile(path))
    assert _count(panel) == 0 and "saved to <code>work/negative_flags.jsonl</code>" in panel.count.value
    assert str(tmp_path) not in panel.count.value
    assert "nb-curation-count" in panel.count._dom_classes
    panel.toggles["b"].value = True
    assert _count(panel) == 1 and "1 negative flagged" in panel.count.value
    panel.toggles["c"].value = True
    assert _count(panel) == 2
    panel.toggles["b"].value = False
    assert _count(panel) == 1


def test_buttons_are_readable_and_text_is_compact_with_an_ellipsis_when_cut(tmp_path):
    corpus = dict(CORPUS, c=Passage("c", "C", "word " * 200))
    panel = CurationPanel(TRIPLES, corpus, FlagFile(tmp_path / "flags.jsonl"), width=50)
    button = panel.toggles["b"]
    assert button.layout.width == "11em" and button.description == "Flag as relevant"
    assert "nb-curation-flag" in button._dom_classes
    row = next(r for r in panel.body.children if r.children[0] is panel.toggles["c"])
    label = row.children[1].value
    assert "…" in label and "word " * 5 in label and label.count("word") < 20
    short = next(r for r in panel.body.children if r.children[0] is panel.toggles["b"]).children[1].value
    assert "text of b" in short and "…" not in short
    for rendered in (label, panel.header.value):
        assert "<pre" not in rendered and "line-height:1.35" in rendered
    assert "max-height:6.75em" in label and "overflow:auto" in label
