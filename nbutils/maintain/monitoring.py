"""Stage 6, maintain: watch a registered model over time.

- **Evaluation history**: every evaluation of a version (test split, click log) is appended as one JSON
  line to ``work/registry/evaluations.jsonl`` with recall@10 and nDCG@10 and their 95 % intervals.
- **Drift**: how far the current corpus (and the queries in the click log) moved from what the version
  was trained on: the share of words never seen in training, the cosine distance between mean corpus
  embeddings, and the share of passages unlike every training passage.
- **Triggers** with their evidence, and a **recommendation**: keep, re-train or roll back.
- **Simulation**: the same numbers on a copy of the corpus with new-topic passages added.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..config import Params
from ..data import Passage, load_clicks, parse_timestamp
from ..embedding_store import passage_hash
from ..metrics import bootstrap_ci, per_query
from ..models import model_fingerprint, resolve_model
from ..paths import DomainPaths, append_line, read_json
from ..workspace import corpus_hash
from .registry import Registry, load_index, query_hash, read_index_folder, reembed, word_counts

__all__ = [
    "METRICS",
    "Drift",
    "LoggedQueries",
    "Advice",
    "Simulation",
    "Trigger",
    "append_evaluation",
    "base_model_trigger",
    "check_triggers",
    "corpus_shift_trigger",
    "drift_passages",
    "embedding_shift",
    "evaluate_current",
    "evaluation_record",
    "evaluations_table",
    "history_file",
    "log_queries",
    "measure_drift",
    "monitored_queries",
    "new_vocabulary",
    "query_shift_trigger",
    "read_evaluations",
    "advise",
    "record_stage_evaluation",
    "regression_trigger",
    "score_run",
    "simulate_drift",
    "trigger_table",
]

METRICS = ("recall@10", "ndcg@10")
TEST_SPLIT, CLICK_LOG = "test split", "click log"
SYNTHETIC_TEST_SPLIT = "synthetic test split"  # the provisional test questions of a domain without enough labels


def test_split_source(test_source: str) -> str:
    """The history's name for the test split of ``test_source`` (``gold`` or ``synthetic``)."""
    return SYNTHETIC_TEST_SPLIT if test_source == "synthetic" else TEST_SPLIT


# ---------------------------------------------------------------- evaluation history


def history_file(registry: Registry) -> Path:
    """The domain's evaluation history (JSONL, one record per evaluation)."""
    return registry.root / "evaluations.jsonl"


def evaluation_record(
    version: str,
    metrics: dict[str, float],
    ci: dict[str, tuple[float, float]],
    source: str,
    queries: int,
    at: str | None = None,
) -> dict:
    """One history record: when, which version, on which queries, each metric with its 95 % interval.

    Raises:
        ValueError: a metric or interval missing, or no queries; the message names the key.
    """
    for m in METRICS:
        if m not in metrics:
            raise ValueError(f"evaluation of {version} on {source}: metric {m!r} is missing")
        if m not in ci or len(ci[m]) != 2:
            raise ValueError(f"evaluation of {version} on {source}: 95 % interval of {m!r} is missing")
    if queries < 1:
        raise ValueError(f"evaluation of {version} on {source}: queries must be at least 1, got {queries}")
    return {
        "at": at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": version,
        "source": source,
        "queries": int(queries),
        "metrics": {m: float(metrics[m]) for m in METRICS},
        "ci": {m: [float(ci[m][0]), float(ci[m][1])] for m in METRICS},
    }


def score_run(version: str, qrels: dict, run: dict, source: str, seed: int = 42) -> dict:
    """A history record from a run: means and percentile-bootstrap 95 % intervals over the queries."""

    per = per_query(qrels, run, (10,))
    if not per:
        raise ValueError(f"evaluation of {version} on {source}: no judged queries")
    values = {m: [row[m] for row in per.values()] for m in METRICS}
    means = {m: float(np.mean(v)) for m, v in values.items()}
    return evaluation_record(
        version, means, {m: bootstrap_ci(v, seed=seed) for m, v in values.items()}, source, len(per)
    )


def append_evaluation(registry: Registry, record: dict) -> dict:
    """Append a record (see :func:`evaluation_record`) to the history, one line in a single write."""
    checked = evaluation_record(
        record["version"], record["metrics"], record["ci"], record["source"], record["queries"], record.get("at")
    )
    append_line(history_file(registry), json.dumps(checked))
    return checked


