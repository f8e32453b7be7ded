"""Non-interlaced PNG decoded a band of rows at a time (``transform.py`` uses it for large PNGs): the 8,900² RGBA
PNG of issue 12 needs about 317 MB decoded whole, and a band of it a few MB."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageFile

from postpilot.domain.errors import BadMedia

BAND_BYTES = 4 * 2**20  # one band of rows as it is decoded and reduced


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 to 8). A malformed EXIF block must not fail the post: use the pixels as stored."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # Pillow's EXIF parser can raise almost anything on corrupt data
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Per PNG filter distance (bytes per pixel, at least one), a mode whose pixels hold exactly the raw bytes.
_VERBATIM = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
# Text chunks can carry the EXIF orientation, as XMP or as ImageMagick's "Raw profile type exif".
_PNG_METADATA = (b"eXIf", b"tEXt", b"zTXt", b"iTXt")


@dataclass(frozen=True, slots=True)
class PngLayout:
    row_bytes: int
    distance: int  # the byte distance PNG's filters look back: bytes per pixel, at least one
    idat: tuple[memoryview, ...]
    metadata: tuple[bytes, ...]  # whole chunks (length, type, body, CRC)


class PngBands:
    """The rows of a non-interlaced PNG, a band at a time, so that only one band of pixels is ever in memory.

    Pillow's own decoder does the work: each band's compressed rows are inflated here and handed to it as a
    stream of their own. A row is filtered against the one above it, so every band starts with the previous
    band's last row, unfiltered.
    """

    def __init__(self, source: ImageFile.ImageFile, layout: PngLayout, what: str) -> None:
        self._what = what
        self._mode = source.mode
        self._rawmode = str(source.tile[0].args)
        self._width = source.width
        self._layout = layout
        self._info = {k: v for k, v in source.info.items() if k == "transparency"}
        self._palette = source.palette if source.mode in ("P", "PA") else None
        self._inflater = zlib.decompressobj()
        self._chunks: Iterator[memoryview] = iter(layout.idat)
        self._above = bytes(layout.row_bytes)  # the filters see zeros above the first row
        self._next_row = 0
        # A band is held as inflated rows, as a stream and as pixels (four bytes each) at once.
        self.row_bytes = max(layout.row_bytes, 4 * source.width)

    @classmethod
    def of(cls, source: ImageFile.ImageFile, data: bytes, what: str) -> PngBands | None:
        layout = cls.layout(source, data) if source.format == "PNG" else None
        return cls(source, layout, what) if layout is not None else None

    @staticmethod
    def layout(source: ImageFile.ImageFile, data: bytes) -> PngLayout | None:
        """What banded decoding needs, or None when Pillow must decode the file whole (interlaced, or a row
        wider than a band)."""
        tile = source.tile[0] if len(source.tile) == 1 else None
        if (
            source.info.get("interlace")
            or tile is None
            or tile.codec_name != "zip"
            or tuple(tile.extents or ()) != (0, 0, *source.size)
            or not isinstance(tile.args, str)
            or len(data) < 33
        ):
            return None
        depth, colour = data[24], data[25]
        if colour not in _PNG_CHANNELS:
            return None
        bits = _PNG_CHANNELS[colour] * depth
        row_bytes = (source.width * bits + 7) // 8
        if row_bytes > BAND_BYTES or max(1, bits // 8) not in (*_VERBATIM, 6, 8):
            return None
        idat: list[memoryview] = []
        metadata: list[bytes] = []
        view = memoryview(data)
        pos, last = 8, b""
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos : pos + 4], "big")
            kind = bytes(data[pos + 4 : pos + 8])
            end = pos + 8 + length
            if kind == b"IDAT" and length and (not idat or last == b"IDAT"):
                idat.append(view[pos + 8 : min(end, len(data))])
            elif kind in _PNG_METADATA:
                metadata.append(bytes(view[pos : end + 4]))
            if kind == b"IEND":
                break
            last = kind
            pos = end + 4
        return PngLayout(row_bytes, max(1, bits // 8), tuple(idat), tuple(metadata))

    def orientation(self) -> int:
        """The orientation Pillow would read after decoding everything (EXIF and text chunks may follow the
        pixels), from a 1×1 PNG that carries just those chunks."""
        if not self._layout.metadata:
            return 1

        def chunk(kind: bytes, body: bytes) -> bytes:
            return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

        stand_in = (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", (1).to_bytes(4, "big") * 2 + bytes((8, 0, 0, 0, 0)))
            + chunk(b"IDAT", zlib.compress(b"\0\0"))
            + b"".join(self._layout.metadata)
            + chunk(b"IEND", b"")
        )
        try:
            with Image.open(io.BytesIO(stand_in), formats=("PNG",)) as image:
                image.load()
                return exif_orientation(image)
        except Exception:  # metadata Pillow cannot parse is ignored, as it would be on the real file
            return 1

    def read(self, left: int, top: int, right: int, bottom: int) -> Image.Image:
        try:
            rows = max(1, BAND_BYTES // self.row_bytes)
            while self._next_row < top:  # the rows above still have to be decoded: each depends on the last
                self._decode(min(rows, top - self._next_row))
            band = self._decode(bottom - top)
        except (zlib.error, ValueError, OSError) as exc:
            raise BadMedia(f"{self._what} could not be read: it is damaged or incomplete") from exc
        if (left, right) != (0, self._width):
            band = band.crop((left, 0, right, band.height))
        return band

    def _decode(self, count: int) -> Image.Image:
        row_bytes, distance = self._layout.row_bytes, self._layout.distance
        stream = zlib.compress(b"\0" + self._above + self._inflate(count * (row_bytes + 1)), 0)
        self._next_row += count
        if distance in (6, 8):
            # 16 bits a channel: Pillow keeps only the high bytes, but the next band's filters need the low ones
            # too. The same rows unpacked as little-endian give them.
            high = Image.frombytes(self._mode, (self._width, count + 1), stream, "zip", self._rawmode)
            low = Image.frombytes(self._mode, (self._width, count + 1), stream, "zip", self._rawmode[:-1] + "L")
            above = bytearray(row_bytes)
            above[0::2] = high.crop((0, count, self._width, count + 1)).tobytes()
            above[1::2] = low.crop((0, count, self._width, count + 1)).tobytes()
            self._above = bytes(above)
            return self._dressed(high.crop((0, 1, self._width, count + 1)))
        verbatim = _VERBATIM[distance]
        width = row_bytes // distance
        plain = Image.frombytes(verbatim, (width, count + 1), stream, "zip", verbatim)
        self._above = plain.crop((0, count, width, count + 1)).tobytes()
        if (self._mode, self._rawmode) == (verbatim, verbatim):
            return self._dressed(plain.crop((0, 1, width, count + 1)))
        raw = memoryview(plain.tobytes())[row_bytes:]
        return self._dressed(Image.frombytes(self._mode, (self._width, count), raw, "raw", self._rawmode))

    def _dressed(self, band: Image.Image) -> Image.Image:
        """The palette and colour-key transparency the whole image would carry."""
        band.info.update(self._info)
        if self._palette is not None:
            band.putpalette(self._palette)
        return band

    def _inflate(self, size: int) -> bytes:
        pieces: list[bytes] = []
        while size > 0:
            feed = self._inflater.unconsumed_tail or next(self._chunks, b"")
            piece = self._inflater.decompress(feed, size)
            if not piece and (not feed or self._inflater.eof):
                raise ValueError("the image data ends early")
            pieces.append(piece)
            size -= len(piece)
        return b"".join(pieces)
