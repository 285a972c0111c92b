"""Render a Markdown article as a PDF paper, a Word document and a web page, deterministically.

What it does: lays the article out the way real files look, so the loaders are tested on
what they will meet: an A4 PDF with margins, a running header, a page number in the footer,
headings in a bigger bold font, paragraphs wrapped with a first-line indent and cut across
page breaks; a .docx with Title and Heading styles; an HTML page whose article sits between
navigation, scripts, styles and a footer. The same input always gives the same bytes. Used
by the tests and by the benchmark that builds a folder of mixed formats. What it does not
do: general Markdown (lists, tables, emphasis are written as plain paragraphs).
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt
from fpdf import FPDF

from qa.ingest.documents import LABEL_LINE, parse_document

NOTO = Path("/usr/share/fonts/opentype/noto")
SIMPLIFIED_CHINESE = 2  # the face index of Noto CJK SC inside each .ttc collection
FIXED_TIME = datetime(2023, 3, 1, tzinfo=UTC)  # so the same article renders to the same bytes

# Points. A4 is 595 x 842.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 72.0, 72.0, 78.0, 72.0
BODY_SIZE, BODY_LEADING = 10.5, 18.0
HEADING_SIZES = {1: 16.0, 2: 13.0, 3: 12.0}
NOTE_SIZE = 9.0
# Closing punctuation hangs past the right margin instead of starting a line.
NO_LINE_START = "，。、；：！？）」』”’》〉】,.;:!?)"


@dataclass(frozen=True)
class _Part:
    kind: str  # title | byline | heading | body | note
    text: str
    level: int = 0


def render_pdf(
    markdown_text: str,
    path: Path,
    running_header: str | None = None,
    plain_headings: bool = False,
) -> Path:
    """An A4 paper. The running header defaults to the article's title; plain headings are set
    in the body font, so only their "一、" numbering marks them."""
    parts = _parts(markdown_text)
    title = next((part.text for part in parts if part.kind == "title"), "")
    pdf = _Paper(running_header if running_header is not None else title)
    pdf.set_creation_date(FIXED_TIME)
    pdf.set_title(title)
    pdf.add_page()
    for part in parts:
        if part.kind == "title":
            pdf.set_y(pdf.get_y() + 6)
            pdf.lay_out(part.text, "sans", "B", HEADING_SIZES[1], 24.0, align="C")
            pdf.set_y(pdf.get_y() + 6)
        elif part.kind == "byline":
            pdf.lay_out(part.text, "serif", "", BODY_SIZE, BODY_LEADING, align="C")
            pdf.set_y(pdf.get_y() + 12)
        elif part.kind == "heading" and plain_headings:
            pdf.lay_out(part.text, "serif", "", BODY_SIZE, BODY_LEADING)
        elif part.kind == "heading":
            size = HEADING_SIZES.get(part.level, HEADING_SIZES[3])
            if pdf.get_y() + size * 2 + BODY_LEADING * 2 > pdf.page_bottom:
                pdf.add_page()  # keep a heading with the lines that follow it
            pdf.set_y(pdf.get_y() + size * 0.8)
            pdf.lay_out(part.text, "sans", "B", size, size * 1.7)
            pdf.set_y(pdf.get_y() + 4)
        elif part.kind == "note":
            pdf.lay_out(part.text, "serif", "", NOTE_SIZE, NOTE_SIZE * 1.6)
        else:
            pdf.lay_out(part.text, "serif", "", BODY_SIZE, BODY_LEADING, indent=2 * BODY_SIZE)
    path = Path(path)
    pdf.output(str(path))
    return path


def render_docx(markdown_text: str, path: Path) -> Path:
    """A Word document: Title and Heading N styles, indented body paragraphs, no headers."""
    document = docx.Document()
    document.core_properties.created = FIXED_TIME.replace(tzinfo=None)
    document.core_properties.modified = FIXED_TIME.replace(tzinfo=None)
    document.core_properties.last_modified_by = "qa.render"
    for part in _parts(markdown_text):
        if part.kind == "title":
            document.add_heading(part.text, 0)
            document.core_properties.title = part.text
        elif part.kind == "byline":
            document.add_paragraph(part.text).alignment = WD_ALIGN_PARAGRAPH.CENTER
            document.core_properties.author = part.text
        elif part.kind == "heading":
            document.add_heading(part.text, max(1, part.level - 1))  # "##" is Word's Heading 1
        elif part.kind == "note":
            document.add_paragraph(part.text).runs[0].font.size = Pt(NOTE_SIZE)
        else:
            document.add_paragraph(part.text).paragraph_format.first_line_indent = Pt(2 * BODY_SIZE)
    buffer = io.BytesIO()
    document.save(buffer)
    path = Path(path)
    path.write_bytes(_fixed_zip_times(buffer.getvalue()))
    return path


def render_html(markdown_text: str, path: Path) -> Path:
    """A web page: the article in <main>, between a site banner, navigation, a sidebar and a footer."""
    parts = _parts(markdown_text)
    title = next((part.text for part in parts if part.kind == "title"), "")
    body = []
    for part in parts:
        text = html.escape(part.text)
        if part.kind == "title":
            body.append(f"      <header><h1>{text}</h1></header>")
        elif part.kind == "byline":
            body.append(f'      <p class="byline">{text}</p>')
        elif part.kind == "heading":
            level = min(part.level, 6)
            body.append(f"      <h{level}>{text}</h{level}>")
        elif part.kind == "note":
            body.append(f'      <p class="note"><small>{text}</small></p>')
        else:
            body.append(f"      <p>{_wrap_source(text)}</p>")
    article = "\n".join(body)
    page = f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <title>{html.escape(title)} - 环境期刊网</title>
  <style>body {{ font-family: serif; }} .byline {{ text-align: center; }} nav a {{ margin: 0 1em; }}</style>
  <script>window.dataLayer = window.dataLayer || []; function track() {{ return "期刊首页"; }}</script>
</head>
<body>
  <header class="site"><a href="/">环境期刊网</a> <span>首页 | 期刊 | 投稿 | 联系我们</span></header>
  <nav><a href="/">首页</a><a href="/issues">往期目录</a><a href="/about">关于我们</a></nav>
  <main>
    <article>
{article}
    </article>
  </main>
  <aside><h3>相关文章</h3><ul><li><a href="/a/1">绿色发展的路径</a></li></ul></aside>
  <footer><p>版权所有 © 2023 环境期刊网 京ICP备00000000号</p></footer>
  <script src="/static/analytics.js"></script>
</body>
</html>
"""
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _parts(markdown_text: str) -> list[_Part]:
    """The article as documents.py reads it, with each heading's level taken from its "#"s."""
    document = parse_document(markdown_text, "render", "render.md")
    parts = []
    for paragraph in document.paragraphs:
        hashes = len(re.match(r"\s*(#*)", markdown_text[paragraph.start : paragraph.end]).group(1))
        if paragraph.field == "title":
            parts.append(_Part("title", paragraph.text, 1))
        elif paragraph.kind == "heading":
            parts.append(_Part("heading", paragraph.text, hashes or 2))
        elif paragraph.field == "author" and not LABEL_LINE.match(paragraph.text):
            parts.append(_Part("byline", paragraph.text))
        elif paragraph.kind == "metadata":
            parts.append(_Part("note", paragraph.text))
        else:
            parts.append(_Part("body", paragraph.text))
    return parts


