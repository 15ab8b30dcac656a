"""Loading domain data: BEIR folders, folders of documents (Markdown, reST, HTML, PDF, …), gold pairs, click logs.

Every loader reports bad input (duplicate ids, empty texts, malformed lines, references to unknown
ids) as :class:`DataIssue` records naming the file and line, and keeps going with the good rows.
Only input that leaves nothing usable raises :class:`DataError`.

Kinds of issue: ``malformed`` (not JSON / CSV, or a value that is not a number), ``bad_encoding`` (bytes
that are not UTF-8), ``bad_type`` (a field of the wrong JSON type), ``bad_clicks`` (a click count that is
negative, infinite or NaN), ``unreadable_text`` (text made mostly of control characters or undecodable
bytes), ``skipped_file`` (a documents folder's files of a kind the loader does not read, one per suffix),
``skipped_folder`` (a dependency folder or virtual environment inside a documents folder), ``read_error``,
``missing_id``, ``duplicate_id`` (also two documents whose paths differ only in suffix), ``empty_text``,
``unknown_query``, ``unknown_doc`` and ``no_positive``.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from .markup import (
    FENCE_OPEN,
    docx_to_markdown,
    fence_runs,
    html_to_markdown,
    ipynb_to_markdown,
    mdx_to_markdown,
    pdf_to_markdown,
    pptx_to_markdown,
    rst_to_markdown,
)
from .paths import atomic_write_text

__all__ = [
    "DataError",
    "DataIssue",
    "DataIssues",
    "add_gold",
    "Dataset",
    "Passage",
    "chunk_document",
    "load_beir",
    "load_clicks",
    "load_dataset",
    "load_documents",
    "load_gold_pairs",
    "parse_timestamp",
]


class DataError(ValueError):
    """Input data that cannot be used at all (missing file, nothing valid left)."""


@dataclass(frozen=True)
class DataIssue:
    """One problem found in an input file."""

    file: str
    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.message}"

    def to_dict(self) -> dict[str, str | int]:
        """The issue as a JSON-ready ``{"file", "line", "kind", "message"}`` record."""
        return {"file": self.file, "line": self.line, "kind": self.kind, "message": self.message}


@dataclass
class DataIssues:
    """Collected problems of one load, with counts by kind."""

    items: list[DataIssue] = field(default_factory=list)

    def add(self, file: str | Path, line: int, kind: str, message: str) -> None:
        self.items.append(DataIssue(str(file), line, kind, message))

    def extend(self, other: DataIssues) -> None:
        self.items.extend(other.items)

    def counts(self) -> dict[str, int]:
        """Number of issues per kind."""
        return dict(Counter(i.kind for i in self.items))

    def summary(self, where: str | Path | None = None) -> str:
        """One short line for a console: the number of issues, the count per kind, and where the full list is.

        Example: ``3 data issues (2 bad_encoding, 1 bad_clicks); full list: outputs/x/work/data_issues.jsonl``,
        or ``no data issues``.

        Args:
            where: the file the full list was written to (see :meth:`write`); left out of the line when None.
        """
        if not self.items:
            return "no data issues"
        kinds = ", ".join(f"{n} {kind}" for kind, n in Counter(i.kind for i in self.items).most_common())
        line = f"{len(self.items)} data issue{'s' if len(self.items) != 1 else ''} ({kinds})"
        return f"{line}; full list: {where}" if where is not None else line

    def write(self, path: str | Path) -> Path:
        """Write every issue to ``path`` as one JSON object per line (see :meth:`DataIssue.to_dict`), atomically.

        An empty collection writes an empty file, so a list left by an earlier run never lingers.

        Returns:
            The path written.
        """
        path = Path(path)
        atomic_write_text(path, "".join(json.dumps(i.to_dict(), ensure_ascii=False) + "\n" for i in self.items))
        return path

    @classmethod
    def read(cls, path: str | Path) -> DataIssues:
        """The issues :meth:`write` saved at ``path`` (none when the file is missing; torn lines are skipped)."""
        issues = cls()
        path = Path(path)
        if not path.is_file():
            return issues
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                issues.add(row["file"], int(row["line"]), str(row["kind"]), str(row["message"]))
            except (ValueError, KeyError, TypeError):
                continue
        return issues

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


@dataclass(frozen=True)
class Passage:
    """A retrievable unit of text with a stable id.

    ``page`` is the printed number of the page the passage starts on, for documents that have pages (PDFs),
    else ``""``; it is shown beside the passage, never searched.
    """

    id: str
    title: str
    text: str
    page: str = ""

    def full_text(self) -> str:
        """Title and text joined, as given to retrievers."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass
class Dataset:
    """A corpus with labelled queries.

    Attributes:
        corpus: passages by id, in file order.
        queries: query text by query id (only queries with at least one known relevant passage).
        qrels: relevance grade by passage id, by query id.
        issues: problems found while loading.
        fixed_splits: query ids per split name when the data came with its own splits (e.g. BEIR
            ``qrels/test.tsv``).
        formats: for a folder of documents, how many files of each suffix gave passages (``{".md": 8}``).
    """

    corpus: dict[str, Passage]
    queries: dict[str, str] = field(default_factory=dict)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    issues: DataIssues = field(default_factory=DataIssues)
    fixed_splits: dict[str, list[str]] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- text helpers

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
_CONTROL_BREAK = re.compile(r"[\x0b\x0c\x1c-\x1e\x85]")  # control characters str.splitlines() breaks at
_NOISE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_ALNUM = re.compile(r"[^\W_]")
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
UNREADABLE_SHARE = 0.25
"""Share of control characters and undecodable bytes (U+FFFD) above which a text is not readable."""


def _strip_controls(text: str) -> str:
    """``text`` without control characters; those that break lines (form feed, vertical tab...) become ``\\n``.

    Tabs, newlines and carriage returns are kept.
    """
    return _CONTROL.sub("", _CONTROL_BREAK.sub("\n", text))


