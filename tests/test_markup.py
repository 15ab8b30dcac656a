"""HTML, reStructuredText, MDX and PDF documents read as the Markdown the loader chunks."""

from pathlib import Path

from nbutils.data import chunk_document, load_documents
from nbutils.markup import html_to_markdown, pdf_to_markdown, rst_to_markdown
from tests.conftest import write_pdf

SPHINX_PAGE = """<!DOCTYPE html>
<html><head><title>Widgets &#8212; Widget 2.1 documentation</title>
<script>var x = "<p>not text</p>";</script><style>p { color: red }</style></head>
<body>
<div class="related" role="navigation"><ul><li><a href="index.html">index</a></li></ul></div>
<div class="document"><div class="body" role="main">
<section id="widgets"><h1>Widgets<a class="headerlink" href="#widgets">¶</a></h1>
<p>A <em>widget</em> syncs with <code class="docutils literal"><span class="pre">widget&nbsp;sync</span></code>
and   the <a class="reference external" href="https://example.com/store">remote store</a>.</p>
<div class="highlight"><pre><span></span>widget sync --all
    --dry-run &lt;name&gt;
</pre></div>
<table><tr><th>Flag</th><th>Meaning</th></tr><tr><td><code>--all</code></td><td>every widget</td></tr></table>
<section id="see-also"><h2>See also<a class="headerlink" href="#see-also">¶</a></h2>
<ul><li><a href="install.html">Installing</a></li><li><a href="faq.html">FAQ</a></li></ul>
</section></section>
</div></div>
<div class="sphinxsidebar" role="navigation"><h3>Navigation</h3><p>Search box</p></div>
<div class="footer">&copy; 2026 Widget team.</div>
</body></html>"""

RST_PAGE = """.. _widgets:

.. currentmodule:: widget

=======
Widgets
=======

.. contents::
   :local:

A *widget* syncs with :command:`widget sync` and the `remote store <https://example.com/store>`_;
see :ref:`install <installing>` and :func:`~widget.sync.run`.

.. code-block:: bash
   :caption: Sync everything

   widget sync --all
       --dry-run <name>

Flags
-----

.. note::

   ``--all`` needs a token::

      export WIDGET_TOKEN=abc

.. versionadded:: 2.1
   The ``--dry-run`` flag.

.. image:: sync.png

.. autofunction:: widget.sync.run

.. tabs::

   .. tab:: Linux

      Tokens live in ``~/.widget``.

.. click:example::

    @click.command()
    def sync():
        pass

..
   An editor's comment that no reader sees.
"""


def test_an_html_page_keeps_its_content_and_drops_the_chrome():
    title, text = html_to_markdown(SPHINX_PAGE)
    assert title == "Widgets"
    assert text.startswith("# Widgets\n\nA widget syncs with `widget sync` and the [remote store](<https://example.com")
    assert "```\nwidget sync --all\n    --dry-run <name>\n```" in text  # code verbatim, entities decoded
    assert "Flag | Meaning\n`--all` | every widget" in text
    assert "## See also\n\n* [Installing](<install.html>)\n* [FAQ](<faq.html>)" in text
    for chrome in ("index", "Navigation", "Search box", "2026", "not text", "color", "¶"):
        assert chrome not in text


def test_a_page_without_main_is_read_whole_less_its_chrome():
    page = "<html><head><title>FAQ</title></head><body><header>Site</header><nav><a href='/'>Home</a></nav>"
    page += "<h3>Why?</h3><p>Because.<br>Really.</p><div class='card-header'>Kept</div><footer>(c)</footer></body>"
    title, text = html_to_markdown(page)
    assert (title, text) == ("FAQ", "### Why?\n\nBecause.\nReally.\n\nKept")