def read_evaluations(registry: Registry) -> list[dict]:
    """Every history record, oldest first; a torn last line (a write cut short) is skipped.

    Raises:
        ValueError: for an unreadable line before the last one, naming the file and line.
    """
    path = history_file(registry)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for n, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if n < len(lines):
                raise ValueError(f"{path}:{n}: not a JSON record") from None
    return records


def evaluations_table(records: list[dict]):
    """The history as a DataFrame: one row per evaluation with each metric and its interval."""
    import pandas as pd

    rows = []
    for r in records:
        row = {"at": r["at"], "version": r["version"], "source": r["source"], "queries": r["queries"]}
        for m in METRICS:
            low, high = r["ci"][m]
            row[m] = round(r["metrics"][m], 3)
            row[f"{m} 95 % interval"] = f"{low:.3f} – {high:.3f}"
        rows.append(row)
    return pd.DataFrame(rows, columns=["at", "version", "source", "queries"] + _metric_columns())


def _metric_columns() -> list[str]:
    return [c for m in METRICS for c in (m, f"{m} 95 % interval")]


def record_stage_evaluation(registry: Registry, paths: DomainPaths, version: str) -> dict:
    """Append the evaluate stage's test result of the fine-tuned model as ``version``'s first record.

    Raises:
        FileNotFoundError: when the evaluate stage has not run.
        ValueError: when its metrics file lacks the fine-tuned system or its intervals (naming the file).
    """
    path = paths.metrics("evaluate")
    ev = read_json(path, "evaluate stage metrics")
    tuned = ev.get("systems", {}).get("fine-tuned")
    ci = {r["metric"]: (r["low"], r["high"]) for r in ev.get("confidence", []) if r.get("system") == "fine-tuned"}
    if tuned is None or not ci:
        raise ValueError(f"{path}: needs systems['fine-tuned'] and its confidence rows")
    return append_evaluation(
        registry,
        evaluation_record(
            version, tuned, ci, test_split_source(ev.get("test_source", "gold")), tuned["queries"], ev["written"]
        ),
    )


def log_queries(params: Params, ws, since=None) -> dict[str, dict[str, int]] | None:
    """Queries of the click log as ``{query text: {clicked passage: 1}}`` (``None`` without a click log).

    Args:
        since: a time (ISO 8601 string or datetime): only clicks at or after it count, e.g. the
            current version's registration, so the queries it was trained on do not dilute the new
            ones. Clicks without a timestamp are kept (their time is unknown).
    """

    if not params.clicks_file:
        return None
    cutoff = None if since is None else parse_timestamp(since)
    qrels: dict[str, dict[str, int]] = {}
    for c in load_clicks(params.clicks_file, ws.corpus)[0]:
        if cutoff is None or c.last_seen is None or c.last_seen >= cutoff:
            qrels.setdefault(c.query, {})[c.doc_id] = 1
    return qrels


@dataclass
class LoggedQueries:
    """The click-log queries a version is monitored on, and which ones were left out."""

    qrels: dict[str, dict[str, int]]
    since: str | None = None  # clicks before this time were left out
    trained: int = 0  # queries left out because the version was trained on them


def monitored_queries(registry: Registry, params: Params, ws, version: str | None = None) -> LoggedQueries | None:
    """The click-log queries to monitor ``version`` (default: current) on: clicked since it was registered,
    and not among the queries it was trained on (as recorded at registration). ``None`` without a click log."""
    version = version or registry.current
    since = registry.manifest(version)["created"]
    record_path = registry.version_dir(version) / "training_corpus.json"
    record = read_json(record_path, "training corpus record") if record_path.exists() else {}
    trained = set(record.get("query_hashes", []))
    recent = log_queries(params, ws, since)
    if recent is None:
        return None
    qrels = {q: clicked for q, clicked in recent.items() if query_hash(q) not in trained}
    return LoggedQueries(qrels, since, len(recent) - len(qrels))


def evaluate_current(registry: Registry, loaded, ws, params: Params) -> list[dict]:
    """Evaluate the current version through its index on the test split, and on the click-log queries
    of :func:`monitored_queries` (if any); append each result to the history.

    Raises:
        IndexMismatchError: when the current version's index is not of the current corpus (re-embed first).
    """

    version = registry.current
    index = load_index(registry, version, corpus_hash(ws.corpus))
    sources = {test_split_source(ws.test_source): ws.split("test")}
    logged = monitored_queries(registry, params, ws, version)
    if logged and logged.qrels:
        sources[CLICK_LOG] = ({q: q for q in logged.qrels}, logged.qrels)
    out = []
    for source, (queries, qrels) in sources.items():
        if queries:
            run = index.search(loaded.model, queries, k=100, batch_size=params.encode_batch_size)
            out.append(append_evaluation(registry, score_run(version, qrels, run, source, params.seed)))
    return out


