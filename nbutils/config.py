"""Parameters: one YAML file per domain, one dataclass per stage, validated before anything runs.

A params file is flat: common keys (``data_dir``, ``base_model``, ``device``, ``seed`` …) and each
stage's keys side by side. Every key must belong to a stage dataclass; values are checked for type,
allowed choices and ranges, and paths for existence. Errors name the key, the value given and what
is allowed.

Example::

    params = load_params("python_docs", "params/python_docs.yaml", ["epochs=2"])
    params.stage_values("train")["epochs"]  # 2
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from .builtin import builtin_names, is_builtin
from .paths import UnsafePath, check_domain

# No {examples}: examples are shown as earlier chat turns (inline, SmolLM2 answers or copies them)
DEFAULT_PROMPT = "Write one question that this passage answers.\n\nPassage: {passage}\n\nQuestion:"
STATEMENT_PROMPT = "Write one sentence stating a finding of this passage.\n\n{examples}Passage: {passage}\n\nClaim:"

__all__ = [
    "STAGES",
    "Bm25Backend",
    "Device",
    "LongPassages",
    "Loss",
    "ParamsError",
    "Params",
    "from_namespace",
    "load_params",
    "parse_override",
    "field_help",
    "parameters_cell",
    "stage_fields",
]


class ParamsError(ValueError):
    """A params file or override that cannot be used; the message names the key."""


class Device(str, Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Bm25Backend(str, Enum):
    BM25S = "bm25s"
    RANK_BM25 = "rank_bm25"


class Loss(str, Enum):
    AUTO = "auto"
    MNRL = "mnrl"
    CACHED_MNRL = "cached_mnrl"
    TRIPLET = "triplet"
    COSENT = "cosent"
    INFONCE = "infonce"
    MARGINMSE = "marginmse"


class KeepEpoch(str, Enum):
    BEST = "best"
    LAST = "last"


class MemoryGuard(str, Enum):
    ADAPT = "adapt"
    STOP = "stop"
    WARN = "warn"


class Generator(str, Enum):
    LLM = "llm"
    TITLE = "title"
    CLOZE = "cloze"


class LlmBackend(str, Enum):
    LOCAL = "local"
    OPENAI = "openai"


class Teacher(str, Enum):
    HYBRID = "hybrid"
    BM25 = "bm25"
    DENSE = "dense"


class Roundtrip(str, Enum):
    DENSE = "dense"
    BM25 = "bm25"
    HYBRID = "hybrid"
    NONE = "none"


class QueryStyle(str, Enum):
    QUESTION = "question"
    STATEMENT = "statement"


class LongPassages(str, Enum):
    TRUNCATE = "truncate"
    WINDOWS = "windows"


class EmbedEngine(str, Enum):
    LOCAL = "local"
    RAY = "ray"


class SplitBy(str, Enum):
    QUERY = "query"
    DOCUMENT = "document"


class Source(str, Enum):
    GOLD = "gold"
    SYNTHETIC = "synthetic"
    CLICKS = "clicks"


@dataclass(frozen=True)
class CommonParams:
    """Keys every notebook receives."""

    domain: str = "python_docs"  # domain name, outputs go to <outputs_dir>/<domain>/
    data_dir: str = "builtin:python-docs"  # folder of documents (.md, .rst, .html…), BEIR folder, builtin:python-docs
    gold_file: str = ""  # optional JSONL of gold pairs {"query", "positives"}, builtin domains bring their own
    clicks_file: str = ""  # optional click log, CSV or JSONL: query, doc_id, clicks or timestamp
    outputs_dir: str = "outputs"  # where reports, metrics and work files are written
    base_model: str = "sentence-transformers/all-MiniLM-L6-v2"  # Hugging Face id or local folder
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 42  # every random choice derives from it
    max_seq_length: int = 128  # tokens per passage for encoding and training
    long_passages: str = "truncate"  # passages over max_seq_length: truncate | windows, averaged over windows
    window_sentences: int = 0  # N > 0: a passage also scores as its best window of N sentences (0: whole only)
    encode_batch_size: int = 64  # passages per encoding batch
    bm25_backend: str = "bm25s"  # bm25s | rank_bm25
    refit_with_dev: bool = False  # after the dev-scored run, train the shipped model again on train + dev pairs


@dataclass(frozen=True)
class DecideParams:
    chunk_words: int = 80  # words per passage when chunking documents
    corpus_sample: int = 0  # keep only this many passages, labelled ones always kept, 0 means all
    test_fraction: float = 0.2  # share of gold queries held out for the final test
    dev_fraction: float = 0.1  # share of gold queries for validation during training
    split_by: str = "query"  # query: by query id | document: by their documents, test documents never reach training
    min_pairs: int = 1000  # labelled pairs needed to fine-tune with confidence
    recall_fine_tune_below: float = 0.7  # base recall@10 under this: fine-tuning pays off
    recall_skip_above: float = 0.9  # base recall@10 at or above this: skip
    stop_after_decide: bool = False  # stop the suite after decide unless it recommends fine-tuning
    gold_test_min: int = 0  # gold test queries that replace the synthetic test set; 0: what the power analysis says
    synthetic_test_size: int = 200  # synthetic test questions when gold test queries are too few (dev: half); 0: none


@dataclass(frozen=True)
class SynthesizeParams:
    generators: list[str] = field(default_factory=lambda: ["llm"])  # llm | title | cloze
    synth_passages: int = 2000  # passages sampled for generation, 0 means all
    synth_per_passage: int = 1  # questions per passage and generator
    train_sources: list[str] = field(default_factory=lambda: ["gold", "synthetic"])  # gold | synthetic | clicks
    llm_backend: str = "local"  # local: in-process transformers model | openai: OpenAI-compatible endpoint
    llm_model: str = ""  # local: folder or hub id, empty for the bundled SmolLM2 | openai: model name
    llm_base_url: str = ""  # openai backend: endpoint such as http://localhost:8011/v1
    llm_api_key_env: str = "OPENAI_API_KEY"  # openai backend: environment variable holding the key
    llm_concurrency: int = 4  # openai backend: requests in flight
    llm_timeout: float = 60.0  # openai backend: seconds one request may take (above 0, at most 3600)
    llm_retries: int = 3  # openai backend: retries of a failed request (0 to 10), none for a refused key (401, 403)
    llm_max_failures: float = 0.5  # share of LLM requests that may fail before the stage fails; all failing always does
    llm_batch_size: int = 16  # local backend: prompts per generate call
    llm_max_tokens: int = 48  # tokens generated per question
    llm_temperature: float = 0.0  # 0 for greedy, above 0 to sample several questions per passage
    prompt_template: str = DEFAULT_PROMPT  # needs {passage}
    query_style: str = "question"  # question: keep an answer's first question | statement: its first sentence
    few_shot: int = 0  # gold train pairs shown as examples; 0 or no gold: built-in generic questions
    min_clicks: int = 1  # click-log pairs need at least this many clicks
    q_min_words: int = 4  # shortest generated question kept
    q_max_words: int = 40  # longest generated question kept
    copy_max_words: int = 8  # drop questions repeating this many consecutive passage words, 0 disables
    near_duplicate: float = 0.9  # word n-gram cosine at which two questions count as duplicates
    roundtrip: str = "dense"  # retriever that must find the source passage: dense | bm25 | hybrid | none
    roundtrip_k: int = 20  # the source passage must rank within this many results


@dataclass(frozen=True)
class MineParams:
    negatives_per_query: int = 1  # hard negatives kept per training pair, 0 for in-batch negatives only
    mine_teacher: str = "hybrid"  # ranks candidates: hybrid of BM25 and base dense | bm25 | dense
    mine_range_min: int = 3  # skip the first candidates, likely unlabelled positives
    mine_range_max: int = 40  # look no further than this rank
    mine_margin: float = 0.5  # a negative must score this far below the positive, in z units of the teacher
    mine_rescorer: str = ""  # cross-encoder folder or hub id that rescores the teacher candidates, empty for none
    distill_negatives: int = 4  # loss marginmse: negatives per pair drawn at random from the teacher's top ranks


@dataclass(frozen=True)
class TrainParams:
    loss: str = "auto"  # auto: marginmse if all pairs are synthetic, else mnrl | mnrl | marginmse | cosent | triplet…
    matryoshka: bool = False  # also train truncated embeddings: full, 1/2, 1/4 and 1/8 of the dimensions
    cached_mini_batch: int = 32  # cached_mnrl: texts encoded at once, memory follows it rather than batch_size
    memory_guard: str = "adapt"  # a step estimated not to fit: adapt (mnrl runs as cached_mnrl) | stop | warn
    eval_during_training: bool = True  # score the dev split each epoch and keep the best epoch
    keep_epoch: str = "best"  # best | last: which epoch is saved when the dev split is scored each epoch
    dev_corpus_max: int = 20000  # passages the dev evaluation scores (dev positives, BM25 candidates, a sample); 0: all
    resume: bool = True  # keep epoch checkpoints and resume an interrupted run with the same data and params
    epochs: int = 1  # passes over the training pairs
    min_steps: int = 20  # epochs are raised (to 10 at most) until training makes this many steps; 0: epochs as given
    batch_size: int = 32  # pairs per batch, in-batch negatives grow with it
    learning_rate: float = 2e-5  # peak learning rate
    warmup_ratio: float = 0.1  # share of steps for linear warm-up
    max_train_pairs: int = 0  # cap on training pairs, sampled, 0 means all
    model_card_examples: bool = False  # let the saved model card quote training rows (widget, samples); off: none


@dataclass(frozen=True)
class EvaluateParams:
    k_values: list[int] = field(default_factory=lambda: [1, 5, 10, 20, 50, 100])  # cut-offs for recall@K
    rrf_k: int = 60  # reciprocal rank fusion constant
    fusion_metric: str = "ndcg@10"  # dev metric the BM25 weight maximises: ndcg@10 | mrr@10 | map@100 | recall@K
    fusion_prior: float = 0.3  # BM25 weight kept unless the dev split shows another is better
    fusion_evidence: float = 0.05  # p-value on dev another weight needs to replace fusion_prior; 1: dev alone


@dataclass(frozen=True)
class MaintainParams:
    promote: bool = True  # make the new version current for the domain
    drift_vocab_rate: float = 0.02  # corpus shift: share of corpus words never seen in the training corpus
    drift_far_share: float = 0.05  # corpus shift: share of passages unlike every training passage
    drift_similarity: float = 0.5  # a new passage is unlike the training corpus below this cosine to its nearest
    drift_mean_shift: float = 0.01  # corpus shift: cosine distance between mean training and current embeddings
    drift_query_vocab_rate: float = 0.1  # query shift: share of click-log query words never seen in training
    regression_drop: float = 0.05  # recall@10 drop below the first evaluation of a version that counts as regression
    simulate_drift: bool = True  # demo: add new-topic passages to a copy of the corpus and show drift and re-embedding
    simulate_share: float = 0.1  # passages the simulation adds, as a share of the corpus
    embed_engine: str = "local"  # index builds: local (this process) | ray (Ray Data workers, pip install -e ".[ray]")
    ray_address: str = ""  # embed_engine ray: a cluster address (auto, ray://host:10001); empty starts a local one


STAGES: dict[str, type] = {
    "decide": DecideParams,
    "synthesize": SynthesizeParams,
    "mine": MineParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
    "maintain": MaintainParams,
}

_CHOICES: dict[str, type[Enum]] = {
    "device": Device,
    "bm25_backend": Bm25Backend,
    "loss": Loss,
    "keep_epoch": KeepEpoch,
    "memory_guard": MemoryGuard,
    "generators": Generator,
    "train_sources": Source,
    "llm_backend": LlmBackend,
    "roundtrip": Roundtrip,
    "mine_teacher": Teacher,
    "split_by": SplitBy,
    "embed_engine": EmbedEngine,
    "long_passages": LongPassages,
    "query_style": QueryStyle,
}
FUSION_METRIC = re.compile(r"ndcg@10|mrr@10|map@100|recall@[1-9][0-9]*")  # the metrics evaluate_run gives
_FRACTIONS = {"test_fraction", "dev_fraction", "recall_fine_tune_below", "recall_skip_above", "warmup_ratio"}
_FRACTIONS |= {"drift_vocab_rate", "drift_far_share", "drift_similarity", "drift_mean_shift", "simulate_share"}
_FRACTIONS |= {"drift_query_vocab_rate", "regression_drop"}
_FRACTIONS |= {"llm_max_failures"}
_NON_NEGATIVE = {
    "corpus_sample",
    "synth_passages",
    "max_train_pairs",
    "min_steps",
    "dev_corpus_max",
    "mine_range_min",
    "negatives_per_query",
    "few_shot",
    "copy_max_words",
    "window_sentences",
    "gold_test_min",
    "synthetic_test_size",
    "llm_retries",
}


# Keys of later stages that a stage also receives: decide counts click pairs and plans synthesis and training,
# and writes a synthetic test set with the synthesize stage's generator and filters.
_GENERATOR_KEYS = (
    "llm_backend", "llm_model", "llm_base_url", "llm_api_key_env", "llm_concurrency", "llm_timeout", "llm_retries",
    "llm_max_failures", "llm_batch_size", "llm_max_tokens", "llm_temperature", "prompt_template", "query_style",
    "few_shot", "q_min_words", "q_max_words", "copy_max_words", "near_duplicate", "roundtrip_k",
)  # fmt: skip
ALSO_RECEIVES = {
    "decide": ("generators", "synth_passages", "synth_per_passage", "epochs", "min_clicks", *_GENERATOR_KEYS)
    + ("loss", "negatives_per_query", "distill_negatives", "batch_size", "min_steps"),  # the training decide times
    "mine": ("loss",),  # marginmse rows are mined differently (distill_negatives)
}


def stage_fields(stage: str) -> dict[str, dataclasses.Field]:
    """Fields a stage's notebook receives: the common ones, its own, and those in :data:`ALSO_RECEIVES`.

    Raises:
        ValueError: for an unknown stage, listing the valid ones.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    fields = {f.name: f for f in dataclasses.fields(CommonParams)}
    fields.update({f.name: f for f in dataclasses.fields(STAGES[stage])})
    for name in ALSO_RECEIVES.get(stage, ()):
        fields[name] = next(f for cls in STAGES.values() for f in dataclasses.fields(cls) if f.name == name)
    return fields


