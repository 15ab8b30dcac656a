import json

from nbutils.builtin import materialize
from nbutils.config import DecideParams
from nbutils.data import load_documents, load_gold_pairs


def test_python_docs_corpus_and_gold(tmp_path):
    folder, gold = materialize("builtin:python-docs", tmp_path / "src")
    ds = load_documents(folder, DecideParams().chunk_words)
    assert len(ds.corpus) >= 1000
    rows = [json.loads(line) for line in gold.read_text().splitlines()]
    assert len(rows) >= 150
    missing = [(r["id"], p) for r in rows for p in r["positives"] if p not in ds.corpus]
    assert missing == []
    queries, qrels, issues = load_gold_pairs(gold, ds.corpus)
    assert len(queries) == len(rows) and len(issues) == 0
    assert len({q.lower() for q in queries.values()}) == len(queries)