def test_an_rst_page_keeps_its_content_and_drops_the_directives_readers_never_see():
    text = rst_to_markdown(RST_PAGE)
    assert text.splitlines()[0] == "# Widgets"
    assert "A *widget* syncs with `widget sync` and the remote store;\nsee install and `widget.sync.run`." in text
    assert "```\nwidget sync --all\n    --dry-run <name>\n```" in text
    assert "## Flags" in text and "`--all` needs a token:\n\n```\nexport WIDGET_TOKEN=abc\n```" in text
    assert "Added in version 2.1.\n\nThe `--dry-run` flag." in text
    assert "Linux\n\nTokens live in `~/.widget`." in text  # containers keep their text
    assert "```\n@click.command()\ndef sync():\n    pass\n```" in text  # an extension's example is code
    for gone in (
        "contents",
        ":local:",
        "sync.png",
        "editor",
        "_widgets",
        "Sync everything",
        ":caption:",
        "auto",
        "`widget`",
    ):
        assert gone not in text


def test_html_and_rst_files_load_as_passages_with_titles_and_sections(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "widgets.html").write_text(SPHINX_PAGE)
    (tmp_path / "guide.rst").write_text(RST_PAGE)
    (tmp_path / "empty.htm").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    ds = load_documents(tmp_path, 80)
    ids = sorted(ds.corpus)
    assert ids == ["api/widgets#widgets-0", "guide#flags-0", "guide#widgets-0"]  # See also: a list of links
    assert {p.title for p in ds.corpus.values()} == {"Widgets"}
    assert "widget sync --all\n    --dry-run <name>" in ds.corpus["api/widgets#widgets-0"].text
    assert ds.corpus["guide#flags-0"].text.startswith("Flags\n`--all` needs a token:")
    assert [(i.file.endswith("empty.htm"), i.kind, i.message) for i in ds.issues] == [
        (True, "empty_text", "no text left once the html markup is removed")
    ]


MDX = """---
title: Installation
---

import Tabs from '@theme/Tabs';
import {
  Note,
} from '@site/src/components';

export const toc = [{value: 'x', id: 'x'}];

# Installation

{/* editors only */}

Install the CLI with your package manager.

<Tabs groupId="os">
  <TabItem value="mac" label="macOS">

```jsx
import Tabs from '@theme/Tabs';
<Tabs>{/* kept: code */}</Tabs>
```

  </TabItem>
</Tabs>

:::tip Upgrading

Run `tidepool self-update` to move to the newest release.

:::

<Note>The binary needs <b>40 MB</b> of disk.</Note>

<DocCardList />
"""


def test_an_mdx_page_keeps_its_text_and_code_and_drops_imports_comments_and_components(tmp_path):
    (tmp_path / "install.mdx").write_text(MDX, encoding="utf-8")
    ds = load_documents(tmp_path)
    assert [(pid, p.title) for pid, p in ds.corpus.items()] == [("install#installation-0", "Installation")]
    text = ds.corpus["install#installation-0"].text
    assert text == (
        "Install the CLI with your package manager.\n\nmacOS\n\n"
        "```jsx\nimport Tabs from '@theme/Tabs';\n<Tabs>{/* kept: code */}</Tabs>\n```\n\n"
        "Upgrading\n\nRun `tidepool self-update` to move to the newest release.\n\n"
        "The binary needs 40 MB of disk."
    )


def test_container_fences_in_markdown_keep_only_their_title():
    md = "# Use\n\n::: warning Data loss\nThe --delete flag removes remote files.\n:::\n\n:::note\nPlain note.\n:::\n"
    (passage,) = chunk_document("use", "Use", md, markdown=True)
    assert passage.text == "Data loss\nThe --delete flag removes remote files.\n\nPlain note."
    mkdocs = '# Use\n\n!!! note "Keep in mind"\n    Sync needs a token.\n\n!!! tip\n    Tip text.\n\n'
    mkdocs += "!!!bold claim stays\n"
    (passage,) = chunk_document("use", "Use", mkdocs, markdown=True)
    assert passage.text == "Keep in mind\n    Sync needs a token.\n\n    Tip text.\n\n!!!bold claim stays"


