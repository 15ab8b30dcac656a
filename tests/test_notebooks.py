"""Notebooks are stored clean, stay thin, and their parameters match the params dataclasses and files."""

import ast
import importlib.util
import json

import papermill as pm
import pytest
import yaml

from nbutils import config
from nbutils.paths import NOTEBOOKS
from tests.conftest import ROOT

NB_DIR = ROOT / "notebooks"


@pytest.mark.parametrize("stage", list(NOTEBOOKS))
def test_notebook_parameters_match_stage_fields(stage):
    params = pm.inspect_notebook(str(NB_DIR / f"{NOTEBOOKS[stage]}.ipynb"))
    assert set(params) == set(config.stage_fields(stage))
    assert all(p["help"] for p in params.values()), "every parameter has a help comment"


@pytest.mark.parametrize("name, stage", [*((n, s) for s, n in NOTEBOOKS.items()), ("label", "synthesize")])
def test_parameters_cells_hold_the_dataclass_defaults_and_help(name, stage):
    nb = json.loads((NB_DIR / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    assert "".join(cell["source"]) == config.parameters_cell(stage), "stale: run python tools/sync_params.py"


def test_the_params_reference_is_generated_from_the_dataclasses():
    spec = importlib.util.spec_from_file_location("params_reference", ROOT / "tools" / "params_reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    assert reference.table() in (ROOT / "docs" / "params.md").read_text(), (
        "stale: run python tools/params_reference.py --write"
    )


@pytest.mark.parametrize("path", sorted((ROOT / "params").glob("*.yaml")), ids=lambda p: p.name)
def test_params_files_feed_existing_notebook_parameters(path):
    raw = yaml.safe_load(path.read_text())
    fed = set()
    for name in NOTEBOOKS.values():
        fed |= set(pm.inspect_notebook(str(NB_DIR / f"{name}.ipynb")))
    assert set(raw) <= fed, f"keys feeding no notebook: {set(raw) - fed}"
    config.validate({k: v for k, v in raw.items() if k != "data_dir"}, str(path))


@pytest.mark.parametrize("path", sorted(NB_DIR.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs_and_thin(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None
        src = "".join(cell["source"])
        tree = ast.parse("\n".join(line for line in src.splitlines() if not line.startswith("%")))
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda)) for n in ast.walk(tree)), src
    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    for node in ast.parse("".join(params[0]["source"])).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.List)), "literals only"
    if path.stem in NOTEBOOKS.values():  # label.ipynb holds the labeling panel, not a report
        assert any("plots." in "".join(c["source"]) for c in code), "every report has a plot"


def test_readme_documents_every_key_and_command():
    """Every params key is in the params reference (docs/params.md); the README shows the commands."""
    reference = (ROOT / "docs" / "params.md").read_text()
    for cls in (config.CommonParams, *config.STAGES.values()):
        for f in __import__("dataclasses").fields(cls):
            assert f"`{f.name}`" in reference, f.name
    readme = (ROOT / "README.md").read_text()
    for cmd in ("make demo", "make test", "make install", "python -m nbutils run", "python -m nbutils search"):
        assert cmd in readme
