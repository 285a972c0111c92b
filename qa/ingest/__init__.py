"""Files to chunks: loaders (md, txt, pdf, docx, html -> blocks), page-break repair and sections,
paragraph-aligned chunking, and the ingest diff that writes them to the index.

Must not import qa.query, qa.web or qa.eval."""
