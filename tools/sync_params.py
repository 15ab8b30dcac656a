"""Rewrite the ``parameters`` cell of every notebook from the params dataclasses in nbutils/config.py.

Run it after adding, removing or changing a params key: ``python tools/sync_params.py``. Nothing else in the
notebooks is touched; they are edited as notebooks. ``tests/test_notebooks.py`` fails while a cell is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nbutils.config import parameters_cell  # noqa: E402
from nbutils.paths import NOTEBOOKS  # noqa: E402

# the stage whose keys each notebook receives (label.ipynb is the labeling panel of the synthesize stage)
STAGE_OF = {name: stage for stage, name in NOTEBOOKS.items()} | {"label": "synthesize"}


def main() -> None:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        wanted = parameters_cell(STAGE_OF[path.stem])
        if cell.source != wanted:
            cell.source = wanted
            nbformat.write(nb, str(path))
            print(f"updated {path}")


if __name__ == "__main__":
    main()