# ---------------------------------------------------------------- drift


@dataclass
class Drift:
    """How far a corpus (and the logged queries) moved from what a version was trained on.

    ``None`` marks a measure that could not be taken; ``notes`` say why.
    """

    version: str
    passages: int
    new_passages: int | None = None  # content not in the training corpus
    vocab_rate: float | None = None  # share of word occurrences never seen in the training corpus
    new_words: list[str] = field(default_factory=list)
    mean_shift: float | None = None  # cosine distance between mean embeddings
    far_passages: int | None = None  # new passages whose nearest training passage is below ``similarity``
    similarity: float = 0.5
    query_vocab_rate: float | None = None
    queries: int = 0
    queries_since: str | None = None  # the query measure counts clicks from this time on
    queries_trained: int = 0  # click-log queries left out because the version was trained on them
    new_query_words: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def far_share(self) -> float | None:
        return None if self.far_passages is None else self.far_passages / max(1, self.passages)

    def to_dict(self) -> dict:
        return {**asdict(self), "far_share": self.far_share}

    def table(self):
        """The measures as a DataFrame (measure, value, what it means)."""
        import pandas as pd

        def fmt(v, digits=3):
            return "not measured" if v is None else round(v, digits)

        rows = [
            ("passages now", self.passages, "in the current corpus"),
            ("new passages", fmt(self.new_passages), "content the model was not trained with"),
            ("new-vocabulary rate", fmt(self.vocab_rate), "share of word occurrences unseen in the training corpus"),
            ("most frequent new words", ", ".join(self.new_words[:8]), ""),
            ("mean-embedding shift", fmt(self.mean_shift, 4), "cosine distance, training vs current corpus"),
            ("passages unlike training", fmt(self.far_passages), f"nearest training passage below {self.similarity}"),
            ("their share of the corpus", fmt(self.far_share), ""),
            ("query new-vocabulary rate", fmt(self.query_vocab_rate), self.query_source),
        ]
        return pd.DataFrame(rows, columns=["measure", "value", "meaning"]).set_index("measure")

    @property
    def query_source(self) -> str:
        """Which click-log queries the query measure read."""
        since = f" logged since {self.queries_since}" if self.queries_since else ""
        trained = f" ({self.queries_trained} it was trained on left out)" if self.queries_trained else ""
        return f"{self.queries} click-log queries{since}{trained}"


def new_vocabulary(reference: dict[str, int], texts) -> tuple[float, list[str]]:
    """Share of word occurrences in ``texts`` whose word is absent from ``reference`` (word counts),
    and the new words, most frequent first."""
    counts = word_counts(texts)
    total = sum(counts.values())
    new = {w: c for w, c in counts.items() if w not in reference}
    rate = sum(new.values()) / total if total else 0.0
    return rate, sorted(new, key=lambda w: (-new[w], w))


def embedding_shift(
    reference: np.ndarray,
    reference_hashes: list[str],
    current: np.ndarray,
    current_hashes: list[str],
    similarity: float = 0.5,
) -> dict[str, float | int]:
    """Mean-embedding cosine distance, new passages (hash not in the reference) and how many of them
    have no reference passage at cosine ``similarity`` or above. Embeddings are L2-normalised rows."""
    a, b = reference.mean(axis=0), current.mean(axis=0)
    shift = 1.0 - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
    seen = set(reference_hashes)
    rows = [i for i, h in enumerate(current_hashes) if h not in seen]
    far = 0
    for start in range(0, len(rows), 256):
        nearest = (current[rows[start : start + 256]] @ reference.T).max(axis=1)
        far += int((nearest < similarity).sum())
    return {"mean_shift": max(0.0, shift), "new_passages": len(rows), "far_passages": far}


