"""The dev set against the article alone and against the article plus 50 unrelated documents.

Run: .venv/bin/python bench/distractors.py [--count 50] [--seed 0] [--keep DIR] [--json]

Issue 7's bar: with the unrelated documents in the collection, hit@5 and refusal_accuracy
may drop by at most 0.02. The unrelated documents are whole real documents from corpus.py
(half People's Daily news in Chinese, half Python reference sections in English), written as
Markdown with a `# title` line. Both runs go through `qa.eval.runner.evaluate`, the call behind
`qa eval`; each item that loses its hit or its refusal is printed with what was retrieved.
Exit status 1 when the bar is not met.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from corpus import ARTICLE, unrelated_documents, write_folder

from qa.config import PROJECT_ROOT, load_settings
from qa.eval.runner import evaluate, write_report
from qa.ingest.sync import ingest

DEV_SET = PROJECT_ROOT / "eval" / "sets" / "article_dev.jsonl"
COMPARED = (
    "hit@1",
    "hit@5",
    "mrr@5",
    "citation_precision",
    "citation_recall",
    "keyword_recall",
    "refusal_accuracy",
    "false_refusal_rate",
    "mean_chunk_chars",
)
BAR = {"hit@5": 0.02, "refusal_accuracy": 0.02}  # largest drop allowed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="unrelated documents (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="which unrelated documents (default 0)")
    parser.add_argument("--set", type=Path, default=DEV_SET, help="the eval set (default: the dev set)")
    parser.add_argument(
        "--keep", type=Path, help="build in this folder, keep it and write both reports there"
    )
    parser.add_argument("--json", action="store_true", help="also print the comparison as one JSON line")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="bench-distractors-") as work:
        return run(args, Path(work))


def run(args: argparse.Namespace, work: Path) -> int:
    started = time.perf_counter()
    folder = work / "unrelated"
    shutil.rmtree(folder, ignore_errors=True)
    documents = unrelated_documents(args.count, args.seed)
    write_folder(documents, folder, formats=(".md",))
    alone = load_settings(vectorstore_dir=work / "article-alone")
    mixed = load_settings(vectorstore_dir=work / "article-and-unrelated")
    ingest(alone, [ARTICLE], progress=False)
    if not mixed.vectorstore_dir.exists():  # start from the article's index: embed its chunks once
        shutil.copytree(alone.vectorstore_dir, mixed.vectorstore_dir)
    added = ingest(mixed, [ARTICLE, folder], progress=False)
    built = time.perf_counter() - started
    languages = sum(document.language == "zh" for document in documents)
    print(
        f"{len(documents)} unrelated documents ({languages} Chinese, {len(documents) - languages} English, "
        f"{added.total_chunks} chunks with the article's) indexed in {built:.0f} s"
    )

    reports = {}
    for name, settings in (("alone", alone), ("mixed", mixed)):
        reports[name] = evaluate(settings, args.set, progress=False)
        if args.keep:
            write_report(reports[name], work / f"report-{name}")
    seconds = time.perf_counter() - started
    before, after = reports["alone"].metrics["overall"], reports["mixed"].metrics["overall"]
    failures = [name for name, allowed in BAR.items() if before[name] - after[name] > allowed + 1e-9]
    print_table(before, after, len(documents))
    items = lost_items(reports["alone"].items, reports["mixed"].items)
    print_lost(items)
    top = lost_top(reports["alone"].items, reports["mixed"].items)
    if top:
        print(f"\nno longer first, still in the top 5: {', '.join(top)}")
    verdict = "FAILED: " + ", ".join(failures) if failures else "met"
    print(f"\nbar (hit@5 and refusal_accuracy drop <= 0.02): {verdict}")
    print(f"total {seconds:.0f} s")
    if args.json:
        print(
            json.dumps(
                {
                    "alone": {name: before.get(name) for name in COMPARED},
                    "mixed": {name: after.get(name) for name in COMPARED},
                    "documents": len(documents),
                    "chunks": added.total_chunks,
                    "failures": failures,
                    "lost": [item["id"] for item in items],
                    "seconds": seconds,
                },
                ensure_ascii=False,
            )
        )
    return 1 if failures else 0


def print_table(before: dict, after: dict, count: int) -> None:
    rows = [("metric", "article alone", f"+ {count} unrelated", "change")]
    for name in COMPARED:
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            rows.append((name, str(old), str(new), ""))
            continue
        digits = 0 if name == "mean_chunk_chars" else 3
        rows.append((name, f"{old:.{digits}f}", f"{new:.{digits}f}", f"{new - old:+.{digits}f}"))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    print()
    for number, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
            )
        )
        if number == 0:
            print("  ".join("-" * width for width in widths))


def lost_items(before: tuple[dict, ...], after: tuple[dict, ...]) -> list[dict]:
    """Items the unrelated documents made worse: a hit@5 lost, a refusal lost or a new refusal."""
    old = {record["id"]: record for record in before}
    lost = []
    for record in after:
        previous, scores = old[record["id"]]["scores"], record["scores"]
        if record["answerable"]:
            worse = (previous.get("hit@5") and not scores.get("hit@5")) or (
                scores.get("refused") and not previous.get("refused")
            )
        else:
            worse = previous.get("refused") and not scores.get("refused")
        if worse:
            lost.append(record)
    return lost


def lost_top(before: tuple[dict, ...], after: tuple[dict, ...]) -> list[str]:
    """Answerable items whose first supporting chunk was ranked first and now is not (hit@1)."""
    old = {record["id"]: record["scores"] for record in before}
    return [
        record["id"]
        for record in after
        if record["answerable"]
        and old[record["id"]].get("hit@1")
        and not record["scores"].get("hit@1")
        and record["scores"].get("hit@5")
    ]


def print_lost(items: list[dict]) -> None:
    if not items:
        print("\nno item lost its hit@5 or its refusal, and no answerable item became a refusal")
        return
    print(f"\n{len(items)} item(s) made worse by the unrelated documents:")
    for record in items:
        scores = record["scores"]
        what = "refused" if scores.get("refused") else "answered"
        print(f"- {record['id']} ({record['kind']}, {what}): {record['question']}")
        for hit in record["retrieved"][:5]:
            text = " ".join(hit["text"].split())[:70]
            print(f"    {hit['rank']}. {hit['doc_id']} ¶{','.join(map(str, hit['paragraphs']))}: {text}")
        if record["answer"] and not scores.get("refused"):
            print(f"    answer: {' '.join(record['answer'].split())[:160]}")


if __name__ == "__main__":
    sys.exit(main())
