"""One loader per file format: bytes in, Blocks (paragraphs and headings, in reading order) out.

What it does: Markdown/plain text split into blank-line blocks; PDF read with PDFium, its
lines rejoined into paragraphs from the layout (indents, gaps, short last lines), headings
found by font size, weight or "一、"-style numbering, and running headers, footers and page
numbers dropped; .docx paragraphs with their Heading styles; HTML h1-h6 and text blocks
without the navigation, scripts, styles and footers around them. In every format a block also
says what it is (`kind`): a list item, a table row (cells joined by a tab), a code block (its
lines kept), or body text, so chunking can keep short fragments with their lead-in. Every library error
becomes one InputError sentence naming the file. What it does not do: titles, bylines,
metadata, sections or page-break repair between blocks; documents.py does those for all
formats alike.
"""

from __future__ import annotations

import ctypes
import io
import math
import re
import statistics
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import PurePath

import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from bs4 import (
    BeautifulSoup,
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    ProcessingInstruction,
    Tag,
    UnicodeDammit,
    XMLParsedAsHTMLWarning,
)
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from lxml import etree
from lxml.etree import XMLSyntaxError
from markdown_it import MarkdownIt

from qa.errors import InputError
from qa.text.language import CJK
from qa.text.numerals import DIGITS
from qa.text.sentences import BULLET_SIGN, ends_sentence, join_pieces
from qa.text.terms import is_english_word


@dataclass(frozen=True)
class InputLimits:
    """How much work one file may cause, whatever its size on disk: .docx and .pdf are
    compressed, and HTML's cost grows with its tags. Each limit is checked before the expensive
    step it guards, and the text a file yields is checked after (QA_MAX_* settings)."""

    expanded_bytes: int = 200_000_000
    pdf_pages: int = 2000
    elements: int = 200_000
    text_chars: int = 5_000_000


DEFAULT_LIMITS = InputLimits()


@dataclass(frozen=True)
class Block:
    """A paragraph or heading as the format gives it; offsets are filled in for text formats only."""

    text: str
    level: int = 0  # heading level 1-6; 0 for a paragraph
    page: int = 0  # 1-based page where the block starts, for paged formats
    start: int = 0
    end: int = 0
    kind: str = "body"  # body | item (list item) | term (a definition list's label) | row (table row) | code


CELL_SEPARATOR = "\t"  # whitespace, so a quote across cells still matches the row
# A list item's marker: a bullet sign, or in Markdown also a number or letter with "." or ")"
# (in a PDF "1. Introduction" is more often a heading than an item).
BULLET = re.compile(rf"{BULLET_SIGN.pattern}|^\s*(?:\d{{1,2}}|[a-z])[.)](?=\s)")


def join_lines(lines: list[str]) -> str:
    joined = ""
    for line in lines:
        joined = join_pieces(joined, line.strip()) if joined else line.strip()
    return joined


# --- Markdown and plain text --------------------------------------------------------------


MD_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE)
MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")


def markdown_blocks(text: str, markup: bool = False) -> list[Block]:
    """Blocks are runs of non-blank lines, offsets into `text`; "#" lines are headings, fenced
    code is one code block, and a run that is a bulleted list or a table gives one block a line.
    `markup` (a Markdown file, not plain text): each block's text is what a reader of the rendered
    page sees (_rendered)."""
    env: dict = {}
    if markup:
        text, env = _unseen_blanked(text)
    blocks: list[Block] = []
    position = 0
    for fence in MD_FENCE.finditer(text):
        blocks.extend(_markdown_runs(text, position, fence.start()))
        code = fence.group(2).strip("\n")
        if code.strip():
            blocks.append(Block(code, start=fence.start(2), end=fence.end(2), kind="code"))
        position = fence.end()
    blocks.extend(_markdown_runs(text, position, len(text)))
    if not markup:
        return blocks
    rendered = (
        block if block.kind == "code" else replace(block, text=_rendered(block.text, env)) for block in blocks
    )
    return [block for block in rendered if block.text.strip()]


