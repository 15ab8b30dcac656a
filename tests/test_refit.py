"""``refit_with_dev``: pairs, mined rows, the second training, the test comparison and what is registered.

One small BEIR domain with fixed splits goes through the functions the notebooks call, on MiniLM.
"""

import json

import pytest
import yaml

from nbutils import evaluate, mine, synthesize, train, workspace
from nbutils.config import load_params
from nbutils.models import load_encoder
from nbutils.pairs import FlagFile, load_pairs, load_triples, save_triples
from nbutils.paths import DomainPaths, write_json
from nbutils.questions import GenerationFailed
from tests.conftest import SENTENCES, write_jsonl

# Queries 0-7 train, 8-9 dev, 10-11 test. "t_near_dev" repeats dev query 8 almost word for word, "t_near_test"
# test query 10: the dev-scored model may train on neither, the refit on the first only.
QUERIES = {f"q{i}": f"question about {s.lower().rstrip('.')}" for i, s in enumerate(SENTENCES)}
QUERIES |= {"t_near_dev": QUERIES["q8"] + " ?", "t_near_test": QUERIES["q10"] + " ?"}
QRELS = {q: f"d{q[1:]}" for q in QUERIES if q.startswith("q")} | {"t_near_dev": "d8", "t_near_test": "d10"}
SPLITS = {
    "train": [f"q{i}" for i in range(8)] + ["t_near_dev", "t_near_test"],
    "dev": ["q8", "q9"],
    "test": ["q10", "q11"],
}


@pytest.fixture
def domain(tmp_path):
    root = tmp_path / "data"
    write_jsonl(root / "corpus.jsonl", [{"_id": f"d{i}", "title": "", "text": s} for i, s in enumerate(SENTENCES)])
    write_jsonl(root / "queries.jsonl", [{"_id": q, "text": t} for q, t in QUERIES.items()])
    (root / "qrels").mkdir()
    lines = "".join(f"{q}\t{d}\t1\n" for q, d in QRELS.items())
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + lines)
    values = {"domain": "facts", "data_dir": str(root), "outputs_dir": str(tmp_path / "out"), "device": "cpu"}
    values |= {"generators": [], "train_sources": ["gold"], "max_seq_length": 32, "batch_size": 4, "epochs": 2}
    values["min_steps"] = 0  # the epochs as set
    values |= {"negatives_per_query": 1, "mine_teacher": "bm25", "mine_range_min": 0, "refit_with_dev": True}
    (tmp_path / "facts.yaml").write_text(yaml.safe_dump(values))
    params = load_params("facts", tmp_path / "facts.yaml")
    paths = DomainPaths.from_params(params)
    workspace.prepare_workspace(params, paths)
    splits = json.loads(paths.splits.read_text()) | SPLITS
    paths.splits.write_text(json.dumps(splits))
    return params, paths, workspace.load_workspace(paths)


def _synthesize_and_mine(params, paths, ws):
    pairs = synthesize.build_pairs(ws, params)
    train_pairs = synthesize.save_training_pairs(pairs, params, paths)
    known = mine.known_positives(load_pairs(paths.pairs), ws.corpus, FlagFile(paths.negative_flags).as_positives())
    triples = mine.mine(params, ws, train_pairs, known, paths.embeddings_dir)
    refit_rows = mine.mine_refit(params, ws, load_pairs(paths.refit_pairs), triples, known, paths.embeddings_dir)
    save_triples(triples, paths.triples)
    save_triples(refit_rows, paths.refit_triples)
    return train_pairs, triples, refit_rows


def test_refit_pairs_add_the_dev_split_and_stay_guarded_against_test(domain):
    params, paths, ws = domain
    train_pairs, triples, refit_rows = _synthesize_and_mine(params, paths, ws)
    text = {q: QUERIES[q] for q in QUERIES}
    trained = {p.query for p in train_pairs}
    assert trained == {text[f"q{i}"] for i in range(8)}, "dev-scored model: no dev or test question, nor near ones"
    refit = {p.query: p for p in load_pairs(paths.refit_pairs)}
    assert set(refit) == trained | {text["q8"], text["q9"], text["t_near_dev"]}, "near-test pair stays out"
    assert refit[text["q8"]].origin == "dev split" and refit[text["q0"]].origin == "train split"

    # a train pair keeps the rows mined for it; the new pairs are mined, never against their own positive
    rows = {(t.query, t.positive): t for t in refit_rows}
    assert all(rows[(t.query, t.positive)] == t for t in triples)
    for q in ("q8", "q9", "t_near_dev"):
        row = rows[(text[q], QRELS[q])]
        assert row.negative and row.negative != QRELS[q] and row.neg_source == "bm25"

    params = params.replace(refit_with_dev=False)
    assert mine.mine_refit(params, ws, list(refit.values()), triples, {}, paths.embeddings_dir) == []


