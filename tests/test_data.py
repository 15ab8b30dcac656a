import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from nbutils.data import (
    DataError,
    DataIssues,
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


def test_a_long_code_block_is_split_at_line_ends():
    code = "\n".join(f"call_{i}(alpha, beta, gamma, delta)" for i in range(30))  # 150 words over 30 lines
    doc = f"# Example\n\nIntro.\n\n```\n{code}\n```\n\n" + " ".join(["word"] * 130)
    passages = chunk_document("d", "D", doc, chunk_words=60, markdown=True)
    bodies = [p.text.removeprefix("Example\n") for p in passages]
    code_lines = [line for b in bodies for line in b.split("\n") if line.startswith("call_")]
    assert code_lines == code.split("\n")  # every line whole, in order
    assert all(len(b.split()) <= 60 for b in bodies) and bodies[-1] == " ".join(["word"] * 10)


def test_each_piece_of_a_split_code_block_has_balanced_fences():
    code = "\n".join(f"npm run step{i} --flag value{i}" for i in range(40))
    passages = chunk_document("d", "D", f"# Use\n\n```bash\n{code}\n```\n\nAfter.", chunk_words=40, markdown=True)
    code_passages = [p.text for p in passages if "npm run" in p.text]
    assert len(code_passages) > 2
    for text in code_passages:
        body = text.removeprefix("Use\n").removesuffix("\n\nAfter.")
        assert body.startswith("```bash\n") and body.endswith("\n```"), body
        assert body.count("```") == 2
    lines = [line for t in code_passages for line in t.split("\n") if line.startswith("npm run")]
    assert lines == code.split("\n")
    prose = chunk_document("d", "D", "# Use\n\n" + "\n".join(["one two three four five"] * 30), 40, True)
    assert all("```" not in p.text for p in prose)


def test_documents_folder(tmp_path):
    (tmp_path / "a.md").write_text("# Alpha\nalpha text")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Beta doc\n\nbeta text")
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "skip.csv").write_text("x")
    (tmp_path / "sub" / "more.csv").write_text("y")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    ds = load_documents(tmp_path)
    assert {p.split("#")[0] for p in ds.corpus} == {"a", "sub/b"}
    assert ds.corpus["a#alpha-0"].title == "Alpha"
    assert [i.kind for i in ds.issues] == ["skipped_file", "empty_text"]
    skipped = ds.issues.items[0]
    assert skipped.message.startswith("2 .csv files not read; the loader reads .md, .markdown, .mdx, .txt, .rst, .docx")
    assert ds.formats == {".md": 1, ".txt": 1}, "the empty .md gave no passage and is not counted"


def test_documents_folder_skips_hidden_dependency_and_venv_folders(tmp_path):
    (tmp_path / "guide.md").write_text("# Guide\nour own guide")
    for folder in (".github", "node_modules/pkg", "env/lib", "site/.vitepress"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "README.md").write_text("# Theirs\nsomeone else's readme")
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin")
    (tmp_path / "node_modules" / "pkg" / "index.js").write_text("x")
    (tmp_path / ".hidden.md").write_text("# Hidden\nnot ours")
    ds = load_documents(tmp_path)
    assert {p.split("#")[0] for p in ds.corpus} == {"guide"}
    skipped = {Path(i.file).name: i.message for i in ds.issues if i.kind == "skipped_folder"}
    assert skipped == {
        "env": "1 document file not read: a virtual environment",
        "node_modules": "1 document file not read: a dependency or cache folder",
    }
    assert [i.kind for i in ds.issues if i.kind != "skipped_folder"] == []  # index.js is inside a skipped folder


def test_a_sphinx_html_build_is_read_from_its_pages_alone(tmp_path):
    page = "<html><body><div role='main'><h1>Guide</h1><p>{}</p></div></body></html>"
    (tmp_path / "guide.html").write_text(page.format("the guide's own words"))
    for name in ("genindex.html", "genindex-A.html", "py-modindex.html", "search.html"):
        (tmp_path / name).write_text(page.format("<a href='guide.html'>guide</a> index entry"))
    (tmp_path / "_sources").mkdir()
    (tmp_path / "_sources" / "guide.rst.txt").write_text("Guide\n=====\n\nthe guide's own words\n")
    ds = load_documents(tmp_path)
    read = {p.split("#")[0] for p in ds.corpus}
    assert read == {"_sources/guide.rst", "guide", "genindex", "genindex-A", "py-modindex", "search"}, "no marker"
    (tmp_path / "searchindex.js").write_text("Search.setIndex({})")
    ds = load_documents(tmp_path)
    assert set(ds.corpus) == {"guide#guide-0"}
    issues = {(Path(i.file).name, i.kind): i.message for i in ds.issues}
    assert issues[("_sources", "skipped_folder")].startswith("1 document file not read: Sphinx's copies")
    assert issues[("genindex-A.html", "skipped_file")].startswith("4 Sphinx index and search pages not read")


