"""Where the passages of an index build are encoded: in this process (``local``) or on a Ray cluster (``ray``).

:func:`~nbutils.maintain.registry.reembed` decides *what* to encode (only new or changed passages); an engine
encodes it and returns the rows in passage order, so both engines give the same index and the same manifest.

With Ray, passages go out in shards through Ray Data's ``map_batches`` to actor workers that load the model once
(on a GPU each when the cluster has GPUs). Each worker writes its shard to the shard folder beside the index;
the driver assembles the shards in order. A shard's file name holds a hash of the model, its encoding settings
and its passages' content, so a build that was interrupted sends only the shards that are missing. Ray is an
optional extra (``pip install -e ".[ray]"``), imported only when the ``ray`` engine is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data import Passage
from ..models import load_encoder

__all__ = ["ENGINES", "LocalEngine", "RayEngine", "ShardStats", "make_engine"]

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")
RAY_MISSING = 'the ray engine needs Ray: pip install -e ".[ray]" (or make install EXTRAS=dev,ray)'


@dataclass
class ShardStats:
    """What a sharded build did: shards in all, found on disk from an interrupted build, and encoded now."""

    shards: int = 0
    reused: int = 0
    encoded: int = 0
    workers: int = 0
    gpus_per_worker: float = 0.0
    names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "names"}


class LocalEngine:
    """Encode in this process, in chunks of one batch, with a progress bar and a time estimate."""

    name = "local"
    stats: ShardStats | None = None

    def encode(self, loaded, passages: list, batch_size: int, known_rate: float | None, progress: bool, work: Path):
        """``(rows, starts, seconds, estimate, estimate source)``; see
        :meth:`~nbutils.models.LoadedModel.encode_index`. The estimate comes from the last build's throughput,
        or else from the first batch."""
        estimate = len(passages) / known_rate if known_rate and passages else None
        source = "last build" if estimate is not None else ""
        parts, starts, rows, start = [], [], 0, time.perf_counter()
        bar = tqdm(total=len(passages), desc="re-embedding", unit="passage", disable=not progress or not passages)
        with bar:
            for i in range(0, len(passages), batch_size):
                chunk = passages[i : i + batch_size]
                emb, first = loaded.encode_index(chunk, batch_size, progress=False)
                parts.append(emb)
                starts.append(first + rows)
                rows += len(emb)
                bar.update(len(chunk))
                if estimate is None:
                    estimate, source = len(passages) * (time.perf_counter() - start) / len(chunk), "first batch"
                    bar.set_postfix_str(f"estimated {estimate:.0f} s in all")
                    logger.info("re-embedding %d passages: about %.0f s (first batch)", len(passages), estimate)
        if not parts:
            return None, np.zeros(0, dtype=np.int64), time.perf_counter() - start, estimate, source
        return np.concatenate(parts), np.concatenate(starts), time.perf_counter() - start, estimate, source


def model_spec(loaded) -> dict:
    """What a worker needs to load the same model and encode passages the same way."""
    if loaded.resolved is None:
        raise ValueError("the ray engine needs a saved model folder (a registered version), not a model in training")
    return {
        "location": loaded.resolved.location,
        "max_seq_length": loaded.model.max_seq_length,
        "long_passages": loaded.long_passages,
        "window_sentences": loaded.window_sentences,
        "fingerprint": loaded.fingerprint,
    }


def shard_plan(spec: dict, passages: list, shard_size: int) -> list[tuple[str, list]]:
    """``(file name, passages)`` per shard, in order. The name hashes the model and its settings and the
    shard's passages (id and text), so a shard on disk is reused only for exactly the same work."""
    settings = f"{spec['fingerprint']}|{spec['max_seq_length']}|{spec['long_passages']}|{spec['window_sentences']}"
    plan = []
    for n, i in enumerate(range(0, len(passages), shard_size)):
        chunk = passages[i : i + shard_size]
        digest = hashlib.sha1(settings.encode())
        for p in chunk:
            digest.update(f"\x00{p.id}\x01{p.full_text()}".encode())
        plan.append((f"shard-{n:06d}-{digest.hexdigest()[:16]}.npz", chunk))
    return plan