def _unreadable(text: str) -> str | None:
    """Why ``text`` is not readable (mostly control characters or U+FFFD, or no letter or digit), else None."""
    noise = len(_NOISE.findall(text))
    visible = len(text) - sum(map(text.count, " \t\n\r"))
    if visible and noise / visible > UNREADABLE_SHARE:
        return f"{noise / visible:.0%} of its characters are control characters or undecodable bytes"
    if not _ALNUM.search(_strip_controls(text) if noise else text):
        return "it has no letter or digit"
    return None


def _show(value, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bytes(n: int) -> str:
    """``"1 byte is"`` or ``"<n> bytes are"``, for messages."""
    return "1 byte is" if n == 1 else f"{n} bytes are"


def _decoded_lines(path: Path, issues: DataIssues, keepends: bool = False, header: bool = False):
    """Yield (line number, text) for each line of a UTF-8 file; a leading byte order mark is dropped.

    Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``, as in text mode. A line that is not valid UTF-8 is
    reported as ``bad_encoding`` and skipped, except a ``header`` line (line 1), which is kept with U+FFFD
    for its undecodable bytes so that the lines after it still parse.
    """
    n = 0
    with path.open("rb") as f:
        for raw in f:
            n += 1
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                where = f"byte 0x{raw[e.start]:02x} at byte {e.start + 1} of the line"
                if not (header and n == 1):
                    issues.add(path, n, "bad_encoding", f"line is not valid UTF-8 ({where}); line skipped")
                    continue
                issues.add(path, n, "bad_encoding", f"header is not valid UTF-8 ({where}); bytes replaced")
                line = raw.decode("utf-8", errors="replace")
            parts = [part for part in _LONE_CR.split(line) if part] if "\r" in line else [line]
            for i, part in enumerate(parts):
                n += 1 if i else 0
                yield n, part if keepends else part.rstrip("\r\n")


def _decode_document(data: bytes) -> tuple[str, int, int]:
    """A document's bytes as text: UTF-8, or UTF-16 when it starts with a UTF-16 byte order mark; a leading
    byte order mark is dropped and Windows (``\\r\\n``) and old Mac (``\\r``) line ends become ``\\n``, so
    headings and front matter read the same in every file.

    Returns:
        ``(text, bad, line)``: bytes that are not UTF-8 become U+FFFD; ``bad`` counts them and ``line`` is
        the line of the first (0 when all decoded).
    """
    text, bad, line = _decoded(data)
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"), bad, line


def _decoded(data: bytes) -> tuple[str, int, int]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), 0, 0
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), 0, 0
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
    text = data.decode("utf-8", errors="surrogateescape")
    return _SURROGATE.sub("\ufffd", text), len(_SURROGATE.findall(text)), line


# --------------------------------------------------------------------------- JSONL helpers


def _read_jsonl(path: Path, issues: DataIssues):
    """Yield (line number, object) for each valid JSON object line; report the others."""
    for n, line in _decoded_lines(path, issues):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            issues.add(path, n, "malformed", f"not valid JSON ({e.msg})")
            continue
        except (ValueError, RecursionError) as e:  # integers too long to convert, nesting too deep
            issues.add(path, n, "malformed", f"not usable JSON ({str(e).split(':')[0]})")
            continue
        if not isinstance(obj, dict):
            issues.add(path, n, "malformed", "expected a JSON object")
            continue
        yield n, obj


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")


# --------------------------------------------------------------------------- BEIR


def load_corpus_jsonl(path: Path, issues: DataIssues) -> dict[str, Passage]:
    """Read a BEIR ``corpus.jsonl`` (``_id``, ``title``, ``text``).

    Control characters are stripped from titles and texts; a passage whose text is mostly control
    characters or undecodable bytes is reported as ``unreadable_text`` and skipped.
    """
    _require_file(path, "corpus file")
    corpus: dict[str, Passage] = {}
    for n, obj in _read_jsonl(path, issues):
        pid = str(obj.get("_id", obj.get("id", ""))).strip()
        raw_text = str(obj.get("text") or "")
        text = _strip_controls(raw_text).strip()
        title = _strip_controls(str(obj.get("title") or "")).strip()
        why = _unreadable(raw_text) if raw_text.strip() else None
        if not pid:
            issues.add(path, n, "missing_id", "passage has no '_id'")
        elif pid in corpus:
            issues.add(path, n, "duplicate_id", f"passage id {pid!r} already seen; kept the first")
        elif why:
            issues.add(path, n, "unreadable_text", f"passage {pid!r} skipped: {why}")
        elif not text and not title:
            issues.add(path, n, "empty_text", f"passage {pid!r} has no text")
        else:
            corpus[pid] = Passage(pid, title, text)
    if not corpus:
        raise DataError(f"{path}: no valid passages")
    return corpus


def load_queries_jsonl(path: Path, issues: DataIssues) -> dict[str, str]:
    """Read a BEIR ``queries.jsonl`` (``_id``, ``text``)."""
    _require_file(path, "queries file")
    queries: dict[str, str] = {}
    for n, obj in _read_jsonl(path, issues):
        qid = str(obj.get("_id", obj.get("id", ""))).strip()
        text = _strip_controls(str(obj.get("text") or "")).strip()
        if not qid:
            issues.add(path, n, "missing_id", "query has no '_id'")
        elif qid in queries:
            issues.add(path, n, "duplicate_id", f"query id {qid!r} already seen; kept the first")
        elif not text:
            issues.add(path, n, "empty_text", f"query {qid!r} has no text")
        else:
            queries[qid] = text
    return queries


