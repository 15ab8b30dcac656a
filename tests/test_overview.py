"""The outputs/index.html overview: what a person sees for each domain without Jupyter or a server."""

import json

from nbutils.overview import write_index

SUMMARY = [
    {"test set": "gold (42 queries)", "step": "generic", "system": "base", "nDCG@10": 0.617, "nDCG@10 low": 0.506},
    {"test set": "gold (42 queries)", "step": "fine-tuned", "system": "fine-tuned", "nDCG@10": 0.611},
    {"test set": "gold (42 queries)", "step": "fine-tuned + hybrid", "system": "hybrid (weighted)", "nDCG@10": 0.711},
]
SUMMARY[0] |= {"nDCG@10 high": 0.735, "recall@10": 0.77, "recall@10 low": 0.651, "recall@10 high": 0.869}


def _write(root, domain, stage, metrics):
    folder = root / domain / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stage}.json").write_text(json.dumps({"written": "2026-12-07T09:27:20+00:00", **metrics}))


def test_each_domain_shows_recommendation_steps_with_intervals_versions_and_reports(tmp_path):
    rec = {"decision": "hybrid", "reasons": ["Hybrid gains +6% over dense alone.", "Second.", "Third, not shown."]}
    _write(tmp_path, "docs", "01_decide", {"recommendation": rec, "test_source": "gold"})
    _write(tmp_path, "docs", "05_evaluate", {"summary": SUMMARY, "test_source": "gold", "systems": {}})
    history = [
        {"version": "v1", "created": "2026-12-01T10:00:00+00:00", "ndcg@10": 0.6, "current": False},
        {"version": "v2", "created": "2026-12-07T09:27:00+00:00", "ndcg@10": 0.611, "current": True},
    ]
    advice = {"action": "keep", "reasons": ["No trigger fired."]}
    _write(tmp_path, "docs", "06_maintain", {"current": "v2", "history": history, "recommendation": advice})
    (tmp_path / "docs" / "01_decide.html").write_text("report")
    (tmp_path / "docs" / "04_train.failed.html").write_text("report")
    page = write_index(tmp_path).read_text()
    assert "Recommendation: hybrid" in page and "Hybrid gains +6%" in page and "Third, not shown" not in page
    assert page.index("generic") < page.index("fine-tuned + hybrid"), "generic → fine-tuned → hybrid"
    assert "0.506–0.735" in page and "0.651–0.869" in page and "class='bar'" in page
    assert "—" in page, "a missing interval is a dash"
    assert "gold (42 queries)" in page and "last run 2026-12-07 09:27:20 UTC" in page
    assert "v1 (2026-12-01, nDCG@10 0.600) → <b>v2 (2026-12-07, nDCG@10 0.611)</b>" in page
    assert "Maintenance: <b>keep</b> — No trigger fired." in page
    assert 'href="docs/01_decide.html"' in page and 'class="failed" href="docs/04_train.failed.html"' in page
    assert "NaN" not in page and str(tmp_path) not in page


def test_before_training_the_overview_shows_the_generic_systems_and_marks_synthetic_tests(tmp_path):
    confidence = [
        {"system": s, "metric": m, "mean": 0.5, "low": 0.4, "high": 0.6}
        for s in ("base", "bm25", "hybrid")
        for m in ("ndcg@10", "recall@10")
    ]
    rec = {"decision": "hybrid", "reasons": ["No labels."], "provisional": True}
    decide = {
        "recommendation": rec,
        "test_source": "synthetic",
        "confidence": confidence,
        "stats": {"test_queries": 60},
    }
    _write(tmp_path, "fresh", "01_decide", decide)
    page = write_index(tmp_path).read_text()
    assert "generic (no training)" in page and page.count("<td class='num'>0.400–0.600</td>") == 6
    assert "on synthetic test questions" in page and "provisional: too little data" in page
    assert "60 held-out test queries, before any training" in page
    assert "No model version registered yet" in page


def test_an_empty_outputs_folder_says_how_to_start(tmp_path):
    assert "No domain has run yet" in write_index(tmp_path).read_text()