class ShardWriter:
    """A Ray Data actor: loads the model once, then encodes each shard it is given and writes it to disk.

    Takes batches of whole shards (``name``, ``ids``, ``titles``, ``texts``); returns the names written.
    """

    def __init__(self, spec: dict, folder: str, batch_size: int, threads: int = 1):
        import torch

        torch.set_num_threads(max(1, threads))
        self.folder, self.batch_size = Path(folder), batch_size
        self.loaded = load_encoder(
            spec["location"], "auto", spec["max_seq_length"],
            long_passages=spec["long_passages"], window_sentences=spec["window_sentences"],
        )  # fmt: skip

    def __call__(self, batch: dict) -> dict:
        names = []
        for name, ids, titles, texts in zip(batch["name"], batch["ids"], batch["titles"], batch["texts"], strict=True):
            passages = [Passage(i, t, x) for i, t, x in zip(ids, titles, texts, strict=True)]
            rows, starts = self.loaded.encode_index(passages, self.batch_size, progress=False)
            tmp = self.folder / f".{name}.{os.getpid()}.tmp"
            with tmp.open("wb") as f:
                np.savez(f, rows=rows.astype(np.float32, copy=False), starts=np.asarray(starts, dtype=np.int64))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.folder / str(name))
            names.append(str(name))
        return {"name": np.array(names, dtype=object)}


class RayEngine:
    """Encode on a Ray cluster through Ray Data (see the module docstring).

    Args:
        address: a running cluster (``auto``, ``ray://host:10001``, ``host:6379``); empty starts a local Ray
            instance on this machine and stops it afterwards.
        shard_size: passages per shard (per file written, and per unit of work that survives an interruption).
        workers: actor workers; default: one per GPU when the cluster has GPUs, else one per two CPUs.
    """

    name = "ray"

    def __init__(self, address: str = "", shard_size: int = 256, workers: int | None = None):
        if shard_size < 1:
            raise ValueError(f"shard_size must be at least 1, got {shard_size}")
        self.address, self.shard_size, self.workers = address, shard_size, workers
        self.stats: ShardStats | None = None

    def encode(self, loaded, passages: list, batch_size: int, known_rate: float | None, progress: bool, work: Path):
        """Like :meth:`LocalEngine.encode`; shards go to ``work`` (kept when the build fails, for a resume)."""
        start = time.perf_counter()
        spec = model_spec(loaded)
        plan = shard_plan(spec, passages, self.shard_size)
        work.mkdir(parents=True, exist_ok=True)
        missing = [(name, chunk) for name, chunk in plan if not (work / name).is_file()]
        self.stats = ShardStats(len(plan), len(plan) - len(missing), len(missing), names=[n for n, _ in plan])
        if missing:
            self._run(spec, missing, batch_size, work, progress)
        if not plan:
            return None, np.zeros(0, dtype=np.int64), time.perf_counter() - start, None, ""
        rows, starts = _assemble_shards(work, [name for name, _ in plan])
        return rows, starts, time.perf_counter() - start, None, ""

    def _run(self, spec: dict, missing: list, batch_size: int, work: Path, progress: bool) -> None:
        ray = _import_ray()
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address or None, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            gpus = float(ray.cluster_resources().get("GPU", 0))
            cpus = int(ray.cluster_resources().get("CPU", 1))
            workers = self.workers or (int(gpus) if gpus >= 1 else max(1, cpus // 2))
            per_gpu = 1.0 if gpus >= 1 else 0.0
            threads = 1 if per_gpu else max(1, cpus // workers)
            self.stats.workers, self.stats.gpus_per_worker = workers, per_gpu
            items = [
                {"name": n, "ids": [p.id for p in c], "titles": [p.title for p in c], "texts": [p.text for p in c]}
                for n, c in missing
            ]
            ds = ray.data.from_items(items).map_batches(
                ShardWriter,
                fn_constructor_kwargs={"spec": spec, "folder": str(work), "batch_size": batch_size, "threads": threads},
                batch_size=1, concurrency=workers, num_gpus=per_gpu, num_cpus=0 if per_gpu else threads,
            )  # fmt: skip
            with tqdm(total=len(items), desc="re-embedding (ray)", unit="shard", disable=not progress) as bar:
                for batch in ds.iter_batches(batch_size=1):
                    bar.update(len(batch["name"]))
        finally:
            if started and not self.address:
                ray.shutdown()


def _assemble_shards(work: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The shards' rows in plan order, with each passage's first row counted from the start of all rows."""
    parts, starts, offset = [], [], 0
    for name in names:
        with np.load(work / name) as shard:
            rows, first = shard["rows"], shard["starts"]
        parts.append(rows)
        starts.append(first + offset)
        offset += len(rows)
    return np.concatenate(parts), np.concatenate(starts)


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is the part used
    except ImportError as e:
        raise ImportError(RAY_MISSING) from e
    return ray


def make_engine(name: str, address: str = "", shard_size: int = 256):
    """The engine called ``name`` (``local`` or ``ray``).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
        ImportError: for ``ray`` when Ray is not installed, saying what to install.
    """
    if name == "local":
        return LocalEngine()
    if name == "ray":
        _import_ray()
        return RayEngine(address, shard_size)
    raise ValueError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")


def clear_shards(work: Path) -> None:
    """Remove a build's shard folder once its index is in place."""
    shutil.rmtree(work, ignore_errors=True)
