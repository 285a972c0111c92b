"""Chinese numerals as ordinals and counts use them ("第三部分", "三是…", "两百个")."""

from __future__ import annotations

DIGITS = "一二三四五六七八九十"  # 1..10, the ordinals of parts, items and list heads
MAGNITUDES = "两百千万亿"  # what else a written-out quantity may hold
NUMERAL_CHARS = DIGITS + MAGNITUDES


def chinese_numeral(token: str) -> str:
    """'3' -> '三' for 1..10; anything else unchanged."""
    return DIGITS[int(token) - 1] if token.isdigit() and 0 < int(token) <= len(DIGITS) else token


def numeral_value(token: str) -> int | None:
    """'三' or '3' -> 3 for 1..10; None otherwise."""
    if token.isdigit():
        return int(token)
    return DIGITS.index(token) + 1 if len(token) == 1 and token in DIGITS else None
