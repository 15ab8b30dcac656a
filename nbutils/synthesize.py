"""Stage 2, synthesize: training pairs (query, relevant passage), each with its provenance.

Sources: gold labels of the *train* split (never dev or test), click logs, and generators over the
corpus. The heuristic generators here (``title``: the passage's section heading; ``cloze``: one
sentence of the passage) are cheap baselines.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from .data import Passage, load_clicks
from .paths import atomic_write_text
from .workspace import Workspace

__all__ = [
    "Pair",
    "PairSet",
    "build_pairs",
    "click_pairs",
    "examples",
    "generate",
    "gold_pairs",
    "leakage_filter",
    "load_pairs",
    "save_pairs",
    "summary",
]


@dataclass(frozen=True)
class Pair:
    """One training pair with where it came from."""

    query: str
    positive: str  # passage id
    source: str  # gold | synthetic | clicks
    origin: str  # e.g. "train split", "generator:title", "clicks:3"


def normalize_query(text: str) -> str:
    """Lower-case, collapse whitespace and drop punctuation, for duplicate checks."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def gold_pairs(ws: Workspace) -> list[Pair]:
    """Pairs from the gold labels of the train split only."""
    queries, qrels = ws.split("train")
    return [Pair(queries[q], pid, "gold", "train split") for q in queries for pid in qrels[q]]


def click_pairs(path: str, ws: Workspace, min_clicks: int = 1) -> list[Pair]:
    """Pairs from a click log, at least ``min_clicks`` clicks each."""
    clicks, _ = load_clicks(path, ws.corpus)
    return [Pair(c.query, c.doc_id, "clicks", f"clicks:{c.clicks}") for c in clicks if c.clicks >= min_clicks]


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _title_query(p: Passage, rng: random.Random) -> str | None:
    heading = p.text.split("\n", 1)[0].strip()
    return heading if 2 <= len(heading.split()) <= 12 else (p.title or None)


def _cloze_query(p: Passage, rng: random.Random) -> str | None:
    body = " ".join(p.text.split("\n")[1:]) or p.text
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(body.split())) if 5 <= len(s.split()) <= 30]
    return rng.choice(sentences) if sentences else None


GENERATORS = {"title": _title_query, "cloze": _cloze_query}


def generate(ws: Workspace, generators: list[str], n_passages: int, per_passage: int, seed: int) -> list[Pair]:
    """Run heuristic generators over a seeded sample of ``n_passages`` passages (0 = all).

    Raises:
        ValueError: for an unknown generator, listing the valid ones.
    """
    for g in generators:
        if g not in GENERATORS:
            raise ValueError(f"unknown generator {g!r}; valid: {', '.join(GENERATORS)}")
    rng = random.Random(seed)
    ids = sorted(ws.corpus)
    sample = ids if n_passages <= 0 or n_passages >= len(ids) else rng.sample(ids, n_passages)
    pairs = []
    for g in generators:
        for pid in sample:
            for _ in range(per_passage):
                q = GENERATORS[g](ws.corpus[pid], rng)
                if q:
                    pairs.append(Pair(q, pid, "synthetic", f"generator:{g}"))
    return pairs


def leakage_filter(
    pairs: list[Pair], ws: Workspace, splits: tuple[str, ...] = ("test", "dev")
) -> tuple[list[Pair], list[Pair]]:
    """Drop pairs whose query equals (after normalisation) a held-out query, and exact duplicates.

    Returns:
        ``(kept, dropped)``.
    """
    held = {normalize_query(ws.queries[q]) for s in splits for q in ws.splits[s]}
    kept, dropped, seen = [], [], set()
    for p in pairs:
        key = (normalize_query(p.query), p.positive)
        if key[0] in held or key in seen:
            dropped.append(p)
        else:
            seen.add(key)
            kept.append(p)
    return kept, dropped


def save_pairs(pairs: list[Pair], path: str | Path) -> None:
    """Write pairs as JSONL, atomically."""
    atomic_write_text(path, "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs))


def load_pairs(path: str | Path, sources: list[str] | None = None) -> list[Pair]:
    """Read pairs written by :func:`save_pairs`, optionally only the given sources."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training pairs not found: {path} (run the synthesize stage first)")
    pairs = [Pair(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [p for p in pairs if sources is None or p.source in sources]


@dataclass
class PairSet:
    """Pairs from every source after the leakage filter, and what it dropped."""

    kept: list[Pair]
    dropped: list[Pair]


def build_pairs(ws: Workspace, params) -> PairSet:
    """Collect gold (train split), click and generated pairs, then drop held-out and duplicate queries."""
    pairs = gold_pairs(ws)
    if params.clicks_file:
        pairs += click_pairs(params.clicks_file, ws)
    pairs += generate(ws, params.generators, params.synth_passages, params.synth_per_passage, params.seed)
    kept, dropped = leakage_filter(pairs, ws)
    return PairSet(kept, dropped)


def summary(pairs: list[Pair], train_sources: list[str]):
    """Pairs per source and origin, and whether they train the model (a DataFrame)."""
    import pandas as pd

    rows = Counter((p.source, p.origin.split(":")[0] if p.source == "clicks" else p.origin) for p in pairs)
    return pd.DataFrame(
        [
            {"source": s, "origin": o, "pairs": n, "trains the model": s in train_sources}
            for (s, o), n in sorted(rows.items())
        ]
    )


def examples(pairs: list[Pair], ws: Workspace, per_origin: int = 3, seed: int = 0, width: int = 160):
    """A few pairs of each origin with the start of their passage (a DataFrame)."""
    import pandas as pd

    rng = random.Random(seed)
    by_origin: dict[str, list[Pair]] = {}
    for p in pairs:
        by_origin.setdefault(p.origin if p.source != "clicks" else "clicks", []).append(p)
    rows = []
    for origin, group in sorted(by_origin.items()):
        for p in rng.sample(group, min(per_origin, len(group))):
            text = ws.corpus[p.positive].full_text().replace("\n", " ")
            rows.append({"origin": origin, "query": p.query, "passage": p.positive, "text": text[:width] + "…"})
    return pd.DataFrame(rows)
