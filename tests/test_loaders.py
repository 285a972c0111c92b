"""PDF, Word and HTML renderings of the article load into the same paragraphs as its Markdown."""

from __future__ import annotations

import io
import random
import re
import textwrap
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw
from render import render_docx, render_html, render_pdf

from qa.config import load_settings
from qa.errors import InputError
from qa.ingest.documents import SUPPORTED_SUFFIXES, load_document, parse_document
from qa.ingest.loaders import html_blocks
from qa.ingest.sync import ingest
from qa.query.pipeline import Pipeline
from qa.records import Document
from tests.conftest import ARTICLE

MAX = 10_000_000
MARKDOWN = ARTICLE.read_text(encoding="utf-8")


def squeeze(text: str) -> str:
    return "".join(text.split())


def bodies(document: Document) -> list[str]:
    return [p.text for p in document.paragraphs if p.kind == "body"]


@pytest.fixture(scope="module")
def markdown_article() -> Document:
    return load_document(ARTICLE, MAX)


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_pdf(MARKDOWN, tmp_path_factory.mktemp("pdf") / "article.pdf")


@pytest.fixture(scope="module")
def pdf_article(pdf_path: Path) -> Document:
    return load_document(pdf_path, MAX)


@pytest.fixture(scope="module")
def page_texts(pdf_path: Path) -> list[str]:
    """What is printed on each page, header and footer included, without whitespace."""
    document = pdfium.PdfDocument(pdf_path)
    try:
        return [squeeze(page.get_textpage().get_text_range()) for page in document]
    finally:
        document.close()


def test_the_rendered_pdf_is_a_paper_with_header_footer_and_paragraphs_cut_across_pages(
    page_texts, markdown_article
):
    assert len(page_texts) >= 3
    for number, text in enumerate(page_texts, start=1):
        assert text.startswith(squeeze(markdown_article.title))  # the running header
        assert text.endswith(f"-{number}-")  # the page-number footer
    cut = [p for p in bodies(markdown_article) if not any(squeeze(p) in text for text in page_texts)]
    assert cut, "no paragraph runs over a page break, so the test would prove nothing"


def test_pdf_body_paragraphs_are_the_markdown_paragraphs(pdf_article, markdown_article):
    ours, theirs = bodies(pdf_article), bodies(markdown_article)
    identical = sum(a == b for a, b in zip(ours, theirs, strict=False))
    same = sum(squeeze(a) == squeeze(b) for a, b in zip(ours, theirs, strict=False))
    print(
        f"\nPDF vs Markdown: {len(ours)}/{len(theirs)} body paragraphs, {identical} identical, "
        f"{same} identical after whitespace normalisation, {len(pdf_article.paragraphs)}/"
        f"{len(markdown_article.paragraphs)} paragraphs in all"
    )
    assert [squeeze(text) for text in ours] == [squeeze(text) for text in theirs]
    assert identical >= len(theirs) - 3  # only a space between 汉字 and Latin lost at a line end


def test_pdf_paragraphs_hold_no_running_header_or_page_number(pdf_article, markdown_article):
    title = squeeze(markdown_article.title)
    for paragraph in pdf_article.paragraphs:
        assert not re.search(r"(?<![\w)])-\s?\d{1,2}\s?-(?![\w(])", paragraph.text), paragraph.text[-30:]
        if paragraph.field != "title":
            assert title not in squeeze(paragraph.text)
    for text in bodies(pdf_article):
        assert text.rstrip()[-1] in "。！？；", text[-20:]


def test_a_sentence_cut_at_a_page_end_is_one_paragraph(pdf_article):
    holding = [text for text in bodies(pdf_article) if "近160家机构成为绿色联盟合作伙伴" in text]
    assert len(holding) == 1


