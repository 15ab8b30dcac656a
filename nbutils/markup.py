"""HTML, reStructuredText, MDX, PDF, Word and notebook documents turned into the Markdown the loader reads.

Exported documentation rarely comes as Markdown alone: Sphinx and wiki exports are HTML, Sphinx sources
are reStructuredText. Each converter keeps what a reader needs (headings, paragraphs, lists, tables as
rows, code blocks verbatim) and leaves out the page chrome (navigation, headers, footers, sidebars,
scripts) and the markup. Links are kept as Markdown links, so the Markdown cleaner turns them into their
text and drops lists of links alone (navigation) as it does for ``.md`` files.

Example::

    title, text = html_to_markdown("<title>Site</title><main><h1>Install</h1><p>Run <code>x</code>.</p></main>")
    # ("Install", "# Install\\n\\nRun `x`.")
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

__all__ = [
    "FENCE_OPEN",
    "docx_to_markdown",
    "fence_runs",
    "html_to_markdown",
    "ipynb_to_markdown",
    "mdx_to_markdown",
    "pdf_to_markdown",
    "rst_to_markdown",
]

# --------------------------------------------------------------------------- HTML

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_SKIP = {
    "script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside", "form", "button",
    "select", "iframe", "object", "canvas", "head",
}  # fmt: skip
_SKIP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
_SKIP_CLASSES = {  # whole class names of page chrome in common generators (Sphinx, MkDocs, texinfo, wikis)
    "header", "footer", "nav", "navbar", "navigation", "nav-panel", "sidebar", "sphinxsidebar", "related",
    "breadcrumb", "breadcrumbs", "headerlink", "toc", "wy-nav-side", "md-header", "md-footer", "md-sidebar",
}  # fmt: skip
_BLOCK = {
    "p", "div", "section", "article", "main", "blockquote", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot",
    "figure", "figcaption", "details", "summary", "ul", "ol", "body", "html", "center", "address",
}  # fmt: skip
_HEADING = re.compile(r"^h([1-6])$")


class _Node:
    __slots__ = ("tag", "attrs", "children")

    def __init__(self, tag: str, attrs: dict[str, str]):
        self.tag = tag
        self.attrs = attrs
        self.children: list[_Node | str] = []


class _TreeBuilder(HTMLParser):
    """A forgiving tree: an end tag closes up to its open element and is ignored when none is open."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(_Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def _fenced(code: str, language: str = "") -> str:
    """``code`` as a fenced block (``~~~~`` when it holds a backtick fence itself), tagged with ``language``
    when given; ``""`` when blank."""
    code = code.strip("\n")
    if not code.strip():
        return ""
    fence = "~~~~" if "```" in code else "```"
    return f"{fence}{language}\n{code}\n{fence}"


def _skipped(node: _Node) -> bool:
    if node.tag in _SKIP or node.attrs.get("role", "") in _SKIP_ROLES or "hidden" in node.attrs:
        return True
    return not _SKIP_CLASSES.isdisjoint(node.attrs.get("class", "").split())


def _find(node: _Node, test) -> _Node | None:
    for child in node.children:
        if isinstance(child, _Node):
            if test(child):
                return child
            found = _find(child, test)
            if found is not None:
                return found
    return None


def _text(node: _Node) -> str:
    return "".join(c if isinstance(c, str) else _text(c) for c in node.children)


def _span(value: str | None) -> int:
    """A ``rowspan``/``colspan`` value as a count (``0``: to the end of the table; unreadable: 1)."""
    try:
        n = int(str(value).strip())
    except ValueError:
        return 1
    return 10**6 if n == 0 else max(1, min(n, 10**6))