def _all_fields() -> dict[str, dataclasses.Field]:
    out: dict[str, dataclasses.Field] = {}
    for stage in STAGES:
        out.update(stage_fields(stage))
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _resolved_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _field_type(name: str) -> Any:
    for cls in (CommonParams, *STAGES.values()):
        hints = _resolved_types(cls)
        if name in hints:
            return hints[name]
    raise KeyError(name)


def _parse_scalar(key: str, raw: str, tp: type) -> Any:
    text = raw.strip()
    if tp is bool:
        low = text.lower()
        if low in {"true", "yes", "1", "on"}:
            return True
        if low in {"false", "no", "0", "off"}:
            return False
        raise ParamsError(f"{key}: {raw!r} is not a bool (use true or false)")
    try:
        return tp(text) if tp is not str else text.strip("'\"")
    except ValueError:
        raise ParamsError(f"{key}: {raw!r} is not a valid {tp.__name__}") from None


def parse_override(item: str) -> tuple[str, Any]:
    """Parse a ``KEY=VALUE`` override to the key's declared type (lists as ``[a,b]``).

    Raises:
        ParamsError: unknown key, missing ``=``, or a value of the wrong type.
    """
    if "=" not in item:
        raise ParamsError(f"override {item!r} must look like KEY=VALUE")
    key, raw = (s.strip() for s in item.split("=", 1))
    fields = _all_fields()
    if key not in fields:
        raise ParamsError(f"unknown key {key!r} in --set; valid keys: {', '.join(sorted(fields))}")
    tp = _field_type(key)
    if typing.get_origin(tp) is list:
        inner = typing.get_args(tp)[0]
        body = raw.strip()
        if not (body.startswith("[") and body.endswith("]")):
            raise ParamsError(f"{key}: {raw!r} must be a list like [a,b]")
        items = [s for s in body[1:-1].split(",") if s.strip()]
        return key, [_parse_scalar(key, s, inner) for s in items]
    return key, _parse_scalar(key, raw, tp)


