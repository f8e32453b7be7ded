"""The text of a card: a title from the prompt and the caption's first words, each fitted to its box.

English text uses Pillow's bundled scalable font (Aileron Regular); other languages and emoji use the fonts
installed on the machine (chosen in ``fonts.py``), right-to-left titles set right to left and right-aligned.
Text no installed font can draw is left out, with a warning naming the Debian package that would draw it.
Each block is set at the largest size that fits, with its lines balanced; where even the smallest does not
fit, the last line ends in an ellipsis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PIL import Image, ImageDraw

from postpilot.media import font_faces, fonts, text_scripts
from postpilot.media.line_breaks import wrap
from postpilot.media.line_layout import Writer
from postpilot.media.palettes import RGB, WHITE, Palette
from postpilot.media.ports import ImageRequest

_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class _Block:
    writer: Writer
    size: int
    lines: list[str]
    line_height: int
    rtl: bool  # a right-to-left paragraph: lines laid out right to left and aligned right


def draw_text(canvas: Image.Image, request: ImageRequest, palette: Palette) -> None:
    width, height = canvas.size
    landscape = width / height > 1.5
    unit = width / 1080
    margin = round((64 if landscape else 88) * unit)
    box_width = width - 2 * margin
    draw = ImageDraw.Draw(canvas)

    # Top row: an accent rule, and the page number in a carousel.
    rule_h = round(6 * unit)
    draw.rounded_rectangle(
        (margin, margin, margin + round(64 * unit), margin + rule_h), radius=rule_h // 2, fill=palette.accent
    )
    top = margin + rule_h
    if request.of_count > 1:
        label = f"{request.variation + 1:02d} / {request.of_count:02d}"
        small, _ = font_faces.load(font_faces.BUNDLED, round(28 * unit))
        draw.text((width - margin, margin + rule_h), label, font=small, fill=palette.accent, anchor="rm")

    # Bottom up: the caption line, then the title above it.
    bottom = height - margin
    caption, writer = _caption_line(request.caption)
    if caption:
        size = round((28 if landscape else 34) * unit)
        block = _fit(caption, writer, size, size, box_width, max_lines=1 if landscape else 2, max_height=None)
        bottom = _draw_block(canvas, block, margin, box_width, bottom, fill=_mix(WHITE, palette.accent, 0.25))
        bottom -= round((22 if landscape else 34) * unit)

    prompt, writer = _prepare(request.prompt)
    title = _headline(prompt)
    if not title:
        return  # nothing any installed font can draw: the design stands alone (a warning said which package)
    available = bottom - top - round((36 if landscape else 64) * unit)
    largest = round((72 if landscape else 108) * unit)
    smallest = round((40 if landscape else 56) * unit)
    max_lines = 3 if landscape else (6 if height > width else 5)
    block = _fit(title, writer, largest, smallest, box_width, max_lines=max_lines, max_height=available)
    _draw_block(canvas, block, margin, box_width, bottom, fill=WHITE, bold=True)


def _mix(a: RGB, b: RGB, share_of_b: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * share_of_b),
        round(a[1] + (b[1] - a[1]) * share_of_b),
        round(a[2] + (b[2] - a[2]) * share_of_b),
    )


def _headline(text: str, limit: int = 90) -> str:
    """A title from a prompt: a long prompt is cut at its first sentence, or clause, that says enough."""
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    for pattern in (r"(?<=[.!?])\s+", r"\s*[,;:]\s+|\s+-\s+"):
        if len(text) <= limit:
            break
        first = re.split(pattern, text, maxsplit=1)[0].rstrip(".")
        if len(first.split()) >= 3:
            text = first
    return text


def _draw_block(
    canvas: Image.Image,
    block: _Block,
    left: int,
    width: int,
    bottom: int,
    *,
    fill: RGB,
    bold: bool = False,
) -> int:
    """Draw lines so the last baseline's descent ends at ``bottom``; return the top of the block."""
    ascent, descent = font_faces.load(block.writer.base, block.size)[0].getmetrics()
    baseline = bottom - descent
    # A hairline stroke in the text colour gives the regular face the weight of a semibold.
    stroke = max(1, round(block.size / 60)) if bold else 0
    for line in reversed(block.lines):
        x = left + width - block.writer.width(line, block.size, rtl=True) if block.rtl else left
        block.writer.draw(canvas, line, block.size, x=x, baseline=baseline, fill=fill, rtl=block.rtl, stroke=stroke)
        baseline -= block.line_height
    return baseline + block.line_height - ascent


def _fit(
    text: str, writer: Writer, largest: int, smallest: int, width: int, *, max_lines: int, max_height: int | None
) -> _Block:
    """The largest size (down to ``smallest``) at which ``text`` wraps into the box; else cut with '…'."""
    rtl = text_scripts.is_rtl(text)
    for size in range(largest, smallest - 1, -2):
        line_height = round(size * 1.14)
        room = max_lines if max_height is None else min(max_lines, max_height // line_height)
        lines = wrap(text, writer, size, width, rtl, limit=room)
        if len(lines) <= room:
            return _Block(writer, size, _balance(text, writer, size, width, len(lines), rtl), line_height, rtl)
    line_height = round(smallest * 1.14)
    room = max_lines if max_height is None else max(1, min(max_lines, max_height // line_height))
    lines = wrap(text, writer, smallest, width, rtl, limit=room)
    if len(lines) > room:
        lines = lines[:room]
        lines[-1] = _with_ellipsis(lines[-1], writer, smallest, width, rtl)
    return _Block(writer, smallest, lines, line_height, rtl)


def _balance(text: str, writer: Writer, size: int, width: int, count: int, rtl: bool) -> list[str]:
    """The narrowest wrap with the same number of lines, so the last line is not a lonely word."""
    low, high = width // 2, width
    while low < high:
        middle = (low + high) // 2
        if len(wrap(text, writer, size, middle, rtl, limit=count)) <= count:
            high = middle
        else:
            low = middle + 1
    return wrap(text, writer, size, high, rtl, limit=count)


def _with_ellipsis(line: str, writer: Writer, size: int, width: int, rtl: bool) -> str:
    words = line.split(" ")
    while len(words) > 1 and writer.width(" ".join(words) + _ELLIPSIS, size, rtl=rtl) > width:
        words.pop()
    shortened = " ".join(words).rstrip(",.;:-")
    while shortened and writer.width(shortened + _ELLIPSIS, size, rtl=rtl) > width:
        shortened = shortened[:-1]
    return shortened + _ELLIPSIS


def _caption_line(caption: str) -> tuple[str, Writer]:
    """The caption's first paragraph without hashtags, mentions and links: the words a reader sees first."""
    return _prepare(re.sub(r"(https?://\S+|[#@][\w.]+)", " ", caption.strip().split("\n\n", 1)[0]))


def _prepare(text: str) -> tuple[str, Writer]:
    return fonts.chooser().prepare(text)


def _clean(text: str) -> str:
    """``text`` with whitespace collapsed and only what the installed fonts can draw (folded if need be)."""
    return _prepare(text)[0]
