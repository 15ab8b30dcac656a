"""Cross-encoder rescoring of mined negatives, with a real (small) cross-encoder."""

import numpy as np
import pytest

from nbutils.config import ParamsError, validate
from nbutils.mine import CrossEncoderRescorer, known_positives, mine
from nbutils.pairs import Pair
from nbutils.paths import DomainPaths
from nbutils.workspace import prepare_workspace
from tests.conftest import BEES


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory):
    """A cross-encoder folder: MiniLM with a seeded, untrained scoring head (real model, real code path)."""
    import torch
    from sentence_transformers import CrossEncoder

    from nbutils.models import resolve_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ce") / "cross-encoder"
    CrossEncoder(resolve_model("sentence-transformers/all-MiniLM-L6-v2").location, num_labels=1).save_pretrained(
        str(path)
    )
    return path


def _setup(tmp_path, beir_dir, **extra):
    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "mine_teacher": "bm25", **extra}
    )
    params = params.replace(test_fraction=0.0, dev_fraction=0.0)
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    return params, ws


def test_cross_encoder_rescores_the_teacher_candidates(tmp_path, beir_dir, cross_encoder_dir):
    params, ws = _setup(
        tmp_path, beir_dir, mine_rescorer=str(cross_encoder_dir), mine_range_min=0, mine_range_max=5, mine_margin=-9.0
    )
    params = params.replace(negatives_per_query=4)
    pairs = [Pair("why do cats purr", "d1", "gold", "train split")]
    triples = mine(params, ws, pairs, known_positives(pairs, ws.corpus), tmp_path / "emb")
    assert all(t.neg_source == "bm25+cross-encoder" for t in triples)
    negs = [t.negative for t in triples]
    assert negs and "d1" not in negs and None not in negs
    judge = CrossEncoderRescorer.load(str(cross_encoder_dir), ws.corpus)
    expected = judge.scores("why do cats purr", negs)
    np.testing.assert_allclose([t.neg_score for t in triples], expected, rtol=1e-4)
    assert [t.neg_score for t in triples] == sorted((t.neg_score for t in triples), reverse=True), "hardest first"


def test_cross_encoder_margin_drops_close_calls(tmp_path, beir_dir, cross_encoder_dir):
    params, ws = _setup(tmp_path, beir_dir, mine_rescorer=str(cross_encoder_dir), mine_range_min=0, mine_margin=50.0)
    pairs = [Pair("why do cats purr", "d1", "gold", "train split")]
    triples = mine(params, ws, pairs, known_positives(pairs, ws.corpus), tmp_path / "emb")
    assert [t.negative for t in triples] == [None], "no candidate scores 50 z below the positive"


def test_missing_rescorer_folder_is_named_before_any_work(tmp_path, beir_dir):
    with pytest.raises(ParamsError, match="mine_rescorer.*does not exist"):
        validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path), "mine_rescorer": "./no-such-model"})


def test_relative_rescorer_folder_is_resolved_against_the_params_file(tmp_path, beir_dir, cross_encoder_dir):
    params = validate(
        {"data_dir": str(beir_dir), "mine_rescorer": cross_encoder_dir.name}, base=cross_encoder_dir.parent
    )
    assert params.values["mine_rescorer"] == str(cross_encoder_dir.resolve())
    hub = validate({"data_dir": str(beir_dir), "mine_rescorer": "cross-encoder/ms-marco-MiniLM-L6-v2"})
    assert hub.values["mine_rescorer"] == "cross-encoder/ms-marco-MiniLM-L6-v2", "hub ids are left as they are"


# ---------------------------------------------------------------- windows of long passages


def test_mining_gives_long_passages_the_window_closest_to_the_query(tmp_path, beir_dir):
    from nbutils.data import Passage
    from nbutils.models import passage_windows

    params, ws = _setup(tmp_path, beir_dir, long_passages="windows", max_seq_length=64)
    ws.corpus["bees"] = Passage("bees", "Honey bees", " ".join(BEES))
    params = params.replace(negatives_per_query=1, mine_range_min=0, mine_margin=-9.0)
    pairs = [Pair("what threatens managed bee colonies", "bees", "gold", "train split")]
    pairs.append(Pair("why do cats purr", "d1", "gold", "train split"))
    triples = mine(params, ws, pairs, known_positives(pairs, ws.corpus), tmp_path / "emb")
    bees = next(t for t in triples if t.positive == "bees")
    windows = passage_windows(ws.corpus["bees"].full_text(), _tokenizer(), 64)
    assert len(windows) > 1 and bees.positive_text == windows[-1] and "Varroa" in bees.positive_text
    cats = next(t for t in triples if t.positive == "d1")
    assert cats.positive_text is None  # a passage that fits is used whole

    params = params.replace(long_passages="truncate")
    plain = mine(params, ws, pairs, known_positives(pairs, ws.corpus), tmp_path / "emb")
    assert all(t.positive_text is None and t.negative_text is None for t in plain)


