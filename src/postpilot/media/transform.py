"""The one definition of the Instagram transform: exact target size, sRGB JPEG, no metadata, at most 8 MiB.

Cloudinary applies it on upload (``instagram_transformation``); the local store applies it with Pillow
(``to_instagram_jpeg``). Both produce the ``TARGET_SIZES`` of the post's aspect, filled and cropped, so a
carousel keeps one aspect and Instagram never has to crop or reject anything.

The steps live beside this module: opening untrusted bytes and refusing what is too large (``decoding.py``),
the crop and reduction (``fill.py``), the colour work and the JPEG (``encoding.py``).

Memory: one transform stays under ``PEAK_BYTES`` (``memory_budget.py``) whatever it is given
(``bench/transform_memory.py`` measures the worst case of every accepted format), and at most
``TRANSFORMS_AT_ONCE`` run at a time, so the prepare workers cannot multiply it. An 80-megapixel source is
never held whole at full resolution where Pillow lets us avoid it. A JPEG is decoded at 1/2, 1/4 or 1/8
scale straight from its DCT. A PNG (unless interlaced) is decoded a band of rows at a time, and each band is
reduced as it arrives. Colour work (ICC profile, flattening onto white) and the EXIF rotation happen once the
image is the target size. Pillow can only decode the other formats whole; an image whose decoding alone would
not fit is refused with its size. For WebP that is above about 5.5 megapixels: libwebp and Pillow hold the
frame four times over.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from postpilot.domain.errors import BadMedia
from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.media.decoding import open_image, too_large, whole_decode_bytes
from postpilot.media.encoding import already_prepared, encode_jpeg, to_srgb
from postpilot.media.fill import Plan, cropper, draft_jpeg, plan_fill, shrink, stored_size, turn, working_bytes
from postpilot.media.memory_budget import BUFFER_BUDGET, CANVAS_BYTES
from postpilot.media.png_bands import PngBands, exif_orientation

# The prepare pool has POSTPILOT_GENERATION_WORKERS threads (up to 64), and each could be transforming. Two
# at once keep the images' memory under 2 × PEAK_BYTES. On a two-core machine a third would only wait for CPU.
TRANSFORMS_AT_ONCE = 2
_in_flight = threading.BoundedSemaphore(TRANSFORMS_AT_ONCE)


@dataclass(frozen=True, slots=True)
class PreparedImage:
    data: bytes  # the JPEG, exactly as Instagram will receive it
    width: int
    height: int
    bytes: int
    checksum: str  # sha256 hex of ``data``


def instagram_transformation(aspect: Aspect) -> list[dict[str, object]]:
    """The Cloudinary incoming transformation equivalent to ``to_instagram_jpeg`` (use with format="jpg")."""
    width, height = TARGET_SIZES[aspect]
    return [{"crop": "fill", "gravity": "auto", "width": width, "height": height}]


def identify(data: bytes, *, what: str = "the file") -> tuple[str, int, int]:
    """The real format and declared size of ``data``, read from its header only (nothing is decoded).

    Raises ``BadMedia`` for anything that is not an accepted image or is too large to process.
    """
    with open_image(data, what) as image:
        return str(image.format), image.width, image.height


def to_instagram_jpeg(data: bytes, aspect: Aspect, *, what: str = "the file") -> PreparedImage:
    """Decode, orient, convert to sRGB, fill-crop to the target size and encode a metadata-free JPEG.

    ``what`` names the input in error messages (e.g. "the file at https://…"). Blocks while
    ``TRANSFORMS_AT_ONCE`` other transforms are running.
    """
    width, height = TARGET_SIZES[aspect]
    with _in_flight:
        reduced = _reduce(data, (width, height), what)
        if isinstance(reduced, PreparedImage):
            return reduced
        # The source is closed by now: the final resampling and the colour work see only the reduced copy.
        try:
            fitted = reduced.canvas.resize(reduced.plan.size, Image.Resampling.LANCZOS, box=reduced.plan.box)
            del reduced.canvas  # before the colour work makes its copies
            image = to_srgb(turn(fitted, reduced.orientation), reduced.icc)
        except (OSError, ValueError) as exc:
            raise BadMedia(f"{what} uses a colour format postpilot cannot convert ({reduced.mode})") from exc
        # A fresh image carries no info dict: no EXIF, ICC, XMP or comments reach the output.
        clean = Image.frombytes("RGB", image.size, image.tobytes())
        return _prepared(encode_jpeg(clean, what), width, height)


@dataclass(slots=True)
class _Reduced:
    """The source's crop reduced by whole factors, and what the rest of the transform needs to know of it."""

    canvas: Image.Image
    plan: Plan
    orientation: int
    icc: bytes | None
    mode: str  # the source's, for messages


def _reduce(data: bytes, size: tuple[int, int], what: str) -> _Reduced | PreparedImage:
    """Decode ``data`` as little as its format allows and reduce its crop, or find it already prepared."""
    with open_image(data, what) as source:
        icc = source.info.get("icc_profile")
        bands = PngBands.of(source, data, what)
        if bands is not None:
            orientation = bands.orientation()
            read: Callable[[int, int, int, int], Image.Image] = bands.read
            held, row_bytes = 0, bands.row_bytes
        else:
            jpeg = source.format in ("JPEG", "MPO")
            orientation = exif_orientation(source) if jpeg else 1
            if jpeg:
                draft_jpeg(source, stored_size(size, orientation))
            try:
                source.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise too_large(what, source.size) from exc
            except (OSError, ValueError, SyntaxError) as exc:
                raise BadMedia(f"{what} could not be read: it is damaged or incomplete") from exc
            if already_prepared(source, len(data), *size):
                # Re-encoding would only lose quality: this makes the transform idempotent.
                return _prepared(data, *size)
            if not jpeg:
                orientation = exif_orientation(source)
            read = cropper(source)
            held, row_bytes = whole_decode_bytes(source, len(data)), 0
        canvas_bytes = min(CANVAS_BYTES, BUFFER_BUDGET - held)
        plan = plan_fill(
            source.size, stored_size(size, orientation), canvas_bytes=canvas_bytes, pixel_bytes=working_bytes(source)
        )
        try:
            canvas = shrink(plan, read, row_bytes)
        except (OSError, ValueError) as exc:
            raise BadMedia(f"{what} uses a colour format postpilot cannot convert ({source.mode})") from exc
        return _Reduced(canvas=canvas, plan=plan, orientation=orientation, icc=icc, mode=source.mode)


def _prepared(data: bytes, width: int, height: int) -> PreparedImage:
    return PreparedImage(
        data=data, width=width, height=height, bytes=len(data), checksum=hashlib.sha256(data).hexdigest()
    )