# Markdown as its readers see it, by markdown-it-py (the CommonMark parser): "[`"main"`][]" reads
# "main", "[HackerOne](https://hackerone.com/nodejs)" reads "HackerOne (https://…)", and an HTML
# comment ("<!-- YAML added: v0.6.9 -->", as every Node.js API page carries) is not read at all.
_MARKDOWN = MarkdownIt("commonmark")
# Inline HTML tags a page uses for looks; any other <word> ("user_<date>") is text the writer meant.
_INLINE_TAGS = frozenset(
    ("a", "abbr", "b", "big", "br", "cite", "code", "del", "dfn", "em", "font", "i", "img", "ins", "kbd")
    + ("mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "u", "var")
)
_TAG_NAME = re.compile(r"</?([a-z][a-z0-9]*)", re.IGNORECASE)


def _unseen_blanked(text: str) -> tuple[str, dict]:
    """The source with what a reader never sees (HTML comment blocks, link reference definitions,
    a quotation's "> " marks) turned to spaces, its length and line breaks kept so offsets still
    point into the file; and the parser's environment, which holds the references for the links
    that use them."""
    env: dict = {}
    tokens = _MARKDOWN.parse(text, env)
    hidden = [
        token.map
        for token in tokens
        if token.type == "html_block" and token.map and _is_comment(token.content)
    ]
    hidden += [reference["map"] for reference in env.get("references", {}).values() if reference.get("map")]
    quoted = [token.map for token in tokens if token.type == "blockquote_open" and token.map]
    if not hidden and not quoted:
        return text, env
    starts = [0, *(match.end() for match in re.finditer("\n", text)), len(text)]
    chars = list(text)
    for first, last in hidden:
        for index in range(starts[first], starts[min(last, len(starts) - 1)]):
            if chars[index] != "\n":
                chars[index] = " "
    for first, last in quoted:  # a quotation's "> " marks, not its text
        for line in range(first, min(last, len(starts) - 1)):
            mark = _QUOTE_MARK.match(text, starts[line])
            if mark:
                chars[mark.start() : mark.end()] = " " * (mark.end() - mark.start())
    return "".join(chars), env


_QUOTE_MARK = re.compile(r"[ \t]*(?:>[ \t]?)+")


def _is_comment(html: str) -> bool:
    return html.lstrip().startswith("<!--")


def _rendered(text: str, env: dict) -> str:
    """A block's Markdown as read: emphasis, code marks and link brackets gone, a link to a web
    address followed by the address in brackets (unless its text is the address), an image by
    its alternative text, inline HTML tags and comments dropped."""
    out: list[str] = []
    links: list[tuple[str, int]] = []  # open links: address, where their text starts in `out`
    for token in _MARKDOWN.parseInline(text, env)[0].children or []:
        if token.type in ("text", "code_inline"):
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif token.type == "image":
            out.append(token.content)
        elif token.type == "link_open":
            links.append((str(token.attrs.get("href", "")), len(out)))
        elif token.type == "link_close" and links:
            address, start = links.pop()
            shown = "".join(out[start:])
            if (
                re.match(r"(?:https?|ftp)://|mailto:", address)
                and address.removeprefix("mailto:") not in shown
            ):
                out.append(f" ({address.removeprefix('mailto:')})")
        elif token.type == "html_inline":
            tag = _TAG_NAME.match(token.content)
            if not _is_comment(token.content) and not (tag and tag.group(1).lower() in _INLINE_TAGS):
                out.append(token.content)
    return re.sub(r"[ \t]{2,}", " ", "".join(out)).strip()


def _markdown_runs(text: str, start: int, end: int) -> list[Block]:
    blocks: list[Block] = []
    for match in re.finditer(r"[^\n]*\S[^\n]*(?:\n[^\n]*\S[^\n]*)*", text[start:end]):
        lines = match.group(0).split("\n")
        offset = start + match.start()
        if all(line.lstrip().startswith("|") for line in lines) and len(lines) >= 2:
            blocks.extend(_markdown_rows(lines, offset))
        elif BULLET.match(lines[0]) and not re.match(r"^\s*[-*+]{3,}\s*$", lines[0]):
            blocks.extend(_markdown_items(lines, offset))
        else:
            joined = join_lines(lines)
            heading = re.match(r"^(#{1,6})\s+(.+)$", joined)
            level, joined = (len(heading.group(1)), heading.group(2).strip()) if heading else (0, joined)
            blocks.append(Block(joined, level, start=offset, end=offset + len(match.group(0))))
    return blocks


def _markdown_items(lines: list[str], offset: int) -> list[Block]:
    """One item a marker line; an unmarked line continues the item above it."""
    items: list[tuple[int, int, list[str]]] = []
    position = offset
    for line in lines:
        if BULLET.match(line) or not items:
            items.append((position, position + len(line), [line]))
        else:
            begin, _, pieces = items[-1]
            items[-1] = (begin, position + len(line), [*pieces, line])
        position += len(line) + 1
    return [Block(join_lines(pieces), start=a, end=b, kind="item") for a, b, pieces in items]


def _markdown_rows(lines: list[str], offset: int) -> list[Block]:
    rows, position = [], offset
    for line in lines:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not MD_TABLE_RULE.match(line) and any(cells):
            rows.append(
                Block(CELL_SEPARATOR.join(cells), start=position, end=position + len(line), kind="row")
            )
        position += len(line) + 1
    return rows


# --- Word .docx ---------------------------------------------------------------------------

DOCX_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-6])$", re.IGNORECASE)