def _check_type(key: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise ParamsError(f"{key}: expected a list of {_type_name(inner)}, got {value!r}")
        return [_check_type(key, v, inner) for v in value]
    if isinstance(tp, types.UnionType):
        tp = typing.get_args(tp)[0]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is not float and tp is not bool and isinstance(value, bool):
        raise ParamsError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if not isinstance(value, tp):
        raise ParamsError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    return value


def _check_value(key: str, value: Any) -> None:
    if key in _CHOICES:
        valid = [c.value for c in _CHOICES[key]]
        for v in value if isinstance(value, list) else [value]:
            if v not in valid:
                raise ParamsError(f"{key}: {v!r} is not allowed; valid: {', '.join(valid)}")
    if key in _FRACTIONS and not 0.0 <= value < 1.0:
        raise ParamsError(f"{key}: {value!r} must be at least 0 and below 1")
    if isinstance(value, int) and not isinstance(value, bool) and key != "seed":
        low = 0 if key in _NON_NEGATIVE else 1
        if value < low:
            raise ParamsError(f"{key}: {value!r} must be at least {low}")
    if key == "learning_rate" and not 0 < value < 1:
        raise ParamsError(f"learning_rate: {value!r} must be between 0 and 1")
    if key == "near_duplicate" and not 0 < value <= 1:
        raise ParamsError(f"near_duplicate: {value!r} must be above 0 and at most 1")
    if key == "fusion_prior" and not 0 <= value <= 1:
        raise ParamsError(f"fusion_prior: {value!r} must be between 0 and 1 (the BM25 weight)")
    if key == "fusion_evidence" and not 0 < value <= 1:
        raise ParamsError(f"fusion_evidence: {value!r} must be above 0 and at most 1 (a p-value)")
    if key == "llm_temperature" and not 0 <= value <= 2:
        raise ParamsError(f"llm_temperature: {value!r} must be between 0 and 2")
    if key == "llm_timeout" and not 0 < value <= 3600:
        raise ParamsError(f"llm_timeout: {value!r} must be above 0 and at most 3600 (seconds)")
    if key == "llm_retries" and value > 10:
        raise ParamsError(f"llm_retries: {value!r} must be at most 10")
    if key == "prompt_template":
        _check_template(value)
    if key == "fusion_metric" and not FUSION_METRIC.fullmatch(value):
        raise ParamsError(f"fusion_metric: {value!r} is not allowed; valid: ndcg@10, mrr@10, map@100, recall@K (K ≥ 1)")


# Upper bounds where a larger value is a typo rather than a plan (every other int is capped at _INT_MAX).
_MAXIMUM = {
    "epochs": 1000,
    "min_steps": 10_000_000,
    "batch_size": 1 << 16,
    "encode_batch_size": 1 << 16,
    "cached_mini_batch": 1 << 16,
    "max_seq_length": 1 << 15,
    "chunk_words": 100_000,
    "window_sentences": 1000,
    "synth_per_passage": 100,
    "negatives_per_query": 1000,
    "distill_negatives": 1000,
    "few_shot": 100,
    "llm_concurrency": 1024,
    "llm_batch_size": 1 << 12,
    "llm_max_tokens": 1 << 15,
    "q_min_words": 1000,
    "q_max_words": 1000,
    "roundtrip_k": 100_000,
    "mine_range_max": 100_000,
    "rrf_k": 100_000,
}
_INT_MAX = 2**32 - 1


def _check_bounds(key: str, value: Any) -> None:
    """Refuse integers past a sane upper bound (``epochs: 100000000000`` is a typo, not a plan)."""
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, int) and not isinstance(v, bool):
            top = _MAXIMUM.get(key, _INT_MAX)
            if v > top:
                raise ParamsError(f"{key}: {v!r} is above the largest sensible value ({top})")