GUIDE = [
    ["Sync Guide", "Tidepool keeps folders in sync between laptops and a", "bucket. It is a single binary.", "1"],
    ["Sync Guide", "2.1 Authentication", "The error 401 means the token is missing or ex-",
     "pired. Create a new token.", "\u2022 Tokens last thirty days.", "Contents . . . . . . . . 4", "2"],
    ["Sync Guide", "# not a heading: a comment line from a code sample.", "3"],
]  # fmt: skip


def test_a_pdf_keeps_its_text_drops_running_headers_and_page_numbers_and_takes_headings_from_bookmarks(tmp_path):
    path = write_pdf(tmp_path / "guide.pdf", GUIDE, [("Overview", 0), ("2.1 Authentication", 1)], "The Sync Guide")
    title, markdown = pdf_to_markdown(path.read_bytes())
    assert title == "The Sync Guide"
    assert markdown.split("\n\n") == [
        "<!-- page 1 -->",
        "# Overview",
        "Tidepool keeps folders in sync between laptops and a bucket. It is a single binary.",
        "<!-- page 2 -->",
        "# 2.1 Authentication",
        "The error 401 means the token is missing or expired. Create a new token.",
        "- Tokens last thirty days.",
        "<!-- page 3 -->",
        "\\# not a heading: a comment line from a code sample.",
    ]
    ds = load_documents(tmp_path)
    assert list(ds.corpus) == ["guide#overview-0", "guide#2-1-authentication-0"]
    assert ds.corpus["guide#overview-0"].title == "The Sync Guide"
    text = ds.corpus["guide#2-1-authentication-0"].text
    assert text.endswith("- Tokens last thirty days.\n\n\u2060# not a heading: a comment line from a code sample.")


def test_a_bookmark_replaces_the_line_it_names_whatever_the_numbering_and_no_other(tmp_path):
    pages = [["Setup", "Install the binary first."], ["API", "The REST API answers on port 80."]]
    path = write_pdf(tmp_path / "m.pdf", pages, [("Chapter 3: Setup", 0), ("REST API", 1)])
    _, markdown = pdf_to_markdown(path.read_bytes())
    assert [b for b in markdown.split("\n\n") if not b.startswith("<!-- page")] == [
        "# Chapter 3: Setup",
        "Install the binary first.",
        "# REST API",
        "API The REST API answers on port 80.",  # the short line "API" is text, not the bookmark's heading
    ]


def test_a_pdf_passage_knows_the_printed_page_it_starts_on_and_keeps_it_through_the_workspace(tmp_path):
    from nbutils.config import validate
    from nbutils.paths import DomainPaths
    from nbutils.workspace import load_workspace, prepare_workspace

    pages = [
        ["Preface", "This manual is for operators."],
        ["Pumps", "Prime the pump before the first start. The intake valve", "must stay open while the"],
        ["motor runs. Check the seal weekly.", "Alarms", "A red light means low pressure."],
    ]
    docs = tmp_path / "docs"
    docs.mkdir()
    labels = [(0, 0, "/r", 1), (1, 2, "/D", 1)]  # printed as i, then 1, 2
    write_pdf(docs / "manual.pdf", pages, [("Preface", 0), ("Pumps", 1), ("Alarms", 2)], "Manual", labels=labels)
    ds = load_documents(docs)
    assert {pid: (p.page, p.text) for pid, p in ds.corpus.items()} == {
        "manual#preface-0": ("i", "Preface\nThis manual is for operators."),
        "manual#pumps-0": (  # the paragraph runs onto page 2 and is one paragraph still
            "1",
            "Pumps\nPrime the pump before the first start. The intake valve must stay open while the motor runs. "
            "Check the seal weekly.",
        ),
        "manual#alarms-0": ("2", "Alarms\nA red light means low pressure."),
    }
    params = validate({"data_dir": str(docs), "outputs_dir": str(tmp_path / "out")})
    paths = DomainPaths.from_params(params)
    prepare_workspace(params, paths)
    assert {pid: p.page for pid, p in load_workspace(paths).corpus.items()} == {
        "manual#preface-0": "i",
        "manual#pumps-0": "1",
        "manual#alarms-0": "2",
    }
    (md,) = chunk_document("notes", "Notes", "# Setup\n\nNo page marks here.", markdown=True)
    assert md.page == ""