def test_sentence_windows_give_positive_and_negative_their_sentences_closest_to_the_query(minilm):
    from nbutils.data import Passage
    from nbutils.mine import choose_windows
    from nbutils.pairs import Triple

    corpus = {
        "bees": Passage("bees", "Honey bees", " ".join(BEES)),
        "hive": Passage("hive", "Hives", " ".join(BEES[:4])),
        "cats": Passage("cats", "Cats", "Cats purr. They sleep."),  # two sentences: one window, used whole
    }
    rows = [
        Triple("what threatens managed bee colonies", "bees", "gold", "train split", "hive", "hybrid", 3, 1.0),
        Triple("why do cats purr", "cats", "gold", "train split", "bees", "hybrid", 4, 0.5),
    ]
    bees, cats = choose_windows(rows, corpus, minilm.model, progress=False, sentences=2)
    assert bees.positive_text == f"Honey bees\n{BEES[-2]} {BEES[-1]}"  # the varroa sentence, with its neighbour
    assert bees.negative_text.startswith("Hives\n") and bees.negative_text.count(".") == 2
    assert cats.positive_text is None and cats.negative_text.startswith("Honey bees\n")
    assert choose_windows(rows, corpus, minilm.model, progress=False, sentences=9) == rows  # nothing longer


def _tokenizer():
    from nbutils.models import load_encoder

    return load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu", 64).model.tokenizer


def test_training_rows_use_the_chosen_window_and_it_changes_the_fingerprint():
    from dataclasses import replace

    from nbutils.data import Passage
    from nbutils.pairs import Triple
    from nbutils.train import build_datasets, data_hash

    corpus = {"bees": Passage("bees", "Honey bees", " ".join(BEES)), "d1": Passage("d1", "Cats", "Cats purr.")}
    whole = Triple("what threatens bee colonies", "bees", "gold", "train split", "d1", "bm25", 3, 1.0)
    window = replace(whole, positive_text="Honey bees\n" + BEES[-1])
    rows = build_datasets([window], corpus, loss="mnrl")["hard"]
    assert rows["positive"] == ["Honey bees\n" + BEES[-1]] and rows["negative_1"] == ["Cats\nCats purr."]
    assert build_datasets([whole], corpus, loss="mnrl")["hard"]["positive"] == [corpus["bees"].full_text()]
    assert data_hash([window]) != data_hash([whole])


def test_summary_counts_windows():
    from nbutils.mine import summary
    from nbutils.pairs import Triple

    rows = [
        Triple("q", "a", "gold", "x", "b", "bm25", 3, 1.0, positive_text="A window", negative_text="B window"),
        Triple("q", "a", "gold", "x", "c", "bm25", 4, 0.5, positive_text="A window"),
        Triple("r", "d", "gold", "x"),
    ]
    out = summary(rows)
    assert (out["pairs"], out["negatives"], out["positives_as_window"], out["negatives_as_window"]) == (2, 2, 1, 1)
    assert "positives_as_window" not in summary(rows[2:])


def test_a_malformed_training_file_names_its_line(tmp_path):
    """Triples and pairs files read back as written; a broken line is reported with file and line."""
    from nbutils.pairs import Triple, load_pairs, load_triples, save_pairs, save_triples

    rows = [Triple("q one", "p1", "gold", "train split", "p2", "bm25", 4, 1.5), Triple("q two", "p3", "gold", "x")]
    save_triples(rows, tmp_path / "t.jsonl")
    assert load_triples(tmp_path / "t.jsonl") == rows
    save_pairs([Pair("q", "p1", "gold", "train split")], tmp_path / "p.jsonl")
    assert load_pairs(tmp_path / "p.jsonl") == [Pair("q", "p1", "gold", "train split")]

    good = (tmp_path / "t.jsonl").read_text()
    for broken, says in [
        ('{"query": "q", "positive": \n', r"t\.jsonl:3: not valid JSON"),
        ('{"query": "q", "positive": "p", "source": "gold", "origin": "x", "negtive": "p9"}\n', r":3: unknown keys"),
        ('{"query": "q", "positive": "p"}\n', r":3: missing keys \['source', 'origin'\]"),
        ("[1, 2]\n", r":3: not a JSON object"),
    ]:
        (tmp_path / "t.jsonl").write_text(good + broken)
        with pytest.raises(ValueError, match=says):
            load_triples(tmp_path / "t.jsonl")
    with pytest.raises(FileNotFoundError, match=r"training pairs not found: .*run the synthesize stage first"):
        load_pairs(tmp_path / "missing.jsonl")


def test_the_report_states_what_the_miner_was_asked():
    from nbutils.mine import setting

    text = setting(validate({"domain": "x", "negatives_per_query": 3, "mine_range_min": 3, "mine_range_max": 40}))
    assert "**3** negatives" in text and "ranks 4–40" in text and "**hybrid** teacher" in text
    none = setting(validate({"domain": "x", "negatives_per_query": 0, "long_passages": "windows"}))
    assert "in-batch negatives only" in none and "window" in none
