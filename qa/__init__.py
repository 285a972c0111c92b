"""qa: answer questions about a document collection, citing the exact paragraphs.

The pipeline, one module a step: documents -> chunking -> embeddings/store ->
retrieval -> answering -> pipeline -> cli/api/ui.
"""

__version__ = "0.1.0"