def test_an_html_table_cell_spanning_rows_is_repeated_in_each_row_it_covers():
    html = """<h1>Activate</h1><table>
    <thead><tr><th>Platform</th><th>Shell</th><th>Command</th></tr></thead>
    <tbody><tr><td rowspan="2">POSIX</td><td>bash</td><td>source bin/activate</td></tr>
    <tr><td>fish</td><td>source bin/activate.fish</td></tr>
    <tr><td colspan="2">any</td><td rowspan="0">see the guide</td></tr>
    <tr><td>Windows</td><td>cmd.exe</td></tr></tbody>
    <table><tr><td>nested</td></tr></table></table><p>After.</p>"""
    _, markdown = html_to_markdown(html)
    assert markdown.split("\n\n") == [
        "# Activate",
        "Platform | Shell | Command",
        "POSIX | bash | source bin/activate\nPOSIX | fish | source bin/activate.fish\n"
        "any | see the guide\nWindows | cmd.exe | see the guide",
        "nested",
        "After.",
    ]


def test_an_escaped_markdown_character_at_a_line_start_stays_text():
    md = "# Use\n\nIntro.\n\n\\# a comment, not a heading\n\nA line\n\\---\n\n\\```not a fence"
    (passage,) = chunk_document("use", "Use", md, markdown=True)
    assert passage.text.replace("\u2060", "") == "Intro.\n\n# a comment, not a heading\n\nA line\n---\n\n```not a fence"


def test_pdfs_without_text_broken_or_encrypted_are_reported_and_skipped(tmp_path):
    write_pdf(tmp_path / "scan.pdf", [[], []])
    write_pdf(tmp_path / "locked.pdf", [["Secret text here."]], password="pw")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    write_pdf(tmp_path / "plain.pdf", [["Short Title", "Body text of a plain PDF without bookmarks."]])
    ds = load_documents(tmp_path)
    assert [(pid, p.title) for pid, p in ds.corpus.items()] == [("plain#short-title-0", "Short Title")]
    issues = {Path(i.file).name: (i.kind, i.message) for i in ds.issues}
    assert issues["scan.pdf"] == ("unreadable_text", "the PDF has no text layer (scanned pages need OCR first)")
    assert issues["locked.pdf"] == ("read_error", "the PDF is encrypted; save a copy without a password")
    assert issues["broken.pdf"][0] == "read_error" and issues["broken.pdf"][1].startswith("not a readable PDF (")


def _load_beside_a_broken_file(folder: Path, name: str, kind: str, message: str, content: bytes = b"PK\x03\x04 junk"):
    """Load ``folder`` with ``name`` added, a file of the same format that cannot be read: it is the one issue
    reported (``kind``, a message starting with ``message``) and the rest loads. Returns the dataset."""
    (folder / name).write_bytes(content)
    ds = load_documents(folder)
    (issue,) = ds.issues
    assert (Path(issue.file).name, issue.kind) == (name, kind)
    assert issue.message.startswith(message)
    return ds


