"""Where a domain may write: names are plain folder names, folders stay under outputs/, HTML is escaped."""

import json
import os
from pathlib import Path

import pytest

from nbutils.overview import write_index
from nbutils.paths import DomainPaths, UnsafePath, check_domain


@pytest.mark.parametrize("name", ["python_docs", "scifact", "my-docs.v2", "A1"])
def test_plain_names_are_domains(name):
    assert check_domain(name) == name


@pytest.mark.parametrize("name", ["..", "../x", "/abs", "a/b", "a\\b", "", " x", "x\n", "a..b", 'x"y', "é"])
def test_anything_else_is_refused_by_name(name):
    with pytest.raises(UnsafePath, match="is not allowed"):
        DomainPaths(Path("outputs"), name)


def test_a_domain_folder_linked_outside_outputs_is_refused(tmp_path):
    outputs, elsewhere = tmp_path / "outputs", tmp_path / "elsewhere"
    outputs.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, outputs / "linked")
    with pytest.raises(UnsafePath, match="outside the outputs folder"):
        DomainPaths(outputs, "linked")
    (outputs / "ok").mkdir()
    os.symlink(elsewhere, outputs / "ok" / "work")
    with pytest.raises(UnsafePath, match="outside the outputs folder"):
        DomainPaths(outputs, "ok")


def test_the_index_escapes_what_it_shows_and_skips_unsafe_folders(tmp_path):
    evil = 'x" onmouseover="alert(1)'
    for name in ("good", evil):
        (tmp_path / name / "metrics").mkdir(parents=True)
    metrics = {"stage": "decide", "written": "<script>alert(2)</script>", "recommendation": {"decision": "<b>x"}}
    (tmp_path / "good" / "metrics" / "01_decide.json").write_text(json.dumps(metrics))
    (tmp_path / "good" / "01_decide.html").write_text("report")
    page = write_index(tmp_path).read_text()
    assert "onmouseover" not in page and "<script>" not in page and "<b>x" not in page
    assert "&lt;script&gt;" in page and 'href="good/01_decide.html"' in page
