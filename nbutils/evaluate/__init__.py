"""Stage 5, evaluate: base vs fine-tuned vs BM25 vs hybrid on the held-out test queries.

Beyond the test split: queries from a source that did not train the model (out of distribution) and a shipped
general-English set that catches forgetting, scored for base and fine-tuned side by side. :func:`run` is the
stage; :mod:`.compare` holds the comparisons it makes, :mod:`.explorer` the interactive query panel.
"""

from __future__ import annotations

from . import compare
from .compare import *  # noqa: F403 - the comparisons are the package's public surface
from .explorer import QueryExplorer
from .stage import EvaluateReport, open_explorer, run

__all__ = [*compare.__all__, "EvaluateReport", "QueryExplorer", "open_explorer", "run"]
