"""Where chunks live and how they are found: the embedder registry and its cache, the Chroma
store with its crash-safe generations, the BM25 keyword index.

Must not import qa.ingest, qa.query, qa.web or qa.eval."""