def measure_drift(
    registry: Registry,
    version: str,
    corpus: dict,
    similarity: float = 0.5,
    queries=None,
    queries_since: str | None = None,
) -> Drift:
    """Drift of ``corpus`` (and ``queries``, e.g. from the click log) from what ``version`` was trained on.

    Args:
        queries: a :class:`LoggedQueries` (see :func:`monitored_queries`) or query texts, any collection
            of str; ``None`` or empty leaves the query measure out.
        queries_since: the time plain ``queries`` were logged from (``since`` of :func:`log_queries`), for
            the report.

    Raises:
        IndexMismatchError: when the version's index is not of ``corpus`` (re-embed first).

    Needs the version's index of ``corpus`` (see :func:`~nbutils.maintain.reembed`) and the records written
    at registration; a measure whose record is missing is left ``None`` with a note.
    """

    trained = 0
    if isinstance(queries, LoggedQueries):
        queries, queries_since, trained = list(queries.qrels), queries.since, queries.trained
    drift = Drift(version, len(corpus), similarity=similarity, queries_since=queries_since, queries_trained=trained)
    record_path = registry.version_dir(version) / "training_corpus.json"
    record = read_json(record_path, "training corpus record") if record_path.exists() else None
    if record is None:
        drift.notes.append(f"{version} has no training corpus record (registered before drift tracking)")
    else:
        texts = [p.full_text() for p in corpus.values()]
        drift.vocab_rate, drift.new_words = new_vocabulary(record["words"], texts)
        drift.new_words = drift.new_words[:20]
        if queries:
            drift.query_vocab_rate, words = new_vocabulary(record["query_words"], queries)
            drift.queries, drift.new_query_words = len(queries), words[:20]
    ref = registry.version_dir(version) / "reference"
    if not (ref / "hashes.json").exists():
        drift.notes.append(f"{version} has no reference embeddings of its training corpus")
        return drift
    index = load_index(registry, version, corpus_hash(corpus))
    hashes = [passage_hash(corpus[i].full_text()) for i in index.ids]
    ref_hashes = json.loads((ref / "hashes.json").read_text(encoding="utf-8"))
    reference = read_index_folder(ref).passage_embeddings
    shift = embedding_shift(reference, ref_hashes, index.passage_embeddings, hashes, similarity)
    drift.mean_shift, drift.new_passages, drift.far_passages = (
        shift["mean_shift"],
        shift["new_passages"],
        shift["far_passages"],
    )
    return drift


# ---------------------------------------------------------------- triggers and recommendation


@dataclass
class Trigger:
    """One reason to act, whether it fired, and the numbers behind it in a sentence."""

    name: str
    fired: bool
    evidence: str

    def to_dict(self) -> dict:
        return asdict(self)


CORPUS_SHIFT, QUERY_SHIFT, NEWER_BASE, REGRESSION = "corpus shift", "query shift", "newer base model", "regression"


def corpus_shift_trigger(drift: Drift, vocab_rate: float, far_share: float, mean_shift: float) -> Trigger:
    """Fires when any corpus measure exceeds its threshold."""
    checks = [
        ("new-vocabulary rate", drift.vocab_rate, vocab_rate),
        ("share of passages unlike the training corpus", drift.far_share, far_share),
        ("mean-embedding shift", drift.mean_shift, mean_shift),
    ]
    measured = [(name, v, t) for name, v, t in checks if v is not None]
    if not measured:
        return Trigger(CORPUS_SHIFT, False, "Corpus drift could not be measured: " + "; ".join(drift.notes) + ".")
    parts = [f"{name} {v:.3f} ({'above' if v > t else 'within'} the threshold {t:g})" for name, v, t in measured]
    fired = any(v > t for _, v, t in measured)
    lead = "The corpus moved away from" if fired else "The corpus is still close to"
    new = "an unknown number" if drift.new_passages is None else drift.new_passages
    evidence = f"{lead} what {drift.version} was trained on: {', '.join(parts)}"
    return Trigger(CORPUS_SHIFT, fired, f"{evidence}; {new} of {drift.passages} passages are new.")


def query_shift_trigger(drift: Drift, vocab_rate: float) -> Trigger:
    """Fires when the click-log queries use many words the training queries never did."""
    if drift.query_vocab_rate is None:
        return Trigger(QUERY_SHIFT, False, "No click log to compare queries with.")
    fired = drift.query_vocab_rate > vocab_rate
    words = ", ".join(drift.new_query_words[:5]) or "none"
    return Trigger(
        QUERY_SHIFT,
        fired,
        f"{drift.query_vocab_rate:.1%} of the words in {drift.query_source} never occur in the "
        f"training queries ({'above' if fired else 'within'} the threshold {vocab_rate:.1%}); new words: {words}.",
    )


