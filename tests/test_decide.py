"""The decide stage: vocabulary analysis and the recommendation rule on inputs whose answer is known."""

import json
from itertools import pairwise

import nbformat
import pytest

from nbutils.config import validate
from nbutils.decide import (
    ASSUMED_KEEP_RATE,
    LAST_NO,
    RULE,
    Decision,
    baseline_runs,
    cost_from_throughput,
    fine_tuning_cost,
    flowchart,
    keep_rate,
    measure_throughput,
    planning_values,
    recommend,
    split_resolution,
)
from nbutils.decide.vocabulary import analyse_vocabulary
from nbutils.paths import NOTEBOOKS
from nbutils.runner import run_domain

ENGLISH = "The cat sat on the mat and looked at the people walking by the house in the morning. " * 20
JARGON = "The zorblax frimbicates the quandrelite via glopnar cascades in vextrine cells. " * 20


def test_vocabulary_tells_jargon_from_plain_english(minilm):
    plain = analyse_vocabulary([ENGLISH], minilm.model.tokenizer, min_count=2)
    special = analyse_vocabulary([JARGON, ENGLISH], minilm.model.tokenizer, min_count=2)
    assert not plain.special and plain.rare_token_share == 0
    assert special.special and special.rare_token_share > 0.1
    assert special.terms[0]["term"] in {"zorblax", "frimbicates", "quandrelite", "glopnar", "vextrine"}
    assert special.pieces_domain > special.pieces_general


def scores(base, bm25, hybrid):
    return {"base": {"recall@10": base}, "bm25": {"recall@10": bm25}, "hybrid": {"recall@10": hybrid}}


@pytest.mark.parametrize(
    "s, pairs, expected",
    [
        (scores(0.95, 0.7, 0.96), 5000, Decision.SKIP),  # generic already good
        (scores(0.80, 0.85, 0.93), 200, Decision.HYBRID),  # fusion closes the gap
        (scores(0.55, 0.50, 0.62), 200, Decision.FINE_TUNE),  # generic misses the domain
        (scores(0.75, 0.60, 0.78), 3000, Decision.FINE_TUNE),  # middle ground, enough labels
        (scores(0.75, 0.70, 0.84), 300, Decision.HYBRID),  # middle ground, few labels, fusion helps
    ],
)
def test_recommendation_rule(s, pairs, expected):
    rec = recommend(s, pairs, 1000, 0.7, 0.9)
    assert rec.decision == expected
    assert any(f"{pairs:,}" in r for r in rec.reasons), "reasons are built from the numbers"


def test_three_passages_and_one_test_query_make_a_provisional_recommendation_that_says_why():
    tiny = scores(1.0, 1.0, 1.0)
    tiny["base"]["queries"] = 1
    rec = recommend(tiny, 1, 1000, 0.7, 0.9, passages=3)
    assert rec.decision == Decision.SKIP and rec.provisional and rec.to_dict()["provisional"] is True
    first = rec.reasons[0]
    assert first.startswith("**Provisional: too little data")
    assert "3 passages (a random ranking puts 100% of them in the top 10" in first
    assert "1 test query measured it" in first and "±98%" in first
    assert "(provisional)" in rec.to_markdown()
    enough = scores(1.0, 1.0, 1.0)
    enough["base"]["queries"] = 200
    assert not recommend(enough, 1, 1000, 0.7, 0.9, passages=5000).provisional


def test_vocabulary_evidence_joins_the_reasons(minilm):
    vocab = analyse_vocabulary([JARGON], minilm.model.tokenizer, min_count=2)
    rec = recommend(scores(0.5, 0.4, 0.6), 100, 1000, 0.7, 0.9, vocab)
    assert any("vocabulary is special" in r for r in rec.reasons)


def _fake_suite(folder, decision: str):
    folder.mkdir()
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    for stage, name in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook(metadata=kernel)
        nb.cells.append(nbformat.v4.new_code_cell("domain = 'x'\noutputs_dir = ''", metadata={"tags": ["parameters"]}))
        body = "print('ran')"
        if stage == "decide":
            record = json.dumps({"recommendation": {"decision": decision}})
            path = "pathlib.Path(outputs_dir, domain, 'metrics', '01_decide.json')"
            body = f"import pathlib\n{path}.write_text({record!r})"
        nb.cells.append(nbformat.v4.new_code_cell(body))
        nbformat.write(nb, str(folder / f"{name}.ipynb"))


