"""The Instagram transform: exact sizes, sRGB, no metadata, ≤ 8 MiB, and clear words for bad input."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib

import pytest
from PIL import Image, ImageCms

from postpilot.domain.errors import BadMedia
from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.media import transform
from postpilot.media.transform import (
    MAX_JPEG_BYTES,
    identify,
    instagram_transformation,
    to_instagram_jpeg,
)

# sRGB's primaries adapted to D50, as an ICC profile stores them.
SRGB_RED = (0.4361, 0.2225, 0.0139)
SRGB_GREEN = (0.3851, 0.7169, 0.0971)
SRGB_BLUE = (0.1431, 0.0606, 0.7141)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(actual: object, expected: tuple[int, ...], tolerance: int = 12) -> bool:
    assert isinstance(actual, tuple), actual
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header claims width×height (1-bit grey); only a few rows of data follow."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * ((width + 7) // 8 + 1) * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def rgb_profile(red: tuple[float, ...], green: tuple[float, ...], blue: tuple[float, ...]) -> bytes:
    """A minimal ICC v2 matrix/TRC RGB display profile with the given primaries and gamma 2.2."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values: tuple[float, ...]) -> bytes:
        return b"XYZ " + b"\0" * 4 + b"".join(s15(v) for v in values)

    name = b"swapped primaries\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(name)) + name + b"\0" * 8 + b"\0" * 70
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    white = (0.9642, 1.0, 0.8249)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(white)),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", offset + len(data))
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + b"".join(s15(v) for v in white)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


# --- the one definition --------------------------------------------------------------------------------


@pytest.mark.parametrize("aspect", list(Aspect))
def test_cloudinary_transformation_matches_the_target_size(aspect: Aspect) -> None:
    width, height = TARGET_SIZES[aspect]
    assert instagram_transformation(aspect) == [{"crop": "fill", "gravity": "auto", "width": width, "height": height}]


@pytest.mark.parametrize("aspect", list(Aspect))
@pytest.mark.parametrize("source", [(1600, 900), (900, 1600), (500, 500), (200, 60), (4000, 3000)])
def test_output_is_exactly_the_target_size(aspect: Aspect, source: tuple[int, int]) -> None:
    data = encode(Image.new("RGB", source, (30, 120, 200)), "PNG")
    prepared = to_instagram_jpeg(data, aspect)
    image = decode(prepared.data)
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.size == TARGET_SIZES[aspect] == (prepared.width, prepared.height)
    assert prepared.bytes == len(prepared.data)
    assert prepared.checksum == hashlib.sha256(prepared.data).hexdigest()


def test_same_input_gives_the_same_bytes() -> None:
    data = encode(Image.linear_gradient("L").convert("RGB").resize((800, 600)), "JPEG")
    assert to_instagram_jpeg(data, Aspect.SQUARE) == to_instagram_jpeg(data, Aspect.SQUARE)


def test_the_transform_is_idempotent() -> None:
    # An Instagram-ready JPEG passes unchanged: no second round of compression, same checksum.
    once = to_instagram_jpeg(encode(Image.new("RGB", (900, 700), (20, 80, 160)), "PNG"), Aspect.SQUARE)
    assert to_instagram_jpeg(once.data, Aspect.SQUARE) == once
    # ...but not into another aspect.
    assert decode(to_instagram_jpeg(once.data, Aspect.PORTRAIT).data).size == (1080, 1350)


def test_a_target_size_jpeg_with_metadata_is_still_cleaned() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    data = encode(Image.new("RGB", (1080, 1080), (90, 90, 90)), "JPEG", exif=exif.tobytes(), comment=b"note")
    prepared = to_instagram_jpeg(data, Aspect.SQUARE)
    assert prepared.data != data
    assert b"SecretCam" not in prepared.data and b"note" not in prepared.data


def test_fill_crops_the_centre() -> None:
    # Red | green | blue thirds of a wide image: a square crop keeps the green middle only.
    image = Image.new("RGB", (3000, 1000), (255, 0, 0))
    image.paste((0, 255, 0), (1000, 0, 2000, 1000))
    image.paste((0, 0, 255), (2000, 0, 3000, 1000))
    out = decode(to_instagram_jpeg(encode(image, "PNG"), Aspect.SQUARE).data)
    for x in (5, 540, 1074):
        assert close_to(out.getpixel((x, 540)), (0, 255, 0))


