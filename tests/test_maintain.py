import numpy as np
import pytest

from nbutils.maintain import IndexMismatchError, Registry, build_index, load_index


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
