"""Which language a text is written in, by one rule for retrieval, answering and verification.

A text is Chinese when it has at least two Chinese characters and no fewer of them than Latin
words: "apt-get 是什么？" is Chinese, "What does 道 mean?" is English. What it does not do:
translate (terms.py maps English words to the collection's Chinese terms).
"""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3400-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]+")


def is_chinese(text: str) -> bool:
    cjk = len(CJK.findall(text))
    return cjk >= 2 and cjk >= len(LATIN_WORD.findall(text))


def language_of(text: str) -> str:
    """'zh' or 'en': the language an answer to this text is written in."""
    return "zh" if is_chinese(text) else "en"