def test_a_word_document_keeps_headings_lists_and_tables_in_reading_order(tmp_path):
    import docx

    document = docx.Document()
    document.core_properties.title = "Expense Policy"
    document.add_paragraph("Expense Policy", style="Title")
    document.add_heading("Travel", level=1)
    document.add_paragraph("Book economy class for flights under six hours.")
    document.add_paragraph("Keep every receipt.", style="List Bullet")
    document.add_paragraph("File claims within 30 days.", style="List Number")
    table = document.add_table(rows=2, cols=3)
    table.rows[0].cells[1].merge(table.rows[0].cells[2])  # one cell over two columns, read once
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Item", "Limit"
    for cell, text in zip(table.rows[1].cells, ("Hotel", "150 EUR", "per night"), strict=True):
        cell.text = text
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tracked = document.add_paragraph("Taxis are refunded")
    inserted, run, text = OxmlElement("w:ins"), OxmlElement("w:r"), OxmlElement("w:t")
    text.text = " after midnight only."
    text.set(qn("xml:space"), "preserve")
    inserted.set(qn("w:id"), "1")
    inserted.set(qn("w:author"), "legal")
    run.append(text)
    inserted.append(run)
    tracked._p.append(inserted)  # a tracked insertion, not yet accepted
    document.add_heading("Meals", level=2)
    document.add_paragraph("# is the symbol the finance portal uses for claim numbers.")
    document.save(tmp_path / "policy.docx")
    ds = _load_beside_a_broken_file(tmp_path, "old.docx", "read_error", "not a readable Word document (")
    assert {pid: p.title for pid, p in ds.corpus.items()} == {
        "policy#travel-0": "Expense Policy",
        "policy#meals-0": "Expense Policy",
    }
    assert ds.corpus["policy#travel-0"].text == (
        "Travel\nBook economy class for flights under six hours.\n\n- Keep every receipt.\n\n"
        "- File claims within 30 days.\n\nItem | Limit\nHotel | 150 EUR | per night\n\n"
        "Taxis are refunded after midnight only."
    )
    assert ds.corpus["policy#meals-0"].text == "Meals\n\u2060# is the symbol the finance portal uses for claim numbers."


def test_a_notebook_keeps_its_markdown_and_code_cells_and_leaves_outputs_out(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python"}})
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Fine-tuning walkthrough\n\nLoad the pairs first."),
        nbformat.v4.new_code_cell("pairs = load_pairs('train.jsonl')\nlen(pairs)", outputs=[
            nbformat.v4.new_output("execute_result", {"text/plain": "1024"}, execution_count=1)]),
        nbformat.v4.new_raw_cell("raw text is not documentation"),
        nbformat.v4.new_markdown_cell("## Train\n\nOne epoch is enough for a first look."),
    ]  # fmt: skip
    nbformat.write(nb, tmp_path / "walkthrough.ipynb")
    broken = ("broken.ipynb", "malformed", "not a Jupyter notebook (JSONDecodeError", b'{"cells": ')
    ds = _load_beside_a_broken_file(tmp_path, *broken)
    assert {pid: p.text for pid, p in ds.corpus.items()} == {
        "walkthrough#fine-tuning-walkthrough-0": "Load the pairs first.\n\n"
        "```python\npairs = load_pairs('train.jsonl')\nlen(pairs)\n```",
        "walkthrough#train-0": "Train\nOne epoch is enough for a first look.",
    }


