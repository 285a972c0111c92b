"""Hostile and careless files and index folders (issue 13, first part): each case gets one
sentence and exit 1, never a traceback, a hang or a lost document. Every run is bounded by a
timeout, so a regression fails here instead of hanging the suite. The service's side is in
test_hostile_service.py."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import docx
import pytest
from hostile import BOUND_S, assert_one_sentence, chunk_count, run_qa
from render import render_pdf

from qa.errors import InputError
from qa.ingest.documents import load_document
from qa.ingest.loaders import InputLimits
from tests.conftest import ARTICLE

# --- files that are not what they claim --------------------------------------------------------


def test_a_fifo_is_refused_without_blocking_the_ingest_lock(tmp_path: Path, article_index: Path) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    index = article_index
    assert_one_sentence(run_qa("ingest", str(fifo), index=index), "not a regular file")
    # the lock was not kept: the next ingest goes through
    assert run_qa("ingest", str(ARTICLE), index=index).returncode == 0


def test_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    zero = tmp_path / "zero.md"
    zero.symlink_to("/dev/zero")
    assert_one_sentence(run_qa("ingest", str(zero), index=tmp_path / "index"), "not a regular file")


@pytest.mark.slow  # a whole ingest and a query, in two processes, of a 1.3 MB page
def test_html_nested_100000_levels_deep_is_read(tmp_path: Path) -> None:
    page = tmp_path / "deep.html"
    depth = 100_000
    page.write_text(f"<html><body>{'<div>' * depth}深处的一句话。{'</div>' * depth}</body></html>")
    index = tmp_path / "index"
    result = run_qa("ingest", str(page), index=index)
    assert result.returncode == 0, result.stderr[-2000:]
    found = run_qa("retrieve", "深处的一句话", "--json", index=index)
    assert "深处的一句话" in json.loads(found.stdout)["results"][0]["text"]


def test_markdown_nested_or_bracketed_without_end_is_read_quickly() -> None:
    """Markdown is parsed (markdown-it-py) to read it as rendered: quotations 50,000 deep and
    brackets, emphasis and links by the ten thousand neither recurse nor take long."""
    from qa.ingest.documents import parse_document

    pages = {
        "quotes": ">" * 50_000 + " 深处的一句话。\n\n正文。",
        "brackets": "[" * 50_000 + "x" + "]" * 50_000,
        "emphasis": "*a " * 50_000,
        "links": "[a](b)" * 20_000,
        "lists": "\n".join("  " * depth + "- item" for depth in range(2_000)),
    }
    for name, text in pages.items():
        started = time.perf_counter()
        document = parse_document(text, f"{name}.md", f"{name}.md")
        assert document.paragraphs, name
        assert time.perf_counter() - started < BOUND_S, name


# --- the index itself --------------------------------------------------------------------------


def test_removing_the_last_document_leaves_an_empty_index_that_refuses_politely(article_index: Path) -> None:
    index = article_index
    removed = run_qa("docs", "remove", "article.md", index=index)
    assert removed.returncode == 0 and "Traceback" not in removed.stderr, removed.stderr
    assert chunk_count(index) == 0
    asked = run_qa("ask", "COP15第一阶段会议通过了什么？", "--json", index=index)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["refused"] is True
    assert run_qa("ingest", str(ARTICLE), index=index).returncode == 0
    assert chunk_count(index) > 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_index_folder_is_one_sentence_and_loses_nothing(
    tmp_path: Path, article_index: Path
) -> None:
    index = article_index
    before = chunk_count(index)
    other = tmp_path / "other.md"
    other.write_text("# 另一篇\n\n这是另一篇文档的唯一段落。\n", encoding="utf-8")
    os.chmod(index, 0o555)
    try:
        result = run_qa("ingest", str(other), index=index)
        assert_one_sentence(result, "nothing was changed")
    finally:
        os.chmod(index, 0o755)
    assert chunk_count(index) == before


def test_an_index_folder_that_cannot_be_created_is_one_sentence(tmp_path: Path) -> None:
    """Like a read-only or full disk, but also as root: the folder's parent is a file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = run_qa("ingest", str(ARTICLE), index=blocker / "index")
    assert_one_sentence(result, "nothing was changed")
    assert blocker.read_text(encoding="utf-8") == "not a folder"