@pytest.mark.parametrize("decision, stops", [("skip", True), ("fine-tune", False)])
def test_stop_after_decide(tmp_path, beir_dir, decision, stops):
    _fake_suite(tmp_path / "nbs", decision)
    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "out"), "domain": "x", "stop_after_decide": True}
    )
    summary = run_domain(params, list(NOTEBOOKS), notebook_dir=tmp_path / "nbs", progress=False)
    assert list(summary.reports) == (["decide"] if stops else list(NOTEBOOKS))


# --------------------------------------------------------------------------- the path the rule took


@pytest.mark.parametrize(
    "s, pairs, nodes, outcome",
    [
        (scores(0.50, 0.60, 0.70), 0, ["no_labels"], "no_labels:yes"),
        (scores(0.95, 0.7, 0.96), 5000, ["no_labels", "generic_high"], "generic_high:yes"),
        (scores(0.80, 0.85, 0.93), 200, ["no_labels", "generic_high", "hybrid_high"], "hybrid_high:yes"),
        (scores(0.55, 0.50, 0.62), 200, ["no_labels", "generic_high", "hybrid_high", "generic_low"], "generic_low:yes"),
        (
            scores(0.75, 0.60, 0.78),
            3000,
            ["no_labels", "generic_high", "hybrid_high", "generic_low", "enough_pairs"],
            None,
        ),
        (scores(0.75, 0.70, 0.84), 300, [n.node for n in RULE[1:]], "hybrid_gain:yes"),
        (scores(0.75, 0.70, 0.77), 300, [n.node for n in RULE[1:]], "hybrid_gain:no"),
    ],
)
def test_path_leads_to_the_decision_and_the_flowchart_highlights_it(s, pairs, nodes, outcome):
    rec = recommend(s, pairs, 1000, 0.7, 0.9)
    assert [c.node for c in rec.path] == nodes
    assert rec.outcome_node == (outcome or "enough_pairs:yes")
    last = rec.path[-1]
    step = next(st for st in RULE if st.node == last.node)
    assert rec.decision == (step.on_yes if last.answer else LAST_NO[0])
    assert all(not c.answer for c in rec.path[:-1]), "every earlier question was answered no"
    fig = flowchart(rec)
    ax = fig.axes[0]
    thick = {p.get_gid() for p in ax.patches if p.get_gid() and p.get_linewidth() > 2}
    boxes = {g.removeprefix("box:") for g in thick if g.startswith("box:")}
    assert boxes == {*nodes, rec.outcome_node}
    hops = [*nodes, rec.outcome_node]
    assert {g for g in thick if g.startswith("arrow:")} == {f"arrow:{a}->{b}" for a, b in pairwise(hops)}
    drawn = {p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("box:")}
    assert len(drawn) == len(RULE) + sum(st.on_yes is not None for st in RULE) + 1, "every question and outcome"


def test_path_carries_the_numbers_and_is_recorded(minilm):
    vocab = analyse_vocabulary([JARGON], minilm.model.tokenizer, min_count=2)
    rec = recommend(scores(0.62, 0.58, 0.66), 120, 1000, 0.7, 0.9, vocab)
    record = json.loads(json.dumps(rec.to_dict()))
    assert [c["node"] for c in record["path"]] == [
        "vocabulary",
        "no_labels",
        "generic_high",
        "hybrid_high",
        "generic_low",
    ]
    low = record["path"][-1]
    assert low["answer"] is True and low["value"] == pytest.approx(0.62) and low["threshold"] == pytest.approx(0.7)
    assert "62%" in low["evidence"] and record["outcome"] == "generic_low:yes"
    assert record["path"][0]["answer"] is True, "the jargon corpus has a special vocabulary"


