import shutil
import subprocess

import nbformat
import pytest

from nbutils.config import validate
from nbutils.paths import NOTEBOOKS
from nbutils.runner import RunFailed, parse_stages, run_domain
from tests.conftest import PY, ROOT


def test_parse_stages():
    assert parse_stages("train,decide") == ["decide", "train"]
    assert parse_stages(None) == list(NOTEBOOKS)
    with pytest.raises(ValueError, match="valid: decide"):
        parse_stages("decide,deploy")


def _raising_notebooks(folder):
    folder.mkdir()
    for stage, name in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook(
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        )
        nb.cells.append(nbformat.v4.new_code_cell("domain = 'x'", metadata={"tags": ["parameters"]}))
        body = "raise RuntimeError('boom in synthesize')" if stage == "synthesize" else "print('ok')"
        nb.cells.append(nbformat.v4.new_code_cell(body))
        nbformat.write(nb, str(folder / f"{name}.ipynb"))


def test_failing_notebook_stops_the_run_and_is_saved(tmp_path, beir_dir):
    _raising_notebooks(tmp_path / "nbs")
    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "domain": "d"})
    with pytest.raises(RunFailed) as e:
        run_domain(params, list(NOTEBOOKS), notebook_dir=tmp_path / "nbs", progress=False)
    assert e.value.stage == "synthesize" and "boom in synthesize" in str(e.value)
    saved = nbformat.read(str(e.value.notebook), as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in saved.cells for o in c.get("outputs", []))
    assert e.value.notebook == tmp_path / "out" / "d" / "02_synthesize.failed.ipynb"
    assert (tmp_path / "out" / "d" / "01_decide.html").exists()
    assert (tmp_path / "out" / "d" / "02_synthesize.failed.html").exists()
    assert not (tmp_path / "out" / "d" / "02_synthesize.ipynb").exists()
    assert not (tmp_path / "out" / "d" / "03_mine.ipynb").exists()
    assert "02_synthesize failed" in (tmp_path / "out" / "index.html").read_text()


def test_a_failed_run_leaves_the_last_good_report_and_its_metrics_together(tmp_path, beir_dir):
    nbs = tmp_path / "nbs"
    _raising_notebooks(nbs)
    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "domain": "d"})
    run_domain(params, ["decide"], notebook_dir=nbs, progress=False)
    good = (tmp_path / "out" / "d" / "01_decide.html").read_text()
    broken = nbformat.read(str(nbs / "01_decide.ipynb"), as_version=4)
    broken.cells[1].source = "raise ValueError('data_dir is empty')"
    nbformat.write(broken, str(nbs / "01_decide.ipynb"))
    with pytest.raises(RunFailed, match="last good report and metrics are unchanged"):
        run_domain(params, ["decide"], notebook_dir=nbs, progress=False)
    assert (tmp_path / "out" / "d" / "01_decide.html").read_text() == good
    assert "data_dir is empty" in (tmp_path / "out" / "d" / "01_decide.failed.html").read_text()
    _raising_notebooks(tmp_path / "nbs2")
    run_domain(params, ["decide"], notebook_dir=tmp_path / "nbs2", progress=False)
    assert not (tmp_path / "out" / "d" / "01_decide.failed.html").exists()


def test_cli_failure_exits_nonzero_and_names_the_notebook(tmp_path, beir_dir):
    out = tmp_path / "out"
    r = subprocess.run(
        [
            PY,
            "-m",
            "nbutils",
            "run",
            "broken",
            "--params",
            str(ROOT / "params" / "python_docs.yaml"),
            "--quiet",
            "--set",
            f"outputs_dir={out}",
            "--set",
            f"data_dir={beir_dir}",
            "--set",
            f"base_model={tmp_path / 'no-model'}",
            "--stages",
            "decide",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    assert r.returncode == 1, r.stderr
    assert "stage 'decide' failed" in r.stderr and str(out / "broken" / "01_decide.failed.ipynb") in r.stderr
    assert (out / "broken" / "01_decide.failed.ipynb").exists()
    shutil.rmtree(out)


def test_an_unwritable_outputs_folder_is_named_without_a_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = subprocess.run(
        [PY, "-m", "nbutils", "run", "d", "--params", str(ROOT / "params" / "python_docs.yaml"), "--quiet"]
        + ["--set", f"outputs_dir={blocker / 'out'}", "--stages", "decide"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"error: run could not write or read {blocker / 'out'}" in r.stderr and "Not a directory" in r.stderr