def load_qrels_tsv(
    path: Path, queries: dict[str, str], corpus: dict[str, Passage], issues: DataIssues
) -> dict[str, dict[str, int]]:
    """Read a BEIR qrels TSV (``query-id  corpus-id  score`` with a header line)."""
    qrels: dict[str, dict[str, int]] = {}
    for n, line in _decoded_lines(path, issues):
        parts = line.split("\t")
        if n == 1 and parts[0] in {"query-id", "query_id", "qid"}:
            continue
        if not line.strip():
            continue
        if len(parts) < 3:
            issues.add(path, n, "malformed", f"expected 3 tab-separated columns, got {len(parts)}")
            continue
        qid, pid, score = parts[0].strip(), parts[1].strip(), parts[2].strip()
        try:
            grade = int(float(score))
        except (ValueError, OverflowError):
            issues.add(path, n, "malformed", f"score {_show(score)} is not a finite number")
            continue
        if qid not in queries:
            issues.add(path, n, "unknown_query", f"query id {qid!r} is not in the queries file")
        elif pid not in corpus:
            issues.add(path, n, "unknown_doc", f"passage id {pid!r} is not in the corpus")
        elif grade > 0:
            qrels.setdefault(qid, {})[pid] = grade
    return qrels


def load_beir(data_dir: str | Path) -> Dataset:
    """Load a BEIR-layout folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/*.tsv``.

    All qrels files are merged into ``Dataset.qrels``; files named ``test``/``dev`` also become
    fixed splits so that a given test set is respected.

    Raises:
        DataError: when the corpus is missing or holds no valid passage.
    """
    root = Path(data_dir)
    issues = DataIssues()
    corpus = load_corpus_jsonl(root / "corpus.jsonl", issues)
    queries_path = root / "queries.jsonl"
    all_queries = load_queries_jsonl(queries_path, issues) if queries_path.exists() else {}
    qrels: dict[str, dict[str, int]] = {}
    fixed: dict[str, list[str]] = {}
    for qpath in sorted((root / "qrels").glob("*.tsv")):
        part = load_qrels_tsv(qpath, all_queries, corpus, issues)
        if qpath.stem in {"test", "dev"}:
            fixed[qpath.stem] = sorted(part)
        for qid, rel in part.items():
            qrels.setdefault(qid, {}).update(rel)
    queries = {q: all_queries[q] for q in all_queries if q in qrels}
    return Dataset(corpus, queries, qrels, issues, fixed)


# --------------------------------------------------------------------------- documents folder

_UNDERLINE = re.compile(r"^([*=\-~^+#])\1{2,}\s*$")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")

