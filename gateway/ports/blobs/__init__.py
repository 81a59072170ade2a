"""The blob store: the interface in base.py, local files and S3 beside it."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from gateway.errors import ConfigError
from gateway.ports.blobs.base import Blob, BlobStore, ByteRange, RangeNotSatisfiable
from gateway.settings import blob_url_problem

__all__ = ["Blob", "BlobStore", "ByteRange", "RangeNotSatisfiable", "create_blobs"]


def create_blobs(url: str) -> BlobStore:
    """The blob store a URL names (not opened yet).

    ``file:///absolute/path`` keeps files in that directory. ``s3://bucket/prefix``
    uses S3-compatible storage, with query parameters ``endpoint`` (e.g.
    ``https://minio.internal:9000``; AWS when absent), ``region`` (``us-east-1``) and
    ``addressing`` (``path`` or ``virtual``; ``path`` when an endpoint is given).
    Credentials come from the usual AWS sources (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, a profile, an instance role), never from the URL.
    """
    problem = blob_url_problem(url)
    if problem:
        raise ConfigError(f"blob URL {problem}")
    parts = urlsplit(url)
    if parts.scheme == "file":
        from gateway.ports.blobs.local import LocalBlobs

        return LocalBlobs(unquote(parts.path))
    from gateway.ports.blobs.s3 import S3Blobs

    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return S3Blobs(
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        endpoint=query.get("endpoint"),
        region=query.get("region", "us-east-1"),
        addressing=query.get("addressing", "path" if "endpoint" in query else "virtual"),
    )
