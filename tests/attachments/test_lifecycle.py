"""Lifecycle against both blob stores (a real gateway process on local files, and one on
moto's S3 server): an upload never attached to a message is removed once it is older
than GATEWAY_ATTACHMENT_ORPHAN_AGE (here one second, so the sweep runs every quarter
second), its blob and thumbnail with it; a file that was sent stays."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devkit import services
from tests.attachments import files
from tests.attachments.test_gateway import blob_names, fetch, links, upload
from tests.gateway.client import accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor
from tests.poll import until


@pytest.fixture(scope="module", params=["local", "s3"])
def node(request: pytest.FixtureRequest) -> Iterator[services.GatewayProcess]:
    env = {"GATEWAY_DEMO": "1", "GATEWAY_ATTACHMENT_ORPHAN_AGE": "1"}
    if request.param == "s3":
        s3: services.S3Server = request.getfixturevalue("s3_server")
        bucket = f"gw-orphans-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(bucket)
        env["GATEWAY_BLOB_URL"] = s3.url(bucket, "files")
    gw = services.start_gateway(env)
    yield gw
    gw.stop()


async def test_orphaned_uploads_are_removed_and_sent_files_stay(
    node: services.GatewayProcess, request: pytest.FixtureRequest
) -> None:
    visitor, agent = demo_visitor(node), demo_agent(node)
    cid = await accepted_chat(agent, visitor)
    assert visitor.sock and agent.sock
    sent = (await upload(visitor, "sent.pdf", files.pdf())).json()["attachment"]["id"]
    await visitor.sock.send({"type": "send", "client_msg_id": "o-1", "attachments": [sent]})
    await visitor.sock.expect("ack", client_msg_id="o-1")
    r = await upload(visitor, "forgotten.jpg", files.jpeg_with_gps())
    orphan = r.json()["attachment"]["id"]
    assert r.json()["attachment"]["thumbnail"]
    # The uploader may fetch their own upload while it waits to be sent.
    own = (await links(visitor.sock, [orphan]))["links"][orphan]["url"]
    assert (await fetch(node, own)).status_code == 200

    await until(
        lambda: not [k for k in blob_names(node, request) if orphan in k],
        what="the orphan's blob deleted",
    )
    assert (await fetch(node, own)).status_code == 404
    # Too late to send it now; the file that was sent is still there.
    await visitor.sock.send({"type": "send", "client_msg_id": "o-2", "attachments": [orphan]})
    refused = await visitor.sock.expect("error", ref="o-2")
    assert refused["code"] == "not_found"
    assert [k for k in blob_names(node, request) if sent in k]
    link = (await links(agent.sock, [sent], cid))["links"][sent]["url"]
    assert (await fetch(node, link)).content == files.pdf()
    for client in (visitor, agent):
        assert client.sock
        await client.sock.close()