# Markdown clean-up (for ``.md`` files, and ``.rst``/``.html`` once turned into Markdown; ``.txt`` stays as it is).
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.M | re.S)
_YAML_LINE = re.compile(r"^(?:\s*$|\s+\S|#|-(?:\s|$)|[^\s:#][^:]*:(?:\s|$))")
_FM_TITLE = re.compile(r"^title:[ \t]*(.*?)[ \t]*$", re.M)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_BRACKETED = r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]"
_LINK_DEF = re.compile(
    r"^ {0,3}" + _BRACKETED + r":[ \t]*\S+(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*$", re.M
)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)")
_STASHED = re.compile(r"\x00(\d+)\x00")
_LINK_TARGET = r"(?:\((?:<[^>\n]*>|[^()\s]|\([^()\s]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)|\[[^\[\]]*\])"
_IMAGE = re.compile(r"!" + _BRACKETED + _LINK_TARGET)
_LINK = re.compile(_BRACKETED + _LINK_TARGET)
_SHORTCUT = re.compile(r"(?<![\]\\])" + _BRACKETED + r"(?![\[(:])")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^\s<>]*|[^\s<>@]+@[^\s<>@]+\.[A-Za-z]+)>")
_HTML_TAG = re.compile(
    r"</?(a|abbr|b|br|center|code|dd|del|details|div|dl|dt|em|figcaption|figure|font|h[1-6]|hr|i|img|ins|kbd"
    r"|li|mark|ol|p|picture|pre|s|small|source|span|strong|sub|summary|sup|table|tbody|td|tfoot|th|thead|tr"
    r"|u|ul|video)(?=[\s/>])[^<>]*>",
    re.I,
)
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_ESCAPED_AT_START = re.compile(r"(?m)^(\s{0,3})\\([!-/:-@\[-`{-~])")  # "\# not a heading"
_WORD_JOINER = "\u2060"  # invisible, and dropped by the tokenizers: keeps an escaped "#" or "```" plain text
_BLOCKQUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
_TABLE_RULE = re.compile(r"^\s*\|?(?:\s*:?-+:?\s*\|)+\s*(?::?-+:?\s*)?$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,9}[.)])\s+(.*?)\s*$")
_LINK_ONLY = re.compile(  # one link and nothing else; a lone ``[label]`` counts only when a definition names it
    r"(?:" + _BRACKETED + _LINK_TARGET + r"|" + _BRACKETED + r")[.,;]?"
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"


def _front_matter(text: str) -> tuple[str, str]:
    """Split a leading YAML front matter block off a Markdown text.

    Returns:
        ``(title, rest)``: the block's ``title:`` value ("" when absent) and the text after the block.
        A block with no closing ``---`` line, or with lines that are not ``key: value``-like YAML, is
        malformed: it is then left in the text, as ordinary text, and the title is "".
    """
    m = _FRONT_MATTER.match(text)
    if not m or not all(_YAML_LINE.match(line) for line in m.group(1).splitlines()):
        return "", text
    title = _FM_TITLE.search(m.group(1))
    return (title.group(1).strip("'\"").strip() if title else ""), text[m.end() :]


def _link_label(label: str) -> str:
    return " ".join(label.split()).lower()


def _clean_inline(text: str, labels: set[str]) -> str:
    """Drop comments, link definitions and HTML tags of Markdown prose; links become their text.

    Backslash escapes are undone; one at the start of a line (``\\# text``, ``\\---``) leaves a word joiner
    before the character, so the line does not read as a heading, rule or fence later. Inline code spans
    are set aside first, so nothing inside backticks is changed.
    """
    codes: list[str] = []

    def stash(m: re.Match) -> str:
        codes.append(m.group(0))
        return f"\x00{len(codes) - 1}\x00"

    def restore(s: str) -> str:
        return _STASHED.sub(lambda m: codes[int(m.group(1))], s)

    def shortcut(m: re.Match) -> str:
        return m.group(1) if _link_label(restore(m.group(1))) in labels else m.group(0)

    text = _CODE_SPAN.sub(stash, _LINK_DEF.sub("", _COMMENT.sub("", text)))
    text = _LINK.sub(r"\1", _IMAGE.sub(r"\1", text))
    text = _AUTOLINK.sub(r"\1", _SHORTCUT.sub(shortcut, text))
    text = _HTML_TAG.sub(lambda m: "`" if m.group(1).lower() == "code" else "", text)
    text = _ESCAPED_AT_START.sub(lambda m: f"{m.group(1)}{_WORD_JOINER}{m.group(2)}", text)
    return restore(_ESCAPED.sub(r"\1", text))


_CONTAINER = re.compile(  # ":::tip Title", ":::tip[Title]", ":::" (Docusaurus, VitePress); '!!! note "Title"' (MkDocs)
    r"^\s*(?::{3,}\s*(?:\{?[\w-]+\}?)?\s*\[?(.*?)\]?|(?:!!!|\?\?\?\+?)\s+[\w-]+(?:\s[\w\s-]*?)?(?:\s*\"(.*)\")?)\s*$"
)


def _clean_lines(lines: list[str]) -> list[str]:
    """Drop blockquote markers, table rule rows, thematic breaks (``---`` after a blank line) and the fence
    lines of container blocks (Docusaurus and VitePress admonitions, ``:::tip Title`` … ``:::``; MkDocs'
    ``!!! note "Title"``), whose title alone stays."""
    out: list[str] = []
    for line in lines:
        line = _BLOCKQUOTE.sub("", line)
        container = _CONTAINER.match(line)
        if container:
            line = container.group(1) or container.group(2) or ""
        if _TABLE_RULE.match(line) or (_THEMATIC_BREAK.match(line) and not (out and out[-1].strip())):
            line = ""
        out.append(line.rstrip())
    return out


def _drop_link_lists(lines: list[str], labels: set[str]) -> list[str]:
    """Drop lists whose every item is only a link ("See also" lists, tables of contents): navigation,
    which matches many queries by name and answers none. A list with any other item, or with an item
    continued on the next line, stays whole; so does a list of bare URLs, whose text is the address."""
    out = list(lines)
    i = 0
    while i < len(lines):
        if not _LIST_ITEM.match(lines[i]):
            i += 1
            continue
        items, j, links_only = [], i, True
        while j < len(lines) and (not lines[j].strip() or _LIST_ITEM.match(lines[j])):
            if lines[j].strip():
                items.append(j)
            j += 1
        if j < len(lines) and (lines[j][:1] in (" ", "\t") or lines[j - 1].strip()):
            links_only = False  # the last item goes on below
        for k in items:
            m = _LINK_ONLY.fullmatch(_LIST_ITEM.match(lines[k]).group(1))
            if not m or (m.group(2) is not None and _link_label(m.group(2)) not in labels):
                links_only = False
        if links_only:
            for k in items:
                out[k] = ""
        i = j
    return out


def _clean_markdown(text: str) -> str:
    """Markdown reduced to the text a reader needs; fenced code blocks are kept verbatim.

    Removes front matter, HTML comments, link reference definitions and raw HTML tags (keeping their
    text; ``<code>`` becomes a backtick); inline links, reference links and images become their text,
    autolinks their URL. Placeholders such as ``<package-spec>`` are not HTML tags and stay. Lists of
    links and nothing else are navigation and go.
    """
    runs = fence_runs(_front_matter(text)[1].splitlines())
    prose = "\n".join("\n".join(lines) for code, lines in runs if not code)
    labels = {_link_label(m.group(1)) for m in _LINK_DEF.finditer(_COMMENT.sub("", prose))}
    parts = []
    for code, lines in runs:
        if not code:
            lines = _clean_lines(_clean_inline("\n".join(_drop_link_lists(lines, labels)), labels).split("\n"))
        parts.extend(lines)
    return "\n".join(parts)


def _line_events(lines: list[str]):
    """Yield ``(heading, None)`` for each Markdown or underlined heading, ``(None, line)`` otherwise."""
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        md = _MD_HEADING.match(line)
        if md or (line.strip() and _UNDERLINE.match(nxt) and len(nxt.strip()) >= len(line.strip()) - 2):
            yield (md.group(2) if md else line).strip(), None
            i += 1 if md else 2
            continue
        yield None, line
        i += 1


def _sections(text: str, title: str, markdown: bool = False) -> list[tuple[str, list[str]]]:
    """Split a document into (heading, paragraphs); understands Markdown and underlined headings.

    With ``markdown``, a fenced code block is one paragraph of its own and none of its lines is a
    heading.
    """
    lines = text.splitlines()
    sections: list[tuple[str, list[str]]] = [(title, [])]
    para: list[str] = []

    def flush() -> None:
        if any(x.strip() for x in para):
            sections[-1][1].append("\n".join(para).strip("\n"))
        para.clear()

    for code, run in fence_runs(lines) if markdown else [(False, lines)]:
        if code:
            flush()
            para.extend(run)
            flush()
            continue
        for heading, line in _line_events(run):
            if heading is not None:
                flush()
                sections.append((heading, []))
            elif line.strip():
                para.append(line)
            else:
                flush()
    flush()
    return [(h, ps) for h, ps in sections if ps]


def _split_long(para: str, chunk_words: int) -> list[str]:
    """A paragraph longer than ``chunk_words`` words in pieces: at line ends where it has several lines
    (code and lists keep their lines), within a line only for a line that long by itself. A fenced code
    block's pieces each get its fence lines (:func:`_refence`), counted in the budget."""
    pieces: list[str] = []
    lines: list[str] = []
    size = 0
    if FENCE_OPEN.match(para.lstrip("\n").split("\n", 1)[0]) and chunk_words > 12:
        chunk_words -= 2
    for line in para.split("\n"):
        words = line.split()
        if len(words) > chunk_words:
            pieces += ["\n".join(lines)] if lines else []
            pieces += [" ".join(words[i : i + chunk_words]) for i in range(0, len(words), chunk_words)]
            lines, size = [], 0
            continue
        if lines and size + len(words) > chunk_words:
            pieces.append("\n".join(lines))
            lines, size = [], 0
        lines.append(line)
        size += len(words)
    if any(x.strip() for x in lines):
        pieces.append("\n".join(lines))
    return _refence([p for p in pieces if p.strip()], para)


def _refence(pieces: list[str], para: str) -> list[str]:
    """Pieces of a fenced code block ``para``, each closed and reopened with the block's own fence lines, so
    every passage holds balanced fences; other paragraphs' pieces as they are."""
    lines = para.strip("\n").split("\n")
    first = FENCE_OPEN.match(lines[0])
    if len(pieces) < 2 or not first or not lines[-1].strip().startswith(first.group(1)):
        return pieces
    opening, closing = lines[0], lines[-1]
    out = []
    for n, piece in enumerate(pieces):
        body = piece.strip("\n")
        if n > 0 and not FENCE_OPEN.match(body.split("\n")[0]):
            body = f"{opening}\n{body}"
        if n < len(pieces) - 1 and not FENCE_OPEN.match(body.split("\n")[-1]):
            body = f"{body}\n{closing}"
        out.append(body)
    return out


def _pack(paragraphs: list[str], chunk_words: int) -> list[tuple[int, str]]:
    """Pack paragraphs into chunks of about ``chunk_words`` words; split longer paragraphs. Each chunk comes
    with the index of the paragraph it starts in."""
    chunks: list[tuple[int, str]] = []
    current: list[str] = []
    first = size = 0
    for n, para in enumerate(paragraphs):
        pieces = [para] if len(para.split()) <= chunk_words else _split_long(para, chunk_words)
        for piece in pieces:
            words = len(piece.split())
            if current and size + words > chunk_words:
                chunks.append((first, "\n\n".join(current)))
                current, size = [], 0
            if not current:
                first = n
            current.append(piece)
            size += words
    if current:
        chunks.append((first, "\n\n".join(current)))
    return chunks


_PAGE_MARK = re.compile(r"^<!-- page (\S{1,20}) -->[ \t]*$", re.M)
_PAGE = "\ue000page:"  # a page mark while the Markdown is cleaned (a private-use character: no text holds it)


def _page_marks(text: str) -> str:
    """Markdown whose page marks outside code blocks are paragraphs of their own that cleaning keeps."""
    runs = fence_runs(text.split("\n"))
    mark = f"\n\n{_PAGE}\\1\n\n"
    return "\n".join("\n".join(run) if code else _PAGE_MARK.sub(mark, "\n".join(run)) for code, run in runs)


def chunk_document(doc_id: str, title: str, text: str, chunk_words: int = 120, markdown: bool = False) -> list[Passage]:
    """Split one document into passages of about ``chunk_words`` words.

    Each passage is prefixed with its section heading and carries the document title, so a passage
    read alone still says where it comes from. Ids are ``<doc_id>#<section-slug>-<n>``: they stay the
    same when other sections of the document change.

    With ``markdown``, ``text`` is first cleaned of Markdown noise (front matter, HTML comments and
    tags, link definitions; links become their text) and fenced code blocks are kept whole, as text:
    a ``# comment`` inside one is not a heading. Sections left empty give no passage. A page mark on a
    line of its own (``<!-- page 12 -->``, :func:`nbutils.markup.page_mark`) gives the passages that start
    after it their ``page``.

    Example:
        >>> [p.id for p in chunk_document("faq", "FAQ", "# Install\\npip install x")]
        ['faq#install-0']
    """
    if chunk_words < 10:
        raise ValueError(f"chunk_words must be at least 10, got {chunk_words}")
    if markdown:
        text = _clean_markdown(_page_marks(text))
    passages: list[Passage] = []
    seen: Counter[str] = Counter()
    page = ""
    for heading, paragraphs in _sections(text, title, markdown):
        kept, pages = [], []
        for para in paragraphs:
            if para.startswith(_PAGE):
                page = para[len(_PAGE) :]
                continue
            kept.append(para)
            pages.append(page)
        if not kept:
            continue
        slug = _slug(heading)
        seen[slug] += 1
        if seen[slug] > 1:
            slug = f"{slug}-{seen[slug]}"
        for n, (first, body) in enumerate(_pack(kept, chunk_words)):
            prefix = heading if heading != title else ""
            passages.append(Passage(f"{doc_id}#{slug}-{n}", title, f"{prefix}\n{body}".strip(), pages[first]))
    return passages


def _doc_title(path: Path, text: str, markdown: bool = False) -> str:
    """A document's title: for Markdown its front matter ``title:``, else its first heading or line."""
    if markdown:
        title = _front_matter(text)[0]
        if title:
            return title[:200]
        runs = fence_runs(_clean_markdown(text).splitlines())
        text = "\n".join("\n".join(lines) for code, lines in runs if not code)
    for line in text.splitlines():
        if line.strip():
            md = _MD_HEADING.match(line)
            return (md.group(2) if md else line).strip()[:200]
    return path.stem


DOCUMENT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".mdx": "mdx", ".txt": "text", ".rst": "rst",
                     ".docx": "docx", ".pptx": "pptx", ".ipynb": "ipynb", ".html": "html", ".htm": "html",
                     ".pdf": "pdf"}  # fmt: skip
