"""A versioned model registry per domain, and embedding indexes tagged by version.

Layout under ``work/registry/``::

    registry.json            {"current": "v2", "versions": [manifest, ...]}
    v1/model/                a standard sentence-transformers folder
    v1/index/                embeddings.npy, ids.json, hashes.json (one content hash per passage),
                             manifest.json (model version, corpus hash, measured passages/s), and
                             starts.npy with sentence windows (the first row of each passage)
    v1/training_corpus.json  word counts and passage hashes of the corpus the version was trained on
    v1/reference/            the version's first index of that corpus, kept for drift measurements
    evaluations.jsonl        evaluation history, one record per line (see :mod:`nbutils.maintain.monitoring`)

Every write goes to a temporary path first and is renamed into place, so a crash never leaves a
half-written version or index, or moves ``current`` to one. :func:`reembed` re-encodes only the
passages that were added or changed since the version's index was built.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..config import Params
from ..embedding_store import EmbeddingStore, passage_hash
from ..lock import domain_lock
from ..models import load_encoder, load_sentence_transformer, model_fingerprint
from ..pairs import load_pairs, normalize_query
from ..paths import DomainPaths, atomic_write_text, read_json, write_json
from ..report import read_metrics
from ..retrieval import BM25Index, DenseIndex, reciprocal_rank_fusion, tokenize, weighted_fusion
from ..workspace import corpus_hash, load_workspace
from .engines import LocalEngine, clear_shards, make_engine

__all__ = [
    "IndexMismatchError",
    "ReembedSummary",
    "Registry",
    "RegistryDamaged",
    "build_index",
    "history_table",
    "index_hashes",
    "load_index",
    "read_index_folder",
    "load_version",
    "query_hash",
    "record_training_corpus",
    "reembed",
    "SEARCH_MODES",
    "publish_run",
    "search_domain",
    "serving_choice",
    "word_counts",
]

logger = logging.getLogger(__name__)


class IndexMismatchError(RuntimeError):
    """An index built with another model version, or from another corpus, than asked for."""


class RegistryDamaged(ValueError):
    """``registry.json`` cannot be read; the message names it and the backup of its previous state."""


@dataclass
class Registry:
    """Model versions of one domain."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def file(self) -> Path:
        return self.root / "registry.json"

    @property
    def lock(self) -> Path:
        """The domain's writer lock, held by every registry write (``work/.lock``, see :mod:`nbutils.lock`)."""
        return self.root.parent / ".lock"

    @property
    def backup(self) -> Path:
        """The registry file as it was before the last write."""
        return self.root / "registry.json.prev"

    def _read(self) -> dict:
        if not self.file.exists():
            return {"current": None, "versions": []}
        try:
            state = json.loads(self.file.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or not isinstance(state.get("versions"), list):
                raise ValueError("not a registry record")
        except (ValueError, UnicodeDecodeError) as e:
            backup = f"; the state before the last write is in {self.backup}" if self.backup.exists() else ""
            raise RegistryDamaged(f"{self.file} is damaged ({e}): nothing was changed{backup}") from None
        return state

    def _write(self, state: dict) -> None:
        if self.file.exists():
            atomic_write_text(self.backup, self.file.read_text(encoding="utf-8"))
        write_json(self.file, state)

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

    def version_dir(self, version: str) -> Path:
        return self.root / version

    def model_dir(self, version: str) -> Path:
        return self.root / version / "model"

    def index_dir(self, version: str) -> Path:
        return self.root / version / "index"

    def register(self, model_dir: str | Path, info: dict, promote: bool = True, complete=None) -> dict:
        """Copy a trained model in as the next version and record its manifest, as one transaction.

        The version becomes visible (listed, and current with ``promote``) only once everything it needs is
        on disk: the model is copied into the version's folder, ``complete`` builds the rest (its index),
        and only then is the manifest written to ``registry.json``. A crash at any point leaves an
        unregistered folder that the next registration removes (see :meth:`leftovers`).

        Args:
            model_dir: a saved sentence-transformers folder.
            info: what it was trained on, params, metrics (stored in the manifest).
            promote: make it the current version.
            complete: called as ``complete(version, manifest)`` before the version is recorded, e.g. to
                build its index; an exception there leaves the registry as it was.

        Raises:
            DomainLocked: when another process writes this domain.
        """
        with domain_lock(self.lock, "registry register"):
            state = self._read()
            for folder in self.leftovers(state):
                logger.warning("removing %s: left by an interrupted registration, never registered", folder)
                shutil.rmtree(folder)
            version = f"v{max((_number(m['version']) for m in state['versions']), default=0) + 1}"
            final = self.model_dir(version)
            final.parent.mkdir(parents=True, exist_ok=True)
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
            if complete is not None:
                complete(version, manifest)
            state["versions"].append(manifest)
            if promote:
                _set_current(state, version)
            self._write(state)
        return manifest

    def leftovers(self, state: dict | None = None) -> list[Path]:
        """Version folders on disk that ``registry.json`` does not list: what a crashed registration left."""
        known = {m["version"] for m in (state or self._read())["versions"]}
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and _number(p.name) and p.name not in known)

    def incomplete(self, version: str) -> str:
        """Why ``version`` cannot serve searches (its model or its index is missing), or "" when it can."""
        manifest = self.manifest(version)
        model = self.model_dir(version)
        if not model.is_dir() or not any(model.iterdir()):
            return f"the model folder {self.model_dir(version)} is missing"
        if manifest.get("indexed") and not (_index_folder(self, version) / "manifest.json").exists():
            return f"its index is missing: build it with `python -m nbutils reembed DOMAIN --version {version}`"
        return ""

    def promote(self, version: str) -> None:
        """Make ``version`` current.

        Raises:
            KeyError: for an unknown version, listing the known ones.
            ValueError: for a version that cannot serve (see :meth:`incomplete`).
        """
        with domain_lock(self.lock, "registry promote"):
            self.manifest(version)
            if problem := self.incomplete(version):
                raise ValueError(f"{version} cannot be made current: {problem}")
            state = self._read()
            _set_current(state, version)
            self._write(state)

    def rollback(self) -> str:
        """Make the previously current version current again; returns it. Versions that cannot serve
        (see :meth:`incomplete`) are passed over.

        Raises:
            ValueError: when there is no earlier current version to go back to.
        """
        with domain_lock(self.lock, "registry rollback"):
            state = self._read()
            trail = self._usable_trail(state)
            if not trail:
                raise ValueError(f"nothing to roll back to: {state['current']} is the first usable current version")
            state["history"] = state["history"][: len(trail)]
            state["current"] = trail[-1]
            self._write(state)
            return trail[-1]

    def previous(self) -> str | None:
        """The version :meth:`rollback` would make current, or ``None`` when there is none."""
        trail = self._usable_trail(self._read())
        return trail[-1] if trail else None

    def _usable_trail(self, state: dict) -> list[str]:
        """The history up to the version a roll back returns to: not the current one, nor one that cannot serve."""
        trail = _rollback_trail(state)
        while trail and (trail[-1] == state["current"] or self.incomplete(trail[-1])):
            if trail[-1] != state["current"]:
                logger.warning("roll back passes over %s: %s", trail[-1], self.incomplete(trail[-1]))
            trail.pop()
        return trail


