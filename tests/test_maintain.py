import json

import numpy as np
import pytest

from nbutils.maintain import IndexMismatchError, Registry, build_index, load_index
from nbutils.paths import read_json


def fake_model(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(f'{{"name": "{name}"}}')
    return d


def test_register_promote_and_history(tmp_path):
    reg = Registry(tmp_path / "registry")
    assert reg.current is None and reg.versions() == []
    m1 = reg.register(fake_model(tmp_path, "a"), {"metrics": {"ndcg@10": 0.5}})
    m2 = reg.register(fake_model(tmp_path, "b"), {"metrics": {"ndcg@10": 0.6}})
    assert (m1["version"], m2["version"], m2["parent"]) == ("v1", "v2", "v1")
    assert reg.current == "v2"
    assert (reg.model_dir("v1") / "config.json").read_text() == '{"name": "a"}'
    m3 = reg.register(fake_model(tmp_path, "c"), {}, promote=False)
    assert reg.current == "v2" and m3["parent"] == "v2"
    reg.promote("v1")
    assert reg.current == "v1"
    with pytest.raises(KeyError, match="known: v1, v2, v3"):
        reg.promote("v9")


def test_index_is_tagged_and_refuses_mismatch(tmp_path):
    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "a"), {})
    emb = np.eye(3, dtype=np.float32)
    build_index(reg, "v1", ["x", "y", "z"], emb, corpus_hash="abc")
    idx = load_index(reg, "v1", "abc")
    assert idx.ids == ["x", "y", "z"]
    with pytest.raises(IndexMismatchError, match="re-embed"):
        load_index(reg, "v1", "other")
    (reg.index_dir("v1").parent.parent / "v2").mkdir()
    import shutil

    shutil.copytree(reg.index_dir("v1"), reg.index_dir("v2"))
    with pytest.raises(IndexMismatchError, match="built with model v1, not v2"):
        load_index(reg, "v2")


def test_rollback_returns_to_the_previous_current(tmp_path):
    reg = Registry(tmp_path / "registry")
    with pytest.raises(ValueError, match="nothing to roll back"):
        reg.register(fake_model(tmp_path, "a"), {}) and reg.rollback()
    reg.register(fake_model(tmp_path, "b"), {})
    reg.register(fake_model(tmp_path, "c"), {}, promote=False)
    reg.promote("v3")
    assert reg.rollback() == "v2" and reg.current == "v2"
    assert reg.rollback() == "v1" and reg.current == "v1"
    with pytest.raises(ValueError):
        reg.rollback()


SLOW_REGISTER = """
import shutil, sys, time
from nbutils.maintain import Registry
copy2, copytree = shutil.copy2, shutil.copytree
def slow_copy(src, dst, **kw):
    time.sleep(0.02)
    return copy2(src, dst, **kw)
shutil.copytree = lambda src, dst, **kw: copytree(src, dst, copy_function=slow_copy, **kw)
Registry(sys.argv[1]).register(sys.argv[2], {"note": "never finished"})
"""


def test_killed_save_leaves_the_registry_intact(tmp_path):
    import json
    import signal
    import subprocess
    import time

    from tests.conftest import PY, ROOT

    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "a"), {"note": "v1"})
    big = fake_model(tmp_path, "big")
    for i in range(300):
        (big / f"shard-{i}.bin").write_bytes(b"x" * 1000)
    proc = subprocess.Popen([PY, "-c", SLOW_REGISTER, str(reg.root), str(big)], cwd=ROOT)
    tmp_copy = reg.root / "v2" / ".model.tmp"
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_copy.exists() and len(list(tmp_copy.iterdir())) > 20):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert tmp_copy.exists(), "the save was killed midway"
    state = json.loads(reg.file.read_text())
    assert state["current"] == "v1" and [m["version"] for m in state["versions"]] == ["v1"]
    assert not reg.model_dir("v2").exists()
    assert reg.register(fake_model(tmp_path, "c"), {})["version"] == "v2"  # the next save cleans up and succeeds
    assert not tmp_copy.exists() and (reg.model_dir("v2") / "config.json").exists()


