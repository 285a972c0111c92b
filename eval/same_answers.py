"""Are two `qa eval` runs the same, item by item? For behaviour-preserving changes: run
`qa eval SET --out BEFORE` on the old code and `--out AFTER` on the new, then

    python eval/same_answers.py BEFORE/report.json AFTER/report.json

It compares each item's answer text, cited chunk ids, retrieved chunk ids and scores (4
decimals), names every item that differs and exits 1 if any does."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def fingerprint(record: dict) -> tuple:
    return (
        record["answer"],
        [citation["chunk_id"] for citation in record["citations"]],
        [result["chunk_id"] for result in record["retrieved"]],
        [round(result["score"], 4) for result in record["retrieved"]],
    )


def main(before: str, after: str) -> int:
    old, new = (
        {record["id"]: record for record in json.loads(Path(path).read_text(encoding="utf-8"))["items"]}
        for path in (before, after)
    )
    differ = [key for key in old if key not in new or fingerprint(old[key]) != fingerprint(new[key])]
    for key in differ:
        print("differs:", key)
    print(f"{len(old)} items, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python eval/same_answers.py BEFORE/report.json AFTER/report.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
