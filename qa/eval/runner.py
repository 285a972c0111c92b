"""Eval sets: load them, put every question to the pipeline (or the baseline), score, report.

What it does: reads the JSONL format of docs/interfaces.md; asks each question with the same calls
the CLI and the web use (`retrieve` and `ask`); scores each item against its gold quotes and
keywords; aggregates the metrics overall and per kind from the per-item records (so anyone can
recompute them from report.json); writes report.json, report.md and report.png.
With an LLM configured (`--llm`), each record also says what verification did to the model's
sentences, counted against the item's labelled `sentences` when it has them (verification.py).
What it does not do: judge answers with an LLM, or know how retrieval and answering work.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from qa.config import Settings
from qa.errors import InputError
from qa.eval import verification
from qa.records import Answer
from qa.text.terms import load_whole_dictionary

REPORT_FORMAT = 1
HIT_KS = (1, 3, 5)
MRR_DEPTH = 5
SPLITS = ("tune", "heldout")  # the parts eval/split.py gives every item: fit on tune, report heldout
REQUIRED_FIELDS = {
    "id": str,
    "question": str,
    "gold_quotes": list,
    "answer_keywords": list,
    "answerable": bool,
    "kind": str,
}

# Metric names in report order, and which way is better (None: neither, it is context).
METRICS: dict[str, bool | None] = {
    "hit@1": True,
    "hit@3": True,
    "hit@5": True,
    "mrr@5": True,
    "citation_precision": True,
    "citation_recall": True,
    "keyword_recall": True,
    "refusal_accuracy": True,
    "false_refusal_rate": False,
    "latency_ms_p50": False,
    "latency_ms_p95": False,
    "mean_chunk_chars": None,
}
ANSWER_METRICS = (
    "citation_precision",
    "citation_recall",
    "keyword_recall",
    "refusal_accuracy",
    "false_refusal_rate",
)


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    gold_quotes: tuple[str, ...]
    answer_keywords: tuple[str, ...]
    answerable: bool
    kind: str
    reference_answer: str = ""
    history: tuple[dict, ...] = ()
    split: str = ""
    sentences: tuple[dict, ...] = ()  # labelled sentences a model may write (LLM mode's counts)


@dataclass(frozen=True)
class Report:
    """The outcome of one run: what ran (mode, settings), the metrics, one record per item."""

    set_path: str
    mode: str
    settings: dict
    metrics: dict
    items: tuple[dict, ...]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def as_json(self) -> dict:
        return {
            "format": REPORT_FORMAT,
            "set": self.set_path,
            "mode": self.mode,
            "created_at": self.created_at,
            "settings": self.settings,
            "metrics": self.metrics,
            "items": list(self.items),
        }


class System(Protocol):
    """What the runner needs: Pipeline and Baseline both provide it."""

    def retrieve(self, question: str, k: int | None = None) -> Any: ...

    def ask(self, question: str, history: Sequence[dict] = ()) -> Answer: ...


# --- loading -------------------------------------------------------------------------------


def load_set(path: Path) -> list[EvalItem]:
    """Read and check an eval set; every problem is one InputError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The eval set {path} does not exist.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"The eval set {path} is not UTF-8 text.") from None
    items: list[EvalItem] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = _parse_item(line, f"{path}, line {number}")
        if item.id in seen:
            raise InputError(f"{path}, line {number}: the id '{item.id}' is used twice.")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise InputError(f"The eval set {path} holds no items.")
    return items


