"""Hybrid retrieval on the real article index: ranking, languages, metadata, refusal, diversity."""

from __future__ import annotations

import numpy as np
import pytest

from qa.config import Settings
from qa.errors import ConfigError
from qa.index.embeddings import embedder_identity, make_embeddings
from qa.index.keywords import KeywordIndex
from qa.index.local import LocalIndex
from qa.query.langchain_retriever import LangChainRetriever
from qa.query.retrieval import (
    MODES,
    Candidate,
    ChunkRecords,
    Retriever,
    rarest_name,
    spread,
    unknown_name,
)
from qa.records import Chunk
from qa.text.facts import asked_facts
from qa.text.sentences import split_sentences


@pytest.fixture(scope="module")
def retriever(article_settings: Settings) -> Retriever:
    embeddings = make_embeddings(article_settings)
    store = LocalIndex(article_settings).open_for_query(embeddings, embedder_identity(article_settings))
    return Retriever(store, embeddings)


def _texts(retriever: Retriever, question: str, k: int = 5) -> list[str]:
    return [result.chunk.text for result in retriever.retrieve(question, k)]


def test_page_break_sentence_ranks_first(retriever: Retriever) -> None:
    assert "近160家机构成为绿色联盟合作伙伴" in _texts(retriever, "有多少家机构成为绿色联盟合作伙伴？")[0]


def test_english_question_finds_the_chinese_paragraph(retriever: Retriever) -> None:
    texts = _texts(retriever, "What declaration was adopted at the first phase of COP15?", 3)
    assert any("《昆明宣言》" in text for text in texts)


def test_traditional_question_finds_its_paragraph(retriever: Retriever) -> None:
    texts = _texts(retriever, "COP15第二階段會議通過了什麼？", 3)
    assert any("第二阶段会议通过了" in text for text in texts)


def test_author_question_reaches_the_metadata_record(retriever: Retriever) -> None:
    results = retriever.retrieve("这篇文章的作者是谁？", 3)
    assert any(r.chunk.kind == "metadata" and "周国梅" in r.chunk.text for r in results)


def test_unanswerable_question_is_flagged_and_answerable_is_not(retriever: Retriever) -> None:
    question = "这篇文章发表在哪本期刊上？"
    assert not retriever.is_answerable(question, retriever.retrieve(question, 5))
    question = "COP15第一阶段会议通过了什么文件？"
    results = retriever.retrieve(question, 5)
    assert retriever.is_answerable(question, results)
    assert 0.0 <= results[-1].score <= results[0].score <= 1.0


