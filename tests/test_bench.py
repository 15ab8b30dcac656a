"""Benchmark scripts that take options worth checking on a tiny corpus."""

import json
import subprocess

import pytest

from tests.conftest import PY, ROOT, write_jsonl

ROW = "plain ST, 1 epoch, b32, lr 2e-5"


def test_train_scifact_trains_a_row_per_seed_and_scores_their_soup(tmp_path):
    """``bench/train_scifact.py --seeds`` trains the row once per seed and scores the average of their weights."""
    from safetensors.torch import load_file

    beir_dir = tmp_path / "beir"  # enough training pairs for two steps of 32: the first one warms up from lr 0
    write_jsonl(
        beir_dir / "corpus.jsonl", [{"_id": f"d{i}", "title": "", "text": f"Item {i} is red."} for i in range(48)]
    )
    write_jsonl(beir_dir / "queries.jsonl", [{"_id": f"q{i}", "text": f"which item is {i}"} for i in range(48)])
    (beir_dir / "qrels").mkdir()
    rows = "".join(f"q{i}\td{i}\t1\n" for i in range(48))
    (beir_dir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    out = tmp_path / "out"
    cmd = [PY, "bench/train_scifact.py", "--data", str(beir_dir), "--out", str(out), "--dev", "2", "--seq", "32"]
    cmd += ["--device", "cpu", "--smoke", "--only", ROW, "--seeds", "1,2"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    rows = [f"{ROW}, seed 1", f"{ROW}, seed 2", f"{ROW}, soup of 2 seeds"]
    assert [name for name in results if name.startswith(ROW)] == rows
    assert all("dense ndcg@10" in results[name] for name in rows)
    weights = [load_file(out / folder / "model.safetensors") for folder in ("model-0", "model-1", "model-soup")]
    first, second, soup = weights
    assert any(not (first[k] == second[k]).all() for k in first), "two seeds, two models"
    for k in soup:
        assert soup[k] == pytest.approx((first[k] + second[k]) / 2, abs=1e-6)