def test_pdf_headings_become_sections_and_metadata_is_kept(pdf_article, markdown_article):
    def sections(document: Document) -> list[str]:
        return [squeeze(p.section) for p in document.paragraphs]

    def kinds(document: Document) -> list[tuple[str, str]]:
        return [(p.kind, p.field) for p in document.paragraphs]

    assert sections(pdf_article) == sections(markdown_article)
    assert kinds(pdf_article) == kinds(markdown_article)
    assert squeeze(pdf_article.title) == squeeze(markdown_article.title)
    assert pdf_article.metadata["author"] == "周国梅"
    assert pdf_article.metadata["doi"] == markdown_article.metadata["doi"]


def test_each_pdf_paragraph_knows_the_page_it_starts_on(pdf_article, markdown_article, page_texts):
    pages = [p.page for p in pdf_article.paragraphs]
    assert min(pages) >= 1
    assert pages == sorted(pages)
    assert pages[-1] > 1
    for paragraph in pdf_article.paragraphs:
        assert squeeze(paragraph.text)[:12] in page_texts[paragraph.page - 1]
    assert {p.page for p in markdown_article.paragraphs} == {0}


def test_numbered_headings_in_the_body_font_are_still_headings(tmp_path):
    firsts = re.findall(r"^(#+ .+\n\n.+)$", MARKDOWN, re.MULTILINE)  # each heading and the paragraph after it
    path = render_pdf("\n\n".join(firsts), tmp_path / "plain.pdf", plain_headings=True)
    headings = [p.text for p in load_document(path, MAX).paragraphs if p.kind == "heading"]
    assert [h[:2] for h in headings] == ["一、", "二、", "三、"]


