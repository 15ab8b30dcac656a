"""The training-step memory estimate: against measured peaks, and its advice on a real model and data."""

from types import SimpleNamespace

import pytest

from nbutils.data import Passage
from nbutils.pairs import Triple
from nbutils.train import build_datasets
from nbutils.train.memory import padded_length, step_peak_gb, training_estimate

MINILM = (6, 384, 12)  # layers, hidden size, heads
MINILM_STATES_GB = 22_713_216 * 16 / 1e9

# Peak RSS measured by bench/train_memory.py on the CPU (bench/results/train_memory_cpu.log): batch 64,
# queries padded to 65 tokens, passages to 256; texts holding activations at once, measured GB.
MEASURED = [
    ("mnrl, no negative", [(64, 65), (64, 256)], 9.06),
    ("mnrl, one negative", [(64, 65), (128, 256)], 14.16),
    ("cached_mnrl, mini-batch 32", [(32, 256)], 5.03),
    ("cached_mnrl, mini-batch 32, one negative", [(32, 256)], 5.11),
    ("cached_mnrl, mini-batch 8, one negative", [(8, 256)], 2.11),
]


@pytest.mark.parametrize(("case", "texts", "measured"), MEASURED, ids=[m[0] for m in MEASURED])
def test_estimate_is_within_15_percent_of_measured_peaks(case, texts, measured):
    assert step_peak_gb(MINILM, texts, MINILM_STATES_GB) == pytest.approx(measured, rel=0.15)


def test_activations_grow_with_the_square_of_the_length():
    one = step_peak_gb(MINILM, [(1, 512)], 0) - step_peak_gb(MINILM, [], 0)
    half = step_peak_gb(MINILM, [(1, 256)], 0) - step_peak_gb(MINILM, [], 0)
    assert 2 < one / half < 4
    assert step_peak_gb(MINILM, [(2, 256)], 0, "cuda", 2) < step_peak_gb(MINILM, [(2, 256)], 0, "cuda", 4)


def test_padded_length_takes_the_long_end_and_stop_at_the_window(minilm):
    tok = minilm.model.tokenizer
    texts = ["short text"] * 45 + ["word " * 300] * 5
    assert padded_length(tok, texts, 128) == 128
    assert padded_length(tok, ["short text"] * 10, 128) == len(tok("short text")["input_ids"])
    assert padded_length(tok, [], 128) == 0


LONG = {f"p{i}": Passage(f"p{i}", f"Topic {i}", f"subject {i} " * 200) for i in range(6)}
TRIPLES = [Triple(f"what about subject {i}", f"p{i}", "gold", "train split", f"p{(i + 1) % 6}") for i in range(6)]


def params(**changes):
    return SimpleNamespace(
        **{"loss": "mnrl", "batch_size": 64, "cached_mini_batch": 32, "max_seq_length": 256} | changes
    )


def test_a_step_that_does_not_fit_gets_settings_that_do(minilm):
    p = params()
    datasets = build_datasets(TRIPLES, LONG, loss=p.loss)
    roomy = training_estimate(p, minilm.model, datasets, "cpu", available_gb=1000)
    assert roomy.fits and roomy.advice == [] and "mnrl, 64 rows × 3 texts" in roomy.describe()

    tight = training_estimate(p, minilm.model, datasets, "cpu", available_gb=roomy.peak_gb / 2)
    assert not tight.fits and "run out of memory" in tight.describe()
    assert "cached_mnrl" in tight.advice[0] and "batch_size" in tight.advice[1]
    mini = int(tight.advice[0].split("cached_mini_batch: ")[1].split("`")[0])
    advised = training_estimate(
        params(loss="cached_mnrl", cached_mini_batch=mini),
        minilm.model,
        datasets,
        "cpu",
        available_gb=roomy.peak_gb / 2,
    )
    assert advised.fits and advised.peak_gb < tight.peak_gb
    assert tight.to_dict()["fits"] is False and tight.to_dict()["advice"] == tight.advice


def test_triplet_loss_is_told_to_lower_the_batch_and_nothing_fits_a_tiny_machine(minilm):
    p = params(loss="triplet")
    datasets = build_datasets(TRIPLES, LONG, loss=p.loss)
    full = training_estimate(p, minilm.model, datasets, "cpu", available_gb=1000).peak_gb
    est = training_estimate(p, minilm.model, datasets, "cpu", available_gb=full / 1.5)
    assert [a for a in est.advice if "cached_mnrl" in a] == [] and "batch_size" in est.advice[0]
    tiny = training_estimate(p, minilm.model, datasets, "cpu", available_gb=0.5)
    assert tiny.advice == ["lower `max_seq_length` or train on a machine with more memory"]


def test_no_estimate_for_a_model_without_layer_sizes(minilm):
    class Opaque:
        def __getitem__(self, i):
            return SimpleNamespace(auto_model=SimpleNamespace(config=SimpleNamespace(d_ff=3)))

    est = training_estimate(params(), Opaque(), {}, "cpu", available_gb=8)
    assert est.peak_gb is None and est.fits and est.describe().startswith("No memory estimate")


def real_params(**changes):
    from nbutils import config

    return config.validate({"batch_size": 64, "max_seq_length": 256, "loss": "mnrl"} | changes)


def test_guard_adapts_mnrl_to_the_cached_loss_and_stops_or_warns_otherwise(minilm):
    from nbutils.train.memory import StepTooLarge, act_on_estimate, check_memory

    p = real_params()
    datasets = build_datasets(TRIPLES, LONG, loss=p.loss)
    roomy = training_estimate(p, minilm.model, datasets, "cpu", available_gb=1000)
    assert act_on_estimate(p, roomy) is p and roomy.adapted == ""

    tight = training_estimate(p, minilm.model, datasets, "cpu", available_gb=roomy.peak_gb / 2)
    adapted = act_on_estimate(p, tight)
    assert (adapted.loss, adapted.cached_mini_batch) == ("cached_mnrl", tight.mini_batch)
    assert p.loss == "mnrl" and adapted.batch_size == p.batch_size and adapted.epochs == p.epochs
    assert "runs as `cached_mnrl`" in tight.describe() and tight.to_dict()["adapted"] == tight.adapted
    refit = training_estimate(adapted, minilm.model, datasets, "cpu", available_gb=roomy.peak_gb / 2)
    assert refit.fits
    both, estimate = check_memory(p, minilm.model, datasets, "cpu", available_gb=roomy.peak_gb / 2)
    assert both.values == adapted.values and estimate.adapted == tight.adapted

    stop = real_params(memory_guard="stop")
    with pytest.raises(StepTooLarge, match="cached_mini_batch: .*Training was not started"):
        act_on_estimate(stop, training_estimate(stop, minilm.model, datasets, "cpu", available_gb=roomy.peak_gb / 2))
    warn = real_params(memory_guard="warn")
    assert (
        act_on_estimate(warn, training_estimate(warn, minilm.model, datasets, "cpu", available_gb=roomy.peak_gb / 2))
        is warn
    )

    triplet = real_params(loss="triplet")
    tri = build_datasets(TRIPLES, LONG, loss="triplet")
    full = training_estimate(triplet, minilm.model, tri, "cpu", available_gb=1000).peak_gb
    with pytest.raises(StepTooLarge, match="batch_size"):
        act_on_estimate(triplet, training_estimate(triplet, minilm.model, tri, "cpu", available_gb=full / 1.5))


def test_memory_guard_is_a_checked_choice():
    from nbutils import config

    with pytest.raises(config.ParamsError, match="adapt"):
        real_params(memory_guard="sometimes")
