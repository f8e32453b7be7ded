"""Opening untrusted image bytes: which formats, how many pixels, and what decoding them whole would cost.

Untrusted bytes are only ever opened as one of ``ACCEPTED_FORMATS`` (Pillow can also open formats that run
external programs, such as EPS) and never decoded beyond ``MAX_PIXELS``. A source Pillow can only decode whole
is refused, with its size, when its decoding alone would not fit ``WHOLE_DECODE_BUDGET``; JPEG (decoded at a
reduced scale) and non-interlaced PNG (decoded in bands, ``png_bands.py``) are not decoded whole.
"""

from __future__ import annotations

import io

from PIL import Image, ImageFile, UnidentifiedImageError

from postpilot.domain.errors import BadMedia
from postpilot.media.memory_budget import WHOLE_DECODE_BUDGET
from postpilot.media.png_bands import PngBands

# Formats we open. Instagram only takes JPEG, but a marketer's PNG/WebP/GIF is converted without fuss.
# (Pillow's JPEG opener also reads MPO, the multi-picture JPEG some cameras write.)
_OPEN_AS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
ACCEPTED_FORMATS = frozenset({*_OPEN_AS, "MPO"})
ACCEPTED_NAMES = "JPEG, PNG, WebP, GIF, BMP or TIFF"

# 80 megapixels: every phone's default mode and most cameras fit. It is below Pillow's own warning threshold
# (~89 MP), so our check, with a clear message, speaks first.
MAX_PIXELS = 80_000_000
_ONE_BYTE_MODES = ("1", "L", "P")


def open_image(data: bytes, what: str) -> ImageFile.ImageFile:
    """``data`` opened, its header read and nothing decoded; ``BadMedia`` unless it is an accepted image small
    enough to process. The caller closes it."""
    webp = _webp_size(data)
    if webp is not None:
        # Pillow's WebP opener copies the file and sets libwebp's decoder up before we see the size.
        _check_size(what, webp, "WEBP", "", "", len(data))
    try:
        image = Image.open(io.BytesIO(data), formats=_OPEN_AS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refused before we could look at the size: read the header again, for the message only.
        raise too_large(what, _declared_size(data)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadMedia(f"{what} is not an image Instagram accepts ({ACCEPTED_NAMES})") from exc
    try:
        codec = image.tile[0].codec_name if image.tile else ""
        if _decoded_whole(image, data):
            _check_size(what, image.size, str(image.format), image.mode, codec, len(data))
        elif image.width * image.height > MAX_PIXELS:
            raise too_large(what, image.size)
    except BadMedia:
        image.close()
        raise
    return image


def _check_size(what: str, size: tuple[int, int], fmt: str, mode: str, codec: str, file_bytes: int) -> None:
    """Refuse more than ``MAX_PIXELS``, and a source decoded whole whose decoding would not fit its budget."""
    if size[0] * size[1] > MAX_PIXELS:
        raise too_large(what, size)
    per_pixel, fixed = _whole_decode_cost(fmt, mode, codec, file_bytes)
    if size[0] * size[1] * per_pixel + fixed > WHOLE_DECODE_BUDGET:
        most = max(0.0, (WHOLE_DECODE_BUDGET - fixed) / per_pixel)
        kind = _WHOLE_KINDS.get(fmt, "an image of this kind")
        raise BadMedia(
            f"{what} is too large to process ({size[0]}×{size[1]} pixels); {kind} is decoded whole, so the most "
            f"postpilot handles is {most / 1_000_000:.1f} megapixels: please use a smaller version, or save it as "
            "JPEG or PNG"
        )


def too_large(what: str, size: tuple[int, int] | None) -> BadMedia:
    dims = f"{size[0]}×{size[1]} pixels" if size else "too many pixels"
    return BadMedia(
        f"{what} is too large to process ({dims}); the most postpilot handles is "
        f"{MAX_PIXELS // 1_000_000} megapixels, so please use a smaller version"
    )


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Best effort: the size an accepted format's header declares, bypassing Pillow's bomb check."""
    Image.init()
    for name in _OPEN_AS:
        if name not in Image.OPEN:
            continue
        factory, accept = Image.OPEN[name]
        try:
            if accept is not None and accept(data[:16]) is not True:
                continue
            with factory(io.BytesIO(data), "") as image:
                return image.size
        except Exception:  # noqa: S112 - any failure just means "not this format"
            continue
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas a WebP declares in its first chunk (extended, lossless or lossy), or None."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kind = data[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + (bits >> 14 & 0x3FFF)
    if kind == b"VP8 ":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None


# --- what decoding costs -----------------------------------------------------------------------------------

_WHOLE_KINDS = {
    "PNG": "an interlaced PNG",
    "WEBP": "a WebP image",
    "TIFF": "a TIFF image",
    "GIF": "a GIF",
    "BMP": "a BMP image",
}


def bytes_per_pixel(mode: str) -> int:
    """What Pillow stores per pixel (RGB takes four bytes, like RGBA)."""
    if mode in _ONE_BYTE_MODES:
        return 1
    return 2 if mode.startswith("I;16") else 4


def _decoded_whole(image: ImageFile.ImageFile, data: bytes) -> bool:
    """Whether Pillow must hold this source at full resolution: everything but JPEG (decoded at a reduced
    scale) and the PNGs that ``PngBands`` reads in bands."""
    if image.format in ("JPEG", "MPO"):
        return False
    return not (image.format == "PNG" and PngBands.layout(image, data) is not None)


def _whole_decode_cost(fmt: str, mode: str, codec: str, file_bytes: int) -> tuple[float, int]:
    """Bytes per pixel and fixed bytes at the peak of decoding a source whole, as measured for Pillow 13."""
    if fmt == "WEBP":
        # libwebp's canvas and its copy of the previous frame, the frame handed over as bytes, Pillow's image;
        # and the opener's copy of the file.
        return 18.0, file_bytes
    per_pixel = 1.1 * bytes_per_pixel(mode)
    if codec == "bmp_rle":
        per_pixel *= 3  # Pillow's RLE decoder builds the pixels in a bytearray, then copies them twice
    # Pillow hands libtiff (every compressed TIFF) a copy of the whole file.
    return per_pixel, file_bytes if codec == "libtiff" else 0


def whole_decode_bytes(image: ImageFile.ImageFile, file_bytes: int) -> int:
    codec = image.tile[0].codec_name if image.tile else ""
    per_pixel, fixed = _whole_decode_cost(str(image.format), image.mode, codec, file_bytes)
    return int(image.width * image.height * per_pixel) + fixed
