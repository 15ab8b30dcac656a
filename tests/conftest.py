from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TORCHRUN_2 = [PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]  # two CPU processes


def nbutils_train(launch: list[str], domain: str, params_file, *extra: str) -> dict:
    """Run ``<launch> -m nbutils train DOMAIN --params FILE [extra]`` from the repository root, outside any
    launcher's environment, and return the summary it prints last (stderr in the failure when it fails)."""
    env = {k: v for k, v in os.environ.items() if k not in {"RANK", "LOCAL_RANK", "WORLD_SIZE"}}
    cmd = [*launch, "-m", "nbutils", "train", domain, "--params", str(params_file), *extra]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


SENTENCES = [
    "Cats purr when they are content.",
    "Dogs bark at strangers.",
    "Telescopes gather starlight with lenses.",
    "Yeast makes bread dough rise.",
    "Jupiter is the largest planet.",
    "Tea is brewed from dried leaves.",
    "Bicycles have two wheels and pedals.",
    "Volcanoes erupt molten rock.",
    "Penguins cannot fly.",
    "Glaciers are slow rivers of ice.",
    "Owls hunt at night.",
    "Coffee contains caffeine.",
]
"""Short sentences on unrelated topics: a corpus in which each passage is easy to tell apart."""

BEES = [
    "Honey bees live in colonies of tens of thousands of workers.",
    "A single queen lays up to two thousand eggs on a summer day.",
    "Workers collect nectar and pollen from flowers within a few kilometres.",
    "Nectar is turned into honey by evaporation and enzymes in the comb.",
    "Drones exist only to mate with a queen from another colony.",
    "In winter the colony clusters and shivers its wing muscles to stay warm.",
    "Beekeepers harvest the surplus honey in late summer.",
    "Varroa mites are the main threat to managed colonies today.",
]
"""One topic, sentence by sentence: joined, a passage longer than a 64-token window whose last sentence (varroa
mites) lies past the cut."""


COHORT = (
    "Outcomes of a cardiology cohort",
    "We followed 2,000 heart failure patients for five years. Blood pressure and heart rate were recorded "
    "monthly. Hospital admissions fell after the new protocol. Statin users had fewer strokes. "
    "Incidentally, vitamin D supplements did not change bone fracture rates in elderly women. "
    "Cardiac deaths were similar across arms. Echocardiography showed stable ejection fractions.",
)
"""Title and text of an abstract whose one sentence about vitamin D and fractures is diluted by the rest: found
through its best sentence window, missed as a whole against a short passage on bone health."""


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_pdf(
    path: Path, pages: list[list[str]], outline=(), title: str | None = None, password: str = "", labels=()
) -> Path:
    """A real PDF (pypdf) whose pages hold ``pages``' lines in Helvetica, one under the other; ``outline``:
    ``(bookmark title, page index)`` pairs; ``title``: the ``/Title`` metadata; ``password``: encrypted;
    ``labels``: ``(first page index, last page index, style, start)`` page-label ranges (style ``/r``: i, ii…)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    font = {"/Type": "/Font", "/Subtype": "/Type1", "/BaseFont": "/Helvetica", "/Encoding": "/WinAnsiEncoding"}
    font = DictionaryObject({NameObject(k): NameObject(v) for k, v in font.items()})
    writer = PdfWriter()
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        fonts = DictionaryObject({NameObject("/F1"): font})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
        stream = DecodedStreamObject()
        shown = " ".join(f"({esc(x)}) Tj T*" for x in lines)
        stream.set_data(f"BT /F1 11 Tf 14 TL 72 740 Td {shown} ET".encode("cp1252"))
        page.replace_contents(stream)
    for text, n in outline:
        writer.add_outline_item(title=text, page_number=n)
    for first, last, style, start in labels:
        writer.set_page_label(first, last, style=style, start=start)
    if title:
        writer.add_metadata({"/Title": title})
    if password:
        writer.encrypt(password, algorithm="RC4-128")
    with open(path, "wb") as f:
        writer.write(f)
    return path


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    """A small, valid BEIR folder about pets, astronomy and cooking."""
    root = tmp_path / "beir"
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "Cats purr when they are content and sleep most of the day."},
        {"_id": "d2", "title": "Dogs", "text": "Dogs bark at strangers and need daily walks."},
        {"_id": "d3", "title": "Telescopes", "text": "A refracting telescope uses lenses to gather starlight."},
        {"_id": "d4", "title": "Bread", "text": "Yeast makes bread dough rise before baking in the oven."},
        {"_id": "d5", "title": "Planets", "text": "Jupiter is the largest planet of the solar system."},
    ]
    write_jsonl(root / "corpus.jsonl", corpus)
    write_jsonl(
        root / "queries.jsonl",
        [
            {"_id": "q1", "text": "why do cats purr"},
            {"_id": "q2", "text": "which planet is the biggest"},
            {"_id": "q3", "text": "how does bread rise"},
            {"_id": "q4", "text": "lens telescope"},
        ],
    )
    (root / "qrels").mkdir()
    (root / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td5\t1\nq3\td4\t1\nq4\td3\t1\n"
    )
    return root


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2, loaded once."""
    from nbutils.models import load_encoder

    return load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu", 64)