# (sources before the formats they are exported to: where two files share an id, the first kind is read)
BINARY_KINDS = {
    "pdf": pdf_to_markdown,
    "docx": docx_to_markdown,
    "pptx": pptx_to_markdown,
}  # read from bytes, not decoded as text


def _as_markdown(kind: str, text: str) -> tuple[str, str]:
    """``(title or "", markdown or plain text)`` of a document of ``kind`` (see ``DOCUMENT_SUFFIXES``)."""
    if kind == "html":
        return html_to_markdown(text)
    if kind == "rst":
        return "", rst_to_markdown(text)
    if kind == "mdx":
        return "", mdx_to_markdown(text)
    if kind == "ipynb":
        return "", ipynb_to_markdown(text)
    return "", text


SKIPPED_FOLDERS = {"node_modules", "__pycache__", "site-packages", "bower_components"}
SPHINX_GENERATED = re.compile(r"^(genindex(-\w+)?|py-modindex|modindex|search)\.html?$")


def _document_files(root: Path, issues: DataIssues) -> list[Path]:
    """Every file under ``root``, sorted, leaving out hidden files and folders (``.git``, ``.venv``, …), the
    folders in ``SKIPPED_FOLDERS`` and virtual environments (a folder holding ``pyvenv.cfg``): other people's
    READMEs and licences, not the user's documents. Each such folder that is not hidden and holds a file the
    loader could read is reported as ``skipped_folder``.

    In a Sphinx HTML build (a folder holding ``searchindex.js`` or ``objects.inv``) the pages are read, not
    ``_sources`` (Sphinx's copies of the sources: the same text again) nor the generated index and search
    pages (lists of links), each reported once."""
    found: list[Path] = []
    for here, dirs, names in os.walk(root):
        base = Path(here)
        sphinx = "searchindex.js" in names or "objects.inv" in names
        kept = []
        for d in sorted(dirs):
            folder = base / d
            if d.startswith("."):
                continue
            venv = (folder / "pyvenv.cfg").is_file()
            if venv or d in SKIPPED_FOLDERS or (sphinx and d == "_sources"):
                n = sum(Path(f).suffix.lower() in DOCUMENT_SUFFIXES for _, _, fs in os.walk(folder) for f in fs)
                if n:
                    why = (
                        "a virtual environment" if venv
                        else "Sphinx's copies of the sources; the HTML pages are read" if d == "_sources"
                        else "a dependency or cache folder"
                    )  # fmt: skip
                    issues.add(folder, 0, "skipped_folder", f"{n} document file{'s' * (n > 1)} not read: {why}")
                continue
            kept.append(d)
        dirs[:] = kept
        generated = sorted(n for n in names if sphinx and SPHINX_GENERATED.match(n))
        if generated:
            n = len(generated)
            message = f"{n} Sphinx index and search page{'s' * (n > 1)} not read: lists of links, not text"
            issues.add(base / generated[0], 0, "skipped_file", message)
        found.extend(base / n for n in names if not n.startswith(".") and n not in generated)
    return sorted(p for p in found if p.is_file())


