"""Fonts for the offline cards: which installed font draws which character of a text.

Text is cut into runs that one font draws whole; Pillow's raqm layout shapes each run (Arabic letters join) and lays
right-to-left runs out right to left, and words are ordered on a line by a word-level Unicode bidi algorithm
(``line_layout.py``). The fonts themselves are found in ``font_faces.py``, the script of each character in
``text_scripts.py``. What no installed font can draw is left out, with one warning per script naming the Debian
package that adds it; a European letter no font has is folded to the nearest the bundled font has.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence

from postpilot.logging import get_logger
from postpilot.media.font_faces import BUNDLED, RAQM, Face, bundled_chars, discover, usable
from postpilot.media.line_layout import Writer
from postpilot.media.text_scripts import EUROPEAN, cjk_variant, script, script_keys

log = get_logger("postpilot.card")

_DEBIAN_HINTS = {
    "cjk": ("fonts-noto-cjk", "Chinese, Japanese and Korean text"),
    "emoji": ("fonts-noto-color-emoji", "emoji"),
    "common": ("fonts-noto-core", "symbols"),
}
_PREFERRED: dict[str, tuple[str, ...]] = {
    EUROPEAN: ("Noto Sans", "DejaVu Sans", "Liberation Sans", "FreeSans"),
    "arabic": ("Noto Sans Arabic", "Noto Naskh Arabic", "DejaVu Sans"),
    "hebrew": ("Noto Sans Hebrew", "DejaVu Sans"),
    "cjk-ja": ("Noto Sans CJK JP", "IPAGothic", "Noto Sans CJK SC", "Droid Sans Fallback"),
    "cjk-ko": ("Noto Sans CJK KR", "NanumGothic", "Noto Sans CJK SC", "Droid Sans Fallback"),
    "cjk-zh": ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "Noto Sans CJK TC", "Droid Sans Fallback"),
    "emoji": ("Noto Color Emoji", "Noto Emoji", "Symbola", "Noto Sans Symbols2", "Noto Sans Symbols", "DejaVu Sans"),
}
# Typographic variants Aileron lacks, replaced without loss of meaning.
_LIGHT_FOLD = str.maketrans({"–": "-", "—": " - ", "‘": "'", "‚": "'", "„": '"', "•": "·", "\u00a0": " "})
# Only when no installed font has a Latin letter: the nearest letters Aileron has.
_FULL_FOLD = {
    **{ord(a): b for a, b in zip("øØłŁđĐðı", "oOlLdDdi", strict=True)},
    **{ord(a): b for a, b in {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th"}.items()},
    **{ord(a): b for a, b in {"€": "EUR", "£": "GBP"}.items()},
}


def _hint(name: str) -> str:
    package, what = _DEBIAN_HINTS.get(name, ("fonts-noto-core", f"{name.title()} text"))
    return f"install {package} to draw {what} on generated cards"


# --- choosing ------------------------------------------------------------------------------------------------


class FontChooser:
    """Picks fonts for texts from ``faces``; shared by all threads (its caches only ever add answers)."""

    def __init__(self, faces: Sequence[Face]) -> None:
        self.faces = tuple(faces)
        self._ranked: dict[str, tuple[Face, ...]] = {}
        self._chosen: dict[tuple[str, str], Face | None] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def prepare(self, text: str) -> tuple[str, Writer]:
        """``text`` with its whitespace collapsed, folded or cut to what can be drawn, and a writer for it."""
        text = " ".join(unicodedata.normalize("NFKC", text).split())
        keys = script_keys(text)
        european = {c for c, k in zip(text, keys, strict=True) if k == EUROPEAN and c != " "}
        bundled = bundled_chars()
        if all(f in bundled for c in european for f in c.translate(_LIGHT_FOLD) if f != " "):
            text, base = " ".join(text.translate(_LIGHT_FOLD).split()), BUNDLED
        else:
            base = self._best_european(european)
        writer = Writer(self, base, cjk_variant(text))
        words = []
        for word in text.split(" "):
            kept, complete = self._drawable(word, writer)
            # What is left of a word whose letters no font has ('!' of 'سلام!') would only be noise.
            if complete or any(c.isalnum() for c in kept):
                words.append(kept)
        return " ".join(" ".join(words).split()), writer

    def _drawable(self, word: str, writer: Writer) -> tuple[str, bool]:
        """The part of ``word`` there are fonts for (folded if need be), and whether that is all of it."""
        out: list[str] = []
        kept = complete = True  # kept: whether the last letter stayed, for its marks and joiners
        for char, key in zip(word, script_keys(word), strict=True):
            if key is None:
                out.append(char if kept else "")
            elif writer.face(char, key) is not None:
                out.append(char)
                kept = True
            elif key == EUROPEAN and (folded := _fold(char)):
                out.append(folded)
                kept = True
            else:
                kept = complete = False
                self._warn(script(char))
        return "".join(out), complete

    def _best_european(self, chars: set[str]) -> Face:
        """The installed font with most of these characters (all, usually); the bundled one if none has any."""
        best, most = BUNDLED, 0
        for face in self.ranked(EUROPEAN):
            count = sum(face.covers(c) for c in chars)
            if count > most and usable(face):
                best, most = face, count
            if count == len(chars):
                break
        return best

    def ranked(self, key: str) -> tuple[Face, ...]:
        """The fonts to try for ``key``, best first: preferred families, then regular upright sans faces."""
        if key not in self._ranked:
            preferred = _PREFERRED.get(key, (f"Noto Sans {key.title()}",))
            emoji = key == "emoji"

            def rank(face: Face) -> tuple[int, bool, bool, bool, int, bool]:
                order = preferred.index(face.family) if face.family in preferred else len(preferred)
                family = face.family
                return (
                    order,
                    not face.colour,
                    "Sans" not in family,
                    "Mono" in family,
                    abs(face.weight - 80),
                    bool(face.slant),
                )

            usable = [
                f
                for f in self.faces
                # A colour emoji font also has digits and '#': only emoji are drawn with it.
                if (emoji or not f.colour)
                # Asking a font (rather than fontconfig) about each character is slow: only likely fonts.
                and (f.charset is not None or f.family in preferred or key.split("-")[0].title() in f.family)
            ]
            self._ranked[key] = tuple(sorted(usable, key=rank))
        return self._ranked[key]

    def choose(self, char: str, key: str) -> Face | None:
        if (char, key) not in self._chosen:
            self._chosen[char, key] = next((f for f in self.ranked(key) if f.covers(char) and usable(f)), None)
        return self._chosen[char, key]

    def _warn(self, name: str) -> None:
        with self._lock:
            if name in self._warned:
                return
            self._warned.add(name)
        log.warning("card_text_left_out", script=name, advice=_hint(name))


def _fold(char: str) -> str:
    """The nearest characters the bundled font has: 'ł' -> 'l', 'é' -> 'e', '€' -> 'EUR'; '' if none."""
    bundled = bundled_chars()
    folded = char.translate(_LIGHT_FOLD).translate(_FULL_FOLD)
    if folded == char:
        folded = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return "".join(c for c in folded if c in bundled)


_chooser: FontChooser | None = None
_chooser_lock = threading.Lock()


def chooser() -> FontChooser:
    """The chooser for this machine's fonts, found once per process."""
    global _chooser
    with _chooser_lock:
        if _chooser is None:
            _chooser = FontChooser(discover())
            if not RAQM:
                log.warning("card_layout_basic", advice="Pillow lacks raqm: Arabic letters are drawn unjoined")
        return _chooser
