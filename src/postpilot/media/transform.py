"""The one definition of the Instagram transform: exact target size, sRGB JPEG, no metadata, at most 8 MiB.

Cloudinary applies it on upload (``instagram_transformation``); the local store applies it with Pillow
(``to_instagram_jpeg``). Both produce the ``TARGET_SIZES`` of the post's aspect, filled and cropped, so a
carousel keeps one aspect and Instagram never has to crop or reject anything.

Untrusted bytes are only ever opened as one of ``ACCEPTED_FORMATS`` (Pillow can also open formats that run
external programs, such as EPS) and never decoded beyond ``MAX_PIXELS``.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from postpilot.domain.errors import BadMedia
from postpilot.domain.model import TARGET_SIZES, Aspect

# Formats we open. Instagram only takes JPEG, but a marketer's PNG/WebP/GIF is converted without fuss.
# (Pillow's JPEG opener also reads MPO, the multi-picture JPEG some cameras write.)
_OPEN_AS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
ACCEPTED_FORMATS = frozenset({*_OPEN_AS, "MPO"})
ACCEPTED_NAMES = "JPEG, PNG, WebP, GIF, BMP or TIFF"

# 80 megapixels: every phone's default mode and most cameras fit; decoding stays within a few hundred MB.
# It is below Pillow's own warning threshold (~89 MP), so our check, with a clear message, speaks first.
MAX_PIXELS = 80_000_000
MAX_JPEG_BYTES = 8 * 1024 * 1024  # Instagram's limit for a feed image

_QUALITIES = (90, 85, 80, 75, 70, 60, 50, 40)
_WHITE = (255, 255, 255)


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

    ``what`` names the input in error messages (e.g. "the file at https://…").
    """
    width, height = TARGET_SIZES[aspect]
    with _open(data, what) as source:
        if source.format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is far larger than needed.
            # Requested square so the result still covers the target after an EXIF rotation.
            side = max(width, height)
            source.draft(None, (side, side))
        try:
            source.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_large(what, source.size) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise BadMedia(f"{what} could not be read: it is damaged or incomplete") from exc
        if _already_prepared(source, len(data), width, height):
            # Re-encoding would only lose quality: this makes the transform idempotent.
            return _prepared(data, width, height)
        try:
            image = _to_srgb(_upright(source))
        except (OSError, ValueError) as exc:
            raise BadMedia(f"{what} uses a colour format postpilot cannot convert ({source.mode})") from exc
    fitted = _fill(image, width, height)
    # A fresh image carries no info dict: no EXIF, ICC, XMP or comments reach the output.
    clean = Image.frombytes("RGB", fitted.size, fitted.tobytes())
    return _prepared(_encode(clean, what), width, height)


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


def _open(data: bytes, what: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=_OPEN_AS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refused before we could look at the size: read the header again, for the message only.
        raise _too_large(what, _declared_size(data)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadMedia(f"{what} is not an image Instagram accepts ({ACCEPTED_NAMES})") from exc
    if image.width * image.height > MAX_PIXELS:
        size = image.size
        image.close()
        raise _too_large(what, size)
    return image


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


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation. A malformed EXIF block must not fail the post: use the pixels as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # Pillow's EXIF parser can raise almost anything on corrupt data
        return image.copy()


def _to_srgb(image: Image.Image) -> Image.Image:
    """Plain 8-bit RGB in sRGB, transparency flattened onto white (Instagram has no alpha)."""
    icc = image.info.get("icc_profile")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit greyscale: scale down instead of letting convert() clip everything above 255.
        image = image.convert("I").point(lambda v: v / 257).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode in ("P", "PA") or (image.mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")  # palette and colour-key transparency become a real alpha channel
    if icc:
        image = _apply_profile(image, icc)
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
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


def _fill(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width×height, then crop the centre (what Cloudinary's crop=fill does)."""
    src_w, src_h = image.size
    target_ratio = width / height
    if src_w / src_h > target_ratio:  # too wide: trim the sides
        crop_w, crop_h = src_h * target_ratio, float(src_h)
    else:  # too tall: trim top and bottom
        crop_w, crop_h = float(src_w), src_w / target_ratio
    left = (src_w - crop_w) / 2
    top = (src_h - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return image.resize((width, height), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _encode(image: Image.Image, what: str) -> bytes:
    for quality in _QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True)
        if buffer.tell() <= MAX_JPEG_BYTES:
            return buffer.getvalue()
    raise BadMedia(f"{what} cannot be compressed under Instagram's 8 MB limit")
