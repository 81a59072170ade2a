"""Files the tests send: real images (with GPS EXIF), PDFs, polyglots."""

from __future__ import annotations

import io
import zipfile

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