class _Writer:
    def __init__(self):
        self.out: list[str] = []
        self.spans: dict[int, tuple[int, str, int]] = {}  # column → (rows left, text, width) of rowspan cells

    def block(self) -> None:
        self.out.append("\n\n")

    def write(self, node: _Node | str, in_pre: bool = False) -> None:
        if isinstance(node, str):
            self.out.append(node if in_pre else re.sub(r"\s+", " ", node))
            return
        tag = node.tag
        if _skipped(node):
            return
        heading = _HEADING.match(tag)
        if heading:
            text = " ".join(_text(node).replace("¶", " ").split())
            if text:
                self.out.append(f"\n\n{'#' * int(heading.group(1))} {text}\n\n")
            return
        if tag == "pre":
            self.out.append(f"\n\n{_fenced(_text(node))}\n\n")
            return
        if tag == "br":
            self.out.append("\n")
            return
        if tag in ("code", "kbd", "samp", "tt") and not in_pre:
            text = " ".join(_text(node).split())
            if text:
                self.out.append(f"`{text}`" if "`" not in text else text)
            return
        if tag == "img":
            return
        if tag == "li":
            sub = _Writer()
            sub._children(node, in_pre)
            first, *rest = _tidy("".join(sub.out)).split("\n") or [""]
            self.out.append("\n* " + "\n".join([first, *rest]))  # what follows the first line is its own block
            return
        if tag == "table":
            outer, self.spans = self.spans, {}
            self.block()
            self._children(node, in_pre)
            self.block()
            self.spans = outer
            return
        if tag == "tr":
            self._row(node)
            return
        if tag == "a" and node.attrs.get("href") and not node.attrs["href"].startswith("#"):
            sub = _Writer()
            sub._children(node, in_pre)
            text = " ".join("".join(sub.out).split())
            if text:
                safe = text.replace("[", "(").replace("]", ")")
                self.out.append(f"[{safe}](<{node.attrs['href'].replace('>', '%3E')}>)")
            return
        if tag in _BLOCK:
            self.block()
            self._children(node, in_pre)
            self.block()
            return
        self._children(node, in_pre)

    def _children(self, node: _Node, in_pre: bool) -> None:
        for child in node.children:
            self.write(child, in_pre)

    def _row(self, node: _Node) -> None:
        """One table row as ``a | b``; a cell spanning rows (``rowspan``) is repeated in each row it covers,
        at its column, and a cell spanning columns is written once."""
        cells: list[str] = []
        col = 0

        def carry(row_end: bool) -> None:
            """Cells spanning down from earlier rows: the ones at this column (at the row's end, all left)."""
            nonlocal col
            while ahead := [c for c in self.spans if c >= col if row_end or c == col]:
                col = min(ahead)
                left, text, width = self.spans.pop(col)
                if left > 1:
                    self.spans[col] = (left - 1, text, width)
                cells.append(text)
                col += width

        for cell in node.children:
            if not (isinstance(cell, _Node) and cell.tag in ("td", "th") and not _skipped(cell)):
                continue
            carry(False)
            sub = _Writer()
            sub._children(cell, False)
            text = " ".join("".join(sub.out).split())
            width, rows = _span(cell.attrs.get("colspan", "1")), _span(cell.attrs.get("rowspan", "1"))
            if rows > 1 and text:
                self.spans[col] = (rows - 1, text, width)
            cells.append(text)
            col += width
        carry(True)
        if any(cells):
            self.out.append("\n" + " | ".join(cells))


def html_to_markdown(html: str) -> tuple[str, str]:
    """``(title, markdown)`` of an HTML page.

    Only the page's ``<main>`` (or ``role="main"``, else ``<article>``) is read when it has one, else its
    body less navigation, headers, footers, sidebars and scripts. The title is the first ``<h1>``, else
    ``<title>``, else ``""``. Headings become ``#`` lines, ``<pre>`` fenced code, list items ``*`` lines,
    table rows ``cell | cell`` lines and links ``[text](href)`` (links within the page are plain text).

    Example:
        >>> html_to_markdown("<nav><a href='/a'>Home</a></nav><h1>Tea¶</h1><p>Brew <b>4</b> min.</p>")
        ('Tea', '# Tea\\n\\nBrew 4 min.')
    """
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    root = builder.root
    main = (
        _find(root, lambda n: n.tag == "main" or n.attrs.get("role") == "main")
        or _find(root, lambda n: n.tag == "article")
        or root
    )
    h1 = _find(main, lambda n: n.tag == "h1") or _find(root, lambda n: n.tag == "h1")
    title_node = _find(root, lambda n: n.tag == "title")
    title = " ".join(_text(h1).replace("¶", " ").split()) if h1 else ""
    title = title or (" ".join(_text(title_node).split()) if title_node else "")
    writer = _Writer()
    if main is root:
        writer._children(main, False)
    else:
        writer.write(_Node("div", {}) if _skipped(main) else main)
    return title[:200], _tidy("".join(writer.out))


