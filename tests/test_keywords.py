"""The keyword index: tokens, traditional -> simplified, the English map, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.index.keywords import KeywordIndex
from qa.text.language import is_chinese
from qa.text.normalize import normalize
from qa.text.terms import tokenize

TEXTS = [
    "全力推动第一阶段会议通过了《昆明宣言》。",
    "已有来自43个国家的近160家机构成为绿色联盟合作伙伴。",
    "气候变化、生物多样性丧失和环境污染三大挑战。",
]


def test_tokens_drop_punctuation_and_stop_words() -> None:
    tokens = tokenize("有多少家机构成为了绿色联盟合作伙伴？")
    assert "机构" in tokens and "合作伙伴" in tokens
    assert not {"？", "了", "多少", "有"} & set(tokens)


def test_question_words_leave_no_pieces_behind() -> None:
    assert tokenize("根据文章编号，这篇文章是哪一年发表的？") == ["编号", "发表"]


def test_title_asked_of_a_named_part_is_not_a_topic_word() -> None:
    index = KeywordIndex.build(["a"], TEXTS[:1])
    assert [c.text for c in index.concepts("第二部分的标题是什么？")] == ["第二部分"]
    assert "标题" in [c.text for c in index.concepts("这篇文章的标题是什么？")]


def test_traditional_question_is_simplified() -> None:
    assert normalize("這篇文章的作者是誰？") == "这篇文章的作者是谁?"
    assert "挑战" in tokenize("三大挑戰")


def test_english_question_maps_to_the_collections_chinese_terms() -> None:
    index = KeywordIndex.build(["a", "b", "c"], TEXTS)
    assert not is_chinese("What declaration was adopted at COP15?")
    concepts = index.concepts("What declaration was adopted at the first phase of COP15?")
    terms = {term for concept in concepts for term, _ in concept.terms}
    assert "宣言" in terms
    hits = index.search("What declaration was adopted at the first phase of COP15?")
    assert hits.top(1) == [0]


def test_saved_index_loads_with_the_same_scores(tmp_path: Path) -> None:
    index = KeywordIndex.build(["a", "b", "c"], TEXTS)
    index.save(tmp_path / "kw")
    loaded = KeywordIndex.load(tmp_path / "kw")
    assert loaded.chunk_ids == ["a", "b", "c"]
    assert loaded.search("多少家机构成为绿色联盟合作伙伴").top(1) == [1]
    assert loaded.english == index.english
    assert loaded.english_share == index.english_share == 0.0  # saved, not the default
    assert loaded.document_english == index.document_english == {"a": 0.0, "b": 0.0, "c": 0.0}
    assert loaded.english_chunks.tolist() == index.english_chunks.tolist() == [False] * 3
    # read with numpy alone, the arrays and vocabulary are those bm25s's own loader gives
    assert loaded.vocab == loaded.bm25.vocab_dict == index.vocab
    for name, array in loaded.scores.items():
        assert np.array_equal(array, loaded.bm25.scores[name]) and np.array_equal(array, index.scores[name])


def test_sparse_search_scores_like_bm25s_over_the_whole_collection() -> None:
    """The posting-list search must give what bm25s gives when it scores every chunk."""
    texts = [*TEXTS, "联盟合作伙伴与合作机构。", "绿色发展国际联盟。", "没有共同词语。"]
    index = KeywordIndex.build([str(i) for i in range(len(texts))], texts)
    question = "绿色联盟有多少合作伙伴机构？"
    hits = index.search(question)
    tokens = [term for concept in hits.concepts for term, _ in concept.terms if term in index.vocab]
    reference = index.bm25.get_scores_from_ids([index.vocab[t] for t in tokens])
    assert hits.positions.tolist() == np.flatnonzero(reference).tolist()
    assert np.allclose(hits.scores, reference[hits.positions], rtol=1e-5)
    assert hits.top(2) == np.argsort(-reference, kind="stable")[:2].tolist()
    assert hits.lookup(5) == (0.0, 0.0)  # a chunk holding none of the words
    assert 0.0 < hits.coverage.min() <= hits.coverage.max() <= 1.0


def test_english_concept_takes_the_best_of_its_translations_not_their_sum() -> None:
    index = KeywordIndex.build(["a", "b"], ["宣言宣言。", "其他。"])
    (concept,) = [c for c in index.concepts("declaration") if len(c.terms) > 1]
    hits = index.search("declaration")
    best = max(
        weight * index.bm25.get_scores_from_ids([index.vocab[term]])[0]
        for term, weight in concept.terms
        if term in index.vocab
    )
    assert hits.positions.tolist() == [0] and np.isclose(hits.scores[0], best)


def test_a_latin_word_is_found_inside_terms_as_a_scan_of_every_term_finds_it() -> None:
    """uses_latin searches each term's runs of letters and digits, joined once per index; it must
    agree with the plain scan for every piece of every term, for words found in none, and across
    the boundaries between runs and between terms."""
    terms = [
        "$udpserverrun",
        "cop15",
        "rsyslog",
        "日志",
        "ipv6地址",
        "tls",
        "x",
        "a1",
        "ab-cd",
        "v2.0",
        "第三章",
    ]
    index = KeywordIndex.from_tokens([f"c:{i}" for i in range(len(terms))], [[t] for t in terms])
    pieces = {t[i:j] for t in index.vocab for i in range(len(t)) for j in range(i + 1, len(t) + 1)}
    absent = {
        "tcp",
        "cop16",
        "rsyslogcop15",
        "udpserverruntls",
        "15rsyslog",
        "tlsx",
        "a1x",
        "abcd",
        "v20",
        "日",
    }
    for word in pieces | absent:
        assert index.uses_latin(word) == any(word in term for term in index.vocab), word
    assert index.uses_latin("udp") and not index.uses_latin("tcp")


def test_an_english_word_counts_in_a_chinese_pages_untranslated_paragraph_as_its_translations_do() -> None:
    """An English question meets a Chinese manual's untranslated paragraph in its own words and the
    Chinese paragraphs only through translations; the English text does not win for that alone."""
    index = KeywordIndex.build(
        ["zh.html:1", "zh.html:2", "zh.html:3", "en.html:1", "zh.html:4"],
        [
            "用 -t 选项告诉 apt 目标发行版。",
            "Upgrades follow the release you name.",  # left in English in the Chinese page
            "新版本发布的时候 release 字段会变。",  # an English word inside Chinese text
            "Upgrades follow the release you name.",  # an English page
            "再一个段落。",
        ],
    )
    (release,) = [c for c in index.concepts("Which option names the release?") if c.text == "release"]
    translations = [weight for term, weight in release.terms if term != "release"]
    assert len(translations) >= 2 and release.floor == translations[0] < 1
    hits = index.search("Which option names the release?")
    untranslated, inside, english_page = (hits.lookup(n)[0] for n in (1, 2, 3))
    assert untranslated == pytest.approx(release.floor * english_page)  # the same text, leveled
    assert inside > english_page  # a name in Chinese text counts in full, beside its translation
    assert hits.top(1) == [0]
    assert index.english_chunks.tolist() == [False, True, False, True, False]


def test_an_english_word_counts_however_the_text_inflects_it() -> None:
    """The word "configures" finds "configuration", and its forms together are as rare as the
    chunks that hold any of them, not as the rarest form."""
    texts = [
        "The first elements to edit in the DHCP server configuration files are the domain name.",
        "A configured zone is changed by bind.",
        "Configuration of printers uses CUPS.",
        "The DHCP server gives each machine an address.",
    ]
    index = KeywordIndex.build([f"en.html:{n}" for n in range(4)], texts)
    question = "Which file configures the DHCP server?"
    (configure,) = [c for c in index.concepts(question) if c.text == "configure"]
    assert {term for term, _ in configure.terms} == {"configure", "configuration", "configured"}
    assert index.concept_idf(configure) == pytest.approx(index._idf_of(3))  # three chunks hold a form
    assert index.search(question).top(1) == [0]


def test_an_inflected_english_word_reaches_chinese_text_as_its_dictionary_form_does() -> None:
    """The bilingual map holds "store" (CC-CEDICT's gloss of 存储); "stored" reaches 存储 by stem,
    and the chunk that holds it ranks first."""
    texts = ["每个用户有他们自己的 crontab。", "其内容存储在 /var/spool/cron/crontabs/user 文件中。"]
    index = KeywordIndex.build(["zh.html:1", "zh.html:2"], texts)
    question = "Where is a user's crontab stored?"
    (stored,) = [c for c in index.concepts(question) if c.text == "stored"]
    assert "存储" in {term for term, _ in stored.terms}
    assert index.search(question).top(1) == [1]


def test_a_chinese_word_glossed_only_by_two_word_phrases_reaches_english_text_by_their_heads() -> None:
    from qa.text.terms import english_glosses

    assert english_glosses("内存") == ("storage", "memory")  # "internal storage", "computer memory"
    assert english_glosses("硬盘") == ("disk",)  # "hard disk": "hard" alone means something else
    assert english_glosses("服务器") == ("server",)  # a one-word gloss stands alone
    english = [
        "Workstations need at least a 1500 MHz processor.",
        "Workstations need at least 1024 MiB of memory.",
    ]
    index = KeywordIndex.build(["cpu", "memory"], english)
    assert index.search("工作站最少需要多少内存？").top(1) == [1]


def test_a_chinese_question_reaches_english_text_through_the_glosses_of_its_words() -> None:
    english = [
        "Clients mount the remote directory at boot.",
        "The file /etc/exports lists the directories that are exported.",
    ]
    index = KeywordIndex.build(["mount", "exports"], english)
    (concept,) = [c for c in index.concepts("怎样导出目录？") if c.text == "导出"]
    # "export" glossed, as the text inflects it; its two forms are one sense and share no weight
    assert [term for term, _ in concept.terms] == ["导出", "exported", "exports"]
    assert {weight for _, weight in concept.terms} == {1.0}
    assert index.search("怎样导出目录？").top(1) == [1]
    # A word the collection itself uses reaches a chunk's English text as much as the chunk's
    # document is English: an English page fully, a Chinese page's untranslated paragraph (here
    # half of its page) half; its own Chinese chunk still ranks first.
    chinese = KeywordIndex.build(
        ["zh.html:1", "zh.html:2", "en.html:1"],
        ["文件列出导出的目录。", "The export of files.", "The export of files."],
    )
    (own,) = [c for c in chinese.concepts("怎样导出目录？") if c.text == "导出"]
    assert own.terms == (("导出", 1.0), ("export", 1.0)) and own.per_document == {"export"}
    assert chinese.document_english == {"zh.html": 0.5, "en.html": 1.0}
    hits = chinese.search("怎样导出目录？")
    assert hits.top(3) == [0, 2, 1]
    assert hits.lookup(2)[0] == 2 * hits.lookup(1)[0]
    # A collection without English text glosses nothing (and loads no dictionary to try).
    assert index.english_share == 1.0 and round(chinese.english_share, 2) == 0.67
    only_chinese = KeywordIndex.build(["a"], ["文件列出目录。"])
    assert only_chinese.english_share == 0.0
    (alone,) = [c for c in only_chinese.concepts("怎样导出目录？") if c.text == "导出"]
    assert alone.terms == (("导出", 1.0),)
