"""What verification did to an LLM's sentences: true ones kept, wrong ones removed, answers that fell back.

An eval item may carry `sentences`, sentences a model may write for it, each labelled true or
wrong (with its kind of error) and with the source text it rests on (docs/interfaces.md). A
labelled sentence counts when the model wrote it (it is in the raw reply, markers aside), as kept
when it is in the answer shown and the answer did not fall back to the extractive one; a kept
sentence's citation is right when every `[n]` behind it opens a chunk holding its source. Without
labels, only what needs none is counted: the model's sentences, how many were shown, fallbacks.
Everything is computed from report.json's per-item records, grouped by split, language and error
kind, so anyone can recompute it. What it does not do: run anything, or judge unlabelled text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from qa.query.markers import claims
from qa.records import Answer
from qa.text.language import language_of
from qa.text.markers import strip_model_markers
from qa.text.normalize import t2s

_TRAILING = re.compile(r"[。！？.!?”’」』\"']+$")
_AFTER = re.compile(r"((?:\s*\[\d{1,3}\])*)\s*[。！？.!?”’」』\"']*((?:\s*\[\d{1,3}\])*)")
_N = re.compile(r"\[(\d{1,3})\]")


def squash(text: str) -> str:
    """Simplified, lower-case, without whitespace: how a sentence is found in an answer."""
    return "".join(t2s(text).lower().split())


def _body(text: str) -> str:
    return squash(_TRAILING.sub("", text.strip()))


def _sources(sentence: dict) -> list[str]:
    """The texts the sentence rests on: its quotes, or where none, its cited source substrings."""
    sources = sentence.get("cited_source_substring") or []
    sources = [sources] if isinstance(sources, str) else list(sources)
    quotes = sentence.get("quote")
    quotes = [quotes] * len(sources) if quotes is None or isinstance(quotes, str) else list(quotes)
    return [squash(q or s) for q, s in zip(quotes, sources, strict=False)]


def item_record(question: str, labelled: Sequence[dict], answer: Answer) -> dict:
    """The `verification` part of one item's record in LLM mode."""
    raw = answer.llm_raw_answer or ""
    fell_back = bool(answer.fallback)
    written = [sentence for sentence, _ in claims(raw) if sentence.strip()]
    shown = [] if fell_back or answer.refused else [s for s, _ in claims(answer.answer) if s.strip()]
    raw_flat = squash(strip_model_markers(raw))
    shown_flat = squash(strip_model_markers(answer.answer))
    chunks = {c.n: squash(c.chunk.text) for c in answer.citations}
    bodies = [_body(sentence["text"]) for sentence in labelled]
    found = [bool(body) and body in raw_flat for body in bodies]
    scored = []
    for i, sentence in enumerate(labelled):
        body = bodies[i]
        # a true sentence inside a longer wrong one of its slot ("通过了A" in "通过了A和B") was not written
        longer = any(
            found[j] and len(bodies[j]) > len(body) and body in bodies[j]
            for j in range(len(labelled))
            if j != i and labelled[j].get("slot") == sentence.get("slot")
        )
        was_written = found[i] and not longer
        kept = was_written and not fell_back and body in shown_flat
        cited_right = None
        if kept:
            markers = _markers_after(sentence["text"], answer.answer)
            sources = _sources(sentence)
            cited_right = bool(markers) and all(any(s in chunks.get(n, "") for s in sources) for n in markers)
        scored.append(
            {
                "text": sentence["text"],
                "truth": bool(sentence["truth"]),
                "error_kind": sentence.get("error_kind"),
                "written": was_written,
                "kept": kept,
                "cited_right": cited_right,
            }
        )
    return {
        "language": language_of(question),
        "llm_raw_answer": answer.llm_raw_answer,
        "fallback": answer.fallback,
        "unverified": [u.as_json() for u in answer.unverified],
        "written": len(written),
        "shown": min(len(shown), len(written)),
        "sentences": scored,
    }


def _markers_after(text: str, shown: str) -> list[int]:
    """The [n] markers right behind the sentence in the shown answer (before or after its stop)."""
    stem = _TRAILING.sub("", text.strip())
    at = shown.find(stem)
    if at < 0:
        return []
    match = _AFTER.match(shown, at + len(stem))
    return [int(n) for n in _N.findall(match.group(0))] if match else []


