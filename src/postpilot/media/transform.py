"""The one definition of the Instagram transform: exact target size, sRGB JPEG, no metadata, at most 8 MiB.

Cloudinary applies it on upload (``instagram_transformation``); the local store applies it with Pillow
(``to_instagram_jpeg``). Both produce the ``TARGET_SIZES`` of the post's aspect, filled and cropped, so a
carousel keeps one aspect and Instagram never has to crop or reject anything.

Untrusted bytes are only ever opened as one of ``ACCEPTED_FORMATS`` (Pillow can also open formats that run
external programs, such as EPS) and never decoded beyond ``MAX_PIXELS``.

Memory: one transform stays under ``PEAK_BYTES`` whatever it is given (``bench/transform_memory.py`` measures
the worst case of every accepted format), and at most ``TRANSFORMS_AT_ONCE`` run at a time, so the prepare
workers cannot multiply it. An 80-megapixel source is never held whole at full resolution where Pillow lets us
avoid it. A JPEG is decoded at 1/2, 1/4 or 1/8 scale straight from its DCT. A PNG (unless interlaced) is
decoded a band of rows at a time, and each band is reduced as it arrives. Colour work (ICC profile, flattening
onto white) and the EXIF rotation happen once the image is the target size. Pillow can only decode the other
formats whole; an image whose decoding alone would not fit is refused with its size. For WebP that is above
about 5.5 megapixels: libwebp and Pillow hold the frame four times over.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from postpilot.domain.errors import BadMedia
from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.media.png_bands import BAND_BYTES, PngBands, exif_orientation

# Formats we open. Instagram only takes JPEG, but a marketer's PNG/WebP/GIF is converted without fuss.
# (Pillow's JPEG opener also reads MPO, the multi-picture JPEG some cameras write.)
_OPEN_AS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
ACCEPTED_FORMATS = frozenset({*_OPEN_AS, "MPO"})
ACCEPTED_NAMES = "JPEG, PNG, WebP, GIF, BMP or TIFF"

# 80 megapixels: every phone's default mode and most cameras fit. It is below Pillow's own warning threshold
# (~89 MP), so our check, with a clear message, speaks first.
MAX_PIXELS = 80_000_000
MAX_JPEG_BYTES = 8 * 1024 * 1024  # Instagram's limit for a feed image

# The most one transform may add to the process's memory, its input aside (the caller holds that already).
PEAK_BYTES = 150 * 2**20
# The prepare pool has POSTPILOT_GENERATION_WORKERS threads (up to 64), and each could be transforming. Two
# at once keep the images' memory under 2 × PEAK_BYTES. On a two-core machine a third would only wait for CPU.
TRANSFORMS_AT_ONCE = 2
_in_flight = threading.BoundedSemaphore(TRANSFORMS_AT_ONCE)

# The two large buffers of PEAK_BYTES: the source where it must be held whole, and the reduced copy of its
# crop. The rest is for one band of rows, the target-size copies of the colour work and the JPEG encoder.
_BUFFER_BUDGET = 112 * 2**20
# What a source decoded whole may take; the reduced copy beside it gets the rest of _BUFFER_BUDGET, 16 MB or
# more (or, if even the strongest reduction needs more, up to 4× the target's pixels: 23 MB for a portrait).
_WHOLE_DECODE_BUDGET = 96 * 2**20
# The reduced copy never takes more than this, even beside nothing: the LANCZOS pass over it makes a copy of
# its own that is a fifth of the size or more.
_CANVAS_BYTES = 64 * 2**20
# The integer reduction stops this many times above the target, so the final LANCZOS pass still looks like a
# fair resampling (Pillow's reducing_gap). When the reduced copy would not fit its budget, the reduction goes
# further (the gap shrinks), never below the target's size. Within 64 MB that only happens above 3.4× a
# portrait target, so the gap stays over 1.7. It can get close to 1 beside a source held whole, and only there.
_REDUCING_GAP = 3.0

_QUALITIES = (90, 85, 80, 75, 70, 60, 50, 40)
_WHITE = (255, 255, 255)
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
_ONE_BYTE_MODES = ("1", "L", "P")


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
    with _open(data, what) as image:
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
            image = _to_srgb(_turn(fitted, reduced.orientation), reduced.icc)
        except (OSError, ValueError) as exc:
            raise BadMedia(f"{what} uses a colour format postpilot cannot convert ({reduced.mode})") from exc
        # A fresh image carries no info dict: no EXIF, ICC, XMP or comments reach the output.
        clean = Image.frombytes("RGB", image.size, image.tobytes())
        return _prepared(_encode(clean, what), width, height)


@dataclass(slots=True)
class _Reduced:
    """The source's crop reduced by whole factors, and what the rest of the transform needs to know of it."""

    canvas: Image.Image
    plan: _Plan
    orientation: int
    icc: bytes | None
    mode: str  # the source's, for messages


