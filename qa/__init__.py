"""qa: answer questions about a document collection, citing the exact paragraphs.

The pipeline is the layout, one subpackage a stage, data flowing one way:
text <- index <- ingest <- query <- web / eval / cli. `records` holds the plain records passed
between stages, `config` the one Settings object, `errors` the QAError tree.
"""

__version__ = "0.1.0"
