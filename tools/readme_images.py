"""Crop the README's pictures out of the browser tier's screenshots: ``make test-browser``, then
``python tools/readme_images.py``. Writes ``docs/images/index.png``, ``labeling-panel.png`` and
``evaluate-report.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "outputs" / "screenshots"
OUT = ROOT / "docs" / "images"
CROPS = {  # picture: (screenshot, (left, top, right, bottom) in pixels of a 1300 px wide page)
    "index.png": ("index", (0, 0, 1300, 700)),
    "labeling-panel.png": ("panel_labeling", (290, 300, 1260, 950)),
    "evaluate-report.png": ("05_evaluate", (0, 1060, 1300, 2040)),
}


def main() -> int:
    missing = [f"{name}.png" for name, _ in CROPS.values() if not (SHOTS / f"{name}.png").is_file()]
    if missing:
        print(f"missing in {SHOTS}: {', '.join(missing)}; run `make test-browser` first", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for picture, (name, box) in CROPS.items():
        with Image.open(SHOTS / f"{name}.png") as im:
            im.crop(box).save(OUT / picture, optimize=True)
        print(OUT / picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