# --- aggregation ---------------------------------------------------------------------------


def _share(hits: int, n: int) -> dict:
    return {"n": n, "hits": hits, "rate": hits / n if n else None}


def summarise(records: Sequence[dict], splits: Sequence[str]) -> dict | None:
    """Per part (all, and each of `splits` present): answers that fell back, model sentences shown, and
    for labelled sentences true ones kept, their [n] right, wrong ones removed, by language and
    error kind. None when no record has a verification part (no LLM ran)."""
    checked = [r for r in records if r.get("verification")]
    if not checked:
        return None
    parts = {"all": checked}
    for split in splits:
        if any(r.get("split") == split for r in checked):
            parts[split] = [r for r in checked if r.get("split") == split]
    return {part: _summarise_part(group) for part, group in parts.items()}


def _summarise_part(records: Sequence[dict]) -> dict:
    out: dict[str, Any] = {}
    for language in ("all", "zh", "en"):
        group = [r["verification"] for r in records if language in ("all", r["verification"]["language"])]
        out[f"fallback:{language}"] = _share(sum(bool(v["fallback"]) for v in group), len(group))
    verifications = [r["verification"] for r in records]
    shown, written_count = (sum(v[key] for v in verifications) for key in ("shown", "written"))
    out["shown:all"] = _share(shown, written_count)
    written = [(v["language"], s) for v in verifications for s in v["sentences"] if s["written"]]
    for language in ("all", "zh", "en"):
        true = [s for lang, s in written if s["truth"] and language in ("all", lang)]
        wrong = [s for lang, s in written if not s["truth"] and language in ("all", lang)]
        out[f"true_kept:{language}"] = _share(sum(s["kept"] for s in true), len(true))
        out[f"wrong_removed:{language}"] = _share(sum(not s["kept"] for s in wrong), len(wrong))
    kept_true = [s for _, s in written if s["truth"] and s["kept"]]
    out["cited_right:all"] = _share(sum(bool(s["cited_right"]) for s in kept_true), len(kept_true))
    kinds = sorted({s["error_kind"] or "unlabelled" for _, s in written if not s["truth"]})
    for kind in kinds:
        wrong = [s for _, s in written if not s["truth"] and (s["error_kind"] or "unlabelled") == kind]
        out[f"wrong_removed:{kind}"] = _share(sum(not s["kept"] for s in wrong), len(wrong))
    out["not_written"] = sum(not s["written"] for v in verifications for s in v["sentences"])
    return out


LEGEND = (
    "cells: rate (hits/n); a labelled sentence counts where the model wrote it; kept: shown, the "
    "answer not fallen back"
)
ROWS = {
    "fallback:all": "answers fallen back to extractive",
    "fallback:zh": "  zh",
    "fallback:en": "  en",
    "shown:all": "model sentences shown",
    "true_kept:all": "true sentences kept",
    "true_kept:zh": "  zh",
    "true_kept:en": "  en",
    "cited_right:all": "kept true sentence's [n] holds its quote",
    "wrong_removed:all": "wrong sentences removed",
    "wrong_removed:zh": "  zh",
    "wrong_removed:en": "  en",
}


def rows(summary: dict) -> list[list[str]]:
    """The table of the summary: a row per measure, a column per part, cells `rate (hits/n)`."""
    parts = list(summary)
    keys = list(ROWS) + sorted(
        {k for p in parts for k in summary[p] if k.startswith("wrong_removed:") and k not in ROWS}
    )
    table = [["LLM sentences", *parts]]
    for key in keys:
        if not any(summary[p].get(key, {}).get("n") for p in parts):
            continue
        label = ROWS.get(key) or "  " + key.split(":", 1)[1]
        table.append([label, *(_cell(summary[p].get(key)) for p in parts)])
    return table


def _cell(share: dict | None) -> str:
    if not share or not share["n"]:
        return "-"
    return f"{share['rate']:.2f} ({share['hits']}/{share['n']})"
