"""The package's layers: a shared base, one module or package per stage, and the face (CLI, runner, server).

The base imports no stage; no stage imports another (stages meet through artifacts on disk and base types);
nothing but the face imports the face; internal imports sit at the top of each file.
"""

import ast
from pathlib import Path

import pytest

from nbutils.paths import NOTEBOOKS

PACKAGE = Path(__file__).resolve().parent.parent / "nbutils"
STAGES = set(NOTEBOOKS)  # decide, synthesize, mine, train, evaluate, maintain: named after the notebooks
FACE = {"cli", "runner", "llm_server", "__main__"}


def _layer(module: str) -> str:
    """``decide.testset`` → ``decide``; ``config`` → ``base``; ``cli`` → ``face``."""
    top = module.split(".")[0]
    return top if top in STAGES else "face" if top in FACE else "base"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts:
            out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """``(imported nbutils module, line, inside a function)`` for every internal import of ``module``."""
    tree = ast.parse(path.read_text())
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
              for n in ast.walk(f)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names = [target] if node.module else [".".join([*base, a.name]) for a in node.names]
            found += [(t, node.lineno, id(node) in nested) for t in names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nbutils"):
            found.append((node.module.removeprefix("nbutils").lstrip("."), node.lineno, id(node) in nested))
    return [(t, line, inner) for t, line, inner in found if t]


MODULES = _modules()


def test_every_stage_has_a_package_named_after_its_notebook():
    assert STAGES <= set(MODULES), f"missing stage modules: {sorted(STAGES - set(MODULES))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_import_only_what_they_may(module):
    layer = _layer(module)
    for target, line, _ in _imports(module, MODULES[module]):
        other = _layer(target)
        where = f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {target}"
        if layer == "base":
            assert other == "base", f"{where}: the base imports no stage and nothing of the face"
        elif layer in STAGES:
            assert other in {"base", layer}, f"{where}: a stage imports the base and itself, no other stage or face"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_internal_imports_sit_at_the_top(module):
    inner = [(t, line) for t, line, nested in _imports(module, MODULES[module]) if nested]
    assert not inner, f"{MODULES[module]}: imports inside functions hide dependencies: {inner}"


def test_the_rules_catch_a_stage_importing_another(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("from ..train import make_loss\n\ndef f():\n    from ..mine import mine\n")
    found = _imports("decide.x", bad)
    assert [(t, nested) for t, _, nested in found] == [("train", False), ("mine", True)]
    assert {_layer(t) for t, _, _ in found} == {"train", "mine"}


MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("module", sorted(MODULES))
def test_functions_stay_short(module):
    tree = ast.parse(MODULES[module].read_text())
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{MODULES[module]}: functions over {MAX_FUNCTION_LINES} lines: {long}"
