"""Where a card's text may break into lines: at spaces, and between Chinese and Japanese characters.

Lines are filled greedily, in logical order (each is laid out on its own when drawn, ``line_layout.py``), and
never break inside a letter with its marks or inside an emoji sequence. A word wider than the line is broken
between characters.
"""

from __future__ import annotations

import unicodedata

from postpilot.media.line_layout import Writer


def wrap(text: str, writer: Writer, size: int, width: float, rtl: bool, *, limit: int) -> list[str]:
    """Greedy wrap at spaces and between CJK characters; a word wider than the line is broken between
    characters. Lines stay in logical order: each is laid out on its own when drawn. Stops once there are more
    than ``limit`` lines: the callers only ask whether the text fits."""
    lines: list[str] = []
    current = ""
    for space, word in _units(text):
        candidate = f"{current}{space}{word}" if current else word
        if writer.width(candidate, size, rtl=rtl) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while writer.width(word, size, rtl=rtl) > width and len(lines) <= limit:
            cut = _longest_prefix(word, writer, size, width, rtl)
            lines.append(word[:cut])
            word = word[cut:]
        if len(lines) > limit:
            return lines
        current = word
    if current:
        lines.append(current)
    return lines


# Characters that must not start a line in Chinese and Japanese, and ones that must not end it.
_NO_START = set("、。，．！？：；）」』】〕〉》ー々ゝゞヽヾ・") | {
    chr(c) for c in range(0x3041, 0x30FF) if "SMALL" in unicodedata.name(chr(c), "")
}
_NO_END = set("（「『【〔〈《")


def _units(text: str) -> list[tuple[str, str]]:
    """The pieces a line may break between, each with what goes before it when it follows on the same line."""
    units: list[tuple[str, str]] = []
    for word in text.split(" "):
        space, start = " ", 0
        for i in range(1, len(word)):
            if _breaks_between(word[i - 1], word[i]):
                units.append((space, word[start:i]))
                space, start = "", i
        units.append((space, word[start:]))
    return units


def _breaks_between(before: str, after: str) -> bool:
    # Chinese and Japanese are written without spaces: a line may break between any two characters.
    wide = _is_ideographic(before) or _is_ideographic(after)
    return wide and after not in _NO_START and before not in _NO_END and _starts_cluster(after, before)


def _is_ideographic(char: str) -> bool:
    return (
        unicodedata.east_asian_width(char) in "WF"
        and not unicodedata.name(char, "").startswith("HANGUL")
        and char.isalpha()
    )


def _starts_cluster(char: str, before: str) -> bool:
    """Whether a break may come before ``char``: never inside a letter with its marks, or an emoji sequence."""
    joining = unicodedata.category(char) in ("Mn", "Mc", "Me", "Cf") or 0xFE00 <= ord(char) <= 0xFE0F
    return not joining and before != "\u200d" and not 0x1F3FB <= ord(char) <= 0x1F3FF


def _longest_prefix(word: str, writer: Writer, size: int, width: float, rtl: bool) -> int:
    """How many leading characters of ``word`` fit in ``width`` (at least one cluster), by bisection."""
    cuts = [i for i in range(1, len(word)) if _starts_cluster(word[i], word[i - 1])] + [len(word)]
    low, high = 0, len(cuts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if writer.width(word[: cuts[middle]], size, rtl=rtl) <= width:
            low = middle
        else:
            high = middle - 1
    return cuts[low]