def _check_template(template: str) -> None:
    import string

    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise ParamsError(f"prompt_template: {e}") from None
    if "passage" not in names:
        raise ParamsError("prompt_template: must contain {passage}")
    if names - {"passage", "examples"}:
        raise ParamsError(
            f"prompt_template: unknown fields {sorted(names - {'passage', 'examples'})}; valid: passage, examples"
        )


@dataclass(frozen=True, repr=False, eq=False)
class Params(CommonParams, DecideParams, SynthesizeParams, MineParams, TrainParams, EvaluateParams, MaintainParams):
    """Validated values of every key, typed as the stage dataclasses declare them, and the file they came from.

    Build it with :func:`load_params`, :func:`validate` or :func:`from_namespace`, not directly. Immutable:
    :meth:`replace` returns a copy with some values changed. A notebook's params (``from_namespace``) hold only
    the keys its stage receives (``received``); reading any other key raises ``AttributeError`` rather than
    silently giving that key's default.
    """

    source: str = ""
    received: frozenset[str] | None = None  # the keys this object holds; None: all of them

    def __getattribute__(self, name: str) -> Any:
        if name in _KEYS:
            received = object.__getattribute__(self, "received")
            if received is not None and name not in received:
                keys = ", ".join(sorted(received))
                raise AttributeError(f"{name!r} is not a parameter of this stage; it receives {keys}")
        return object.__getattribute__(self, name)

    @property
    def values(self) -> dict[str, Any]:
        """The keys this object holds and their values, as a new dict."""
        keys = _KEYS if self.received is None else [k for k in _KEYS if k in self.received]
        return {k: object.__getattribute__(self, k) for k in keys}

    def replace(self, **changes: Any) -> Params:
        """A copy with ``changes`` applied (not validated again: for code that adjusts already valid values).

        Raises:
            AttributeError: for a key this object does not hold.
        """
        for key in changes:
            if key not in self.values:
                raise AttributeError(f"{key!r} is not a parameter of this object")
        return Params(**{**self.values, **changes}, source=self.source, received=self.received)

    def stage_values(self, stage: str) -> dict[str, Any]:
        """The values a stage's notebook receives as Papermill parameters."""
        return {k: getattr(self, k) for k in stage_fields(stage)}

    def __repr__(self) -> str:
        return f"Params({self.source!r}, {len(self.values)} keys)"


