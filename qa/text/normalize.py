"""The one form every comparison of text uses: NFKC, simplified Chinese, lower case.

`normalize` keeps whitespace (tokenizers need it); `compact` also drops it, for substring checks
between a claim and its source, which may break lines differently. What it does not do: split
or tokenize (terms.py, sentences.py).
"""

from __future__ import annotations

import unicodedata
from functools import cache


@cache
def _converter():  # noqa: ANN202 - OpenCC has no type hints
    import opencc

    return opencc.OpenCC("t2s")


def t2s(text: str) -> str:
    """Traditional Chinese characters to simplified (OpenCC's t2s table); other text unchanged."""
    return _converter().convert(text)


def normalize(text: str) -> str:
    """NFKC (full-width letters, digits and punctuation to ASCII), simplified Chinese, lower case."""
    return t2s(unicodedata.normalize("NFKC", text)).lower()


def compact(text: str) -> str:
    """`normalize` without any whitespace."""
    return "".join(normalize(text).split())
