"""The static files (widget, console, admin section, demo phone) are gzipped for a client
that accepts it, over a real gateway process; conditional and range requests still work,
and nothing but the static files is compressed."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest

from devkit import services

ROOT = Path(__file__).resolve().parents[2]
LOADER = ROOT / "widget" / "static" / "loader.js"
GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}  # httpx asks for gzip unless told otherwise


def get_raw(
    node: services.GatewayProcess, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """The answer and its body as sent (httpx would decompress it)."""
    with httpx.Client(base_url=node.base_url, timeout=10) as client:
        with client.stream("GET", path, headers=headers) as r:
            return r, b"".join(r.iter_raw())


def test_the_loader_is_gzipped_for_a_client_that_accepts_it(
    shared_gateway: services.GatewayProcess,
) -> None:
    file = LOADER.read_bytes()
    r, body = get_raw(shared_gateway, "/widget/loader.js", GZIP)
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in r.headers["vary"].lower()
    assert gzip.decompress(body) == file
    assert len(body) < len(file) / 2
    assert int(r.headers["content-length"]) == len(body)
    assert "javascript" in r.headers["content-type"]


def test_without_gzip_the_loader_is_the_plain_file(
    shared_gateway: services.GatewayProcess,
) -> None:
    file = LOADER.read_bytes()
    for headers in (PLAIN, {"Accept-Encoding": ""}):
        r, body = get_raw(shared_gateway, "/widget/loader.js", headers)
        assert r.status_code == 200
        assert "content-encoding" not in r.headers
        assert body == file
        assert int(r.headers["content-length"]) == len(file)


@pytest.mark.parametrize("encoding", [GZIP, PLAIN])
def test_a_conditional_request_still_answers_304(
    shared_gateway: services.GatewayProcess, encoding: dict[str, str]
) -> None:
    first, _ = get_raw(shared_gateway, "/widget/loader.js", encoding)
    etag = first.headers["etag"]
    # one validator for both encodings, the file's (Vary keeps caches' copies apart)
    assert etag == get_raw(shared_gateway, "/widget/loader.js", PLAIN)[0].headers["etag"]
    again, body = get_raw(shared_gateway, "/widget/loader.js", {**encoding, "If-None-Match": etag})
    assert (again.status_code, body) == (304, b"")
    assert again.headers["etag"] == etag
    since = first.headers["last-modified"]
    later, _ = get_raw(
        shared_gateway, "/widget/loader.js", {**encoding, "If-Modified-Since": since}
    )
    assert later.status_code == 304


def test_a_range_request_gets_the_plain_bytes(shared_gateway: services.GatewayProcess) -> None:
    r, body = get_raw(shared_gateway, "/widget/loader.js", {**GZIP, "Range": "bytes=0-99"})
    assert r.status_code == 206
    assert "content-encoding" not in r.headers
    assert body == LOADER.read_bytes()[:100]


@pytest.mark.parametrize(
    ("path", "file"),
    [
        ("/console/console.js", "gateway/web/static/console/console.js"),
        ("/admin/admin.js", "gateway/web/static/admin/admin.js"),
        ("/widget/app.js", "widget/static/app.js"),
        ("/demo/phone/static/phone.js", "channels/phone/static/phone.js"),
    ],
)
def test_every_static_mount_is_gzipped(
    shared_gateway: services.GatewayProcess, path: str, file: str
) -> None:
    r, body = get_raw(shared_gateway, path, GZIP)
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (ROOT / file).read_bytes()


def test_only_static_files_are_compressed(shared_gateway: services.GatewayProcess) -> None:
    """/metrics (over 500 bytes), the framed chat page and the API stay as they were."""
    metrics, body = get_raw(shared_gateway, "/metrics", GZIP)
    assert metrics.status_code == 200 and len(body) > 500
    assert "content-encoding" not in metrics.headers
    frame, _ = get_raw(shared_gateway, "/widget/frame.html?touchpoint=tp_demo_127", GZIP)
    assert frame.status_code == 200 and "content-encoding" not in frame.headers
    api, body = get_raw(shared_gateway, "/api/openapi.json", GZIP)
    assert api.status_code == 200 and len(body) > 500
    assert "content-encoding" not in api.headers