def docx_blocks(data: bytes, name: str, limits: InputLimits = DEFAULT_LIMITS) -> list[Block]:
    """Body paragraphs and table cells in order; Title and Heading N styles become headings."""
    unreadable = f"{name} is not a readable Word .docx file (damaged, or another format renamed .docx)."
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        expanded = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as error:
        raise InputError(unreadable) from error
    if expanded > limits.expanded_bytes:
        raise InputError(
            f"{name} unzips to {expanded / 1e6:.0f} MB, over the {limits.expanded_bytes / 1e6:.0f} MB "
            "limit (QA_MAX_EXPANDED_MB)."
        )
    try:
        _check_docx_parts(archive, name, limits)
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, XMLSyntaxError) as error:
        raise InputError(unreadable) from error
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks.extend(_table_rows(item))
            continue
        text = join_lines(item.text.replace("\t", " ").split("\n"))
        if text:
            level = _docx_level(item.style)
            kind = "item" if not level and _docx_listed(item) else "body"
            blocks.append(Block(text, level, kind=kind))
    if not blocks:
        raise InputError(f"{name} is a Word document with no text in it.")
    return blocks


WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
DOCX_BODY = "word/document.xml"
XML_PER_BLOCK = 25  # XML elements a Word paragraph may take (runs, properties, bookmarks): a bound, not a fit


def _check_docx_parts(archive: zipfile.ZipFile, name: str, limits: InputLimits) -> None:
    """Count what python-docx would build before it builds it: a 0.6 MB .docx can unzip to
    5 million tiny paragraphs, which python-docx holds as a tree of several GB. Each XML part is
    streamed and forgotten as it goes, and the first limit passed stops the count: paragraphs and
    table rows of the body (QA_MAX_FILE_ELEMENTS), the characters of its text (QA_MAX_TEXT_CHARS),
    and the elements of any part (XML_PER_BLOCK per paragraph allowed)."""
    most_elements = limits.elements * XML_PER_BLOCK
    for member in archive.infolist():
        if not member.filename.endswith((".xml", ".rels")):
            continue
        blocks = elements = chars = 0
        body = member.filename == DOCX_BODY
        with archive.open(member) as stream:
            for _, element in etree.iterparse(stream, events=("end",), resolve_entities=False):
                elements += 1
                tag = element.tag
                if body and tag in (f"{WORD}p", f"{WORD}tr"):
                    blocks += 1
                elif body and tag == f"{WORD}t":
                    chars += len(element.text or "")
                element.clear()  # counted: forget it and the siblings before it
                while element.getprevious() is not None:
                    del element.getparent()[0]
                if blocks > limits.elements:
                    raise InputError(
                        f"{name} holds over {limits.elements:,} paragraphs and rows, over the limit "
                        "(QA_MAX_FILE_ELEMENTS)."
                    )
                if chars > limits.text_chars:
                    raise InputError(
                        f"{name} holds over {limits.text_chars:,} characters of text, over the limit "
                        "(QA_MAX_TEXT_CHARS)."
                    )
                if elements > most_elements:
                    raise InputError(
                        f"{name} has over {most_elements:,} XML elements in {member.filename}, over "
                        f"{XML_PER_BLOCK} for each of the {limits.elements:,} paragraphs allowed "
                        "(QA_MAX_FILE_ELEMENTS)."
                    )


def _table_rows(table: Table) -> list[Block]:
    """One row block a table row, its cells joined; a merged cell repeats in every row and
    column it spans, so it is taken once. The cell elements themselves are kept, not their
    id(): lxml frees an element's proxy once nothing holds it, and a later cell's proxy may
    then reuse the id, which dropped that cell as if it were merged."""
    seen, rows = set(), []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            if cell._tc not in seen:
                seen.add(cell._tc)
                cells.append(join_lines(cell.text.replace("\t", " ").split("\n")))
        if any(cells):
            rows.append(Block(CELL_SEPARATOR.join(cell for cell in cells if cell), kind="row"))
    return rows


def _docx_listed(paragraph) -> bool:
    """A numbered or bulleted paragraph: numbering in its properties or a List style."""
    properties = paragraph._p.pPr
    if properties is not None and properties.numPr is not None:
        return True
    style = paragraph.style
    return bool(style is not None and (style.name or "").lower().startswith("list"))


def _docx_level(style) -> int:
    """The heading level of a paragraph style or of the style it is based on; 0 for body text."""
    while style is not None:
        name = (style.name or "").strip()
        if name.lower() in ("title", "标题"):
            return 1
        match = DOCX_HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
        style = style.base_style
    return 0


# --- HTML ---------------------------------------------------------------------------------

HTML_DROPPED = [
    "head", "script", "style", "noscript", "template", "nav", "footer", "aside",
    "form", "button", "select", "iframe", "svg", "canvas", "object", "embed",
]  # fmt: skip
HTML_BLOCKS = {
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "div", "dl",
    "dt", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
HTML_NAV_CLASSES = {
    "nav",
    "navbar",
    "navigation",
    "docnav",
    "navheader",
    "navfooter",
    "breadcrumb",
    "breadcrumbs",
    # a table of contents (DocBook's, MediaWiki's, Sphinx's): the page's headings again, as links
    "toc",
    "table-of-contents",
    "toctree-wrapper",
}
HTML_SKIPPED_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)
# A site's own chrome around the page's text, by ARIA landmark role or by the ids sites give it
# ("Download the ebook" in every handbook page's <div id="banner">).
HTML_CHROME_ROLES = {"banner", "navigation", "contentinfo", "search"}
HTML_CHROME_IDS = {
    "banner", "masthead", "topbar", "site-header", "site-footer", "navbar", "sidebar", "toc", "TOC",
    "table-of-contents",
}  # fmt: skip