def test_windows_line_ends_and_a_byte_order_mark_read_like_plain_files(tmp_path):
    (tmp_path / "win.md").write_bytes(b"---\r\ntitle: Win Doc\r\n---\r\n\r\n# Setup\r\n\r\nRun the installer.\r\n")
    (tmp_path / "bom.md").write_bytes(b"\xef\xbb\xbf# Plain Heading\n\nMore text.\n")
    (tmp_path / "api.rst").write_bytes(b"API\r\n===\r\n\r\nCall it.\r\n")
    ds = load_documents(tmp_path)
    got = {pid: (p.title, p.text) for pid, p in ds.corpus.items()}
    assert got == {
        "win#setup-0": ("Win Doc", "Setup\nRun the installer."),
        "bom#plain-heading-0": ("Plain Heading", "More text."),
        "api#api-0": ("API", "Call it."),
    }


def test_documents_sharing_an_id_keep_the_source_format(tmp_path):
    (tmp_path / "guide.md").write_text("# Guide\nthe markdown source")
    (tmp_path / "guide.html").write_text("<main><h1>Guide</h1><p>the rendered page</p></main>")
    (tmp_path / "api.html").write_text("<main><h1>API</h1><p>the rendered api</p></main>")
    (tmp_path / "api.rst").write_text("API\n===\n\nthe rst source\n")
    ds = load_documents(tmp_path)
    texts = {pid.split("#")[0]: p.text for pid, p in ds.corpus.items()}
    assert texts == {"guide": "the markdown source", "api": "the rst source"}
    dup = sorted((Path(i.file).name, i.message) for i in ds.issues if i.kind == "duplicate_id")
    assert [name for name, _ in dup] == ["api.html", "guide.html"]
    assert dup[1][1].startswith("document id 'guide' is also guide.md's, which is read instead")


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


def test_markdown_lists_of_links_alone_are_navigation_and_dropped(tmp_path):
    text = (
        "# npm-ci\n\nInstall from the lockfile, see [npm install](/install).\n\n"
        "### Flags\n\n* [--omit](/omit): skip a dependency type\n* [--dry-run](/dry)\n\n"
        "### Guides\n\n1. [Intro][i]\n\n2. [Usage]\n\n"
        "[i]: /intro\n[usage]: /usage\n\n"
        "### Wrapped\n\n- [lockfile](/lock)\n  must match package.json\n\n"
        "### Brackets\n\n- [x]\n- [ ]\n\n### Forum\n\n* <https://example.com/forum>\n\n"
        "### See Also\n\n* [npm install](/commands/npm-install)\n* [package-lock.json](/lock)\n"
    )
    (tmp_path / "npm-ci.md").write_text(text)
    ds = load_documents(tmp_path)
    texts = {pid.split("#")[1]: p.text for pid, p in ds.corpus.items()}
    assert set(texts) == {"npm-ci-0", "flags-0", "wrapped-0", "brackets-0", "forum-0"}  # not Guides, See Also
    assert texts["npm-ci-0"].endswith("see npm install.")
    assert texts["flags-0"] == "Flags\n* --omit: skip a dependency type\n* --dry-run"
    assert texts["wrapped-0"] == "Wrapped\n- lockfile\n  must match package.json"
    assert texts["brackets-0"] == "Brackets\n- [x]\n- [ ]"
    assert texts["forum-0"] == "Forum\n* https://example.com/forum"


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


# --------------------------------------------------------------------------- bad input is reported, never raised


