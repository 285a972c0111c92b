"""Load a file into Paragraph records: decoding, page-break repair, sections, metadata.

What it does: decodes text bytes (UTF-8, UTF-16 with a BOM, GB18030) or refuses them with one
sentence; hands PDF, Word and HTML files to their loader (loaders.py), so every format ends in
the same blocks; rejoins a block cut mid-sentence at a page end with the block after it; turns
headings into sections and the title, author and trailing "label: value" lines into metadata
paragraphs that are retrieved and cited like any other. What it does not do: chunking or
embedding.
"""

from __future__ import annotations

import hashlib
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from qa.errors import InputError
from qa.ingest import loaders
from qa.ingest.loaders import DEFAULT_LIMITS, Block, InputLimits, markdown_blocks
from qa.records import Document, Paragraph
from qa.text.language import language_of
from qa.text.sentences import ends_sentence, join_pieces, stops_mid_sentence

MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {*MARKDOWN_SUFFIXES, ".txt"}
# Formats with a loader of their own: bytes -> blocks, every problem an InputError naming the file.
FORMAT_LOADERS = {
    ".pdf": loaders.pdf_blocks,
    ".docx": loaders.docx_blocks,
    ".html": loaders.html_blocks,
    ".htm": loaders.html_blocks,
}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | set(FORMAT_LOADERS)
# The section a document's metadata records are shown under, in the document's own language.
METADATA_SECTION = {"zh": "文档信息", "en": "Document information"}

# "label: value" lines that carry document metadata, and the field each label fills.
LABEL_FIELDS = {
    "作者": "author",
    "作者单位": "affiliation",
    "单位": "affiliation",
    "职务": "position",
    "编号": "serial",
    "文章编号": "serial",
    "doi": "doi",
    "关键词": "keywords",
    "author": "author",
    "keywords": "keywords",
}
LABEL_LINE = re.compile(r"^\s*([^\s:：]{1,8})\s*[:：]\s*(\S.{0,150})$")

# Words a reader might use for each metadata field, in Chinese and English, so a question
# like "who wrote it" or "作者是谁" reaches the record that holds the answer.
FIELD_LABELS = {
    "title": "标题 题目 文章名称 title name of the article document paper",
    "author": "作者 撰写者 谁写的 author writer wrote written by",
    "position": "作者职务 职位 任职 author's position job title",
    "affiliation": "作者单位 affiliation",
    "serial": "编号 文章编号 serial number",
    "doi": "DOI 数字对象标识符 digital object identifier",
    "keywords": "关键词 keywords",
}


@dataclass(frozen=True)
class _Block:
    text: str
    start: int
    end: int
    kind: str = "body"
    field: str = ""
    level: int = 0
    page: int = 0


def load_document(path: Path, max_bytes: int, limits: InputLimits = DEFAULT_LIMITS) -> Document:
    """Read and parse one file; every problem is an InputError naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist.")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the files inside it.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise InputError(f"{path} has an unsupported type '{path.suffix}' (supported: {supported}).")
    data = read_capped(path, max_bytes)
    if suffix in TEXT_SUFFIXES:
        text = decode_text(data, str(path))
        _check_text_chars(path, text, limits)
        return parse_document(text, doc_id=path.name, source=str(path))
    if not data.strip():
        raise InputError(f"{path} is empty.")
    found = FORMAT_LOADERS[suffix](data, str(path), limits)
    if len(found) > limits.elements:
        raise InputError(
            f"{path} holds {len(found):,} paragraphs and rows, over the {limits.elements:,} limit "
            "(QA_MAX_FILE_ELEMENTS)."
        )
    text, blocks = _laid_out(found)
    _check_text_chars(path, text, limits)
    return _document(blocks, text, doc_id=path.name, source=str(path))


def _check_text_chars(path: Path, text: str, limits: InputLimits) -> None:
    """QA_MAX_TEXT_CHARS, before the text is split into paragraphs, chunked and embedded."""
    if len(text) > limits.text_chars:
        raise InputError(
            f"{path} yields {len(text):,} characters of text, over the {limits.text_chars:,} limit "
            "(QA_MAX_TEXT_CHARS)."
        )


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`. A FIFO, a device such as /dev/zero
    (also behind a symlink) or a socket is refused before it is opened, since reading one can
    block for ever or never end; the read itself stops one byte past the cap, so a file that
    grows while it is read cannot exhaust memory either."""
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):
        raise InputError(f"{path} is not a regular file (a pipe, device or socket); give a real file.")
    too_large = f"over the {max_bytes / 1e6:.1f} MB limit (QA_MAX_FILE_MB)"
    if status.st_size > max_bytes:
        raise InputError(f"{path} is {status.st_size / 1e6:.1f} MB, {too_large}.")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"{path} grew while it was read and is now {too_large}.")
    return data


