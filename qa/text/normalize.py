"""The one form every comparison of text uses: NFKC, simplified Chinese, lower case.

`normalize` keeps whitespace (tokenizers need it); `compact` also drops it, for substring checks
between a claim and its source, which may break lines differently. What it does not do: split
or tokenize (terms.py, sentences.py).
"""

from __future__ import annotations

import unicodedata
from functools import cache


@cache
def _converter(config: str):  # noqa: ANN202 - OpenCC has no type hints
    import opencc

    return opencc.OpenCC(config)


def t2s(text: str) -> str:
    """Traditional Chinese to simplified; other text unchanged. Text written in traditional
    characters is converted with Taiwan's phrases too (OpenCC's tw2sp: 記憶體 -> 内存, 伺服器 ->
    服务器, 軟體 -> 软件), so a question or a document in Taiwan's wording meets one in mainland
    wording. Simplified text is left as it is: tw2sp would read its 文件 as Taiwan's (文档)."""
    simplified = _converter("t2s").convert(text)
    return simplified if simplified == text else _converter("tw2sp").convert(text)


def normalize(text: str) -> str:
    """NFKC (full-width letters, digits and punctuation to ASCII), simplified Chinese, lower case."""
    return t2s(unicodedata.normalize("NFKC", text)).lower()


def compact(text: str) -> str:
    """`normalize` without any whitespace."""
    return "".join(normalize(text).split())
