"""Citations: which chunk a `[n]` marker points at, and the sentences it rests on."""

from __future__ import annotations

from dataclasses import dataclass

from qa.chunking import Chunk


@dataclass(frozen=True)
class Citation:
    n: int
    chunk: Chunk
    quote: str

    def as_json(self) -> dict:
        return {
            "n": self.n,
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.chunk.doc_id,
            "section": self.chunk.section,
            "paragraphs": list(self.chunk.paragraphs),
            "text": self.chunk.text,
            "quote": self.quote,
        }