def _append_bytes(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def test_bad_utf8_lines_in_beir_files_are_reported_with_file_and_line(beir_dir):
    _append_bytes(
        beir_dir / "corpus.jsonl",
        b'{"_id": "d6", "title": "Bad", "text": "caf\xff au lait"}\n{"_id": "d7", "title": "Ok", "text": "fine"}\n',
    )
    _append_bytes(beir_dir / "queries.jsonl", b'{"_id": "q5", "text": "\xff\xfe"}\n{"_id": "q6", "text": "fine"}\n')
    _append_bytes(beir_dir / "qrels" / "train.tsv", b"q1\td\xff\t1\nq6\td7\t1\n")
    ds = load_beir(beir_dir)
    bad = [(Path(i.file).name, i.line) for i in ds.issues if i.kind == "bad_encoding"]
    assert bad == [("corpus.jsonl", 6), ("queries.jsonl", 5), ("train.tsv", 6)]
    assert "0xff" in ds.issues.items[0].message
    assert "d7" in ds.corpus and "d6" not in ds.corpus
    assert ds.queries["q6"] == "fine" and ds.qrels["q6"] == {"d7": 1}
    assert len(ds.issues) == 3


def test_bad_utf8_deep_into_a_large_corpus_names_its_line(tmp_path):
    rows = [{"_id": f"p{i}", "text": "some words " * 10} for i in range(100)]
    write_jsonl(tmp_path / "corpus.jsonl", rows)
    _append_bytes(tmp_path / "corpus.jsonl", b'{"_id": "x", "text": "\xff"}\n{"_id": "y", "text": "after"}\n')
    ds = load_beir(tmp_path)
    assert [(i.line, i.kind) for i in ds.issues] == [(101, "bad_encoding")]
    assert len(ds.corpus) == 101 and ds.corpus["y"].text == "after"


def test_bad_utf8_line_in_gold_pairs(beir_dir, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(
        b'{"id": "g1", "query": "dog walks", "positives": ["d2"]}\n'
        b'{"id": "g2", "query": "caf\xff", "positives": ["d1"]}\n'
        b'{"id": "g3", "query": "bread", "positives": ["d4"]}\n'
    )
    queries, qrels, issues = load_gold_pairs(gold, load_beir(beir_dir).corpus)
    assert queries == {"g1": "dog walks", "g3": "bread"}
    assert [(i.file, i.line, i.kind) for i in issues] == [(str(gold), 2, "bad_encoding")]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_bad_utf8_line_in_click_logs(beir_dir, tmp_path, suffix):
    corpus = load_beir(beir_dir).corpus
    log = tmp_path / f"clicks.{suffix}"
    if suffix == "csv":
        log.write_bytes(b"query,doc_id,clicks\ncat purr,d1,3\ncaf\xff,d2,1\nbread,d4,2\n")
        bad_line = 3
    else:
        log.write_bytes(
            b'{"query": "cat purr", "doc_id": "d1", "clicks": 3}\n'
            b'{"query": "caf\xff", "doc_id": "d2", "clicks": 1}\n'
            b'{"query": "bread", "doc_id": "d4", "clicks": 2}\n'
        )
        bad_line = 2
    clicks, issues = load_clicks(log, corpus)
    assert sorted((c.query, c.clicks) for c in clicks) == [("bread", 2), ("cat purr", 3)]
    assert [(i.line, i.kind) for i in issues] == [(bad_line, "bad_encoding")]


def test_csv_click_log_reports_unparsable_rows_and_physical_lines(beir_dir, tmp_path):
    corpus = load_beir(beir_dir).corpus
    log = tmp_path / "clicks.csv"
    big = "y" * 200_000
    log.write_text(f'query,doc_id,clicks\ncat purr,d1,1\n\n"{big}",d1,1\nbread,d4,2\n')
    clicks, issues = load_clicks(log, corpus)
    assert sorted((c.query, c.clicks) for c in clicks) == [("bread", 2), ("cat purr", 1)]
    assert [(i.line, i.kind) for i in issues] == [(4, "malformed")]


def test_documents_with_bad_utf8_keep_their_text_and_are_reported(tmp_path):
    (tmp_path / "menu.txt").write_bytes(b"Caf\xe9 menu\n\nGood coffee and tea.\n")
    (tmp_path / "guide.md").write_bytes(b"# Guide\n\nfine\n\nna\xefve \xff text\n")
    (tmp_path / "wide.txt").write_bytes("Wide title\n\nsaved as UTF-16 by an editor".encode("utf-16"))
    ds = load_documents(tmp_path)
    assert [(Path(i.file).name, i.line, i.kind) for i in ds.issues] == [
        ("guide.md", 5, "bad_encoding"),
        ("menu.txt", 1, "bad_encoding"),
    ]
    assert "2 bytes" in ds.issues.items[0].message
    assert ds.corpus["menu#caf-menu-0"].text.startswith("Caf\ufffd menu")
    assert "na\ufffdve \ufffd text" in ds.corpus["guide#guide-0"].text
    assert ds.corpus["wide#wide-title-0"].text == "Wide title\n\nsaved as UTF-16 by an editor"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"query": "q", "positives": 123}, "'positives' must be a passage id or a list of them, got int"),
        ({"query": "q", "positives": {"d1": 1}}, "'positives' must be a passage id or a list of them, got dict"),
        ({"query": "q", "positives": ["d1", 5]}, "'positives' must hold passage ids (strings), got int"),
        ({"query": "q", "positives": [None]}, "'positives' must hold passage ids (strings), got NoneType"),
        ({"query": "q", "doc_id": 7}, "'doc_id' must be a passage id or a list of them, got int"),
        ({"query": 42, "positives": ["d1"]}, "'query' must be a string, got int"),
        ({"query": ["a", "b"], "positives": ["d1"]}, "'query' must be a string, got list"),
        ({"id": {"x": 1}, "query": "q", "positives": ["d1"]}, "'id' must be a string, got dict"),
    ],
)
def test_gold_rows_of_the_wrong_type_are_reported_and_skipped(beir_dir, tmp_path, row, message):
    gold = write_jsonl(tmp_path / "gold.jsonl", [row, {"id": "ok", "query": "dog walks", "positives": "d2"}])
    queries, qrels, issues = load_gold_pairs(gold, load_beir(beir_dir).corpus)
    assert queries == {"ok": "dog walks"} and qrels == {"ok": {"d2": 1}}
    assert [(i.line, i.kind, i.message) for i in issues] == [(1, "bad_type", message)]


