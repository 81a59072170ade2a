"""The checks on a file's name and content (gateway/services/file_check.py): pure
functions over a file on disk, tested on real files made here."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from gateway.auth import FileLinks
from gateway.errors import FileRefused, FileTypeRefused, TokenExpired, TokenInvalid
from gateway.services.file_check import clean_image, clean_name, inspect
from tests.attachments import files


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "a/b.txt", "c:\\x\\y.txt", "a\x00b.txt", "bell\x07.txt",
     "invoice\u202efdp.exe", "zero\u200bwidth.txt", ".bashrc", "", "  ", "x" * 300],
)  # fmt: skip
def test_names_with_paths_controls_or_tricks_are_refused(name: str) -> None:
    with pytest.raises(FileRefused) as info:
        clean_name(name)
    assert info.value.code == "file_name_invalid" and "file name" in info.value.message


def test_unicode_names_are_kept_in_nfc() -> None:
    assert clean_name("re\u0301sume\u0301 履歴書.pdf") == "résumé 履歴書.pdf"
    assert clean_name("👨\u200d👩\u200d👧 family.png") == "👨\u200d👩\u200d👧 family.png"
    assert clean_name("trailing dots. . ") == "trailing dots"


def write(tmp: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "name", "mime", "stored"),
    [
        (files.png(), "a.png", "image/png", "a.png"),
        (files.jpeg_with_gps(), "photo", "image/jpeg", "photo.jpg"),
        (files.pdf(), "report.final", "application/pdf", "report.final.pdf"),
        (b"a,b\n1,2\n", "t.csv", "text/csv", "t.csv"),
        (b"just some text\n", "notes.txt", "text/plain", "notes.txt"),
        (b"<!doctype html><html><script>x()</script>", "page.html", "text/html", "page.html"),
        (files.zip_bytes(), "a.zip", "application/zip", "a.zip"),
    ],
)
def test_the_type_comes_from_the_content(
    tmp_path: Path, data: bytes, name: str, mime: str, stored: str
) -> None:
    assert inspect(write(tmp_path, data), name) == (mime, stored)


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (files.jpeg_with_gps(), "photo.png", "file_type_mismatch"),
        (b"<html><script>alert(1)</script></html>", "notes.txt", "file_type_mismatch"),
        (files.png() + files.zip_bytes(), "cat.png", "file_polyglot"),
        (files.pdf() + files.zip_bytes(), "doc.pdf", "file_polyglot"),
        (files.png()[:16] + b"<html><script>", "x.png", "file_polyglot"),
        (b"\x00\x01\x02\x03garbage\xff\xfe", "blob.bin", "file_type_refused"),
    ],
)
def test_wrong_and_polyglot_types_are_refused(
    tmp_path: Path, data: bytes, name: str, code: str
) -> None:
    with pytest.raises(FileTypeRefused) as info:
        inspect(write(tmp_path, data), name)
    assert info.value.code == code, info.value.message


def test_images_lose_their_location_and_get_a_thumbnail(tmp_path: Path) -> None:
    source = write(tmp_path, files.jpeg_with_gps((800, 600)))
    assert files.has_gps(source.read_bytes())
    clean = clean_image(source, "image/jpeg", tmp_path / "clean")
    assert clean is not None and (clean.width, clean.height) == (800, 600)
    assert not files.has_gps(clean.path.read_bytes())
    assert clean.thumbnail is not None
    with Image.open(clean.thumbnail) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 320
    small = clean_image(write(tmp_path, files.png()), "image/png", tmp_path / "c2")
    assert small is not None and small.thumbnail is None


def test_a_damaged_or_huge_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match="cannot be read"):
        clean_image(write(tmp_path, files.png()[:60]), "image/png", tmp_path / "c")
    not_an_image = write(tmp_path, b"GIF89a" + b"\x00" * 40, "upload.png")
    with pytest.raises(FileRefused) as info:
        clean_image(not_an_image, "image/png", tmp_path / "c1")
    # Pillow's own text names the file's path on the server: never shown
    assert str(tmp_path) not in info.value.message and "the file" in info.value.message
    big = tmp_path / "big.png"
    Image.new("1", (8000, 7000)).save(big, "PNG")  # 56 megapixels, a few KB
    with pytest.raises(FileRefused) as info:
        clean_image(big, "image/png", tmp_path / "c3")
    assert info.value.code == "image_too_large"


def test_an_animation_counts_the_pixels_of_every_frame(tmp_path: Path) -> None:
    """An animated PNG is saved again frame by frame, each a whole canvas in memory: 3
    frames of 20 megapixels (a few KB of file) are refused before any is decoded; 2 of
    6 megapixels, or 40 small ones, are kept with every frame."""
    bomb = write(tmp_path, files.apng(5000, 4000, 3), "bomb.png")
    with pytest.raises(FileRefused) as info:
        clean_image(bomb, "image/png", tmp_path / "c")
    assert info.value.code == "image_too_large"
    assert "3 frames" in info.value.message and "all its frames" in info.value.message
    for width, height, frames in ((3000, 2000, 2), (100, 80, 40)):
        ok = write(tmp_path, files.apng(width, height, frames), f"ok{frames}.png")
        clean = clean_image(ok, "image/png", tmp_path / f"c{frames}")
        assert clean is not None and (clean.width, clean.height) == (width, height)
        with Image.open(clean.path) as saved:
            assert saved.n_frames == frames


def test_links_are_bound_to_everything_they_name() -> None:
    links = FileLinks(b"k" * 40)
    fields = {"attachment_id": "at_1", "variant": "file", "conversation_id": "cv_1",
              "reader": "c:vi_1", "expires": 1000}  # fmt: skip
    sig = links.sign(**fields)  # type: ignore[arg-type]
    links.verify(sig, now=999.0, **fields)  # type: ignore[arg-type]
    for key, other in (("attachment_id", "at_2"), ("variant", "thumb"),
                       ("conversation_id", "cv_2"), ("reader", "c:vi_2"), ("expires", 2000)):  # fmt: skip
        with pytest.raises(TokenInvalid):
            links.verify(sig, now=999.0, **{**fields, key: other})  # type: ignore[arg-type]
    with pytest.raises(TokenExpired):
        links.verify(sig, now=1001.0, **fields)  # type: ignore[arg-type]
    with pytest.raises(TokenInvalid):
        FileLinks(b"x" * 40).verify(sig, now=999.0, **fields)  # type: ignore[arg-type]