def _parse_item(line: str, where: str) -> EvalItem:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where} is not valid JSON ({exc.msg}, column {exc.colno}).") from None
    if not isinstance(raw, dict):
        raise InputError(f"{where} is not a JSON object.")
    for name, kind in REQUIRED_FIELDS.items():
        if name not in raw:
            raise InputError(f"{where} has no '{name}' field.")
        if not isinstance(raw[name], kind):
            raise InputError(f"{where}: '{name}' must be a {kind.__name__}.")
    for name in ("gold_quotes", "answer_keywords"):
        if not all(isinstance(entry, str) and entry.strip() for entry in raw[name]):
            raise InputError(f"{where}: '{name}' must be a list of non-empty strings.")
    if not raw["question"].strip():
        raise InputError(f"{where}: the question is empty.")
    if raw["answerable"] and not raw["gold_quotes"]:
        raise InputError(f"{where}: an answerable item needs at least one gold quote.")
    history = raw.get("history") or []
    if not isinstance(history, list) or not all(
        isinstance(turn, dict) and isinstance(turn.get("role"), str) and isinstance(turn.get("content"), str)
        for turn in history
    ):
        raise InputError(f"{where}: 'history' must be a list of {{role, content}} objects.")
    split = raw.get("split", "")
    if split not in ("", *SPLITS):
        raise InputError(f"{where}: 'split' must be one of {', '.join(SPLITS)}, not {split!r}.")
    sentences = raw.get("sentences") or []
    if not isinstance(sentences, list) or not all(
        isinstance(s, dict) and isinstance(s.get("text"), str) and isinstance(s.get("truth"), bool)
        for s in sentences
    ):
        raise InputError(f"{where}: 'sentences' must be a list of {{text, truth, ...}} objects.")
    return EvalItem(
        id=raw["id"],
        question=raw["question"],
        gold_quotes=tuple(raw["gold_quotes"]),
        answer_keywords=tuple(raw["answer_keywords"]),
        answerable=raw["answerable"],
        kind=raw["kind"],
        reference_answer=raw.get("reference_answer") or "",
        history=tuple({"role": turn["role"], "content": turn["content"]} for turn in history),
        split=split,
        sentences=tuple(sentences),
    )


def select_split(items: Sequence[EvalItem], split: str | None, path: Path) -> list[EvalItem]:
    """The items of one part of the set: `tune` is fitted on, `heldout` only ever measured."""
    if split is None:
        return list(items)
    if split not in SPLITS:
        raise InputError(f"--split must be one of {', '.join(SPLITS)}, not {split!r}.")
    chosen = [item for item in items if item.split == split]
    if not chosen:
        raise InputError(f"The eval set {path} has no items with split '{split}' (run eval/split.py).")
    return chosen


# --- scoring one item ----------------------------------------------------------------------


def compact(text: str) -> str:
    return "".join(text.split())


def supports(text: str, gold_quotes: Iterable[str]) -> bool:
    """The docs/interfaces.md rule: whitespace removed from both, the chunk contains a gold quote."""
    haystack = compact(text)
    return any(compact(quote) and compact(quote) in haystack for quote in gold_quotes)


def keyword_found(keyword: str, answer: str) -> bool:
    """`a|b` means either; case-insensitive."""
    answer = answer.lower()
    return any(alt.strip() and alt.strip().lower() in answer for alt in keyword.split("|"))


def score_item(item: EvalItem, retrieved: Sequence[str], answer: Answer | None) -> dict:
    """Per-item scores from the retrieved chunk texts and the answer (None: retrieval only)."""
    ranks = [rank for rank, text in enumerate(retrieved, start=1) if supports(text, item.gold_quotes)]
    first = ranks[0] if ranks else None
    scores: dict[str, Any] = {"support_rank": first}
    if item.answerable:
        for k in HIT_KS:
            scores[f"hit@{k}"] = first is not None and first <= k
        scores[f"rr@{MRR_DEPTH}"] = 1 / first if first is not None and first <= MRR_DEPTH else 0.0
    if answer is None:
        return scores
    scores["refused"] = answer.refused
    supporting = [supports(c.chunk.text, item.gold_quotes) for c in answer.citations]
    scores["cited"] = len(supporting)
    scores["cited_supporting"] = sum(supporting)
    if item.answerable:
        scores["citation_hit"] = any(supporting)
        found = [keyword_found(keyword, answer.answer) for keyword in item.answer_keywords]
        scores["keyword_recall"] = sum(found) / len(found) if found else None
    return scores


# --- aggregation ---------------------------------------------------------------------------