def _tidy(text: str) -> str:
    """Lines stripped and blank runs cut to one, except inside fenced code, which stays as written."""
    lines, fence = [], ""
    for line in text.split("\n"):
        mark = line.strip()[:4] if line.strip().startswith(("```", "~~~~")) else ""
        if fence:
            lines.append(line)
            fence = "" if mark == fence else fence
            continue
        fence = mark
        lines.append(line.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------- reStructuredText

_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")
_RST_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+(?:\|[^|]+\|\s+)?([\w:-]+)::\s*(.*)$")
_RST_COMMENT = re.compile(r"^(\s*)\.\.(?:\s|$)")
_RST_CODE = {  # directives whose body is code (extensions' example and run directives too)
    "code-block", "code", "sourcecode", "doctest", "testcode", "testsetup", "testoutput", "example", "run",
    "console", "prompt", "ipython", "jupyter-execute", "code-cell", "program-output", "command-output",
}  # fmt: skip
_RST_DROP = {  # directives a reader never sees as text: structure, images, includes, generated API pages
    "toctree", "contents", "image", "figure", "include", "literalinclude", "highlight", "raw", "index", "meta",
    "sectnum", "tabularcolumns", "autosummary", "target-notes", "default-role", "role", "title", "graphviz",
    "plot", "rst-class", "spelling", "module", "currentmodule",
}  # fmt: skip
_RST_CODE_ROLES = {  # matched on the role's last part: ``py:func`` is ``func``
    "func", "meth", "class", "attr", "mod", "obj", "data", "const", "exc", "option", "envvar", "file", "command",
    "program", "kbd", "samp", "code", "type", "macro", "member", "makevar", "token", "keyword", "literal",
}  # fmt: skip
_RST_ROLE = re.compile(r":([\w:+.-]+):`([^`]+)`")
_RST_LITERAL = re.compile(r"``(.+?)``")
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]+>`__?")
_RST_REF = re.compile(r"`([^`]+)`__?")
_RST_WORD_REF = re.compile(r"\b(\w[\w.-]*)__?(?=[\s.,;:!?)]|$)")


def _rst_role(m: re.Match) -> tuple[str, bool]:
    """A role's shown text (``text <target>`` shows ``text``; ``~a.b`` and ``!a`` show ``a.b``, ``a``) and
    whether it names code."""
    role, text = m.group(1), m.group(2)
    target = re.match(r"^(.*?)\s*<([^<>]+)>$", text, re.S)
    shown = (target.group(1) if target and target.group(1) else text).lstrip("!~")
    return shown, role.split(":")[-1] in _RST_CODE_ROLES


def _rst_inline(line: str) -> str:
    """A line's inline markup as Markdown: literals and code roles in backticks, other roles, hyperlink
    references and escaped spaces as their text."""
    codes: list[str] = []

    def stash(code: str) -> str:
        codes.append(f"`{code}`")
        return f"\x00{len(codes) - 1}\x00"

    def role(m: re.Match) -> str:
        shown, is_code = _rst_role(m)
        return stash(shown) if is_code else shown

    line = _RST_ROLE.sub(role, _RST_LITERAL.sub(lambda m: stash(m.group(1)), line))
    line = _RST_WORD_REF.sub(r"\1", _RST_REF.sub(r"\1", _RST_LINK.sub(r"\1", line)))
    line = line.replace("\\ ", "")
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], line)


_RST_VERSIONS = {"versionadded": "Added in version", "versionchanged": "Changed in version",
                 "deprecated": "Deprecated since version", "versionremoved": "Removed in version"}  # fmt: skip
_RST_SIGNATURES = {"describe", "function", "method", "class", "attribute", "data", "option", "envvar", "cmdoption",
                   "exception"}  # fmt: skip


def _directive_lead(name: str, arg: str) -> str:
    """The line a kept directive's argument becomes: a version note, a signature in backticks, or the text."""
    if name in _RST_VERSIONS:
        return f"{_RST_VERSIONS[name]} {arg}."
    if name in _RST_SIGNATURES:
        return f"`{arg}`"
    return _rst_inline(arg)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, base: int) -> int:
    """Index after the block indented deeper than ``base`` that starts at ``start`` (blank lines inside)."""
    j = start
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
        j += 1
    while j > start and not lines[j - 1].strip():
        j -= 1
    return j


