"""The offline image generator: a designed title card made from the post's prompt and caption.

No network and no cost. The palette is picked from a hash of the prompt, so one post's images (and its
carousel) share a look; the variation number moves the light, the pattern and the gradient, so every
carousel image differs visibly. The same request always gives the same bytes.

This module draws the background and the pattern; the title and the caption line are set by
``card_text.py``, in the fonts ``fonts.py`` chooses, broken into lines by ``line_breaks.py``.
"""

from __future__ import annotations

import hashlib
import io
import random
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw

from postpilot.domain.model import TARGET_SIZES
from postpilot.media.card_text import draw_text
from postpilot.media.palettes import PALETTES, WHITE, Palette
from postpilot.media.ports import GeneratedImage, ImageRequest

MODEL = "card-v1"


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
    canvas.paste(WHITE, (0, 0), _pattern(width, height, rng, (digest[1] + request.variation) % 3))
    draw_text(canvas, request, palette)
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
