"""Photos as phones and cameras make them, through a real gateway (uvicorn, SQLite,
local files): uploaded over HTTP, sent over the socket, fetched by their links."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit import services
from tests.attachments import files
from tests.attachments.test_gateway import fetch, links, upload
from tests.gateway.client import accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor


@pytest.fixture(scope="module")
def node() -> Iterator[services.GatewayProcess]:
    gw = services.start_gateway({"GATEWAY_DEMO": "1", "GATEWAY_OFFER_TIMEOUT": "60"})
    yield gw
    gw.stop()


async def test_phone_photos_are_kept_as_photos(node: services.GatewayProcess) -> None:
    visitor, agent = demo_visitor(node), demo_agent(node)
    cid = await accepted_chat(agent, visitor)
    assert visitor.sock and agent.sock

    # A JPEG with a Multi-Picture index (MPF: a depth map or a second view after the
    # photo) was refused as "not a valid JPEG image" (Pillow names the format MPO). It
    # is a JPEG: its first picture is kept, without its location, with a thumbnail.
    r = await upload(visitor, "portrait.jpg", files.mpo_with_gps())
    assert r.status_code == 201, r.text
    photo = r.json()["attachment"]
    assert (photo["content_type"], photo["width"], photo["height"]) == ("image/jpeg", 800, 600)
    assert photo["thumbnail"]
    await visitor.sock.send({"type": "send", "client_msg_id": "mpo", "attachments": [photo["id"]]})
    await visitor.sock.expect("ack", client_msg_id="mpo")
    link = (await links(agent.sock, [photo["id"]], cid))["links"][photo["id"]]
    served = await fetch(node, link["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert not files.has_gps(served.content)
    assert (await fetch(node, link["thumbnail_url"])).status_code == 200

    # Stripping a JPEG's metadata keeps its quantisation. Every photo was re-encoded at
    # quality 92 instead (the copy made to turn it upright cannot keep it, and a copy
    # was made even when nothing was to be turned): a quality-75 photo was stored half
    # as large again, past the channel's limit it had just been checked against (then
    # refused at the send, as over the message's total). A photo that is turned keeps
    # its quantisation tables.
    for orientation, shape in ((1, (1200, 900)), (6, (900, 1200))):
        sent = files.photo(quality=75, orientation=orientation)
        r = await upload(visitor, "photo.jpg", sent)
        assert r.status_code == 201, r.text
        stored = r.json()["attachment"]
        assert (stored["width"], stored["height"]) == shape
        assert stored["size"] <= len(sent) * 1.05, (orientation, stored["size"], len(sent))
        await visitor.sock.send(
            {"type": "send", "client_msg_id": f"q-{orientation}", "attachments": [stored["id"]]}
        )
        await visitor.sock.expect("ack", client_msg_id=f"q-{orientation}")
        link = (await links(agent.sock, [stored["id"]], cid))["links"][stored["id"]]
        assert not files.has_gps((await fetch(node, link["url"])).content)
    for client in (visitor, agent):
        assert client.sock
        await client.sock.close()
