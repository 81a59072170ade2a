"""What a file really is, found in its content; its name made safe; its images cleaned.

Blocking work on a file already on disk (the upload's staging copy), run in a thread by
gateway/services/attachments.py. Three steps, each refusing with a message that says
why (FileRefused and its kinds):

* **the name** (:func:`clean_name`): NFC, no path, no control, line-break (U+2028,
  U+2029) or invisible characters (bidirectional overrides disguise extensions), at
  most 255 bytes in UTF-8;
* **the type** (:func:`inspect`): from the content only: signatures through puremagic,
  office formats by their ZIP members or compound-file streams, text by being UTF-8
  without control characters (and HTML or an email by what it starts with). A name
  whose extension names another known type is refused; one without a known extension
  gets the type's. A file that is also something else (a ZIP after an image, HTML or a
  PDF header in a binary's first KiB) is refused as a polyglot;
* **images** (:func:`clean_image`): decoded in full (a damaged or mislabelled image is
  refused, so is one of more than 50 megapixels), turned upright, and re-encoded
  without their metadata (EXIF with its GPS position, XMP, comments; of a multi-picture
  JPEG only the first picture is kept); a thumbnail of at most 320 pixels for the
  larger ones. GIF and BMP carry no location metadata and are
  kept as they are.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import zipfile
from pathlib import Path
from typing import NamedTuple

import puremagic
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from gateway.errors import FileRefused, FileTypeRefused
from gateway.model.attachment_rules import BY_EXTENSION, DOCX, FILE_TYPES, ODP, ODS, ODT, PPTX, XLSX

HEAD = 64 * 1024
MAX_PIXELS = 50_000_000
THUMB = 320
MAX_NAME_BYTES = 255

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # and Pillow refuses twice that outright

# puremagic's names for types we name otherwise
_ALIASES = {
    "image/x-ms-bmp": "image/bmp",
    "image/x-bmp": "image/bmp",
    "video/avi": "video/x-msvideo",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-m4a": "audio/mp4",
    "audio/mp3": "audio/mpeg",
    "audio/x-aac": "audio/aac",
    "application/x-zip-compressed": "application/zip",
}
ZIP_FAMILY = frozenset({"application/zip", DOCX, XLSX, PPTX, ODT, ODS, ODP})
OLE_TYPES = {
    "WordDocument": "application/msword",
    "Workbook": "application/vnd.ms-excel",
    "Book": "application/vnd.ms-excel",
    "PowerPoint Document": "application/vnd.ms-powerpoint",
    "__substg1.0_": "application/vnd.ms-outlook",
}
TEXT_FAMILY = ("text/plain", "text/csv")
_OLE = bytes.fromhex("D0CF11E0A1B11AE1")
_HTML = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|meta|style|a\s+href)\b", re.I
)
_SVG = re.compile(rb"<svg[\s>]", re.I)
_EMAIL = re.compile(rb"^(?:(?:from|to|subject|date|received|return-path|message-id|"
                    rb"mime-version|delivered-to|x-[\w-]+): .*\r?\n)+", re.I)  # fmt: skip
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
# invisible characters a name may keep: the joiners of emoji sequences
_ALLOWED_FORMAT = {"\u200d", "\u200c"}


class Inspected(NamedTuple):
    mime: str
    name: str


class CleanImage(NamedTuple):
    width: int
    height: int
    # the bytes to store: the re-encoded copy, or the original when nothing was stripped
    path: Path
    thumbnail: Path | None


def refuse_name(why: str) -> FileRefused:
    return FileRefused(f"the file name {why}", code="file_name_invalid")


def clean_name(raw: str) -> str:
    name = unicodedata.normalize("NFC", raw).strip().rstrip(". ")
    if not name:
        raise refuse_name("is empty")
    if "/" in name or "\\" in name:
        raise refuse_name("contains a path (/ or \\): send the file's own name")
    if name.startswith("."):
        raise refuse_name("starts with a dot")
    for ch in name:
        category = unicodedata.category(ch)
        # Zl, Zp: U+2028 and U+2029 break the name's line wherever it is shown
        if category in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp") or (
            category == "Cf" and ch not in _ALLOWED_FORMAT
        ):
            raise refuse_name(
                f"contains a control, line-break or invisible character (U+{ord(ch):04X})"
            )
    if len(name.encode()) > MAX_NAME_BYTES:
        raise refuse_name(f"is longer than {MAX_NAME_BYTES} bytes")
    return name


def label(mime: str) -> str:
    known = FILE_TYPES.get(mime)
    return known.label if known else "a type the gateway does not know"


def _extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def _ftyp(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand == b"qt  ":
        return "video/quicktime"
    if brand.startswith(b"3g"):
        return "video/3gpp"
    if brand in (b"M4A ", b"M4B "):
        return "audio/mp4"
    return "video/mp4"


def _zip_member_type(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if "mimetype" in names:
                declared = zf.read("mimetype")[:100].decode("ascii", "replace").strip()
                if declared in (ODT, ODS, ODP):
                    return declared
            if "[Content_Types].xml" in names:
                for prefix, mime in (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX)):
                    if any(n.startswith(prefix) for n in names):
                        return mime
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FileRefused(
            f"the file is a damaged ZIP archive ({exc})", code="file_damaged"
        ) from None
    return "application/zip"


def _ole_member_type(path: Path) -> str | None:
    """A compound file (old Office, Outlook) by the stream names in its directory."""
    wanted = {name.encode("utf-16-le"): mime for name, mime in OLE_TYPES.items()}
    overlap = max(len(k) for k in wanted)
    previous = b""
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            window = previous + chunk
            for needle, mime in wanted.items():
                if needle in window:
                    return mime
            previous = window[-overlap:]
    return None


def _text_type(head: bytes) -> str | None:
    data = head.removeprefix(codecs.BOM_UTF8)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return None
    if _CONTROL.search(data):
        return None
    start = data[:4096]
    if _SVG.search(start):
        return "image/svg+xml"
    if _HTML.search(start):
        return "text/html"
    if _EMAIL.match(data) and re.search(rb"\r?\n\r?\n", data):
        return "message/rfc822"
    return "text/plain"


def _magic(head: bytes) -> str | None:
    try:
        found = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return None
    for match in found:
        mime = str(_ALIASES.get(match.mime_type, match.mime_type))
        if mime in FILE_TYPES:
            return mime
    return None


def detect(path: Path, head: bytes) -> str | None:
    """The content's type, or None for nothing the gateway knows."""
    if head.startswith(b"PK\x03\x04"):
        return _zip_member_type(path)
    if head.startswith(_OLE):
        return _ole_member_type(path) or "compound"
    return _ftyp(head) or _magic(head) or _text_type(head)