def _skipped_files(files: list[Path], issues: DataIssues) -> None:
    """One ``skipped_file`` issue per suffix the loader does not read."""
    by_suffix: dict[str, list[Path]] = {}
    for path in files:
        if path.suffix.lower() not in DOCUMENT_SUFFIXES:
            by_suffix.setdefault(path.suffix.lower() or "(no suffix)", []).append(path)
    readable = ", ".join(DOCUMENT_SUFFIXES)
    for suffix, paths in sorted(by_suffix.items()):
        n = len(paths)
        message = f"{n} {suffix} file{'s' * (n > 1)} not read; the loader reads {readable}"
        issues.add(paths[0], 0, "skipped_file", message)


def _one_per_id(root: Path, files: list[Path], issues: DataIssues) -> list[Path]:
    """The files to read, one per document id (the path without its suffix): where several share an id
    (``guide.md`` and the ``guide.html`` rendered from it), the first in ``DOCUMENT_SUFFIXES`` order is read
    and each other one is reported as ``duplicate_id``."""
    rank = {suffix: n for n, suffix in enumerate(DOCUMENT_SUFFIXES)}
    by_id: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        by_id[path.relative_to(root).with_suffix("").as_posix()].append(path)
    chosen = []
    for doc_id, paths in by_id.items():
        paths.sort(key=lambda p: (rank[p.suffix.lower()], p.name))
        chosen.append(paths[0])
        for other in paths[1:]:
            message = (
                f"document id {doc_id!r} is also {paths[0].name}'s, which is read instead "
                "(a document's id is its path without the suffix)"
            )
            issues.add(other, 0, "duplicate_id", message)
    return sorted(chosen)


def _read_document(path: Path, kind: str, issues: DataIssues) -> tuple[str, str] | None:
    """``(title or "", Markdown or plain text)`` of one document of ``kind``, or ``None`` when it cannot be
    read or holds no readable text (the reason is added to ``issues``)."""
    title = ""
    try:
        data = path.read_bytes()
        if kind in BINARY_KINDS:
            (title, text), bad, bad_line = BINARY_KINDS[kind](data), 0, 0
        else:
            text, bad, bad_line = _decode_document(data)
    except OSError as e:
        issues.add(path, 0, "read_error", f"cannot read the file ({e.strerror or e})")
        return None
    except ValueError as e:  # a PDF, Word or PowerPoint file its reader cannot open
        issues.add(path, 0, "read_error", str(e))
        return None
    if not text.strip():
        empty = "the PDF has no text layer (scanned pages need OCR first)" if kind == "pdf" else ""
        issues.add(path, 0, "unreadable_text" if empty else "empty_text", empty or "document is empty")
        return None
    why = _unreadable(text)
    if why:
        not_utf8 = f" ({_bytes(bad)} not UTF-8)" if bad else ""
        issues.add(path, 0, "unreadable_text", f"document skipped: {why}{not_utf8}")
        return None
    if bad:
        message = f"{_bytes(bad)} not valid UTF-8 (the first on this line); kept as U+FFFD"
        issues.add(path, bad_line, "bad_encoding", message)
    text = _strip_controls(text)
    if kind in BINARY_KINDS:
        return title, text
    try:
        return _as_markdown(kind, text)
    except ValueError as e:  # a .ipynb file that is not a notebook
        issues.add(path, 0, "malformed", str(e))
        return None