_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Params) if f.name not in ("source", "received"))


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cls in (CommonParams, *STAGES.values()):
        out.update(dataclasses.asdict(cls()))
    return out


def _check_paths(values: dict[str, Any], base: Path) -> None:
    data_dir = values["data_dir"]
    if not data_dir.strip():
        raise ParamsError(
            "data_dir: empty; give a folder of documents (.md, .rst, .html, .pdf, .docx, .pptx, …), a BEIR folder, "
            "or builtin:python-docs"
        )
    if is_builtin(data_dir):
        name = data_dir.split(":", 1)[1]
        if name not in builtin_names():
            raise ParamsError(
                f"data_dir: {data_dir!r} names no builtin domain; valid: builtin:{', builtin:'.join(builtin_names())}"
            )
    elif not (base / data_dir).is_dir():
        raise ParamsError(f"data_dir: folder {data_dir!r} does not exist (resolved to {(base / data_dir).resolve()})")
    rescorer = values["mine_rescorer"]
    if rescorer.startswith((".", "/", "~")) and not (base / Path(rescorer).expanduser()).is_dir():
        raise ParamsError(
            f"mine_rescorer: folder {rescorer!r} does not exist (resolved to {(base / rescorer).resolve()})"
        )
    if not values["outputs_dir"].strip():
        raise ParamsError("outputs_dir: empty; give the folder reports and work files go to (default: outputs)")
    for key in ("gold_file", "clicks_file"):
        if values[key] and not (base / values[key]).is_file():
            raise ParamsError(
                f"{key}: file {values[key]!r} does not exist (resolved to {(base / values[key]).resolve()})"
            )