def inspect(path: Path, name: str) -> Inspected:
    """The file's type from its content, and its name with the extension that goes with
    it; FileTypeRefused for an unknown, mismatched or polyglot file."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(HEAD)
        f.seek(max(0, size - HEAD))
        tail = f.read()
    mime = detect(path, head)
    ext = _extension(name)
    named = BY_EXTENSION.get(ext)
    if mime == "compound":  # a compound file with no stream we know: its name decides
        mime = named if named in OLE_TYPES.values() else None
    if mime == "text/plain" and named in TEXT_FAMILY:
        mime = named  # CSV is text: its name tells which kind
    if mime is None:
        raise FileTypeRefused("the file's content is of no type the gateway accepts")
    if named is not None and named != mime:
        raise FileTypeRefused(
            f"the name says .{ext} ({label(named)}) but the content is {label(mime)}",
            code="file_type_mismatch",
        )
    _check_polyglot(mime, head, tail)
    if named is None:
        name = f"{name}.{FILE_TYPES[mime].extensions[0]}"
        if len(name.encode()) > MAX_NAME_BYTES:
            raise refuse_name(f"is longer than {MAX_NAME_BYTES} bytes")
    return Inspected(mime, name)


def _check_polyglot(mime: str, head: bytes, tail: bytes) -> None:
    kind = FILE_TYPES[mime].kind
    also = ""
    if mime not in ZIP_FAMILY and b"PK\x05\x06" in tail:
        also = "a ZIP archive"
    elif kind != "text" and mime != "image/svg+xml" and _HTML.search(head[:1024]):
        also = "an HTML page"
    elif mime != "application/pdf" and b"%PDF-" in head[:1024]:
        also = "a PDF document"
    if also:
        raise FileTypeRefused(
            f"the file is {label(mime)} and also {also} (a polyglot): refused",
            code="file_polyglot",
        )


_PILLOW = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
           "image/bmp": "BMP"}  # fmt: skip
_KEPT = ("image/gif", "image/bmp")  # no location metadata in these formats


def clean_image(path: Path, mime: str, out: Path) -> CleanImage | None:
    """For an image shown inline: check it decodes as the type its content says, strip
    its metadata into ``out``, and make a thumbnail beside it. None for other types."""
    fmt = _PILLOW.get(mime)
    if fmt is None:
        return None
    try:
        with Image.open(path) as im:
            # A JPEG with a Multi-Picture index (MPF: many phones' and cameras' photos,
            # a depth map or a second view after the photo) is Pillow's "MPO": a JPEG.
            # Only its first picture, the photo, is kept (re-encoded like any JPEG).
            multi_picture = im.format == "MPO"
            if (im.format if not multi_picture else "JPEG") != fmt:
                raise FileTypeRefused(
                    f"the file is not a valid {label(mime)}", code="file_type_mismatch"
                )
            if im.width * im.height > MAX_PIXELS:
                raise too_many_pixels(im.width, im.height)
            animated = bool(getattr(im, "is_animated", False)) and not multi_picture
            if animated and mime not in _KEPT:
                # Saved again frame by frame (_save_without_metadata), each a whole
                # canvas in memory: the limit is on every frame's pixels together. A
                # tiny APNG of 25-megapixel frames that each change one pixel took the
                # process 30 MB a frame. The count is the file's own (APNG's acTL,
                # WebP's header), read without decoding a frame.
                frames = int(getattr(im, "n_frames", 1))
                if im.width * im.height * frames > MAX_PIXELS:
                    raise too_many_pixels(im.width, im.height, frames)
            im.load()
            upright: Image.Image = im
            if mime in _KEPT:
                kept = path
            else:
                # Turned only when its orientation says so: exif_transpose returns a
                # copy even then, and a copy cannot keep the JPEG's quantisation, so
                # every photo was re-encoded at quality 92 (a quality-75 photo grew by
                # half, past the channel's limit it had been checked against).
                turned = not animated and _orientation(im) in range(2, 9)
                upright = ImageOps.exif_transpose(im) if turned else im
                _save_without_metadata(im, upright, fmt, animated, out)
                kept = out
            width, height = upright.size
            thumb = (
                _thumbnail(upright, out.with_suffix(".thumb"))
                if max(width, height) > THUMB
                else None
            )
    except Image.DecompressionBombError:
        raise too_many_pixels(0, 0) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow's text may name the file's path on this server: not for the client
        detail = str(exc).replace(str(path), "the file")
        raise FileRefused(
            f"the image cannot be read: damaged, or not a {label(mime)} ({detail})",
            code="file_damaged",
        ) from None
    return CleanImage(width, height, kept, thumb)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1: upright; 2 to 8: mirrored or turned)."""
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except (SyntaxError, ValueError, OSError):  # a damaged EXIF block: as it is
        return 1
    return value if isinstance(value, int) else 1