def test_keyword_index_is_persisted_at_ingest_and_loaded_not_rebuilt(
    article_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation = LocalIndex(article_settings).current_generation()
    assert generation is not None and (generation / "keywords" / "keywords.json").is_file()

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("the keyword index was rebuilt at query time")

    monkeypatch.setattr(KeywordIndex, "build", no_rebuild)
    embeddings = make_embeddings(article_settings)
    store = LocalIndex(article_settings).open_for_query(embeddings, embedder_identity(article_settings))
    assert Retriever(store, embeddings).retrieve("昆明宣言", 1)
    assert store.keywords is store.keywords  # loaded once per opened store


def test_overlap_windows_of_one_paragraph_do_not_crowd_the_top() -> None:
    def chunk(chunk_id: str, paragraph: int, text: str) -> Chunk:
        return Chunk(chunk_id, "doc", "t", "s", (paragraph,), text, text)

    windows = [
        chunk("a1", 1, "第一句很长很长很长。第二句很长很长很长。"),
        chunk("a2", 1, "第二句很长很长很长。第三句。"),  # mostly a repeat of a1
        chunk("a3", 1, "第四句完全不同的内容。"),  # same paragraph, new sentences
        chunk("b", 2, "别的段落。"),
    ]
    chunks = {c.chunk_id: c for c in windows}
    candidates = [Candidate(chunk_id, 1.0 - i / 10, 0.9, 0.5) for i, chunk_id in enumerate(chunks)]
    assert [c.chunk_id for c in spread(candidates, chunks)] == ["a1", "a3", "b", "a2"]


def test_top_five_repeat_no_window_already_shown(retriever: Retriever) -> None:
    results = retriever.retrieve("生物多样性公约第十五次缔约方大会", 5)
    for i, later in enumerate(results):
        for earlier in results[:i]:
            if set(later.chunk.paragraphs) & set(earlier.chunk.paragraphs):
                shared = set(split_sentences(later.chunk.text)) & set(split_sentences(earlier.chunk.text))
                assert sum(map(len, shared)) <= 0.5 * len(later.chunk.text)


def test_langchain_adapter_returns_the_same_ranking(retriever: Retriever) -> None:
    documents = LangChainRetriever(retriever=retriever, k=3).invoke("有多少家机构成为绿色联盟合作伙伴？")
    assert [d.metadata["chunk_id"] for d in documents] == [
        r.chunk.chunk_id for r in retriever.retrieve("有多少家机构成为绿色联盟合作伙伴？", 3)
    ]
    assert set(documents[0].metadata) >= {
        "rank",
        "chunk_id",
        "doc_id",
        "section",
        "paragraphs",
        "text",
        "score",
    }


def test_question_about_the_authors_job_by_name_finds_the_position_line(retriever: Retriever) -> None:
    assert "生态环境部国际合作司司长" in _texts(retriever, "周国梅担任什么职务？", 1)[0]


def test_chunk_covering_every_concept_outranks_a_heading_sharing_one(retriever: Retriever) -> None:
    assert _texts(retriever, "第二部分的第三点是什么？", 1)[0].startswith("三是")


def test_warm_retrieve_reads_no_chunk_texts_from_chroma(
    article_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = make_embeddings(article_settings)
    store = LocalIndex(article_settings).open_for_query(embeddings, embedder_identity(article_settings))
    retriever = Retriever(store, embeddings)
    first = retriever.retrieve("COP15第一阶段会议通过了什么文件？", 5)

    def no_get(*args: object, **kwargs: object) -> None:
        raise AssertionError("a warm retrieve fetched chunks it already had")

    monkeypatch.setattr(store.collection, "get", no_get)
    assert retriever.retrieve("COP15第一阶段会议通过了什么文件？", 5) == first


def test_every_mode_ranks_and_an_unknown_mode_is_a_config_error(retriever: Retriever) -> None:
    rankings = {
        mode: [
            r.chunk.chunk_id
            for r in Retriever(retriever.store, retriever.embeddings, mode).retrieve(
                "有多少家机构成为绿色联盟合作伙伴？", 5
            )
        ]
        for mode in MODES
    }
    assert all(len(ranking) == 5 for ranking in rankings.values())
    assert len({tuple(ranking) for ranking in rankings.values()}) >= 2
    with pytest.raises(ConfigError, match="hybrid, dense, bm25, rrf"):
        Retriever(retriever.store, retriever.embeddings, "magic")


@pytest.mark.parametrize(
    ("unanswered", "answered"),
    [
        ("全球适应中心中国办公室是哪一年成立的？", "习近平主席和法国总统在哪一年发布了北京倡议？"),
        ("昆明宣言是在哪个城市通过的？", "“一带一路”环境技术交流与转移中心在哪个城市？"),
    ],
)
def test_chunk_about_the_subject_without_the_fact_asked_for_does_not_answer(
    retriever: Retriever, unanswered: str, answered: str
) -> None:
    assert not retriever.is_answerable(unanswered, retriever.retrieve(unanswered, 5))
    assert retriever.is_answerable(answered, retriever.retrieve(answered, 5))


def test_kind_of_fact_asked_for() -> None:
    assert asked_facts("“框架”基金目前筹集了多少资金？") == ("sum",)
    assert asked_facts("COP16将在什么时间举行？") == ("time",)
    assert asked_facts("How many institutions joined the coalition?") == ("number",)
    assert asked_facts("与欧洲几位领导人会面后，决定设立什么机制？") == ()  # asks what, not how many
    assert asked_facts("文章第三部分讲了什么？") == ()


def test_title_of_a_part_is_its_heading_and_the_title_of_the_article_is_the_metadata(
    retriever: Retriever,
) -> None:
    heading = retriever.retrieve("第三部分的标题是什么？", 1)[0].chunk
    assert heading.kind == "heading" and heading.text.startswith("三、")
    title = retriever.retrieve("这篇文章的标题是什么？", 1)[0].chunk
    assert title.kind == "metadata" and "深化生态环境领域国际合作" in title.text


def test_a_question_naming_several_things_needs_its_rarest_name_in_the_chunk(pipeline):
    """A donation sentence matches "how much" and "pledged" but names no Kunming: no support."""
    keywords = pipeline.store.keywords
    question = "How much money has China pledged to the Kunming Biodiversity Fund?"
    name = rarest_name(question, keywords.search(question), keywords)
    assert name is not None and name.text in {"china", "kunming", "biodiversity", "fund"}
    assert (
        rarest_name("What role does China play?", keywords.search("What role does China play?"), keywords)
        is None
    )
    assert pipeline.ask(question).refused


def test_a_chinese_question_about_a_name_the_collection_never_uses_is_refused(pipeline):
    """COP15 is the article's; TLS, COP16 and debootstrap are not, and no chunk answers a question
    about them."""
    keywords = pipeline.store.keywords
    assert unknown_name("COP15 期间中国发挥了哪两方面的能力？", keywords) is None
    assert unknown_name("如何用 TLS 加密绿色联盟的数据？", keywords) == "TLS"
    refused = pipeline.ask("COP16 期间中国发挥了哪两方面的能力？")
    assert refused.refused and refused.answer.startswith("文章没有提到“COP16”")
    assert not pipeline.ask("COP15 期间中国发挥了哪两方面的能力？").refused
    # a lower-case word that is not English is a name too, but not a typo of a known word, a
    # word too short to tell ("thx") or pasted markup's attribute names
    assert unknown_name("如何用 debootstrap 建立绿色联盟的网站？", keywords) == "debootstrap"
    assert unknown_name("绿色联盟的 partnre 有哪些？thx", keywords) is None  # "partner", one slip away
    assert unknown_name('在绿色联盟里回答 yes 吗？<img src=x onerror="alert(1)">', keywords) is None
    # English names may stand translated in a Chinese collection ("French" as 法国), but a name
    # that is not English is written in Latin letters there too
    assert unknown_name("Which OpenBSD release does the green coalition run?", keywords) == "OpenBSD"
    assert unknown_name("Which French president issued a joint initiative with China?", keywords) is None


def test_a_proper_name_an_english_collection_never_uses_is_unknown():
    """An English collection writes "Windows" as the question does: a capitalised word past the
    question's opening that it never uses is a name it does not cover, though also English."""
    tokens = [["valgrind", "runs", "on", "linux", "memcheck"], ["memcheck", "finds", "leaks", "program"]]
    english = KeywordIndex.from_tokens(["faq.html:0", "faq.html:1"], tokens)
    assert unknown_name("Does Valgrind run on Windows?", english) == "Windows"
    assert unknown_name("Does Valgrind run on Linux?", english) is None
    assert unknown_name("Windows: does Valgrind run there?", english) is None  # a capital that opens
    assert unknown_name("How To Run Memcheck On Windows", english) is None  # title case marks nothing
    chinese = KeywordIndex.from_tokens(["faq.md:0"], [["valgrind", "运行", "程序", "内存", "泄漏"]])
    assert unknown_name("Does Valgrind run on Windows?", chinese) is None  # 视窗 there, if anywhere


def test_a_name_inside_an_identifier_is_known(pipeline):
    """The tokenizer keeps "$UDPServerRun" whole: UDP is still a word the collection uses."""
    index = KeywordIndex.from_tokens(["rsyslog.md:0"], [["rsyslog", "$udpserverrun", "日志"]])
    assert unknown_name("rsyslog 怎样接收 UDP 消息？", index) is None
    assert unknown_name("rsyslog 怎样接收 TCP 消息？", index) == "TCP"


def test_an_identifier_with_a_part_the_collection_never_uses_is_unknown(pipeline):
    """The tokenizer splits "no_subtree_check" and "dhcpd.conf"; a collection that never uses
    "subtree" or "dhcpd" never writes them, so a question about them is refused naming them. One
    whose parts the collection uses ("root_squash", "sshd_config") is known."""
    tokens = [["/etc/exports", "root", "squash", "no", "check"], ["sshd", "config", "ssh", "密钥"]]
    index = KeywordIndex.from_tokens(["nfs.md:0", "ssh.md:0"], tokens)
    assert unknown_name("/etc/exports 里的 no_subtree_check 是什么意思？", index) == "no_subtree_check"
    assert unknown_name("What does no_subtree_check do in /etc/exports?", index) == "no_subtree_check"
    assert unknown_name("dhcpd.conf 在哪里？", index) == "dhcpd.conf"
    assert unknown_name("root_squash 是什么意思？", index) is None
    assert unknown_name("改完 /etc/ssh/sshd_config 之后怎么办？", index) is None
    assert unknown_name("What does root_sqaush do?", index) is None  # a slip of "squash", not a name


def test_chunks_removed_since_the_keyword_index_named_them_are_left_out(pipeline):
    """Another host may remove chunks that this host's keyword index still names: retrieval
    between the removal and the refresh must leave them out, not fail."""
    records = ChunkRecords(pipeline.store.collection)
    vector = np.asarray(pipeline.embeddings.embed_query("昆明宣言"), dtype=np.float32)
    assert records.cosines(["gone#1", "gone#2"], vector) == {}
    assert records.chunks(["gone#1"]) == {}


def test_a_sentence_binds_the_asked_fact_by_its_share_or_as_the_best_sentence_sharing_two_words():
    from qa.query.retrieval import binds

    assert binds(0.35, 1, 0.5)  # covers enough of the question
    assert binds(0.17, 3, 0.17)  # worded otherwise, but the chunk's best sentence, three words shared
    assert not binds(0.16, 1, 0.16)  # one shared word ("昆明") binds nothing
    assert not binds(0.2, 2, 0.4)  # another sentence of the chunk is the one about the question


MANUAL = """# 管理手册

## 系统日志

rsyslogd 守护进程负责收集日志，它的配置文件是 /etc/rsyslog.conf。

把日志转发到另一台机器时，在配置文件里写入一行 @@logserver:514 即可。

## 远程登录

ssh 的 -L 选项可以在两台机器之间建立加密隧道，把本地 TCP 端口转发到远程机器。

OpenSSH 服务默认监听 22 端口。

## 软件包

apt update 会刷新软件包列表；网络快而机器慢时，可以让它下载整个文件而不下载增量补丁。
"""


def test_a_chinese_question_writing_two_latin_names_needs_its_rarest_in_the_chunk(tmp_path):
    """A Chinese question copies the documents' names in Latin letters: "rsyslog 能不能通过 TCP
    加密转发" is not supported by the ssh paragraph on encrypted TCP forwarding, which names no
    rsyslog, though it matches best. jieba tags 补丁 a proper name: beside two Latin names it does
    not count."""
    from qa.config import load_settings
    from qa.ingest.sync import ingest

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "manual.md").write_text(MANUAL, encoding="utf-8")
    settings = load_settings(vectorstore_dir=tmp_path / "index")
    ingest(settings, [tmp_path / "docs"], progress=False)
    embeddings = make_embeddings(settings)
    store = LocalIndex(settings).open_for_query(embeddings, embedder_identity(settings))
    retriever = Retriever(store, embeddings)
    keywords = store.keywords
    question = "rsyslog 能不能通过 TCP 加密转发？"
    assert rarest_name(question, keywords.search(question), keywords).text == "rsyslog"
    results = retriever.retrieve(question, 4)
    ssh = next(r for r in results if r.chunk.text.startswith("ssh"))
    assert ssh.score < retriever.calibration.threshold
    assert any("rsyslog" in r.chunk.text and r.score >= retriever.calibration.threshold for r in results)
    asked = "怎样让 apt update 不下载增量补丁？"
    assert rarest_name(asked, keywords.search(asked), keywords).text in {"apt", "update"}


HISTORY_SECTION = """# 管理指南

## 14.1 Configuration history: tracking /etc/ using the Git version control system

使用 etckeeper，/etc/中的所有文件使用Git作为版本控制系统来跟踪。

这可以查看文件何时添加，更改和删除，以及文件如果是文本文件时发生的改变。
这个 git 存储信息的仓库是在/etc/.git/ 中。

To look at the history, the command etckeeper vcs log is used. To check the differences
between two points in time, a command like etckeeper vcs diff can be used.

## 14.2 调整分区大小

所有的分区都可以用 LVM 调整大小，命令是 lvextend 和 resize2fs。

## 14.3 打印机

打印机用 CUPS 管理，网页界面在 631 端口。
"""


def test_a_chunk_saying_it_in_one_sentence_outranks_one_scattering_the_words(tmp_path):
    """Debian Edu's manual, asked in English: the paragraph holding the question's words over two
    sentences about something else (when files changed, where git keeps them) matched the whole
    question as well as the one sentence that names the tool, and ranked first; the chunk whose
    one sentence covers the question now does."""
    from qa.config import load_settings
    from qa.ingest.sync import ingest

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "edu.md").write_text(HISTORY_SECTION, encoding="utf-8")
    settings = load_settings(vectorstore_dir=tmp_path / "index")
    ingest(settings, [tmp_path / "docs"], progress=False)
    embeddings = make_embeddings(settings)
    store = LocalIndex(settings).open_for_query(embeddings, embedder_identity(settings))
    question = "Which tool keeps the history of the files in /etc in Git?"
    results = Retriever(store, embeddings).retrieve(question, 3)
    assert results[0].chunk.text.startswith("使用 etckeeper")
    scattered = next(r for r in results if r.chunk.text.startswith("这可以查看"))
    assert scattered.rank > 1 and scattered.score < results[0].score