def test_click_counts_that_are_not_finite_non_negative_numbers_are_reported(beir_dir, tmp_path):
    corpus = load_beir(beir_dir).corpus
    log = tmp_path / "clicks.csv"
    log.write_text(
        "query,doc_id,clicks\ncat purr,d1,1e999\ncat purr,d1,-5\ncat purr,d1,nan\ncat purr,d1,2\nbread,d4,0\n"
    )
    clicks, issues = load_clicks(log, corpus)
    assert [(c.query, c.clicks) for c in clicks] == [("cat purr", 2)]
    assert [(i.line, i.kind) for i in issues] == [(2, "bad_clicks"), (3, "bad_clicks"), (4, "bad_clicks")]
    assert ["'1e999'" in issues.items[0].message, "'-5'" in issues.items[1].message] == [True, True]
    jl = tmp_path / "clicks.jsonl"
    jl.write_text(
        '{"query": "cat purr", "doc_id": "d1", "clicks": 1e999}\n'
        '{"query": "cat purr", "doc_id": "d1", "clicks": NaN}\n'
        '{"query": "cat purr", "doc_id": "d1", "clicks": -5}\n'
        '{"query": "cat purr", "doc_id": "d1", "clicks": ' + "9" * 400 + "}\n"
        '{"query": "cat purr", "doc_id": "d1", "clicks": 3}\n'
    )
    clicks, issues = load_clicks(jl, corpus)
    assert [(c.query, c.clicks) for c in clicks] == [("cat purr", 3)]
    assert [(i.line, i.kind) for i in issues] == [(n, "bad_clicks") for n in (1, 2, 3, 4)]
    assert "inf" in issues.items[0].message and "nan" in issues.items[1].message


def test_json_lines_that_break_the_parser_are_malformed(beir_dir):
    with (beir_dir / "corpus.jsonl").open("a") as f:
        f.write("[" * 100_000 + "\n")  # line 6: too deeply nested
        f.write('{"_id": "big", "text": ' + "1" * 5000 + "}\n")  # line 7: integer too long to convert
    ds = load_beir(beir_dir)
    assert [(i.line, i.kind) for i in ds.issues] == [(6, "malformed"), (7, "malformed")]
    assert len(ds.corpus) == 5


def test_unreadable_documents_are_skipped_and_control_characters_stripped(tmp_path):
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "mostly.md").write_bytes(b"# ok\n" + b"\x00\x07\x1b" * 50 + b"abc")
    (tmp_path / "blob.txt").write_bytes(bytes(range(128, 256)) * 4)
    (tmp_path / "good.txt").write_bytes(b"Good doc\n\nhello\x00 wor\x07ld\x0cpage two\n")
    ds = load_documents(tmp_path)
    assert [(Path(i.file).name, i.kind) for i in ds.issues] == [
        ("binary.txt", "unreadable_text"),
        ("blob.txt", "unreadable_text"),
        ("mostly.md", "unreadable_text"),
    ]
    assert "512 bytes are not UTF-8" in ds.issues.items[1].message
    assert list(ds.corpus) == ["good#good-doc-0"]
    assert ds.corpus["good#good-doc-0"].text == "Good doc\n\nhello world\npage two"


