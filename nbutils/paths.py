"""Where every artifact of a domain lives: the one place that defines paths under ``outputs/``.

Layout::

    <outputs_dir>/index.html
    <outputs_dir>/<domain>/NN_stage.ipynb and .html     executed notebooks and their reports
    <outputs_dir>/<domain>/metrics/NN_stage.json       key results per stage
    <outputs_dir>/<domain>/work/                       data, pairs, models, registry, indexes
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "NOTEBOOKS",
    "DomainPaths",
    "UnsafePath",
    "check_domain",
    "append_line",
    "atomic_write_text",
    "json_lines",
    "read_json",
    "read_records",
    "write_json",
]

NOTEBOOKS: dict[str, str] = {
    "decide": "01_decide",
    "synthesize": "02_synthesize",
    "mine": "03_mine",
    "train": "04_train",
    "evaluate": "05_evaluate",
    "maintain": "06_maintain",
}


DOMAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class UnsafePath(ValueError):
    """A domain name or output path that would write outside the outputs folder."""


def check_domain(name: object) -> str:
    """Return ``name`` if it is a safe domain name: a folder name under ``outputs/`` and nothing more.

    Letters, digits, ``_``, ``-`` and ``.``, starting with a letter or digit, at most 64 characters, no ``..``.

    Raises:
        UnsafePath: for anything else (paths, ``..``, quotes, spaces, an empty name), naming the value.
    """
    if not isinstance(name, str) or not DOMAIN_NAME.fullmatch(name) or ".." in name:
        raise UnsafePath(
            f"domain name {name!r} is not allowed: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, at most 64 characters"
        )
    return name


@dataclass(frozen=True)
class DomainPaths:
    """Paths of one domain's artifacts. Creating the object creates no folder.

    Raises:
        UnsafePath: when the domain name is not a plain folder name (:func:`check_domain`) or its folder
            resolves outside ``outputs_dir`` (e.g. through a symbolic link).
    """

    outputs_dir: Path
    domain: str

    def __post_init__(self) -> None:
        check_domain(self.domain)
        outputs = Path(self.outputs_dir).resolve()
        for path in (self.root, self.work):
            if not path.resolve().is_relative_to(outputs):
                raise UnsafePath(f"{path} resolves to {path.resolve()}, outside the outputs folder {outputs}")

    @classmethod
    def from_params(cls, params) -> DomainPaths:
        return cls(Path(params.outputs_dir), params.domain)

    @property
    def root(self) -> Path:
        return self.outputs_dir / self.domain

    @property
    def index_html(self) -> Path:
        return self.outputs_dir / "index.html"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def lock(self) -> Path:
        """The domain's writer lock (see :mod:`nbutils.lock`); the registry's lives beside it, the same file."""
        return self.work / ".lock"

    def notebook(self, stage: str) -> Path:
        return self.root / f"{NOTEBOOKS[stage]}.ipynb"

    def html(self, stage: str) -> Path:
        return self.root / f"{NOTEBOOKS[stage]}.html"

    def running(self, stage: str) -> Path:
        """Where a stage's notebook is executed; renamed to :meth:`notebook` when it succeeds."""
        return self.root / f"{NOTEBOOKS[stage]}.running.ipynb"

    def failed(self, stage: str) -> Path:
        """A stage's last failed run, kept beside its last good report (removed by the next success)."""
        return self.root / f"{NOTEBOOKS[stage]}.failed.ipynb"

    def failed_html(self, stage: str) -> Path:
        return self.root / f"{NOTEBOOKS[stage]}.failed.html"

    def metrics(self, stage: str) -> Path:
        return self.metrics_dir / f"{NOTEBOOKS[stage]}.json"

    # data prepared by decide
    @property
    def source_docs(self) -> Path:
        return self.work / "source"

    @property
    def corpus(self) -> Path:
        return self.work / "corpus.jsonl"

    @property
    def queries(self) -> Path:
        return self.work / "queries.jsonl"

    @property
    def data_issues(self) -> Path:
        """Problems the decide stage found in the corpus, queries and gold files (one JSON object a line)."""
        return self.work / "data_issues.jsonl"

    @property
    def click_issues(self) -> Path:
        """Problems the synthesize stage found in the click log."""
        return self.work / "click_issues.jsonl"

    @property
    def splits(self) -> Path:
        return self.work / "splits.json"

    @property
    def embeddings_dir(self) -> Path:
        return self.work / "embeddings"

    # pairs, negatives, models
    @property
    def pairs(self) -> Path:
        return self.work / "pairs.jsonl"

    @property
    def labels(self) -> Path:
        return self.work / "gold_labels.jsonl"

    @property
    def llm_cache(self) -> Path:
        return self.work / "llm_cache.jsonl"

    @property
    def train_pairs(self) -> Path:
        return self.work / "train_pairs.jsonl"

    @property
    def triples(self) -> Path:
        return self.work / "train_triples.jsonl"

    @property
    def refit_pairs(self) -> Path:
        """Training pairs of the train and dev splits, for ``refit_with_dev`` (empty without it)."""
        return self.work / "refit_pairs.jsonl"

    @property
    def refit_triples(self) -> Path:
        """Mined rows of :attr:`refit_pairs` (empty without ``refit_with_dev``)."""
        return self.work / "refit_triples.jsonl"

    @property
    def model_dir(self) -> Path:
        """The model this domain ships: registered, searched, scored on the test split."""
        return self.work / "model"

    @property
    def dev_model_dir(self) -> Path:
        """With ``refit_with_dev``: the model trained on the train split only and scored on dev."""
        return self.work / "model_dev"

    @property
    def negative_flags(self) -> Path:
        return self.work / "negative_flags.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.work / "checkpoints"

    @property
    def refit_checkpoints(self) -> Path:
        return self.work / "checkpoints-refit"

    @property
    def registry(self) -> Path:
        return self.work / "registry"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_line(path: str | Path, line: str) -> None:
    """Append one line to ``path`` with a single write on an append-mode descriptor, then flush it to disk.

    Concurrent appenders never interleave within a line, and a crash loses at most the line being written
    (readers skip a torn last line).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def json_lines(path: str | Path, objects: bool = False) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` for each non-blank line of a JSONL file.

    Raises:
        ValueError: for a line that is not JSON (or, with ``objects``, not a JSON object), naming the
            file and line.
    """
    path = Path(path)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if objects and not isinstance(value, dict):
            raise ValueError(f"{path}:{n}: not a JSON object")
        yield n, value


def read_records(path: str | Path, cls: type, what: str, writer: str = "the stage that writes it") -> list:
    """Read a JSONL file of ``cls`` rows (a dataclass), one object a line; blank lines are skipped.

    Raises:
        FileNotFoundError: when the file is missing, saying which stage writes it.
        ValueError: for a line that is not a JSON object or does not fit ``cls``, naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} (run {writer} first)")
    fields = {f.name for f in dataclasses.fields(cls)}
    rows = []
    for n, obj in json_lines(path, objects=True):
        unknown, missing = sorted(set(obj) - fields), [f for f in _required(cls) if f not in obj]
        if unknown or missing:
            problem = f"unknown keys {unknown}" if unknown else f"missing keys {missing}"
            raise ValueError(f"{path}:{n}: {problem} for {what}; keys: {', '.join(sorted(fields))}")
        rows.append(cls(**obj))
    return rows


def _required(cls: type) -> list[str]:
    none = dataclasses.MISSING
    return [f.name for f in dataclasses.fields(cls) if f.default is none and f.default_factory is none]


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read JSON, with an error that says which earlier stage should have written it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} (run the stage that writes it first)")
    return json.loads(path.read_text(encoding="utf-8"))
