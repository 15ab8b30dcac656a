"""Evaluation history, drift, triggers, recommendation and the drift simulation of the maintain stage."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.figure import Figure

from nbutils.maintain import Registry, load_index, monitoring, record_training_corpus, reembed
from nbutils.maintain.monitoring import Drift, Trigger
from tests.test_maintain import PASSAGES, counting, fake_model, make_corpus

PARAMS = dict(
    drift_vocab_rate=0.02,
    drift_far_share=0.05,
    drift_similarity=0.5,
    drift_mean_shift=0.01,
    drift_query_vocab_rate=0.1,
    regression_drop=0.05,
    simulate_drift=True,
    simulate_share=0.1,
    seed=42,
    encode_batch_size=16,
    clicks_file="",
    base_model="sentence-transformers/all-MiniLM-L6-v2",
)


def params(**changes):
    return SimpleNamespace(**{**PARAMS, **changes})


def record(version, recall, low, high, at, source="test split"):
    ci = {"recall@10": (low, high), "ndcg@10": (low, high)}
    return monitoring.evaluation_record(version, {"recall@10": recall, "ndcg@10": recall}, ci, source, 40, at)


# ---------------------------------------------------------------- history


def test_history_is_appended_read_back_and_plotted(tmp_path):
    reg = Registry(tmp_path / "registry")
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    run = {"q1": {"a": 1.0}, "q2": {"x": 1.0, "b": 0.5}, "q3": {"x": 1.0}}
    first = monitoring.append_evaluation(reg, monitoring.score_run("v1", qrels, run, "test split"))
    assert first["metrics"]["recall@10"] == pytest.approx(2 / 3) and first["queries"] == 3
    low, high = first["ci"]["recall@10"]
    assert 0 <= low <= 2 / 3 <= high <= 1
    monitoring.append_evaluation(reg, record("v2", 0.7, 0.6, 0.8, "2030-01-02T00:00:00+00:00", "click log"))
    records = monitoring.read_evaluations(reg)
    assert [r["version"] for r in records] == ["v1", "v2"] and records[0] == first
    assert len(monitoring.evaluations_table(records)) == 2

    with monitoring.history_file(reg).open("a") as f:
        f.write('{"at": "2030-01-03", "vers')  # a write cut short
    assert len(monitoring.read_evaluations(reg)) == 2
    fig = monitoring_plot(monitoring.read_evaluations(reg))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.legends[0].get_texts()) == 2  # one entry per version and source


def monitoring_plot(records):
    from nbutils.plots import evaluation_history

    return evaluation_history(records)


def test_history_rejects_incomplete_records_and_reports_a_broken_line(tmp_path):
    reg = Registry(tmp_path / "registry")
    with pytest.raises(ValueError, match="'ndcg@10' is missing"):
        monitoring.evaluation_record("v1", {"recall@10": 0.5}, {"recall@10": (0.4, 0.6)}, "test split", 10)
    with pytest.raises(ValueError, match="queries must be at least 1"):
        monitoring.append_evaluation(reg, {**record("v1", 0.5, 0.4, 0.6, None), "queries": 0})
    monitoring.history_file(reg).parent.mkdir(parents=True, exist_ok=True)
    monitoring.history_file(reg).write_text("not json\n" + json.dumps(record("v1", 0.5, 0.4, 0.6, None)) + "\n")
    with pytest.raises(ValueError, match="evaluations.jsonl:1"):
        monitoring.read_evaluations(reg)
    assert isinstance(monitoring_plot([]), Figure)


def test_stage_evaluation_is_read_from_the_evaluate_metrics(tmp_path):
    from nbutils.paths import DomainPaths, write_json

    paths = DomainPaths(tmp_path, "demo")
    reg = Registry(paths.registry)
    with pytest.raises(FileNotFoundError, match="evaluate stage metrics"):
        monitoring.record_stage_evaluation(reg, paths, "v1")
    confidence = [
        {"system": "fine-tuned", "metric": "recall@10", "mean": 0.6, "low": 0.5, "high": 0.7},
        {"system": "fine-tuned", "metric": "ndcg@10", "mean": 0.4, "low": 0.3, "high": 0.5},
        {"system": "base", "metric": "recall@10", "mean": 0.1, "low": 0.0, "high": 0.2},
    ]
    systems = {"fine-tuned": {"recall@10": 0.6, "ndcg@10": 0.4, "queries": 42}, "base": {}}
    write_json(
        paths.metrics("evaluate"),
        {"written": "2030-01-01T00:00:00+00:00", "systems": systems, "confidence": confidence},
    )
    rec = monitoring.record_stage_evaluation(reg, paths, "v1")
    assert rec["ci"] == {"recall@10": [0.5, 0.7], "ndcg@10": [0.3, 0.5]} and rec["queries"] == 42
    assert rec["source"] == "test split" and monitoring.read_evaluations(reg) == [rec]


def test_evaluate_current_scores_the_current_index_on_test_and_click_log(tmp_path, minilm):
    from nbutils.workspace import Workspace

    corpus = make_corpus(PASSAGES)
    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "m"), {})
    reembed(reg, "v1", minilm, corpus, progress=False)
    queries = {"q1": "why do cats purr", "q2": "biggest planet", "q3": "how does dough rise"}
    qrels = {"q1": {"cats": 1}, "q2": {"planets": 1}, "q3": {"bread": 1}}
    ws = Workspace(corpus, queries, qrels, {"train": [], "dev": [], "test": ["q1", "q2"]})
    clicks = tmp_path / "clicks.csv"
    clicks.write_text("query,doc_id,clicks\nlens for stars,scope,2\nwalking the dog,dogs,1\n")
    out = monitoring.evaluate_current(reg, minilm, ws, params(clicks_file=str(clicks)))
    assert [(r["source"], r["queries"], r["version"]) for r in out] == [("test split", 2, "v1"), ("click log", 2, "v1")]
    assert out[0]["metrics"]["recall@10"] == 1.0 and monitoring.read_evaluations(reg) == out


def test_only_queries_logged_since_registration_are_monitored(tmp_path, minilm):
    from nbutils.workspace import Workspace

    corpus = make_corpus(PASSAGES)
    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "m"), {})
    reembed(reg, "v1", minilm, corpus, progress=False)
    registered = reg.manifest("v1")["created"]
    log = tmp_path / "clicks.jsonl"
    rows = [
        {"query": "why do cats purr", "doc_id": "cats", "timestamp": "2000-01-01T00:00:00Z"},  # trained on
        {"query": "lens for stars", "doc_id": "scope", "timestamp": "2999-01-01T00:00:00Z"},
        {"query": "walking the dog", "doc_id": "dogs"},  # no time: always counts
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ws = Workspace(corpus, {}, {}, {"train": [], "dev": [], "test": []})
    p = params(clicks_file=str(log))
    assert set(monitoring.log_queries(p, ws)) == {"why do cats purr", "lens for stars", "walking the dog"}
    assert set(monitoring.log_queries(p, ws, since=registered)) == {"lens for stars", "walking the dog"}
    out = monitoring.evaluate_current(reg, minilm, ws, p)
    assert [(r["source"], r["queries"]) for r in out] == [("click log", 2)]
    with pytest.raises(ValueError, match="'last week' is neither"):
        monitoring.log_queries(p, ws, since="last week")


def test_queries_the_version_was_trained_on_are_not_monitored(tmp_path, minilm):
    from nbutils.workspace import Workspace

    corpus = make_corpus(PASSAGES)
    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "m"), {})
    record_training_corpus(reg, "v1", corpus, ["Why do cats purr?", "which planet is the largest"])
    reembed(reg, "v1", minilm, corpus, progress=False)
    log = tmp_path / "clicks.csv"  # no timestamps: every click is recent, a trained one included
    log.write_text("query,doc_id,clicks\nwhy do  cats purr,cats,3\nlens for stars,scope,2\nwalking the dog,dogs,1\n")
    ws = Workspace(corpus, {}, {}, {"train": [], "dev": [], "test": []})
    p = params(clicks_file=str(log))
    logged = monitoring.monitored_queries(reg, p, ws)
    assert set(logged.qrels) == {"lens for stars", "walking the dog"} and logged.trained == 1
    assert logged.since == reg.manifest("v1")["created"]
    assert [(r["source"], r["queries"]) for r in monitoring.evaluate_current(reg, minilm, ws, p)] == [("click log", 2)]
    drift = monitoring.measure_drift(reg, "v1", corpus, 0.5, logged)
    assert drift.queries == 2 and drift.queries_since == logged.since
    assert drift.query_source.endswith("(1 it was trained on left out)")
    assert monitoring.monitored_queries(reg, params(), ws) is None


# ---------------------------------------------------------------- drift


@pytest.fixture
def trained(tmp_path, minilm):
    """A registered v1 with its training corpus record and its first index (the drift reference)."""
    reg = Registry(tmp_path / "registry")
    reg.register(fake_model(tmp_path, "m"), {"base_model": PARAMS["base_model"], "base_model_fingerprint": "fp0"})
    corpus = make_corpus(PASSAGES)
    record_training_corpus(reg, "v1", corpus, ["why do cats purr", "which planet is the largest"])
    reembed(reg, "v1", minilm, corpus, progress=False)
    assert (reg.version_dir("v1") / "reference" / "embeddings.npy").exists()
    return reg, corpus


def test_drift_is_zero_on_the_training_corpus(trained):
    reg, corpus = trained
    d = monitoring.measure_drift(reg, "v1", corpus, 0.5, ["why do cats purr"])
    assert (d.vocab_rate, d.new_passages, d.far_passages, d.query_vocab_rate) == (0.0, 0, 0, 0.0)
    assert d.mean_shift == pytest.approx(0.0, abs=1e-6) and d.notes == []
    assert not monitoring.corpus_shift_trigger(d, 0.02, 0.05, 0.01).fired


def test_drift_grows_with_new_topic_passages_but_not_with_a_paraphrase(trained, minilm):
    reg, corpus = trained
    paraphrase = make_corpus({"cats2": ("Cats", "A content cat purrs and sleeps for most of the day.")})
    near = {**corpus, **paraphrase}
    reembed(reg, "v1", minilm, near, progress=False)
    d_near = monitoring.measure_drift(reg, "v1", near)
    assert (d_near.new_passages, d_near.far_passages) == (1, 0)

    shifted = {**corpus, **monitoring.drift_passages(6, seed=1)}
    loaded = counting(minilm)
    reembed(reg, "v1", loaded, shifted, progress=False)
    assert len(loaded.model.texts) == 6
    d = monitoring.measure_drift(reg, "v1", shifted, 0.5, ["how do I stop varroa mites in the hive"])
    assert d.new_passages == 6 and d.far_passages == 6 and d.far_share == pytest.approx(6 / 12)
    assert d.vocab_rate > 0.3 and d.mean_shift > d_near.mean_shift and d.mean_shift > 0.01
    assert {"hive", "queen"} <= set(d.new_words) and d.query_vocab_rate > 0.5
    trigger = monitoring.corpus_shift_trigger(d, 0.02, 0.05, 0.01)
    assert trigger.fired and f"{d.vocab_rate:.3f}" in trigger.evidence
    assert "6 of 12 passages are new" in trigger.evidence
    assert monitoring.query_shift_trigger(d, 0.1).fired
    d = monitoring.measure_drift(reg, "v1", shifted, 0.5, ["varroa mites"], queries_since="2030-01-01T00:00:00+00:00")
    assert "1 click-log queries logged since 2030-01-01" in monitoring.query_shift_trigger(d, 0.1).evidence
    assert d.table().loc["query new-vocabulary rate", "meaning"] == d.query_source


def test_drift_without_records_says_what_is_missing(tmp_path, minilm):
    reg = Registry(tmp_path / "registry")
    corpus = make_corpus(PASSAGES)
    reembed(reg, "v1", minilm, corpus, progress=False)
    d = monitoring.measure_drift(reg, "v1", corpus)
    assert d.vocab_rate is None and d.mean_shift is None and len(d.notes) == 2
    t = monitoring.corpus_shift_trigger(d, 0.02, 0.05, 0.01)
    assert not t.fired and "could not be measured" in t.evidence
    assert "not measured" in d.table().to_string()


def test_embedding_shift_on_synthetic_vectors():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(50, 8))
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    same = monitoring.embedding_shift(ref, [str(i) for i in range(50)], ref, [str(i) for i in range(50)])
    assert same == {"mean_shift": pytest.approx(0.0, abs=1e-9), "new_passages": 0, "far_passages": 0}
    far = np.zeros((10, 8))
    far[:, 0] = 1.0
    cur = np.vstack([ref, far])
    out = monitoring.embedding_shift(ref, [str(i) for i in range(50)], cur, [str(i) for i in range(60)], 0.99)
    assert out["new_passages"] == 10 and out["far_passages"] == 10 and out["mean_shift"] > 0.05


# ---------------------------------------------------------------- triggers and recommendation


def test_corpus_shift_trigger_fires_on_any_measure_above_its_threshold():
    calm = Drift("v1", 100, new_passages=2, vocab_rate=0.01, mean_shift=0.001, far_passages=1)
    assert not monitoring.corpus_shift_trigger(calm, 0.02, 0.05, 0.01).fired
    for change in ({"vocab_rate": 0.03}, {"far_passages": 6}, {"mean_shift": 0.02}):
        drift = Drift(**{**calm.__dict__, **change})
        t = monitoring.corpus_shift_trigger(drift, 0.02, 0.05, 0.01)
        assert t.fired and "above the threshold" in t.evidence, change


def test_base_model_trigger():
    manifest = {"version": "v1", "base_model": "org/base", "base_model_fingerprint": "aaa"}
    assert not monitoring.base_model_trigger(manifest, "org/base", "aaa").fired
    assert not monitoring.base_model_trigger(manifest, "org/base", None).fired
    newer = monitoring.base_model_trigger(manifest, "org/base-v2", "bbb")
    assert newer.fired and "org/base-v2" in newer.evidence
    changed = monitoring.base_model_trigger(manifest, "org/base", "bbb")
    assert changed.fired and "aaa" in changed.evidence and "bbb" in changed.evidence


def test_regression_trigger_needs_a_drop_beyond_threshold_and_interval():
    first = record("v1", 0.80, 0.70, 0.90, "2030-01-01")
    other = record("v2", 0.10, 0.05, 0.15, "2030-01-02")
    assert not monitoring.regression_trigger([first], "v1", 0.05).fired
    cases = {
        (0.60, 0.50, 0.70): True,  # dropped 0.2, first value above the interval
        (0.78, 0.70, 0.86): False,  # small drop
        (0.70, 0.55, 0.85): False,  # drop beyond the threshold but the first value is inside the interval
    }
    for (now, low, high), expected in cases.items():
        records = [first, other, record("v1", now, low, high, "2030-01-03")]
        t = monitoring.regression_trigger(records, "v1", 0.05)
        assert t.fired is expected and f"{now:.3f}" in t.evidence and "0.800" in t.evidence
    click = record("v1", 0.1, 0.0, 0.2, "2030-01-04", source="click log")
    assert not monitoring.regression_trigger([first, click], "v1", 0.05).fired  # other sources are not compared


def test_check_triggers_reads_registry_history_and_params(trained, minilm):
    reg, corpus = trained
    monitoring.append_evaluation(reg, record("v1", 0.8, 0.7, 0.9, "2030-01-01"))
    monitoring.append_evaluation(reg, record("v1", 0.5, 0.4, 0.6, "2030-02-01"))
    drift = monitoring.measure_drift(reg, "v1", corpus)
    triggers = {t.name: t for t in monitoring.check_triggers(reg, drift, params())}
    assert [t.fired for t in triggers.values()] == [False, False, True, True]  # fingerprint fp0 is not MiniLM's
    assert set(triggers) == {"corpus shift", "query shift", "newer base model", "regression"}
    assert list(monitoring.trigger_table(list(triggers.values())).columns) == ["fired", "evidence"]


def test_recommendation_on_known_triggers():
    shift = Trigger("corpus shift", True, "new-vocabulary rate 0.051")
    regression = Trigger("regression", True, "recall@10 0.800 then, 0.600 now")
    calm = [Trigger("corpus shift", False, "close"), Trigger("regression", False, "no regression")]
    keep = monitoring.advise(calm, "v2", "v1")
    assert keep.action == "keep" and "No trigger fired" in keep.to_markdown()
    back = monitoring.advise([regression, calm[0]], "v2", "v1")
    assert (back.action, back.rollback_to) == ("roll back", "v1") and "0.600" in back.to_markdown()
    assert "Re-train afterwards" in monitoring.advise([regression, shift], "v2", "v1").to_markdown()
    alone = monitoring.advise([regression], "v1", None)
    assert alone.action == "re-train" and "no earlier version" in alone.to_markdown()
    retrain = monitoring.advise([shift, calm[1]], "v2", "v1")
    assert retrain.action == "re-train" and "0.051" in retrain.to_markdown()
    assert retrain.to_dict()["markdown"] == retrain.to_markdown()


# ---------------------------------------------------------------- simulation


def test_simulation_encodes_only_new_passages_and_leaves_the_real_index_alone(trained, minilm, tmp_path):
    from nbutils.workspace import Workspace

    reg, corpus = trained
    real = {p.name: p.read_bytes() for p in reg.index_dir("v1").iterdir()}
    ws = Workspace(corpus, {}, {}, {})
    loaded = counting(minilm)
    sim = monitoring.simulate_drift(reg, loaded, ws, params(), tmp_path / "sim")
    assert sim.added == 10 and len(loaded.model.texts) == 10 and sim.reembedding.reused == len(corpus)
    assert sim.trigger.fired and sim.drift.new_passages == 10 and "beekeeping" in sim.describe()
    assert sim.reembedding.estimated_seconds > 0
    assert {p.name: p.read_bytes() for p in reg.index_dir("v1").iterdir()} == real and len(ws.corpus) == 6
    assert load_index(reg, "v1").ids == list(corpus)
    off = monitoring.simulate_drift(reg, loaded, ws, params(simulate_drift=False), tmp_path / "sim")
    assert not off.enabled and off.to_dict() == {"enabled": False} and "off" in off.describe()


def test_drift_passages_are_deterministic_and_new_vocabulary():
    a, b = monitoring.drift_passages(5, seed=3), monitoring.drift_passages(5, seed=3)
    assert a == b and len(a) == 5 and all(p.text.count(".") >= 3 for p in a.values())


def test_drift_params_are_validated():
    from nbutils.config import ParamsError, validate

    with pytest.raises(ParamsError, match="drift_similarity"):
        validate({"drift_similarity": 1.5})
    with pytest.raises(ParamsError, match="simulate_drift"):
        validate({"simulate_drift": "yes"})