def _reduce(data: bytes, size: tuple[int, int], what: str) -> _Reduced | PreparedImage:
    """Decode ``data`` as little as its format allows and reduce its crop, or find it already prepared."""
    with _open(data, what) as source:
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
                _draft(source, _stored(size, orientation))
            try:
                source.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise _too_large(what, source.size) from exc
            except (OSError, ValueError, SyntaxError) as exc:
                raise BadMedia(f"{what} could not be read: it is damaged or incomplete") from exc
            if _already_prepared(source, len(data), *size):
                # Re-encoding would only lose quality: this makes the transform idempotent.
                return _prepared(data, *size)
            if not jpeg:
                orientation = exif_orientation(source)
            read = _cropper(source)
            held, row_bytes = _whole_decode_bytes(source, len(data)), 0
        canvas_bytes = min(_CANVAS_BYTES, _BUFFER_BUDGET - held)
        plan = _plan(
            source.size, _stored(size, orientation), canvas_bytes=canvas_bytes, pixel_bytes=_working_bytes(source)
        )
        try:
            canvas = _shrink(plan, read, row_bytes)
        except (OSError, ValueError) as exc:
            raise BadMedia(f"{what} uses a colour format postpilot cannot convert ({source.mode})") from exc
        return _Reduced(canvas=canvas, plan=plan, orientation=orientation, icc=icc, mode=source.mode)


def _prepared(data: bytes, width: int, height: int) -> PreparedImage:
    return PreparedImage(
        data=data, width=width, height=height, bytes=len(data), checksum=hashlib.sha256(data).hexdigest()
    )


def _already_prepared(image: Image.Image, size: int, width: int, height: int) -> bool:
    """A plain RGB JPEG of exactly the target size whose only extra segment is the JFIF header."""
    applist = getattr(image, "applist", None)
    return (
        image.format == "JPEG"
        and image.mode == "RGB"
        and image.size == (width, height)
        and size <= MAX_JPEG_BYTES
        and isinstance(applist, list)
        and all(marker == "APP0" and payload.startswith(b"JFIF\0") for marker, payload in applist)
    )