def load_documents(folder: str | Path, chunk_words: int = 120) -> Dataset:
    """Load every document under ``folder`` (the suffixes in ``DOCUMENT_SUFFIXES``) and chunk it into passages.

    The document id is the file's path relative to ``folder`` without its suffix. A file's title is
    its first heading or first line; a ``.md`` file's front matter ``title:`` comes first, an HTML page's
    first ``<h1>`` or ``<title>``. ``.md`` files are cleaned of Markdown markup (see :func:`chunk_document`);
    ``.rst``, ``.html``, ``.mdx``, ``.pdf``, ``.docx`` and ``.pptx`` files are first turned into Markdown
    (:mod:`nbutils.markup`: page chrome, directives, tags and running headers go); ``.txt`` files are taken
    as they are. A PDF with no text layer is reported as ``unreadable_text``, a PDF, Word or PowerPoint
    file that cannot be opened as ``read_error``. Files of other kinds are reported as ``skipped_file``,
    one issue per suffix. Hidden files and folders, dependency folders and virtual environments are not
    read (see :func:`_document_files`), and where two files share an id, one is (:func:`_one_per_id`).

    Files are read as UTF-8 (UTF-16 when they start with its byte order mark). Bytes that are not UTF-8
    become U+FFFD and are reported as ``bad_encoding``; control characters are stripped. A file that is
    mostly control characters or undecodable bytes, or has no letter or digit, is reported as
    ``unreadable_text`` and skipped.

    Raises:
        DataError: when the folder has no readable, non-empty document.
    """
    root = Path(folder)
    issues = DataIssues()
    corpus: dict[str, Passage] = {}
    formats: Counter[str] = Counter()
    everything = _document_files(root, issues)
    _skipped_files(everything, issues)
    files = _one_per_id(root, [p for p in everything if p.suffix.lower() in DOCUMENT_SUFFIXES], issues)
    slow = sum(p.suffix.lower() == ".pdf" for p in files) >= 20 or len(files) >= 2000
    for path in tqdm(files, desc="reading documents", unit="file", disable=not slow):
        kind = DOCUMENT_SUFFIXES[path.suffix.lower()]
        read = _read_document(path, kind, issues)
        if read is None:
            continue
        title, text = read
        markdown = kind != "text"
        title = title or _doc_title(path, text, markdown)
        passages = chunk_document(path.relative_to(root).with_suffix("").as_posix(), title, text, chunk_words, markdown)
        if markdown and not passages:
            issues.add(path, 0, "empty_text", f"no text left once the {kind} markup is removed")
        for p in passages:
            corpus[p.id] = p
        formats[path.suffix.lower()] += bool(passages)
    if not corpus:
        raise DataError(f"{root}: no non-empty {', '.join(DOCUMENT_SUFFIXES)} documents found")
    return Dataset(corpus, issues=issues, formats={k: n for k, n in formats.most_common() if n})


# --------------------------------------------------------------------------- gold pairs and clicks


def load_gold_pairs(path: str | Path, corpus: dict[str, Passage]) -> tuple[dict, dict, DataIssues]:
    """Read gold pairs from JSONL: ``{"id": ..., "query": ..., "positives": [passage ids]}``.

    ``id`` is optional (a stable id is derived from the line), ``positives`` may also be given as
    ``doc_id`` (one id). Unknown passage ids are reported and dropped; a query left with no known
    positive is dropped too. A row whose ``query`` is not a string, ``id`` neither a string nor an
    integer, or ``positives`` neither a string nor a list of strings is reported as ``bad_type`` and
    skipped.

    Returns:
        ``(queries, qrels, issues)``.
    """
    path = Path(path)
    _require_file(path, "gold pairs file")
    issues = DataIssues()
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for n, obj in _read_jsonl(path, issues):
        wrong = _gold_type_error(obj)
        if wrong:
            issues.add(path, n, "bad_type", wrong)
            continue
        query = _strip_controls(obj.get("query") or "").strip()
        qid = str(obj.get("id") or f"gold-{n}")
        raw = obj.get("positives", obj.get("doc_id"))
        positives = [raw] if isinstance(raw, str) else list(raw or [])
        if not query:
            issues.add(path, n, "empty_text", "pair has no 'query'")
            continue
        if qid in queries:
            issues.add(path, n, "duplicate_id", f"query id {qid!r} already seen; kept the first")
            continue
        known = [str(p) for p in positives if str(p) in corpus]
        for p in positives:
            if str(p) not in corpus:
                issues.add(path, n, "unknown_doc", f"passage id {p!r} is not in the corpus")
        if not known:
            issues.add(path, n, "no_positive", "no known relevant passage; pair skipped")
            continue
        queries[qid] = query
        qrels[qid] = {p: 1 for p in known}
    return queries, qrels, issues


def _gold_type_error(obj: dict) -> str | None:
    """What is wrong with the JSON types of a gold row (``query``, ``id``, ``positives``/``doc_id``), or None."""
    query, qid = obj.get("query"), obj.get("id")
    if query is not None and not isinstance(query, str):
        return f"'query' must be a string, got {type(query).__name__}"
    if qid is not None and (isinstance(qid, bool) or not isinstance(qid, str | int)):
        return f"'id' must be a string, got {type(qid).__name__}"
    key = "positives" if "positives" in obj else "doc_id"
    raw = obj.get(key)
    if raw is None or isinstance(raw, str):
        return None
    if not isinstance(raw, list):
        return f"{key!r} must be a passage id or a list of them, got {type(raw).__name__}"
    odd = next((p for p in raw if not isinstance(p, str)), "")
    return None if isinstance(odd, str) else f"{key!r} must hold passage ids (strings), got {type(odd).__name__}"


