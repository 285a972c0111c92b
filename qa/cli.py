"""The `qa` command: each subcommand is one library call whose result is printed.

Errors of the QAError family become one line on stderr and exit status 1; nothing else is
caught, so a bug still shows its traceback to the developer who must fix it.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from qa.config import Settings, load_settings
from qa.errors import InputError, QAError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if argv is None and args.run in _ONE_SHOT:
        # One question (or listing), then the process exits and its memory with it: the cycle
        # collector would only walk the objects the imports make (chromadb, jieba's tables) again
        # and again as more arrive, 0.07 s of a 0.95 s cold `qa ask`. Commands that run long
        # (serve, mcp, ingest, eval, docs remove) keep it.
        gc.disable()
    try:
        settings = load_settings(port=getattr(args, "port", None), host=getattr(args, "host", None))
        status = args.run(settings, args) or 0
        if argv is None:
            # The process's own command is done and has closed what it wrote; the exit's cycle
            # collection would walk every object the libraries made (chromadb, LangChain,
            # jieba's dictionary): 0.3 s of a 1.9 s cold `qa ask`. (Callers passing argv, such
            # as tests, keep their collector as it was.)
            gc.freeze()
        return status
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a read-only index folder, a full disk: the system's own sentence
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; nothing was changed.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa", description="Answer questions about documents, with citations."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    ingest = commands.add_parser("ingest", help="index files (default: the configured documents)")
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders")
    ingest.add_argument("--rebuild", action="store_true", help="start a fresh index")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.set_defaults(run=_ingest)

    retrieve = commands.add_parser("retrieve", help="show the chunks that match a question")
    retrieve.add_argument("question")
    retrieve.add_argument("-k", type=int, default=None, help="number of results")
    retrieve.add_argument(
        "--doc", action="append", default=[], metavar="ID", help="search only this document; repeatable"
    )
    retrieve.add_argument("--json", action="store_true")
    retrieve.set_defaults(run=_retrieve)

    ask = commands.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument(
        "--history",
        type=Path,
        metavar="FILE.json",
        help='earlier turns, oldest first: a JSON list of {"role": "user"|"assistant", "content": "..."} '
        "(- reads standard input); a follow-up is rewritten into a standalone question",
    )
    ask.add_argument(
        "--doc",
        action="append",
        default=[],
        metavar="ID",
        help="answer only from this document (an id `qa docs list` shows); repeat for several",
    )
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(run=_ask)

    serve = commands.add_parser("serve", help="run the web chat, widget and HTTP API")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--host", default=None)
    serve.set_defaults(run=_serve)

    mcp = commands.add_parser("mcp", help="serve the collection to MCP clients over stdio")
    mcp.set_defaults(run=_mcp)

    docs = commands.add_parser("docs", help="list or remove the documents in the index")
    docs.add_argument("--json", action="store_true")
    docs.set_defaults(run=_docs)
    docs_commands = docs.add_subparsers(metavar="ACTION")
    docs_list = docs_commands.add_parser("list", help="each document with its chunks and ingest time")
    docs_list.add_argument("--json", action="store_true")
    docs_list.set_defaults(run=_docs)
    docs_remove = docs_commands.add_parser("remove", help="remove documents' chunks everywhere")
    docs_remove.add_argument("doc_ids", nargs="+", metavar="DOC", help="document ids as `qa docs list` shows")
    docs_remove.add_argument("--json", action="store_true")
    docs_remove.set_defaults(run=_docs_remove)

    evaluate = commands.add_parser("eval", help="score an eval set; write a report")
    evaluate.add_argument("set", type=Path, metavar="SET.jsonl", help="the eval set (JSONL)")
    evaluate.add_argument("--out", type=Path, help="folder for report.json, report.md, report.png")
    evaluate.add_argument("-k", type=int, default=5, help="results retrieved per question (>= 5)")
    evaluate.add_argument("--retrieval-only", action="store_true", help="score retrieval; do not answer")
    evaluate.add_argument(
        "--fail-under",
        nargs="+",
        action="extend",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when a metric is below VALUE, e.g. hit@5=0.95",
    )
    evaluate.add_argument("--compare", type=Path, metavar="OTHER_REPORT.json", help="print the changes")
    evaluate.add_argument("--baseline", action="store_true", help="run the plain LangChain recipe instead")
    evaluate.add_argument(
        "--llm",
        action="store_true",
        help="answer with the configured LLM (QA_LLM_BASE_URL) and count what verification kept and removed",
    )
    evaluate.add_argument(
        "--retriever",
        default="hybrid",
        metavar="MODE",
        help="with --retrieval-only: hybrid (default), dense, bm25 or rrf",
    )
    evaluate.add_argument(
        "--split",
        metavar="PART",
        help="run only the items of this part of the set: tune (fit on it) or heldout (only measured)",
    )
    evaluate.set_defaults(run=_eval)
    return parser


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from qa.ingest.sync import ingest

    report = ingest(settings, args.paths or None, rebuild=args.rebuild, progress=not args.json)
    for problem in report.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    if args.json:
        _print_json({**report.__dict__, "up_to_date": report.up_to_date})
    elif report.up_to_date:
        print(f"Index is up to date: {report.documents} document(s), {report.total_chunks} chunks.")
    else:
        cost = (
            f"{report.seconds / report.embed_seconds:.2f}x the bare embedding time"
            if report.embed_seconds
            else "nothing new to embed"
        )
        print(
            f"Ingested {report.documents_changed} of {report.documents} document(s): "
            f"+{report.chunks_added} / -{report.chunks_removed} chunks, {report.total_chunks} in all "
            f"(mean {report.mean_chunk_chars:.0f} chars) in {report.seconds:.1f} s ({cost})."
        )
    if report.skipped:
        print(f"error: {len(report.skipped)} file(s) could not be read; see above.", file=sys.stderr)
        return 1
    return 0


def _retrieve(settings: Settings, args: argparse.Namespace) -> int:
    from qa.query.pipeline import Pipeline

    retrieval = Pipeline(settings).retrieve(args.question, args.k, documents=args.doc)
    if args.json:
        _print_json(retrieval.as_json())
        return 0
    for result in retrieval.results:
        print(f"{result.rank}. [{result.score:.3f}] {result.chunk.location()}\n   {result.chunk.text}")
    return 0


def _ask(settings: Settings, args: argparse.Namespace) -> int:
    from qa.query.pipeline import Pipeline

    history = _read_history(args.history) if args.history else []
    answer = Pipeline(settings).ask(args.question, history, args.doc)
    if args.json:
        _print_json(answer.as_json())
        return 0
    standalone = answer.standalone_question
    if standalone:
        print(f"Rewritten question: {standalone}\n")
    print(answer.answer)
    for citation in answer.citations:
        print(f"\n[{citation.n}] {citation.chunk.location()}\n    {citation.chunk.text}")
    return 0


def _read_history(path: Path) -> list[dict]:
    """The docs/interfaces.md history shape, [{"role": ..., "content": ...}], from a file or stdin."""
    name = "standard input" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        turns = json.loads(text)
    except OSError as exc:
        raise InputError(f"Cannot read the history file {name}: {exc.strerror or exc}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"The history in {name} is not valid UTF-8 JSON.") from None
    valid = isinstance(turns, list) and all(
        isinstance(turn, dict)
        and turn.get("role") in ("user", "assistant")
        and isinstance(turn.get("content"), str)
        for turn in turns
    )
    if not valid:
        shape = '{"role": "user" or "assistant", "content": "..."}'
        raise InputError(f"The history in {name} must be a JSON list of {shape}.")
    return [{"role": turn["role"], "content": turn["content"]} for turn in turns]


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from qa.web.app import serve

    serve(settings)
    return 0


def _mcp(settings: Settings, args: argparse.Namespace) -> int:
    from qa.query.pipeline import Pipeline
    from qa.web.mcp_server import build_mcp

    pipeline = Pipeline(settings)
    pipeline.health()  # fail now, in one sentence, if the index is missing or mismatched
    build_mcp(pipeline).run("stdio")
    return 0


def _docs(settings: Settings, args: argparse.Namespace) -> int:
    from qa.index.backend import index_backend
    from qa.index.embeddings import embedder_identity, make_embeddings

    # the index alone: listing loads no LLM and no retriever
    store = index_backend(settings).open_for_query(make_embeddings(settings), embedder_identity(settings))
    try:
        documents = store.documents()
    finally:
        store.close()
    if args.json:
        _print_json([doc.__dict__ for doc in documents])
        return 0
    for doc in documents:
        print(f"{doc.doc_id}\t{doc.chunks} chunks\t{doc.ingested_at}\t{doc.title}")
    return 0


def _docs_remove(settings: Settings, args: argparse.Namespace) -> int:
    from qa.ingest.sync import remove_documents

    removed = remove_documents(settings, args.doc_ids)
    if args.json:
        _print_json(removed)
        return 0
    for doc_id, chunks in removed.items():
        print(f"Removed {doc_id} ({chunks} chunks).")
    return 0


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from qa.eval import runner as evaluation

    thresholds = evaluation.parse_thresholds(args.fail_under, args.retrieval_only)
    other = evaluation.load_report(args.compare) if args.compare else None
    report = evaluation.evaluate(
        settings,
        args.set,
        k=args.k,
        retrieval_only=args.retrieval_only,
        baseline=args.baseline,
        retriever=args.retriever,
        split=args.split,
        llm=args.llm,
    )
    print(evaluation.format_tables(report))
    if args.out:
        written = evaluation.write_report(report, args.out)
        print("\nWrote " + ", ".join(str(path) for path in written))
        if not evaluation.charts_available():
            print(evaluation.CHART_HINT, file=sys.stderr)
    if other is not None:
        print("\n" + evaluation.format_comparison(report, other, str(args.compare)))
    short = evaluation.shortfalls(report.metrics["overall"], thresholds)
    if short:
        print(f"error: below the --fail-under gate: {'; '.join(short)}.", file=sys.stderr)
        return 1
    return 0


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


_ONE_SHOT = {_ask, _retrieve, _docs}  # commands that read, answer once and exit