def _is_site_chrome(tag: Tag) -> bool:
    return tag.get("role") in HTML_CHROME_ROLES or tag.get("id") in HTML_CHROME_IDS


# A list whose text is nearly all links to places in the page itself is its table of contents,
# class or none (DocBook's FAQ lists its questions so; a README its sections): quoted, its entries
# answered questions with the headings of other answers.
IN_PAGE_LINKED = 0.7  # share of the list's characters inside such links
IN_PAGE_ENTRIES = 2


def _is_contents_list(tag: Tag, page: str) -> bool:
    links = [a for a in tag.find_all("a", href=True) if _links_into(a["href"], page)]
    if len(links) < IN_PAGE_ENTRIES:
        return False
    linked = sum(len(a.get_text(strip=True)) for a in links)
    return linked >= IN_PAGE_LINKED * len(tag.get_text(strip=True))


def _links_into(href: str, page: str) -> bool:
    """Whether a link points at a place in the page named `page` ("#intro", "faq.html#faq.why")."""
    target, hash_, _ = href.partition("#")
    return bool(hash_) and target in ("", page)


def html_blocks(data: bytes, name: str, limits: InputLimits = DEFAULT_LIMITS) -> list[Block]:
    """The text of <main> (or <article>, or <body>) without its boilerplate; h1-h6 are headings."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name} looks like a binary file, not HTML.")
    tags = data.count(b"<") - data.count(b"</")  # opening tags bound the elements; counted unparsed
    if tags > limits.elements:
        raise InputError(
            f"{name} has about {tags:,} tags, over the {limits.elements:,} limit (QA_MAX_FILE_ELEMENTS)."
        )
    visible = _visible_chars(UnicodeDammit(data, is_html=True).unicode_markup or "")
    if visible > limits.text_chars:
        raise InputError(
            f"{name} holds about {visible:,} characters of text, over the {limits.text_chars:,} limit "
            "(QA_MAX_TEXT_CHARS)."
        )
    with warnings.catch_warnings():  # XHTML pages (the Debian handbook's) read well as HTML
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(data, "lxml")
    title = join_lines(soup.title.get_text().split("\n")) if soup.title else ""
    root = soup.find("main") or soup.find("article") or soup.body or soup
    for tag in root.find_all(HTML_DROPPED):
        tag.decompose()
    for tag in root.find_all(class_=lambda names: bool(names and HTML_NAV_CLASSES & set(names.split()))):
        tag.decompose()  # previous/next/up links or a table of contents, marked by class, not <nav>
    for tag in root.find_all(_is_site_chrome):
        tag.decompose()  # the site's banner, search box or footer, marked by id or ARIA role
    for header in root.find_all("header"):
        if not header.find("h1"):
            header.decompose()  # a site banner, not the article's own heading
    page = PurePath(name).name
    for tag in root.find_all(("ul", "ol", "dl")):
        if not tag.decomposed and _is_contents_list(tag, page):
            tag.decompose()
    blocks = _HtmlWalker(_layout_rows(root)).blocks(root)
    if title and not any(block.level == 1 for block in blocks):
        blocks.insert(0, Block(title, 1))
    if not blocks:
        raise InputError(f"{name} has no text outside navigation, scripts and styles.")
    return blocks


_RAW_TEXT_END = {name: re.compile(rf"</{name}", re.IGNORECASE) for name in ("script", "style")}
_SPACES = " \t\n\r\f\v\xa0\u3000"
_RAW_TEXT_START = re.compile(r"(script|style)\b", re.IGNORECASE)


def _visible_chars(markup: str) -> int:
    """Characters outside tags, comments, scripts and styles, whitespace not counted: about
    the text a page yields, counted in one pass without parsing it, so a 50 MB page of one
    paragraph is refused in a second instead of parsed into a gigabyte first."""
    count, position, size = 0, 0, len(markup)
    while position < size:
        start = markup.find("<", position)
        text_end = size if start < 0 else start
        count += text_end - position - sum(markup.count(space, position, text_end) for space in _SPACES)
        if start < 0:
            break
        raw = _RAW_TEXT_START.match(markup, start + 1)
        if markup.startswith("<!--", start):
            close, skip = markup.find("-->", start + 4), 3
        elif raw:
            found = _RAW_TEXT_END[raw.group(1).lower()].search(markup, start)
            close, skip = (found.end(), 0) if found else (-1, 0)
        else:
            close, skip = markup.find(">", start + 1), 1
        position = size if close < 0 else close + skip
    return count


HTML_KINDS = {"li": "item", "dt": "term", "dd": "item", "pre": "code"}  # a term travels with its description
# A table whose cells hold paragraphs, code, lists, headings or tables of their own lays out a page
# (DocBook sets every FAQ so: a row for each question, one for its answer): read as blocks.
LAYOUT_CONTENT = ["pre", "table", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5", "h6"]
LAYOUT_PARAGRAPHS = ["p", "div"]


def _layout_rows(root: Tag) -> dict[int, bool]:
    """The rows (by id) of every table used for layout, not for data, each with whether it holds
    blocks of its own (else its cells are short: a paragraph)."""
    rows: dict[int, bool] = {}
    for table in root.find_all("table"):
        own = {id(row): any(_holds_blocks(cell) for cell in _cells(row)) for row in _own_rows(table)}
        if any(own.values()):
            rows.update(own)
    return rows


def _own_rows(table: Tag) -> list[Tag]:
    sections = [table, *table.find_all(["thead", "tbody", "tfoot"], recursive=False)]
    return [row for section in sections for row in section.find_all("tr", recursive=False)]


def _cells(row: Tag) -> list[Tag]:
    return row.find_all(["td", "th"], recursive=False)


def _holds_blocks(cell: Tag) -> bool:
    return cell.find(LAYOUT_CONTENT) is not None or len(cell.find_all(LAYOUT_PARAGRAPHS, limit=2)) > 1


class _HtmlWalker:
    """Collects inline text until a block element starts or ends, as a browser lays it out.
    Inside li/dt/dd the blocks are list items, inside pre code (lines kept); a tr is one row,
    except in a table that lays out the page (`layout_rows`): there a row holding blocks is walked
    like any other block, and a row of short cells is a paragraph ("4.5. | Why doesn't…?")."""

    def __init__(self, layout_rows: dict[int, bool] | None = None) -> None:
        self.pieces: list[str] = []
        self.found: list[Block] = []
        self.layout_rows = layout_rows or {}

    def blocks(self, root: Tag) -> list[Block]:
        self._walk(root)
        self._flush(0, "body")
        return self.found

    def _walk(self, root: Tag) -> None:
        """Depth-first with an explicit stack, so a page nested 100,000 levels deep is read like
        any other instead of overflowing Python's recursion limit. Each entry carries the heading
        level and block kind its text gets, and what to flush when it closes."""
        stack: list[tuple[Iterator, int, str, tuple[int, str] | None]] = [
            (iter(root.children), 0, "body", None)
        ]
        while stack:
            children, level, kind, closes = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                if closes is not None:
                    self._flush(*closes)
                continue
            if isinstance(child, HTML_SKIPPED_STRINGS):
                continue
            if isinstance(child, NavigableString):
                self.pieces.append(str(child))
            elif child.name == "br":
                self.pieces.append("\n")
            elif child.name == "tr" and kind != "code" and id(child) in self.layout_rows:
                self._flush(level, kind)
                if self.layout_rows[id(child)]:  # a row holding blocks of its own
                    stack.append((iter(child.children), level, kind, (level, kind)))
                else:
                    self._row(child, kind)
            elif child.name == "tr" and kind != "code":
                self._flush(level, kind)
                self._row(child)
            elif child.name in HTML_BLOCKS:
                inner = int(child.name[1]) if re.fullmatch(r"h[1-6]", child.name) else level
                inner_kind = kind if kind == "code" else HTML_KINDS.get(child.name, kind)
                self._flush(level, kind)
                stack.append((iter(child.children), inner, inner_kind, (inner, inner_kind)))
            else:
                stack.append((iter(child.children), level, kind, None))

    def _row(self, row: Tag, kind: str = "row") -> None:
        """A table's row as one block of its cells; of a layout table, as a `kind` block."""
        cells = []
        for cell in _cells(row):
            text = re.sub(r"\s+", " ", cell.get_text()).strip()  # no walker: a cell may nest deep
            if text:
                cells.append(text)
        if cells:
            separator = CELL_SEPARATOR if kind == "row" else " "
            self.found.append(Block(separator.join(cells), kind=kind))

    def _flush(self, level: int, kind: str) -> None:
        raw = "".join(self.pieces)
        self.pieces = []
        if kind == "code" and not level:
            lines = [line.rstrip() for line in raw.replace("\r", "").split("\n") if line.strip()]
            if lines:
                self.found.append(Block("\n".join(lines), kind="code"))
            return
        # A line break in the source is joined like a wrapped line; other whitespace is one space.
        lines = [re.sub(r"\s+", " ", line).strip() for line in re.split(r"[ \t\f\v]*[\n\r]\s*", raw)]
        text = join_lines([line for line in lines if line])
        if text:
            self.found.append(Block(text, level, kind="body" if level else kind))


