"""Stage 6, maintain: a versioned model registry per domain and embedding indexes tagged by version.

Layout under ``work/registry/``::

    registry.json            {"current": "v2", "versions": [manifest, ...]}
    v1/model/                a standard sentence-transformers folder
    v1/index/                embeddings.npy, ids.json, manifest.json (model version, corpus hash)

Every write goes to a temporary path first and is renamed into place, so a crash never leaves a
half-written version or moves ``current`` to one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .paths import read_json, write_json
from .retrieval import DenseIndex

__all__ = [
    "IndexMismatchError",
    "Registry",
    "build_index",
    "history_table",
    "load_index",
    "register_run",
    "search_domain",
]


class IndexMismatchError(RuntimeError):
    """An index built with another model version, or from another corpus, than asked for."""


@dataclass
class Registry:
    """Model versions of one domain."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def file(self) -> Path:
        return self.root / "registry.json"

    def _read(self) -> dict:
        if not self.file.exists():
            return {"current": None, "versions": []}
        return json.loads(self.file.read_text(encoding="utf-8"))

    def versions(self) -> list[dict]:
        """Manifests of every version, oldest first."""
        return self._read()["versions"]

    @property
    def current(self) -> str | None:
        return self._read()["current"]

    def manifest(self, version: str) -> dict:
        """Manifest of one version.

        Raises:
            KeyError: for an unknown version, listing the known ones.
        """
        for m in self.versions():
            if m["version"] == version:
                return m
        known = ", ".join(m["version"] for m in self.versions()) or "none"
        raise KeyError(f"unknown model version {version!r}; known: {known}")

    def model_dir(self, version: str) -> Path:
        return self.root / version / "model"

    def index_dir(self, version: str) -> Path:
        return self.root / version / "index"

    def register(self, model_dir: str | Path, info: dict, promote: bool = True) -> dict:
        """Copy a trained model in as the next version and record its manifest.

        Args:
            model_dir: a saved sentence-transformers folder.
            info: what it was trained on, params, metrics (stored in the manifest).
            promote: make it the current version.
        """
        state = self._read()
        version = f"v{len(state['versions']) + 1}"
        final = self.model_dir(version)
        tmp = final.with_name(".model.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(model_dir, tmp)
        tmp.rename(final)
        manifest = {
            "version": version,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "parent": state["current"],
            **info,
        }
        state["versions"].append(manifest)
        if promote:
            _set_current(state, version)
        write_json(self.file, state)
        return manifest

    def promote(self, version: str) -> None:
        """Make ``version`` current.

        Raises:
            KeyError: for an unknown version, listing the known ones.
        """
        self.manifest(version)
        state = self._read()
        _set_current(state, version)
        write_json(self.file, state)

    def rollback(self) -> str:
        """Make the previously current version current again; returns it.

        Raises:
            ValueError: when there is no earlier current version to go back to.
        """
        state = self._read()
        trail = [h["version"] for h in state.get("history", [])]
        while trail and trail[-1] == state["current"]:
            trail.pop()
        if not trail:
            raise ValueError(f"nothing to roll back to: {state['current']} is the first current version")
        state["history"] = state["history"][: len(trail)]
        state["current"] = trail[-1]
        write_json(self.file, state)
        return trail[-1]


def _set_current(state: dict, version: str) -> None:
    from datetime import datetime, timezone

    state["current"] = version
    state.setdefault("history", []).append(
        {"version": version, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    )


def build_index(registry: Registry, version: str, ids: list[str], embeddings: np.ndarray, corpus_hash: str) -> Path:
    """Store a corpus embedding index for ``version``, tagged with the version and corpus hash."""
    final = registry.index_dir(version)
    tmp = final.with_name(".index.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "embeddings.npy", embeddings)
    (tmp / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    write_json(
        tmp / "manifest.json",
        {"model_version": version, "corpus_hash": corpus_hash, "passages": len(ids), "dim": int(embeddings.shape[1])},
    )
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def load_index(registry: Registry, version: str, corpus_hash: str | None = None) -> DenseIndex:
    """Load the index of ``version``; refuse one built by another version or from another corpus.

    Raises:
        IndexMismatchError: naming both versions (or both corpus hashes).
        FileNotFoundError: when no index was built for ``version``.
    """
    folder = registry.index_dir(version)
    manifest = read_json(folder / "manifest.json", f"index of model {version}")
    if manifest["model_version"] != version:
        raise IndexMismatchError(f"index in {folder} was built with model {manifest['model_version']}, not {version}")
    if corpus_hash and manifest["corpus_hash"] != corpus_hash:
        raise IndexMismatchError(
            f"index of {version} was built from corpus {manifest['corpus_hash']}, "
            f"but the corpus is now {corpus_hash}: re-embed"
        )
    ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
    return DenseIndex(ids, np.load(folder / "embeddings.npy"))


def search_domain(
    paths,
    queries: dict[str, str],
    mode: str = "dense",
    k: int = 100,
    version: str | None = None,
    device: str = "cpu",
    bm25_backend: str = "bm25s",
    rrf_k: int = 60,
):
    """Answer ``queries`` with a registered model version (default: current) and its index.

    Returns:
        ``(run, version)``.

    Raises:
        ValueError: unknown mode, or no registered model for a dense/hybrid search.
        IndexMismatchError: when the index was built from another corpus or model version.
    """
    from .models import load_model
    from .retrieval import BM25Index, reciprocal_rank_fusion
    from .workspace import corpus_hash, load_workspace

    modes = ("dense", "bm25", "hybrid")
    if mode not in modes:
        raise ValueError(f"--mode: {mode!r} is not allowed; valid: {', '.join(modes)}")
    ws = load_workspace(paths)
    registry = Registry(paths.registry)
    version = version or registry.current
    runs = []
    if mode in {"dense", "hybrid"}:
        if version is None:
            raise ValueError(f"no model is registered for domain {paths.domain!r}: run the maintain stage first")
        index = load_index(registry, version, corpus_hash(ws.corpus))
        model = load_model(str(registry.model_dir(version)), device, registry.manifest(version).get("max_seq_length"))
        runs.append(index.search(model, queries, k=k))
    if mode in {"bm25", "hybrid"}:
        ids, texts = ws.ids_and_texts()
        runs.append(BM25Index(ids, texts, bm25_backend).search(queries, k=k))
    run = runs[0] if len(runs) == 1 else reciprocal_rank_fusion(runs, k=rrf_k, depth=k)
    return run, (version if mode != "bm25" else None)


def register_run(registry: Registry, paths, params, promote: bool = True) -> dict:
    """Register the model trained for this domain, with what it was trained on and its test metrics.

    Reads the records of the synthesize, train and evaluate stages (``metrics/*.json``).
    """
    from .models import model_fingerprint
    from .report import read_metrics

    train = read_metrics(paths, "train") or {}
    if not paths.model_dir.exists():
        raise FileNotFoundError(f"no trained model at {paths.model_dir}: run the train stage first")
    evaluation = (read_metrics(paths, "evaluate") or {}).get("systems", {}).get("fine-tuned", {})
    info = {
        "base_model": params.base_model,
        "base_model_copy": train.get("base_model", ""),
        "base_model_fingerprint": train.get("base_model_fingerprint"),
        "model_fingerprint": model_fingerprint(str(paths.model_dir)),
        "max_seq_length": params.max_seq_length,
        "training_data": (read_metrics(paths, "synthesize") or {}).get("training_pairs", {}),
        "training_data_hash": train.get("training_data_hash"),
        "params": train.get("params", {}),
        "metrics": {k: v for k, v in evaluation.items() if k != "queries"},
    }
    return registry.register(paths.model_dir, info, promote=promote)


def history_table(registry: Registry):
    """One row per version: created, parent, test metrics, and whether it is current (a DataFrame)."""
    import pandas as pd

    current = registry.current
    rows = []
    for m in registry.versions():
        rows.append(
            {
                "version": m["version"],
                "current": m["version"] == current,
                "created": m["created"],
                "parent": m.get("parent"),
                "base model": m.get("base_model"),
                "nDCG@10": round(m.get("metrics", {}).get("ndcg@10", float("nan")), 3),
                "recall@10": round(m.get("metrics", {}).get("recall@10", float("nan")), 3),
            }
        )
    return pd.DataFrame(rows)
