"""Stage 6, maintain: versioned models with their own indexes, and the current version watched.

:func:`run` is the stage; :mod:`.registry` holds the registry, the indexes, re-embedding and search;
:mod:`.monitoring` the evaluation history, drift, triggers and advice.
"""

from __future__ import annotations

from . import monitoring, registry
from .registry import *  # noqa: F403 - the registry is the package's public surface
from .stage import MaintainReport, run

__all__ = [*registry.__all__, "MaintainReport", "monitoring", "run"]