def too_many_pixels(width: int, height: int, frames: int = 1) -> FileRefused:
    size = f" ({width} x {height})" if width else ""
    if frames > 1:
        return FileRefused(
            f"the animation is too large ({width} x {height}, {frames} frames): at most "
            f"{MAX_PIXELS // 1_000_000} megapixels in all its frames",
            code="image_too_large",
        )
    return FileRefused(
        f"the image is too large{size}: at most {MAX_PIXELS // 1_000_000} megapixels",
        code="image_too_large",
    )


def _save_without_metadata(
    original: Image.Image, upright: Image.Image, fmt: str, animated: bool, out: Path
) -> None:
    # Only what the picture needs: no exif=, no pnginfo=, no xmp=, no comment.
    options: dict[str, object] = {}
    if icc := original.info.get("icc_profile"):
        options["icc_profile"] = icc
    if fmt == "JPEG":
        if upright is original and original.format == "JPEG":
            options.update(quality="keep", subsampling="keep")  # no visible loss
        elif tables := getattr(original, "quantization", None):
            # turned, or a multi-picture JPEG ("keep" takes only a plain one): the same
            # quantisation tables, so the same quality and about the same size (quality
            # 92 made a quality-75 photo half as large again)
            options.update(qtables=tables)
            if (sampling := JpegImagePlugin.get_sampling(original)) != -1:
                options.update(subsampling=sampling)
        else:
            options.update(quality=92)
    elif fmt == "PNG":
        if "transparency" in original.info:
            options["transparency"] = original.info["transparency"]
    elif fmt == "WEBP":
        options.update(quality=90)
    if animated:
        options.update(save_all=True)
    upright.save(out, fmt, **options)


def _thumbnail(im: Image.Image, out: Path) -> Path:
    """Always a JPEG (transparency on white): one type to serve, small files."""
    thumb = im.copy()
    thumb.thumbnail((THUMB, THUMB))
    if thumb.mode != "RGB":
        rgba = thumb.convert("RGBA")
        thumb = Image.new("RGB", rgba.size, "white")
        thumb.paste(rgba, mask=rgba.getchannel("A"))
    thumb.save(out, "JPEG", quality=82)
    return out
