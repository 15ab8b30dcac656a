"""The decide stage: vocabulary analysis and the recommendation rule on inputs whose answer is known."""

import json

import nbformat
import pytest

from nbutils.config import validate
from nbutils.decide import Decision, recommend
from nbutils.paths import NOTEBOOKS
from nbutils.runner import run_domain
from nbutils.vocabulary import analyse_vocabulary

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
