"""Which script each character of a card's text belongs to, and which way a paragraph runs.

A coarse script name per character decides which font is asked to draw it (``fonts.py``): digits and
punctuation go with the letters beside them, and marks, joiners and emoji modifiers with the character before
them. The paragraph direction comes from the first letter with a strong direction.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

EUROPEAN = "european"  # Latin, Greek, Cyrillic and the shared digits and punctuation
_EUROPEAN_SCRIPTS = frozenset({"latin", "greek", "cyrillic", "common"})
_CJK_WORDS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "IDEOGRAPHIC", "HANGUL", "BOPOMOFO"})
MIRROR = str.maketrans("()[]{}<>«»‹›", ")(][}{><»«›‹")


@lru_cache(maxsize=8192)
def _joins(char: str) -> bool:
    """Marks, joiners, variation selectors, skin tones and tags: drawn with the character before them."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me", "Cf")
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


@lru_cache(maxsize=8192)
def script(char: str) -> str:
    """A coarse script name: "latin", "arabic", "cjk", "emoji", "common" (digits, punctuation, symbols)..."""
    code = ord(char)
    if 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF or 0x2300 <= code <= 0x23FF:
        return "emoji"
    if unicodedata.category(char)[0] not in "LN":
        return "common"
    word = unicodedata.name(char, "COMMON").split(" ", 1)[0]
    if word in _CJK_WORDS:
        return "cjk"
    if word in ("DIGIT", "MODIFIER"):
        return "common"
    return "arabic" if "ARABIC" in word else word.lower()


def script_keys(text: str) -> list[str | None]:
    """The font choice each character belongs to; None for those that join the one before. Digits and
    punctuation belong with the letters beside them in the same word (so '你好。' is one CJK run)."""
    keys: list[str | None] = []
    for i, char in enumerate(text):
        name = "emoji" if text[i + 1 : i + 2] == "\ufe0f" else script(char)  # '1️⃣', '❤️'
        keys.append(None if _joins(char) else EUROPEAN if name in _EUROPEAN_SCRIPTS else name)
    for i, char in enumerate(text):
        if keys[i] == EUROPEAN and script(char) == "common" and char != " ":
            keys[i] = _neighbour(text, keys, i) or EUROPEAN
    return keys


def _neighbour(text: str, keys: list[str | None], i: int) -> str | None:
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(text) and text[j] != " ":
            if keys[j] is not None and script(text[j]) != "common":
                return keys[j] if keys[j] not in (EUROPEAN, "emoji") else None
            j += step
    return None


def is_rtl(text: str) -> bool:
    """The paragraph direction: that of the first letter with a strong direction."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL", "L"):
            return kind != "L"
    return False


def cjk_variant(text: str) -> str:
    """Han characters are drawn the Japanese way next to kana, the Korean way next to Hangul, else Chinese."""
    names = {unicodedata.name(c, "").split(" ", 1)[0] for c in text if ord(c) >= 0x1100}
    if names & {"HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"}:
        return "cjk-ja"
    return "cjk-ko" if "HANGUL" in names else "cjk-zh"