def _dedent(block: list[str]) -> list[str]:
    width = min((_indent(x) for x in block if x.strip()), default=0)
    return [x[width:] for x in block]


def rst_to_markdown(text: str) -> str:
    """Markdown of a reStructuredText page.

    Section titles (underlined, or over- and underlined) become ``#`` headings, levels in the order the
    page first uses each adornment. Code directives (extensions' ``example`` and ``run`` ones too) and ``::``
    literal blocks become fenced code; tables of contents, images, includes, generated API directives
    (``auto…``), targets and comments go; every other directive (admonitions, tabs, descriptions) keeps its
    text. Roles become their text (code-like roles in backticks), and so do hyperlink references.

    Example:
        >>> print(rst_to_markdown("Install\\n=======\\n\\nRun :command:`pip install x`::\\n\\n   pip install x\\n"))
        # Install
        <BLANKLINE>
        Run `pip install x`:
        <BLANKLINE>
        ```
        pip install x
        ```
    """
    writer = _Rst()
    writer.convert(text.expandtabs(8).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(x.rstrip() for x in writer.out)).strip()


class _Rst:
    """reStructuredText lines written out as Markdown lines, block by block."""

    def __init__(self):
        self.out: list[str] = []
        self.styles: list[tuple[str, bool]] = []  # adornments in the order the page first uses them

    def convert(self, lines: list[str]) -> None:
        i = 0
        while i < len(lines):
            i = self._title(lines, i) or self._directive(lines, i) or self._literal(lines, i) or self._line(lines, i)

    def _line(self, lines: list[str], i: int) -> int:
        line = lines[i]
        if _RST_COMMENT.match(line):  # comments and targets (``.. _label:``), with what they hold
            return _block_end(lines, i + 1, _indent(line))
        over = _RST_ADORNMENT.match(line)
        self.out.append("" if over else _rst_inline(line))  # a lone adornment is a transition
        return i + 1

    def _title(self, lines: list[str], i: int) -> int:
        line, nxt = lines[i], lines[i + 1] if i + 1 < len(lines) else ""
        third = lines[i + 2] if i + 2 < len(lines) else ""
        if (
            _RST_ADORNMENT.match(line)
            and nxt.strip()
            and not _RST_ADORNMENT.match(nxt)
            and third.strip() == line.strip()
        ):
            return self._heading(nxt, (line.strip()[0], True), i + 3)
        fits = len(nxt.strip()) >= len(line.strip()) - 2
        if (
            line.strip()
            and not _RST_ADORNMENT.match(line)
            and _RST_ADORNMENT.match(nxt)
            and not line[0].isspace()
            and fits
        ):
            return self._heading(line, (nxt.strip()[0], False), i + 2)
        return 0

    def _heading(self, title: str, style: tuple[str, bool], after: int) -> int:
        if style not in self.styles:
            self.styles.append(style)
        level = min(self.styles.index(style) + 1, 6)
        self.out.extend(["", "#" * level + " " + _rst_inline(title.strip()), ""])
        return after

    def _code(self, block: list[str]) -> None:
        self.out.extend(["", _fenced("\n".join(_dedent(block))), ""])

    def _directive(self, lines: list[str], i: int) -> int:
        m = _RST_DIRECTIVE.match(lines[i])
        if not m:
            return 0
        name, arg = m.group(2).lower().split(":")[-1], m.group(3).strip()
        end = _block_end(lines, i + 1, _indent(lines[i]))
        body = lines[i + 1 : end]
        while body and re.match(r"^\s*:[\w -]+:", body[0]):
            body = body[1:]  # the directive's options
        if name in _RST_CODE:
            self._code(body)
        elif name not in _RST_DROP and not name.startswith("auto"):  # admonitions, containers, tabs, descriptions
            if arg:
                self.out.extend(["", _directive_lead(name, arg), ""])
            self.out.append("")
            self.convert(_dedent(body))
            self.out.append("")
        return end

    def _literal(self, lines: list[str], i: int) -> int:
        """A paragraph ending in ``::`` and the indented literal block after it, as fenced code."""
        line = lines[i]
        if (
            not line.strip()
            or not line.rstrip().endswith("::")
            or _RST_DIRECTIVE.match(line)
            or _RST_COMMENT.match(line)
        ):
            return 0
        lead = line.rstrip()[:-2].rstrip()
        if lead:
            self.out.append(_rst_inline(lead if lead.endswith(":") else lead + ":"))
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j < len(lines) and _indent(lines[j]) > _indent(line):
            end = _block_end(lines, j, _indent(line))
            self._code(lines[j:end])
            return end
        return i + 1


