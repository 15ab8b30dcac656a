"""How much memory one training step will need, estimated before training starts.

A transformer layer keeps about ``s·h·(34 + 5·a·s/h)`` bytes of activations per sequence of ``s``
tokens at 16-bit precision (hidden size ``h``, ``a`` attention heads; Korthikanti et al., 2022,
"Reducing Activation Recomputation in Large Transformer Models"), twice that at fp32. A step holds
them for every text that gets gradients at once: the whole batch (every text column) for
MultipleNegativesRankingLoss and the other plain losses, one mini-batch for
CachedMultipleNegativesRankingLoss. The backward pass adds about a fifth on top; the process itself
takes about 1.2 GB on a CPU, plus 16 bytes per model parameter (weights, gradients, Adam moments).
On the CPU these figures come within about 15 % of the peaks ``bench/train_memory.py`` measured with
MiniLM (mostly above them); on a GPU they are the same formula at 16-bit and have not been checked
against a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import Params

__all__ = [
    "MemoryEstimate",
    "StepTooLarge",
    "activation_bytes",
    "act_on_estimate",
    "check_memory",
    "padded_length",
    "step_peak_gb",
    "training_estimate",
]

PROCESS_GB = {"cpu": 1.2, "cuda": 0.8}  # interpreter, libraries, CUDA context
BACKWARD = 1.2  # backward-pass buffers on top of the stored activations
HEADROOM = 0.9  # a step is planned to use at most this share of the free memory


def _dims(config) -> tuple[int, int, int] | None:
    """(layers, hidden size, heads) of a Hugging Face config, or None when it names them otherwise."""
    names = (
        ("num_hidden_layers", "n_layer", "num_layers"),
        ("hidden_size", "n_embd", "d_model"),
        ("num_attention_heads", "n_head", "num_heads"),
    )
    dims = [
        next((getattr(config, n) for n in group if isinstance(getattr(config, n, None), int)), None) for group in names
    ]
    return None if None in dims else tuple(dims)


def activation_bytes(layers: int, hidden: int, heads: int, tokens: int, bytes_per_value: int = 4) -> float:
    """Activations one sequence of ``tokens`` keeps for the backward pass, in bytes."""
    return layers * tokens * hidden * (34 + 5 * heads * tokens / hidden) * bytes_per_value / 2


def step_peak_gb(
    dims: tuple[int, int, int], texts: list[tuple[int, int]], states_gb: float, device: str = "cpu", bytes_per_value=4
) -> float:
    """Peak memory of a step in GB: the process, the model states and ``texts`` — (count, padded tokens)
    pairs of the texts holding activations at once."""
    act = sum(n * activation_bytes(*dims, tokens, bytes_per_value) for n, tokens in texts)
    return PROCESS_GB.get(device, PROCESS_GB["cpu"]) + states_gb + BACKWARD * act / 1e9


def padded_length(tokenizer, texts: list[str], max_tokens: int, sample: int = 512, seed: int = 0) -> int:
    """Tokens a batch of ``texts`` is padded to: the 99th percentile of a sample's lengths, at most ``max_tokens``."""
    if not texts:
        return 0
    rng = np.random.default_rng(seed)
    picked = [texts[i] for i in rng.choice(len(texts), min(sample, len(texts)), replace=False)]
    lengths = [len(ids) for ids in tokenizer(picked, truncation=True, max_length=max_tokens)["input_ids"]]
    return int(min(max_tokens, np.percentile(lengths, 99)))


