"""The output side of the transform: sRGB, transparency flattened onto white, a JPEG under Instagram's limit.

The colour work runs on the target-size image only. ``already_prepared`` recognises a source that is exactly
what ``encode_jpeg`` would produce, so the transform passes it through instead of losing quality to a second
encoding.
"""

from __future__ import annotations

import io

from PIL import Image, ImageCms

from postpilot.domain.errors import BadMedia

MAX_JPEG_BYTES = 8 * 1024 * 1024  # Instagram's limit for a feed image
_QUALITIES = (90, 85, 80, 75, 70, 60, 50, 40)
_WHITE = (255, 255, 255)


def already_prepared(image: Image.Image, size: int, width: int, height: int) -> bool:
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


# --- colour ----------------------------------------------------------------------------------------------------


def to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
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


def encode_jpeg(image: Image.Image, what: str) -> bytes:
    for quality in _QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True)
        if buffer.tell() <= MAX_JPEG_BYTES:
            return buffer.getvalue()
    raise BadMedia(f"{what} cannot be compressed under Instagram's 8 MB limit")