def aggregate(records: Sequence[dict]) -> dict:
    """Every metric of docs/interfaces.md from report.json item records; None where undefined."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    answered = any("refused" in r["scores"] for r in records)
    metrics: dict[str, Any] = {"items": len(records), "answerable": len(answerable)}
    for k in HIT_KS:
        metrics[f"hit@{k}"] = _mean(r["scores"][f"hit@{k}"] for r in answerable)
    metrics[f"mrr@{MRR_DEPTH}"] = _mean(r["scores"][f"rr@{MRR_DEPTH}"] for r in answerable)
    if answered:
        pool = [r["scores"] for r in answerable if not r["scores"]["refused"]]
        cited = sum(s["cited"] for s in pool)
        metrics["citation_precision"] = sum(s["cited_supporting"] for s in pool) / cited if cited else None
        metrics["citation_recall"] = _mean(r["scores"]["citation_hit"] for r in answerable)
        metrics["keyword_recall"] = _mean(
            r["scores"]["keyword_recall"] for r in answerable if r["scores"]["keyword_recall"] is not None
        )
        metrics["refusal_accuracy"] = _mean(r["scores"]["refused"] for r in unanswerable)
        metrics["false_refusal_rate"] = _mean(r["scores"]["refused"] for r in answerable)
    else:
        metrics.update(dict.fromkeys(ANSWER_METRICS))
    latencies = [r["latency_ms"] for r in records]
    metrics["latency_ms_p50"] = _percentile(latencies, 50)
    metrics["latency_ms_p95"] = _percentile(latencies, 95)
    metrics["mean_chunk_chars"] = _mean(len(hit["text"]) for r in records for hit in r["retrieved"])
    return metrics


def metrics_by_kind(records: Sequence[dict]) -> dict:
    kinds: dict[str, list[dict]] = {}
    for record in records:
        kinds.setdefault(record["kind"], []).append(record)
    metrics = {
        "overall": aggregate(records),
        "by_kind": {kind: aggregate(group) for kind, group in kinds.items()},
    }
    checked = verification.summarise(records, SPLITS)
    if checked is not None:  # an LLM answered: what verification did to its sentences
        metrics["llm_verification"] = checked
    return metrics


def _mean(values: Iterable[float | bool]) -> float | None:
    values = [float(value) for value in values]
    return sum(values) / len(values) if values else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- running -------------------------------------------------------------------------------


def run_items(
    system: System,
    items: Sequence[EvalItem],
    k: int,
    retrieval_only: bool,
    progress: bool = True,
    llm: bool = False,
) -> list[dict]:
    """Put every item to the system, after one warm-up question and jieba's whole dictionary (as
    a server has them: a cold process loads only the words its texts need, which would land in
    the first items' latencies); one record per item (with what verification did to the model's
    sentences when `llm`)."""
    load_whole_dictionary()
    if retrieval_only:
        system.retrieve(items[0].question, k)
    else:
        system.ask(items[0].question, ())
    records = []
    for item in tqdm(items, desc="Evaluating", unit="question", disable=not progress):
        answer = None
        if retrieval_only:
            started = time.perf_counter()
            retrieval = system.retrieve(item.question, k)
            latency = (time.perf_counter() - started) * 1000
            query = item.question
        else:
            started = time.perf_counter()
            answer = system.ask(item.question, item.history)
            latency = (time.perf_counter() - started) * 1000
            query = answer.standalone_question or item.question
            retrieval = system.retrieve(query, k)
        record = _record(item, query, retrieval.results, answer, latency)
        if llm and answer is not None:
            record["verification"] = verification.item_record(item.question, item.sentences, answer)
        records.append(record)
    return records


def _record(item: EvalItem, query: str, results: Sequence, answer: Answer | None, latency: float) -> dict:
    return {
        "id": item.id,
        "kind": item.kind,
        "split": item.split,
        "question": item.question,
        "history": list(item.history),
        "answerable": item.answerable,
        "gold_quotes": list(item.gold_quotes),
        "answer_keywords": list(item.answer_keywords),
        "retrieval_query": query,
        "retrieved": [result.as_json() for result in results],
        "answer": answer.answer if answer else None,
        "refused": answer.refused if answer else None,
        "mode": answer.mode if answer else None,
        "citations": [citation.as_json() for citation in answer.citations] if answer else [],
        "latency_ms": round(latency, 1),
        "scores": score_item(item, [result.chunk.text for result in results], answer),
    }


def evaluate(
    settings: Settings,
    set_path: Path,
    k: int = 5,
    retrieval_only: bool = False,
    baseline: bool = False,
    progress: bool = True,
    retriever: str = "hybrid",
    split: str | None = None,
    llm: bool = False,
) -> Report:
    """Run an eval set through the product's pipeline, or through the plain baseline recipe.

    `retriever` picks the retrieval mode (hybrid, the product's; dense, bm25 or rrf to measure
    it against); modes other than hybrid only make sense with `retrieval_only`. `split` runs only
    the items of that part of the set (tune or heldout). `llm` insists on the configured LLM
    (QA_LLM_BASE_URL or QA_LLM_GGUF_PATH) and counts what verification did to its sentences.
    """
    if k < MRR_DEPTH:
        raise InputError(f"-k must be at least {MRR_DEPTH}, so that hit@5 and mrr@5 can be computed.")
    _check_retriever(retriever, retrieval_only, baseline)
    if llm:
        _check_llm(settings, retrieval_only, baseline)
    items = select_split(load_set(set_path), split, set_path)
    run_settings = {**settings.model_dump(mode="json"), "k": k, "retrieval_only": retrieval_only}
    run_settings["split"] = split or "all"
    run_settings["retriever"] = "baseline" if baseline else retriever
    if baseline:
        from qa.eval.baseline import Baseline, recipe

        with Baseline(settings) as system:
            records = run_items(system, items, k, retrieval_only, progress)
            run_settings["baseline"] = {**recipe(), "chunks": system.chunk_count}
    else:
        from qa.index.embeddings import embedder_identity
        from qa.query.pipeline import Pipeline

        pipeline = Pipeline(settings)
        system = pipeline if retriever == "hybrid" else _RetrieverMode(pipeline, retriever)
        with_llm = pipeline.chat is not None and not retrieval_only
        records = run_items(system, items, k, retrieval_only, progress, llm=with_llm)
        run_settings["embedder_identity"] = embedder_identity(settings)
    modes = sorted({record["mode"] for record in records if record["mode"]})
    mode = "+".join(modes) or ("retrieval-only" if retriever == "hybrid" else f"retrieval-only:{retriever}")
    if baseline:
        mode = "baseline"
    return Report(str(set_path), mode, run_settings, metrics_by_kind(records), tuple(records))


def _check_retriever(retriever: str, retrieval_only: bool, baseline: bool) -> None:
    from qa.query.retrieval import MODES

    if retriever not in MODES:
        raise InputError(f"Unknown retriever '{retriever}'; choose one of: {', '.join(MODES)}.")
    if retriever != "hybrid" and (baseline or not retrieval_only):
        raise InputError(
            f"--retriever {retriever} needs --retrieval-only (answers use the hybrid retriever) "
            "and no --baseline."
        )


def _check_llm(settings: Settings, retrieval_only: bool, baseline: bool) -> None:
    if retrieval_only or baseline:
        raise InputError("--llm answers with the configured LLM; drop --retrieval-only and --baseline.")
    if not settings.llm_base_url and settings.llm_gguf_path is None:
        raise InputError("--llm needs an LLM: set QA_LLM_BASE_URL and QA_LLM_MODEL (or QA_LLM_GGUF_PATH).")


class _RetrieverMode:
    """The pipeline's retrieval with another retriever mode, for retrieval-only runs."""

    def __init__(self, pipeline: Any, mode: str) -> None:
        self.pipeline = pipeline
        self.mode = mode

    def retrieve(self, question: str, k: int | None = None) -> Any:
        return self.pipeline.retrieve(question, k, mode=self.mode)

    def ask(self, question: str, history: Sequence[dict] = ()) -> Answer:
        raise InputError("Only the hybrid retriever answers questions.")