def test_unreadable_corpus_passages_are_skipped_and_control_characters_stripped(tmp_path):
    write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "a", "title": "T\u0000itle", "text": "caf\u0000e au lait"},
            {"_id": "b", "title": "Binary", "text": "\u0000\u0001\u0002" * 100},
            {"_id": "c", "title": "", "text": "\ufffd" * 40},
        ],
    )
    ds = load_beir(tmp_path)
    assert list(ds.corpus) == ["a"] and ds.corpus["a"].text == "cafe au lait" and ds.corpus["a"].title == "Title"
    assert [(i.line, i.kind) for i in ds.issues] == [(2, "unreadable_text"), (3, "unreadable_text")]


def test_issue_summary_and_write(tmp_path):
    issues = DataIssues()
    assert issues.summary() == "no data issues"
    issues.add("a.jsonl", 3, "bad_encoding", "line is not valid UTF-8")
    assert issues.summary("x.jsonl") == "1 data issue (1 bad_encoding); full list: x.jsonl"
    issues.add("b.csv", 2, "bad_clicks", "clicks 'inf'")
    issues.add(Path("a.jsonl"), 9, "bad_encoding", "line is not valid UTF-8 \u00e9")
    out = tmp_path / "outputs" / "x" / "work" / "data_issues.jsonl"
    assert issues.summary(out) == f"3 data issues (2 bad_encoding, 1 bad_clicks); full list: {out}"
    assert issues.summary() == "3 data issues (2 bad_encoding, 1 bad_clicks)"
    issues.write(out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows == [i.to_dict() for i in issues]
    assert rows[2] == {
        "file": "a.jsonl",
        "line": 9,
        "kind": "bad_encoding",
        "message": "line is not valid UTF-8 \u00e9",
    }
    DataIssues().write(out)
    assert out.read_text() == ""


def test_lone_carriage_returns_still_end_lines(beir_dir, tmp_path):
    corpus = load_beir(beir_dir).corpus
    log = tmp_path / "clicks.csv"
    log.write_bytes(b'query,doc_id,clicks\rcat purr,d1,3\r"two\rlines",d2,1\rbread,nope,2\r')
    clicks, issues = load_clicks(log, corpus)
    assert sorted((c.query, c.clicks) for c in clicks) == [("cat purr", 3), ("two\rlines", 1)]
    assert [(i.line, i.kind) for i in issues] == [(5, "unknown_doc")]
    jl = tmp_path / "clicks.jsonl"
    jl.write_bytes(b'{"query": "a", "doc_id": "d1"}\r{"query": "b", "doc_id": "zz"}\r\n{"query": "c", "doc_id": "d2"}')
    clicks, issues = load_clicks(jl, corpus)
    assert [c.query for c in clicks] == ["a", "c"] and [(i.line, i.kind) for i in issues] == [(2, "unknown_doc")]


def test_issues_written_are_read_back(tmp_path):
    issues = DataIssues()
    issues.add("a.jsonl", 3, "bad_encoding", "byte 0xff")
    issues.add("b.csv", 7, "bad_clicks", "clicks -5")
    path = issues.write(tmp_path / "issues.jsonl")
    with path.open("a") as f:
        f.write('{"torn": ')
    back = DataIssues.read(path)
    assert [(i.file, i.line, i.kind) for i in back] == [("a.jsonl", 3, "bad_encoding"), ("b.csv", 7, "bad_clicks")]
    assert len(DataIssues.read(tmp_path / "missing.jsonl")) == 0


def test_a_word_file_is_read_before_the_pdf_exported_from_it(tmp_path):
    import docx

    from tests.conftest import write_pdf

    document = docx.Document()
    document.add_paragraph("The Word source of the report.")
    document.save(tmp_path / "report.docx")
    write_pdf(tmp_path / "report.pdf", [["The PDF export of the report."]])
    ds = load_documents(tmp_path)
    assert [p.text for p in ds.corpus.values()] == ["The Word source of the report."]
    assert [(Path(i.file).name, i.kind) for i in ds.issues] == [("report.pdf", "duplicate_id")]
