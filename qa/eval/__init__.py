"""Eval sets, scoring, reports and charts, and the plain LangChain baseline recipe.

Must not import qa.web."""