def test_nothing_labelled_recommends_hybrid_and_says_what_would_change_it():
    from nbutils.decide.testset import TestPlan

    plan = TestPlan(gold_test=0, needed=197, basis="the power analysis", build=True, test_fraction=0.2)
    rec = recommend(scores(0.55, 0.70, 0.75), 0, 1000, 0.7, 0.9, labelled_queries=0, test_plan=plan)
    assert rec.decision == Decision.HYBRID and rec.outcome_node == "no_labels:yes"
    text = " ".join(rec.reasons)
    assert "**synthetic** test questions" in text and "safe answer" in text and "label about 985 questions" in text
    labelled = recommend(scores(0.55, 0.70, 0.75), 0, 1000, 0.7, 0.9, labelled_queries=12, test_plan=plan)
    assert labelled.outcome_node == "generic_low:yes", "click-log or gold queries lead past the zero-label rule"


def _old_rule(base, hybrid, pairs, min_pairs=1000, low=0.7, high=0.9):
    """The rule as written before it exposed its path, to show the decisions did not change; nothing labelled
    at all (no pair, no click) leads to hybrid before any threshold is asked."""
    if pairs == 0:
        return Decision.HYBRID
    if base >= high:
        return Decision.SKIP
    if hybrid >= high:
        return Decision.HYBRID
    if base >= low and hybrid - base >= 0.05 and pairs < min_pairs:
        return Decision.HYBRID
    return Decision.FINE_TUNE


def test_decisions_are_unchanged_over_a_grid():
    grid = [i / 20 for i in range(21)]
    for base in grid:
        for hybrid in grid:
            for pairs in (0, 999, 1000, 5000):
                rec = recommend(scores(base, 0.5, hybrid), pairs, 1000, 0.7, 0.9)
                assert rec.decision == _old_rule(base, hybrid, pairs), (base, hybrid, pairs)


# --------------------------------------------------------------------------- cost estimate


@pytest.fixture(scope="module")
def throughput(minilm):
    rows = [("why do cats purr", "Cats purr when they are content. " * 6, "Dogs bark at strangers. " * 6)] * 4
    return measure_throughput(minilm.model, rows, max_seq_length=32, batch_size=4, steps=1)


def test_throughput_is_measured_on_real_training_steps(minilm, throughput):
    assert throughput.rows == 4 and throughput.seconds > 0 and throughput.rows_per_second > 0
    assert throughput.device == "cpu" and "training steps" in throughput.describe()
    assert minilm.model.max_seq_length == 64, "the measurement trains a copy, not the loaded model"


def test_cost_scales_with_pairs_and_epochs(throughput):
    one = cost_from_throughput(400, 1000, throughput, passages=0, per_passage=1, generators=1, epochs=1)
    more_pairs = cost_from_throughput(800, 1000, throughput, passages=0, per_passage=1, generators=1, epochs=1)
    more_epochs = cost_from_throughput(400, 1000, throughput, passages=0, per_passage=1, generators=1, epochs=3)
    assert one["training_seconds"] > 0 and one["pairs_needed"] == 600 and more_pairs["pairs_needed"] == 200
    assert more_pairs["training_seconds"] == pytest.approx(2 * one["training_seconds"], rel=0.01)
    assert more_epochs["training_seconds"] == pytest.approx(3 * one["training_seconds"], rel=0.01)
    synth = cost_from_throughput(
        400, 1000, throughput, passages=300, per_passage=2, generators=2, epochs=1, rate=(0.5, "x")
    )
    assert synth["synthetic_pairs_expected"] == 600 and synth["passages_to_close_the_gap"] == 300
    assert synth["synthesis_closes_the_gap"] and not one["synthesis_closes_the_gap"]
    assert synth["training_pairs"] == 1000 and synth["training_seconds"] > one["training_seconds"]
    refit = cost_from_throughput(
        400, 1000, throughput, passages=0, per_passage=1, generators=1, epochs=3, refit_pairs=600
    )
    assert one["refit_seconds"] == 0
    assert refit["refit_seconds"] == pytest.approx(1.5 * refit["training_seconds"], rel=0.01), "600 pairs vs 400"
    raised = cost_from_throughput(400, 1000, throughput, 0, 1, 1, epochs=1, steps=(32, 40))
    assert raised["epochs"] == 4 and "raised to 4" in raised["epochs_choice"], "13 steps an epoch, 40 asked"
    assert raised["training_seconds"] == pytest.approx(4 * one["training_seconds"], rel=0.01)


