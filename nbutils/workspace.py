"""A domain's prepared data: corpus, labelled queries and their splits, written once by *decide*.

Later stages read the prepared files through :func:`load_workspace` instead of re-loading raw data,
so every stage sees the same corpus, the same ids and the same held-out test queries.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .builtin import is_builtin, materialize
from .config import Params, SplitBy
from .data import DataIssues, Dataset, Passage, add_gold, load_dataset
from .embedding_store import EmbeddingStore
from .paths import DomainPaths, atomic_write_text, read_json, write_json
from .report import table
from .retrieval import BM25Index, DenseIndex

__all__ = [
    "Workspace",
    "bm25_index",
    "corpus_embeddings",
    "corpus_hash",
    "dense_index",
    "document_of",
    "held_out_documents",
    "holds_out_passages",
    "save_workspace",
    "section_of",
    "load_workspace",
    "prepare_workspace",
    "split_by_document",
    "trainable_passages",
    "split_queries",
]

SPLITS = ("train", "dev", "test")

GOLD, SYNTHETIC = "gold", "synthetic"  # kinds of test queries: labelled, or written by the suite


@dataclass
class Workspace:
    """Prepared data of one domain."""

    corpus: dict[str, Passage]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    splits: dict[str, list[str]]
    issues: DataIssues = field(default_factory=DataIssues)
    split_by: str = "query"  # how the splits were drawn: by query id, or by the queries' documents
    excluded: list[str] = field(default_factory=list)  # labelled queries in no split (document mode)
    test_source: str = "gold"  # where the test and dev queries come from: gold labels, or synthetic questions
    sets: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # with a synthetic test split: held-out ids
    # by source ("gold", "synthetic") and split; empty while the gold labels are the test split
    held_out_units: list[str] = field(default_factory=list)  # sections of the synthetic test set, never trained on
    query_source: dict[str, str] = field(default_factory=dict)  # "synthetic" for generated test questions
    formats: dict[str, int] = field(default_factory=dict)  # documents read per suffix (as loaded, not saved)

    @property
    def synthetic(self) -> bool:
        """Whether the test and dev splits are provisional synthetic questions rather than labelled ones."""
        return self.test_source == "synthetic"

    def held_out(self, names: tuple[str, ...] = ("test", "dev")) -> list[str]:
        """Ids of every held-out query in the splits ``names``: those of the test source and of every other
        set (gold test queries stay held out while synthetic ones stand in for them)."""
        ids = {q for name in names for q in self.splits.get(name, [])}
        ids |= {q for by_split in self.sets.values() for name in names for q in by_split.get(name, [])}
        return sorted(ids)

    def labelled_split(self, name: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
        """Queries and qrels of one split of the *gold* labels, whichever source the test split uses."""
        ids = self.sets.get("gold", {}).get(name, []) if self.synthetic else self.splits.get(name, [])
        return {q: self.queries[q] for q in ids}, {q: self.qrels[q] for q in ids}

    def split(self, name: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
        """Queries and qrels of one split (``train``, ``dev`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        ids = self.splits.get(name, [])
        return {q: self.queries[q] for q in ids}, {q: self.qrels[q] for q in ids}

    def ids_and_texts(self) -> tuple[list[str], list[str]]:
        """Passage ids and the text retrievers see (title + text), in corpus order."""
        ids = list(self.corpus)
        return ids, [self.corpus[i].full_text() for i in ids]


def _unit(seed: int, qid: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00{qid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_queries(
    query_ids: list[str],
    test_fraction: float,
    dev_fraction: float,
    seed: int,
    fixed: dict[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """Assign each labelled query to exactly one of train / dev / test.

    A split given with the data (``fixed``) is kept as is. Every other query goes to a split by a
    seeded hash of its id, so a query keeps its split when labels are added later: a test query never
    moves into training between runs. Split sizes match the fractions approximately.

    This and :func:`split_by_document` (``split_by: document``) are the only places where held-out
    queries are chosen.

    Example:
        >>> s = split_queries([f"q{i}" for i in range(1000)], 0.2, 0.1, seed=0)
        >>> [round(len(s[k]) / 1000, 1) for k in ("train", "dev", "test")]
        [0.7, 0.1, 0.2]
    """
    fixed = fixed or {}
    taken = {q for ids in fixed.values() for q in ids}
    out: dict[str, list[str]] = {"test": list(fixed.get("test", [])), "dev": list(fixed.get("dev", [])), "train": []}
    test_share = 0.0 if "test" in fixed else test_fraction
    dev_share = 0.0 if "dev" in fixed else dev_fraction
    for q in query_ids:
        if q in taken:
            continue
        u = _unit(seed, q)
        out["test" if u < test_share else "dev" if u < test_share + dev_share else "train"].append(q)
    if not out["test"] and test_share > 0 and len(out["train"]) > 1:  # tiny sets: hold out at least one
        first = min(out["train"], key=lambda q: _unit(seed, q))
        out["train"].remove(first)
        out["test"].append(first)
    out = {k: sorted(v) for k, v in out.items()}
    if set(out["test"]) & (set(out["train"]) | set(out["dev"])):
        raise ValueError("a fixed split overlaps the test split: a test query would reach training")
    return out


def document_of(passage_id: str) -> str:
    """The document a passage belongs to.

    Chunked documents have passage ids ``<doc>#<section>-<n>``: the document is the part before ``#``.
    A passage id without ``#`` (a BEIR corpus) is its own document.

    Example:
        >>> document_of("reference/datamodel#special-names-2"), document_of("4983")
        ('reference/datamodel', '4983')
    """
    return passage_id.split("#", 1)[0]


def _bucket(u: float, test_share: float, dev_share: float) -> str:
    return "test" if u < test_share else "dev" if u < test_share + dev_share else "train"


def split_by_document(
    qrels: dict[str, dict[str, int]],
    test_fraction: float,
    dev_fraction: float,
    seed: int,
    fixed: dict[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """Assign labelled queries to train / dev / test so that held-out documents are unseen in training.

    Each document (see :func:`document_of`) gets a split by a seeded hash of its id, so it keeps its
    split when labels are added. A query goes to the split of its relevant documents. A query whose
    documents fall in different splits is left out of every split and listed under ``excluded``:
    putting it in test would make its train documents test documents too, and drop every train
    query on them. A split given with the data (``fixed``) is kept; its documents belong to that
    split, and other queries on them are excluded. A last pass excludes any dev or train query still
    sharing a document with a more held-out query, so no test query shares a document with a dev or
    train query, and no dev query with a train query.

    Args:
        qrels: relevant passage ids by query id (every query to split).

    Returns:
        Sorted query ids under ``test``, ``dev``, ``train`` and ``excluded``.
    """
    fixed = fixed or {}
    docs = {q: {document_of(p) for p in rel} for q, rel in qrels.items()}
    out: dict[str, list[str]] = {"test": list(fixed.get("test", [])), "dev": list(fixed.get("dev", [])), "train": []}
    owner = {d: name for name in ("dev", "test") for q in out[name] for d in docs.get(q, set())}
    shares = (0.0 if "test" in fixed else test_fraction, 0.0 if "dev" in fixed else dev_fraction)
    excluded = []
    taken = {q for ids in fixed.values() for q in ids}
    for q in sorted(set(qrels) - taken):
        buckets = {owner.get(d) or _bucket(_unit(seed, d), *shares) for d in docs[q] or {q}}
        name = buckets.pop() if len(buckets) == 1 else None
        (excluded if name is None or name in fixed else out[name]).append(q)
    if not out["test"] and shares[0] > 0 and len(out["train"]) > 1:  # tiny sets: hold out at least one
        first = min(out["train"], key=lambda q: _unit(seed, q))
        out["train"].remove(first)
        out["test"].append(first)
    result = _exclude_shared_documents(out, docs)
    return {**result, "excluded": sorted(result["excluded"] + excluded)}


def _exclude_shared_documents(out: dict[str, list[str]], docs: dict[str, set[str]]) -> dict[str, list[str]]:
    held: set[str] = set()
    result: dict[str, list[str]] = {}
    excluded: list[str] = []
    for name in ("test", "dev", "train"):
        result[name] = sorted(q for q in out[name] if not docs.get(q, set()) & held)
        excluded += [q for q in out[name] if docs.get(q, set()) & held]
        held |= {d for q in result[name] for d in docs.get(q, set())}
    return {**result, "excluded": sorted(excluded)}


def held_out_documents(ws: Workspace, splits: tuple[str, ...] = ("test", "dev")) -> set[str]:
    """Documents holding a relevant passage of a query in ``splits`` (see :func:`document_of`)."""
    return {document_of(p) for q in ws.held_out(splits) for p in ws.qrels.get(q, {})}


def section_of(passage_id: str) -> str:
    """The section a passage belongs to: its id without the chunk number.

    Chunked documents have passage ids ``<doc>#<section-slug>-<n>``; the section is ``<doc>#<section-slug>``.
    A passage id without ``#`` (a BEIR corpus) is its own section.

    Example:
        >>> section_of("guide/install#linux-2"), section_of("4983")
        ('guide/install#linux', '4983')
    """
    if "#" not in passage_id:
        return passage_id
    head, _, tail = passage_id.rpartition("-")
    return head if tail.isdigit() and head else passage_id


def trainable_passages(ws: Workspace) -> set[str]:
    """Passage ids training may use as positives or negatives.

    All of them, except: with ``split_by: document``, every passage of a document held out for dev or
    test; and every passage of a section the synthetic test set was written from (``held_out_units``),
    so those passages stay unseen until evaluation.
    """
    held = held_out_documents(ws) if ws.split_by == "document" else set()
    units = set(ws.held_out_units)
    return {pid for pid in ws.corpus if document_of(pid) not in held and section_of(pid) not in units}


def holds_out_passages(ws: Workspace) -> bool:
    """Whether some passages must stay out of training (document splits or a synthetic test set)."""
    return ws.split_by == "document" or bool(ws.held_out_units)


def _split(ds: Dataset, params: Params) -> dict[str, list[str]]:
    """Splits as ``params.split_by`` asks (``query``, the default, or ``document``).

    Raises:
        ValueError: for another value of ``split_by``, listing the valid ones.
    """
    args = (params.test_fraction, params.dev_fraction, params.seed, ds.fixed_splits)
    if params.split_by == SplitBy.QUERY.value:
        return split_queries(sorted(ds.queries), *args)
    if params.split_by == SplitBy.DOCUMENT.value:
        return split_by_document({q: ds.qrels[q] for q in ds.queries}, *args)
    raise ValueError(f"split_by: {params.split_by!r} is not allowed; valid: {', '.join(m.value for m in SplitBy)}")


def _sample_corpus(ds: Dataset, n: int, seed: int) -> dict[str, Passage]:
    """Keep every labelled passage and a seeded sample of the rest, up to ``n`` (0 = all)."""
    if n <= 0 or n >= len(ds.corpus):
        return ds.corpus
    labelled = {p for rel in ds.qrels.values() for p in rel}
    others = sorted(p for p in ds.corpus if p not in labelled)
    keep = labelled | set(random.Random(seed).sample(others, max(0, min(len(others), n - len(labelled)))))
    return {pid: p for pid, p in ds.corpus.items() if pid in keep}


def corpus_hash(corpus: dict[str, Passage]) -> str:
    """Content hash of a corpus (ids, titles and texts, in order)."""
    h = hashlib.sha256()
    for p in corpus.values():
        h.update(f"{p.id}\x00{p.title}\x00{p.text}\x01".encode())
    return h.hexdigest()[:16]


def prepare_workspace(params: Params, paths: DomainPaths) -> Workspace:
    """Load the domain's raw data, sample and split it, and write the prepared files.

    Builtin domains (``builtin:<name>``) are first written out as documents under the work folder.
    Problems found in the input files are written to ``work/data_issues.jsonl``.
    Labels saved by the labeling panel (``work/gold_labels.jsonl``) are added to the gold labels.
    """
    data_dir, gold = params.data_dir, params.gold_file or None
    if is_builtin(data_dir):
        folder, builtin_gold = materialize(data_dir, paths.source_docs)
        data_dir, gold = folder, gold or builtin_gold
    ds = load_dataset(data_dir, params.chunk_words, gold)
    if paths.labels.exists() and paths.labels != Path(gold or ""):
        add_gold(ds, paths.labels)
    corpus = _sample_corpus(ds, params.corpus_sample, params.seed)
    splits = _split(ds, params)
    excluded = splits.pop("excluded", [])
    ws = Workspace(corpus, dict(ds.queries), dict(ds.qrels), splits, ds.issues, params.split_by, excluded)
    ws.formats = dict(ds.formats)
    save_workspace(ws, paths, params.seed)
    ds.issues.write(paths.data_issues)
    return ws


def save_workspace(ws: Workspace, paths: DomainPaths, seed: int) -> None:
    """Write a workspace's corpus, queries (with their source) and splits, each file atomically."""
    lines = [
        json.dumps(
            {"_id": p.id, "title": p.title, "text": p.text, **({"page": p.page} if p.page else {})}, ensure_ascii=False
        )
        for p in ws.corpus.values()
    ]
    atomic_write_text(paths.corpus, "\n".join(lines) + "\n")
    qlines = [
        json.dumps(
            {"_id": q, "text": t, "qrels": ws.qrels[q], **({"source": s} if (s := ws.query_source.get(q)) else {})},
            ensure_ascii=False,
        )
        for q, t in ws.queries.items()
    ]
    atomic_write_text(paths.queries, "\n".join(qlines) + ("\n" if qlines else ""))
    write_json(
        paths.splits,
        {
            "seed": seed,
            "corpus_hash": corpus_hash(ws.corpus),
            "split_by": ws.split_by,
            **ws.splits,
            "excluded": ws.excluded,
            "test_source": ws.test_source,
            "sets": ws.sets,
            "held_out_units": ws.held_out_units,
        },
    )


def load_workspace(paths: DomainPaths) -> Workspace:
    """Read what :func:`prepare_workspace` (and the decide stage's test set) wrote.

    Raises:
        FileNotFoundError: when the decide stage has not run for this domain.
    """
    splits = read_json(paths.splits, "prepared splits (written by the decide stage)")
    corpus: dict[str, Passage] = {}
    with Path(paths.corpus).open(encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            corpus[obj["_id"]] = Passage(obj["_id"], obj["title"], obj["text"], obj.get("page", ""))
    queries, qrels, sources = {}, {}, {}
    with Path(paths.queries).open(encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            queries[obj["_id"]], qrels[obj["_id"]] = obj["text"], obj["qrels"]
            if obj.get("source"):
                sources[obj["_id"]] = obj["source"]
    return Workspace(
        corpus,
        queries,
        qrels,
        {k: splits[k] for k in SPLITS},
        split_by=splits.get("split_by", "query"),
        excluded=splits.get("excluded", []),
        test_source=splits.get("test_source", "gold"),
        sets=splits.get("sets", {}),
        held_out_units=splits.get("held_out_units", []),
        query_source=sources,
    )


def _index_rows(loaded, ws: Workspace, cache_dir: Path, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and starts of the corpus for a loaded model, from the shared embedding store under ``cache_dir``
    (:class:`~nbutils.embedding_store.EmbeddingStore`): only passages no stage encoded yet are encoded."""
    return EmbeddingStore(cache_dir, loaded).index_rows(list(ws.corpus.values()), batch_size, progress=True)


def corpus_embeddings(loaded, ws: Workspace, cache_dir: Path, batch_size: int = 64) -> np.ndarray:
    """Embeddings of the whole corpus for a :class:`~nbutils.models.LoadedModel`, one row per passage
    (from the shared embedding store under ``cache_dir``), long passages truncated or in windows as the
    model was loaded."""
    rows, starts = _index_rows(loaded, ws, cache_dir, batch_size)
    return rows if len(rows) == len(starts) else rows[starts]


def dense_index(loaded, ws: Workspace, cache_dir: Path, batch_size: int = 64) -> DenseIndex:
    """Exact dense index of the corpus for a loaded model (embeddings from the shared store); with the model's
    ``window_sentences``, each passage also holds its sentence windows and scores as its best row."""
    ids, _ = ws.ids_and_texts()
    rows, starts = _index_rows(loaded, ws, cache_dir, batch_size)
    return DenseIndex(ids, rows, starts if loaded.window_sentences else None)


def bm25_index(ws: Workspace, backend: str = "bm25s") -> BM25Index:
    """BM25 index of the corpus (title + text)."""
    ids, texts = ws.ids_and_texts()
    return BM25Index(ids, texts, backend)


def _test_ids(ws: Workspace, source: str) -> list[str]:
    return ws.sets.get(source, {}).get("test", []) if source != ws.test_source else ws.splits["test"]


def test_queries(ws: Workspace, source: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Queries and qrels of the test split of ``source`` (``gold`` or ``synthetic``)."""
    ids = _test_ids(ws, source)
    return {q: ws.queries[q] for q in ids}, {q: ws.qrels[q] for q in ids}


def other_sources(ws: Workspace) -> list[str]:
    """Sources of test queries besides the one the test split uses, with at least one test query."""
    return [s for s in (GOLD, SYNTHETIC) if s != ws.test_source and ws.sets.get(s, {}).get("test")]


def caption(ws: Workspace) -> str:
    """A suffix for chart titles saying the test queries are synthetic (empty for gold)."""
    return " — synthetic test questions" if ws.synthetic else ""


def marked(scores: dict[str, dict[str, float]], ws: Workspace, digits: int = 3):
    """Metrics per system (a DataFrame, systems as rows) with a ``test set`` column naming the source."""

    df = table(scores, digits)
    df.insert(0, "test set", ws.test_source)
    return df
