"""Stage 2, synthesize: training pairs (query, relevant passage), each with its provenance.

Sources: gold labels of the *train* split (never dev or test), click logs, and generators over the corpus — an
LLM asked for the question a passage answers (local model or OpenAI-compatible endpoint), and the heuristic
baselines ``title`` (the section heading) and ``cloze`` (one sentence of the passage), kept for comparison.
Generated questions pass quality filters (:mod:`nbutils.filters`); every pair, whatever its source, passes the
leakage guard against held-out questions. When every LLM request failed, or more than ``llm_max_failures`` of
them, the stage fails with :class:`~nbutils.questions.GenerationFailed` after its report lists the failures.
:func:`run` is the stage; :mod:`.sources` holds the pair sources, :mod:`.labeling` the labeling panel.
"""

from __future__ import annotations

from . import sources
from .labeling import open_panel
from .sources import *  # noqa: F403 - the pair sources are the package's public surface
from .stage import SynthesizeReport, run

__all__ = [*sources.__all__, "SynthesizeReport", "open_panel", "run"]
