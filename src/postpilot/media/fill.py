"""The fill: the stored pixels cropped to the target's ratio and reduced to its size, without holding more
than the memory budget allows.

A ``Plan`` names the rows and columns to read, the integer reduction applied to them a band at a time, and
the final LANCZOS pass over the reduced copy; all of it is in the stored orientation, and the EXIF rotation
(``turn``) happens once the image is the target size. A JPEG is asked to decode at 1/2, 1/4 or 1/8 scale
straight from its DCT (``draft_jpeg``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from postpilot.media.decoding import bytes_per_pixel
from postpilot.media.memory_budget import WHOLE_DECODE_BUDGET
from postpilot.media.png_bands import BAND_BYTES

# The integer reduction stops this many times above the target, so the final LANCZOS pass still looks like a
# fair resampling (Pillow's reducing_gap). When the reduced copy would not fit its budget, the reduction goes
# further (the gap shrinks), never below the target's size. Within 64 MB that only happens above 3.4× a
# portrait target, so the gap stays over 1.7. It can get close to 1 beside a source held whole, and only there.
_REDUCING_GAP = 3.0

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS = frozenset({5, 6, 7, 8})  # orientations that swap width and height
_SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def working_bytes(image: Image.Image) -> int:
    """Bytes per pixel of the reduced copy: one for greyscale without transparency, else four."""
    grey = image.mode in ("1", "L", "F", *_SIXTEEN_BIT)
    return 1 if grey and "transparency" not in image.info else 4


# --- orientation ---------------------------------------------------------------------------------------------


def stored_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The target as the stored pixels see it: rotating by a quarter turn swaps its sides."""
    return (size[1], size[0]) if orientation in _QUARTER_TURNS else size


def turn(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


# --- the fill: plan, decode, shrink ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """How the stored pixels become the target, all in the stored orientation: the rows and columns to read,
    the integer reduction applied to them band by band, and the LANCZOS pass over the reduced copy."""

    region: tuple[int, int, int, int]
    factor: tuple[int, int]
    box: tuple[float, float, float, float]  # the crop, in the reduced copy's coordinates
    size: tuple[int, int]


def _crop_box(source: tuple[int, int], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The centre crop with the target's ratio (what Cloudinary's crop=fill does)."""
    src_w, src_h = source
    target_ratio = size[0] / size[1]
    if src_w / src_h > target_ratio:  # too wide: trim the sides
        crop_w, crop_h = src_h * target_ratio, float(src_h)
    else:  # too tall: trim top and bottom
        crop_w, crop_h = float(src_w), src_w / target_ratio
    left = (src_w - crop_w) / 2
    top = (src_h - crop_h) / 2
    return (left, top, left + crop_w, top + crop_h)


def plan_fill(source: tuple[int, int], size: tuple[int, int], *, canvas_bytes: int, pixel_bytes: int) -> Plan:
    """Pillow's ``resize(box=…, reducing_gap=3.0)``, with the reduced copy kept within ``canvas_bytes``."""
    left, top, right, bottom = _crop_box(source, size)
    scale_x, scale_y = (right - left) / size[0], (bottom - top) / size[1]
    # LANCZOS reads three (scaled) pixels either side of a sample's centre, half a pixel in from the crop.
    support_x, support_y = 2.5 * scale_x, 2.5 * scale_y
    region = (
        max(0, int(left - support_x)),
        max(0, int(top - support_y)),
        min(source[0], math.ceil(right + support_x)),
        min(source[1], math.ceil(bottom + support_y)),
    )
    width, height = region[2] - region[0], region[3] - region[1]
    fx, fy = max(1, int(scale_x / _REDUCING_GAP)), max(1, int(scale_y / _REDUCING_GAP))
    most_x, most_y = max(1, int(scale_x)), max(1, int(scale_y))  # never below the target's size
    while -(-width // fx) * -(-height // fy) * pixel_bytes > canvas_bytes and (fx < most_x or fy < most_y):
        if fy >= most_y or (fx < most_x and scale_x / fx >= scale_y / fy):
            fx += 1
        else:
            fy += 1
    box = ((left - region[0]) / fx, (top - region[1]) / fy, (right - region[0]) / fx, (bottom - region[1]) / fy)
    return Plan(region=region, factor=(fx, fy), box=box, size=size)


def draft_jpeg(source: Image.Image, size: tuple[int, int]) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the crop still covers ``size`` (stored orientation)."""
    left, top, right, bottom = _crop_box(source.size, size)
    scale = next((s for s in (8, 4, 2) if (right - left) / s >= size[0] and (bottom - top) / s >= size[1]), 1)
    # A long panorama's crop needs a full-resolution strip, and all of it would be decoded (320 MB at 80 MP).
    # Half scale always fits: the crop then comes out up to half the target and is enlarged to it.
    per_pixel = bytes_per_pixel(source.mode)
    while scale < 8 and -(-source.width // scale) * -(-source.height // scale) * per_pixel > WHOLE_DECODE_BUDGET:
        scale *= 2
    if scale > 1:
        # Pillow picks the largest of 1/8..1/1 that still yields at least this size: exactly ``scale``.
        source.draft(None, (source.width // scale, source.height // scale))


def cropper(image: Image.Image) -> Callable[[int, int, int, int], Image.Image]:
    def read(left: int, top: int, right: int, bottom: int) -> Image.Image:
        return image.crop((left, top, right, bottom))

    return read


def shrink(plan: Plan, read: Callable[[int, int, int, int], Image.Image], row_bytes: int) -> Image.Image:
    """The plan's region, reduced a band at a time into one small copy (``plan.box`` locates the crop in it).

    ``row_bytes`` is what ``read`` decodes per row, when that is more than the region's columns take. Bands
    hold whole blocks of the reduction, so reducing them one by one gives what reducing the whole region at
    once would.
    """
    left, top, right, bottom = plan.region
    fx, fy = plan.factor
    rows = max(fy, BAND_BYTES // max(row_bytes, 4 * (right - left)) // fy * fy)
    canvas: Image.Image | None = None
    for y in range(top, bottom, rows):
        band = _resample_ready(read(left, y, right, min(y + rows, bottom)))
        if (fx, fy) != (1, 1):
            band = band.reduce((fx, fy))
        if canvas is None:
            canvas = Image.new(band.mode, (-(-(right - left) // fx), -(-(bottom - top) // fy)))
        canvas.paste(band, (0, (y - top) // fy))
        del band
    assert canvas is not None  # the region is never empty
    return canvas


def _resample_ready(band: Image.Image) -> Image.Image:
    """A mode that resamples correctly: 8-bit channels, palettes expanded, alpha premultiplied.

    Resampling premultiplied alpha and flattening afterwards gives what flattening first would (both are
    linear), and it keeps transparent pixels' colours from bleeding into their neighbours.
    """
    if band.mode in _SIXTEEN_BIT:
        # 16-bit greyscale: scale down instead of letting convert() clip everything above 255.
        band = band.convert("I").point(lambda v: v / 257).convert("L")
    elif band.mode in ("F", "1"):
        band = band.convert("L")
    if band.mode in ("P", "PA") or (band.mode in ("L", "RGB") and "transparency" in band.info):
        band = band.convert("RGBA")  # palette and colour-key transparency become a real alpha channel
    if band.mode == "RGBA":
        return band.convert("RGBa")
    if band.mode == "LA":
        return band.convert("La")
    return band
