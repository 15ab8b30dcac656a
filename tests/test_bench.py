"""Benchmark scripts that take options worth checking on a tiny corpus."""

import json
import subprocess

import pytest

from tests.conftest import PY, ROOT, write_jsonl

pytestmark = pytest.mark.slow  # the benchmark scripts, each training real models


ROW = "plain ST, 1 epoch, b32, lr 2e-5"


def write_topics(beir_dir, topics: list[str], doc, query: str) -> None:
    """A BEIR folder with one claim per topic (``query`` formatted with it) and its one relevant passage
    (``doc(i, topic)`` gives title and text), all in qrels/train.tsv."""
    docs = [dict(zip(("_id", "title", "text"), (f"d{i}", *doc(i, m)), strict=True)) for i, m in enumerate(topics)]
    write_jsonl(beir_dir / "corpus.jsonl", docs)
    write_jsonl(beir_dir / "queries.jsonl", [{"_id": f"q{i}", "text": query.format(m)} for i, m in enumerate(topics)])
    (beir_dir / "qrels").mkdir()
    qrels = "".join(f"q{i}\td{i}\t1\n" for i in range(len(topics)))
    (beir_dir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)


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


def test_window_scoring_scores_whole_and_windowed_indexes_and_caches_the_rows(tmp_path):
    """``bench/window_scoring.py`` encodes each passage and its sentence windows once, scores both indexes on
    the suite's dev and test claims, and a re-run takes the rows from its cache."""
    from nbutils.config import validate
    from nbutils.models import sentence_windows
    from nbutils.paths import DomainPaths
    from nbutils.workspace import prepare_workspace

    beir_dir = tmp_path / "beir"
    topics = "copper zinc iron tin lead gold nickel cobalt silver chrome cadmium arsenic mercury lithium boron".split()
    body = "Samples were weighed. {} levels rose in soil. Rain was measured weekly. Results were stable."
    write_topics(beir_dir, topics, lambda i, m: (f"Study {i}", body.format(m.title())), "{} in soil")
    params = validate(
        {
            "data_dir": str(beir_dir),
            "outputs_dir": str(tmp_path / "outputs"),
            "domain": "metals",
            "test_fraction": 0.3,
            "dev_fraction": 0.3,
        }
    )
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    out = tmp_path / "out"
    cmd = [PY, "bench/window_scoring.py", "--suite", str(tmp_path / "outputs" / "metals"), "--out", str(out)]
    cmd += ["--model", "base=sentence-transformers/all-MiniLM-L6-v2", "--seq", "64", "--device", "cpu"]
    runs = [subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-3000:] + runs[1].stderr[-3000:]
    res = json.loads((out / "results.json").read_text())["models"]["base"]
    windows = sum(len(sentence_windows(p.title, p.text, 2)) for p in ws.corpus.values())
    assert res["rows"] == len(topics) + windows == len(topics) * 4  # each passage: itself and 3 windows
    for split in ("dev", "test"):
        assert ws.split(split)[0], f"the tiny split has {split} claims"
        for index in ("whole", "windows"):
            assert 0 <= res[f"{split} {index} z0.2"]["ndcg@10"] <= 1
        assert 0 < res[f"{split} windows - whole z0.0 recall@10"]["p_value"] <= 1
    assert "Batches" in runs[0].stderr and "Batches" not in runs[1].stderr  # the re-run encodes nothing


