from pathlib import Path

import pytest

from qa.errors import InputError
from qa.ingest.documents import SUPPORTED_SUFFIXES, decode_text, load_document, parse_document
from tests.conftest import ARTICLE

MAX = 10_000_000


@pytest.fixture(scope="module")
def article():
    return load_document(ARTICLE, MAX)


def body_texts(document):
    return [p.text for p in document.paragraphs if p.kind == "body"]


@pytest.mark.parametrize(
    "joined",
    ["国际上环境问题政治化趋势不断增强", "近160家机构成为绿色联盟合作伙伴", "中国一中东欧国家"],
)
def test_page_break_cuts_are_rejoined_into_one_paragraph(article, joined):
    holding = [text for text in body_texts(article) if joined in text]
    assert len(holding) == 1


def test_every_body_paragraph_ends_a_sentence(article):
    for text in body_texts(article):
        assert text.rstrip()[-1] in "。！？；", text[-20:]


def test_metadata_becomes_numbered_citable_records(article):
    assert article.metadata["author"] == "周国梅"
    assert article.metadata["position"] == "生态环境部国际合作司司长"
    assert article.metadata["serial"] == "1673-288X(2023)03-0076-05"
    assert article.metadata["doi"].startswith("10.19758/j.cnki.issn1673-288x")
    assert article.title.startswith("深化生态环境领域国际合作")
    fields = {p.field: p for p in article.paragraphs if p.kind == "metadata"}
    assert set(fields) == {"title", "author", "position", "serial", "doi"}
    assert fields["author"].text == "周国梅"


def test_headings_of_any_level_become_sections(article):
    sections = {p.section for p in article.paragraphs if p.kind == "body"}
    assert any(s.startswith("一、我国已成为") for s in sections)
    assert any(s.startswith("三、深化生态领域国际合作") for s in sections)  # a ### heading
    cop15 = next(p for p in article.paragraphs if "昆明宣言" in p.text)
    assert cop15.section.startswith("一、")


def test_paragraphs_are_numbered_in_order_with_offsets_into_the_source(article):
    source = ARTICLE.read_text(encoding="utf-8")
    numbers = [p.number for p in article.paragraphs]
    assert numbers == list(range(1, len(numbers) + 1))
    for paragraph in article.paragraphs:
        span = "".join(source[paragraph.start : paragraph.end].split())
        assert span.endswith("".join(paragraph.text.split())[-10:])
        assert paragraph.end > paragraph.start


def test_paragraph_ids_are_stable_and_unique(article):
    again = load_document(ARTICLE, MAX)
    assert [p.paragraph_id for p in article.paragraphs] == [p.paragraph_id for p in again.paragraphs]
    assert len({p.paragraph_id for p in article.paragraphs}) == len(article.paragraphs)


def test_utf16_with_bom_and_gb18030_are_decoded():
    text = "# 标题\n\n第一段。\n"
    assert decode_text(text.encode("utf-16"), "x") == text
    assert decode_text(text.encode("gb18030"), "x") == text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"  \n\n ", "is empty"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary"),
        (b"\xff\xfe\xfd\xfc\x80\x81\xfe\xff\xff", "not valid UTF-8"),
    ],
)
def test_bad_files_are_refused_with_one_sentence(tmp_path: Path, content, message):
    path = tmp_path / "bad.md"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_document(path, MAX)


def test_missing_unsupported_and_oversize_files_are_refused(tmp_path: Path):
    with pytest.raises(InputError, match="does not exist"):
        load_document(tmp_path / "nope.md", MAX)
    (tmp_path / "a.exe").write_bytes(b"MZ")
    with pytest.raises(InputError, match="unsupported type"):
        load_document(tmp_path / "a.exe", MAX)
    (tmp_path / "big.txt").write_text("长" * 1000)
    with pytest.raises(InputError, match="over the"):
        load_document(tmp_path / "big.txt", 100)


def test_plain_english_text_keeps_spaces_when_lines_are_joined():
    document = parse_document("The first line\ncontinues here.\n\nA second paragraph.\n", "d", "d.txt")
    assert document.paragraphs[0].text == "The first line continues here."
    assert len(document.paragraphs) == 2


