"""Prompts are files in qa/prompts/ (`answer.zh.md`, `condense.en.md`, ...), filled by name, strictly.

A template names its fields as `{field}`; rendering with a field missing, or with one the
template does not use, is a ConfigError, so an edited prompt cannot silently lose the question
or the retrieved text. The packaged files are the default; QA_PROMPTS_DIR points at an edited
copy (`prompts/` at the checkout's root is a link to qa/prompts/). What it does not do: choose the
language (the caller does).
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from qa.config import packaged
from qa.errors import ConfigError

PROMPTS_DIR = packaged("prompts")


@cache
def load(name: str, directory: Path = PROMPTS_DIR) -> str:
    path = directory / f"{name}.md"
    if not path.is_file():
        raise ConfigError(f"The prompt file {path} is missing.")
    return path.read_text(encoding="utf-8")


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(name: str, directory: Path = PROMPTS_DIR, **values: str) -> str:
    """Fill the template `name`; the fields given must be exactly the fields it names."""
    template = load(name, directory)
    wanted = fields(template)
    missing, unused = wanted - set(values), set(values) - wanted
    if missing or unused:
        problem = f"lacks {sorted(missing)}" if missing else f"does not use {sorted(unused)}"
        raise ConfigError(f"The prompt {name}.md {problem}; check its {{fields}}.")
    return template.format(**values)
