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