def test_a_noisy_huge_photo_stays_under_8_mib() -> None:
    noise = Image.frombytes("RGB", (4000, 3000), os.urandom(4000 * 3000 * 3))
    data = encode(noise, "BMP")  # 36 MB of incompressible pixels
    prepared = to_instagram_jpeg(data, Aspect.PORTRAIT)
    assert prepared.bytes <= MAX_JPEG_BYTES
    assert decode(prepared.data).size == (1080, 1350)


def test_quality_steps_down_until_the_jpeg_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    noise = encode(Image.frombytes("RGB", (1080, 1080), os.urandom(1080 * 1080 * 3)), "PNG", compress_level=1)
    full = to_instagram_jpeg(noise, Aspect.SQUARE)
    monkeypatch.setattr(transform, "MAX_JPEG_BYTES", full.bytes // 2)
    smaller = to_instagram_jpeg(noise, Aspect.SQUARE)
    assert smaller.bytes <= full.bytes // 2
    monkeypatch.setattr(transform, "MAX_JPEG_BYTES", 1000)
    with pytest.raises(BadMedia) as caught:
        to_instagram_jpeg(noise, Aspect.SQUARE)
    assert str(caught.value) == "the file cannot be compressed under Instagram's 8 MB limit"


def test_large_jpegs_are_decoded_at_reduced_scale_and_still_fill() -> None:
    photo = Image.new("RGB", (6000, 4000), (200, 40, 40))
    prepared = to_instagram_jpeg(encode(photo, "JPEG", quality=80), Aspect.PORTRAIT)
    out = decode(prepared.data)
    assert out.size == (1080, 1350)
    assert close_to(out.getpixel((540, 675)), (200, 40, 40))


# --- colour ----------------------------------------------------------------------------------------------


def test_cmyk_is_converted_to_rgb() -> None:
    cmyk = Image.new("CMYK", (400, 400), (0, 255, 255, 0))  # full magenta + yellow = red
    out = decode(to_instagram_jpeg(encode(cmyk, "JPEG"), Aspect.SQUARE).data)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((540, 540)), (255, 0, 0), tolerance=20)


def test_transparency_is_flattened_onto_white() -> None:
    rgba = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (100, 100, 300, 300))
    out = decode(to_instagram_jpeg(encode(rgba, "PNG"), Aspect.SQUARE).data)
    assert close_to(out.getpixel((20, 20)), (255, 255, 255))
    assert close_to(out.getpixel((540, 540)), (0, 0, 255))


def test_palette_image_with_a_transparent_index() -> None:
    palette = Image.new("P", (300, 300), 0)
    palette.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    palette.paste(1, (100, 100, 200, 200))
    data = encode(palette, "GIF", transparency=0)
    out = decode(to_instagram_jpeg(data, Aspect.SQUARE).data)
    assert close_to(out.getpixel((10, 10)), (255, 255, 255))
    assert close_to(out.getpixel((540, 540)), (200, 30, 30))


def test_grey_with_alpha_and_16_bit_grey() -> None:
    la = Image.new("LA", (100, 100), (0, 0))
    assert close_to(decode(to_instagram_jpeg(encode(la, "PNG"), Aspect.SQUARE).data).getpixel((5, 5)), (255,) * 3)
    deep = Image.new("I;16", (100, 100), 40000)  # 61% grey in 16 bits, not "everything above 255"
    out = decode(to_instagram_jpeg(encode(deep, "PNG"), Aspect.SQUARE).data)
    assert close_to(out.getpixel((5, 5)), (155, 155, 155), tolerance=3)


def test_an_embedded_icc_profile_is_converted_to_srgb() -> None:
    # This profile says the first channel is sRGB's *green*: pure "red" pixels must come out green.
    swapped = rgb_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE)
    image = Image.new("RGB", (300, 300), (255, 0, 0))
    out = decode(to_instagram_jpeg(encode(image, "PNG", icc_profile=swapped), Aspect.SQUARE).data)
    assert close_to(out.getpixel((540, 540)), (0, 255, 0))
    assert "icc_profile" not in out.info


def test_an_srgb_profile_changes_nothing_and_is_not_carried_over() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.new("RGB", (300, 300), (180, 90, 30))
    out = decode(to_instagram_jpeg(encode(image, "JPEG", icc_profile=srgb), Aspect.SQUARE).data)
    assert close_to(out.getpixel((540, 540)), (180, 90, 30), tolerance=4)
    assert "icc_profile" not in out.info