# --- bounded work per file: what a file expands to, not only its bytes on disk --------------------


def test_a_docx_that_unzips_past_the_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.docx"
    document = docx.Document()
    document.add_paragraph("重复" * 1_500_000)  # 4.5 MB of XML that zips to a few KB
    document.save(bomb)
    assert bomb.stat().st_size < 100_000
    result = run_qa("ingest", str(bomb), index=tmp_path / "index", max_expanded_mb="1")
    assert_one_sentence(result, "QA_MAX_EXPANDED_MB")


def test_a_pdf_with_more_pages_than_the_limit_is_refused(tmp_path: Path) -> None:
    pdf = render_pdf("# 标题\n\n" + "\n\n".join(f"第{n}段。" * 400 for n in range(6)), tmp_path / "long.pdf")
    with pytest.raises(InputError, match="QA_MAX_PDF_PAGES"):
        load_document(pdf, 10_000_000, InputLimits(pdf_pages=1))
    assert load_document(pdf, 10_000_000).paragraphs  # within the default it is read


def test_html_with_more_tags_than_the_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    page = tmp_path / "tags.html"
    page.write_text("<html><body>" + "<p>段落。</p>" * 500 + "</body></html>", encoding="utf-8")
    with pytest.raises(InputError, match="QA_MAX_FILE_ELEMENTS"):
        load_document(page, 10_000_000, InputLimits(elements=100))
    assert len(load_document(page, 10_000_000).paragraphs) >= 1


def test_a_file_yielding_more_text_than_the_limit_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "long.html"
    page.write_text("<html><body><p>" + "很长的文字。" * 2000 + "</p></body></html>", encoding="utf-8")
    with pytest.raises(InputError, match="QA_MAX_TEXT_CHARS"):
        load_document(page, 10_000_000, InputLimits(text_chars=1000))


def tiny_paragraphs_docx(path: Path, paragraphs: int) -> Path:
    """A real .docx whose body is `paragraphs` copies of one tiny paragraph: it zips ~300:1."""
    template = path.with_suffix(".template.docx")
    docx.Document().save(template)
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                head, tail = data.split(b"<w:body>")
                data = head + b"<w:body>" + b"<w:p><w:r><w:t>ab</w:t></w:r></w:p>" * paragraphs + tail
            out.writestr(item, data, compresslevel=9)
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, limit",
    [
        ("tiny-paragraphs.docx", "QA_MAX_FILE_ELEMENTS"),
        ("one-line.html", "QA_MAX_TEXT_CHARS"),
        ("one-line.md", "QA_MAX_TEXT_CHARS"),
    ],
)
def test_a_file_that_expands_past_the_limits_is_refused_quickly_in_little_memory(
    tmp_path: Path, name: str, limit: str
) -> None:
    """At default settings: a 0.6 MB .docx of 5.6 million tiny paragraphs (197 MB unzipped, under
    QA_MAX_EXPANDED_MB) once took the server to 4 GB, and a 49.5 MB one-line page (under
    QA_MAX_FILE_MB) ran past 150 s at 1.7 GB. Each is now refused in one sentence before it is
    parsed whole, inside a 1.5 GB address space."""
    path = tmp_path / name
    if name.endswith(".docx"):
        tiny_paragraphs_docx(path, 5_600_000)
        assert path.stat().st_size < 1_000_000
    else:
        sentence = "社区花园今年有许多地块，由居民轮流照看。".encode()
        body = sentence * (49_400_000 // len(sentence))
        if name.endswith(".html"):
            body = b"<html><body><p>" + body + b"</p></body></html>"
        path.write_bytes(body)
    started = time.monotonic()
    result = run_qa("ingest", str(path), index=tmp_path / "index", memory_mb=1500)
    assert_one_sentence(result, limit)
    assert time.monotonic() - started < BOUND_S