def _open(data: bytes, what: str) -> ImageFile.ImageFile:
    webp = _webp_size(data)
    if webp is not None:
        # Pillow's WebP opener copies the file and sets libwebp's decoder up before we see the size.
        _check_size(what, webp, "WEBP", "", "", len(data))
    try:
        image = Image.open(io.BytesIO(data), formats=_OPEN_AS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refused before we could look at the size: read the header again, for the message only.
        raise _too_large(what, _declared_size(data)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadMedia(f"{what} is not an image Instagram accepts ({ACCEPTED_NAMES})") from exc
    try:
        codec = image.tile[0].codec_name if image.tile else ""
        if _decoded_whole(image, data):
            _check_size(what, image.size, str(image.format), image.mode, codec, len(data))
        elif image.width * image.height > MAX_PIXELS:
            raise _too_large(what, image.size)
    except BadMedia:
        image.close()
        raise
    return image


def _check_size(what: str, size: tuple[int, int], fmt: str, mode: str, codec: str, file_bytes: int) -> None:
    """Refuse more than ``MAX_PIXELS``, and a source decoded whole whose decoding would not fit its budget."""
    if size[0] * size[1] > MAX_PIXELS:
        raise _too_large(what, size)
    per_pixel, fixed = _whole_decode_cost(fmt, mode, codec, file_bytes)
    if size[0] * size[1] * per_pixel + fixed > _WHOLE_DECODE_BUDGET:
        most = max(0.0, (_WHOLE_DECODE_BUDGET - fixed) / per_pixel)
        kind = _WHOLE_KINDS.get(fmt, "an image of this kind")
        raise BadMedia(
            f"{what} is too large to process ({size[0]}×{size[1]} pixels); {kind} is decoded whole, so the most "
            f"postpilot handles is {most / 1_000_000:.1f} megapixels: please use a smaller version, or save it as "
            "JPEG or PNG"
        )


def _too_large(what: str, size: tuple[int, int] | None) -> BadMedia:
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


def _pixel_bytes(mode: str) -> int:
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
    per_pixel = 1.1 * _pixel_bytes(mode)
    if codec == "bmp_rle":
        per_pixel *= 3  # Pillow's RLE decoder builds the pixels in a bytearray, then copies them twice
    # Pillow hands libtiff (every compressed TIFF) a copy of the whole file.
    return per_pixel, file_bytes if codec == "libtiff" else 0


def _whole_decode_bytes(image: ImageFile.ImageFile, file_bytes: int) -> int:
    codec = image.tile[0].codec_name if image.tile else ""
    per_pixel, fixed = _whole_decode_cost(str(image.format), image.mode, codec, file_bytes)
    return int(image.width * image.height * per_pixel) + fixed


def _working_bytes(image: Image.Image) -> int:
    """Bytes per pixel of the reduced copy: one for greyscale without transparency, else four."""
    grey = image.mode in ("1", "L", "F", *_SIXTEEN_BIT)
    return 1 if grey and "transparency" not in image.info else 4


# --- orientation ---------------------------------------------------------------------------------------------


def _stored(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The target as the stored pixels see it: rotating by a quarter turn swaps its sides."""
    return (size[1], size[0]) if orientation in _QUARTER_TURNS else size


def _turn(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


# --- the fill: plan, decode, shrink ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
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


def _plan(source: tuple[int, int], size: tuple[int, int], *, canvas_bytes: int, pixel_bytes: int) -> _Plan:
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
    return _Plan(region=region, factor=(fx, fy), box=box, size=size)


def _draft(source: Image.Image, size: tuple[int, int]) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the crop still covers ``size`` (stored orientation)."""
    left, top, right, bottom = _crop_box(source.size, size)
    scale = next((s for s in (8, 4, 2) if (right - left) / s >= size[0] and (bottom - top) / s >= size[1]), 1)
    # A long panorama's crop needs a full-resolution strip, and all of it would be decoded (320 MB at 80 MP).
    # Half scale always fits: the crop then comes out up to half the target and is enlarged to it.
    per_pixel = _pixel_bytes(source.mode)
    while scale < 8 and -(-source.width // scale) * -(-source.height // scale) * per_pixel > _WHOLE_DECODE_BUDGET:
        scale *= 2
    if scale > 1:
        # Pillow picks the largest of 1/8..1/1 that still yields at least this size: exactly ``scale``.
        source.draft(None, (source.width // scale, source.height // scale))


def _cropper(image: Image.Image) -> Callable[[int, int, int, int], Image.Image]:
    def read(left: int, top: int, right: int, bottom: int) -> Image.Image:
        return image.crop((left, top, right, bottom))

    return read


def _shrink(plan: _Plan, read: Callable[[int, int, int, int], Image.Image], row_bytes: int) -> Image.Image:
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


# --- colour ----------------------------------------------------------------------------------------------------


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Plain 8-bit RGB in sRGB, transparency flattened onto white (Instagram has no alpha)."""
    if image.mode == "RGBa":
        image = image.convert("RGBA")
    elif image.mode == "La":
        image = image.convert("LA")
    if icc:
        image = _apply_profile(image, icc)
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def _apply_profile(image: Image.Image, icc: bytes) -> Image.Image:
    """Convert from the embedded ICC profile to sRGB; an unusable profile is ignored, not fatal."""
    keep_alpha = image.mode in ("RGBA", "LA")
    if image.mode == "LA":
        image = image.convert("RGBA")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image,
            source,
            ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGBA" if keep_alpha else "RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken or mismatched profile (e.g. a grey profile on an RGB image): use the pixels as they are.
        return image
    return converted if converted is not None else image


def _encode(image: Image.Image, what: str) -> bytes:
    for quality in _QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True)
        if buffer.tell() <= MAX_JPEG_BYTES:
            return buffer.getvalue()
    raise BadMedia(f"{what} cannot be compressed under Instagram's 8 MB limit")