# --------------------------------------------------------------------------- Markdown code fences

FENCE_OPEN = re.compile(r"^\s*(`{3,}(?=[^`]*$)|~{3,})")


def fence_runs(lines: list[str]) -> list[tuple[bool, list[str]]]:
    """Group lines into runs of ``(is_code_fence, lines)``; an unclosed fence runs to the end."""
    runs: list[tuple[bool, list[str]]] = []
    close = None
    for line in lines:
        if close is not None:
            runs[-1][1].append(line)
            close = None if close.fullmatch(line) else close
            continue
        opened = FENCE_OPEN.match(line)
        if opened:
            marker = opened.group(1)
            close = re.compile(rf"\s*{re.escape(marker[0])}{{{len(marker)},}}\s*")
            runs.append((True, [line]))
        elif runs and not runs[-1][0]:
            runs[-1][1].append(line)
        else:
            runs.append((False, [line]))
    return runs


# --------------------------------------------------------------------------- MDX

_MDX_ESM = re.compile(r"^(import|export)\s")
_MDX_COMMENT = re.compile(r"\{/\*.*?\*/\}", re.S)
_JSX_TAG = re.compile(r"</?[A-Z][\w.]*(?:\s[^<>]*?)?/?>")
_JSX_LABEL = re.compile(r"""\s(?:label|title)=(?:"([^"]*)"|'([^']*)')""")  # <TabItem label="macOS">


def _jsx_text(m: re.Match) -> str:
    """What a JSX tag leaves in the text: its ``label`` or ``title`` attribute on a line of its own, else nothing."""
    label = _JSX_LABEL.search(m.group(0))
    return f"\n{label.group(1) or label.group(2)}\n" if label and not m.group(0).startswith("</") else ""


def mdx_to_markdown(text: str) -> str:
    """An MDX page (Markdown with JSX, as Docusaurus and others write docs) as Markdown: outside code fences,
    ``import``/``export`` blocks and ``{/* … */}`` comments go, and JSX component tags (``<Tabs>``,
    ``<TabItem value="mac">``, ``<DocCardList />``: names starting with a capital) are removed, their text
    kept, and a tag's ``label`` or ``title`` attribute (a tab's name) kept as a line. Front matter and
    everything else are left to the Markdown cleaner.

    Example:
        >>> mdx_to_markdown("import Tabs from '@theme/Tabs';\\n\\n<Tabs><TabItem>Run it.</TabItem></Tabs>")
        'Run it.'
    """
    out: list[str] = []
    for code, lines in fence_runs(text.split("\n")):
        if code:
            out += lines
            continue
        prose: list[str] = []
        esm = False
        for line in lines:
            previous = prose[-1] if prose else out[-1] if out else ""
            if esm or (_MDX_ESM.match(line) and not previous.strip()):
                esm = bool(line.strip())  # an import/export block ends at a blank line
                continue
            prose.append(line)
        out += _JSX_TAG.sub(_jsx_text, _MDX_COMMENT.sub("", "\n".join(prose))).split("\n") if prose else []
    return "\n".join(out)


# --------------------------------------------------------------------------- PDF

_NUMBERS = re.compile(r"\d+")
_TOC_ENTRY = re.compile(r"(\.\s?){4,}\s*[\divxlc]+\s*$", re.I)  # "2.1 Naming . . . . . 3"
_BULLET = re.compile(r"^\s*[•◦▪‣●○■□–]\s*")
_MARKDOWN_START = re.compile(r"^(#|```|~~~|---|===|:::|!!!)")


def _escaped(text: str) -> str:
    """Text that would read as Markdown syntax at a line start (a ``#`` comment, a ``---`` rule), escaped."""
    return "\\" + text if _MARKDOWN_START.match(text) else text


def _line_key(line: str) -> str:
    return _NUMBERS.sub("#", " ".join(line.split()).lower())


_NUMBERING = re.compile(r"^(?:(?:chapter|section|part|appendix)\s*)?(?:#|[ivxlc]+|[a-z])?(?:[.:)]|\.#)*\s*$")


