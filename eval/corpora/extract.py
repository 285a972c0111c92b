"""Rebuild the dev corpora under eval/corpora/ from the Debian packages that ship them.

The extracted files are committed too (CI machines may lack the packages); this script says
exactly where each came from and makes the same bytes again:

    apt-get install -y debian-handbook debian-edu-doc-zh-cn valgrind
    python eval/corpora/extract.py            # writes eval/corpora/handbook/, edu/, manual_en/, valgrind/
    python eval/corpora/extract.py --check    # exit 1 if the committed files differ

`handbook`: five sections of the zh-CN Debian Administrator's Handbook and one of the zh-TW one,
copied byte for byte. `manual_en`: three sections of the en-US edition of the same book, on topics
the Chinese pages do not cover (Chinese questions about English documents), copied byte for byte.
`edu`: four chapters of the single-page zh-CN Debian Edu manual, each cut into a page of its own,
and a 13-page range of the typeset PDF of the same manual. `valgrind`: four pages of Valgrind's
English user manual (an option reference and an FAQ), copied byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import warnings
from pathlib import Path

import pypdfium2 as pdfium
from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

HERE = Path(__file__).resolve().parent
HANDBOOK = Path("/usr/share/doc/debian-handbook/html")
EDU = Path("/usr/share/doc/debian-edu-doc-zh-cn")
EDU_HTML = EDU / "debian-edu-bookworm-manual.html"
EDU_PDF = EDU / "debian-edu-bookworm-manual.pdf"
VALGRIND = Path("/usr/share/doc/valgrind/html")
# Valgrind's user manual (English; a reference of command-line options, and an FAQ): Memcheck,
# Massif, the FAQ and the Quick Start, as the Debian package `valgrind` ships them.
VALGRIND_PAGES = ["mc-manual.html", "ms-manual.html", "faq.html", "quick-start.html"]

HANDBOOK_SECTIONS = [
    ("zh-CN", "sect.apt-get.html"),
    ("zh-CN", "sect.regular-upgrades.html"),
    ("zh-CN", "sect.automatic-upgrades.html"),
    ("zh-CN", "sect.task-scheduling-cron-atd.html"),
    ("zh-CN", "sect.syslog.html"),
    ("zh-TW", "sect.backup.html"),
]
# NFS server (11.4), remote login with SSH and VNC (9.2), nftables firewall (14.2): none of them is
# in HANDBOOK_SECTIONS, so a question about them can only be answered from the English text.
MANUAL_EN_SECTIONS = [
    ("en-US", "sect.nfs-file-server.html"),
    ("en-US", "sect.remote-login.html"),
    ("en-US", "sect.firewall-packet-filtering.html"),
]
# Chapter anchors of the single-page manual: 2 about, 3 architecture, 4 requirements, 5 network.
EDU_CHAPTERS = [
    ("idm20", "02-about"),
    ("Architecture", "03-architecture"),
    ("Requirements", "04-requirements"),
    ("idm302", "05-network-requirements"),
]
# 1-based pages 67-79 of the PDF: end of chapter 7 (GOsa² machines) through chapter 14 (how-tos):
# printers, clock, partitions, maintenance (tables of Munin/Icinga), upgrades, general admin.
EDU_PDF_PAGES = range(67, 80)


def handbook_files(sections: list[tuple[str, str]] = HANDBOOK_SECTIONS) -> dict[str, bytes]:
    return {f"{lang}-{name}": (HANDBOOK / lang / name).read_bytes() for lang, name in sections}


def edu_files() -> dict[str, bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", XMLParsedAsHTMLWarning
        )  # the manual is XHTML; lxml's HTML parser is fine
        soup = BeautifulSoup(EDU_HTML.read_bytes(), "lxml")
    files = {f"{slug}.html": _edu_chapter(soup, anchor) for anchor, slug in EDU_CHAPTERS}
    files["debian-edu-manual-p67-79.pdf"] = _pdf_pages(EDU_PDF, EDU_PDF_PAGES)
    return files


def _edu_chapter(soup: BeautifulSoup, anchor: str) -> bytes:
    """One top-level section of the single-page manual as a page of its own, titled by its heading."""
    heading = soup.find("a", id=anchor).find_parent("h2")
    section = heading.find_parent("div", class_="section")
    title = " ".join(heading.get_text().split())
    page = (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"/>'
        f"<title>{title} - Debian Edu / Skolelinux 12 Bookworm 手册</title></head>\n"
        f"<body>{section}</body></html>\n"
    )
    return page.encode("utf-8")


def _pdf_pages(path: Path, pages: range) -> bytes:
    source = pdfium.PdfDocument(str(path))
    cut = pdfium.PdfDocument.new()
    cut.import_pages(source, [number - 1 for number in pages])
    buffer = io.BytesIO()
    cut.save(buffer)
    created = source.get_metadata_dict()["CreationDate"][2:16].encode()
    return _reproducible(buffer.getvalue(), created)


def _reproducible(data: bytes, created: bytes) -> bytes:
    """PDFium stamps each save with the clock and a random trailer /ID; the source book's date and a
    hash of the rest make the same bytes every time (same lengths, so the xref offsets hold)."""
    data = re.sub(rb"/CreationDate\(D:\d{14}", b"/CreationDate(D:" + created, data, count=1)
    trailer_id = re.compile(rb"/ID\[<[0-9A-F]{32}><[0-9A-F]{32}>\]")
    digest = hashlib.md5(trailer_id.sub(b"", data)).hexdigest().upper().encode()
    fixed, count = trailer_id.subn(b"/ID[<" + digest + b"><" + digest + b">]", data)
    if count != 1:
        raise SystemExit("The PDF cut has no single trailer /ID; pypdfium2 changed how it saves.")
    return fixed


def build() -> dict[Path, bytes]:
    missing = [str(p) for p in (HANDBOOK, EDU_HTML, EDU_PDF, VALGRIND) if not p.exists()]
    if missing:
        raise SystemExit(
            f"Install debian-handbook, debian-edu-doc-zh-cn and valgrind first (missing {missing[0]})."
        )
    out = {HERE / "handbook" / name: data for name, data in handbook_files().items()}
    out.update({HERE / "manual_en" / name: data for name, data in handbook_files(MANUAL_EN_SECTIONS).items()})
    out.update({HERE / "edu" / name: data for name, data in edu_files().items()})
    out.update({HERE / "valgrind" / name: (VALGRIND / name).read_bytes() for name in VALGRIND_PAGES})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files, write nothing"
    )
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [
            str(path.relative_to(HERE))
            for path, data in files.items()
            if not path.exists() or path.read_bytes() != data
        ]
        print("\n".join(f"differs: {name}" for name in stale) or "all files match")
        return 1 if stale else 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path.relative_to(HERE)}  {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
