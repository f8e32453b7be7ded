"""Fonts for the offline cards: which installed font draws which character, and lines laid out in them.

English is drawn in Pillow's bundled Aileron, so cards in English look as they always did. Everything else comes from
fonts on the machine, found with fontconfig (``fc-list``) or, without it, at the paths Debian's font packages use.
Text is cut into runs that one font draws whole; Pillow's raqm layout shapes each run (Arabic letters join) and lays
right-to-left runs out right to left, and words are ordered on a line by a word-level Unicode bidi algorithm.
What no installed font can draw is left out, with one warning per script naming the Debian package that adds it.
"""

from __future__ import annotations

import bisect
import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import ImageFont, features

from postpilot.logging import get_logger

if TYPE_CHECKING:
    from postpilot.media.line_layout import Writer

log = get_logger("postpilot.card")

EUROPEAN = "european"  # Latin, Greek, Cyrillic and the shared digits and punctuation
_EUROPEAN_SCRIPTS = frozenset({"latin", "greek", "cyrillic", "common"})
_CJK_WORDS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "IDEOGRAPHIC", "HANGUL", "BOPOMOFO"})
RAQM = features.check_feature("raqm")
# Noto Color Emoji is a bitmap font with a single strike: FreeType opens it at this size only.
_BITMAP_EMOJI_SIZE = 109
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
_DEBIAN_FONTS = (  # without fontconfig: where fonts-dejavu-core, fonts-noto-core, -cjk and -color-emoji put them
    ("truetype/noto/NotoSans-Regular.ttf", 0, "Noto Sans"),
    ("truetype/dejavu/DejaVuSans.ttf", 0, "DejaVu Sans"),
    ("truetype/noto/NotoSansArabic-Regular.ttf", 0, "Noto Sans Arabic"),
    ("truetype/noto/NotoSansHebrew-Regular.ttf", 0, "Noto Sans Hebrew"),
    ("opentype/noto/NotoSansCJK-Regular.ttc", 0, "Noto Sans CJK JP"),
    ("opentype/noto/NotoSansCJK-Regular.ttc", 1, "Noto Sans CJK KR"),
    ("opentype/noto/NotoSansCJK-Regular.ttc", 2, "Noto Sans CJK SC"),
    ("truetype/noto/NotoColorEmoji.ttf", 0, "Noto Color Emoji"),
)
# Typographic variants Aileron lacks, replaced without loss of meaning.
_LIGHT_FOLD = str.maketrans({"–": "-", "—": " - ", "‘": "'", "‚": "'", "„": '"', "•": "·", "\u00a0": " "})
# Only when no installed font has a Latin letter: the nearest letters Aileron has.
_FULL_FOLD = {
    **{ord(a): b for a, b in zip("øØłŁđĐðı", "oOlLdDdi", strict=True)},
    **{ord(a): b for a, b in {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th"}.items()},
    **{ord(a): b for a, b in {"€": "EUR", "£": "GBP"}.items()},
}
MIRROR = str.maketrans("()[]{}<>«»‹›", ")(][}{><»«›‹")


@dataclass(frozen=True, eq=False)
class Face:
    """One face of an installed font file (or the bundled font, ``path=None``). Compared by identity."""

    path: str | None
    index: int = 0
    family: str = "Aileron"
    weight: int = 80  # fontconfig's scale: 80 regular, 200 bold
    slant: int = 0
    colour: bool = False
    charset: tuple[int, ...] | None = None  # [start, end + 1, ...] from fontconfig; None: ask the font

    def covers(self, char: str) -> bool:
        if self.path is None:
            return char in _bundled_chars()
        if self.charset is not None:
            return bisect.bisect_right(self.charset, ord(char)) % 2 == 1
        return _draws(self, char)


BUNDLED = Face(None)


# --- finding fonts -----------------------------------------------------------------------------------------


def discover() -> tuple[Face, ...]:
    """The scalable fonts installed here, from fontconfig if it runs, else from Debian's font paths."""
    return _from_fontconfig() or _from_debian_paths()


def _from_fontconfig() -> tuple[Face, ...]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return ()
    fields = "%{file}\t%{index}\t%{family[0]}\t%{weight}\t%{slant}\t%{color}\t%{charset}\n"
    try:
        # A fixed command and format; the first run on a machine may build fontconfig's cache.
        done = subprocess.run([fc_list, "--format", fields], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("card_fontconfig_failed", error=type(exc).__name__)
        return ()
    faces = []
    for row in done.stdout.splitlines():
        parts = row.split("\t")
        if len(parts) != 7 or not parts[0].lower().endswith((".ttf", ".otf", ".ttc", ".otc")):
            continue  # Type 1 and bitmap formats Pillow's FreeType loader does not open
        path, index, family, weight, slant, colour, charset = parts
        try:
            numbers = (int(index), int(float(weight or 80)), int(float(slant or 0)))
            flat = _ranges(charset)
        except ValueError:
            continue
        is_colour = colour == "True" or "Color Emoji" in family
        faces.append(Face(path, numbers[0], family, numbers[1], numbers[2], is_colour, flat))
    # Sorted, so the choice among equally good fonts never depends on the order fontconfig lists them in.
    return tuple(sorted(faces, key=lambda f: (f.family, f.path or "", f.index)))


def _ranges(charset: str) -> tuple[int, ...]:
    flat: list[int] = []
    for item in charset.split():
        first, _, last = item.partition("-")
        flat += [int(first, 16), int(last or first, 16) + 1]
    return tuple(flat)


def _from_debian_paths(root: Path = Path("/usr/share/fonts")) -> tuple[Face, ...]:
    known = [(root / rel, index, family) for rel, index, family in _DEBIAN_FONTS]
    # fonts-noto-core's other scripts: NotoSansThai-Regular.ttf is "Noto Sans Thai".
    for path in sorted((root / "truetype/noto").glob("NotoSans?*-Regular.ttf")):
        words = "".join(f" {c}" if c.isupper() else c for c in path.name.removesuffix("-Regular.ttf")).split()
        known.append((path, 0, " ".join(words)))
    seen: set[tuple[Path, int]] = set()
    faces = []
    for path, index, family in known:
        if path.is_file() and (path, index) not in seen:
            seen.add((path, index))
            faces.append(Face(str(path), index, family, colour="Color Emoji" in family))
    return tuple(faces)


# --- loading -------------------------------------------------------------------------------------------------

_local = threading.local()  # a FreeType face must not be used by two generation threads at once


def load(face: Face, size: int) -> tuple[ImageFont.FreeTypeFont, float]:
    """The font at ``size``, and the scale to draw it at (not 1 for a bitmap font with fixed sizes)."""
    cache: dict[tuple[Face, int], tuple[ImageFont.FreeTypeFont, float]] = _local.__dict__.setdefault("fonts", {})
    key = (face, size)
    if key not in cache:
        if len(cache) >= 128:
            del cache[next(iter(cache))]
        cache[key] = _open(face, size)
    return cache[key]


def _open(face: Face, size: int) -> tuple[ImageFont.FreeTypeFont, float]:
    if face.path is None:
        # Pillow's own loader and layout: English cards stay exactly as they were drawn before.
        font = ImageFont.load_default(size=size)
        assert isinstance(font, ImageFont.FreeTypeFont)  # Pillow is built with FreeType (checked in tests)
        return font, 1.0
    engine = ImageFont.Layout.RAQM if RAQM else ImageFont.Layout.BASIC
    try:
        return ImageFont.truetype(face.path, size, index=face.index, layout_engine=engine), 1.0
    except OSError:
        if not face.colour:
            raise
        native = ImageFont.truetype(face.path, _BITMAP_EMOJI_SIZE, index=face.index, layout_engine=engine)
        return native, size / _BITMAP_EMOJI_SIZE


@lru_cache(maxsize=4096)
def _usable(face: Face) -> bool:
    try:
        load(face, 32)
    except OSError:
        log.warning("card_font_unreadable", path=face.path, index=face.index)
        return False
    return True


@lru_cache(maxsize=65536)
def _draws(face: Face, char: str) -> bool:
    """Whether ``face`` has a glyph for ``char``: one that differs from the 'missing glyph' box."""
    if not _usable(face):
        return False
    font, _ = load(face, 32)
    missing, mask = font.getmask("\U0010fffd"), font.getmask(char)
    return mask.size != missing.size or bytes(mask) != bytes(missing)


@lru_cache(maxsize=1)
def _bundled_chars() -> frozenset[str]:
    known = {chr(c) for c in range(32, 127)}
    # Latin-1, Latin Extended-A and general punctuation: where Aileron's few extra glyphs live.
    font, _ = load(BUNDLED, 32)
    missing = font.getmask("\U0010fffd")
    for code in (*range(0xA0, 0x180), *range(0x2000, 0x2070)):
        mask = font.getmask(chr(code))
        if mask.size != missing.size or bytes(mask) != bytes(missing):
            known.add(chr(code))
    return frozenset(known)


# --- scripts -------------------------------------------------------------------------------------------------


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
        bundled = _bundled_chars()
        if all(f in bundled for c in european for f in c.translate(_LIGHT_FOLD) if f != " "):
            text, base = " ".join(text.translate(_LIGHT_FOLD).split()), BUNDLED
        else:
            base = self._best_european(european)
        from postpilot.media.line_layout import Writer  # it draws with this module's fonts

        writer = Writer(self, base, _cjk_variant(text))
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
            if count > most and _usable(face):
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
            self._chosen[char, key] = next((f for f in self.ranked(key) if f.covers(char) and _usable(f)), None)
        return self._chosen[char, key]

    def _warn(self, name: str) -> None:
        with self._lock:
            if name in self._warned:
                return
            self._warned.add(name)
        log.warning("card_text_left_out", script=name, advice=_hint(name))


def _fold(char: str) -> str:
    """The nearest characters the bundled font has: 'ł' -> 'l', 'é' -> 'e', '€' -> 'EUR'; '' if none."""
    bundled = _bundled_chars()
    folded = char.translate(_LIGHT_FOLD).translate(_FULL_FOLD)
    if folded == char:
        folded = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return "".join(c for c in folded if c in bundled)


def _cjk_variant(text: str) -> str:
    """Han characters are drawn the Japanese way next to kana, the Korean way next to Hangul, else Chinese."""
    names = {unicodedata.name(c, "").split(" ", 1)[0] for c in text if ord(c) >= 0x1100}
    if names & {"HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"}:
        return "cjk-ja"
    return "cjk-ko" if "HANGUL" in names else "cjk-zh"


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
