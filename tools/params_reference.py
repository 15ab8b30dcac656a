"""Print the params reference table (Markdown) for the README from nbutils/config.py."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_notebooks import _comments  # noqa: E402

from nbutils import config  # noqa: E402


def main() -> None:
    help_ = _comments()
    print("| key | stage | default | meaning |")
    print("|---|---|---|---|")
    groups = {"all": config.CommonParams, **config.STAGES}
    for stage, cls in groups.items():
        for f in dataclasses.fields(cls):
            default = getattr(cls(), f.name)
            print(f"| `{f.name}` | {stage} | `{default!r}` | {help_.get(f.name, '').replace('|', chr(92) + '|')} |")


if __name__ == "__main__":
    main()