# --- PDF ----------------------------------------------------------------------------------

PAGE_NUMBER = re.compile(
    r"^(?:[-–—~·•\s]*\d{1,4}[-–—~·•\s]*"
    r"|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"
    r"|(?:page|p\.?)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?"
    r"|\d{1,4}\s*/\s*\d{1,4}"
    r"|[ivxlc]{1,7})$",
    re.IGNORECASE,
)
NUMBERED_HEADING = re.compile(
    rf"^(?:[{DIGITS}百]+、|[（(][{DIGITS}]+[）)]"
    rf"|第[{DIGITS}百\d]+[章节部分篇]|\d+\.(?:\d+\.?)*\s+\S)"
)
BOLD_WEIGHT = 600
FIXED_PITCH = 1  # PDFium font flag: a monospace font, which typeset manuals use for code
CODE_SHARE = 0.8  # a line this much in monospace is code; prose names commands in it too
MONO_LETTERS = 8  # Latin letters a line needs before their widths tell a monospace font
MONO_SPREAD = 0.03  # their widths' deviation, as a share of the mean, in one (0.2 and more in prose)


@dataclass(frozen=True)
class _Char:
    text: str
    left: float
    right: float
    top: float  # from the top of the page
    size: float
    bold: bool
    mono: bool = False


