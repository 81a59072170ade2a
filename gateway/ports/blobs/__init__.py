"""The blob store: the interface in base.py, local files and S3 beside it."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from gateway.errors import ConfigError
from gateway.ports.blobs.base import Blob, BlobStore

__all__ = ["Blob", "BlobStore", "create_blobs"]


def create_blobs(url: str) -> BlobStore:
    """The blob store a URL names (not opened yet).

    ``file:///absolute/path`` keeps files in that directory. ``s3://bucket/prefix``
    uses S3-compatible storage, with query parameters ``endpoint`` (e.g.
    ``https://minio.internal:9000``; AWS when absent), ``region`` (``us-east-1``) and
    ``addressing`` (``path`` or ``virtual``; ``path`` when an endpoint is given).
    Credentials come from the usual AWS sources (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, a profile, an instance role), never from the URL.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or path == "/":
            raise ConfigError(f"blob URL {url!r}: use file:///absolute/path")
        from gateway.ports.blobs.local import LocalBlobs

        return LocalBlobs(path)
    if parts.scheme == "s3":
        if not parts.netloc or parts.username or parts.password:
            raise ConfigError(
                f"blob URL {url!r}: use s3://bucket/prefix?endpoint=...; credentials come "
                "from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not the URL"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "region", "addressing"}
        if unknown:
            raise ConfigError(f"blob URL {url!r}: unknown parameter(s) {sorted(unknown)}")
        addressing = query.get("addressing", "path" if "endpoint" in query else "virtual")
        if addressing not in ("path", "virtual"):
            raise ConfigError(f"blob URL {url!r}: addressing is path or virtual")
        from gateway.ports.blobs.s3 import S3Blobs

        return S3Blobs(
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint=query.get("endpoint"),
            region=query.get("region", "us-east-1"),
            addressing=addressing,
        )
    raise ConfigError(f"blob URL {url!r}: unsupported scheme; use file:// or s3://")
