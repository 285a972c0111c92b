"""Language rules, one copy each: tokens, and (moving here) normalising, traditional to simplified,
stop words, language, sentences, numerals.

Imports nothing else of qa."""