# --- gates and comparisons -----------------------------------------------------------------


def parse_thresholds(specs: Sequence[str], retrieval_only: bool = False) -> dict[str, float]:
    """`METRIC=VALUE` strings into a dict, checked before anything runs."""
    gated = [name for name, higher in METRICS.items() if higher]
    thresholds: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep:
            raise InputError(f"--fail-under expects METRIC=VALUE, as in hit@5=0.9, not '{spec}'.")
        if name not in gated:
            raise InputError(f"--fail-under cannot gate '{name}'; choose one of: {', '.join(gated)}.")
        if retrieval_only and name in ANSWER_METRICS:
            raise InputError(f"--fail-under {name} needs answers; drop --retrieval-only or the gate.")
        try:
            thresholds[name] = float(value)
        except ValueError:
            raise InputError(f"--fail-under {name} needs a number, not '{value}'.") from None
    return thresholds


def shortfalls(metrics: dict, thresholds: dict[str, float]) -> list[str]:
    """One phrase per gated metric below its threshold (an undefined metric counts as short)."""
    short = []
    for name, floor in thresholds.items():
        value = metrics.get(name)
        if value is None or value < floor:
            shown = "n/a" if value is None else f"{value:.3f}"
            short.append(f"{name} {shown} < {floor:g}")
    return short


