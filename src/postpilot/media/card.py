"""The offline image generator: a designed title card made from the post's prompt and caption.

No network and no cost. The palette is picked from a hash of the prompt, so one post's images (and its
carousel) share a look; the variation number moves the light, the pattern and the gradient, so every
carousel image differs visibly. The same request always gives the same bytes.

English text uses Pillow's bundled scalable font (Aileron Regular); other languages and emoji use the fonts
installed on the machine (chosen in ``postpilot.media.fonts``), right-to-left titles set right to left and
right-aligned.
Text no installed font can draw is left out, with a warning naming the Debian package that would draw it.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw

from postpilot.domain.model import TARGET_SIZES
from postpilot.media import font_faces, fonts, text_scripts
from postpilot.media.line_layout import Writer
from postpilot.media.ports import GeneratedImage, ImageRequest

MODEL = "card-v1"

RGB = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Palette:
    start: RGB  # gradient colours: dark enough for white text (contrast ≥ 4.5:1, checked in tests)
    end: RGB
    accent: RGB  # light colour for the glow, the rule and the page number


def _hex(value: str) -> RGB:
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


PALETTES: tuple[Palette, ...] = tuple(
    Palette(_hex(a), _hex(b), _hex(c))
    for a, b, c in (
        ("#1e1b4b", "#5b21b6", "#f0abfc"),  # indigo to violet, orchid light
        ("#042f2e", "#0f766e", "#5eead4"),  # deep teal
        ("#0c1e3e", "#1d4ed8", "#7dd3fc"),  # ocean blue
        ("#431407", "#b91c1c", "#fdba74"),  # ember
        ("#052e16", "#166534", "#bef264"),  # forest, lime light
        ("#3b0764", "#9d174d", "#fda4af"),  # plum to raspberry
        ("#0f172a", "#334155", "#38bdf8"),  # slate, sky light
        ("#1c1917", "#44403c", "#fdba74"),  # warm stone, peach light
        ("#172554", "#6d28d9", "#fb7185"),  # navy to purple, coral light
        ("#064e3b", "#155e75", "#6ee7b7"),  # emerald to petrol
        ("#4c0519", "#7c2d12", "#fcd34d"),  # wine to rust, amber light
        ("#1e293b", "#0e7490", "#a5f3fc"),  # steel to cyan
    )
)

_WHITE: RGB = (255, 255, 255)
_ELLIPSIS = "…"


class CardRenderer:
    """``ImageGenerator`` that draws a title card with Pillow."""

    @property
    def model(self) -> str:
        return MODEL

    def estimate_cost_usd(self, request: ImageRequest) -> float:
        return 0.0

    def generate(self, request: ImageRequest) -> GeneratedImage:
        card = render_card(request)
        buffer = io.BytesIO()
        # High quality: the Instagram transform encodes once more.
        card.save(buffer, "JPEG", quality=95, subsampling=0)
        return GeneratedImage(data=buffer.getvalue(), model=MODEL, cost_usd=0.0)


def render_card(request: ImageRequest) -> Image.Image:
    """The card as an RGB image of exactly ``TARGET_SIZES[request.aspect]``."""
    width, height = TARGET_SIZES[request.aspect]
    digest = hashlib.sha256(request.prompt.strip().encode()).digest()
    palette = PALETTES[digest[0] % len(PALETTES)]
    # Layout randomness: per prompt and per variation, but the same on every run.
    seed = int.from_bytes(hashlib.sha256(digest + f"/{request.variation}".encode()).digest()[:8], "big")
    rng = random.Random(seed)

    # Memory: every layer is an RGB canvas or a one-byte mask, and colours go on with ``paste(colour, mask)``.
    # A burst of cards drawn on several threads at once must stay small (full-size RGBA layers and a cache of
    # large glow masks once cost about 80 MB per card in flight).
    canvas = _background(width, height, palette, rng, request.variation)
    # Each carousel position gets the next pattern, so neighbouring images never look alike.
    canvas.paste(_WHITE, (0, 0), _pattern(width, height, rng, (digest[1] + request.variation) % 3))
    _text(canvas, request, palette)
    return canvas


# --- background ---------------------------------------------------------------------------------------


def _background(width: int, height: int, palette: Palette, rng: random.Random, variation: int) -> Image.Image:
    """A diagonal two-colour gradient with a soft glow of the accent colour."""
    # Direction: the blend of a horizontal and a vertical ramp, mirrored into one of four quadrants.
    horizontal = Image.linear_gradient("L").rotate(90).resize((width, height), Image.Resampling.BICUBIC)
    vertical = Image.linear_gradient("L").resize((width, height), Image.Resampling.BICUBIC)
    mask = Image.blend(horizontal, vertical, rng.uniform(0.3, 0.7))
    quadrant = (variation + rng.randrange(4)) % 4
    if quadrant & 1:
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if quadrant & 2:
        mask = mask.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    canvas = Image.new("RGB", (width, height), palette.start)
    canvas.paste(palette.end, (0, 0, width, height), mask)
    del mask, horizontal, vertical

    # The glow sits away from the text, which lives in the lower left.
    corners = [(0.85, 0.12), (0.9, 0.45), (0.6, 0.05), (0.95, 0.8)]
    cx, cy = corners[(variation + rng.randrange(len(corners))) % len(corners)]
    radius = int(max(width, height) * rng.uniform(0.55, 0.75))
    glow = _soft_disc(radius, strength=rng.randint(70, 95))
    left, top = int(cx * width) - radius, int(cy * height) - radius
    # Only the part of the disc that lands on the canvas is pasted.
    box = (max(0, -left), max(0, -top), min(glow.width, width - left), min(glow.height, height - top))
    canvas.paste(palette.accent, (left + box[0], top + box[1]), glow.crop(box))
    return canvas


@lru_cache(maxsize=8)
def _falloff(strength: int) -> Image.Image:
    """A 256 × 256 'L' disc: ``strength`` at the centre, fading smoothly to 0 at the edge (64 KB each)."""
    falloff = Image.radial_gradient("L").point(lambda v: max(0, 255 - v * 255 // 181))
    return falloff.point(lambda v: (v * v // 255) * strength // 255)


def _soft_disc(radius: int, strength: int) -> Image.Image:
    """The disc scaled to ``radius``; not cached: at full size each one is several MB."""
    return _falloff(strength).resize((2 * radius, 2 * radius), Image.Resampling.BICUBIC)


# --- pattern ------------------------------------------------------------------------------------------


def _pattern(width: int, height: int, rng: random.Random, kind: int) -> Image.Image:
    """The coverage mask of thin geometric lines (painted white by the caller), drawn at twice the size and
    scaled down for smooth edges."""
    big = Image.new("L", (width * 2, height * 2), 0)
    draw = ImageDraw.Draw(big)
    unit = width * 2 / 1080
    line = 34
    if kind == 0:  # concentric rings around a point near the top right
        cx = width * 2 * rng.uniform(0.7, 1.05)
        cy = height * 2 * rng.uniform(-0.05, 0.3)
        step = 46 * unit
        for i in range(1, 24):
            r = i * step
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=line, width=max(2, round(2 * unit)))
    elif kind == 1:  # a field of dots in the upper right, thinning out towards the text
        gap = 40 * unit
        dot = 3.2 * unit
        ox = rng.uniform(0, gap)
        cols = int(width * 2 / gap) + 1
        rows = int(height * 2 * 0.55 / gap) + 1
        for row in range(rows):
            for col in range(cols):
                x = ox + col * gap
                y = gap * 0.5 + row * gap
                fade = (x / (width * 2)) * (1 - row / rows)
                if fade > 0.15:
                    alpha = int(90 * fade)
                    draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=alpha)
    else:  # diagonal pinstripes across one band
        step = 30 * unit
        shift = rng.uniform(0, step)
        top = height * 2 * rng.uniform(0.0, 0.15)
        band = height * 2 * 0.45
        for i in range(-int(band / step) - 2, int(width * 2 / step) + 2):
            x = shift + i * step
            draw.line((x, top + band, x + band, top), fill=line, width=max(2, round(1.6 * unit)))
        # Fade the stripes out on the left, where the title starts.
        ramp = Image.linear_gradient("L").rotate(90).resize(big.size).point(lambda v: min(255, v * 2))
        big = ImageChops.multiply(big, ramp)
    return big.resize((width, height), Image.Resampling.LANCZOS)


# --- text ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Block:
    writer: Writer
    size: int
    lines: list[str]
    line_height: int
    rtl: bool  # a right-to-left paragraph: lines laid out right to left and aligned right


def _text(canvas: Image.Image, request: ImageRequest, palette: Palette) -> None:
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
        bottom = _draw_block(canvas, block, margin, box_width, bottom, fill=_mix(_WHITE, palette.accent, 0.25))
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
    _draw_block(canvas, block, margin, box_width, bottom, fill=_WHITE, bold=True)


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
        lines = _wrap(text, writer, size, width, rtl, limit=room)
        if len(lines) <= room:
            return _Block(writer, size, _balance(text, writer, size, width, len(lines), rtl), line_height, rtl)
    line_height = round(smallest * 1.14)
    room = max_lines if max_height is None else max(1, min(max_lines, max_height // line_height))
    lines = _wrap(text, writer, smallest, width, rtl, limit=room)
    if len(lines) > room:
        lines = lines[:room]
        lines[-1] = _with_ellipsis(lines[-1], writer, smallest, width, rtl)
    return _Block(writer, smallest, lines, line_height, rtl)


def _wrap(text: str, writer: Writer, size: int, width: float, rtl: bool, *, limit: int) -> list[str]:
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


def _balance(text: str, writer: Writer, size: int, width: int, count: int, rtl: bool) -> list[str]:
    """The narrowest wrap with the same number of lines, so the last line is not a lonely word."""
    low, high = width // 2, width
    while low < high:
        middle = (low + high) // 2
        if len(_wrap(text, writer, size, middle, rtl, limit=count)) <= count:
            high = middle
        else:
            low = middle + 1
    return _wrap(text, writer, size, high, rtl, limit=count)


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
