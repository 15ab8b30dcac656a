"""The params reference table (Markdown) from nbutils/config.py.

python tools/params_reference.py            # print it
python tools/params_reference.py --write    # replace it in docs/params.md between the params markers
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nbutils import config  # noqa: E402

PARAMS_DOC = Path(__file__).resolve().parent.parent / "docs" / "params.md"


def table() -> str:
    help_ = config.field_help()
    rows = ["| key | stage | default | meaning |", "|---|---|---|---|"]
    groups = {"all": config.CommonParams, **config.STAGES}
    for stage, cls in groups.items():
        for f in dataclasses.fields(cls):
            default = repr(getattr(cls(), f.name)).replace("|", "\\|")
            meaning = help_.get(f.name, "").replace("|", "\\|")
            rows.append(f"| `{f.name}` | {stage} | `{default}` | {meaning} |")
    return "\n".join(rows)


def main() -> None:
    if "--write" not in sys.argv:
        print(table())
        return
    text = PARAMS_DOC.read_text()
    start, end = "<!-- params:start -->", "<!-- params:end -->"
    head, rest = text.split(start, 1)
    PARAMS_DOC.write_text(f"{head}{start}\n{table()}\n{end}{rest.split(end, 1)[1]}")


if __name__ == "__main__":
    main()