def test_a_broken_profile_is_ignored() -> None:
    image = Image.new("RGB", (300, 300), (10, 200, 10))
    out = decode(to_instagram_jpeg(encode(image, "PNG", icc_profile=b"not a profile"), Aspect.SQUARE).data)
    assert close_to(out.getpixel((540, 540)), (10, 200, 10))


# --- metadata and orientation ------------------------------------------------------------------------------


def test_exif_and_other_metadata_are_removed() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude
    image = Image.new("RGB", (640, 480), (90, 90, 90))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(image, "JPEG", exif=exif.tobytes(), icc_profile=srgb, comment=b"hello")
    prepared = to_instagram_jpeg(data, Aspect.SQUARE)
    out = decode(prepared.data)
    assert "exif" not in out.info and "icc_profile" not in out.info and "comment" not in out.info
    assert not out.getexif()
    assert b"Exif" not in prepared.data and b"SecretCam" not in prepared.data
    assert b"ICC_PROFILE" not in prepared.data and b"hello" not in prepared.data


def test_exif_orientation_is_applied() -> None:
    # Stored 600×300: red left half, blue right half. Orientation 6 means "rotate 90° clockwise to view",
    # so the viewer sees a 300×600 picture with red on top.
    stored = Image.new("RGB", (600, 300), (255, 0, 0))
    stored.paste((0, 0, 255), (300, 0, 600, 300))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode(to_instagram_jpeg(encode(stored, "JPEG", exif=exif.tobytes()), Aspect.PORTRAIT).data)
    assert close_to(out.getpixel((540, 40)), (255, 0, 0), tolerance=20)
    assert close_to(out.getpixel((540, 1310)), (0, 0, 255), tolerance=20)


# --- formats and bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_accepted_formats(fmt: str) -> None:
    data = encode(Image.new("RGB", (320, 200), (10, 100, 200)), fmt)
    assert identify(data) == (fmt, 320, 200)
    assert decode(to_instagram_jpeg(data, Aspect.LANDSCAPE).data).size == (1080, 566)


def test_not_an_image() -> None:
    with pytest.raises(BadMedia) as caught:
        to_instagram_jpeg(b"<html><body>Not found</body></html>", Aspect.SQUARE)
    assert str(caught.value) == ("the file is not an image Instagram accepts (JPEG, PNG, WebP, GIF, BMP or TIFF)")


def test_formats_outside_the_list_are_not_opened() -> None:
    # Pillow could read these, but only the listed formats are ever parsed from untrusted bytes.
    for fmt in ("PPM", "TGA", "ICO"):
        data = encode(Image.new("RGB", (64, 64), (1, 2, 3)), fmt)
        with pytest.raises(BadMedia, match="is not an image Instagram accepts"):
            identify(data, what="the file at https://example.com/x")


def test_a_damaged_file() -> None:
    data = encode(Image.effect_noise((800, 800), 50).convert("RGB"), "JPEG")
    with pytest.raises(BadMedia) as caught:
        to_instagram_jpeg(data[: len(data) // 2], Aspect.SQUARE, what="the file at https://example.com/a.jpg")
    assert str(caught.value) == ("the file at https://example.com/a.jpg could not be read: it is damaged or incomplete")


@pytest.mark.parametrize(
    "size",
    [
        (40000, 40000),  # Pillow itself refuses this one (decompression bomb)
        (10000, 9000),  # Pillow warns; the test run turns the warning into an error
        (9000, 9000),  # only our own cap stops this one
    ],
)
def test_decompression_bombs_are_refused_with_their_size(size: tuple[int, int]) -> None:
    data = png_declaring(*size)
    assert len(data) < 10_000
    expected = (
        f"the file is too large to process ({size[0]}×{size[1]} pixels); "
        "the most postpilot handles is 80 megapixels, so please use a smaller version"
    )
    for call in (lambda: identify(data), lambda: to_instagram_jpeg(data, Aspect.SQUARE)):
        with pytest.raises(BadMedia) as caught:
            call()
        assert str(caught.value) == expected


def test_an_animated_gif_uses_its_first_frame() -> None:
    frames = [Image.new("RGB", (200, 200), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    out = decode(to_instagram_jpeg(buffer.getvalue(), Aspect.SQUARE).data)
    assert close_to(out.getpixel((540, 540)), (250, 0, 0), tolerance=20)