def test_a_slide_deck_gives_a_section_per_slide_with_its_bullets_tables_boxes_and_speaker_notes(tmp_path):
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    title_slide = deck.slides.add_slide(deck.slide_layouts[0])  # title and subtitle
    title_slide.shapes.title.text = "Onboarding 2026"
    title_slide.placeholders[1].text = "People team"
    slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    slide.shapes.title.text = "Laptop setup"
    body = slide.placeholders[1].text_frame
    body.text = "Enrol the laptop in device management"
    for text, level in (("Install the VPN client", 0), ("Use the staff profile", 1)):
        para = body.add_paragraph()
        para.text, para.level = text, level
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(5), Inches(4), Inches(1)).table
    cells = [*table.rows[0].cells, *table.rows[1].cells]
    for cell, text in zip(cells, ("OS", "Client", "macOS", "Tunnel 4"), strict=True):
        cell.text = text
    slide.notes_slide.notes_text_frame.text = "Stress that the VPN comes first.\nIT can reset tokens."
    blank = deck.slides.add_slide(deck.slide_layouts[6])  # no title
    group = blank.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(3), Inches(4), Inches(1)).text_frame.text = "#it-help takes questions."
    blank.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)).text_frame.text = "Where to ask"
    deck.slides.add_slide(deck.slide_layouts[6])  # an empty slide leaves nothing
    deck.save(tmp_path / "onboarding.pptx")
    ds = _load_beside_a_broken_file(tmp_path, "broken.pptx", "read_error", "not a readable PowerPoint file (")
    assert {pid: p.title for pid, p in ds.corpus.items()} == {
        "onboarding#onboarding-2026-0": "Onboarding 2026",
        "onboarding#laptop-setup-0": "Onboarding 2026",
        "onboarding#slide-3-0": "Onboarding 2026",
    }
    assert ds.corpus["onboarding#onboarding-2026-0"].text == "People team"  # the heading is the title
    assert ds.corpus["onboarding#laptop-setup-0"].text == (
        "Laptop setup\n- Enrol the laptop in device management\n- Install the VPN client\n  - Use the staff profile\n\n"
        "OS | Client\nmacOS | Tunnel 4\n\nStress that the VPN comes first.\n\nIT can reset tokens."
    )
    assert ds.corpus["onboarding#slide-3-0"].text == "Slide 3\nWhere to ask\n\n\u2060#it-help takes questions."


def _with_notes(path: Path, footnotes: dict[str, str], endnotes: dict[str, str]) -> None:
    """Add footnote and endnote parts (with Word's separator notes) to a saved .docx, as Word stores them."""
    import zipfile

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    kind = "application/vnd.openxmlformats-officedocument.wordprocessingml"

    def part(tag: str, notes: dict[str, str]) -> str:
        sep = f'<w:{tag} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{tag}>'
        body = "".join(f'<w:{tag} w:id="{i}"><w:p><w:r><w:t>{t}</w:t></w:r></w:p></w:{tag}>' for i, t in notes.items())
        return f"<w:{tag}s {w}>{sep}{body}</w:{tag}s>"

    with zipfile.ZipFile(path) as z:
        files = {name: z.read(name) for name in z.namelist()}
    files["word/footnotes.xml"] = part("footnote", footnotes).encode()
    files["word/endnotes.xml"] = part("endnote", endnotes).encode()
    overrides = "".join(
        f'<Override PartName="/word/{n}s.xml" ContentType="{kind}.{n}s+xml"/>' for n in ("footnote", "endnote")
    )
    files["[Content_Types].xml"] = files["[Content_Types].xml"].replace(b"</Types>", f"{overrides}</Types>".encode())
    rels = "".join(f'<Relationship Id="rIdN{n}" Type="{rel}/{n}s" Target="{n}s.xml"/>' for n in ("footnote", "endnote"))
    key = "word/_rels/document.xml.rels"
    files[key] = files[key].replace(b"</Relationships>", f"{rels}</Relationships>".encode())
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


def test_a_word_documents_footnotes_and_endnotes_are_marked_in_the_text_and_read_as_notes(tmp_path):
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    document.add_heading("Liability", level=1)
    para = document.add_paragraph("The cap is twelve months of fees")
    for tag, n in (("w:footnoteReference", "1"), ("w:endnoteReference", "1")):
        run, ref = OxmlElement("w:r"), OxmlElement(tag)
        ref.set(qn("w:id"), n)
        run.append(ref)
        para._p.append(run)
    para.add_run(".")
    document.save(tmp_path / "contract.docx")
    _with_notes(tmp_path / "contract.docx", {"1": "Fees paid in the year before the claim."}, {"1": "See schedule B."})

    ds = load_documents(tmp_path)
    assert {pid: p.text for pid, p in ds.corpus.items()} == {
        "contract#liability-0": "The cap is twelve months of fees[1][E1].",  # the heading is the title
        "contract#notes-0": "Notes\n[1] Fees paid in the year before the claim.\n\n[E1] See schedule B.",
    }