def validate(raw: dict[str, Any], source: str = "<params>", base: Path | None = None) -> Params:
    """Check every key, type, choice, range and path; return :class:`Params` with defaults filled in.

    Relative paths are resolved against ``base`` (default: the current folder) and stored absolute.

    Raises:
        ParamsError: naming the first bad key, the value given and what is allowed.
    """
    fields = _all_fields()
    values = _defaults()
    for key, value in raw.items():
        if key not in fields:
            raise ParamsError(f"{source}: unknown key {key!r}; valid keys: {', '.join(sorted(fields))}")
        values[key] = _check_type(key, value, _field_type(key))
    for key, value in values.items():
        try:
            _check_value(key, value)
            _check_bounds(key, value)
        except ParamsError as e:
            raise ParamsError(f"{source}: {e}") from None
    try:
        check_domain(values["domain"])
    except UnsafePath as e:
        raise ParamsError(f"{source}: {e}") from None
    if values["recall_fine_tune_below"] > values["recall_skip_above"]:
        raise ParamsError(f"{source}: recall_fine_tune_below must not exceed recall_skip_above")
    if values["test_fraction"] + values["dev_fraction"] >= 0.9:
        raise ParamsError(f"{source}: test_fraction + dev_fraction must stay below 0.9")
    if values["q_min_words"] > values["q_max_words"]:
        raise ParamsError(f"{source}: q_min_words must not exceed q_max_words")
    if "llm" in values["generators"] and values["llm_backend"] == "openai" and not values["llm_base_url"]:
        raise ParamsError(f"{source}: llm_base_url is required when llm_backend is openai")
    if values["embed_engine"] == "ray" and importlib.util.find_spec("ray") is None:
        raise ParamsError(
            f'{source}: embed_engine ray needs Ray: pip install -e ".[ray]" (or make install EXTRAS=dev,ray)'
        )
    if values["mine_range_min"] >= values["mine_range_max"]:
        raise ParamsError(f"{source}: mine_range_min must be below mine_range_max")
    base = base or Path.cwd()
    try:
        _check_paths(values, base)
    except ParamsError as e:
        raise ParamsError(f"{source}: {e}") from None
    for key in ("data_dir", "gold_file", "clicks_file", "outputs_dir"):
        if values[key] and not is_builtin(values[key]):
            values[key] = str((base / values[key]).resolve())
    rescorer = base / Path(values["mine_rescorer"]).expanduser()
    if values["mine_rescorer"] and rescorer.is_dir():  # a local folder, not a hub id
        values["mine_rescorer"] = str(rescorer.resolve())
    return Params(**values, source=source)


