"""The Instagram transform: exact sizes, sRGB, no metadata, ≤ 8 MiB, and clear words for bad input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from postpilot.domain.errors import BadMedia
from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.media import decoding, encoding, fill, memory_budget, png_bands, transform
from postpilot.media.encoding import MAX_JPEG_BYTES
from postpilot.media.transform import identify, instagram_transformation, to_instagram_jpeg

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
    monkeypatch.setattr(encoding, "MAX_JPEG_BYTES", full.bytes // 2)
    smaller = to_instagram_jpeg(noise, Aspect.SQUARE)
    assert smaller.bytes <= full.bytes // 2
    monkeypatch.setattr(encoding, "MAX_JPEG_BYTES", 1000)
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


# --- memory: reduced decoding, PNG bands, whole-decode budgets, transforms at once -------------------------


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def raw_png(
    width: int,
    height: int,
    depth: int,
    colour: int,
    rows: list[bytes],
    *,
    extra: bytes = b"",
    after: bytes = b"",
    interlace: int = 0,
) -> bytes:
    """A PNG written by hand, every row with the next of the five filters, IDAT split in small chunks.

    ``extra`` chunks go before the pixels, ``after`` chunks after them. Interlaced rows must come in pass order.
    """
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    distance = max(1, channels * depth // 8)
    if interlace:  # Adam7: seven passes, each a smaller image of its own (whole bytes per pixel only)
        passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
        rows = [
            b"".join(rows[y][x * distance : (x + 1) * distance] for x in range(x0, width, dx))
            for x0, y0, dx, dy in passes
            if x0 < width
            for y in range(y0, height, dy)
        ]
    filtered, above = bytearray(), bytes(len(rows[0]))
    for y, row in enumerate(rows):
        kind = y % 5 if not interlace else 0
        if len(above) != len(row):
            above = bytes(len(row))
        out = bytearray(len(row))
        for x in range(len(row)):
            a = row[x - distance] if x >= distance else 0
            c = above[x - distance] if x >= distance else 0
            b = above[x]
            out[x] = (row[x] - (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]) & 255
        filtered += bytes([kind]) + out
        above = row
    data = zlib.compress(bytes(filtered), 9)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    idat = b"".join(chunk(b"IDAT", data[i : i + 97]) for i in range(0, len(data), 97))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + idat + after + chunk(b"IEND", b"")


PNG_KINDS = [(1, 0), (2, 0), (4, 0), (8, 0), (16, 0), (8, 2), (16, 2), (1, 3), (2, 3), (4, 3), (8, 3)]
PNG_KINDS += [(8, 4), (16, 4), (8, 6), (16, 6)]


@pytest.mark.parametrize(("depth", "colour"), PNG_KINDS)
def test_png_bands_decode_exactly_what_pillow_decodes_whole(
    depth: int, colour: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Random bytes under every filter, one row per band: each band must pick up where the last one ended,
    # including the low bytes of 16-bit samples that Pillow itself drops.
    monkeypatch.setattr(png_bands, "BAND_BYTES", 128)
    monkeypatch.setattr(fill, "BAND_BYTES", 128)
    rng = random.Random(depth * 10 + colour)
    width, height = 13, 17
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    rows = [rng.randbytes((width * channels * depth + 7) // 8) for _ in range(height)]
    extra = b""
    if colour == 3:
        extra = chunk(b"PLTE", rng.randbytes(768)) + chunk(b"tRNS", rng.randbytes(9))
    elif colour == 0 and depth == 8:
        extra = chunk(b"tRNS", struct.pack(">H", rows[0][0]))
    data = raw_png(width, height, depth, colour, rows, extra=extra)
    whole = decode(data)
    source = decoding.open_image(data, "the file")
    bands = png_bands.PngBands.of(source, data, "the file")
    assert bands is not None
    top = 3  # the rows above are decoded and dropped
    pieces = [(y, bands.read(0, y, width, min(y + 2, height))) for y in range(top, height, 2)]
    for y, band in pieces:
        assert band.mode == whole.mode
        assert band.tobytes() == whole.crop((0, y, width, y + band.height)).tobytes()
        expected = fill._resample_ready(whole.crop((0, y, width, y + band.height)))
        assert fill._resample_ready(band).tobytes() == expected.tobytes()  # palette and tRNS carried


def test_bands_of_any_height_give_the_same_jpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    gradient = Image.linear_gradient("L").resize((900, 700))
    rgba = Image.merge("RGBA", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient, gradient))
    data = encode(rgba, "PNG")
    whole = to_instagram_jpeg(data, Aspect.PORTRAIT)
    monkeypatch.setattr(png_bands, "BAND_BYTES", 4 * 900 * 3)  # three rows a band
    monkeypatch.setattr(fill, "BAND_BYTES", 4 * 900 * 3)
    assert to_instagram_jpeg(data, Aspect.PORTRAIT) == whole


def test_an_opaque_png_gives_what_pillow_s_own_resize_gives() -> None:
    # 6600² to 1080²: reduced 2× in bands, then LANCZOS, as resize(reducing_gap=3.0) does on the whole image.
    grey = Image.radial_gradient("L").resize((6600, 6600))
    data = encode(grey, "PNG", compress_level=1)
    reference = grey.resize((1080, 1080), Image.Resampling.LANCZOS, box=(0, 0, 6600, 6600), reducing_gap=3.0)
    expected = encode(reference.convert("RGB"), "JPEG", quality=90, optimize=True)
    assert to_instagram_jpeg(data, Aspect.SQUARE).data == expected


def issue_png(side: int) -> bytes:
    """An RGBA PNG like issue 12's: a transparent left half and an opaque blue right half (the rows repeat,
    so it stays small)."""
    first = b"\x00" + bytes(4 * (side // 2)) + bytes((0, 0, 255, 255)) * (side - side // 2)
    same = b"\x02" + bytes(4 * side)  # filter "up", nothing changes
    packer = zlib.compressobj(6)
    data = packer.compress(first) + b"".join(packer.compress(same) for _ in range(side - 1)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


# Peak RSS growth of one transform in a fresh process (tracemalloc cannot see Pillow's buffers). A small PNG
# first loads the codecs; resetting the high-water mark then leaves only what the transform itself adds.
CHILD = """
import io, json, sys
from pathlib import Path
from PIL import Image
from postpilot.domain.model import Aspect
from postpilot.media.transform import to_instagram_jpeg

