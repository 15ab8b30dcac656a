"""Index builds on Ray (a real local Ray instance, 2 CPUs): the same index as a local build, and a killed build
that resumes from its shards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from nbutils.config import ParamsError, validate
from nbutils.data import Passage
from nbutils.maintain import Registry, load_index, reembed
from nbutils.maintain.engines import LocalEngine, RayEngine, make_engine, shard_plan
from tests.conftest import ROOT, SENTENCES

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _ranking(scores: dict) -> list[str]:
    return sorted(scores, key=scores.get, reverse=True)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def corpus(n: int) -> dict:
    return {
        f"p{i}": Passage(f"p{i}", f"note {i}", f"{SENTENCES[i % 12]} {SENTENCES[(5 * i + 3) % 12]} Item {i}.")
        for i in range(n)
    }


def test_unknown_engine_and_missing_ray_are_named(monkeypatch):
    with pytest.raises(ValueError, match="unknown engine 'spark'; valid: local, ray"):
        make_engine("spark")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ParamsError, match=r"embed_engine ray needs Ray: pip install -e \"\.\[ray\]\""):
        validate({"data_dir": "builtin:python-docs", "embed_engine": "ray"})


def test_shards_are_named_by_model_settings_and_content(minilm):
    from nbutils.maintain.engines import model_spec

    spec = model_spec(minilm)
    passages = list(corpus(5).values())
    names = [name for name, _ in shard_plan(spec, passages, 2)]
    assert len(names) == 3 and names == [name for name, _ in shard_plan(spec, passages, 2)]
    changed = [*passages[:4], Passage("p4", "note 4", "another text")]
    assert [n for n, _ in shard_plan(spec, changed, 2)][:2] == names[:2] and shard_plan(spec, changed, 2)[2][
        0
    ] != names[2]
    longer = dict(spec, max_seq_length=128)
    assert shard_plan(longer, passages, 2)[0][0] != names[0], "other settings, other shards"


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance for the tests (the ray extra; skipped without it unless NBUTILS_REQUIRE_RAY is set,
    as in CI, where a missing Ray fails)."""
    if os.environ.get("NBUTILS_REQUIRE_RAY"):
        import ray
    else:
        ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_the_ray_index_equals_the_local_one_and_searches_the_same(tmp_path, minilm, ray_local):
    passages = corpus(60)
    reembed(Registry(tmp_path / "a"), "v1", minilm, passages, 16, progress=False, engine=LocalEngine())
    remote = reembed(Registry(tmp_path / "b"), "v1", minilm, passages, 16, progress=False, engine=RayEngine("", 16))
    assert remote.engine == "ray" and remote.shards["shards"] == 4 and remote.shards["encoded"] == 4
    a, b = load_index(Registry(tmp_path / "a"), "v1"), load_index(Registry(tmp_path / "b"), "v1")
    assert a.ids == b.ids == list(passages)
    assert _cosines(a.embeddings, b.embeddings).min() >= 0.9999
    queries = {"q1": "why do cats purr", "q2": "which planet is largest", "q3": "how is bread made"}
    runs = [index.search(minilm.model, queries, k=10) for index in (a, b)]
    for q in queries:
        assert _ranking(runs[0][q]) == _ranking(runs[1][q]), "search returns the same ranking"
    assert not (tmp_path / "b" / "v1" / ".index.shards").exists(), "shards are removed once the index is in place"
    changed = dict(passages, p3=Passage("p3", "note 3", "Owls hunt at night in the forest."))
    again = reembed(Registry(tmp_path / "b"), "v1", minilm, changed, 16, progress=False, engine=RayEngine("", 16))
    assert again.encoded == 1 and again.shards["shards"] == 1, "only the changed passage is sent"


KILLED_BUILD = textwrap.dedent(
    """
    import sys
    from tests.test_ray_engine import MODEL, corpus
    from nbutils.maintain import Registry, reembed
    from nbutils.maintain.engines import RayEngine
    from nbutils.models import load_encoder
    loaded = load_encoder(MODEL, "cpu", 64)
    reembed(Registry(sys.argv[1]), "v1", loaded, corpus(int(sys.argv[2])), 8, progress=False,
            engine=RayEngine("", 10, workers=1))
    """
)


@pytest.mark.slow
def test_a_killed_ray_build_resumes_sending_only_the_missing_shards(tmp_path, minilm, ray_local):
    n, registry = 400, tmp_path / "registry"
    env = os.environ | {"PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(registry), str(n)], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    shards = registry / "v1" / ".index.shards"
    deadline = time.monotonic() + 300
    while len(list(shards.glob("shard-*.npz"))) < 3:
        assert proc.poll() is None, "the build ended before it could be killed"
        assert time.monotonic() < deadline, "no shard was written in time"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(shards.glob("shard-*.npz")))
    assert 3 <= done < 40 and not (registry / "v1" / "index").exists(), "killed mid-way: no index yet"
    summary = reembed(Registry(registry), "v1", minilm, corpus(n), 8, progress=False, engine=RayEngine("", 10))
    assert summary.shards["reused"] >= done and summary.shards["encoded"] == 40 - summary.shards["reused"]
    local = reembed(Registry(tmp_path / "local"), "v1", minilm, corpus(n), 8, progress=False)
    a, b = load_index(Registry(registry), "v1"), load_index(Registry(tmp_path / "local"), "v1")
    assert a.ids == b.ids and _cosines(a.embeddings, b.embeddings).min() >= 0.9999
    assert local.encoded == n
