"""One embedding per passage and model, shared by every stage that needs it.

The store keeps corpus embeddings keyed by **how they were made** (the model's fingerprint, its
``max_seq_length``, how long passages are encoded and the size of its sentence windows) and, within that,
by **each passage's content hash**. A stage asks for the rows of its passages; the store hands back
what any stage (or any earlier corpus, sample or edit of it) already encoded and encodes only the rest.
Adding one document to a corpus of a million passages encodes that document, not the corpus.

On disk, one folder per key holds segments written once and never changed::

    <key>/<segment>.hashes.npy   passage hashes (16 hex characters each)
    <key>/<segment>.counts.npy   rows per passage (1, or 1 + windows with sentence windows)
    <key>/<segment>.rows.npy     float32 rows, memory-mapped when read
    <key>/<segment>.done         written last: a segment without it is ignored

A crash part-way through a write leaves an unfinished segment that nothing reads. Every lookup and its
count of encoded passages is appended to ``encodes.jsonl`` beside the key folders, so a run can say what
it encoded and what it reused; past ``LOG_MAX_BYTES`` the log keeps its newest half.

Example::

    store = EmbeddingStore(paths.embeddings_dir, loaded)
    rows, starts = store.index_rows(list(ws.corpus.values()))  # encodes only passages never seen
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .models import add_sentence_windows

__all__ = ["EmbeddingStore", "Found", "passage_hash", "read_encode_log", "store_key"]

MAX_SEGMENTS = 16  # more segments than this are merged into one on the next write
LOG_MAX_BYTES = 1 << 20  # encodes.jsonl is cut to its newest half past this size


def passage_hash(text: str) -> str:
    """Content hash of one passage's encoded text: a changed passage gets a new hash."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def store_key(loaded) -> str:
    """The store folder of a :class:`~nbutils.models.LoadedModel`: its fingerprint, sequence length, how
    long passages are encoded and the size of its sentence windows."""
    key = f"{loaded.fingerprint}-{loaded.model.max_seq_length}"
    key += "-windows" if loaded.windows else ""
    return key + (f"-s{loaded.window_sentences}" if loaded.window_sentences else "")


@dataclass
class Found:
    """Rows the store already holds for some passages: their hashes, rows and each one's first row."""

    hashes: list[str]
    rows: np.ndarray
    starts: np.ndarray


@dataclass
class _Segment:
    name: str
    hashes: np.ndarray  # S16
    counts: np.ndarray
    starts: np.ndarray
    rows: np.ndarray  # memory-mapped


