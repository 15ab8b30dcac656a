import re
from datetime import datetime, timezone

import pytest

from nbutils.data import (
    DataError,
    chunk_document,
    load_beir,
    load_clicks,
    load_dataset,
    load_documents,
    load_gold_pairs,
    parse_timestamp,
)
from tests.conftest import write_jsonl


def test_beir_good(beir_dir):
    ds = load_beir(beir_dir)
    assert list(ds.corpus) == ["d1", "d2", "d3", "d4", "d5"]
    assert ds.qrels["q2"] == {"d5": 1}
    assert len(ds.issues) == 0
    assert ds.corpus["d1"].full_text().startswith("Cats\n")


def test_beir_broken_lines_are_reported_with_file_and_line(beir_dir):
    with (beir_dir / "corpus.jsonl").open("a") as f:
        f.write('{"_id": "d1", "title": "dup", "text": "again"}\n')  # line 6
        f.write("{not json\n")  # line 7
        f.write('{"_id": "d9", "title": "", "text": ""}\n')  # line 8
    with (beir_dir / "qrels" / "train.tsv").open("a") as f:
        f.write("q9\td1\t1\n")  # line 6
        f.write("q1\tnope\t1\n")  # line 7
        f.write("q1\td2\n")  # line 8
    ds = load_beir(beir_dir)
    kinds = {(i.kind, i.line) for i in ds.issues}
    assert ("duplicate_id", 6) in kinds and ("malformed", 7) in kinds and ("empty_text", 8) in kinds
    assert {"unknown_query", "unknown_doc"} <= set(ds.issues.counts())
    assert any(i.file.endswith("train.tsv") and i.line == 8 for i in ds.issues)
    assert ds.corpus["d1"].title == "Cats"  # the first of a duplicate is kept
    assert "q9" not in ds.qrels


def test_beir_fixed_test_split(beir_dir):
    (beir_dir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq4\td3\t1\n")
    assert load_beir(beir_dir).fixed_splits == {"test": ["q4"]}


def test_missing_or_empty_corpus_raises(tmp_path):
    with pytest.raises(DataError, match="corpus file not found"):
        load_beir(tmp_path)
    write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "x", "text": ""}])
    with pytest.raises(DataError, match="no valid passages"):
        load_beir(tmp_path)


def test_chunking_prefixes_headings_and_ids_are_stable():
    doc = "# Guide\nintro words here\n\n## Install\n" + "pip install thing now. " * 30 + "\n\n## Usage\nrun it"
    a = chunk_document("guide", "Guide", doc, chunk_words=40)
    ids = [p.id for p in a]
    assert ids[0] == "guide#guide-0" and "guide#install-0" in ids and "guide#usage-0" in ids
    assert all(len(p.text.split()) <= 41 for p in a)
    assert next(p for p in a if p.id == "guide#usage-0").text.startswith("Usage\n")
    changed = chunk_document("guide", "Guide", doc.replace("run it", "run it twice"), chunk_words=40)
    assert [p.id for p in changed] == ids


def test_underlined_headings_are_sections():
    doc = "Title\n*****\n\nfirst\n\nSub part\n========\n\nsecond"
    assert [p.id for p in chunk_document("t", "Title", doc)] == ["t#title-0", "t#sub-part-0"]


def test_documents_folder(tmp_path):
    (tmp_path / "a.md").write_text("# Alpha\nalpha text")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Beta doc\n\nbeta text")
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "skip.csv").write_text("x")
    ds = load_documents(tmp_path)
    assert {p.split("#")[0] for p in ds.corpus} == {"a", "sub/b"}
    assert ds.corpus["a#alpha-0"].title == "Alpha"
    assert [i.kind for i in ds.issues] == ["empty_text"]


def test_gold_pairs_and_dataset(beir_dir, tmp_path):
    gold = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {"id": "g1", "query": "dog walks", "positives": ["d2"]},
            {"query": "unknown one", "positives": ["zzz"]},
            {"id": "g1", "query": "dup id", "positives": ["d1"]},
            {"query": "", "positives": ["d1"]},
            {"query": "single id form", "doc_id": "d3"},
        ],
    )
    queries, qrels, issues = load_gold_pairs(gold, load_beir(beir_dir).corpus)
    assert queries == {"g1": "dog walks", "gold-5": "single id form"}
    assert qrels["gold-5"] == {"d3": 1}
    assert issues.counts() == {"unknown_doc": 1, "no_positive": 1, "duplicate_id": 1, "empty_text": 1}
    ds = load_dataset(beir_dir, gold_file=gold)
    assert "g1" in ds.queries and "q1" in ds.queries


def test_click_logs_csv_and_jsonl(beir_dir, tmp_path):
    corpus = load_beir(beir_dir).corpus
    csv_path = tmp_path / "clicks.csv"
    csv_path.write_text("query,doc_id,clicks\ncat purr,d1,3\ncat purr,d1,2\nx,nope,1\nbad,d2,many\n,d2,1\n")
    clicks, issues = load_clicks(csv_path, corpus)
    assert [(c.query, c.doc_id, c.clicks) for c in clicks] == [("cat purr", "d1", 5)]
    assert {(i.kind, i.line) for i in issues} == {("unknown_doc", 4), ("malformed", 5), ("malformed", 6)}
    jl = write_jsonl(tmp_path / "clicks.jsonl", [{"query": "bread", "doc_id": "d4", "timestamp": t} for t in (1, 2)])
    clicks, issues = load_clicks(jl, corpus)
    assert clicks[0].clicks == 2 and len(issues) == 0
    assert clicks[0].last_seen == datetime(1970, 1, 1, 0, 0, 2, tzinfo=timezone.utc)


