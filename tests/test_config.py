import dataclasses
import subprocess
from pathlib import Path

import pytest

from nbutils import config
from nbutils.config import ParamsError, load_params, parse_override, validate
from tests.conftest import PY, ROOT


def write(tmp_path: Path, text: str) -> Path:
    """A params file with ``text``; the demo corpus unless ``text`` names a data_dir."""
    p = tmp_path / "p.yaml"
    p.write_text(text if "data_dir" in text else "data_dir: builtin:python-docs\n" + text)
    return p


def test_defaults_and_overrides_are_typed(tmp_path):
    p = load_params(
        "demo",
        write(tmp_path, "epochs: 2\n"),
        ["batch_size=8", "k_values=[1,10]", "promote=false", "learning_rate=3e-5"],
    )
    assert p.epochs == 2 and p.batch_size == 8 and p.k_values == [1, 10] and p.promote is False
    assert p.learning_rate == pytest.approx(3e-5)
    assert p.domain == "demo"
    assert set(p.stage_values("train")) >= {"epochs", "batch_size", "seed", "data_dir"}
    assert "k_values" not in p.stage_values("train")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("no_such_key: 1\n", "no_such_key"),
        ("epochs: two\n", "epochs"),
        ("epochs: 1.5\n", "epochs"),
        ("device: tpu\n", "'tpu' is not allowed; valid: auto, cpu, cuda"),
        ("long_passages: chunks\n", "long_passages: 'chunks' is not allowed; valid: truncate, windows"),
        ("generators: [title, magic]\n", "magic"),
        ("test_fraction: 1.5\n", "test_fraction"),
        ("batch_size: 0\n", "batch_size"),
        ("data_dir: /definitely/not/here\n", "data_dir"),
        ("data_dir: builtin:nope\n", "builtin:nope"),
        ("gold_file: missing.jsonl\n", "gold_file"),
        ("mine_range_min: 40\nmine_range_max: 10\n", "mine_range_min"),
        ("fusion_metric: ndcg@5\n", "recall@K"),
        ("fusion_metric: recall@0\n", "fusion_metric"),
        ("window_sentences: -1\n", "window_sentences: -1 must be at least 0"),
        ("epochs: 100000000000\n", "epochs: 100000000000 is above the largest sensible value (1000)"),
        ("k_values: [10, 99999999999]\n", "k_values: 99999999999 is above"),
        ("data_dir: ''\n", "data_dir: empty"),
        ("outputs_dir: ''\n", "outputs_dir: empty"),
        ("domain: ../evil\n", "does not match"),
        ("fusion_prior: 1.5\n", "fusion_prior: 1.5 must be between 0 and 1"),
        ("fusion_evidence: 0\n", "fusion_evidence: 0.0 must be above 0 and at most 1"),
    ],
)
def test_bad_params_name_the_key(tmp_path, text, needle):
    with pytest.raises(ParamsError, match=None) as e:
        load_params("demo", write(tmp_path, text))
    assert needle in str(e.value)


def test_override_errors():
    with pytest.raises(ParamsError, match="no_such_key"):
        parse_override("no_such_key=1")
    with pytest.raises(ParamsError, match="KEY=VALUE"):
        parse_override("epochs")
    with pytest.raises(ParamsError, match="list"):
        parse_override("k_values=10")
    with pytest.raises(ParamsError, match="bool"):
        parse_override("promote=maybe")


def test_fusion_metric_takes_the_metrics_evaluate_gives():
    assert [validate({"fusion_metric": m}).fusion_metric for m in ("recall@10", "recall@5", "mrr@10")] == [
        "recall@10",
        "recall@5",
        "mrr@10",
    ]


def test_relative_paths_resolve_against_base(tmp_path, beir_dir):
    p = validate({"data_dir": beir_dir.name}, base=beir_dir.parent)
    assert p.data_dir == str(beir_dir.resolve())


def test_cli_rejects_unknown_key_and_writes_nothing(tmp_path):
    out = tmp_path / "outputs"
    r = subprocess.run(
        [PY, "-m", "nbutils", "run", "python_docs", "--set", "no_such_key=1", "--set", f"outputs_dir={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    assert "no_such_key" in r.stderr
    assert not out.exists()


def test_cli_rejects_bad_value_before_running(tmp_path):
    out = tmp_path / "outputs"
    r = subprocess.run(
        [PY, "-m", "nbutils", "run", "python_docs", "--set", f"outputs_dir={out}", "--set", "device=tpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "device" in r.stderr and "tpu" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("text", ["", "epochs: 2\n", "# only a comment\n"])
def test_a_params_file_without_data_dir_is_refused_not_run_on_the_demo(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    with pytest.raises(ParamsError, match="data_dir is required"):
        load_params("mine", p)


def test_empty_data_dir_override_is_refused(tmp_path):
    with pytest.raises(ParamsError, match="data_dir: empty"):
        load_params("mine", write(tmp_path, "epochs: 1\n"), ["data_dir="])


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    with pytest.raises(ParamsError, match=r"p.yaml:3: key 'epochs' given twice \(first on line 2\)"):
        load_params("mine", write(tmp_path, "epochs: 1\nepochs: 3\n"))


def test_a_params_file_that_is_not_utf8_names_the_line(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_bytes(b"data_dir: builtin:python-docs\nseed: 4\xff2\n")
    with pytest.raises(ParamsError, match=r"p.yaml:2: not UTF-8 text \(byte 0xff\)"):
        load_params("mine", p)


@pytest.mark.parametrize(
    "domain", ["..", ".", "../../evil", "/tmp/abs", "a/b", 'x" onmouseover="alert(1)', "", "-x", "a b", "x" * 65]
)
def test_unsafe_domain_names_are_refused(tmp_path, domain):
    with pytest.raises(ParamsError, match="is not allowed"):
        load_params(domain, write(tmp_path, "epochs: 1\n"))


def test_cli_refuses_a_domain_that_escapes_outputs_and_writes_nothing(tmp_path):
    params = write(tmp_path, "epochs: 1\n")
    out = tmp_path / "work" / "outputs"
    for domain in ("../../evil", ".."):
        r = subprocess.run(
            [PY, "-m", "nbutils", "run", domain, "--params", str(params), "--set", f"outputs_dir={out}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 2 and "is not allowed" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]


# ---------------------------------------------------------------- typed, immutable params


def test_params_are_typed_and_immutable(tmp_path):
    params = validate({"data_dir": "builtin:python-docs", "epochs": 3})
    assert isinstance(params, config.TrainParams) and isinstance(params, config.CommonParams)
    assert params.epochs == 3 and params.loss == "auto" and params.values["epochs"] == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.epochs = 4
    changed = params.replace(epochs=5, batch_size=8)
    assert (changed.epochs, changed.batch_size, params.epochs) == (5, 8, 3), "replace copies, the original stays"
    with pytest.raises(AttributeError, match="no_such_key"):
        params.replace(no_such_key=1)


def test_a_notebooks_params_hold_only_its_stage_keys():
    mine = config.from_namespace("mine", {"domain": "x", "negatives_per_query": 2})
    assert mine.negatives_per_query == 2 and mine.seed == 42
    assert set(mine.values) == set(config.stage_fields("mine"))
    with pytest.raises(AttributeError, match="'epochs' is not a parameter of this stage"):
        _ = mine.epochs
    with pytest.raises(AttributeError, match="epochs"):
        mine.replace(epochs=2)
    assert mine.replace(negatives_per_query=3).values.keys() == mine.values.keys()