@dataclass(frozen=True)
class _Line:
    page: int
    text: str
    x0: float
    x1: float
    top: float
    size: float
    bold: bool
    first_word: float  # width of the first word (one character of CJK): what a short line had room for
    mono: bool = False  # mostly set in a monospace font: a line of code
    pitch: float = 0.0  # the width its Latin characters share, if they all have one (_pitch)

    @property
    def bullet(self) -> bool:
        return bool(BULLET_SIGN.match(self.text))


@dataclass(frozen=True)
class _Layout:
    """The body text's font size, right edge and line pitch, measured over the whole document."""

    size: float
    right: float
    pitch: float
    heading_sizes: tuple[float, ...]  # larger than the body, biggest first

    def level(self, line: _Line) -> int:
        if line.mono or line.bullet:
            return 0
        rounded = round(line.size * 2) / 2
        if rounded in self.heading_sizes:
            return self.heading_sizes.index(rounded) + 1
        if line.bold and not ends_sentence(line.text) and len(line.text) <= 60:
            return len(self.heading_sizes) + 1
        return 0


def pdf_blocks(data: bytes, name: str, limits: InputLimits = DEFAULT_LIMITS) -> list[Block]:
    """Paragraphs and headings of a PDF with a text layer, in reading order, each with its page."""
    pages = [_drop_page_edges(lines) for lines in _pdf_lines(data, name, limits.pdf_pages)]
    if not any(pages):
        raise InputError(
            f"{name} has no text layer (a scanned PDF?); run OCR on it first (for example with ocrmypdf)."
        )
    pages = [
        [line for line in page if not _LEADER_ENTRY.search(line.text)] for page in _drop_running_lines(pages)
    ]
    every = [line for page in pages for line in page]
    if sum(len(line.text) for line in every if line.mono) * 2 > sum(len(line.text) for line in every):
        pages = [[replace(line, mono=False) for line in page] for page in pages]  # set all in monospace
    layout = _measure([line for page in pages for line in page])
    lines = _code_around([line for page in pages for line in _drop_page_head(page, layout)])
    blocks: list[Block] = []
    current: list[_Line] = []
    for line in lines:
        if current and _starts_block(current, line, layout):
            blocks.append(_pdf_block(current, layout))
            current = []
        current.append(line)
    if current:
        blocks.append(_pdf_block(current, layout))
    return blocks


def _pdf_lines(data: bytes, name: str, max_pages: int) -> list[list[_Line]]:
    damaged = f"{name} is a damaged or truncated PDF; export or download it again."
    if b"%PDF-" not in data[:1024]:
        raise InputError(f"{name} is not a PDF file (it has no PDF header).")
    if b"%%EOF" not in data[-2048:]:
        raise InputError(damaged)
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if error.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise InputError(
                f"{name} is an encrypted PDF; remove its password and ingest it again."
            ) from error
        raise InputError(damaged) from error
    try:
        if len(document) > max_pages:
            raise InputError(
                f"{name} has {len(document):,} pages, over the {max_pages:,} limit (QA_MAX_PDF_PAGES)."
            )
        return [_page_lines(document[index], index + 1) for index in range(len(document))]
    except pdfium.PdfiumError as error:
        raise InputError(damaged) from error
    finally:
        document.close()


def _page_lines(page: pdfium.PdfPage, number: int) -> list[_Line]:
    """Lines as PDFium orders and breaks them; each character's loose box gives the geometry."""
    textpage = page.get_textpage()
    height = page.get_height()
    lines: list[_Line] = []
    chars: list[_Char] = []
    box, matrix = pdfium_c.FS_RECTF(), pdfium_c.FS_MATRIX()
    flags = ctypes.c_int()
    for index in range(textpage.count_chars()):
        char = chr(pdfium_c.FPDFText_GetUnicode(textpage, index))
        if char in "\r\n\x00\ufffe\uffff":
            lines.extend(_line(chars, number))
            chars = []
            continue
        if not pdfium_c.FPDFText_GetLooseCharBox(textpage, index, ctypes.byref(box)):
            continue
        size = pdfium_c.FPDFText_GetFontSize(textpage, index)
        if pdfium_c.FPDFText_GetMatrix(textpage, index, ctypes.byref(matrix)):
            size *= math.hypot(matrix.c, matrix.d)  # "1 Tf" scaled by the text matrix is common
        bold = pdfium_c.FPDFText_GetFontWeight(textpage, index) >= BOLD_WEIGHT
        pdfium_c.FPDFText_GetFontInfo(textpage, index, None, 0, ctypes.byref(flags))
        mono = bool(flags.value & FIXED_PITCH)
        chars.append(_Char(char, box.left, box.right, height - box.top, size, bold, mono))
    lines.extend(_line(chars, number))
    textpage.close()
    page.close()
    return lines


