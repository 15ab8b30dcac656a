"""Stage 1, decide: how good are generic embeddings, BM25 and hybrid already, and is there enough data?

The recommendation is one of ``fine-tune``, ``hybrid`` or ``skip``, with the reasons written as sentences built
from the measured numbers and the path it took through the questions of :data:`RULE` (drawn by :func:`flowchart`).
:func:`fine_tuning_cost` says what fine-tuning would take. :func:`run` is the stage; :mod:`.rule` holds the rule
and its measurements, :mod:`.testset` the provisional synthetic test set, :mod:`.vocabulary` the vocabulary check.
"""

from __future__ import annotations

from . import rule, testset, vocabulary
from .rule import *  # noqa: F403 - the rule and its measurements are the package's public surface
from .stage import DecideReport, run

__all__ = [*rule.__all__, "DecideReport", "run", "testset", "vocabulary"]
