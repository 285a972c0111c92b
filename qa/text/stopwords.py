"""Words that carry no topic and no claim: function words, question words and the words a
question uses to point at the text itself ("according to the article", "文中提到"). One list for
the keyword index, sentence choice and verification."""

from __future__ import annotations

_CHINESE = (
    "的 了 是 在 和 与 及 或 也 都 就 而 并 等 对 从 把 被 让 将 "
    "为 以 于 之 其 这 那 此 该 有 个 上 中 下 一 不 吗 呢 吧 啊 "
    "哪 谁 么 几 多少 什么 哪些 哪个 哪一个 哪里 哪儿 哪一 哪一年 哪年 "
    "哪类 哪项 哪几 哪几个 哪两 哪三 怎样 怎么 怎么样 如何 为什么 是否 "
    "是不是 一个 一些 这个 这些 那个 那些 这位 那位 这篇 那篇 本篇 该文 "
    "此文 我们 你们 他们 它们 我 你 他 她 它 其中 请 告诉 一下 提到 "
    "提出 认为 作者认为 说 讲 讲的 指 指出 根据 关于 文中 文章 本文 "
    "篇文章 全文 原文 里 中的 所 着 过 到 给 又 还 目前 至今 已经 "
    "一共 共 主要 分别 具体 以及 还有 几个 方面 年 作为 那次 这次 会 "
    "能 要 去 来 做 看 用 想 得 可以 能够 应该 应当"
)
_ENGLISH = (
    "a an the of to in on at for by with from as and or but if is are was were be been being do does "
    "did has have had it its this that these those which what who whom whose when where why how "
    "many much according article text document say says said tell me please name named there their "
    "they them he she his her we our you your i any some so than then such into about over under "
    "will would should could can may might must also not no yes all each other one ones kind "
    "mention mentioned"
)
STOP_WORDS = frozenset(_CHINESE.split()) | frozenset(_ENGLISH.split())


def is_stop_word(word: str) -> bool:
    return word in STOP_WORDS