# ---------------------------------------------------------------- incremental re-embedding

PASSAGES = {
    "cats": ("Cats", "Cats purr when they are content and sleep most of the day."),
    "dogs": ("Dogs", "Dogs bark at strangers and need daily walks."),
    "scope": ("Telescopes", "A refracting telescope uses lenses to gather starlight."),
    "bread": ("Bread", "Yeast makes bread dough rise before baking in the oven."),
    "planets": ("Planets", "Jupiter is the largest planet of the solar system."),
    "tea": ("Tea", "Green tea is steeped in water below boiling for two minutes."),
}


def make_corpus(items: dict) -> dict:
    from nbutils.data import Passage

    return {pid: Passage(pid, title, text) for pid, (title, text) in items.items()}


class CountingModel:
    """Wraps a real SentenceTransformer and records every document text it encodes."""

    def __init__(self, model, fail_after: int | None = None):
        self.model, self.texts, self.fail_after = model, [], fail_after

    def encode_document(self, texts, **kwargs):
        if self.fail_after is not None and len(self.texts) >= self.fail_after:
            raise RuntimeError("encoder crashed")
        self.texts += list(texts)
        return self.model.encode_document(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


def counting(minilm, fail_after: int | None = None):
    from nbutils.models import LoadedModel

    return LoadedModel(CountingModel(minilm.model, fail_after), minilm.resolved, "cpu", minilm.fingerprint)


def test_reembed_encodes_only_added_and_changed_passages(tmp_path, minilm):
    from nbutils.maintain import reembed
    from nbutils.workspace import corpus_hash

    reg = Registry(tmp_path / "registry")
    first = make_corpus(PASSAGES)
    loaded = counting(minilm)
    full = reembed(reg, "v1", loaded, first, batch_size=4, progress=False)
    assert (full.mode, full.encoded, full.added) == ("full", 6, 6) and len(loaded.model.texts) == 6
    before = load_index(reg, "v1", corpus_hash(first))

    items = {k: v for k, v in PASSAGES.items() if k != "dogs"}  # removed
    items["tea"] = ("Tea", "Black tea is brewed with boiling water for four minutes.")  # changed
    items["bees"] = ("Bees", "Honey bees collect nectar and pollen from flowers.")  # added
    second = make_corpus(items)
    loaded = counting(minilm)
    summary = reembed(reg, "v1", loaded, second, batch_size=4, progress=False)
    assert loaded.model.texts == [second["tea"].full_text(), second["bees"].full_text()]
    assert (summary.added, summary.changed, summary.removed, summary.reused, summary.encoded) == (1, 1, 1, 4, 2)
    assert summary.mode == "incremental" and summary.estimate_source == "last build"
    assert summary.estimated_seconds > 0 and summary.passages_per_second > 0

    after = load_index(reg, "v1", corpus_hash(second))
    assert after.ids == list(second)
    old_rows = dict(zip(before.ids, before.embeddings, strict=True))
    for pid in ("cats", "scope", "bread", "planets"):
        assert np.array_equal(after.embeddings[after.ids.index(pid)], old_rows[pid])
    fresh = minilm.model.encode_document([second["tea"].full_text()], normalize_embeddings=True)[0]
    assert np.allclose(after.embeddings[after.ids.index("tea")], fresh, atol=1e-5)
    run = after.search(minilm.model, {"q1": "which insects make honey", "q2": "how long to brew black tea"}, k=2)
    assert next(iter(run["q1"])) == "bees" and next(iter(run["q2"])) == "tea"
    assert "dogs" not in after.ids


def test_reembed_never_reuses_another_versions_embeddings(tmp_path, minilm):
    import shutil

    from nbutils.maintain import reembed

    reg = Registry(tmp_path / "registry")
    corpus = make_corpus(PASSAGES)
    reembed(reg, "v1", minilm, corpus, progress=False)
    reg.index_dir("v2").parent.mkdir(parents=True)
    shutil.copytree(reg.index_dir("v1"), reg.index_dir("v2"))
    loaded = counting(minilm)
    summary = reembed(reg, "v2", loaded, corpus, progress=False)
    assert summary.mode == "full" and "built with model v1" in summary.reason
    assert len(loaded.model.texts) == 6
    assert load_index(reg, "v2").ids == list(corpus)


def test_reembed_reuses_the_stage_cache_of_the_same_model(tmp_path, minilm):
    from nbutils.maintain import reembed
    from nbutils.workspace import Workspace, corpus_embeddings

    corpus = make_corpus(PASSAGES)
    cached = corpus_embeddings(minilm, Workspace(corpus, {}, {}, {}), tmp_path / "cache")
    loaded = counting(minilm)
    summary = reembed(Registry(tmp_path / "registry"), "v1", loaded, corpus, cache_dir=tmp_path / "cache")
    assert loaded.model.texts == [] and summary.reused == 6 and "embedding store" in summary.reason
    assert np.array_equal(load_index(Registry(tmp_path / "registry"), "v1").embeddings, cached)


@pytest.mark.parametrize("crash", ["encoding", "writing", "swapping"])
def test_crash_during_reembed_leaves_the_old_index_loadable(tmp_path, minilm, monkeypatch, crash):
    from pathlib import Path

    import nbutils.maintain.registry as maintain
    from nbutils.workspace import corpus_hash

    reg = Registry(tmp_path / "registry")
    first = make_corpus(PASSAGES)
    maintain.reembed(reg, "v1", minilm, first, batch_size=2, progress=False)
    before = load_index(reg, "v1", corpus_hash(first))
    added = {f"new{i}": (f"New {i}", f"Passage number {i} about rivers.") for i in range(4)}
    second = make_corpus({**PASSAGES, **added})
    loaded = counting(minilm, fail_after=2 if crash == "encoding" else None)
    if crash == "writing":
        monkeypatch.setattr(maintain, "_save_array", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    if crash == "swapping":
        rename = Path.rename

        def crash_on_new(self, target):
            if self.name == ".index.tmp":
                raise OSError("killed between the two renames")
            return rename(self, target)

        monkeypatch.setattr(Path, "rename", crash_on_new)
    with pytest.raises((RuntimeError, OSError)):
        maintain.reembed(reg, "v1", loaded, second, batch_size=2, progress=False)
    monkeypatch.undo()
    survived = load_index(reg, "v1", corpus_hash(first))
    assert survived.ids == before.ids and np.array_equal(survived.embeddings, before.embeddings)
    summary = maintain.reembed(reg, "v1", minilm, second, batch_size=2, progress=False)
    assert summary.encoded == 4 and load_index(reg, "v1", corpus_hash(second)).ids == list(second)
    assert sorted(p.name for p in reg.index_dir("v1").parent.iterdir()) == ["index"]


def test_build_index_refuses_mismatched_lengths(tmp_path):
    reg = Registry(tmp_path / "registry")
    with pytest.raises(ValueError, match="2 ids, 3 embeddings"):
        build_index(reg, "v1", ["a", "b"], np.eye(3, dtype=np.float32), "h")


def test_window_encoded_index_is_never_reused_by_a_truncating_model(tmp_path, minilm):
    from dataclasses import replace

    from nbutils.maintain import reembed
    from nbutils.models import encode

    reg = Registry(tmp_path / "registry")
    long_text = " ".join(f"Sentence {i} says that bees visit flower number {i}." for i in range(12))
    corpus = make_corpus(PASSAGES | {"long": ("Bees", long_text)})
    windowed = replace(counting(minilm), long_passages="windows")
    reembed(reg, "v1", windowed, corpus, progress=False)
    index = load_index(reg, "v1")
    row = index.embeddings[index.ids.index("long")]
    assert np.allclose(row, encode(minilm.model, [corpus["long"].full_text()], windows=True)[0], atol=1e-5)
    assert len(windowed.model.texts) > len(corpus)  # the long passage went in as several windows

    truncating = counting(minilm)
    summary = reembed(reg, "v1", truncating, corpus, progress=False)
    assert summary.mode == "full" and "long_passages windows" in summary.reason
    assert len(truncating.model.texts) == len(corpus)


def test_load_version_encodes_long_passages_as_registered(tmp_path):
    from nbutils.maintain import load_version
    from nbutils.models import resolve_model

    reg = Registry(tmp_path / "registry")
    bundled = resolve_model("sentence-transformers/all-MiniLM-L6-v2").location
    reg.register(bundled, {"max_seq_length": 64, "long_passages": "windows"})
    loaded = load_version(reg, "v1")
    assert loaded.windows and loaded.model.max_seq_length == 64


# ---------------------------------------------------------------- sentence windows in the served index

THREE_SENTENCES = {
    "cats": ("Cats", "Cats purr when content. They sleep most of the day. Kittens chase string."),
    "scope": ("Telescopes", "A refracting telescope uses lenses. Mirrors serve reflectors. Both gather starlight."),
    "tea": ("Tea", "Green tea is steeped below boiling. Black tea takes four minutes. Milk is optional."),
}


def test_windowed_index_is_reembedded_by_passage_with_its_windows(tmp_path, minilm):
    """With ``window_sentences``, each passage's rows (itself and its windows) are stored with starts, a
    changed passage re-encodes only its own rows, and the stored index equals a fresh full build."""
    from dataclasses import replace

    from nbutils.maintain import reembed
    from nbutils.models import sentence_windows

    reg = Registry(tmp_path / "registry")
    first = make_corpus(THREE_SENTENCES | {"bread": PASSAGES["bread"]})  # bread: one sentence, one row
    windowed = replace(counting(minilm), window_sentences=2)
    reembed(reg, "v1", windowed, first, batch_size=2, progress=False)
    index = load_index(reg, "v1")
    assert list(index.starts) == [0, 3, 6, 9] and len(index.embeddings) == 10  # 3 × (itself + 2 windows) + 1
    assert read_json(reg.index_dir("v1") / "manifest.json", "m")["window_sentences"] == 2

    items = THREE_SENTENCES | {"bread": PASSAGES["bread"]}
    items["tea"] = ("Tea", "Oolong tea is half oxidised. It is brewed twice. Its leaves unfurl.")
    second = make_corpus(items)
    again = replace(counting(minilm), window_sentences=2)
    summary = reembed(reg, "v1", again, second, batch_size=2, progress=False)
    tea = second["tea"]
    assert again.model.texts == [tea.full_text(), *sentence_windows(tea.title, tea.text, 2)]
    assert (summary.mode, summary.reused, summary.encoded) == ("incremental", 3, 1)
    after = load_index(reg, "v1")
    reembed(Registry(tmp_path / "fresh"), "v1", replace(minilm, window_sentences=2), second, progress=False)
    fresh = load_index(Registry(tmp_path / "fresh"), "v1")
    assert np.array_equal(after.starts, fresh.starts)
    assert np.allclose(after.embeddings, fresh.embeddings, atol=1e-5)
    run = after.search(minilm.model, {"q": "tea leaves that unfurl when brewed"}, k=1)
    assert list(run["q"]) == ["tea"]


def test_an_index_without_windows_is_not_reused_for_a_windowed_model(tmp_path, minilm):
    from dataclasses import replace

    from nbutils.maintain import reembed

    reg = Registry(tmp_path / "registry")
    corpus = make_corpus(THREE_SENTENCES)
    reembed(reg, "v1", minilm, corpus, progress=False)
    windowed = replace(counting(minilm), window_sentences=2)
    summary = reembed(reg, "v1", windowed, corpus, progress=False)
    assert summary.mode == "full" and "window_sentences 0" in summary.reason
    assert load_index(reg, "v1").starts is not None


def test_load_version_scores_passages_by_windows_as_registered(tmp_path):
    from nbutils.maintain import load_version
    from nbutils.models import resolve_model

    reg = Registry(tmp_path / "registry")
    reg.register(resolve_model("sentence-transformers/all-MiniLM-L6-v2").location, {"window_sentences": 3})
    assert load_version(reg, "v1").window_sentences == 3


# ---------------------------------------------------------------- registration is one transaction


def test_a_version_is_recorded_only_after_its_index_is_complete(tmp_path):
    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "a"), {})
    seen = []

    def complete(version, manifest):
        seen.append((version, reg.current, [m["version"] for m in reg.versions()]))
        raise RuntimeError("index build failed")

    with pytest.raises(RuntimeError, match="index build failed"):
        reg.register(fake_model(tmp_path, "b"), {}, complete=complete)
    assert seen == [("v2", "v1", ["v1"])]  # invisible while its index was being built
    assert reg.current == "v1" and [m["version"] for m in reg.versions()] == ["v1"]
    assert reg.leftovers() == [reg.root / "v2"]
    m = reg.register(fake_model(tmp_path, "c"), {})  # the leftover is cleaned, not "Directory not empty"
    assert m["version"] == "v2" and (reg.model_dir("v2") / "config.json").read_text() == '{"name": "c"}'
    assert reg.leftovers() == []