def _same_heading(line: str, heading: str) -> bool:
    """Whether a line of a page is the bookmark's heading, numbering aside: "Authentication" is "2.1
    Authentication" and "Appendix A Copying" is "A Copying", but "API" is not "REST API"."""
    a, b = _line_key(line), _line_key(heading)
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    if not shorter or not longer.endswith(shorter):
        return False
    rest = longer[: len(longer) - len(shorter)]
    return not rest or (rest.endswith(" ") and bool(_NUMBERING.match(rest)))


def _pdf_outline(reader) -> dict[int, list[tuple[int, str]]]:
    """The PDF's bookmarks as ``{page index: [(depth, title), …]}`` (empty when it has none)."""
    found: dict[int, list[tuple[int, str]]] = {}

    def walk(items, depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001 - a broken bookmark is skipped, the text is still read
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            if title and page is not None and page >= 0:
                found.setdefault(page, []).append((depth, title))

    try:
        walk(reader.outline, 0)
    except Exception:  # noqa: BLE001 - an unreadable outline leaves the pages without headings
        return {}
    return found


def _page_labels(reader) -> list[str]:
    """The pages' printed numbers (the PDF's page labels: "iv", "12", "A-3"), else 1, 2, 3…"""
    try:
        return [str(label) for label in reader.page_labels]
    except Exception:  # noqa: BLE001 - broken label trees fall back to counting pages
        return [str(n + 1) for n in range(len(reader.pages))]


def pdf_to_markdown(data: bytes) -> tuple[str, str]:
    """A PDF's text layer as ``(title, markdown)`` (pypdf).

    Lines repeated on many pages (running headers and footers, page numbers) and table-of-contents entries
    go; the PDF's bookmarks become headings where they point; lines are joined into paragraphs (a short
    line ending a sentence closes one; bullets start list items) and words hyphenated across lines are
    rejoined. Before the first paragraph of each page stands its :func:`page_mark` (the page's printed label),
    so passages know the page they start on. The title is the document's ``/Title`` metadata, else its first
    line. A scanned PDF has no text layer and gives no paragraph: the loader reports it.

    Raises:
        ValueError: for a file pypdf cannot read, or an encrypted one it cannot open without a password.
    """
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on slightly broken files are not the user's
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValueError("the PDF is encrypted; save a copy without a password")
        pages = [(page.extract_text() or "").split("\n") for page in reader.pages]
        outline = _pdf_outline(reader)
        labels = _page_labels(reader)
        meta = reader.metadata
        title = " ".join(str(meta.title or "").split()) if meta is not None else ""
    except (PyPdfError, KeyError, TypeError, AttributeError, OSError) as e:  # pypdf's errors on broken files
        raise ValueError(f"not a readable PDF ({type(e).__name__}: {e})") from e
    counts = Counter(k for lines in pages for k in {_line_key(x) for x in lines if x.strip()})
    limit = max(3, 0.3 * len(pages))
    repeated = {k for k, c in counts.items() if c >= limit} if len(pages) >= 3 else set()
    first = next((x.strip() for lines in pages for x in lines if x.strip()), "")
    stream: list[tuple[str, int]] = []  # (line, page index)
    for n, lines in enumerate(pages):
        kept = [x.strip() for x in lines if x.strip() and _line_key(x) not in repeated and not x.strip().isdigit()]
        kept = [_escaped(x) for x in kept]  # a "# comment" is no heading
        for depth, heading in outline.get(n, []):
            mark = f"{'#' * min(depth + 1, 6)} {heading}"
            at = next((i for i, x in enumerate(kept) if _same_heading(x, heading)), None)
            if at is None:
                stream.append((mark, n))
            else:
                stream += [(x, n) for x in kept[:at]] + [(mark, n)]
                kept = kept[at + 1 :]
        stream += [(x, n) for x in kept]
    blocks, shown = [], None
    for para, n in _pdf_paragraphs(stream):
        if n != shown:
            blocks.append(page_mark(labels[n] if n < len(labels) else str(n + 1)))
            shown = n
        blocks.append(para)
    return title or first[:100], "\n\n".join(blocks)


def page_mark(label: str) -> str:
    """The comment line that says the paragraphs after it start on page ``label`` (read by the chunker)."""
    return f"<!-- page {' '.join(label.split()) or '?'} -->"


def _pdf_paragraphs(stream: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Lines of text with their page (``#`` headings among them; text lines that would read as Markdown syntax
    come escaped) joined into paragraphs and list items, each with the page of its first line."""
    widths = sorted(len(x) for x, _ in stream if not x.startswith("#"))
    typical = widths[len(widths) * 3 // 4] if widths else 80
    out: list[tuple[str, int]] = []
    para, start = "", 0

    def flush() -> None:
        nonlocal para
        if para.strip():
            out.append((para, start))
        para = ""

    for line, page in stream:
        if line.startswith("#"):
            flush()
            out.append((line, page))
            continue
        if _TOC_ENTRY.search(line):
            continue
        if _BULLET.match(line):
            flush()
            para, line = "- ", _BULLET.sub("", line)
        if para in ("", "- "):
            start = page
        if para.endswith("-") and line[:1].islower() and para[-2:-1].isalpha():
            para = para[:-1] + line
        else:
            para = para + line if para in ("", "- ") else f"{para} {line}"
        if line.endswith((".", ":", "!", "?")) and len(line) < 0.8 * typical:
            flush()
    flush()
    return out


# --------------------------------------------------------------------------- Word (.docx)

_DOCX_HEADING = re.compile(r"^heading (\d)$", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


_NOTE_MARKS = {f"{_W}footnoteReference": "[{}]", f"{_W}endnoteReference": "[E{}]"}


def _docx_text(element) -> str:
    """The text of a Word paragraph or cell, tracked insertions included (python-docx's ``.text`` leaves out
    runs inside ``<w:ins>``); deleted text is held in ``w:delText`` and stays out. Tabs and breaks are spaces;
    a footnote reference is ``[1]``, an endnote's ``[E1]`` (their text is in :func:`_docx_notes`)."""
    parts = []
    for node in element.iter(f"{_W}t", f"{_W}tab", f"{_W}br", *_NOTE_MARKS):
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        else:
            mark = _NOTE_MARKS[node.tag].format(node.get(f"{_W}id")) if node.tag in _NOTE_MARKS else " "
            parts.append(mark.replace("[", "\\[").replace("]", "\\]"))  # escaped: "[1][E1]" is no Markdown link
    return " ".join("".join(parts).split())


def _docx_notes(document) -> list[str]:
    """The document's footnotes (``[1] text``) and endnotes (``[E1] text``), in the order they are stored."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from lxml import etree

    notes = []
    for reltype, tag in ((RT.FOOTNOTES, "footnote"), (RT.ENDNOTES, "endnote")):
        mark = _NOTE_MARKS[f"{_W}{tag}Reference"]
        for rel in document.part.rels.values():
            if rel.reltype != reltype or rel.is_external:
                continue
            for note in etree.fromstring(rel.target_part.blob).iter(f"{_W}{tag}"):
                if note.get(f"{_W}type") not in (None, "normal"):  # separators between the text and the notes
                    continue
                text = " ".join(t for p in note.iter(f"{_W}p") if (t := _docx_text(p)))
                notes += [f"{mark.format(note.get(f'{_W}id'))} {text}"] if text else []
    return notes


def docx_to_markdown(data: bytes) -> tuple[str, str]:
    """A Word document's text as ``(title, markdown)`` (python-docx), in reading order.

    Paragraphs styled ``Heading 1`` … ``Heading 6`` become headings, list paragraphs (a ``List`` style or
    numbering) list items, tables one ``a | b`` row per line (a merged cell once). The title is the
    document's core property ``title``, else its first ``Title``-styled paragraph. Tracked insertions are
    read as text. Footnotes and endnotes are marked where they are referenced (``[1]``, ``[E1]``) and their
    text closes the document, under a ``Notes`` heading. Headers, footers, comments and tracked deletions
    are not read.

    Raises:
        ValueError: for a file python-docx cannot open (not a ``.docx``, damaged, or password-protected).
    """
    import io
    import zipfile

    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise ValueError(f"not a readable Word document ({type(e).__name__}: {e}); save it again as .docx") from e
    title = " ".join((document.core_properties.title or "").split())
    blocks: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells = [_docx_text(c._tc) for c in row.cells]
                cells = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]
                rows += [_escaped(" | ".join(cells))] if cells else []
            blocks += ["\n".join(rows)] if rows else []
            continue
        text = _docx_text(block._p)
        if not text:
            continue
        style = block.style.name if block.style is not None else ""
        heading = _DOCX_HEADING.match(style)
        if style == "Title":
            title = title or text
            blocks.append(f"# {text}")
        elif heading:
            blocks.append(f"{'#' * min(int(heading.group(1)), 6)} {text}")
        elif style.startswith("List") or block._p.pPr is not None and block._p.pPr.numPr is not None:
            blocks.append(f"- {text}")
        else:
            blocks.append(_escaped(text))
    notes = _docx_notes(document)
    blocks += ["# Notes", *notes] if notes else []
    return title, "\n\n".join(blocks)


# --------------------------------------------------------------------------- PowerPoint (.pptx)


def _pptx_shapes(shapes):
    """The slide's shapes in reading order (top to bottom, then left to right), groups opened."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    def place(shape):
        return (shape.top if shape.top is not None else 0, shape.left if shape.left is not None else 0)

    for shape in sorted(shapes, key=place):
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _pptx_shapes(shape.shapes)
        else:
            yield shape


def _pptx_blocks(shape) -> list[str]:
    """One shape's text: a table one ``a | b`` row per line (a merged cell once), a content placeholder's
    paragraphs list items (indented by level), any other text box its paragraphs."""
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = []
        for row in shape.table.rows:
            cells = [" ".join(c.text.split()) for c in row.cells if not c.is_spanned]
            rows += [_escaped(" | ".join(c for c in cells if c))] if any(cells) else []
        return ["\n".join(rows)] if rows else []
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return []
    items = shape.is_placeholder and len([p for p in shape.text_frame.paragraphs if p.text.strip()]) > 1
    blocks = []
    for para in shape.text_frame.paragraphs:
        text = " ".join(para.text.split())
        if text:
            blocks.append(f"{'  ' * para.level}- {text}" if items else _escaped(text))
    return ["\n".join(blocks)] if items and blocks else blocks


def pptx_to_markdown(data: bytes) -> tuple[str, str]:
    """A PowerPoint deck's text as ``(title, markdown)`` (python-pptx): one ``#`` section per slide, headed by
    the slide's title (``Slide N`` when it has none), its text boxes and tables in reading order, then its
    speaker notes, which often hold the prose the slide only hints at. A content placeholder with several
    paragraphs becomes a list. The title is the deck's core property ``title``, else its first slide's title.
    Pictures and charts carry no text and are left out.

    Raises:
        ValueError: for a file python-pptx cannot open (not a ``.pptx``, damaged, or password-protected).
    """
    import io
    import zipfile

    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    try:
        deck = Presentation(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, OSError) as e:
        raise ValueError(f"not a readable PowerPoint file ({type(e).__name__}: {e}); save it again as .pptx") from e
    title = " ".join((deck.core_properties.title or "").split())
    sections: list[str] = []
    for n, slide in enumerate(deck.slides, start=1):
        head = slide.shapes.title
        heading = " ".join(head.text.split()) if head is not None and head.has_text_frame else ""
        title = title or heading
        skip = head.shape_id if head is not None else None
        body = [b for shape in _pptx_shapes(slide.shapes) if shape.shape_id != skip for b in _pptx_blocks(shape)]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.split("\n")
            body += [_escaped(" ".join(x.split())) for x in notes if x.strip()]
        if body or heading:
            sections.append("\n\n".join([f"# {heading or f'Slide {n}'}", *body]))
    return title, "\n\n".join(sections)


# --------------------------------------------------------------------------- Jupyter notebooks (.ipynb)


def ipynb_to_markdown(text: str) -> str:
    """A Jupyter notebook as Markdown: its Markdown cells as they are, its code cells as fenced code in the
    notebook's language; outputs and raw cells are left out (they are results, not documentation).

    Raises:
        ValueError: for a file that is not a notebook's JSON.
    """
    import json

    try:
        nb = json.loads(text)
        cells = nb["cells"]
        language = nb.get("metadata", {}).get("language_info", {}).get("name", "") or ""
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"not a Jupyter notebook ({type(e).__name__}: {e})") from e
    blocks = []
    for cell in cells:
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        source = "".join(source) if isinstance(source, list) else str(source)
        if not source.strip():
            continue
        if cell.get("cell_type") == "markdown":
            blocks.append(source.strip("\n"))
        elif cell.get("cell_type") == "code":
            blocks.append(_fenced(source.strip("\n"), language))
    return "\n\n".join(blocks)