@dataclass
class MemoryEstimate:
    """The estimated peak of a training step against the memory there is."""

    device: str
    peak_gb: float | None  # None: no estimate for this architecture
    available_gb: float | None
    what: str  # the step the estimate is for
    advice: list[str] = field(default_factory=list)
    mini_batch: int | None = None  # a cached_mnrl mini-batch that fits, when the loss is mnrl or cached_mnrl
    adapted: str = ""  # what :func:`guard` changed so that the step fits

    @property
    def fits(self) -> bool:
        return self.peak_gb is None or self.available_gb is None or self.peak_gb <= HEADROOM * self.available_gb

    def to_dict(self) -> dict:
        return {
            "device": self.device,
            "peak_gb": None if self.peak_gb is None else round(self.peak_gb, 2),
            "available_gb": None if self.available_gb is None else round(self.available_gb, 2),
            "fits": self.fits,
            "step": self.what,
            "advice": self.advice,
            "adapted": self.adapted,
        }

    def describe(self) -> str:
        if self.peak_gb is None:
            return f"No memory estimate: {self.what}."
        room = "" if self.available_gb is None else f" of {self.available_gb:.1f} GB free"
        head = (
            f"Estimated peak memory of a training step on {self.device}: **{self.peak_gb:.1f} GB**{room} ({self.what})."
        )
        if self.adapted:
            return head + f" It would not fit, so {self.adapted}."
        if self.fits:
            return head
        return head + " **It will likely run out of memory**: " + "; or ".join(self.advice) + "."


def _available_gb(device: str) -> float | None:
    if device == "cuda":
        import torch

        return torch.cuda.mem_get_info()[0] / 1e9
    try:
        import psutil
    except ImportError:
        return None
    return psutil.virtual_memory().available / 1e9


def training_estimate(params: Params, model, datasets: dict, device: str, available_gb: float | None = None):
    """Estimate the peak memory training ``model`` on ``datasets`` with ``params`` needs.

    Reads ``loss``, ``batch_size``, ``cached_mini_batch`` and ``max_seq_length``. The largest step over
    the datasets counts. When it does not fit the free memory (``available_gb``, measured when not
    given), ``advice`` names settings that would: ``cached_mnrl`` with a mini-batch that fits (the
    same loss as ``mnrl``, computed in pieces), or a smaller ``batch_size``.

    Returns:
        a :class:`MemoryEstimate`; its ``peak_gb`` is ``None`` for a model whose config does not name
        its layer sizes.
    """
    free = _available_gb(device) if available_gb is None else available_gb
    dims = _dims(getattr(getattr(model[0], "auto_model", None), "config", None))
    if dims is None:
        return MemoryEstimate(device, None, free, "the model's config does not name its layer sizes")
    steps = _Steps(dims, model, datasets, params.max_seq_length, device)
    gb, what = steps.peak(params.loss, params.batch_size, params.cached_mini_batch)
    estimate = MemoryEstimate(device, gb, free, what)
    if not estimate.fits:
        estimate.advice, estimate.mini_batch = _advice(steps, params, HEADROOM * free)
    return estimate


class StepTooLarge(MemoryError):
    """A training step is estimated not to fit the free memory, and ``memory_guard`` says not to try."""


def act_on_estimate(params: Params, estimate: MemoryEstimate):
    """Act on an estimate before training, as ``params.memory_guard`` says, so that a step too large for the
    memory stops with advice instead of the process being killed minutes into training.

    - ``adapt`` (default): MultipleNegativesRankingLoss runs as its cached variant with a mini-batch that fits
      (the same loss and batch, computed in pieces, somewhat slower); other losses stop as with ``stop``.
    - ``stop``: raise :class:`StepTooLarge` naming the estimate and the settings that would fit.
    - ``warn``: train as set (the estimate errs high by up to about 15 %).

    Returns:
        ``params`` unchanged when the step fits (or ``warn``), else a copy with ``loss: cached_mnrl`` and
        the mini-batch; ``estimate.adapted`` then says what changed.

    Raises:
        StepTooLarge: under ``stop``, or ``adapt`` when no cached mini-batch fits or the loss has none.
    """
    if estimate.fits or params.memory_guard == "warn":
        return params
    if params.memory_guard == "adapt" and estimate.mini_batch is not None:
        runs_as = "runs as `cached_mnrl`" if params.loss == "mnrl" else "runs"
        estimate.adapted = (
            f"`{params.loss}` {runs_as} with mini-batches of {estimate.mini_batch} texts "
            f"(`memory_guard: adapt`; the same loss and batch of {params.batch_size}, computed in pieces)"
        )
        return params.replace(loss="cached_mnrl", cached_mini_batch=estimate.mini_batch)
    raise StepTooLarge(
        f"{estimate.describe().replace('**', '')} Training was not started (`memory_guard: {params.memory_guard}`); "
        "set `memory_guard: warn` to try anyway."
    )


