"""Training pairs (query, relevant passage) with provenance, and their JSONL files."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .paths import atomic_write_text, read_records

__all__ = ["Pair", "load_pairs", "normalize_query", "save_pairs"]


@dataclass(frozen=True)
class Pair:
    """One training pair with where it came from."""

    query: str
    positive: str  # passage id
    source: str  # gold | synthetic | clicks
    origin: str  # e.g. "train split", "generator:llm", "clicks:3"


def normalize_query(text: str) -> str:
    """Lower-case, collapse whitespace and drop punctuation, for duplicate checks."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def save_pairs(pairs: list[Pair], path: str | Path) -> None:
    """Write pairs as JSONL, atomically."""
    atomic_write_text(path, "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs))


def load_pairs(path: str | Path, sources: list[str] | None = None) -> list[Pair]:
    """Read pairs written by :func:`save_pairs`, optionally only the given sources."""
    pairs = read_records(path, Pair, "training pairs", "the synthesize stage")
    return [p for p in pairs if sources is None or p.source in sources]