@dataclass(frozen=True)
class Click:
    """Aggregated clicks of one (query, passage) pair; ``last_seen`` is its latest timestamp, if the log has them."""

    query: str
    doc_id: str
    clicks: int
    last_seen: datetime | None = None


def parse_timestamp(raw) -> datetime:
    """A click-log timestamp as an aware UTC datetime: ISO 8601 (no zone means UTC) or Unix seconds.

    Raises:
        ValueError: naming the value, for anything else.
    """
    if isinstance(raw, bool):
        raise ValueError(f"timestamp {raw!r} is neither ISO 8601 nor Unix seconds")
    try:
        if isinstance(raw, int | float) or re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(raw)):
            return datetime.fromtimestamp(float(raw), timezone.utc)
        stamp = datetime.fromisoformat(str(raw).strip())
    except (TypeError, ValueError, OverflowError, OSError):
        raise ValueError(f"timestamp {raw!r} is neither ISO 8601 nor Unix seconds") from None
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)


def _click_rows(path: Path, issues: DataIssues):
    """Yield (line number, row) of a JSONL or CSV click log; for CSV the line a row ends on.

    Lines that are not UTF-8 and rows the CSV reader rejects are reported and skipped.
    """
    if path.suffix.lower() == ".jsonl":
        yield from _read_jsonl(path, issues)
        return
    line = [0]

    def lines():
        for n, text in _decoded_lines(path, issues, keepends=True, header=True):
            line[0] = n
            yield text

    reader = csv.DictReader(lines())
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            issues.add(path, line[0], "malformed", f"not a valid CSV row ({e})")
            continue
        yield line[0], row


def _click_count(raw) -> tuple[int | None, str, str]:
    """A row's ``clicks`` value as a count: ``(count, "", "")``, or ``(None, kind, message)`` when unusable.

    No value counts as one click; a value that is not a number is ``malformed``; one that is negative,
    infinite or NaN is ``bad_clicks``. Fractions are truncated.
    """
    if raw is None or raw == "":
        return 1, "", ""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None, "malformed", f"clicks {_show(raw)} is not a number"
    except OverflowError:  # an integer too large for a float
        value = math.inf
    if not math.isfinite(value) or value < 0:
        return None, "bad_clicks", f"clicks {_show(raw)} is not a finite, non-negative count; row skipped"
    return int(value), "", ""


def load_clicks(path: str | Path, corpus: dict[str, Passage]) -> tuple[list[Click], DataIssues]:
    """Read a click log (CSV with a header, or JSONL) of ``query``, ``doc_id`` and ``clicks`` or ``timestamp``.

    Rows with a ``clicks`` count add that many clicks; rows without one count as one click each
    (one row per click event, e.g. with a ``timestamp``). Rows are aggregated per (query, doc_id),
    keeping the latest timestamp (see :func:`parse_timestamp`); a row whose timestamp cannot be read
    is reported and skipped, and so is one whose ``clicks`` is not a number (``malformed``) or is
    negative, infinite or NaN (``bad_clicks``).
    """
    path = Path(path)
    _require_file(path, "click log")
    issues = DataIssues()
    totals: Counter[tuple[str, str]] = Counter()
    latest: dict[tuple[str, str], datetime] = {}
    for n, row in _click_rows(path, issues):
        query = str(row.get("query") or "").strip()
        doc_id = str(row.get("doc_id") or "").strip()
        if not query or not doc_id:
            issues.add(path, n, "malformed", "row needs non-empty 'query' and 'doc_id'")
            continue
        if doc_id not in corpus:
            issues.add(path, n, "unknown_doc", f"passage id {doc_id!r} is not in the corpus")
            continue
        clicks, kind, message = _click_count(row.get("clicks"))
        if clicks is None:
            issues.add(path, n, kind, message)
            continue
        stamp = row.get("timestamp")
        if stamp not in (None, ""):
            try:
                stamp = parse_timestamp(stamp)
            except ValueError as e:
                issues.add(path, n, "malformed", str(e))
                continue
            key = (query, doc_id)
            latest[key] = max(latest.get(key, stamp), stamp)
        totals[(query, doc_id)] += clicks
    return [Click(q, d, c, latest.get((q, d))) for (q, d), c in totals.items() if c > 0], issues


def load_dataset(data_dir: str | Path, chunk_words: int = 120, gold_file: str | Path | None = None) -> Dataset:
    """Load a domain: a BEIR folder (has ``corpus.jsonl``) or a folder of documents, plus gold pairs.

    Gold pairs from ``gold_file`` are added to any labelled queries the folder already has.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data_dir is not a folder: {root}")
    ds = load_beir(root) if (root / "corpus.jsonl").exists() else load_documents(root, chunk_words)
    if gold_file:
        add_gold(ds, gold_file)
    return ds


def add_gold(ds: Dataset, gold_file: str | Path) -> None:
    """Add the gold pairs of ``gold_file`` to ``ds`` (in place), reporting id clashes."""
    queries, qrels, issues = load_gold_pairs(gold_file, ds.corpus)
    ds.issues.extend(issues)
    for qid in queries:
        if qid in ds.queries:
            ds.issues.add(gold_file, 0, "duplicate_id", f"gold query id {qid!r} is already labelled elsewhere")
            continue
        ds.queries[qid] = queries[qid]
        ds.qrels[qid] = qrels[qid]


def duplicate_groups(corpus: dict) -> dict[str, set[str]]:
    """Passage ids that share the same text (ignoring the title), for each passage that has copies.

    Corpora often hold the same passage under several documents; a copy of a positive must never
    be mined as a negative.
    """
    by_text: dict[str, set[str]] = defaultdict(set)
    for pid, p in corpus.items():
        by_text[" ".join(p.text.split()).lower()].add(pid)
    return {pid: ids for ids in by_text.values() if len(ids) > 1 for pid in ids}