def load_params(domain: str, path: str | Path, overrides: list[str] | None = None) -> Params:
    """Read a domain's YAML params, apply ``KEY=VALUE`` overrides and validate.

    Raises:
        ParamsError: unreadable file, unknown key, wrong type, bad value or missing path.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}")
    try:
        check_domain(domain)
    except UnsafePath as e:
        raise ParamsError(str(e)) from None
    raw = _read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of key: value")
    if "domain" in raw and raw["domain"] != domain:
        raise ParamsError(f"{path}: domain {raw['domain']!r} does not match the domain asked for ({domain!r})")
    raw = {**raw, "domain": domain}
    source = str(path)
    for item in overrides or []:
        key, value = parse_override(item)
        raw[key] = value
        source = f"{path} (with --set)"
    if "data_dir" not in raw:
        raise ParamsError(
            f"{source}: data_dir is required: a folder of documents (.md, .rst, .html, .pdf, .docx, .pptx, …), "
            "a BEIR folder, or builtin:python-docs for the demo corpus"
        )
    return validate(raw, source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ParamsError(f"{self.name}:{line}: key {key!r} given twice (first on line {seen[key]})")
            seen[key] = line
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path) -> Any:
    """Parse a params file, naming the file and line of bad encoding, bad YAML or a duplicate key."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        byte = data[e.start]
        raise ParamsError(f"{path}:{line}: not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8") from None
    loader = _UniqueKeyLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML ({e})") from None
    finally:
        loader.dispose()


def from_namespace(stage: str, namespace: dict[str, Any]) -> Params:
    """Validate a notebook's parameter variables (its ``globals()``) for ``stage``.

    Used in each notebook right after the ``parameters`` cell, so a notebook run by hand with edited
    values is checked the same way as one run by the CLI. The result holds only the stage's keys: a
    notebook that reads another stage's key fails instead of silently getting its default.
    """
    fields = stage_fields(stage)
    raw = {k: namespace[k] for k in fields if k in namespace}
    full = validate(raw, f"notebook parameters ({stage})")
    return Params(**full.values, source=full.source, received=frozenset(fields))


NOTEBOOK_DEFAULTS = {"outputs_dir": "../outputs"}  # notebooks run with notebooks/ as their working folder


def field_help() -> dict[str, str]:
    """The help comment of every params field, as written beside it in this file (``name: type = default  # help``)."""
    src = Path(__file__).read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"^    (\w+): [^#\n]+#\s(.*)$", src, re.M)}


def parameters_cell(stage: str) -> str:
    """The ``parameters`` cell a stage's notebook must hold: every key the stage receives, its default and its help.

    ``tools/sync_params.py`` writes it into the notebooks; a test fails when a notebook's cell differs.
    """
    comments, defaults = field_help(), _defaults()
    lines = ["# Parameters: literals only. Papermill injects overrides after this cell."]
    for name in stage_fields(stage):
        value = NOTEBOOK_DEFAULTS.get(name, defaults[name])
        lines.append(f"{name} = {_literal(value)}  # {comments.get(name, '')}".rstrip())
    return "\n".join(lines)


def _literal(value: Any) -> str:
    """``value`` as Python source the way ``ruff format`` writes it (double-quoted strings)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)