KILLED_PUBLISH = """
import os, signal, sys
from nbutils.maintain import Registry
def complete(version, manifest):
    (Registry(sys.argv[1]).root / version / "index").mkdir()
    os.kill(os.getpid(), signal.SIGKILL)
Registry(sys.argv[1]).register(sys.argv[2], {}, complete=complete)
"""


def test_a_crash_while_building_the_index_leaves_the_current_version_serving(tmp_path):
    import subprocess

    from tests.conftest import PY, ROOT

    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "a"), {})
    build_index(reg, "v1", ["x"], np.eye(1, dtype=np.float32), corpus_hash="h")
    r = subprocess.run([PY, "-c", KILLED_PUBLISH, str(reg.root), str(fake_model(tmp_path, "b"))], cwd=ROOT)
    assert r.returncode == -9
    assert reg.current == "v1" and load_index(reg, "v1", "h").ids == ["x"]
    assert [p.name for p in reg.leftovers()] == ["v2"]
    assert reg.register(fake_model(tmp_path, "c"), {})["version"] == "v2"


def test_rollback_and_promote_pass_over_a_version_without_its_index(tmp_path):
    reg = Registry(tmp_path / "registry")
    for name in ("a", "b", "c"):
        reg.register(fake_model(tmp_path, name), {"indexed": True})
        version = reg.current
        build_index(reg, version, ["x"], np.eye(1, dtype=np.float32), corpus_hash="h")
    import shutil

    shutil.rmtree(reg.index_dir("v2"))  # as an interrupted run of an older release left it
    assert "index is missing" in reg.incomplete("v2") and reg.incomplete("v1") == ""
    assert reg.previous() == "v1"
    assert reg.rollback() == "v1" and reg.current == "v1"
    with pytest.raises(ValueError, match="v2 cannot be made current: its index is missing"):
        reg.promote("v2")


def test_a_damaged_registry_file_is_named_and_left_alone(tmp_path):
    from nbutils.maintain import RegistryDamaged

    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "a"), {})
    reg.register(fake_model(tmp_path, "b"), {})
    good = reg.file.read_text()
    reg.file.write_text(good[: len(good) // 2])
    with pytest.raises(RegistryDamaged, match=r"registry.json is damaged .*registry.json.prev"):
        assert reg.current
    with pytest.raises(RegistryDamaged):
        reg.register(fake_model(tmp_path, "c"), {})
    assert reg.file.read_text() == good[: len(good) // 2]
    assert [m["version"] for m in json.loads(reg.backup.read_text())["versions"]] == ["v1"]