def base_model_trigger(manifest: dict, base_model: str, fingerprint: str | None) -> Trigger:
    """Fires when the configured base model (name or content fingerprint) differs from the version's."""
    version, trained = manifest["version"], manifest.get("base_model")
    trained_fp = manifest.get("base_model_fingerprint")
    if trained != base_model:
        return Trigger(NEWER_BASE, True, f"{version} was trained from {trained}; the params now name {base_model}.")
    if fingerprint and trained_fp and fingerprint != trained_fp:
        return Trigger(
            NEWER_BASE,
            True,
            f"The base model {base_model} changed since {version} was trained "
            f"(fingerprint {trained_fp} then, {fingerprint} now).",
        )
    return Trigger(NEWER_BASE, False, f"{version} was trained from the configured base model {base_model}.")


def regression_trigger(records: list[dict], version: str, drop: float, source: str = TEST_SPLIT) -> Trigger:
    """Fires when the latest recall@10 of ``version`` on ``source`` fell more than ``drop`` below its first
    evaluation there and the first mean lies above the latest 95 % interval."""
    mine = [r for r in records if r["version"] == version and r["source"] == source]
    if len(mine) < 2:
        return Trigger(
            REGRESSION, False, f"{version} has {len(mine)} evaluation(s) on the {source}: nothing to compare."
        )
    first, last = mine[0], mine[-1]
    before, now = first["metrics"]["recall@10"], last["metrics"]["recall@10"]
    low, high = last["ci"]["recall@10"]
    fired = before - now > drop and before > high
    verdict = "a regression" if fired else "no regression"
    return Trigger(
        REGRESSION,
        fired,
        f"recall@10 of {version} on the {source}: {before:.3f} at its first evaluation ({first['at']}), "
        f"{now:.3f} now (95 % interval {low:.3f} – {high:.3f}, {last['queries']} queries): {verdict} "
        f"(threshold: a drop over {drop:g} with the first value outside the interval).",
    )


def check_triggers(registry: Registry, drift: Drift, params: Params) -> list[Trigger]:
    """Every trigger for the current version, from the drift, the params and the evaluation history."""

    manifest = registry.manifest(registry.current)
    try:
        fingerprint = model_fingerprint(resolve_model(params.base_model).location)
    except ValueError:
        fingerprint = None
    records = read_evaluations(registry)
    first = next((r for r in records if r["version"] == registry.current and r["source"] != CLICK_LOG), None)
    return [
        corpus_shift_trigger(drift, params.drift_vocab_rate, params.drift_far_share, params.drift_mean_shift),
        query_shift_trigger(drift, params.drift_query_vocab_rate),
        base_model_trigger(manifest, params.base_model, fingerprint),
        regression_trigger(records, registry.current, params.regression_drop, first["source"] if first else TEST_SPLIT),
    ]


def trigger_table(triggers: list[Trigger]):
    """Triggers as a DataFrame: name, fired, evidence."""
    import pandas as pd

    return pd.DataFrame([t.to_dict() for t in triggers], columns=["name", "fired", "evidence"]).set_index("name")


@dataclass
class Advice:
    """What to do with the current version: ``keep``, ``re-train`` or ``roll back``, and why."""

    action: str
    version: str
    reasons: list[str]
    rollback_to: str | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "markdown": self.to_markdown()}

    def to_markdown(self) -> str:
        target = f" to **{self.rollback_to}**" if self.rollback_to else ""
        lines = [f"**Recommendation for {self.version}: {self.action}{target}.**", ""]
        return "\n".join(lines + [f"- {r}" for r in self.reasons])


def advise(triggers: list[Trigger], version: str, previous: str | None) -> Advice:
    """Roll back when the version regressed and an earlier current version exists; re-train when it
    regressed without one, or when the corpus, the queries or the base model moved; else keep."""
    fired = {t.name: t for t in triggers if t.fired}
    reasons = [t.evidence for t in fired.values()]
    if REGRESSION in fired and previous:
        follow = " Re-train afterwards: the data moved too." if fired.keys() - {REGRESSION} else ""
        reasons.append(f"{previous} was current before {version}: roll back with `registry rollback`.{follow}")
        return Advice("roll back", version, reasons, previous)
    if fired:
        if REGRESSION in fired:
            reasons.append("There is no earlier version of this domain to roll back to.")
        return Advice("re-train", version, reasons)
    quiet = [t.evidence for t in triggers]
    return Advice("keep", version, ["No trigger fired.", *quiet])


# ---------------------------------------------------------------- simulation

