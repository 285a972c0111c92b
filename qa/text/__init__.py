"""Language rules, one copy each: normalising and traditional -> simplified (normalize), language,
stop words, sentences and clauses, numerals, citation markers, terms (jieba, English, CC-CEDICT),
what kind of fact a question asks for (facts), and token counts (tokens).

Imports nothing else of qa: ingest, index, query and web all use these."""
