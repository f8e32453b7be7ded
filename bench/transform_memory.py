"""Peak memory of the Instagram transform (``media/transform.py``) on the worst case of every accepted format.

Each case is an image at the most the transform accepts: 80 megapixels (``MAX_PIXELS``), or for a format that
Pillow can only decode whole, the largest size that still passes the transform's decoding budget. Where the
file itself would exceed a fetch's 50 MB (``POSTPILOT_FETCH_MAX_BYTES``), it is the largest that fits. Every
case is transformed in a fresh subprocess, once by the code at ``HEAD`` (``git archive HEAD src/postpilot``,
imported ahead of the working tree: the transform spans several modules of ``media/``) and once by the working
tree. The child reads the file, imports the transform and warms it up on a small image of the same format.
Then it resets its high-water mark (``/proc/self/clear_refs``) and transforms the case. The figure is VmHWM
minus the RSS just before: what the transform added, the input aside (the caller already holds it).
tracemalloc would miss Pillow's C buffers.

Run from the repository root: ``.venv/bin/python -m bench.transform_memory [--only png_rgba,webp_cap]
[--impl old,new] [--cases DIR]``. The images are generated once into ``--cases`` (default
bench/results/transform-cases, not committed); results print as a table and go to
bench/results/transform_memory.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FETCH_MAX_BYTES = 50 * 1024 * 1024  # POSTPILOT_FETCH_MAX_BYTES' default
MAX_PIXELS = 80_000_000
SQUARE_80MP = 8944  # 8944² = 79.99 MP
TARGET_MB = 150.0


# --- the cases -----------------------------------------------------------------------------------------------


def gradient(width: int, height: int, mode: str = "RGBA") -> Image.Image:
    """Smooth, compressible content in every channel (and partly transparent), built at 256² and enlarged."""
    base = Image.linear_gradient("L")
    layers = [
        base,
        base.transpose(Image.Transpose.ROTATE_90),
        Image.radial_gradient("L"),
        base.transpose(Image.Transpose.FLIP_TOP_BOTTOM).point(lambda v: 64 + v * 3 // 4),
    ]
    small = Image.merge(mode, layers[: len(Image.new(mode, (1, 1)).getbands())])
    return small.resize((width, height), Image.Resampling.BILINEAR)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_png16(path: Path, side: int) -> None:
    """A 16-bit RGBA PNG (Pillow cannot write one): each 8-bit sample of ``gradient`` repeated as high and low."""
    image = gradient(side, side)
    packer = zlib.compressobj(6)
    idat = bytearray()
    for y in range(side):
        row = image.crop((0, y, side, y + 1)).tobytes()
        wide = bytearray(2 * len(row))
        wide[0::2] = row
        wide[1::2] = row
        idat += packer.compress(b"\x00" + bytes(wide))
    idat += packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", bytes(idat)) + png_chunk(b"IEND", b"")
    )


def write_interlaced_png(path: Path, side: int) -> None:
    """An Adam7-interlaced RGBA PNG (Pillow cannot write one); each pass carries a gradient of its own size."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    packer = zlib.compressobj(6)
    idat = bytearray()
    for x0, y0, dx, dy in passes:
        width, height = -(-(side - x0) // dx), -(-(side - y0) // dy)
        data = gradient(width, height).tobytes()
        stride = 4 * width
        for y in range(height):
            idat += packer.compress(b"\x00" + data[y * stride : (y + 1) * stride])
    idat += packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 1)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", bytes(idat)) + png_chunk(b"IEND", b"")
    )