# PDFium's mark for a hyphen ending a line inside a word ("recom-" / "mended"); the line goes on
# after it in the same run of characters.
LINE_END_HYPHEN = "\x02"
_BROKEN_WORD = re.compile(rf"([^\W\d_]+){LINE_END_HYPHEN}([^\W\d_]+)")


def _rejoined(match: re.Match) -> str:
    """A word broken at a line's end, whole again: "recommended" from "recom-", but "Debian-Edu"
    and "region-wide", whose hyphen is the word's own (a capital after it, or two words that are
    no word together)."""
    left, right = match.groups()
    joined = left + right
    capital_after = left[-1].islower() and right[0].isupper()
    two_words = (
        not is_english_word(joined.lower())
        and is_english_word(left.lower())
        and is_english_word(right.lower())
    )
    return f"{left}-{right}" if capital_after or two_words else joined


def _line(chars: list[_Char], page: int) -> list[_Line]:
    inked = [char for char in chars if not char.text.isspace()]
    text = re.sub(r"\s+", " ", "".join(char.text for char in chars)).strip()
    text = _BROKEN_WORD.sub(_rejoined, text).replace(LINE_END_HYPHEN, "")  # the rest: no word goes on
    if not inked or not text:
        return []
    x0 = min(char.left for char in inked)
    word = re.match(r"[A-Za-z0-9]\S*|.", text).group(0)
    sizes = Counter(round(char.size, 1) for char in inked)
    pitch = _pitch(inked)
    flagged = sum(char.mono for char in inked) >= CODE_SHARE * len(inked)
    return [
        _Line(
            page=page,
            text=text,
            x0=x0,
            x1=max(char.right for char in inked),
            top=min(char.top for char in inked),
            size=sizes.most_common(1)[0][0],
            bold=sum(char.bold for char in inked) * 2 > len(inked),
            first_word=inked[min(len(word), len(inked)) - 1].right - x0,
            mono=(flagged or _fixed_pitch(pitch, inked)) and not BULLET_SIGN.match(text),
            pitch=pitch,
        )
    ]


def _pitch(inked: list[_Char]) -> float:
    """The one width all the line's Latin characters share, when they do (else 0): set in a
    monospace font, which its PDF may not flag as one (TeX's typewriter fonts, as texinfo manuals
    set options and commands). In a proportional font an "i" is a third of an "m"; CJK characters
    are one width in any font, and a CJK font's Latin letters often are too, so a line holding CJK
    is not judged."""
    widths = [char.right - char.left for char in inked if char.text.isascii()]
    if not widths or any(CJK.match(char.text) for char in inked):
        return 0.0
    mean = statistics.fmean(widths)
    return mean if mean > 0 and statistics.pstdev(widths) < MONO_SPREAD * mean else 0.0


def _fixed_pitch(pitch: float, inked: list[_Char]) -> bool:
    """Whether a line of this `pitch` is set in a monospace font by its shape: enough letters of
    one width (digits are one width in most fonts, so a line of numbers shows nothing)."""
    return bool(pitch) and sum(char.text.isascii() and char.text.isalpha() for char in inked) >= MONO_LETTERS


def _code_around(lines: list[_Line]) -> list[_Line]:
    """A short line next to a line of code, its characters as wide as that line's ("BEGIN", "}",
    "..."), is code too: too few letters to tell the font alone."""
    lines = list(lines)
    forward, backward = range(1, len(lines)), range(len(lines) - 2, -1, -1)
    for order, step in ((forward, -1), (backward, 1)):  # from the line before, then the line after
        for i in order:
            near, line = lines[i + step], lines[i]
            same_pitch = near.pitch and abs(line.pitch - near.pitch) <= MONO_SPREAD * near.pitch
            if near.mono and not line.mono and same_pitch and near.page == line.page:
                lines[i] = replace(line, mono=not BULLET_SIGN.match(line.text))
    return lines


# A line of a table of contents or an index: words, a dot leader, a page number ("3.3 Invoking
# asn1Decoding . . . . . 9"). It points at the text; as a heading or a paragraph of its own it
# would outrank the section it names.
_LEADER_ENTRY = re.compile(r"(?:\.\s?){4,}\s*(?:\d+|[ivxlc]+)\s*$", re.IGNORECASE)


