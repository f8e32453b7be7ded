"""The fonts on this machine for the offline cards: finding them, opening them, and asking what they draw.

English is drawn in Pillow's bundled Aileron (``BUNDLED``), so cards in English look as they always did.
Everything else comes from fonts on the machine, found with fontconfig (``fc-list``) or, without it, at the
paths Debian's font packages use. Which of them draws which text is ``fonts.py``'s choice.
"""

from __future__ import annotations

import bisect
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont, features

from postpilot.logging import get_logger

log = get_logger("postpilot.card")

RAQM = features.check_feature("raqm")
# Noto Color Emoji is a bitmap font with a single strike: FreeType opens it at this size only.
_BITMAP_EMOJI_SIZE = 109
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
            return char in bundled_chars()
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
def usable(face: Face) -> bool:
    try:
        load(face, 32)
    except OSError:
        log.warning("card_font_unreadable", path=face.path, index=face.index)
        return False
    return True


@lru_cache(maxsize=65536)
def _draws(face: Face, char: str) -> bool:
    """Whether ``face`` has a glyph for ``char``: one that differs from the 'missing glyph' box."""
    if not usable(face):
        return False
    font, _ = load(face, 32)
    missing, mask = font.getmask("\U0010fffd"), font.getmask(char)
    return mask.size != missing.size or bytes(mask) != bytes(missing)


@lru_cache(maxsize=1)
def bundled_chars() -> frozenset[str]:
    known = {chr(c) for c in range(32, 127)}
    # Latin-1, Latin Extended-A and general punctuation: where Aileron's few extra glyphs live.
    font, _ = load(BUNDLED, 32)
    missing = font.getmask("\U0010fffd")
    for code in (*range(0xA0, 0x180), *range(0x2000, 0x2070)):
        mask = font.getmask(chr(code))
        if mask.size != missing.size or bytes(mask) != bytes(missing):
            known.add(chr(code))
    return frozenset(known)
