"""Files the tests send: real images (with GPS EXIF), PDFs, polyglots."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image


def jpeg_with_gps(size: tuple[int, int] = (800, 600)) -> bytes:
    im = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def mpo_with_gps(size: tuple[int, int] = (800, 600)) -> bytes:
    """A JPEG with a Multi-Picture index and a second picture (a depth map, a second
    view), as many phones and cameras save their photos; Pillow calls it MPO."""
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    photo, depth = Image.new("RGB", size, (30, 120, 200)), Image.new("RGB", size, "grey")
    photo.save(out, "MPO", save_all=True, append_images=[depth], exif=exif.tobytes())
    return out.getvalue()


def photo(quality: int = 75, orientation: int = 1, size: tuple[int, int] = (1200, 900)) -> bytes:
    """A JPEG that compresses like a photo (noise), saved at ``quality``, with its
    EXIF orientation and a GPS position."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(
        out, "JPEG", quality=quality, exif=exif.tobytes()
    )
    return out.getvalue()


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, "PNG")
    return out.getvalue()


def pdf(pad: int = 0) -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\n" + b"0" * pad + b"\ntrailer<<>>\n%%EOF\n"


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        # a fixed time: the bytes name parametrized tests, and every xdist worker must
        # collect the same ids (a zip stamps the current time, to the even second)
        zf.writestr(zipfile.ZipInfo("payload.txt", date_time=(2020, 1, 1, 0, 0, 0)), "hidden")
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as im:
        return bool(im.getexif().get_ifd(0x8825)) or 0x8825 in im.getexif()


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def apng(width: int, height: int, frames: int) -> bytes:
    """An animated PNG of ``frames`` frames of ``width`` x ``height`` (grey), each after
    the first changing one pixel: a few KB whatever its size, as a bomb would be."""
    out = [
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)),
        _chunk(b"acTL", struct.pack(">II", frames, 0)),
    ]
    seq = 0

    def control(w: int, h: int, x: int, y: int) -> bytes:
        nonlocal seq
        seq += 1
        return _chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq - 1, w, h, x, y, 1, 10, 0, 0))

    out.append(control(width, height, 0, 0))
    pack = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte, then the row
    out.append(_chunk(b"IDAT", b"".join(pack.compress(row) for _ in range(height)) + pack.flush()))
    for i in range(1, frames):
        out.append(control(1, 1, i % width, 0))
        out.append(_chunk(b"fdAT", struct.pack(">I", seq) + zlib.compress(b"\x00\x01")))
        seq += 1
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