def _wrap_source(text: str, width: int = 60) -> str:
    """Hand-written HTML breaks long lines in the source; the loader must join them back."""
    cut = re.findall(rf"[^，。；]{{0,{width}}}[，。；]?", text)
    return "\n        ".join(piece for piece in cut if piece)


def _fixed_zip_times(data: bytes) -> bytes:
    """python-docx stamps every zip entry with the current time; use a fixed one."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            entry = zipfile.ZipInfo(item.filename, date_time=(2023, 3, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, source.read(item.filename))
    return out.getvalue()


class _Paper(FPDF):
    """FPDF with Noto CJK faces, a running header, a page-number footer and a line breaker."""

    def __init__(self, running_header: str) -> None:
        super().__init__(orientation="P", unit="pt", format="A4")
        self.running_header = running_header
        self.set_margins(MARGIN_LEFT, MARGIN_TOP, MARGIN_RIGHT)
        self.set_auto_page_break(False)
        self.page_bottom = self.h - MARGIN_BOTTOM
        if not (NOTO / "NotoSerifCJK-Regular.ttc").exists():
            raise FileNotFoundError(
                f"{NOTO} has no Noto CJK fonts; install the Debian package fonts-noto-cjk."
            )
        self.add_font(
            "serif", "", str(NOTO / "NotoSerifCJK-Regular.ttc"), collection_font_number=SIMPLIFIED_CHINESE
        )
        self.add_font(
            "sans", "B", str(NOTO / "NotoSansCJK-Bold.ttc"), collection_font_number=SIMPLIFIED_CHINESE
        )

    def header(self) -> None:
        self.set_font("serif", "", NOTE_SIZE)
        self.set_xy(MARGIN_LEFT, 40)
        self.cell(self.epw, NOTE_SIZE + 2, self.running_header, align="C")
        self.set_line_width(0.5)
        self.line(MARGIN_LEFT, 56, self.w - MARGIN_RIGHT, 56)
        self.set_y(MARGIN_TOP)

    def footer(self) -> None:
        self.set_font("serif", "", NOTE_SIZE)
        self.set_xy(MARGIN_LEFT, self.h - 48)
        self.cell(self.epw, NOTE_SIZE + 2, f"- {self.page_no()} -", align="C")

    def lay_out(
        self,
        text: str,
        family: str,
        style: str,
        size: float,
        leading: float,
        indent: float = 0.0,
        align: str = "L",
    ) -> None:
        """Greedy line breaking: CJK between any two characters, Latin only at spaces."""
        self.set_font(family, style, size)
        for index, line in enumerate(self._lines(text, self.epw - indent)):
            if self.get_y() + leading > self.page_bottom:
                self.add_page()
            x = MARGIN_LEFT + (indent if index == 0 else 0.0)
            if align == "C":
                x = MARGIN_LEFT + (self.epw - self.get_string_width(line)) / 2
            self.text(x, self.get_y() + size, line)
            self.set_y(self.get_y() + leading)

    def _lines(self, text: str, first_width: float) -> list[str]:
        lines, current, width = [], "", first_width
        for token in re.findall(r"[A-Za-z0-9][\x21-\x7e]*|\s+|.", text):
            candidate = current + (" " if token.isspace() else token)
            fits = self.get_string_width(candidate.rstrip()) <= width
            if fits or not current.strip() or token in NO_LINE_START:
                current = candidate
                continue
            lines.append(current.rstrip())
            current, width = ("" if token.isspace() else token), self.epw
        if current.strip():
            lines.append(current.rstrip())
        return lines