def test_a_title_or_byline_on_a_line_of_its_own_stays_a_paragraph_in_typed_text():
    """News typed as text: the story's title and byline are lines of their own, not the start of
    the story's first sentence; a sentence cut by a page break still joins."""
    text = (
        "上一篇报道的最后一段。\n\n青岛市楼山乡成为专利乡\n\n本报记者宋学春\n\n"
        "楼山乡拥有专利和专利技术１４２项。\n\n推动共建国家绿色发展，已有来自43个国家的近160家机构\n\n成为绿色联盟合作伙伴。\n"
    )
    texts = body_texts(parse_document(text, "d", "d.txt"))
    assert texts[1:4] == ["青岛市楼山乡成为专利乡", "本报记者宋学春", "楼山乡拥有专利和专利技术１４２项。"]
    assert texts[4] == "推动共建国家绿色发展，已有来自43个国家的近160家机构成为绿色联盟合作伙伴。"


def test_a_word_hyphenated_at_a_line_end_is_joined_without_a_space():
    document = parse_document("Data is shared across inter-\nnational borders.\n", "d", "d.txt")
    assert document.paragraphs[0].text == "Data is shared across inter-national borders."


def test_text_formats_have_no_pages(article):
    assert {p.page for p in article.paragraphs} == {0}


@pytest.mark.parametrize("suffix", [".pdf", ".docx", ".html", ".htm"])
def test_new_formats_are_supported_and_an_empty_one_is_refused(tmp_path: Path, suffix):
    assert suffix in SUPPORTED_SUFFIXES
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"\n  \n")
    with pytest.raises(InputError, match=f"{path} is empty"):
        load_document(path, MAX)


def test_unsupported_type_names_every_supported_one(tmp_path: Path):
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError, match=r"supported: .*\.docx.*\.html.*\.pdf"):
        load_document(tmp_path / "old.doc", MAX)


def test_a_line_under_the_title_is_a_byline_only_when_it_reads_as_names():
    names = parse_document("# NFS\n\nRaphaël Hertzog and Roland Mas\n\nNFS shares files.\n", "d", "d.md")
    assert names.metadata.get("author") == "Raphaël Hertzog and Roland Mas"
    chinese = parse_document("# 标题\n\n周国梅\n\n正文第一段。\n", "d", "d.md")
    assert chinese.metadata.get("author") == "周国梅"
    link = parse_document("# NFS\n\nDownload the ebook\n\nNFS shares files.\n", "d", "d.md")
    assert "author" not in link.metadata  # a web page's link under its title names nobody


def test_metadata_is_shown_under_a_section_named_in_the_documents_language():
    english = parse_document("# NFS\n\nRaphaël Hertzog\n\nNFS shares files over the network.\n", "d", "d.md")
    chinese = parse_document("# 标题\n\n周国梅\n\n正文第一段。\n", "d", "d.md")
    assert english.paragraphs[0].section == "Document information"
    assert chinese.paragraphs[0].section == "文档信息"


NODE_STYLE_PAGE = """# UDP sockets

<!-- YAML
added: v0.1.99
-->

Sockets are made by [`dgram.createSocket()`][] and report bugs via
[HackerOne](https://hackerone.com/nodejs), or <https://example.org/bugs>.

## `socket.setBroadcast(flag)`

* `flag` {boolean}

Sets or clears the **SO_BROADCAST** option.<!-- see #123 --> Backups land in `user_<date>`, <b>daily</b>.

> Quoted, a note
> reads without its marks.

[`dgram.createSocket()`]: #dgramcreatesocketoptions-callback
"""


def test_a_markdown_file_reads_as_its_rendered_page():
    """Node.js's API pages (and most READMEs) carry HTML comments, reference links and code marks:
    quoted as written, an answer read "<!" and "[`dgram.createSocket()`][]"."""
    document = parse_document(NODE_STYLE_PAGE, "dgram.md", "dgram.md")
    texts = [p.text for p in document.paragraphs]
    assert texts[1:] == [
        "Sockets are made by dgram.createSocket() and report bugs via HackerOne"
        " (https://hackerone.com/nodejs), or https://example.org/bugs.",
        "socket.setBroadcast(flag)",
        "* flag {boolean}",
        "Sets or clears the SO_BROADCAST option. Backups land in user_<date>, daily.",
        "Quoted, a note reads without its marks.",
    ]
    for paragraph in document.paragraphs:  # offsets still point at the paragraph in the file
        assert NODE_STYLE_PAGE[paragraph.start : paragraph.end].strip()
    # A .txt file is taken as written: its brackets and stars are the writer's.
    plain = parse_document(NODE_STYLE_PAGE, "dgram.txt", "dgram.txt")
    assert any("[HackerOne](https://hackerone.com/nodejs)" in p.text for p in plain.paragraphs)