_NEW_TOPIC = [
    "A beekeeper lifts each frame from the hive to inspect the brood comb for healthy larvae.",
    "Worker bees gather nectar and pollen from clover, lavender and orchard blossoms.",
    "The queen lays up to two thousand eggs a day during the spring build-up of the colony.",
    "Varroa mites weaken a colony; beekeepers count them on a sticky board under the hive.",
    "Smoke calms the guard bees because it masks the alarm pheromone they release.",
    "Drones have no sting; their only task is to mate with a virgin queen in flight.",
    "Propolis is a resin the bees collect from buds to seal cracks in the hive.",
    "A swarm leaves with the old queen once the colony has raised new queen cells.",
    "Honey is extracted by uncapping the wax cells and spinning frames in a centrifuge.",
    "Foragers perform a waggle dance that tells nestmates the direction of rich flowers.",
    "An apiary needs shelter from wind, morning sun and a source of fresh water nearby.",
    "Beeswax is rendered from old combs and cappings and poured into candle moulds.",
    "In winter the bees cluster around the queen and shiver their flight muscles for warmth.",
    "A queen excluder keeps the queen in the brood box so the supers hold only honey.",
    "Nosema and foulbrood are diseases that every beekeeper learns to recognise early.",
    "Heather honey is thick and jelly-like and must be pressed rather than spun.",
    "Nurse bees feed royal jelly to the larvae that will become queens.",
    "A strong colony in midsummer may hold sixty thousand bees across several boxes.",
    "Orchard growers rent hives during blossom so the bees pollinate apples and cherries.",
    "A beekeeper's veil, gloves and hive tool are kept clean to avoid spreading disease.",
    "Robbing starts when strong colonies raid the honey stores of weaker neighbours.",
    "Requeening a grumpy colony with a calm queen changes its temper within weeks.",
    "Ivy flowers late in autumn and gives the bees a last flow of nectar before winter.",
    "Sugar syrup feeding in autumn helps a light colony survive until the spring flowers.",
]


def drift_passages(n: int, seed: int = 42) -> dict:
    """``n`` short passages about beekeeping, a topic unrelated to the demo corpus, built deterministically
    from a fixed set of sentences (three per passage)."""

    rng = random.Random(seed)
    out = {}
    for i in range(n):
        pid = f"simulated/beekeeping#notes-{i}"
        out[pid] = Passage(pid, f"Beekeeping notes {i + 1}", " ".join(rng.sample(_NEW_TOPIC, 3)))
    return out


@dataclass
class Simulation:
    """Drift and incremental re-embedding measured on a copy of the corpus with new passages added."""

    enabled: bool
    added: int = 0
    reembedding: object = None  # ReembedSummary
    drift: Drift | None = None
    trigger: Trigger | None = None

    def to_dict(self) -> dict:
        if not self.enabled:
            return {"enabled": False}
        return {
            "enabled": True,
            "added": self.added,
            "reembedding": self.reembedding.to_dict(),
            "drift": self.drift.to_dict(),
            "trigger": self.trigger.to_dict(),
        }

    def table(self):
        """The simulated drift measures (an empty table when the simulation is off)."""
        import pandas as pd

        return self.drift.table() if self.drift else pd.DataFrame(columns=["measure", "value", "meaning"])

    def describe(self) -> str:
        if not self.enabled:
            return "Simulation off (`simulate_drift` is false)."
        state = "**fires**" if self.trigger.fired else "does not fire"
        return (
            f"{self.added} passages on beekeeping were added to a copy of the corpus. "
            f"{self.reembedding.describe()}\n\nThe corpus-shift trigger {state}: {self.trigger.evidence}"
        )


def simulate_drift(registry: Registry, loaded, ws, params: Params, scratch: str | Path) -> Simulation:
    """Copy the current version's index and records to ``scratch``, add ``simulate_share`` × corpus size
    new-topic passages to a copy of the corpus, re-embed incrementally there, and measure drift.

    The real corpus, index and registry are only read.
    """
    if not params.simulate_drift:
        return Simulation(False)
    version, scratch = registry.current, Path(scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(registry.version_dir(version), scratch / version, ignore=shutil.ignore_patterns("model"))
    copy = Registry(scratch)
    added = drift_passages(max(10, round(params.simulate_share * len(ws.corpus))), params.seed)
    corpus = {**ws.corpus, **added}
    summary = reembed(copy, version, loaded, corpus, params.encode_batch_size)
    drift = measure_drift(copy, version, corpus, params.drift_similarity)
    trigger = corpus_shift_trigger(drift, params.drift_vocab_rate, params.drift_far_share, params.drift_mean_shift)
    return Simulation(True, len(added), summary, drift, trigger)