@pytest.mark.slow  # a real training run
def test_refit_trains_the_shipped_model_on_train_and_dev(domain, minilm):
    params, paths, ws = domain
    _, triples, refit_rows = _synthesize_and_mine(params, paths, ws)
    params = params.replace(keep_epoch="last")
    base = load_encoder(minilm.resolved.location, "cpu", params.max_seq_length, training=True)
    datasets = train.build_datasets(triples, ws.corpus, loss=params.loss)
    first = train.train_domain(params, ws, datasets, base, paths, triples)
    assert first.model_dir == str(paths.dev_model_dir) and first.kept_dev(), "the dev split scores the first model"
    assert not paths.model_dir.exists()

    result = train.refit(params, ws, paths, first)
    assert result.model_dir == str(paths.model_dir) and result.epochs == train.refit_epochs(params, first) == 2
    assert result.rows == len({(t.query, t.positive) for t in refit_rows}) > first.rows
    card = (paths.model_dir / "README.md").read_text()
    assert "Refit on the train and dev splits" in card and "gold: 11" in card
    assert not [t.query for t in refit_rows if t.query in card], "model_card_examples is off: no training query"
    summary = train.refit_summary(params, paths, result)
    assert summary["training_data_hash"] == train.data_hash(refit_rows) != train.data_hash(triples)
    assert "trained again from the base model" in train.describe_refit(result, first)
    assert train.refit(params, ws, paths, first).reused, "a finished refit is not trained again"

    # evaluate: the dev split is scored with the train-only model, the test split compares both
    shipped = load_encoder(str(paths.model_dir), "cpu", params.max_seq_length)
    shipped_system = (shipped.model, workspace.dense_index(shipped, ws, paths.embeddings_dir))
    dev_system = evaluate.dev_scored_system(params, paths, ws, shipped_system)
    assert dev_system is not shipped_system
    bm25 = workspace.bm25_index(ws)
    table = evaluate.refit_comparison(*ws.split("test"), dev_system, shipped_system, bm25, 0.3)
    assert list(table["system"]) == [
        "train split only",
        "train + dev (shipped)",
        "train split only + bm25 (weight 0.3)",
        "train + dev (shipped) + bm25 (weight 0.3)",
    ]
    assert table["nDCG@10"].between(0, 1).all() and table["p-value"].notna().sum() == 2

    # maintain: the registered version knows the dev questions trained it
    from nbutils.maintain import Registry, publish_run
    from nbutils.report import record_metrics

    record_metrics(paths, "evaluate", {"refit": table.to_dict("records")})  # the train-only rows' empty cells
    strict = json.loads(paths.metrics("evaluate").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert strict["refit"][0]["p-value"] is None and strict["refit"][1]["p-value"] == table["p-value"][1]
    record_metrics(paths, "train", {"training_data_hash": "x", "refit": summary})
    record_metrics(paths, "synthesize", {"training_pairs": {"gold": 8}, "refit_pairs": {"gold": 11}})
    registry = Registry(paths.registry)
    manifest, _ = publish_run(registry, paths, params, progress=False)
    assert manifest["refit_with_dev"] and manifest["training_data"] == {"gold": 11}
    assert manifest["training_data_hash"] == summary["training_data_hash"]
    corpus_record = json.loads((registry.version_dir(manifest["version"]) / "training_corpus.json").read_text())
    assert corpus_record["queries"] == 11


def test_without_refit_the_first_model_ships(domain):
    params, paths, ws = domain
    params = params.replace(refit_with_dev=False)
    pairs = synthesize.build_pairs(ws, params)
    synthesize.save_training_pairs(pairs, params, paths)
    assert pairs.refit == [] and load_pairs(paths.refit_pairs) == []
    first = train.TrainResult(str(paths.model_dir), 1.0, 8, 2, "cpu", "fp32")
    assert train.refit(params, ws, paths, first) is None
    assert "is the one the evaluate stage scores" in train.describe_refit(None, first)
    marker = object()
    assert evaluate.dev_scored_system(params, paths, ws, marker) is marker


def test_refit_without_refit_rows_says_which_stages_to_run(domain):
    params, paths, ws = domain
    first = train.TrainResult(str(paths.dev_model_dir), 1.0, 8, 2, "cpu", "fp32")
    with pytest.raises(FileNotFoundError, match="refit_with_dev: true"):
        train.refit(params, ws, paths, first)
    with pytest.raises(FileNotFoundError, match="no dev-scored model"):
        evaluate.dev_scored_system(params, paths, ws, None)


@pytest.mark.slow  # a real training run
def test_switching_refit_on_reuses_the_finished_train_only_run(domain, minilm):
    """A run finished without refit_with_dev is the dev-scored run once it is switched on: not trained again."""
    params, paths, ws = domain
    _, triples, _ = _synthesize_and_mine(params, paths, ws)
    params = params.replace(refit_with_dev=False, epochs=1, eval_during_training=False)
    base = load_encoder(minilm.resolved.location, "cpu", params.max_seq_length, training=True)
    datasets = train.build_datasets(triples, ws.corpus, loss=params.loss)
    first = train.train_domain(params, ws, datasets, base, paths, triples)
    assert first.model_dir == str(paths.model_dir) and not first.reused
    params = params.replace(refit_with_dev=True)
    again = train.train_domain(params, ws, datasets, base, paths, triples)
    assert again.reused and again.model_dir == str(paths.dev_model_dir)
    weights = [(folder / "model.safetensors").read_bytes() for folder in (paths.dev_model_dir, paths.model_dir)]
    assert weights[0] == weights[1]
    params = params.replace(learning_rate=1e-4)  # another run: trained into model_dev, model left alone
    assert not train.train_domain(params, ws, datasets, base, paths, triples).reused


@pytest.mark.slow  # the train command in one and two processes
@pytest.mark.parametrize("processes", [1, 2])
def test_cli_train_runs_both_trainings(domain, tmp_path, processes):
    """``python -m nbutils train`` (the path launchers take) trains the dev-scored model, then the refit; also
    under ``torchrun`` with two CPU processes (gloo), where both trainings run distributed."""
    from tests.conftest import PY, TORCHRUN_2, nbutils_train

    params, paths, ws = domain
    _synthesize_and_mine(params, paths, ws)
    launch = [PY] if processes == 1 else TORCHRUN_2
    printed = nbutils_train(launch, "facts", tmp_path / "facts.yaml", "--set", "epochs=1")
    assert printed["model_dir"] == str(paths.dev_model_dir) and printed["dev"]
    assert printed["processes"] == processes
    assert printed["refit"]["model_dir"] == str(paths.model_dir) and printed["refit"]["epochs"] == 1
    assert (paths.model_dir / "model.safetensors").exists() and (paths.dev_model_dir / "model.safetensors").exists()
    assert train.TrainResult.load(paths.model_dir).processes == processes, "the refit ran on every process too"


@pytest.mark.slow  # a real training run
def test_the_stage_entry_point_trains_refits_and_keeps_the_record(domain, minilm, monkeypatch):
    """``train.run`` is the whole stage, as the notebook and ``python -m nbutils train`` call it."""
    params, paths, ws = domain
    _synthesize_and_mine(params, paths, ws)
    params = params.replace(base_model=minilm.resolved.location, epochs=1)
    trained = train.run(params, paths)
    assert trained.result.model_dir == str(paths.dev_model_dir) and trained.refit.model_dir == str(paths.model_dir)
    record = trained.to_metrics()
    assert set(record) >= {"base_model", "rows", "dev", "kept_epoch", "memory", "training_data_hash", "refit", "params"}
    assert record["params"]["epochs"] == 1 and record["refit"]["training_data_hash"] != record["training_data_hash"]
    assert record["negatives"] == trained.negatives and trained.negatives["mined"] >= trained.negatives["trained"]
    assert trained.summary()["refit"]["model_dir"] == str(paths.model_dir)
    assert list(trained.datasets_table().columns) == ["rows", "columns"]
    assert "saved to" in trained.run_table().index and "Refit" in trained.refit_text()
    again = train.run(params, paths)
    assert again.result.reused and again.refit.reused, "a finished run with the same data and params is reused"


def test_the_train_stage_distils_the_hybrid_teachers_margins_and_says_when_the_rows_have_none(domain, minilm):
    params, paths, ws = domain
    params = params.replace(base_model=minilm.resolved.location, epochs=1, loss="marginmse")
    _synthesize_and_mine(params, paths, ws)  # mine_teacher bm25: no cosine scale, no margins
    with pytest.raises(ValueError, match="loss marginmse: no mined negative carries a teacher margin"):
        train.run(params, paths)
    params = params.replace(mine_teacher="hybrid")
    _synthesize_and_mine(params, paths, ws)
    assert all(t.margin is not None for t in load_triples(paths.triples) + load_triples(paths.refit_triples))
    trained = train.run(params, paths)
    assert trained.to_metrics()["loss"] == "marginmse" and trained.refit is not None
    assert trained.negatives["trained"] == 4 * trained.result.rows, "distill_negatives (4) drawn per pair"


@pytest.mark.slow  # a real training run
def test_the_evaluate_entry_point_scores_what_train_shipped(domain, minilm):
    params, paths, ws = domain
    _synthesize_and_mine(params, paths, ws)
    params = params.replace(base_model=minilm.resolved.location, epochs=1)
    train.run(params, paths)
    evaluated = evaluate.run(params, paths)
    record = evaluated.to_metrics()
    assert {"base", "fine-tuned", "bm25"} <= set(record["systems"]) and record["fusion_metric"] == "ndcg@10"
    assert sum(evaluated.outcomes().values()) == len(ws.split("test")[0]) == 2
    assert record["refit"], "refit_with_dev: the shipped model meets the train-only one"
    assert record["fusion_weight"] == evaluated.weight and len(evaluated.weight_table) > 1
    with pytest.raises(FileNotFoundError, match="no evaluated model yet"):
        evaluate.open_explorer(params, paths)  # the explorer reads the weight this stage recorded
    write_json(paths.metrics("evaluate"), record)
    explorer = evaluate.open_explorer(params, paths)
    assert explorer.widget is not None and explorer.fusion_weight == evaluated.weight


def test_the_mine_entry_point_saves_the_rows_the_train_stage_reads(domain):
    params, paths, ws = domain
    pairs = synthesize.build_pairs(ws, params)
    synthesize.save_training_pairs(pairs, params, paths)
    with pytest.raises(FileNotFoundError, match="--stages mine"):
        mine.open_panel(params, paths)  # nothing mined yet: says what to run
    mined = mine.run(params, paths)
    assert load_triples(paths.triples) == mined.triples and load_triples(paths.refit_triples) == mined.refit_rows
    record = mined.to_metrics()
    assert record["refit_rows"] == len(mined.refit_rows) > 0 and record["teacher"] == "bm25"
    assert record["false_negative_estimate"] == mined.false_negatives
    assert mined.counts()["refit rows (train + dev, refit_with_dev)"] == len(mined.refit_rows)
    assert mine.open_panel(params, paths).widget is not None and len(mined.examples(n=2)) <= 2


def test_the_synthesize_entry_point_saves_pairs_unless_the_generation_failed(domain):
    import socket

    params, paths, ws = domain
    synthesized = synthesize.run(params, paths)
    synthesized.check()
    assert load_pairs(paths.train_pairs) == synthesized.train_pairs and synthesized.train_pairs
    record = synthesized.to_metrics()
    assert record["training_pairs"] == {"gold": len(synthesized.train_pairs)} and record["llm_failures"] == 0
    assert synthesize.open_panel(params, paths).widget is not None
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    paths.train_pairs.unlink()
    params = params.replace(generators=["llm"], llm_backend="openai", llm_base_url=f"http://127.0.0.1:{port}/v1")
    params = params.replace(llm_retries=0, llm_timeout=2.0, synth_passages=3, train_sources=["gold", "synthetic"])
    failed = synthesize.run(params, paths)
    assert failed.failure is not None and failed.train_pairs == [] and not paths.train_pairs.exists()
    assert len(failed.failures()) == 3
    with pytest.raises(GenerationFailed, match="3 of 3 LLM requests failed"):
        failed.check()
