"""The curation panel, driven headlessly, and flags removed from train."""

from nbutils.data import Passage
from nbutils.mine.curation import CurationPanel
from nbutils.pairs import FlagFile, Triple, apply_flags

CORPUS = {k: Passage(k, k.upper(), f"text of {k}") for k in ("a", "b", "c", "d")}
TRIPLES = [
    Triple("q one", "a", "gold", "train split", "b", "hybrid", 4, 0.1),
    Triple("q one", "a", "gold", "train split", "c", "hybrid", 5, 0.0),
    Triple("q two", "b", "gold", "train split", "d", "bm25", 4, 0.2),
]


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
    assert panel.toggles["c"].value is True and panel.toggles["c"].disabled  # shown as flagged
    kept, removed = apply_flags(TRIPLES, FlagFile(tmp_path / "flags.jsonl").pairs())
    assert removed == 2
    assert [(t.query, t.negative) for t in kept] == [("q one", "b"), ("q two", None)]
    assert FlagFile(tmp_path / "flags.jsonl").as_positives() == {"q one": {"c"}, "q two": {"d"}}
