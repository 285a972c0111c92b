"""The unknown-name check per question, against keyword vocabularies of growing size.

Run: .venv/bin/python bench/name_lookup.py [--sizes 3000 100000 300000]

`unknown_name` asks, for each Latin name in a Chinese question, whether some term of the
collection holds it. It used to scan every term per question; now it searches the vocabulary's
runs of letters and digits, joined once per keyword index. This prints both per question and
the one-off cost of the join. bench/shared_index.py's 100k collection recombines the article's
sentences, so its vocabulary is the article's (894 terms in 5,765 characters) and the check
costs nothing there; 100,000 real chunks likely hold 10^5 terms or more. So the vocabularies
here are jieba dictionary words, one in ten a random identifier, in chunks of 50 terms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from qa.index.keywords import KeywordIndex
from qa.query.retrieval import _NAME_LIKE, unknown_name
from qa.text.language import is_chinese
from qa.text.normalize import normalize
from qa.text.terms import quiet_jieba

QUESTIONS = [
    "如何用 TLS 加密绿色联盟的数据？",
    "COP16 期间中国发挥了哪两方面的能力？",
    "rsyslog 怎样接收 UDP 消息？",
    "Samba 和 NFS 哪个更快？",
]


def scanned(question: str, index: KeywordIndex) -> str | None:
    """The check as it was: every term scanned for each name (the reference)."""
    if not is_chinese(question):
        return None
    for word in _NAME_LIKE.findall(question):
        name = normalize(word)
        if name not in index.vocab and not any(name in term for term in index.vocab):
            return word
    return None


def vocabulary_index(size: int, rng: random.Random) -> KeywordIndex:
    import jieba

    quiet_jieba()
    jieba.initialize()
    words = [word for word, count in jieba.dt.FREQ.items() if count]
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    latin = ["".join(rng.choices(alphabet, k=rng.randint(3, 12))) for _ in range(size // 10)]
    terms = rng.sample(words, size - len(latin)) + ["$udpserverrun", "samba"] + latin[2:]
    chunks = [terms[start : start + 50] for start in range(0, len(terms), 50)]
    return KeywordIndex.from_tokens([f"c:{i}" for i in range(len(chunks))], chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[3_000, 100_000, 300_000])
    args = parser.parse_args()
    rng = random.Random(0)
    print(f"{'terms':>8s} {'scan p50/max':>16s} {'indexed p50/max':>16s} {'join once':>10s}")
    for size in args.sizes:
        index = vocabulary_index(size, rng)
        started = time.perf_counter()
        index.uses_latin("zz")
        join = (time.perf_counter() - started) * 1000
        times: dict[str, list[float]] = {"scan": [], "indexed": []}
        for _ in range(5):
            for question in QUESTIONS:
                for name, check in (("scan", scanned), ("indexed", unknown_name)):
                    started = time.perf_counter()
                    found = check(question, index)
                    times[name].append((time.perf_counter() - started) * 1000)
                assert found == scanned(question, index), question
        row = [f"{statistics.median(t):7.2f}/{max(t):<7.2f}" for t in times.values()]
        print(f"{len(index.vocab):8d} {row[0]:>16s} {row[1]:>16s} {join:8.1f} ms")


if __name__ == "__main__":
    main()