def test_estimate_cost_on_a_workspace_says_where_its_numbers_come_from(tmp_path, beir_dir, minilm):
    from nbutils.paths import DomainPaths, write_json
    from nbutils.workspace import prepare_workspace

    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path), "max_seq_length": 32, "epochs": 2})
    paths = DomainPaths.from_params(params)
    ws = prepare_workspace(params, paths)
    cost = fine_tuning_cost(ws, minilm, params, paths, rows=2)
    assert cost["planning_values"] == "params" and cost["epochs"] == 10, "a handful of pairs: min_steps raises"
    assert "`epochs: 2` raised to 10" in cost["epochs_choice"]
    assert fine_tuning_cost(ws, minilm, params.replace(min_steps=0), paths, rows=2)["epochs"] == 2
    assert "query + positive + 1 negative a row" in cost["throughput_measured"], "gold pairs: loss auto is mnrl"
    assert cost["keep_rate"] == ASSUMED_KEEP_RATE and cost["keep_rate_source"].startswith("assumed")
    assert cost["synthetic_pairs_expected"] == int(len(ws.corpus) * ASSUMED_KEEP_RATE), "all 5 passages, 1 question"
    assert cost["rows_per_second"] > 0 and cost["training_seconds"] > 0
    write_json(
        paths.metrics("synthesize"),
        {
            "written": "2024-01-01T00:00:00+00:00",
            "filters": [{"filter": "length", "in": 18}, {"filter": "held-out questions", "in": 30}],
            "llm_failures": 2,
            "pairs": [
                {"source": "synthetic", "pairs": 5},
                {"source": "synthetic", "pairs": 3},
                {"source": "gold", "pairs": 9},
            ],
        },
    )
    rate, source = keep_rate(paths)
    assert rate == pytest.approx(8 / 20) and source.startswith("observed: 8 of 20")


def test_corpus_stats_count_the_documents_of_each_format_a_folder_held(tmp_path, beir_dir):
    from nbutils.decide import corpus_stats
    from nbutils.paths import DomainPaths
    from nbutils.workspace import prepare_workspace

    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a", "b", "c"):
        (docs / f"{name}.md").write_text(f"# {name.upper()} guide\n\nHow to set up {name}.")
    (docs / "notes.txt").write_text("Notes\n\nRotate the keys monthly.")
    params = validate({"data_dir": str(docs), "outputs_dir": str(tmp_path / "o")})
    stats = corpus_stats(prepare_workspace(params, DomainPaths.from_params(params)))
    assert stats["documents"] == 4 and stats["documents_by_format"] == "3 .md, 1 .txt"
    beir = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "b")})
    assert "documents_by_format" not in corpus_stats(prepare_workspace(beir, DomainPaths.from_params(beir)))


def test_without_labels_the_cost_is_timed_on_rows_as_distillation_carries_them(tmp_path, minilm):
    from nbutils.paths import DomainPaths
    from nbutils.workspace import prepare_workspace

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Setup\n\nInstall the agent.\n\n# Keys\n\nRotate the keys monthly.")
    params = validate({"data_dir": str(docs), "outputs_dir": str(tmp_path / "o"), "max_seq_length": 32})
    paths = DomainPaths.from_params(params)
    cost = fine_tuning_cost(prepare_workspace(params, paths), minilm, params, paths, rows=2)
    assert "query + positive + 4 negatives a row" in cost["throughput_measured"], "loss auto: marginmse rows"
    mnrl = params.replace(loss="mnrl", negatives_per_query=2)
    cost = fine_tuning_cost(prepare_workspace(mnrl, paths), minilm, mnrl, paths, rows=2)
    assert "query + positive + 2 negatives a row" in cost["throughput_measured"]


def test_the_decide_notebook_plans_with_the_domains_synthesis_and_training_values():
    from nbutils.config import SynthesizeParams, TrainParams, from_namespace

    notebook = from_namespace("decide", {"domain": "x", "epochs": 7, "synth_passages": 40})
    values, source = planning_values(notebook)
    assert source == "params" and values["epochs"] == 7 and values["synth_passages"] == 40
    values, source = planning_values(from_namespace("mine", {"domain": "x"}))
    assert source == "synthesize, mine and train stage defaults"
    assert values["epochs"] == TrainParams().epochs and values["synth_passages"] == SynthesizeParams().synth_passages