def kb(field):
    return next(int(l.split()[1]) for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))

data = Path(sys.argv[1]).read_bytes()
warm = io.BytesIO()
Image.new("RGBA", (64, 64)).save(warm, "PNG")
to_instagram_jpeg(warm.getvalue(), Aspect.PORTRAIT)
Path("/proc/self/clear_refs").write_text("5")
before = kb("VmRSS")
out = to_instagram_jpeg(data, Aspect.PORTRAIT)
peak = (kb("VmHWM") - before) * 1024
image = Image.open(io.BytesIO(out.data))
print(json.dumps({"peak": peak, "size": image.size, "mode": image.mode,
                  "left": image.getpixel((20, 675)), "right": image.getpixel((1060, 675))}))
"""


@pytest.mark.slow
def test_issue_12s_png_is_transformed_within_the_peak(tmp_path: Path) -> None:
    # 8900×8900 RGBA: 1.5 GB before; decoded whole it would be 317 MB by itself.
    path = tmp_path / "big.png"
    path.write_bytes(issue_png(8900))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True, timeout=100
    )
    result = json.loads(done.stdout)
    assert result["size"] == [1080, 1350] and result["mode"] == "RGB"
    assert close_to(tuple(result["left"]), (255, 255, 255)) and close_to(tuple(result["right"]), (0, 0, 255))
    assert result["peak"] <= memory_budget.PEAK_BYTES, result["peak"] / 2**20


def test_a_big_rgba_png_comes_out_right() -> None:
    out = decode(to_instagram_jpeg(issue_png(5000), Aspect.SQUARE).data)
    assert out.size == (1080, 1080) and out.mode == "RGB"
    assert close_to(out.getpixel((20, 540)), (255, 255, 255))
    assert close_to(out.getpixel((1060, 540)), (0, 0, 255))


def test_a_long_panorama_jpeg_still_fills_the_target() -> None:
    # Decoded whole it would take 109 MB: it is read at half scale, and its crop enlarged a little.
    photo = Image.new("RGB", (16000, 1700), (200, 40, 40))
    photo.paste((40, 40, 200), (8000, 0, 16000, 1700))
    out = decode(to_instagram_jpeg(encode(photo, "JPEG", quality=80), Aspect.PORTRAIT).data)
    assert out.size == (1080, 1350)
    assert close_to(out.getpixel((100, 675)), (200, 40, 40))
    assert close_to(out.getpixel((980, 675)), (40, 40, 200))


def test_a_16_bit_rgba_png_is_flattened_and_scaled_down() -> None:
    # Opaque 16-bit orange on the left, fully transparent on the right.
    pixel_left = struct.pack(">HHHH", 65535, 32896, 0, 65535)
    pixel_right = struct.pack(">HHHH", 0, 0, 0, 0)
    rows = [pixel_left * 100 + pixel_right * 100 for _ in range(200)]
    out = decode(to_instagram_jpeg(raw_png(200, 200, 16, 6, rows), Aspect.SQUARE).data)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((100, 540)), (255, 128, 0))
    assert close_to(out.getpixel((980, 540)), (255, 255, 255))


def test_a_palette_png_with_transparency() -> None:
    palette = Image.new("P", (300, 300), 0)
    palette.putpalette([0, 0, 0, 30, 160, 60] + [0] * 762)
    palette.paste(1, (100, 100, 200, 200))
    out = decode(to_instagram_jpeg(encode(palette, "PNG", transparency=0), Aspect.SQUARE).data)
    assert close_to(out.getpixel((10, 10)), (255, 255, 255))
    assert close_to(out.getpixel((540, 540)), (30, 160, 60))


def test_the_orientation_is_read_from_an_exif_chunk_after_the_pixels() -> None:
    # As in test_exif_orientation_is_applied, but a PNG whose eXIf chunk follows IDAT.
    red, blue = bytes((255, 0, 0)), bytes((0, 0, 255))
    rows = [red * 300 + blue * 300 for _ in range(300)]
    exif = Image.Exif()
    exif[0x0112] = 6
    data = raw_png(600, 300, 8, 2, rows, after=chunk(b"eXIf", exif.tobytes()))
    out = decode(to_instagram_jpeg(data, Aspect.PORTRAIT).data)
    assert close_to(out.getpixel((540, 40)), (255, 0, 0), tolerance=20)
    assert close_to(out.getpixel((540, 1310)), (0, 0, 255), tolerance=20)


def test_an_interlaced_png_is_decoded_whole() -> None:
    rows = [bytes((20, 200, 90)) * 64 for _ in range(64)]  # one colour, so any pass order will do
    data = raw_png(64, 64, 8, 2, rows, interlace=1)
    assert decode(data).info.get("interlace")
    assert close_to(decode(to_instagram_jpeg(data, Aspect.SQUARE).data).getpixel((540, 540)), (20, 200, 90))


def test_sources_decoded_whole_are_refused_beyond_their_budget() -> None:
    interlaced = bytearray(png_declaring(6000, 6000))
    interlaced[24:29] = bytes((8, 6, 0, 0, 1))  # 8-bit RGBA, interlaced
    interlaced[29:33] = struct.pack(">I", zlib.crc32(bytes(interlaced[12:29])))
    webp = encode(Image.new("RGB", (2600, 2600), (1, 2, 3)), "WEBP", quality=50)
    for data, kind, dims in ((bytes(interlaced), "an interlaced PNG", "6000×6000"), (webp, "a WebP", "2600×2600")):
        for call in (identify, lambda d: to_instagram_jpeg(d, Aspect.SQUARE)):
            with pytest.raises(BadMedia) as caught:
                call(data)
            message = str(caught.value)
            assert message.startswith(f"the file is too large to process ({dims} pixels); {kind} ")
            assert "megapixels: please use a smaller version, or save it as JPEG or PNG" in message
    # A WebP of a few megapixels is fine.
    assert decode(to_instagram_jpeg(encode(Image.new("RGB", (2000, 1500)), "WEBP"), Aspect.SQUARE).data)


@pytest.mark.parametrize("params", [{"quality": 50}, {"lossless": True}, {"quality": 50, "exif": b"Exif\0\0"}])
def test_the_webp_size_is_read_before_pillow_opens_it(params: dict[str, object]) -> None:
    data = encode(Image.new("RGBA", (1234, 567), (1, 2, 3, 4)), "WEBP", **params)
    assert decoding._webp_size(data) == (1234, 567)
    assert decoding._webp_size(encode(Image.new("RGB", (8, 8)), "PNG")) is None


def test_at_most_two_transforms_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    reduce = transform._reduce

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        try:
            return reduce(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(transform, "_reduce", counted)
    data = encode(Image.new("RGB", (300, 200), (5, 6, 7)), "PNG")
    threads = [threading.Thread(target=to_instagram_jpeg, args=(data, Aspect.SQUARE)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == transform.TRANSFORMS_AT_ONCE == 2