def hand_made_pdf(pages: list[list[tuple[float, float, float, str]]]) -> bytes:
    """A PDF written as many producers write one: a standard font at "1 Tf", sized by the text
    matrix. Courier, so a line of n characters is exactly 0.6 * size * n wide.

    Each line is (size, x, y from the top, text) on a US Letter page.
    """
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
    ]
    for lines in pages:
        content = b" ".join(
            f"BT /F1 1 Tf {size} 0 0 {size} {x} {792 - y} Tm ({text}) Tj ET".encode()
            for size, x, y, text in lines
        )
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects) + 2} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    kids = " ".join(f"{number} 0 R" for number in range(4, len(objects) + 1, 2))
    objects[1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def courier_paragraph(text: str, top: float) -> list[tuple[float, float, float, str]]:
    """Wrapped at 78 characters (6.5 inches at 10 pt) with a four-character first-line indent."""
    lines = textwrap.wrap(text, width=78, initial_indent="    ")
    return [(10, 72 + (24 if i == 0 else 0), top + 14 * i, line.strip()) for i, line in enumerate(lines)]


def test_a_word_broken_at_a_pdf_lines_end_is_whole_again_but_a_hyphenated_word_keeps_its_hyphen():
    from qa.ingest.loaders import pdf_blocks

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for y, line in enumerate(
        [
            "A larger disk is recom-",
            "mended for the server of Debian-",
            "Edu, and the setup is region-",
            "wide.",
        ]
    ):
        pdf.text(20, 30 + 5 * y, line)
    (block,) = pdf_blocks(bytes(pdf.output()), "broken.pdf")
    assert (
        block.text
        == "A larger disk is recommended for the server of Debian-Edu, and the setup is region-wide."
    )


def test_a_pdf_sized_by_its_text_matrix_with_page_x_of_y_footers(tmp_path):
    first = "Rivers cross borders, and so must the data about them. " * 3
    second = "Twelve basin agreements were read."
    third = "The survey covered twelve river basins and found that shared data helps every party. " * 3
    header = (9, 72, 40, "Journal of River Tests 2024")
    body_1 = courier_paragraph(first, 160) + courier_paragraph(second, 202) + courier_paragraph(third, 216)
    body_2 = courier_paragraph("We read the treaties and the data they share.", 200)
    pages = [
        [header, (18, 72, 90, "River Basins"), (13, 72, 130, "1. Introduction"), *body_1[:-2]]
        + [(9, 260, 760, "Page 1 of 2")],
        [header, *[(s, x, y - 170, t) for s, x, y, t in body_1[-2:]], (13, 72, 170, "2. Methods"), *body_2]
        + [(9, 260, 760, "Page 2 of 2")],
    ]
    path = tmp_path / "hand.pdf"
    path.write_bytes(hand_made_pdf(pages))
    document = load_document(path, MAX)
    assert document.title == "River Basins"
    assert [(p.section, p.text, p.page) for p in document.paragraphs if p.kind == "body"] == [
        ("1. Introduction", first.strip(), 1),
        ("1. Introduction", second, 1),
        ("1. Introduction", third.strip(), 1),
        ("2. Methods", "We read the treaties and the data they share.", 2),
    ]


@pytest.fixture(scope="module")
def one_section() -> str:
    """The title, the byline and section 二 (whose Markdown has two page-break cuts)."""
    head = MARKDOWN[: MARKDOWN.index("概括提出")]
    return head + MARKDOWN[MARKDOWN.index("## 二、") : MARKDOWN.index("### 三、")]


@pytest.mark.parametrize("render", [render_docx, render_html], ids=["docx", "html"])
def test_docx_and_html_copies_give_the_markdown_paragraphs(tmp_path, one_section, render):
    suffix = ".docx" if render is render_docx else ".html"
    loaded = load_document(render(one_section, tmp_path / f"section{suffix}"), MAX)
    expected = parse_document(one_section, "section.md", "section.md")

    def records(document: Document) -> list[tuple]:
        return [(p.number, p.section, p.text, p.kind, p.field, p.page) for p in document.paragraphs]

    assert records(loaded) == records(expected)
    assert loaded.title == expected.title
    assert len(bodies(loaded)) == 4


def test_html_navigation_scripts_styles_and_footer_are_dropped(tmp_path, one_section):
    path = render_html(one_section, tmp_path / "page.html")
    page = path.read_text(encoding="utf-8")
    boilerplate = ["环境期刊网", "往期目录", "相关文章", "dataLayer", "版权所有", "font-family"]
    assert all(word in page for word in boilerplate)
    text = "".join(p.text for p in load_document(path, MAX).paragraphs)
    assert not [word for word in boilerplate if word in text]


def test_a_sites_banner_search_and_footer_marked_by_id_or_role_are_dropped(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>NFS</title></head><body>"
        '<div id="banner"><a href="/get/">Download the ebook</a></div>'
        '<div role="search"><p>Search this site</p></div>'
        "<h1>NFS</h1><p>NFS shares files over the network.</p>"
        '<div role="contentinfo"><p>Published under the GPL</p></div></body></html>',
        encoding="utf-8",
    )
    document = load_document(path, MAX)
    assert bodies(document) == ["NFS shares files over the network."]
    assert "author" not in document.metadata


def test_an_html_table_of_contents_is_not_read(tmp_path):
    path = tmp_path / "mc-manual.html"
    path.write_text(
        "<html><head><title>4. Memcheck</title></head><body><h1>4. Memcheck</h1>"
        '<div class="toc"><dl class="toc"><dt>4.1. <a href="#overview">Overview</a></dt>'
        '<dt>4.2. <a href="#errors">Explanation of error messages</a></dt></dl></div>'
        '<details id="toc"><summary>Table of contents</summary><ul><li>Overview</li></ul></details>'
        '<h2 id="overview">4.1. Overview</h2><p>Memcheck is a memory error detector.</p></body></html>',
        encoding="utf-8",
    )
    assert bodies(load_document(path, MAX)) == ["Memcheck is a memory error detector."]


def test_a_list_of_links_into_its_own_page_is_a_table_of_contents_and_is_not_read(tmp_path):
    path = tmp_path / "faq.html"
    path.write_text(
        "<html><head><title>FAQ</title></head><body><h1>FAQ</h1>"
        '<dl><dt>1. <a href="faq.html#background">Background</a></dt>'
        '<dd>1.1. <a href="#pronounce">How do you pronounce "Valgrind"?</a></dd></dl>'
        '<h2 id="pronounce">1.1. How do you pronounce "Valgrind"?</h2><p>The "Val" as in "value".</p>'
        '<ul><li><a href="quick-start.html#intro">The Quick Start Guide</a></li>'
        '<li><a href="manual.html">The User Manual</a></li></ul></body></html>',
        encoding="utf-8",
    )
    read = [p.text for p in load_document(path, MAX).paragraphs if p.kind in ("body", "item")]
    assert read == [
        'The "Val" as in "value".',
        "The Quick Start Guide",
        "The User Manual",
    ]


def test_a_table_laying_out_questions_and_answers_is_read_as_paragraphs_and_code(tmp_path):
    """DocBook sets a FAQ as a table: a row per question, one per answer with its paragraphs and
    code; a table of data (a paragraph per cell at most) stays rows."""
    path = tmp_path / "faq.html"
    path.write_text(
        "<html><head><title>FAQ</title></head><body><h1>FAQ</h1><table>"
        '<tr class="question"><td><p><b>4.6.</b></p></td>'
        "<td><p><b>Why is the overrun not found?</b></p></td></tr>"
        '<tr class="answer"><td></td><td><p>Memcheck does no bounds checking on stack arrays.</p>'
        "<pre>int main(void) {\n  int stack[5];\n}</pre><p>It may in future.</p></td></tr></table>"
        "<table><tr><td><p>--leak-check</p></td><td><p>no</p></td></tr></table></body></html>",
        encoding="utf-8",
    )
    read = [(p.kind, p.text) for p in load_document(path, MAX).paragraphs if p.kind != "metadata"]
    assert read == [
        ("body", "4.6. Why is the overrun not found?"),
        ("body", "Memcheck does no bounds checking on stack arrays."),
        ("code", "int main(void) {\n  int stack[5];\n}"),
        ("body", "It may in future."),
        ("row", "--leak-check\tno"),
    ]


def test_html_without_h1_takes_its_title_from_the_title_tag(tmp_path):
    path = tmp_path / "page.htm"
    path.write_text(
        "<html><head><title>绿色丝路</title></head><body><p>第一段，\n  跨行的句子。</p></body></html>",
        encoding="utf-8",
    )
    document = load_document(path, MAX)
    assert document.title == "绿色丝路"
    assert bodies(document) == ["第一段，跨行的句子。"]


def scanned_pdf() -> bytes:
    """A page that is only an image of text, as a scanner makes it."""
    image = Image.new("L", (800, 1100), 255)
    ImageDraw.Draw(image).text((80, 80), "Scanned page", fill=0)
    png = io.BytesIO()
    image.save(png, "PNG")
    pdf = FPDF(unit="pt", format="A4")
    pdf.add_page()
    pdf.image(io.BytesIO(png.getvalue()), 0, 0, pdf.w)
    return bytes(pdf.output())


def encrypted_pdf() -> bytes:
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_encryption(owner_password="owner", user_password="reader")
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.text(72, 100, "A confidential sentence.")
    return bytes(pdf.output())


def empty_docx() -> bytes:
    out = io.BytesIO()
    docx.Document().save(out)
    return out.getvalue()


NOISE = random.Random(7).randbytes(4096)


BAD_FILES = [
    ("encrypted.pdf", lambda tmp, pdf: encrypted_pdf(), "encrypted"),
    ("truncated.pdf", lambda tmp, pdf: pdf.read_bytes()[: pdf.stat().st_size // 2], "truncated"),
    ("damaged.pdf", lambda tmp, pdf: b"%PDF-1.7\n" + NOISE + b"\n%%EOF\n", "damaged"),
    ("renamed.pdf", lambda tmp, pdf: NOISE, "not a PDF"),
    ("scanned.pdf", lambda tmp, pdf: scanned_pdf(), "OCR"),
    ("empty.docx", lambda tmp, pdf: empty_docx(), "no text"),
    ("zero.docx", lambda tmp, pdf: b"", "is empty"),
    ("renamed.docx", lambda tmp, pdf: NOISE, "not a readable Word"),
    ("blank.html", lambda tmp, pdf: b"  \n\t\n", "is empty"),
    ("chrome.html", lambda tmp, pdf: b"<nav>Home</nav><script>x()</script><footer>(c)</footer>", "no text"),
    ("binary.txt", lambda tmp, pdf: b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary"),
]


@pytest.mark.parametrize(("name", "make", "message"), BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_files_are_refused_with_one_sentence_naming_the_file(tmp_path, pdf_path, name, make, message):
    made = make(tmp_path, pdf_path)
    data = made.read_bytes() if isinstance(made, Path) else made
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=message) as caught:
        load_document(path, MAX)
    text = str(caught.value)
    assert str(path) in text
    assert "\n" not in text and "Traceback" not in text
    assert text.endswith(".") and ". " not in text.replace(str(path), ""), text


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(pdf_path):
    with pytest.raises(InputError, match="over the .* limit"):
        load_document(pdf_path, max_bytes=1000)


def test_every_format_is_supported():
    assert {".md", ".txt", ".pdf", ".docx", ".html", ".htm"} <= SUPPORTED_SUFFIXES


@pytest.mark.slow  # a whole ingest of the rendered paper
def test_ingested_pdf_is_retrieved_with_the_page_cut_sentence_whole(seeded_dir, pdf_path):
    # The paper's paragraphs are the article's: their vectors come from the seeded cache.
    settings = load_settings(vectorstore_dir=seeded_dir)
    ingest(settings, [pdf_path], progress=False)
    results = Pipeline(settings).retrieve("有多少家机构成为绿色联盟合作伙伴？").results
    holding = [r.chunk for r in results if "近160家机构成为绿色联盟合作伙伴" in r.chunk.text]
    assert holding
    assert holding[0].doc_id == "article.pdf" and holding[0].page >= 1


# --- block kinds: list items, table rows, code -------------------------------------------------

STRUCTURED_HTML = """<html><head><title>手册</title></head><body>
<ul class="docnav"><li><a href="a.html">上一页</a></li><li><a href="b.html">下一页</a></li></ul>
<h1>日志</h1><p>每个日志信息都和子系统相关联：</p>
<ul><li><p>auth：用于授权;</p></li><li>cron：来自任务调度服务;</li><li>kern：源于内核的消息。</li></ul>
<table><tr><th>服务</th><th>名称</th></tr><tr><td>中央日志</td><td>rsyslog</td></tr></table>
<p>查看日志用：</p><pre class="screen">$ tail -f /var/log/syslog
$ journalctl -f</pre></body></html>"""


def kinds_and_texts(document: Document) -> list[tuple[str, str]]:
    return [(p.kind, p.text) for p in document.paragraphs if p.kind not in ("metadata", "heading")]


def test_html_list_items_table_rows_and_code_keep_their_kinds(tmp_path):
    path = tmp_path / "log.html"
    path.write_text(STRUCTURED_HTML, encoding="utf-8")
    assert kinds_and_texts(load_document(path, MAX)) == [
        ("body", "每个日志信息都和子系统相关联："),
        ("item", "auth：用于授权;"),
        ("item", "cron：来自任务调度服务;"),
        ("item", "kern：源于内核的消息。"),
        ("row", "服务\t名称"),
        ("row", "中央日志\trsyslog"),
        ("body", "查看日志用："),
        ("code", "$ tail -f /var/log/syslog\n$ journalctl -f"),
    ]  # and the docnav links are gone


def test_markdown_bullets_tables_and_fenced_code_keep_their_kinds():
    text = (
        "# 日志\n\n每个日志信息都和子系统相关联：\n\n- auth：用于授权;\n- cron：来自任务\n  调度服务;\n\n"
        "| 服务 | 名称 |\n|---|---|\n| 中央日志 | rsyslog |\n\n"
        "查看日志用：\n\n```\n$ tail -f /var/log/syslog\n```\n"
    )
    document = parse_document(text, "log.md", "log.md")
    assert kinds_and_texts(document) == [
        ("body", "每个日志信息都和子系统相关联："),
        ("item", "- auth：用于授权;"),
        ("item", "- cron：来自任务调度服务;"),
        ("row", "服务\t名称"),
        ("row", "中央日志\trsyslog"),
        ("body", "查看日志用："),
        ("code", "$ tail -f /var/log/syslog"),
    ]


def test_docx_list_paragraphs_and_table_rows_keep_their_kinds(tmp_path):
    word = docx.Document()
    word.add_heading("日志", 1)
    word.add_paragraph("每个日志信息都和子系统相关联：")
    word.add_paragraph("auth：用于授权;", style="List Bullet")
    word.add_paragraph("cron：来自任务调度服务;", style="List Number")
    table = word.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("服务", "名称"), ("中央日志", "rsyslog")], strict=True):
        for cell, value in zip(row.cells, cells, strict=True):
            cell.text = value
    path = tmp_path / "log.docx"
    word.save(path)
    assert kinds_and_texts(load_document(path, MAX)) == [
        ("body", "每个日志信息都和子系统相关联："),
        ("item", "auth：用于授权;"),
        ("item", "cron：来自任务调度服务;"),
        ("row", "服务\t名称"),
        ("row", "中央日志\trsyslog"),
    ]


def test_a_long_docx_table_keeps_every_cell_and_a_merged_cell_once(tmp_path):
    word = docx.Document()
    table = word.add_table(rows=40, cols=3)
    for number, row in enumerate(table.rows):
        for column, cell in enumerate(row.cells):
            cell.text = f"r{number}c{column}"
    table.cell(0, 1).merge(table.cell(0, 2))
    table.cell(0, 1).text = "merged"
    path = tmp_path / "table.docx"
    word.save(path)
    rows = [text for kind, text in kinds_and_texts(load_document(path, MAX)) if kind == "row"]
    assert rows[0] == "r0c0\tmerged"
    assert rows[1:] == [f"r{number}c0\tr{number}c1\tr{number}c2" for number in range(1, 40)]


def test_pdf_bullets_and_monospace_code_become_items_and_code(tmp_path):
    """A typeset manual's page: bullets (one wraps onto a line indented under its text) and a
    command set in a monospace font, among body text set in a proportional one."""
    pdf = FPDF(unit="pt", format="A4")
    pdf.add_font("sans", "", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    pdf.add_font("mono", "", "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
    pdf.add_page()
    lines = [
        ("sans", 72, "Before an upgrade, check these points:"),
        ("sans", 72, "• the backups are recent;"),
        ("sans", 72, "• the release notes were read, and every package the notes name as"),
        ("sans", 82, "removed has a replacement;"),
        ("sans", 72, "Then upgrade the system with two commands:"),
        ("mono", 72, "apt update"),
        ("mono", 72, "apt full-upgrade"),
        ("sans", 72, "Reboot when the upgrade is done."),
    ]
    for index, (font, x, text) in enumerate(lines):
        pdf.set_font(font, "", 10)
        pdf.text(x, 100 + 15 * index, text)
    path = tmp_path / "manual.pdf"
    pdf.output(str(path))
    assert kinds_and_texts(load_document(path, MAX)) == [
        ("body", "Before an upgrade, check these points:"),
        ("item", "• the backups are recent;"),
        (
            "item",
            "• the release notes were read, and every package the notes name as removed has a replacement;",
        ),
        ("body", "Then upgrade the system with two commands:"),
        ("code", "apt update\napt full-upgrade"),
        ("body", "Reboot when the upgrade is done."),
    ]


def test_a_monospace_font_the_pdf_does_not_flag_is_code_by_its_letters_widths(tmp_path):
    """TeX's typewriter fonts (texinfo manuals set every option list in one) and Noto Sans Mono CJK
    carry no fixed-pitch flag: their Latin letters all stand equally wide, which makes the lines
    code; a short line among them ("}") is code too, and a Chinese line is never judged so (a CJK
    font's Latin letters are one width as well)."""
    noto = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    pdf = FPDF(unit="pt", format="A4")
    pdf.add_font("sans", "", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    pdf.add_font("cjk", "", noto, collection_font_number=2)  # Noto Sans CJK SC
    pdf.add_font("mono", "", noto, collection_font_number=7)  # Noto Sans Mono CJK SC, not flagged
    pdf.add_page()
    lines = [
        ("sans", "asn1Parser reads a file with ASN.1 definitions and writes a C array."),
        ("mono", "Usage: asn1Parser [OPTION] FILE"),
        ("mono", "-c, --check checks the syntax only"),
        ("mono", "-o, --output=FILE output file"),
        ("mono", "}"),
        ("sans", "Report bugs to the mailing list."),
        ("cjk", "用 apt-get install 安装 debian-edu-config 软件包。"),
    ]
    for index, (font, text) in enumerate(lines):
        pdf.set_font(font, "", 10)
        pdf.text(72, 100 + 15 * index, text)
    path = tmp_path / "manual.pdf"
    pdf.output(str(path))
    assert kinds_and_texts(load_document(path, MAX)) == [
        ("body", "asn1Parser reads a file with ASN.1 definitions and writes a C array."),
        (
            "code",
            "Usage: asn1Parser [OPTION] FILE\n-c, --check checks the syntax only\n"
            "-o, --output=FILE output file\n}",
        ),
        ("body", "Report bugs to the mailing list."),
        ("body", "用 apt-get install 安装 debian-edu-config 软件包。"),
    ]


def test_an_xhtml_page_is_read_without_a_parser_warning() -> None:
    """The Debian handbook's pages are XHTML with an XML declaration: read as HTML, quietly."""
    import warnings

    page = (Path(__file__).parent.parent / "eval/corpora/handbook/zh-CN-sect.syslog.html").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blocks = html_blocks(page, "zh-CN-sect.syslog.html")
    assert any("rsyslogd" in block.text for block in blocks)


def test_table_of_contents_lines_are_left_out_of_a_pdf(tmp_path):
    """ "1. Introduction . . . . . 2" points at a section: kept, it became a heading of its own that
    outranked the section it names and filled overviews with page numbers."""
    survey = "The survey covered twelve river basins and found that shared data helps. " * 2
    body = courier_paragraph(survey, 200)
    pages = [
        [
            (18, 72, 90, "River Basins"),
            (13, 72, 130, "Contents"),
            (10, 72, 160, "1. Introduction . . . . . . . . . . . . 2"),
            (10, 72, 176, "2. Methods . . . . . . . . . . . . . . . 2"),
            (10, 72, 192, "Index ....................................... 9"),
        ],
        [(13, 72, 130, "1. Introduction"), *body, (13, 72, 260, "2. Methods")]
        + courier_paragraph("We read the treaties and the data they share.", 290),
    ]
    path = tmp_path / "toc.pdf"
    path.write_bytes(hand_made_pdf(pages))
    document = load_document(path, MAX)
    assert not [p.text for p in document.paragraphs if ". . ." in p.text or "....." in p.text]
    introductions = [p.text for p in document.paragraphs if p.text.startswith("1. Introduction")]
    assert introductions == ["1. Introduction"]