def _laid_out(blocks: list[Block]) -> tuple[str, list[Block]]:
    """The plain text of a non-text format, blank-line separated, and each block's offsets into it."""
    placed, offset = [], 0
    for block in blocks:
        placed.append(replace(block, start=offset, end=offset + len(block.text)))
        offset += len(block.text) + 2
    return "\n\n".join(block.text for block in blocks), placed


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 first, then UTF-16 with a BOM, then GB18030; binary or undecodable bytes are refused."""
    if not data.strip():
        raise InputError(f"{name} is empty.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    elif b"\x00" in data:
        raise InputError(f"{name} looks like a binary file, not text.")
    else:
        candidates = ["utf-8-sig", "gb18030"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            raise InputError(f"{name} looks like a binary file, not text.")
        if not text.strip():
            raise InputError(f"{name} is empty.")
        return text.replace("\r\n", "\n").replace("\r", "\n")
    raise InputError(f"{name} is not valid UTF-8, UTF-16 or GB18030 text; convert it to UTF-8.")


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")  # below space, except tab, newline, form feed, return


def _looks_binary(text: str) -> bool:
    controls = len(_CONTROLS.findall(text))
    return controls > max(2, len(text) // 100)


def parse_document(text: str, doc_id: str, source: str) -> Document:
    """Turn decoded Markdown or plain text into numbered paragraphs with sections and metadata;
    a Markdown file's paragraphs read as its rendered page does (a .txt is taken as written)."""
    markup = Path(source).suffix.lower() in MARKDOWN_SUFFIXES
    return _document(markdown_blocks(text, markup), text, doc_id, source, typed=True)


def _document(found: list[Block], text: str, doc_id: str, source: str, typed: bool = False) -> Document:
    """Blocks of any format -> numbered paragraphs; `text` is what offsets and the hash refer to.
    `typed`: Markdown or plain text, whose blank lines the writer typed (see _rejoin_page_breaks)."""
    blocks = _rejoin_page_breaks(_classify(found), typed)
    paragraphs: list[Paragraph] = []
    metadata: dict[str, str] = {}
    section = ""
    label = METADATA_SECTION[language_of(" ".join(block.text for block in blocks[:200]))]
    for block in blocks:
        if block.kind == "heading":
            section = block.text
        if block.kind == "metadata":
            metadata.setdefault(block.field, _metadata_value(block))
        paragraphs.append(
            Paragraph(
                doc_id=doc_id,
                number=len(paragraphs) + 1,
                section=label if block.kind == "metadata" else section,
                text=block.text,
                start=block.start,
                end=block.end,
                kind=block.kind,
                field=block.field,
                page=block.page,
                level=block.level if block.kind == "heading" else 0,
            )
        )
    if not paragraphs:
        raise InputError(f"{source} has no text to index.")
    title = metadata.get("title") or Path(source).stem
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(doc_id, source, title, digest, tuple(paragraphs), metadata)


def _metadata_value(block: _Block) -> str:
    match = LABEL_LINE.match(block.text)
    return match.group(2).strip() if match and block.field not in ("title",) else block.text


def _classify(blocks: list[Block]) -> list[_Block]:
    """Mark headings, the title, the byline and label lines; list items, table rows and code
    keep the kind their loader gave them; the rest stays body."""
    classified: list[_Block] = []
    seen_body = False
    for index, block in enumerate(blocks):
        label = LABEL_LINE.match(block.text)
        if block.level and index == 0:
            classified.append(_block(block, "metadata", "title"))
        elif block.level:
            classified.append(_block(block, "heading"))
            seen_body = True
        elif block.kind != "body":
            classified.append(_block(block, block.kind))  # an item, row or code block
            seen_body = True
        elif label and label.group(1).lower() in LABEL_FIELDS:
            field_name = LABEL_FIELDS[label.group(1).lower()]
            if field_name == "author" and _has_field(classified, "author"):
                field_name = "position"  # a second 作者 line names the author's post
            classified.append(_block(block, "metadata", field_name))
        elif _is_byline(block.text, classified, seen_body):
            classified.append(_block(block, "metadata", "author"))
        else:
            classified.append(_block(block, "body"))
            seen_body = True
    return classified


def _block(block: Block, kind: str, field_name: str = "") -> _Block:
    return _Block(block.text, block.start, block.end, kind, field_name, block.level, block.page)


def _has_field(blocks: list[_Block], field_name: str) -> bool:
    return any(block.field == field_name for block in blocks)


def _is_byline(text: str, earlier: list[_Block], seen_body: bool) -> bool:
    """A short line with no punctuation right under the title is the author's name."""
    return (
        not seen_body
        and _has_field(earlier, "title")
        and not _has_field(earlier, "author")
        and len(text) <= 30
        and not re.search(r"[。，,.!?！？；;:：]", text)
        and all(word[0].isupper() or word in _NAME_PARTICLES for word in _LATIN_WORD.findall(text))
    )


# In a byline written in Latin letters every word is a capitalised name but these; a line with
# other lower-case words ("Download the ebook", a web page's link under its title) is not one.
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")  # with accents: Raphaël
_NAME_PARTICLES = {"and", "de", "van", "von", "der", "den", "da", "di", "du", "la", "le", "y", "bin", "al"}


def _rejoin_page_breaks(blocks: list[_Block], typed: bool = False) -> list[_Block]:
    """A body block that stops mid-sentence continues in the next body block (a page end). In
    typed text a short line without a clause mark is a paragraph of its own: a news story's
    title or byline ("青岛市楼山乡成为专利乡", "本报记者郑德刚") stands on its own line, above the
    story. In HTML or a PDF such a line is the title of a sidebar or a box and joins its text."""
    repaired: list[_Block] = []
    for block in blocks:
        previous = repaired[-1] if repaired else None
        if (
            previous is not None
            and previous.kind == "body"
            and block.kind == "body"
            and (stops_mid_sentence(previous.text) if typed else not ends_sentence(previous.text))
        ):
            repaired[-1] = replace(previous, text=join_pieces(previous.text, block.text), end=block.end)
        else:
            repaired.append(block)
    return repaired