def check_memory(params: Params, model, datasets: dict, device: str, available_gb: float | None = None):
    """Estimate the step's memory and act on it (:func:`training_estimate`, then :func:`guard`): what the train
    stage, ``python -m nbutils train`` and the benchmarks run before training.

    Returns:
        ``(params, estimate)``: the params to train with (a copy with ``cached_mnrl`` when adapted) and the
        estimate, whose ``adapted`` says what changed.

    Raises:
        StepTooLarge: as :func:`guard`.
    """
    estimate = training_estimate(params, model, datasets, device, available_gb)
    return act_on_estimate(params, estimate), estimate


class _Steps:
    """Peak memory of a training step for any loss and batch, over the columns of ``datasets``."""

    def __init__(self, dims, model, datasets: dict, max_tokens: int, device: str):
        self.dims, self.device, self.bytes = dims, device, 2 if device == "cuda" else 4
        self.states_gb = sum(p.numel() for p in model.parameters()) * 16 / 1e9  # weights, grads, 2 Adam moments
        self.tokens = {  # dataset -> padded tokens of each text column
            name: [
                padded_length(model.tokenizer, list(data[c]), max_tokens)
                for c in data.column_names
                if isinstance(data[0][c], str)
            ]
            for name, data in datasets.items()
        }

    def peak(self, loss: str, batch: int, mini: int) -> tuple[float, str]:
        """(GB, what the step holds) of the largest step over the datasets."""
        worst, what = 0.0, ""
        for cols in self.tokens.values():
            if loss == "cached_mnrl":
                texts = [(min(mini, batch), max(cols))]
                how = f"mini-batches of {min(mini, batch)} texts up to {max(cols)} tokens"
            else:
                texts = [(batch, t) for t in cols]
                how = f"{batch} rows × {len(cols)} texts, up to {max(cols)} tokens"
            gb = step_peak_gb(self.dims, texts, self.states_gb, self.device, self.bytes)
            if gb > worst:
                worst, what = gb, f"{loss}, {how}, {'16-bit' if self.bytes == 2 else 'fp32'} activations"
        return worst, what


def _advice(steps: _Steps, params: Params, budget_gb: float) -> tuple[list[str], int | None]:
    """Settings whose step fits ``budget_gb`` (a cached_mnrl mini-batch, a smaller batch, or neither), and
    the cached_mnrl mini-batch among them."""
    advice, fitting = [], None
    if params.loss in ("mnrl", "cached_mnrl"):
        for mini in (64, 32, 16, 8, 4):
            need = steps.peak("cached_mnrl", params.batch_size, mini)[0]
            if need <= budget_gb:
                advice.append(
                    f"set `loss: cached_mnrl` and `cached_mini_batch: {mini}` (about {need:.1f} GB; the same loss "
                    "and batch, computed in pieces)"
                )
                fitting = mini
                break
    for batch in (128, 64, 32, 16, 8):
        if batch < params.batch_size and steps.peak(params.loss, batch, params.cached_mini_batch)[0] <= budget_gb:
            fewer = " (fewer in-batch negatives)" if params.loss in ("mnrl", "cached_mnrl", "infonce") else ""
            advice.append(f"lower `batch_size` to {batch}{fewer}")
            break
    return advice or ["lower `max_seq_length` or train on a machine with more memory"], fitting
