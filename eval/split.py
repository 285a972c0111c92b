"""Give every item of every eval set a fixed `split`: "tune" (fit rules, weights and thresholds on
these) or "heldout" (only ever measured).

Stratified by kind, about half each, with a fixed seed, so each kind is measured on both sides.
Idempotent: an item that already has a split keeps it, and an item's draw depends only on the
seed, the set's name and the item's id, so adding items to a set never moves the old ones.

    python eval/split.py             # add the field where missing, rewrite the sets
    python eval/split.py --check     # exit 1 if some item has no split or the shares drift
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

SETS = Path(__file__).resolve().parent / "sets"
SEED = "qa-split-2026"
SPLITS = ("tune", "heldout")


def _draw(set_name: str, item_id: str) -> str:
    """A stable pseudo-random key for ordering the items of one kind."""
    return hashlib.sha256(f"{SEED}\x00{set_name}\x00{item_id}".encode()).hexdigest()


def assign(set_name: str, items: list[dict]) -> list[dict]:
    """Within each kind, items without a split are ordered by their draw and dealt out so the kind's
    tune and heldout counts differ by at most one; which side gets a kind's odd item is drawn too."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        by_kind[item["kind"]].append(item)
    for kind, members in by_kind.items():
        counts = {name: sum(item.get("split") == name for item in members) for name in SPLITS}
        first, second = SPLITS if int(_draw(set_name, f"kind:{kind}"), 16) % 2 == 0 else reversed(SPLITS)
        for item in sorted((i for i in members if "split" not in i), key=lambda i: _draw(set_name, i["id"])):
            side = first if counts[first] <= counts[second] else second
            item["split"] = side
            counts[side] += 1
    return items


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")


def problems(set_name: str, items: list[dict]) -> list[str]:
    missing = [item["id"] for item in items if item.get("split") not in SPLITS]
    found = [f"{set_name}: {len(missing)} items have no valid split (first: {missing[0]})"] if missing else []
    by_kind: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_kind[item["kind"]].append(item.get("split"))
    for kind, splits in by_kind.items():
        if abs(splits.count("tune") - splits.count("heldout")) > 1:
            found.append(f"{set_name}: kind {kind} splits {splits.count('tune')}/{splits.count('heldout')}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Add a fixed tune/heldout split to every eval set item.")
    parser.add_argument(
        "--check", action="store_true", help="only report items without a split; write nothing"
    )
    parser.add_argument("sets", nargs="*", type=Path, help="eval sets (default: every eval/sets/*.jsonl)")
    args = parser.parse_args(argv)
    paths = args.sets or sorted(SETS.glob("*.jsonl"))
    found: list[str] = []
    for path in paths:
        items = read(path)
        if args.check:
            found += problems(path.stem, items)
            continue
        write(path, assign(path.stem, items))
        tune = sum(item["split"] == "tune" for item in items)
        print(f"{path.name}: {tune} tune, {len(items) - tune} heldout")
    if args.check:
        print("\n".join(found) or "every item has a split, each kind about half and half")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