def _number(name: str) -> int:
    """The number of a version name (``v12`` → 12), 0 for any other name."""
    return int(name[1:]) if name[:1] == "v" and name[1:].isdigit() else 0


def _rollback_trail(state: dict) -> list[str]:
    trail = [h["version"] for h in state.get("history", [])]
    while trail and trail[-1] == state["current"]:
        trail.pop()
    return trail


def _set_current(state: dict, version: str) -> None:
    from datetime import datetime, timezone

    state["current"] = version
    state.setdefault("history", []).append(
        {"version": version, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    )


def query_hash(query: str) -> str:
    """Hash of a query's normalised text (case, spacing and punctuation ignored), to recognise training
    queries later."""
    return passage_hash(normalize_query(query))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _old_index(final: Path) -> Path:
    return final.with_name(f".{final.name}.old")


def _recover(final: Path) -> None:
    """Finish an interrupted replace: put the previous index back when the new one never arrived."""
    if not final.exists() and _old_index(final).exists():
        _old_index(final).rename(final)


def _replace_folder(tmp: Path, final: Path) -> None:
    """Swap the complete folder ``tmp`` in for ``final``; at every moment a complete index exists on disk."""
    _recover(final)
    old = _old_index(final)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def build_index(
    registry: Registry,
    version: str,
    ids: list[str],
    embeddings: np.ndarray,
    corpus_hash: str,
    passage_hashes: list[str] | None = None,
    extra: dict | None = None,
    starts: np.ndarray | None = None,
) -> Path:
    """Store a corpus embedding index for ``version``, tagged with the version and corpus hash.

    The index is written to a temporary folder and swapped in; a crash leaves the previous index.

    Args:
        passage_hashes: one :func:`passage_hash` per id, needed for a later incremental :func:`reembed`.
        extra: more manifest entries (e.g. measured throughput).
        starts: the first row of each passage when passages own several rows (sentence windows, see
            :class:`~nbutils.retrieval.DenseIndex`); ``None``: one row per passage.

    Raises:
        ValueError: when ids, embeddings (or starts) and hashes differ in length.
    """
    rows = len(embeddings) if starts is None else len(starts)
    if len(ids) != rows or (passage_hashes is not None and len(passage_hashes) != len(ids)):
        raise ValueError(f"index of {version}: {len(ids)} ids, {rows} embeddings, hashes do not match")
    DenseIndex(ids, embeddings, starts)  # refuses starts that do not fit the rows
    final = registry.index_dir(version)
    tmp = final.with_name(".index.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _save_array(tmp / "embeddings.npy", embeddings)
    if starts is not None:
        _save_array(tmp / "starts.npy", np.asarray(starts, dtype=np.int64))
    atomic_write_text(tmp / "ids.json", json.dumps(ids))
    if passage_hashes is not None:
        atomic_write_text(tmp / "hashes.json", json.dumps(passage_hashes))
    manifest = {"model_version": version, "corpus_hash": corpus_hash, "passages": len(ids)}
    manifest |= {"dim": int(embeddings.shape[1]), "built": _now(), **(extra or {})}
    write_json(tmp / "manifest.json", manifest)
    _replace_folder(tmp, final)
    return final


def _save_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())


def _index_folder(registry: Registry, version: str) -> Path:
    final = registry.index_dir(version)
    return final if final.exists() or not _old_index(final).exists() else _old_index(final)


def load_index(registry: Registry, version: str, corpus_hash: str | None = None) -> DenseIndex:
    """Load the index of ``version``; refuse one built by another version or from another corpus.

    Raises:
        IndexMismatchError: naming both versions (or both corpus hashes).
        FileNotFoundError: when no index was built for ``version``.
    """
    folder = _index_folder(registry, version)
    manifest = read_json(folder / "manifest.json", f"index of model {version}")
    if manifest["model_version"] != version:
        raise IndexMismatchError(f"index in {folder} was built with model {manifest['model_version']}, not {version}")
    if corpus_hash and manifest["corpus_hash"] != corpus_hash:
        raise IndexMismatchError(
            f"index of {version} was built from corpus {manifest['corpus_hash']}, "
            f"but the corpus is now {corpus_hash}: re-embed (python -m nbutils reembed DOMAIN)"
        )
    return read_index_folder(folder)


def read_index_folder(folder: Path) -> DenseIndex:
    """The :class:`~nbutils.retrieval.DenseIndex` stored in an index folder (with its sentence-window rows,
    when it has them), unchecked; see :func:`load_index`.

    The embeddings are memory-mapped, not read into memory: search reads them block by block, so an index larger
    than the free memory still searches exactly (the operating system keeps what fits in its page cache).
    """
    ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
    starts = np.load(folder / "starts.npy") if (folder / "starts.npy").exists() else None
    return DenseIndex(ids, np.load(folder / "embeddings.npy", mmap_mode="r"), starts)  # read from disk as needed


def index_hashes(registry: Registry, version: str) -> list[str] | None:
    """Per-passage content hashes of the index of ``version`` (``None`` for an index built without them)."""
    path = _index_folder(registry, version) / "hashes.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


@dataclass
class ReembedSummary:
    """What one :func:`reembed` did: passage counts, time and measured throughput."""

    version: str
    mode: str  # "full" or "incremental"
    reason: str  # why that mode
    passages: int
    added: int
    changed: int
    removed: int
    reused: int
    encoded: int
    seconds: float
    passages_per_second: float | None  # measured on this run's encoding, None when nothing was encoded
    estimated_seconds: float | None  # encoding time estimated before most of the work was done
    estimate_source: str  # "last build", "first batch" or "" when nothing was encoded
    index_dir: str
    engine: str = "local"  # where passages were encoded: local | ray
    shards: dict | None = None  # with ray: shards in all, reused from an interrupted build, encoded now

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """A Markdown paragraph with the numbers."""
        rate = f"{self.passages_per_second:.1f} passages/s" if self.passages_per_second else "no encoding needed"
        estimate = (
            f" Estimated beforehand ({self.estimate_source}): {self.estimated_seconds:.1f} s."
            if self.estimated_seconds is not None
            else ""
        )
        return (
            f"**{self.mode.capitalize()} re-embedding** of the {self.passages} passages for model **{self.version}** "
            f"({self.reason}): {self.added} added, {self.changed} changed, {self.removed} removed; "
            f"{self.encoded} encoded and {self.reused} reused in {self.seconds:.1f} s ({rate}).{estimate} "
            f"Index: `{self.index_dir}`."
        )


@dataclass
class _Previous:
    """Embeddings that may be reused, by passage content hash."""

    ids: list[str]
    hashes: list[str]
    embeddings: np.ndarray  # the rows of the index
    starts: np.ndarray  # first row of each passage (one row per passage without sentence windows)
    passages_per_second: float | None


def _previous_index(registry: Registry, version: str, loaded) -> tuple[_Previous | None, str]:
    """The version's existing index when its embeddings can be reused, else ``None`` and why not."""
    folder = _index_folder(registry, version)
    if not (folder / "manifest.json").exists():
        return None, f"no index of {version} yet"
    manifest = read_json(folder / "manifest.json", f"index of model {version}")
    hashes = index_hashes(registry, version)
    if manifest.get("model_version") != version:
        return None, f"the index was built with model {manifest.get('model_version')}, not {version}"
    if hashes is None:
        return None, "the index has no passage hashes"
    if manifest.get("max_seq_length") != loaded.model.max_seq_length:
        return None, (
            f"the index was built with max_seq_length {manifest.get('max_seq_length')}, "
            f"not {loaded.model.max_seq_length}"
        )
    if manifest.get("long_passages", "truncate") != loaded.long_passages:
        return None, f"the index was built with long_passages {manifest.get('long_passages', 'truncate')}"
    if manifest.get("window_sentences", 0) != loaded.window_sentences:
        return None, f"the index was built with window_sentences {manifest.get('window_sentences', 0)}"
    index = read_index_folder(folder)
    starts = np.arange(len(index.ids)) if index.starts is None else index.starts
    rate = manifest.get("passages_per_second")
    return _Previous(index.ids, hashes, index.embeddings, starts, rate), f"reusing the index of {version}"


def _cached(loaded, corpus: dict, hashes: list[str], cache_dir) -> _Previous | None:
    """Embeddings of this very model from the shared store (see :class:`~nbutils.embedding_store.EmbeddingStore`)
    for the passages it holds; ``None`` when it holds none."""

    if cache_dir is None:
        return None
    found = EmbeddingStore(cache_dir, loaded).lookup(hashes)
    if not found.hashes:
        return None
    ids_of = {h: pid for pid, h in zip(corpus, hashes, strict=True)}
    return _Previous([ids_of[h] for h in found.hashes], found.hashes, found.rows, found.starts, None)


def _reusable(registry, version, loaded, corpus, hashes, full, cache_dir) -> tuple[_Previous | None, str]:
    if full:
        return None, "full re-embedding asked for"
    prev, reason = _previous_index(registry, version, loaded)
    cached = None if prev else _cached(loaded, corpus, hashes, cache_dir)
    if cached is None:
        return prev, reason
    return cached, f"{len(cached.hashes)} of {len(set(hashes))} passages from the embedding store of this very model"


def reembed(
    registry: Registry,
    version: str,
    loaded,
    corpus: dict,
    batch_size: int = 64,
    full: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    engine=None,
) -> ReembedSummary:
    """Bring the index of ``version`` up to date with ``corpus``, encoding only what is new.

    Passages whose content hash is already in the version's index keep their embeddings; added and
    changed ones are encoded; removed ones are dropped. Embeddings are only ever reused from an index
    of the same model version (and sequence length), or from the shared embedding store of this very model
    (``cache_dir``, keyed by the model's fingerprint and each passage's hash), which also receives what is
    encoded here; otherwise everything is encoded. The new index
    replaces the old one atomically. The first index of the corpus the version was trained on is also
    kept as the version's drift reference.

    Args:
        loaded: the version's :class:`~nbutils.models.LoadedModel` (see :func:`load_version`).
        corpus: passage id → :class:`~nbutils.data.Passage`, the current corpus.
        full: encode every passage even when an index could be reused.
        engine: where to encode, a :class:`~nbutils.maintain.engines.LocalEngine` (default) or
            :class:`~nbutils.maintain.engines.RayEngine`; the index is the same either way.

    Example::

        summary = reembed(registry, "v1", load_version(registry, "v1"), ws.corpus)
        summary.encoded, summary.reused  # (2, 998) after one passage changed and one was added
    """
    if not corpus:
        raise ValueError(f"re-embedding {version}: the corpus is empty")
    start = time.perf_counter()
    ids = list(corpus)
    hashes = [passage_hash(corpus[i].full_text()) for i in ids]
    _recover(registry.index_dir(version))
    prev, reason = _reusable(registry, version, loaded, corpus, hashes, full, cache_dir)
    plan = _plan(ids, hashes, prev)
    known_rate = prev.passages_per_second if prev else None
    engine, shards = engine or LocalEngine(), _shard_dir(registry, version)
    todo = [corpus[ids[i]] for i in plan["encode"]]
    new_rows, new_starts, enc_seconds, estimate, source = engine.encode(
        loaded, todo, batch_size, known_rate, progress, shards
    )
    rate = len(plan["encode"]) / enc_seconds if plan["encode"] and enc_seconds > 0 else None
    if cache_dir is not None:
        EmbeddingStore(cache_dir, loaded).add([hashes[i] for i in plan["encode"]], new_rows, new_starts)
    chash = corpus_hash(corpus)
    rows, starts = _assemble(len(ids), plan, prev, new_rows, new_starts)
    windows = starts if loaded.window_sentences else None
    folder = build_index(registry, version, ids, rows, chash, hashes, _index_extra(loaded, rate or known_rate), windows)
    _keep_reference(registry, version, chash, folder)
    clear_shards(shards)
    timing = {"seconds": time.perf_counter() - start, "passages_per_second": rate}
    return _summary(
        version, prev, reason, len(ids), plan, timing | {"estimated_seconds": estimate}, source, folder, engine
    )


def _summary(version, prev, reason, n, plan, timing, source, folder, engine) -> ReembedSummary:
    return ReembedSummary(
        version, "incremental" if prev else "full", reason, n, **{k: plan[k] for k in ("added", "changed", "removed")},
        reused=n - len(plan["encode"]), encoded=len(plan["encode"]), **timing, estimate_source=source,
        index_dir=str(folder), engine=engine.name, shards=engine.stats.to_dict() if engine.stats else None,
    )  # fmt: skip


def _shard_dir(registry: Registry, version: str) -> Path:
    """Where a sharded build of ``version``'s index keeps its shards until the index is in place."""
    return registry.index_dir(version).with_name(".index.shards")


def _index_extra(loaded, rate: float | None) -> dict:
    """Manifest entries of an index: how its model encoded passages, and the measured passages per second."""
    return {
        "max_seq_length": loaded.model.max_seq_length,
        "long_passages": loaded.long_passages,
        "window_sentences": loaded.window_sentences,
        "passages_per_second": rate,
    }


def _plan(ids: list[str], hashes: list[str], prev: _Previous | None) -> dict:
    """Rows to encode and rows to copy (matched by content hash), and the added/changed/removed counts."""
    if prev is None:
        return {"encode": list(range(len(ids))), "copy": {}, "added": len(ids), "changed": 0, "removed": 0}
    by_hash = {h: row for row, h in enumerate(prev.hashes)}
    old = dict(zip(prev.ids, prev.hashes, strict=True))
    copy = {i: by_hash[h] for i, h in enumerate(hashes) if h in by_hash}
    return {
        "encode": [i for i in range(len(ids)) if i not in copy],
        "copy": copy,
        "added": sum(pid not in old for pid in ids),
        "changed": sum(pid in old and old[pid] != h for pid, h in zip(ids, hashes, strict=True)),
        "removed": len(old.keys() - set(ids)),
    }


def _assemble(
    n: int, plan: dict, prev: _Previous | None, new_rows: np.ndarray | None, new_starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The index's rows and starts: each passage's rows copied from ``prev`` or taken from the new ones."""

    def group(emb: np.ndarray, starts: np.ndarray, i: int) -> np.ndarray:
        return emb[starts[i] : starts[i + 1] if i + 1 < len(starts) else len(emb)]

    new_of = {row: k for k, row in enumerate(plan["encode"])}
    groups = [
        group(new_rows, new_starts, new_of[row])
        if row in new_of
        else group(prev.embeddings, prev.starts, plan["copy"][row])
        for row in range(n)
    ]
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return np.concatenate(groups).astype(np.float32, copy=False), starts


def _keep_reference(registry: Registry, version: str, chash: str, index_folder: Path) -> None:
    """Copy the index to ``reference/`` once, when it is the corpus the version was trained on."""
    target = registry.version_dir(version) / "reference"
    record = registry.version_dir(version) / "training_corpus.json"
    if target.exists() or not record.exists():
        return
    if read_json(record, f"training corpus record of {version}").get("corpus_hash") != chash:
        return
    tmp = target.with_name(".reference.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(index_folder, tmp)
    tmp.rename(target)


def word_counts(texts) -> Counter:
    """Lower-case word counts (stopwords and pure numbers left out), the unit of vocabulary drift."""
    return Counter(w for t in texts for w in tokenize(t) if not w.isdigit())


def record_training_corpus(registry: Registry, version: str, corpus: dict, queries: list[str]) -> Path:
    """Write what ``version`` was trained on, for later drift measurements: the corpus hash, one content
    hash per passage, the word counts of the corpus and of the training queries, and one hash per
    training query (monitoring leaves those queries out of the click log it reads)."""

    texts = [p.full_text() for p in corpus.values()]
    path = registry.version_dir(version) / "training_corpus.json"
    record = {
        "corpus_hash": corpus_hash(corpus),
        "passages": len(texts),
        "passage_hashes": [passage_hash(t) for t in texts],
        "queries": len(queries),
        "words": dict(word_counts(texts).most_common()),
        "query_words": dict(word_counts(queries).most_common()),
        "query_hashes": sorted({query_hash(q) for q in queries}),
    }
    write_json(path, record)
    return path


def load_version(registry: Registry, version: str, device: str = "cpu"):
    """Load a registered model version (a :class:`~nbutils.models.LoadedModel`) with its sequence length
    and the way it encodes long passages."""
    return _load_manifest(registry, registry.manifest(version), device)


def _load_manifest(registry: Registry, manifest: dict, device: str = "cpu"):

    version = manifest["version"]
    return load_encoder(
        str(registry.model_dir(version)),
        device,
        manifest.get("max_seq_length"),
        long_passages=manifest.get("long_passages", "truncate"),
        window_sentences=manifest.get("window_sentences", 0),
    )


SEARCH_MODES = ("served", "dense", "bm25", "hybrid", "rrf")
MAX_K = 100_000


def serving_choice(evaluate: dict) -> dict:
    """The system a version serves, as the evaluate stage chose it on the dev split.

    The weighted z-score fusion of the fine-tuned model and BM25, with the BM25 weight ``evaluate``
    recorded (``fusion_weight``); plain dense when that weight is 0 (BM25 added nothing on dev) or when
    no weight was chosen (no dev queries).
    """
    weight, metric = evaluate.get("fusion_weight"), evaluate.get("fusion_metric", "ndcg@10")
    if weight is None:
        return {"mode": "dense", "why": "no dev queries chose a BM25 weight"}
    if weight <= 0:
        return {"mode": "dense", "why": f"BM25 weight 0 scored best on dev ({metric})"}
    return {
        "mode": "hybrid",
        "fusion": "weighted",
        "bm25_weight": float(weight),
        "normalisation": "z-score per query",
        "why": f"BM25 weight {weight:g} scored best on dev ({metric})",
    }


def _check_search(queries: dict[str, str], mode: str, k: int) -> None:
    if mode not in SEARCH_MODES:
        raise ValueError(f"--mode: {mode!r} is not allowed; valid: {', '.join(SEARCH_MODES)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValueError(f"--k: {k!r} is not allowed; give a number of results from 1 to {MAX_K}")
    bad = [q for q in queries if not q or any(c.isspace() for c in q)]
    if bad:
        raise ValueError(f"query ids must not be empty or contain spaces (the TREC format splits on them): {bad[:5]}")


def search_domain(
    paths: DomainPaths,
    queries: dict[str, str],
    mode: str = "served",
    k: int = 100,
    version: str | None = None,
    device: str = "cpu",
    bm25_backend: str = "bm25s",
    rrf_k: int = 60,
):
    """Answer ``queries`` with a registered model version (default: current) and its index.

    Modes: ``served`` (default) is the system the version was registered to serve, chosen on dev by the
    evaluate stage (see :func:`serving_choice`); ``dense``; ``bm25``; ``hybrid``, the weighted fusion at
    the version's BM25 weight (reciprocal rank fusion when the version has none); ``rrf``, reciprocal rank
    fusion. Every query is in the returned run; one with no result maps to an empty dict.

    Returns:
        ``(run, version, system)``: ``system`` describes what answered (mode, fusion, weight).

    Raises:
        ValueError: bad mode, ``k`` or query id, an unknown or unusable version, no registered model for a
            dense or fused search, or a passage id the TREC format cannot carry.
        IndexMismatchError: when the index was built from another corpus or model version.
    """

    _check_search(queries, mode, k)
    registry = Registry(paths.registry)
    version = version or registry.current
    if mode != "bm25":
        if version is None:
            raise ValueError(f"no model is registered for domain {paths.domain!r}: run the maintain stage first")
        try:
            manifest = registry.manifest(version)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
        if problem := registry.incomplete(version):
            raise ValueError(f"{version} cannot serve: {problem}")
    system = _system(mode, manifest if mode != "bm25" else {}, rrf_k)
    ws = load_workspace(paths)
    bad = next((pid for pid in ws.corpus if any(c.isspace() for c in pid)), None)
    if bad is not None:
        raise ValueError(f"passage id {bad!r} contains a space: the TREC format cannot carry it")
    runs = []
    if system["mode"] in {"dense", "hybrid"}:
        index = load_index(registry, version, corpus_hash(ws.corpus))
        model = load_sentence_transformer(str(registry.model_dir(version)), device, manifest.get("max_seq_length"))
        runs.append(index.search(model, queries, k=k))
    if system["mode"] in {"bm25", "hybrid"}:
        ids, texts = ws.ids_and_texts()
        runs.append(BM25Index(ids, texts, bm25_backend).search(queries, k=k))
    if len(runs) == 1:
        run = runs[0]
    elif system["fusion"] == "weighted":
        weight = system["bm25_weight"]
        run = weighted_fusion(runs, [1 - weight, weight], depth=k)
    else:
        run = reciprocal_rank_fusion(runs, k=rrf_k, depth=k)
    run = {q: run.get(q, {}) for q in queries}
    return run, (version if system["mode"] != "bm25" else None), system


def _system(mode: str, manifest: dict, rrf_k: int) -> dict:
    """What answers a search in ``mode`` with a version whose manifest is ``manifest``."""
    served = manifest.get("serving") or {"mode": "dense", "why": "registered before serving choices were recorded"}
    if mode == "served":
        return served
    if mode == "hybrid" and served.get("fusion") == "weighted":
        return served
    if mode in {"hybrid", "rrf"}:
        return {"mode": "hybrid", "fusion": "rrf", "rrf_k": rrf_k, "why": f"--mode {mode}"}
    return {"mode": mode, "why": f"--mode {mode}"}


def _run_info(paths: DomainPaths, params: Params) -> tuple[dict, list[str]]:
    """The manifest entries of the model trained for this domain, and its training queries.

    Reads the records of the synthesize, train and evaluate stages (``metrics/*.json``).
    """

    train = read_metrics(paths, "train") or {}
    if not paths.model_dir.exists():
        raise FileNotFoundError(f"no trained model at {paths.model_dir}: run the train stage first")
    evaluate = read_metrics(paths, "evaluate") or {}
    evaluation = evaluate.get("systems", {}).get("fine-tuned", {})
    refit = bool(train.get("refit"))  # the shipped model was trained again on the train and dev splits
    pairs_key = "refit_pairs" if refit else "training_pairs"
    info = {
        "base_model": params.base_model,
        "base_model_copy": train.get("base_model", ""),
        "base_model_fingerprint": train.get("base_model_fingerprint"),
        "model_fingerprint": model_fingerprint(str(paths.model_dir)),
        "max_seq_length": params.max_seq_length,
        "long_passages": params.long_passages,
        "window_sentences": params.window_sentences,
        "training_data": (read_metrics(paths, "synthesize") or {}).get(pairs_key, {}),
        "training_data_hash": (train.get("refit") or train).get("training_data_hash"),
        "refit_with_dev": refit,
        "params": train.get("params", {}),
        "metrics": {k: v for k, v in evaluation.items() if k != "queries"},
        "serving": serving_choice(evaluate),
    }
    return info, _training_queries(paths.refit_pairs if refit else paths.train_pairs)


def publish_run(
    registry: Registry, paths: DomainPaths, params: Params, progress: bool = True
) -> tuple[dict, ReembedSummary]:
    """Register the model trained for this domain and build its index, as one transaction.

    The new version is listed (and made current with ``params.promote``) only after its model, its
    training-corpus record and its complete index are on disk, so a search never meets a version
    without an index; a crash on the way leaves the registry as it was.

    Returns:
        ``(manifest, summary of the index build)``.
    """

    info, queries = _run_info(paths, params)
    corpus = load_workspace(paths).corpus
    built: list[ReembedSummary] = []

    def complete(version: str, manifest: dict) -> None:
        record_training_corpus(registry, version, corpus, queries)
        loaded = _load_manifest(registry, manifest, params.device)
        cache = paths.embeddings_dir
        engine = make_engine(params.embed_engine, params.ray_address)
        built.append(
            reembed(
                registry, version, loaded, corpus, params.encode_batch_size,
                cache_dir=cache, progress=progress, engine=engine,
            )
        )  # fmt: skip
        manifest["indexed"] = True

    manifest = registry.register(paths.model_dir, info, promote=params.promote, complete=complete)
    return manifest, built[0]


def _training_queries(pairs_file: Path) -> list[str]:
    return [p.query for p in load_pairs(pairs_file)] if pairs_file.exists() else []


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