def test_pairs_by_source_counts_gold_clicks_and_expected_synthetic(tmp_path, beir_dir):
    from nbutils.config import validate
    from nbutils.decide import pairs_by_source
    from nbutils.paths import DomainPaths
    from nbutils.plots import pairs_by_source as chart
    from nbutils.workspace import prepare_workspace

    params = validate(
        {"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "o"), "test_fraction": 0.0, "dev_fraction": 0.0}
    )
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    log = tmp_path / "clicks.csv"
    log.write_text("query,doc_id,clicks\nwhy do cats purr,d1,3\nWhy do cats purr?,d1,1\nbig planet,d5,1\n")
    cost = {"synthetic_pairs_expected": 7, "synthesis": "10 passages", "min_pairs": 20}
    table = pairs_by_source(ws, str(log), 2, cost)
    assert table.loc["gold (train split)", "pairs"] == 4
    assert table.loc["click log", "pairs"] == 1, "the two spellings merge to 4 clicks; 'big planet' has 1 < 2"
    assert table.loc["total", "pairs"] == 4 + 1 + 7 and table.loc["total", "share of min_pairs"] == 0.6
    without = pairs_by_source(ws, "", 1, cost)
    assert without.loc["click log", "pairs"] == 0 and without.loc["click log", "how counted"] == "no click log given"
    ax = chart(table, 20).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gold (train split)", "click log", "synthetic (expected)"]


def test_passage_lengths_counts_what_the_model_cannot_read(minilm):
    from dataclasses import replace

    from nbutils.data import Passage
    from nbutils.decide import passage_lengths
    from nbutils.workspace import Workspace

    long_text = " ".join(f"Sentence {i} says that bees visit flower number {i}." for i in range(12))
    corpus = {"a": Passage("a", "Cats", "Cats purr."), "b": Passage("b", "Bees", long_text)}
    ws = Workspace(corpus, {}, {}, {"train": [], "dev": [], "test": []})
    out = passage_lengths(ws, minilm)
    assert (out["passages_over_window"], out["share_over_window"]) == (1, 0.5)
    assert "1 of 2 passages (50%)" in out["sentence"] and "long_passages: windows" in out["sentence"]
    assert "encoded in windows" in passage_lengths(ws, replace(minilm, long_passages="windows"))["sentence"]
    short = Workspace({"a": corpus["a"]}, {}, {}, ws.splits)
    assert passage_lengths(short, minilm)["sentence"].startswith("Every passage fits")
    assert out["sentences_median"] == 6.5 and "`window_sentences: 2`" in out["sentence"]  # 1 and 12 sentences
    assert "window_sentences" not in passage_lengths(ws, replace(minilm, window_sentences=2))["sentence"]
    assert "window_sentences" not in passage_lengths(short, minilm)["sentence"]


def test_split_resolution_says_how_small_a_difference_each_split_can_show(beir_dir, minilm):
    from nbutils.data import load_beir
    from nbutils.metrics import detectable_difference, per_query
    from nbutils.models import encode
    from nbutils.retrieval import BM25Index, DenseIndex
    from nbutils.workspace import Workspace

    data = load_beir(beir_dir)
    ws = Workspace(data.corpus, data.queries, data.qrels, {"train": [], "dev": ["q1", "q2", "q4"], "test": []})
    ids, texts = ws.ids_and_texts()
    dense, bm25 = DenseIndex(ids, encode(minilm.model, texts, progress=False)), BM25Index(ids, texts)
    table = split_resolution(ws, dense, bm25, minilm.model)
    assert list(table.index) == ["dev"] and table.loc["dev", "queries"] == 3  # the empty test split is left out
    runs = baseline_runs(ws, dense, bm25, minilm.model, "dev")
    qrels = ws.split("dev")[1]
    base, hybrid = per_query(qrels, runs["base"], (10,)), per_query(qrels, runs["hybrid"], (10,))
    diffs = [hybrid[q]["ndcg@10"] - base[q]["ndcg@10"] for q in base]
    assert table.loc["dev", "smallest detectable ndcg@10 difference"] == pytest.approx(detectable_difference(diffs))
    known = {"dev": {"base": runs["base"], "hybrid": runs["base"]}}
    same = split_resolution(ws, dense, bm25, minilm.model, known=known)
    assert same.loc["dev", "sd of per-query ndcg@10 difference"] == 0, "runs already searched are used as they are"
