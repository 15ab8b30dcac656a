"""Stage 3, mine: hard negatives for each training pair, with provenance and scores.

A candidate is never a known positive of its query, from any source. Candidates are taken from a rank window
(``range_min`` … ``range_max``) of a teacher's results, skipping the very top where unlabelled positives hide.
:func:`run` is the stage; :mod:`.negatives` holds the miners, :mod:`.curation` the panel that flags a negative
that is in fact relevant.
"""

from __future__ import annotations

from . import negatives
from .curation import CurationPanel
from .negatives import *  # noqa: F403 - the miners are the package's public surface
from .stage import MineReport, open_panel, run

__all__ = [*negatives.__all__, "CurationPanel", "MineReport", "open_panel", "run"]