def test_click_timestamps_keep_the_latest_per_pair_and_report_bad_ones(beir_dir, tmp_path):
    corpus = load_beir(beir_dir).corpus
    log = tmp_path / "clicks.csv"
    log.write_text(
        "query,doc_id,timestamp\n"
        "cat purr,d1,2030-01-02T10:00:00+02:00\n"
        "cat purr,d1,2030-01-01\n"
        "bread,d4,yesterday\n"
        "bread,d4,\n"
    )
    clicks, issues = load_clicks(log, corpus)
    got = {(c.query, c.clicks, c.last_seen) for c in clicks}
    assert got == {("cat purr", 2, datetime(2030, 1, 2, 8, tzinfo=timezone.utc)), ("bread", 1, None)}
    assert [(i.line, i.kind) for i in issues] == [(4, "malformed")] and "'yesterday'" in issues.items[0].message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
        ("86400", datetime(1970, 1, 2, tzinfo=timezone.utc)),
        ("2030-05-06T07:08:09Z", datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone.utc)),
        ("2030-05-06 07:08", datetime(2030, 5, 6, 7, 8, tzinfo=timezone.utc)),
    ],
)
def test_parse_timestamp(raw, expected):
    assert parse_timestamp(raw) == expected


@pytest.mark.parametrize("raw", ["soon", "2030-13-01", True, None, 1e30])
def test_parse_timestamp_names_a_bad_value(raw):
    with pytest.raises(ValueError, match=re.escape(f"timestamp {raw!r} is neither")):
        parse_timestamp(raw)


WIDGET_MD = """\
---
title: widget-sync
section: 1
description: Copy widgets to a remote store
---

# Overview

<!-- YAML
added: v1.2.0
changes:
  - version: v2.0.0
-->

> Stability: 2 - Stable

The `widget sync` command copies widgets to a [remote store](/using/remote-store "Stores")
and checks them with [`widget.verify()`][]. See the [guide][setup] or [Caveats].

![Sync diagram](img/sync.png) ![](img/spacer.png)

<div class="note">Requires <code>--token</code> and a `<name>`.</div>
<a id="legacy-anchor"></a>

Report bugs at <https://example.com/issues>.

## The [`sync()`][] method

```bash
# copy everything
widget sync --all

widget sync <name>
```

~~~
## not a heading either
~~~

## Empty

<!-- nothing here yet -->

[`widget.verify()`]: #widgetverifyname
[`sync()`]: #sync
[setup]: https://example.com/setup "Setup guide"
[caveats]: #caveats
"""


def test_markdown_is_cleaned_and_code_fences_are_kept_whole(tmp_path):
    (tmp_path / "commands").mkdir()
    (tmp_path / "commands" / "widget-sync.md").write_text(WIDGET_MD)
    ds = load_documents(tmp_path, 80)
    assert list(ds.corpus) == ["commands/widget-sync#overview-0", "commands/widget-sync#the-sync-method-0"]
    assert {p.title for p in ds.corpus.values()} == {"widget-sync"}
    assert ds.corpus["commands/widget-sync#overview-0"].text == (
        "Overview\nStability: 2 - Stable\n\n"
        "The `widget sync` command copies widgets to a remote store\n"
        "and checks them with `widget.verify()`. See the guide or Caveats.\n\n"
        "Sync diagram\n\n"
        "Requires `--token` and a `<name>`.\n\n"
        "Report bugs at https://example.com/issues."
    )
    assert ds.corpus["commands/widget-sync#the-sync-method-0"].text == (
        "The `sync()` method\n"
        "```bash\n# copy everything\nwidget sync --all\n\nwidget sync <name>\n```\n\n"
        "~~~\n## not a heading either\n~~~"
    )
    assert len(ds.issues) == 0


def test_markdown_title_falls_back_to_first_heading_and_bad_front_matter_stays_text(tmp_path):
    (tmp_path / "api.md").write_text("<!--introduced_in=v1.0.0-->\n# HTTP `Agent`\n\ntext [x](y)\n")
    (tmp_path / "open.md").write_text("---\ntitle: Unclosed\n\nbody text\n")
    (tmp_path / "prose.md").write_text("---\nnot yaml at all\n---\n\nbody")
    (tmp_path / "only-meta.md").write_text("---\ntitle: Nothing\n---\n<!-- empty -->\n")
    ds = load_documents(tmp_path)
    assert ds.corpus["api#http-agent-0"].title == "HTTP `Agent`"
    assert ds.corpus["api#http-agent-0"].text == "text x"
    assert "title: Unclosed" in " ".join(p.text for p in ds.corpus.values() if p.id.startswith("open#"))
    assert any("not yaml at all" in p.text for p in ds.corpus.values() if p.id.startswith("prose#"))
    assert not any(p.startswith("only-meta#") for p in ds.corpus)
    assert [(i.file.endswith("only-meta.md"), i.kind) for i in ds.issues] == [(True, "empty_text")]


def test_txt_files_are_not_cleaned_as_markdown(tmp_path):
    text = "Intro line\n\n# Notes\nsee [docs](http://x) <!-- kept -->\n```\n# still a heading\n```\n"
    (tmp_path / "notes.txt").write_text(text)
    ds = load_documents(tmp_path)
    assert [(p.id, p.title, p.text) for p in ds.corpus.values()] == [
        ("notes#intro-line-0", "Intro line", "Intro line"),
        ("notes#notes-0", "Intro line", "Notes\nsee [docs](http://x) <!-- kept -->\n```"),
        ("notes#still-a-heading-0", "Intro line", "still a heading\n```"),
    ]
    assert list(ds.corpus.values()) == chunk_document("notes", "Intro line", text)
