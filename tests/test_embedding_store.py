"""The shared embedding store: one embedding per (model, passage content), reused across stages and corpora."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .test_maintain import PASSAGES, counting, make_corpus


def _rows(store, corpus):
    return store.index_rows(list(corpus.values()), batch_size=4, progress=False)


def test_a_second_corpus_encodes_only_its_new_and_changed_passages(tmp_path, minilm):
    from nbutils.embedding_store import EmbeddingStore, read_encode_log

    first = make_corpus(PASSAGES)
    loaded = counting(minilm)
    rows, starts = _rows(EmbeddingStore(tmp_path, loaded), first)
    assert len(loaded.model.texts) == 6 and list(starts) == list(range(6))

    items = {k: v for k, v in PASSAGES.items() if k != "dogs"}
    items["tea"] = ("Tea", "Black tea is brewed with boiling water for four minutes.")  # changed
    items["bees"] = ("Bees", "Honey bees collect nectar and pollen from flowers.")  # added
    items["copy"] = PASSAGES["cats"]  # the same text under another id
    second = make_corpus(items)
    again = counting(minilm)
    rows2, starts2 = _rows(EmbeddingStore(tmp_path, again), second)
    assert again.model.texts == [second["tea"].full_text(), second["bees"].full_text()]
    direct = minilm.encode_documents([p.full_text() for p in second.values()], progress=False)
    assert rows2.shape == direct.shape and np.allclose(rows2, direct, atol=1e-5)
    assert np.array_equal(rows2[0], rows[0]) and np.array_equal(rows2[-1], rows[0])  # cats, and its copy
    log = read_encode_log(tmp_path)
    assert [(r["passages"], r["encoded"]) for r in log] == [(6, 6), (7, 2)]


def test_each_way_of_encoding_has_its_own_rows(tmp_path, minilm):
    from nbutils.embedding_store import EmbeddingStore, store_key
    from nbutils.models import encode_with_windows

    corpus = make_corpus(PASSAGES)
    windowed = replace(minilm, window_sentences=2)
    _rows(EmbeddingStore(tmp_path, minilm), corpus)
    rows, starts = _rows(EmbeddingStore(tmp_path, windowed), corpus)
    expected, expected_starts = encode_with_windows(windowed, list(corpus.values()), 2, 4, progress=False)
    assert np.array_equal(starts, expected_starts) and np.allclose(rows, expected, atol=1e-5)
    assert {p.name for p in tmp_path.iterdir() if p.is_dir()} == {store_key(minilm), store_key(windowed)}
    assert store_key(windowed).endswith("-s2") and store_key(replace(minilm, long_passages="windows")).endswith(
        "-windows"
    )


def test_a_windowed_index_shares_its_whole_passage_rows_with_the_plain_model(tmp_path, minilm):
    from nbutils.data import Passage
    from nbutils.embedding_store import EmbeddingStore, read_encode_log
    from nbutils.models import encode_with_windows

    text = "The cohort was large. Statins cut strokes. Vitamin D did not prevent fractures. Follow-up was long."
    corpus = {"a": Passage("a", "Cohort", text), "b": Passage("b", "Bones", "Calcium and bone density.")}
    windowed = counting(minilm)
    windowed = replace(windowed, window_sentences=2)
    rows, starts = _rows(EmbeddingStore(tmp_path, windowed), corpus)
    expected, expected_starts = encode_with_windows(minilm, list(corpus.values()), 2, 4, progress=False)
    assert np.array_equal(starts, expected_starts) and np.allclose(rows, expected, atol=1e-5)
    encoded = len(windowed.model.texts)
    plain = counting(minilm)
    whole, _ = _rows(EmbeddingStore(tmp_path, plain), corpus)  # e.g. the mine stage's teacher, without windows
    assert plain.model.texts == [] and np.array_equal(whole, rows[starts])
    assert encoded == 2 + 3  # two passages, and the three windows of the first
    assert [(r["key"].endswith("-s2"), r["encoded"]) for r in read_encode_log(tmp_path)] == [
        (False, 2),
        (True, 2),
        (False, 0),
    ]


def test_many_writes_merge_into_one_segment_and_an_unfinished_one_is_ignored(tmp_path, minilm, monkeypatch):
    import nbutils.embedding_store as es

    store = es.EmbeddingStore(tmp_path, minilm)
    dim = 384
    rng = np.random.default_rng(0)
    vectors = {}
    for i in range(es.MAX_SEGMENTS + 1):
        h = f"{i:016x}"
        vectors[h] = rng.normal(size=(1, dim)).astype(np.float32)
        store.add([h], vectors[h], np.array([0]))
    assert len(list(store.folder.glob("*.done"))) == 1
    found = store.lookup(list(vectors))
    assert found.hashes == list(vectors) and np.array_equal(found.rows, np.concatenate(list(vectors.values())))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(es.Path, "write_text", crash)  # the marker written last fails
    try:
        store.add(["f" * 16], np.ones((1, dim), np.float32), np.array([0]))
    except OSError:
        pass
    monkeypatch.undo()
    assert store.lookup(["f" * 16]).hashes == []


def test_reembed_takes_what_the_stages_encoded_and_gives_back_what_it_encodes(tmp_path, minilm):
    from nbutils.maintain import Registry, reembed
    from nbutils.workspace import Workspace, dense_index

    cache = tmp_path / "embeddings"
    corpus = make_corpus(PASSAGES)
    dense_index(minilm, Workspace(corpus, {}, {}, {}), cache)  # a stage encoded the corpus
    grown = make_corpus({**PASSAGES, "bees": ("Bees", "Honey bees collect nectar and pollen from flowers.")})
    loaded = counting(minilm)
    summary = reembed(Registry(tmp_path / "registry"), "v1", loaded, grown, cache_dir=cache, progress=False)
    assert loaded.model.texts == [grown["bees"].full_text()]
    assert (summary.reused, summary.encoded) == (6, 1) and "6 of 7 passages from the embedding store" in summary.reason
    later = counting(minilm)
    index = dense_index(later, Workspace(grown, {}, {}, {}), cache)  # a later stage: nothing left to encode
    assert later.model.texts == [] and index.ids == list(grown)


def test_the_encode_log_keeps_its_newest_lines_past_its_cap(tmp_path, minilm, monkeypatch):
    import nbutils.embedding_store as es

    monkeypatch.setattr(es, "LOG_MAX_BYTES", 400)
    store = es.EmbeddingStore(tmp_path, minilm)
    for n in range(1, 13):
        store._log(passages=n, encoded=0)
    log = es.read_encode_log(tmp_path)
    assert (tmp_path / "encodes.jsonl").stat().st_size <= 400
    assert 1 < len(log) < 12 and [r["passages"] for r in log] == list(range(13 - len(log), 13))