class EmbeddingStore:
    """Embeddings of one model (see :func:`store_key`) by passage content hash, under ``root``.

    Args:
        root: the folder of all keys, e.g. a domain's ``work/embeddings``.
        loaded: the :class:`~nbutils.models.LoadedModel` whose embeddings are stored and which encodes
            what is missing.
    """

    def __init__(self, root: str | Path, loaded) -> None:
        self.root = Path(root)
        self.loaded = loaded
        self.folder = self.root / store_key(loaded)

    # ------------------------------------------------------------------ reading

    def _segments(self) -> list[_Segment]:
        for attempt in range(3):  # a merge may remove a segment between listing and reading it
            try:
                return [self._read(done.name[: -len(".done")]) for done in sorted(self.folder.glob("*.done"))]
            except FileNotFoundError:
                if attempt == 2:
                    raise
        return []

    def _read(self, name: str) -> _Segment:
        hashes = np.load(self.folder / f"{name}.hashes.npy")
        counts = np.load(self.folder / f"{name}.counts.npy")
        rows = np.load(self.folder / f"{name}.rows.npy", mmap_mode="r")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
        return _Segment(name, hashes, counts, starts, rows)

    def lookup(self, hashes: list[str]) -> Found:
        """The rows held for those of ``hashes`` the store knows (each once, in first-seen order)."""
        segments = self._segments()
        where = _positions(segments)
        wanted = list(dict.fromkeys(h.encode() for h in hashes))
        hits = [h for h in wanted if h in where]
        rows, starts = _gather(segments, [where[h] for h in hits], self._dim())
        return Found([h.decode() for h in hits], rows, starts)

    def _dim(self) -> int:
        model = self.loaded.model
        return int(getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)())

    # ------------------------------------------------------------------ writing

    def add(self, hashes: list[str], rows: np.ndarray, starts: np.ndarray) -> None:
        """Store the rows of passages ``hashes`` (``starts``: each one's first row); a no-op when empty."""
        if not hashes:
            return
        counts = np.diff(np.append(np.asarray(starts, dtype=np.int64), len(rows)))
        name = hashlib.sha256("".join(hashes).encode()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_segment(self.folder, name, np.array(hashes, dtype="S16"), counts, np.asarray(rows, np.float32))
        if len(list(self.folder.glob("*.done"))) > MAX_SEGMENTS:
            self._merge()

    def _merge(self) -> None:
        """Rewrite every segment as one (passages kept once), then remove the old segments."""
        segments = self._segments()
        seen = _positions(segments)
        rows, starts = _gather(segments, list(seen.values()), self._dim())
        counts = np.diff(np.append(starts, len(rows)))
        name = "merged-" + hashlib.sha256(b"".join(seen)).hexdigest()[:16]
        _write_segment(self.folder, name, np.array(list(seen), dtype="S16"), counts, rows)
        for seg in segments:
            if seg.name != name:
                (self.folder / f"{seg.name}.done").unlink(missing_ok=True)
                for part in ("hashes", "counts", "rows"):
                    (self.folder / f"{seg.name}.{part}.npy").unlink(missing_ok=True)

    # ------------------------------------------------------------------ the one call stages make

    def index_rows(self, passages: list, batch_size: int = 64, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Rows and starts of a :class:`~nbutils.retrieval.DenseIndex` of ``passages`` (in their order):
        rows the store holds are reused, the others encoded (``loaded.encode_index``) and stored."""
        hashes = [passage_hash(p.full_text()) for p in passages]
        found = self.lookup(hashes)
        known = set(found.hashes)
        todo: dict[str, object] = {}
        for h, p in zip(hashes, passages, strict=True):
            if h not in known:
                todo.setdefault(h, p)
        if todo:
            rows, starts = self._encode(list(todo.values()), batch_size, progress)
            self.add(list(todo), rows, starts)
            found = _join(found, Found(list(todo), rows, starts))
        self._log(len(passages), len(todo))
        return _order(found, hashes)

    def _encode(self, passages: list, batch_size: int, progress: bool) -> tuple[np.ndarray, np.ndarray]:
        """Encode passages as ``loaded.encode_index`` does. With sentence windows, each passage's own row comes
        from (and goes to) the store of the same model without windows, which other stages read (the mine
        stage's teacher, for one): only the windows are encoded here."""
        if not self.loaded.window_sentences:
            return self.loaded.encode_index(passages, batch_size, progress=progress)
        plain = EmbeddingStore(self.root, replace(self.loaded, window_sentences=0))
        whole, _ = plain.index_rows(passages, batch_size, progress)
        return add_sentence_windows(self.loaded, passages, whole, self.loaded.window_sentences, batch_size, progress)

    def _log(self, passages: int, encoded: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        record = {"at": time.time(), "key": self.folder.name, "passages": passages, "encoded": encoded}
        path = self.root / "encodes.jsonl"
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if path.stat().st_size > LOG_MAX_BYTES:
            _trim_log(path)


def read_encode_log(root: str | Path) -> list[dict]:
    """Every lookup recorded under ``root`` (see :class:`EmbeddingStore`): key, passages asked, passages encoded."""
    path = Path(root) / "encodes.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _trim_log(path: Path) -> None:
    """Keep the newest half of the log's bytes (whole lines), written atomically, so a scheduled run's log
    stays bounded."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept, size = [], 0
    for line in reversed(lines):
        size += len(line.encode("utf-8"))
        if size > LOG_MAX_BYTES // 2:
            break
        kept.append(line)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(reversed(kept)), encoding="utf-8")
    tmp.replace(path)


def _write_segment(folder: Path, name: str, hashes: np.ndarray, counts: np.ndarray, rows: np.ndarray) -> None:
    if (folder / f"{name}.done").exists():
        return
    for part, array in (("hashes", hashes), ("counts", counts), ("rows", rows)):
        tmp = folder / f".{name}.{part}.{os.getpid()}.tmp"
        with tmp.open("wb") as f:
            np.save(f, array)
        tmp.replace(folder / f"{name}.{part}.npy")
    (folder / f"{name}.done").write_text("", encoding="utf-8")


def _positions(segments: list[_Segment]) -> dict[bytes, tuple[int, int]]:
    """Each stored hash's first place: (segment, position in it)."""
    where: dict[bytes, tuple[int, int]] = {}
    for s, seg in enumerate(segments):
        for j, h in enumerate(seg.hashes.tolist()):
            where.setdefault(h, (s, j))
    return where


def _gather(segments: list[_Segment], refs: list[tuple[int, int]], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of passages ``refs`` (segment, position), concatenated in order, and each one's first row."""
    if not refs:
        return np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.int64)
    seg_of = np.array([s for s, _ in refs], dtype=np.int64)
    pos = np.array([j for _, j in refs], dtype=np.int64)
    counts = np.empty(len(refs), dtype=np.int64)
    src = np.empty(len(refs), dtype=np.int64)
    for s, seg in enumerate(segments):
        mask = seg_of == s
        counts[mask], src[mask] = seg.counts[pos[mask]], seg.starts[pos[mask]]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    out = np.empty((int(counts.sum()), dim), dtype=np.float32)
    for s, seg in enumerate(segments):
        mask = seg_of == s
        if mask.any():
            c = counts[mask]
            offsets = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
            out[np.repeat(starts[mask], c) + offsets] = seg.rows[np.repeat(src[mask], c) + offsets]
    return out, starts


def _join(a: Found, b: Found) -> Found:
    starts = np.concatenate([a.starts, b.starts + len(a.rows)])
    return Found(a.hashes + b.hashes, np.concatenate([a.rows, b.rows]), starts)


def _order(found: Found, hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``hashes`` in their order (a hash asked twice gets its rows twice)."""
    position = {h: i for i, h in enumerate(found.hashes)}
    counts = np.diff(np.append(found.starts, len(found.rows)))
    idx = np.array([position[h] for h in hashes], dtype=np.int64)
    c = counts[idx]
    starts = np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.int64) if len(c) else c
    offsets = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
    rows = found.rows[np.repeat(found.starts[idx], c) + offsets]
    return np.asarray(rows, dtype=np.float32), starts