def test_loss_variants_trains_each_row_on_the_suite_split_and_tests_mnrl_against_the_others(tmp_path):
    """``bench/loss_variants.py`` trains MNRL and a variant loss on the gold pairs of the suite's train claims
    (with one hybrid negative each), scores both on the suite's dev and test claims, and tests MNRL against
    the variant claim by claim; an unknown row is refused before any train."""
    beir_dir = tmp_path / "beir"
    topics = (
        "copper zinc iron tin lead gold nickel cobalt silver chrome cadmium arsenic mercury lithium boron "
        "sodium calcium barium radium cesium"
    ).split()
    write_topics(beir_dir, topics, lambda i, m: (f"{m.title()} study", f"{m.title()} levels rose."), "{} levels")
    out = tmp_path / "out"
    base = [PY, "bench/loss_variants.py", "--data", str(beir_dir), "--device", "cpu"]
    cmd = [*base, "--out", str(out)]
    bad = subprocess.run([*cmd, "--rows", "mnrl,focal"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "focal" in bad.stderr and "gte" in bad.stderr
    refused = [*cmd, "--rows", "mnrl,gte", "--mini-batch", "8"]
    bad = subprocess.run(refused, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "--mini-batch 8" in bad.stderr and "mnrl alone" in bad.stderr
    assert not (out / "results.json").exists()
    cmd += ["--rows", "mnrl,gte", "--negatives", "1", "--epochs", "1", "--batch-size", "4", "--learning-rate", "1e-4"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["mnrl", "gte"]
    for row in results.values():
        assert row["rows"] > 0 and row["columns"]["hard"] == 3 and row["seed"] == 42
        assert 0 <= row["dense ndcg@10"] <= 1 and 0 <= row["test z0.3 recall@10"] <= 1
    runs = json.loads((out / "runs.json").read_text())
    assert set(runs["gte"]) == {"dev", "test"}
    tests = json.loads((out / "significance.json").read_text())
    # MNRL against gte: each split × system (dense, fused) × metric
    assert len(tests) == 8 and {t["row"] for t in tests} == {"gte"}
    assert {(t["split"], t["system"]) for t in tests} == {(s, y) for s in ("dev", "test") for y in ("dense", "z0.3")}
    assert all(0 <= t["p_value"] <= 1 for t in tests)
    # two negatives per pair, MNRL computed as cached MNRL in mini-batches
    cached = tmp_path / "cached"
    cmd = [*base, "--out", str(cached), "--rows", "mnrl", "--negatives", "2", "--mini-batch", "4"]
    cmd += ["--epochs", "1", "--batch-size", "4", "--seed", "7"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    row = json.loads((cached / "results.json").read_text())["mnrl"]
    assert row["rows"] > 0 and 0 <= row["dense ndcg@10"] <= 1 and row["seed"] == 7
    assert row["loss"] == "CachedMultipleNegativesRankingLoss" and row["columns"]["hard"] == 4  # query, pos, 2 negs


def test_the_scale_benchmark_prints_and_records_its_figures(tmp_path):
    """``bench/scale.py`` on a small synthetic index: search, mining, build memory and the encoding ratio."""
    out = tmp_path / "results.json"
    cmd = [PY, "bench/scale.py", "--passages", "3000", "--mine-queries", "200", "--encode-texts", "16"]
    r = subprocess.run(
        [*cmd, "--out", str(tmp_path / "scale"), "--results", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["passages"] == 3000 and results["search"]["queries"] == 100 and results["mining"]["k"] == 40
    assert results["search"]["peak_rss_mb"] > 0 and results["build"]["passages"] == 3000
    assert 0.5 < results["encode"]["ratio"] < 2.0 and "suite vs plain" in r.stdout


def test_cold_start_loader_scores_the_generic_model_bm25_and_rrf_on_located_evidence(tmp_path):
    """``bench/cold_start.py loader`` maps each question's evidence snippet to the passage holding it (in a
    file named with or without its suffix) and scores the three systems on them; unlocatable ones are listed."""
    docs = tmp_path / "docs"
    docs.mkdir()
    topics = {"install": "Install the package with pip install tool before anything else.",
              "proxy": "Set the HTTPS_PROXY variable when your network sits behind a corporate proxy.",
              "cache": "The cache lives in the home folder and clear-cache empties it."}  # fmt: skip
    for name, text in topics.items():
        (docs / f"{name}.md").write_text(f"# {name.title()}\n\n{text}\n", encoding="utf-8")
    questions = tmp_path / "q.jsonl"
    write_jsonl(
        questions,
        [
            {"id": "q1", "query": "how do I install it", "evidence": [{"file": "install.md", "snippet": "with pip"}]},
            {"id": "q2", "query": "proxy", "evidence": [{"file": "proxy", "snippet": "HTTPS_PROXY  variable"}]},
            {"id": "q3", "query": "nowhere", "evidence": [{"file": "cache", "snippet": "a sentence not in the docs"}]},
        ],
    )
    out = tmp_path / "loader.json"
    cmd = [PY, "bench/cold_start.py", "loader", "--docs", str(docs), "--questions", str(questions)]
    r = subprocess.run([*cmd, "--cache", str(tmp_path / "cache"), "--results", str(out)], cwd=ROOT, capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(out.read_text())
    assert (result["passages"], result["questions"], result["questions_without_evidence"]) == (3, 2, ["q3"])
    assert set(result["human"]) == {"generic", "bm25", "generic + bm25, RRF"}
    for row in result["human"].values():
        assert 0.6 < row["ndcg@10"] <= 1 and len(row["ndcg@10 95%"]) == 2
    assert "3 passages, 2 questions (1 without evidence in the corpus)" in r.stdout