def write_rle8_bmp(path: Path, side: int) -> None:
    """An 8-bit run-length-encoded BMP (Pillow cannot write one): stripes of palette entries."""
    rows = bytearray()
    for y in range(side):
        x = 0
        while x < side:
            run = min(255, side - x)
            rows += bytes((run, (x // 255 + y // 64) % 256))
            x += run
        rows += b"\x00\x00"  # end of line
    rows += b"\x00\x01"  # end of bitmap
    palette = b"".join(bytes((i, 255 - i, (i * 7) % 256, 0)) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    head = b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset)
    path.write_bytes(head + info + palette + rows)


def save(image: Image.Image, path: Path, fmt: str, **params: Any) -> None:
    image.save(path, fmt, **params)


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    aspect: str
    make: Callable[[Path], None]

    def stale(self, path: Path) -> bool:
        """A "largest accepted" file that the transform now refuses was made for other budgets."""
        if not path.exists():
            return True
        if "largest accepted" not in self.what:
            return False
        from postpilot.domain.errors import BadMedia
        from postpilot.media import transform

        try:
            transform.identify(path.read_bytes())
        except BadMedia:
            return True
        return False


def largest_accepted(per_pixel: float, write: Callable[[Path, int], None]) -> Callable[[Path], None]:
    """Writes the largest square that the new transform still accepts (and a fetch still allows), starting
    from its decoding budget at ``per_pixel`` bytes and shrinking while ``identify`` refuses it."""

    def make(path: Path) -> None:
        from postpilot.domain.errors import BadMedia
        from postpilot.media import transform
        from postpilot.media.memory_budget import WHOLE_DECODE_BUDGET

        side = min(SQUARE_80MP, math.isqrt(int(WHOLE_DECODE_BUDGET / per_pixel)))
        while True:
            write(path, side)
            data = path.read_bytes()
            try:
                if len(data) <= FETCH_MAX_BYTES:
                    transform.identify(data)
                    return
            except BadMedia:
                pass
            side = side * 49 // 50

    return make


def cases() -> list[Case]:
    return [
        Case("png_rgba", "PNG RGBA 8900×8900 (issue 12's file)", "portrait",
             lambda p: save(gradient(8900, 8900), p, "PNG", compress_level=9)),
        Case("png_rgba16", f"PNG 16-bit RGBA {SQUARE_80MP}²", "portrait",
             lambda p: write_png16(p, SQUARE_80MP)),
        Case("png_palette", f"PNG palette + tRNS {SQUARE_80MP}²", "square",
             lambda p: save(gradient(SQUARE_80MP, SQUARE_80MP).convert("P"), p, "PNG", transparency=0)),
        Case("png_interlaced_80mp", f"PNG interlaced RGBA {SQUARE_80MP}²", "portrait",
             lambda p: write_interlaced_png(p, SQUARE_80MP)),
        Case("png_interlaced_cap", "PNG interlaced RGBA, largest accepted", "portrait",
             largest_accepted(4 * 1.1, write_interlaced_png)),
        Case("jpeg_rgb", f"JPEG RGB {SQUARE_80MP}²", "portrait",
             lambda p: save(gradient(SQUARE_80MP, SQUARE_80MP, "RGB"), p, "JPEG", quality=90)),
        Case("jpeg_cmyk_panorama", "JPEG CMYK panorama 30000×2660", "portrait",
             lambda p: save(gradient(30000, 2660, "CMYK"), p, "JPEG", quality=90)),
        Case("mpo", f"MPO, two RGB frames of {SQUARE_80MP // 2 * 2}×{SQUARE_80MP}", "square",
             lambda p: save(gradient(SQUARE_80MP, SQUARE_80MP, "RGB"), p, "MPO", quality=85, save_all=True,
                            append_images=[gradient(SQUARE_80MP, SQUARE_80MP, "RGB")])),
        Case("webp_80mp", f"WebP RGBA {SQUARE_80MP}²", "portrait",
             lambda p: save(gradient(SQUARE_80MP, SQUARE_80MP), p, "WEBP", quality=80, method=0)),
        Case("webp_cap", "WebP RGBA, largest accepted", "portrait",
             largest_accepted(18, lambda p, n: save(gradient(n, n), p, "WEBP", quality=80, method=0))),
        Case("gif", f"GIF {SQUARE_80MP}²", "square",
             lambda p: save(gradient(SQUARE_80MP, SQUARE_80MP, "RGB").convert("P"), p, "GIF")),
        Case("bmp_1bit", f"BMP 1-bit {SQUARE_80MP}²", "square",
             lambda p: save(gradient(SQUARE_80MP, SQUARE_80MP, "L").convert("1"), p, "BMP")),
        Case("bmp_rgba", "BMP 32-bit 3600×3600 (the most in 50 MB)", "portrait",
             lambda p: save(gradient(3600, 3600), p, "BMP")),
        Case("bmp_rle8_80mp", f"BMP RLE8 {SQUARE_80MP}²", "square", lambda p: write_rle8_bmp(p, SQUARE_80MP)),
        Case("bmp_rle8_cap", "BMP RLE8, largest accepted", "square", largest_accepted(3 * 1.1, write_rle8_bmp)),
        Case("tiff_80mp", f"TIFF LZW RGBA {SQUARE_80MP}²", "portrait",
             lambda p: save(gradient(SQUARE_80MP, SQUARE_80MP), p, "TIFF", compression="tiff_lzw")),
        Case("tiff_cap", "TIFF LZW RGBA, largest accepted", "portrait",
             largest_accepted(4 * 1.1, lambda p, n: save(gradient(n, n), p, "TIFF", compression="tiff_lzw"))),
        Case("tiff_cmyk_cap", "TIFF LZW CMYK, largest accepted", "portrait",
             largest_accepted(4 * 1.1, lambda p, n: save(gradient(n, n, "CMYK"), p, "TIFF", compression="tiff_lzw"))),
    ]  # fmt: skip


# --- one measurement, in a child -------------------------------------------------------------------------------


def status_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(field_name)


def load_transform(impl: str) -> ModuleType:
    """The transform at HEAD ("old") or in the working tree ("new"); call it before anything imports postpilot."""
    if impl == "old":
        # The whole committed package, so every module the transform imports is HEAD's too.
        archive = subprocess.run(["git", "archive", "HEAD", "src/postpilot"], cwd=ROOT, check=True, capture_output=True)
        head = Path(tempfile.mkdtemp(prefix="bench-transform-"))
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(head, filter="data")
        # Ahead of the editable install, whose finder comes after the path finder.
        sys.path.insert(0, str(head / "src"))
    from postpilot.media import transform

    return transform


def child(impl: str, path: Path, aspect_name: str) -> dict[str, Any]:
    transform = load_transform(impl)
    from postpilot.domain.errors import BadMedia
    from postpilot.domain.model import Aspect

    aspect = Aspect(aspect_name)
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as probe:  # warm up: the plugin, its codec and the JPEG encoder
        fmt = "JPEG" if probe.format == "MPO" else str(probe.format)
    small = io.BytesIO()
    Image.new("RGBA" if fmt in ("PNG", "WEBP", "TIFF") else "RGB", (64, 48), (9, 99, 199)).save(small, fmt)
    transform.to_instagram_jpeg(small.getvalue(), aspect)
    Path("/proc/self/clear_refs").write_text("5")
    before = status_kb("VmRSS")
    started = time.perf_counter()
    try:
        out = transform.to_instagram_jpeg(data, aspect)
        result: dict[str, Any] = {"size": [out.width, out.height], "jpeg_bytes": out.bytes}
    except BadMedia as exc:
        result = {"refused": str(exc)}
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["peak_mb"] = round((status_kb("VmHWM") - before) / 1024, 1)
    result["input_mb"] = round(len(data) / 2**20, 1)
    return result


def measure(impl: str, path: Path, aspect: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.transform_memory", "--child", impl, str(path), aspect],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- the report ------------------------------------------------------------------------------------------------


def cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "—"
    if "error" in result:
        return f"error: {result['error'][:40]}"
    if "refused" in result:
        return f"refused ({result['peak_mb']} MB, {result['seconds']} s)"
    return f"{result['peak_mb']} MB, {result['seconds']} s"


def report(rows: list[dict[str, Any]]) -> None:
    print("| case | file | old (HEAD): peak, time | new: peak, time | new ≤ 150 MB |")
    print("|---|---|---|---|---|")
    for row in rows:
        new = row.get("new")
        verdict = "—" if not new or "error" in new else ("yes" if new["peak_mb"] <= TARGET_MB else "NO")
        if new and "refused" in new:
            verdict = "refused"
        mb = (new or row.get("old") or {}).get("input_mb")
        print(f"| {row['what']} | {mb} MB | {cell(row.get('old'))} | {cell(new)} | {verdict} |")
    for row in rows:
        if row.get("new") and "refused" in row["new"]:
            print(f"\n{row['name']} refused: {row['new']['refused']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--only", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--impl", default="old,new", help="which code to measure: old (HEAD), new, or both")
    parser.add_argument("--cases", type=Path, default=ROOT / "bench" / "results" / "transform-cases")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "transform_memory.json")
    parser.add_argument("--fresh", action="store_true", help="make every image again (after changing a budget)")
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "PATH", "ASPECT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.child[2])))
        return
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    impls = [name.strip() for name in args.impl.split(",") if name.strip()]
    args.cases.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for case in cases():
        if only and case.name not in only:
            continue
        path = args.cases / case.name
        if args.fresh or case.stale(path):
            started = time.perf_counter()
            case.make(path)
            print(f"made {case.name} ({path.stat().st_size / 2**20:.1f} MB) in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)  # fmt: skip
        row: dict[str, Any] = {"name": case.name, "what": case.what, "aspect": case.aspect}
        for impl in impls:
            row[impl] = measure(impl, path, case.aspect)
            print(f"{case.name} {impl}: {cell(row[impl])}", file=sys.stderr)
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(), "rows": rows}, indent=2))
    report(rows)


if __name__ == "__main__":
    main()
