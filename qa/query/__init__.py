"""A question to an answer: retrieval, answerability, the extractive and LLM answerers,
verification of every cited sentence, prompts, and the pipeline that wires them.

Must not import qa.web, qa.eval, or any web framework."""
