"""Encoding passages longer than the model's window: truncated, or in windows whose embeddings are averaged."""

import numpy as np
import pytest

from nbutils.models import encode, load_encoder, passage_windows
from tests.conftest import BEES, SENTENCES

TITLE = "Honey bees"
SENTENCES_ABOUT_BEES = BEES
LONG = TITLE + "\n" + " ".join(SENTENCES_ABOUT_BEES)


def tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text)["input_ids"])  # with the special tokens the model adds


def test_a_passage_that_fits_is_its_only_window(minilm):
    text = "Cats\nCats purr when they are content."
    assert passage_windows(text, minilm.model.tokenizer, 64) == [text]


def test_long_passage_windows_fit_cover_every_sentence_and_overlap(minilm):
    tok = minilm.model.tokenizer
    assert tokens(tok, LONG) > 64
    windows = passage_windows(LONG, tok, 64)
    assert len(windows) >= 3
    assert all(tokens(tok, w) <= 64 for w in windows)
    assert all(w.startswith(TITLE + "\n") for w in windows)
    for sentence in SENTENCES_ABOUT_BEES:
        assert any(sentence in w for w in windows), sentence
    for a, b in zip(windows, windows[1:], strict=False):
        last_of_a = a.rsplit(". ", 1)[-1]
        assert last_of_a in b  # consecutive windows share a sentence


def test_a_sentence_longer_than_the_window_is_cut_by_words(minilm):
    tok = minilm.model.tokenizer
    run_on = " ".join(f"word{i}" for i in range(120))
    windows = passage_windows("Title\n" + run_on, tok, 32)
    assert len(windows) > 2 and all(tokens(tok, w) <= 34 for w in windows)
    words = [w for window in windows for w in window.split("\n", 1)[1].split()]
    assert set(words) == set(run_on.split())


def test_a_long_first_line_is_not_repeated_as_a_heading(minilm):
    text = " ".join(SENTENCES_ABOUT_BEES[:4]) + "\n" + " ".join(SENTENCES_ABOUT_BEES[4:])
    windows = passage_windows(text, minilm.model.tokenizer, 64)
    assert sum(w.startswith(SENTENCES_ABOUT_BEES[0]) for w in windows) == 1


def test_window_encoding_is_the_normalised_mean_of_the_windows(minilm):
    model = minilm.model
    short = "Cats\nCats purr when they are content."
    got = encode(model, [short, LONG], progress=False, windows=True)
    truncated = encode(model, [short, LONG], progress=False)
    assert np.allclose(got[0], truncated[0], atol=1e-5)  # short passages are encoded as before
    parts = encode(model, passage_windows(LONG, model.tokenizer, model.max_seq_length), progress=False)
    mean = parts.mean(axis=0)
    assert np.allclose(got[1], mean / np.linalg.norm(mean), atol=1e-5)
    assert not np.allclose(got[1], truncated[1], atol=1e-3)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_windows_find_what_truncation_cuts_off(minilm):
    """The last sentence lies beyond the 64-token window: only window encoding lets the query reach it."""
    model = minilm.model
    distractor = TITLE + "\n" + " ".join(SENTENCES_ABOUT_BEES[:4])
    query = encode(model, ["what threatens managed bee colonies, varroa mites"], kind="query", progress=False)[0]
    for windows, expected in ((False, False), (True, True)):
        docs = encode(model, [distractor, LONG], progress=False, windows=windows)
        gap = float(docs[1] @ query - docs[0] @ query)
        assert (gap > 0.02) is expected, (windows, gap)


def test_unknown_long_passages_value_lists_the_valid_ones():
    with pytest.raises(ValueError, match="truncate, windows"):
        load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu", 64, long_passages="chunks")


def test_loaded_model_encodes_documents_as_loaded(minilm):
    from dataclasses import replace

    windowed = replace(minilm, long_passages="windows")
    assert windowed.windows and not minilm.windows
    assert np.allclose(windowed.encode_documents([LONG], progress=False), encode(minilm.model, [LONG], windows=True))
    assert "windows" in windowed.describe()
    in_training = replace(minilm, resolved=None)  # scored during training: no folder to name yet
    assert in_training.describe().startswith("a model in training (device: cpu")
    assert minilm.describe().startswith(minilm.resolved.describe())


def test_weight_bars_are_quiet_in_reports_but_other_bars_and_hooks_stay(minilm, tmp_path, capsys):
    from transformers.utils import logging as hf_logging

    from nbutils.models import quiet_weight_bars

    seen = []
    previous = hf_logging.set_tqdm_hook(
        lambda factory, args, kwargs: seen.append(kwargs.get("desc")) or factory(*args, **kwargs)
    )
    try:
        quiet_weight_bars()
        quiet_weight_bars()  # a second call does not wrap twice
        hf_logging.enable_progress_bar()
        assert hf_logging.tqdm(range(2), desc="Writing model shards").disable
        assert not hf_logging.tqdm(range(2), desc="Downloading").disable
        assert seen == ["Writing model shards", "Downloading"]  # the user's hook still sees every bar
        capsys.readouterr()
        minilm.model.save_pretrained(str(tmp_path / "m"))
        assert "Writing model shards" not in capsys.readouterr().err
    finally:
        hf_logging.set_tqdm_hook(previous)
        quiet_weight_bars()


def test_sentence_windows_slide_one_sentence_at_a_time_under_the_title():
    from nbutils.models import sentence_windows

    text = "Mice were fed fat (n = 12). Weight rose, e.g. by a third. Insulin fell! Why? [1] Unclear."
    assert sentence_windows("Diet", text, 2) == [
        "Diet\nMice were fed fat (n = 12). Weight rose, e.g. by a third.",
        "Diet\nWeight rose, e.g. by a third. Insulin fell!",
        "Diet\nInsulin fell! Why?",
        "Diet\nWhy? [1] Unclear.",
    ]
    assert sentence_windows("Diet", text, 5) == [f"Diet\n{text}"]  # 5 sentences: one window, the whole text
    assert sentence_windows("", "One. Two. Three.", 2) == ["One. Two.", "Two. Three."]
    assert sentence_windows("Only a title", "", 2) == ["Only a title"]
    with pytest.raises(ValueError, match="at least 1"):
        sentence_windows("t", "x", 0)


@pytest.mark.slow
def test_multi_process_encoding_gives_the_single_process_rows(minilm):
    """The code path that spreads encoding over several GPUs, run on two CPU processes."""
    from nbutils.models import encode, encoding_devices

    texts = [f"{s} number {i}" for i, s in enumerate(SENTENCES * 3)]
    one = encode(minilm.model, texts, 8, progress=False)
    two = encode(minilm.model, texts, 8, progress=False, devices=["cpu", "cpu"])
    assert two.shape == one.shape and np.allclose(one, two, atol=1e-5)
    assert encoding_devices(minilm.model, 10**6) is None, "on a CPU model the default stays one process"