def load_report(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The report {path} does not exist.")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path} is not a JSON report written by `qa eval`.") from None
    if not isinstance(report, dict) or "overall" not in report.get("metrics", {}):
        raise InputError(f"{path} is not a JSON report written by `qa eval`.")
    return report


def format_comparison(report: Report, other: dict, other_name: str) -> str:
    """Metric by metric: the earlier report, this one, and the difference."""
    rows = [("metric", other.get("mode", "before"), report.mode, "change")]
    before, after = other["metrics"]["overall"], report.metrics["overall"]
    for name in METRICS:
        old, new = before.get(name), after.get(name)
        if old is None and new is None:
            continue
        whole = name.startswith("latency") or name == "mean_chunk_chars"
        change = "" if old is None or new is None else f"{new - old:+.0f}" if whole else f"{new - old:+.3f}"
        rows.append((name, _cell(old, name), _cell(new, name), change))
    return f"Compared with {other_name}:\n" + _table(rows)


# --- presenting ----------------------------------------------------------------------------

KIND_COLUMNS = {
    "hit@1": "hit@1",
    "hit@3": "hit@3",
    "hit@5": "hit@5",
    "mrr@5": "mrr@5",
    "citation_precision": "cite_p",
    "citation_recall": "cite_r",
    "keyword_recall": "kw_rec",
    "refusal_accuracy": "refuse",
    "false_refusal_rate": "false_ref",
    "latency_ms_p50": "p50_ms",
}


def _cell(value: float | None, name: str = "") -> str:
    if value is None:
        return "-"
    if name.startswith("latency") or name == "mean_chunk_chars":
        return f"{value:.0f}"
    return f"{value:.3f}"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _kind_rows(report: Report) -> list[list[str]]:
    rows = [["kind", "n", *KIND_COLUMNS.values()]]
    groups = [("overall", report.metrics["overall"]), *sorted(report.metrics["by_kind"].items())]
    for kind, metrics in groups:
        rows.append([kind, str(metrics["items"]), *(_cell(metrics[name], name) for name in KIND_COLUMNS)])
    return rows


def format_tables(report: Report) -> str:
    """The terminal view: the overall metrics, then the main ones per kind."""
    overall = report.metrics["overall"]
    rows = [("metric", "value")] + [(name, _cell(overall[name], name)) for name in METRICS]
    head = (
        f"{report.set_path}{_part(report)}: {overall['items']} items ({overall['answerable']} answerable), "
        f"mode {report.mode}"
    )
    legend = ", ".join(f"{short} = {name}" for name, short in KIND_COLUMNS.items() if short != name)
    text = f"{head}\n\n{_table(rows)}\n\n{_table(_kind_rows(report))}\n({legend})"
    checked = report.metrics.get("llm_verification")
    if checked:
        text += f"\n\n{_table(verification.rows(checked))}\n({verification.LEGEND})"
    return text


def _part(report: Report) -> str:
    """Names the part of the set when only one part ran, so a heldout table is never taken for all."""
    split = report.settings.get("split", "all")
    return "" if split == "all" else f" ({split} part)"


def format_markdown(report: Report, chart_name: str | None = "report.png") -> str:
    overall = report.metrics["overall"]
    lines = [
        f"# Eval report: `{report.set_path}`{_part(report)}",
        "",
        f"Mode **{report.mode}**, {overall['items']} items ({overall['answerable']} answerable), "
        f"k={report.settings.get('k')}, {report.created_at}.",
        "",
    ]
    if chart_name:
        lines += [f"![metrics per kind and latency]({chart_name})", ""]
    lines += [
        "## Overall",
        "",
        *_markdown_table([("metric", "value")] + [(name, _cell(overall[name], name)) for name in METRICS]),
        "",
        "## Per kind",
        "",
        *_markdown_table(_kind_rows(report)),
        "",
    ]
    checked = report.metrics.get("llm_verification")
    if checked:
        table = _markdown_table(verification.rows(checked))
        lines += ["## LLM sentences", "", verification.LEGEND, "", *table, ""]
    misses = [
        record
        for record in report.items
        if (record["answerable"] and not record["scores"]["hit@5"])
        or (not record["answerable"] and record["refused"] is False)
    ]
    lines += [
        "## Misses",
        "",
        "Answerable items with no supporting chunk in the top 5, and unanswerable items that were answered.",
        "",
    ]
    lines += _markdown_table(
        [("id", "kind", "question", "problem")]
        + [
            (
                r["id"],
                r["kind"],
                r["question"].replace("|", "\\|"),
                "no supporting chunk in top 5" if r["answerable"] else "answered instead of refusing",
            )
            for r in misses
        ]
    )
    settings = json.dumps(report.settings, ensure_ascii=False, indent=2)
    lines += ["", "## Settings", "", "```json", settings, "```", ""]
    return "\n".join(lines)