def _drop_page_edges(lines: list[_Line]) -> list[_Line]:
    """A bare page number ("3", "- 3 -", "第3页", "Page 3 of 9") at the top or bottom of a page."""
    edges = _edge_lines(lines)
    return [line for line in lines if not (PAGE_NUMBER.match(line.text) and line in edges)]


def _edge_lines(lines: list[_Line]) -> list[_Line]:
    ordered = sorted(lines, key=lambda line: line.top)
    return ordered[:2] + ordered[-2:]


def _running_key(line: _Line) -> tuple[str, int]:
    """Same words at the same height, whatever the page number in them."""
    return re.sub(r"\d+", "#", "".join(line.text.split())), round(line.top / 4)


def _drop_running_lines(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Lines repeated at the top or bottom of many pages are running headers and footers."""
    counts = Counter(key for lines in pages for key in {_running_key(line) for line in _edge_lines(lines)})
    repeated = {key for key, count in counts.items() if count >= 2 and count >= 0.4 * len(pages)}
    kept = []
    for lines in pages:
        edges = _edge_lines(lines)
        kept.append([line for line in lines if not (_running_key(line) in repeated and line in edges)])
    return kept


def _drop_page_head(lines: list[_Line], layout: _Layout) -> list[_Line]:
    """A small line set apart at the very top is a page head even where it does not repeat
    (a one-page file, or the journal's line above a first page)."""
    ordered = sorted(lines, key=lambda line: line.top)
    if len(ordered) < 2:
        return lines
    top, below = ordered[0], ordered[1]
    small = top.size < layout.size - 0.6
    return (
        [line for line in lines if line is not top]
        if small and below.top - top.top > 1.5 * layout.pitch
        else lines
    )


def _measure(lines: list[_Line]) -> _Layout:
    weights: Counter[float] = Counter()
    for line in lines:
        weights[round(line.size * 2) / 2] += len(line.text)
    size = weights.most_common(1)[0][0]
    body = [line for line in lines if abs(line.size - size) < 0.6] or lines
    rights = sorted(line.x1 for line in body)
    steps = [
        b.top - a.top
        for a, b in zip(body, body[1:], strict=False)
        if a.page == b.page and 0 < b.top - a.top < 3 * size
    ]
    heading_sizes = sorted({s for s in weights if s >= size * 1.15}, reverse=True)
    return _Layout(
        size=size,
        right=rights[int(0.9 * (len(rights) - 1))],
        pitch=statistics.median(steps) if steps else size * 1.5,
        heading_sizes=tuple(heading_sizes),
    )


def _starts_block(current: list[_Line], line: _Line, layout: _Layout) -> bool:
    """A new paragraph: another font size or heading level, a larger gap, an indent, or a line
    ended early; a bullet starts an item and a line under its text continues it; monospace
    lines in a row are one code block."""
    previous = current[-1]
    same_page = previous.page == line.page
    if line.bullet:
        return True
    if line.mono and not previous.mono and _wraps(previous, layout):
        return False  # a path or command that wrapped onto the next line of a sentence
    if previous.mono != line.mono:
        return True
    if line.mono:
        return not same_page or line.top - previous.top > 2 * layout.pitch
    previous_level, level = layout.level(previous), layout.level(line)
    if previous_level != level or abs(previous.size - line.size) > 0.6:
        return True
    first = current[0]
    if first.bullet and not level and line.x0 > first.x0 + 0.3 * line.size:
        return False  # indented under the bullet: the item goes on
    if level:
        return not same_page or line.top - previous.top > 2 * line.size  # a wrapped heading continues
    if same_page:
        expected = layout.pitch * max(previous.size, line.size) / layout.size
        if line.top - previous.top > 1.35 * expected:
            return True
    if line.x0 > previous.x0 + 0.5 * line.size:
        return True
    if ends_sentence(previous.text) and NUMBERED_HEADING.match(line.text) and _ends_early(line, layout):
        return True  # "三、..." on a line of its own after a full last line
    return layout.right - previous.x1 > line.first_word + 0.8 * line.size


def _wraps(line: _Line, layout: _Layout) -> bool:
    """A line of prose that ran to the right margin without ending its sentence (a colon
    announces a block of its own)."""
    ended = ends_sentence(line.text) or line.text.endswith((":", "："))
    return not ended and layout.right - line.x1 < 2 * line.size


def _ends_early(line: _Line, layout: _Layout) -> bool:
    return layout.right - line.x1 > 2 * line.size


def _pdf_block(lines: list[_Line], layout: _Layout) -> Block:
    if lines[0].bullet:
        return Block(join_lines([line.text for line in lines]), page=lines[0].page, kind="item")
    if lines[0].mono:
        return Block("\n".join(line.text for line in lines), page=lines[0].page, kind="code")
    text = join_lines([line.text for line in lines])
    level = layout.level(lines[0])
    numbered = len(lines) == 1 and len(text) <= 40 and NUMBERED_HEADING.match(text)
    if not level and numbered and not ends_sentence(text):
        level = len(layout.heading_sizes) + 1  # "一、..." alone on a short line, in the body font
    return Block(text, level, page=lines[0].page)
