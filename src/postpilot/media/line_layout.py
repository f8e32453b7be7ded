"""Lines of a card laid out in the fonts ``fonts.py`` chose: runs shaped by raqm, words ordered by a word-level
Unicode bidi algorithm, colour emoji pasted from their bitmap font."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from postpilot.media.font_faces import RAQM, Face, load
from postpilot.media.text_scripts import EUROPEAN, MIRROR, script, script_keys

if TYPE_CHECKING:
    from postpilot.media.fonts import FontChooser


@dataclass(frozen=True, slots=True)
class _Piece:
    """A word or a space of a line, in logical order, with its runs (text, font) and its bidi level."""

    runs: list[tuple[str, Face]]
    level: int


@dataclass(frozen=True, slots=True)
class Group:
    """Text drawn by one call, left to right on the line: ``rtl`` asks raqm to lay it out right to left."""

    text: str
    face: Face
    rtl: bool


class Writer:
    """Measures and draws lines of one prepared text. Made per card, so its caches die with it."""

    def __init__(self, fonts: FontChooser, base: Face, cjk: str) -> None:
        self._fonts, self.base, self._cjk = fonts, base, cjk
        self._groups: dict[tuple[str, bool], tuple[Group, ...]] = {}
        self._widths: dict[tuple[Group, int], float] = {}

    def face(self, char: str, key: str) -> Face | None:
        # Digits and punctuation are drawn like the English text where they can be, whatever the words around.
        if (key == EUROPEAN or (key != "emoji" and script(char) == "common")) and self.base.covers(char):
            return self.base
        return self._fonts.choose(char, self._cjk if key == "cjk" else key)

    def width(self, line: str, size: int, *, rtl: bool = False) -> float:
        return sum(self._width(g, size) for g in self.groups(line, rtl=rtl))

    def draw(
        self,
        canvas: Image.Image,
        line: str,
        size: int,
        *,
        x: float,
        baseline: float,
        fill: tuple[int, int, int],
        rtl: bool = False,
        stroke: int = 0,
    ) -> None:
        """Draw ``line`` with its left end at ``x``; ``rtl`` is the direction of the paragraph it belongs to."""
        draw = ImageDraw.Draw(canvas)
        for group in self.groups(line, rtl=rtl):
            font, scale = load(group.face, size)
            if scale != 1.0:
                _paste_bitmap(canvas, group.text, font, scale, x, baseline)
            else:
                direction = ("rtl" if group.rtl else "ltr") if group.face.path is not None and RAQM else None
                draw.text(
                    (x, baseline),
                    group.text,
                    font=font,
                    fill=fill,
                    anchor="ls",
                    direction=direction,
                    stroke_width=0 if group.face.colour else stroke,
                    stroke_fill=fill,
                    embedded_color=group.face.colour,
                )
            x += self._width(group, size)

    def _width(self, group: Group, size: int) -> float:
        key = (group, size)
        if key not in self._widths:
            font, scale = load(group.face, size)
            raqm = group.face.path is not None and RAQM
            self._widths[key] = (
                font.getlength(group.text, direction=("rtl" if group.rtl else "ltr") if raqm else None) * scale
            )
        return self._widths[key]

    def groups(self, line: str, *, rtl: bool = False) -> tuple[Group, ...]:
        """The line as drawing calls in visual order: words reordered by bidi level, runs of one font merged."""
        if (line, rtl) not in self._groups:
            self._groups[line, rtl] = tuple(_merge(self._visual(self._pieces(line, rtl))))
        return self._groups[line, rtl]

    def _pieces(self, line: str, rtl: bool) -> list[_Piece]:
        words = [w for w in line.replace(" ", "\0 \0").split("\0") if w]
        levels = _levels([_bidi_class(w) for w in words], rtl)
        pieces = [_Piece([] if w == " " else self._runs(w), level) for w, level in zip(words, levels, strict=True)]
        for i, piece in enumerate(pieces):
            if words[i] == " ":  # in the font of a neighbour, so it joins that neighbour's call
                near = [p.runs[-1][1] for p in pieces[i - 1 : i] if p.runs] + [
                    p.runs[0][1] for p in pieces[i + 1 : i + 2] if p.runs
                ]
                piece.runs.append((" ", next((f for f in near if not f.colour and f.covers(" ")), self.base)))
        return pieces

    def _runs(self, word: str) -> list[tuple[str, Face]]:
        runs: list[tuple[str, Face]] = []
        for char, key in zip(word, script_keys(word), strict=True):
            last = runs[-1][1] if runs else None
            common = key != "emoji" and script(char) == "common"
            if key is None or (last is not None and common and not last.colour and last.covers(char)):
                if last is not None and last.covers(char):
                    runs[-1] = (runs[-1][0] + char, last)
                continue  # a mark or joiner no font around it draws: left out rather than drawn as a box
            face = self.face(char, key)
            if face is None:
                continue
            if face is last:
                runs[-1] = (runs[-1][0] + char, face)
            else:
                runs.append((char, face))
        return runs

    def _visual(self, pieces: list[_Piece]) -> list[Group]:
        order = list(range(len(pieces)))
        levels = [p.level for p in pieces]
        if levels:
            # UAX #9 rule L2: from the highest level down to the lowest odd one, reverse each sequence at or above it.
            for level in range(max(levels), (min(levels) | 1) - 1, -1):
                i = 0
                while i < len(order):
                    if levels[order[i]] < level:
                        i += 1
                        continue
                    j = i
                    while j < len(order) and levels[order[j]] >= level:
                        j += 1
                    order[i:j] = order[i:j][::-1]
                    i = j
        out = []
        for position in order:
            piece = pieces[position]
            odd = piece.level % 2 == 1
            for text, face in piece.runs[::-1] if odd else piece.runs:
                if odd and (face.path is None or not RAQM):
                    # Laid out left to right by Pillow: reversed here, brackets mirrored as raqm would.
                    out.append(Group(text[::-1].translate(MIRROR), face, rtl=False))
                else:
                    out.append(Group(text, face, rtl=odd))
        return out


def _merge(groups: list[Group]) -> list[Group]:
    """Neighbours in one font and direction become one call: an English line is drawn as one string, as before,
    and raqm sees whole right-to-left phrases."""
    out: list[Group] = []
    for group in groups:
        last = out[-1] if out else None
        if last is not None and last.face is group.face and last.rtl == group.rtl:
            out[-1] = Group(group.text + last.text if group.rtl else last.text + group.text, group.face, group.rtl)
        else:
            out.append(group)
    return out


def _bidi_class(word: str) -> str:
    """'L' or 'R' (the first strong letter), 'D' for a number without letters, 'N' for the rest."""
    kinds = [unicodedata.bidirectional(c) for c in word]
    strong = next((k for k in kinds if k in ("L", "R", "AL")), None)
    if strong is not None:
        return "L" if strong == "L" else "R"
    return "D" if "EN" in kinds or "AN" in kinds else "N"


def _levels(classes: list[str], rtl: bool) -> list[int]:
    """Bidi embedding levels of a line's words (UAX #9 rules W2, W7, N1, N2, I1 and I2, a word at a time)."""
    outer = "R" if rtl else "L"
    resolved, last = [], outer
    for kind in classes:
        if kind in ("L", "R"):
            last = kind
        # A number after a left-to-right word reads with it; otherwise it acts as right to left.
        resolved.append("L" if kind == "D" and last == "L" else kind)
    strong = ["R" if k == "D" else k for k in resolved]
    for i, kind in enumerate(resolved):
        if kind == "N":
            before = next((k for k in strong[i - 1 :: -1] if k != "N"), outer) if i else outer
            after = next((k for k in strong[i + 1 :] if k != "N"), outer)
            resolved[i] = before if before == after else outer
    return [1 if k == "R" else 2 if k == "D" or (k == "L" and rtl) else 0 for k in resolved]


def _paste_bitmap(
    canvas: Image.Image, text: str, font: ImageFont.FreeTypeFont, scale: float, x: float, y: float
) -> None:
    """Colour emoji from a fixed-size bitmap font: drawn at the font's size, scaled to the text's."""
    ascent, descent = font.getmetrics()
    tile = Image.new("RGBA", (max(1, int(font.getlength(text)) + 2), ascent + descent))
    ImageDraw.Draw(tile).text((0, ascent), text, font=font, anchor="ls", embedded_color=True)
    tile = tile.resize(
        (max(1, round(tile.width * scale)), max(1, round(tile.height * scale))), Image.Resampling.LANCZOS
    )
    canvas.paste(tile, (round(x), round(y - ascent * scale)), tile)


__all__ = ["Group", "Writer"]