def _markdown_table(rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(str, rows[0])) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows[1:]]
    return lines


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """report.json, report.md and report.png in out_dir (created when missing)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the output folder {out_dir}: {exc.strerror}.") from None
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / "report.png"]
    chart = paths[2] if charts_available() else None
    paths[0].write_text(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    paths[1].write_text(format_markdown(report, chart.name if chart else None), encoding="utf-8")
    if chart is None:
        return paths[:2]
    plot_report(report, chart)
    return paths


CHART_HINT = "No report.png: the chart needs matplotlib, `pip install 'qa-chat[report]'`."


def charts_available() -> bool:
    """matplotlib is the `report` extra: without it the report is written without its chart."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# --- the chart -----------------------------------------------------------------------------

CHART_METRICS = [
    name for name, higher in METRICS.items() if name in KIND_COLUMNS and name != "latency_ms_p50"
]
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)


def _cjk_font() -> str | None:
    """A CJK-capable font when one is installed; the chart labels stay ASCII without one."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def plot_report(report: Report, path: Path) -> None:
    """Left: a metric-by-kind heat map, green is good. Right: the latency distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    font = _cjk_font()
    style = {"font.family": "sans-serif", "font.sans-serif": [font, "DejaVu Sans"]} if font else {}
    groups = [("overall", report.metrics["overall"]), *sorted(report.metrics["by_kind"].items())]
    values = np.array(
        [[np.nan if m[name] is None else m[name] for name in CHART_METRICS] for _, m in groups], dtype=float
    )
    goodness = values.copy()
    for column, name in enumerate(CHART_METRICS):
        if METRICS[name] is False:
            goodness[:, column] = 1 - goodness[:, column]
    latencies = [record["latency_ms"] for record in report.items]

    with plt.rc_context(style):
        figure, (left, right) = plt.subplots(
            1, 2, figsize=(16, 0.45 * len(groups) + 3), gridspec_kw={"width_ratios": [2.3, 1]}
        )
        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#e6e6e6")
        left.imshow(np.ma.masked_invalid(goodness), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        labels = [f"{kind} (n={m['items']})" for kind, m in groups]
        left.set_yticks(range(len(groups)), labels)
        columns = [name + (" (lower is better)" if METRICS[name] is False else "") for name in CHART_METRICS]
        left.set_xticks(range(len(CHART_METRICS)), columns, rotation=30, ha="left")
        left.xaxis.tick_top()
        for row in range(values.shape[0]):
            for column in range(values.shape[1]):
                value = values[row, column]
                text = "-" if np.isnan(value) else f"{value:.2f}"
                left.text(column, row, text, ha="center", va="center", fontsize=9)
        left.axhline(0.5, color="black", linewidth=1.5)
        figure.suptitle(
            f"{Path(report.set_path).name}: mode {report.mode}, k={report.settings.get('k')}, "
            f"{report.metrics['overall']['items']} items (grey: not applicable to the kind)"
        )

        bins = min(30, max(5, len(latencies) // 3))
        positive = [value for value in latencies if value > 0]
        if positive and max(positive) > 10 * float(np.median(positive)):  # a long tail: log scale
            bins = np.geomspace(min(positive), max(positive), bins + 1)
            right.set_xscale("log")
        right.hist(latencies, bins=bins, color="#4c72b0")
        overall = report.metrics["overall"]
        for name, color in (("latency_ms_p50", "#dd8452"), ("latency_ms_p95", "#c44e52")):
            if overall[name] is not None:
                right.axvline(
                    overall[name], color=color, linestyle="--", label=f"{name[-3:]} {overall[name]:.0f} ms"
                )
        right.set_xlabel("latency per question, warm (ms)")
        right.set_ylabel("questions")
        right.set_title("Latency distribution")
        right.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
