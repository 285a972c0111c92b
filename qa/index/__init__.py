"""Where chunks live and how they are found: the embedder registry and its cache, the Chroma
collection of chunks (store.py) in a local folder with crash-safe generations (local.py) or on a
Chroma server (server.py), one of the two chosen in backend.py, the BM25 keyword index.

Must not import qa.ingest, qa.query, qa.web or qa.eval."""
