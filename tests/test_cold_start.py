"""A folder of Markdown pages and nothing else, run end to end: every number is marked synthetic, nothing
trains on the held-out sections, and gold labels added later appear beside the synthetic test questions."""

import json
import subprocess

import pytest

from nbutils.synthesize.labeling import GoldFile
from nbutils.workspace import section_of
from tests.conftest import PY, ROOT

pytestmark = [pytest.mark.smoke, pytest.mark.slow]  # a second whole run of the suite, on documents alone

PARAMS = ROOT / "tests" / "params" / "nolabels.yaml"  # data_dir only


def nbutils_run(out, *extra):
    cmd = [PY, "-m", "nbutils", "run", "docs", "--params", str(PARAMS), "--set", f"outputs_dir={out}", "--quiet"]
    r = subprocess.run([*cmd, *extra], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("cold") / "outputs"
    nbutils_run(out)
    return out / "docs"


def metrics(root, name):
    return json.loads((root / "metrics" / f"{name}.json").read_text())


def test_params_hold_only_the_data_folder():
    keys = [line.split(":")[0] for line in PARAMS.read_text().splitlines() if line.strip() and line[0] != "#"]
    assert keys == ["data_dir"]


def test_six_reports_with_synthetic_numbers_marked(suite):
    for name in ("01_decide", "02_synthesize", "03_mine", "04_train", "05_evaluate", "06_maintain"):
        assert (suite / f"{name}.html").exists()
    decide = metrics(suite, "01_decide")
    assert decide["stats"]["labelled_queries"] == 0 and decide["test_source"] == "synthetic"
    assert decide["recommendation"]["decision"] == "hybrid" and decide["recommendation"]["outcome"] == "no_labels:yes"
    assert decide["test_plan"]["labels_to_add"] > 0 and decide["synthetic_test"]["test_questions"] >= 1
    reasons = " ".join(decide["recommendation"]["reasons"])
    assert "synthetic" in reasons and "safe answer" in reasons and "python -m nbutils label" in reasons
    assert decide["scores"]["hybrid"]["queries"] == decide["synthetic_test"]["test_questions"]
    html = (suite / "01_decide.html").read_text()
    assert "provisional synthetic test set" in html and 'style="text-align:left">synthetic</td>' in html, (
        "the `test set` column"
    )
    evaluate = metrics(suite, "05_evaluate")
    assert evaluate["test_source"] == "synthetic"
    assert {r["test set"].split()[0] for r in evaluate["summary"]} == {"synthetic"}
    assert "test queries are synthetic" in (suite / "05_evaluate.html").read_text()
    assert metrics(suite, "02_synthesize")["llm_model"] == "local:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "bundled 135M-parameter question writer" in (suite / "05_evaluate.html").read_text()
    assert metrics(suite, "06_maintain")["evaluations"][0]["source"] == "synthetic test split"
    index = (suite.parent / "index.html").read_text()
    assert "<span class='mark'>synthetic test questions</span>" in index and "on synthetic test questions" in index


def test_nothing_trains_on_the_held_out_sections(suite):
    work = suite / "work"
    splits = json.loads((work / "splits.json").read_text())
    units = set(splits["held_out_units"])
    assert units and splits["test_source"] == "synthetic"
    queries = [json.loads(line) for line in (work / "queries.jsonl").read_text().splitlines()]
    test_pids = {p for q in queries if q["_id"] in splits["test"] + splits["dev"] for p in q["qrels"]}
    assert {section_of(p) for p in test_pids} <= units
    pairs = [json.loads(line) for line in (work / "train_pairs.jsonl").read_text().splitlines()]
    triples = [json.loads(line) for line in (work / "train_triples.jsonl").read_text().splitlines()]
    assert pairs and {p["source"] for p in pairs} == {"synthetic"}, "trained on what the suite made"
    train = metrics(suite, "04_train")
    assert train["loss"] == "marginmse", "loss auto: synthetic pairs distil the teacher"
    assert "`epochs: 1` raised to" in train["epochs_choice"], "a handful of pairs: min_steps raises the epochs"
    assert "epochs: 1</code> raised to" in (suite / "04_train.html").read_text()
    assert all(t["margin"] is not None for t in triples if t["negative"])
    trained = {p["positive"] for p in pairs} | {t["positive"] for t in triples} | {t["negative"] for t in triples}
    assert not {section_of(p) for p in trained if p} & units
    assert (work / "model" / "config.json").exists()


def test_gold_labels_added_later_are_shown_beside_the_synthetic_ones(suite):
    out = suite.parent
    gold = GoldFile(suite / "work" / "gold_labels.jsonl")  # where the labeling panel saves
    corpus = [json.loads(line) for line in (suite / "work" / "corpus.jsonl").read_text().splitlines()]
    for i, passage in enumerate(corpus[:15]):
        gold.append(f"question {i} about {passage['text'].split()[0]} {passage['title']}", [passage["_id"]])
    nbutils_run(out, "--stages", "decide,evaluate", "--set", "gold_test_min=500")
    decide = metrics(suite, "01_decide")
    assert decide["stats"]["labelled_queries"] == 15 and decide["test_source"] == "synthetic"
    assert decide["recommendation"]["outcome"] != "no_labels:yes", "labels exist now"
    assert any("gold" in column for column in decide["side_by_side"]), "gold test queries beside synthetic ones"
    summary = metrics(suite, "05_evaluate")["summary"]
    assert {r["test set"].split()[0] for r in summary} == {"synthetic", "gold"}


QUESTIONS = [
    ("q1", "does it still run on my old 32 bit pc", "install.md", "Older 32-bit systems are not supported"),
    ("q2", "how do I list the folders I want synced", "configuration.md", "Each synced folder is a `[[folder]]` table"),
    ("q3", "tidepool says 401 what now", "troubleshooting.md", "means the access token is missing or expired"),
    ("q4", "why are thousands of tiny files so slow", "troubleshooting", "every file needs its own request"),
]


def test_the_bench_retrains_on_a_finished_run_and_scores_hand_written_questions(suite, tmp_path):
    """``bench/cold_start.py retrain``, ``ceiling`` and ``distill`` on the run above: each trains a real model
    on its workspace and scores it against the generic model on questions located by their evidence snippets."""
    questions = tmp_path / "questions.jsonl"
    rows = [{"id": i, "query": q, "evidence": [{"file": f, "snippet": s}]} for i, q, f, s in QUESTIONS]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["--out", str(suite.parent.parent), "--domain", "docs", "--questions", str(questions)]
    runs = {"retrain": ["--sample", "8"], "ceiling": ["--folds", "2"], "distill": ["--negatives", "2"]}
    for cmd, extra in runs.items():
        results = tmp_path / f"{cmd}.json"
        r = subprocess.run([PY, "bench/cold_start.py", cmd, *common, *extra, "--results", str(results)], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        result = json.loads(results.read_text())
        assert result["fine-tuned vs base"]["queries"] == 4
        assert {"base", "fine-tuned"} <= set(result["human"])
    retrain = json.loads((tmp_path / "retrain.json").read_text())
    assert retrain["pairs"] == 8 < retrain["of"]
    ceiling = json.loads((tmp_path / "ceiling.json").read_text())
    assert (ceiling["questions"], ceiling["folds"], ceiling["synthetic_rows"]) == (4, 2, 0)
    distill = json.loads((tmp_path / "distill.json").read_text())
    assert distill["rows"] >= distill["queries"] > 0 and distill["negatives"] == 2
