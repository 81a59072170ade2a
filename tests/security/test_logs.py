"""No token, password or message text reaches the log, even at debug level."""

from __future__ import annotations

import httpx

from tests.security.conftest import agent, start_node, visitor

SECRET_TEXT = "my card number is 4111-1111-1111-1111"
REPLY_TEXT = "never log this reply 8c1f"


async def test_debug_logs_carry_no_tokens_passwords_or_message_text() -> None:
    node = start_node({"GATEWAY_LOG_LEVEL": "debug"})
    try:
        v = visitor(node, "tp_billing")
        first = await v.bootstrap()
        await v.connect()
        cid = await v.start(name="Lou")
        await v.say(SECRET_TEXT)
        # Not the demo agent: demo mode prints the demo's own passwords on purpose.
        ag = agent(node, "billing@demo.test", "pw-ag_billing")
        await ag.login()
        await ag.connect()
        assert (await ag.act("accept", cid))["type"] == "ok"
        await ag.say(cid, REPLY_TEXT)
        assert v.sock
        await v.sock.expect("message", body=REPLY_TEXT)
        # A token pushed into a URL by a careless client does not matter either: the
        # protocol never reads it there, so nothing is authenticated by it.
        async with httpx.AsyncClient() as http:
            r = await http.get(node.base_url + "/api/me", params={"token": ag.token})
            assert r.status_code == 401
            await http.post(
                node.base_url + "/api/login",
                json={"email": "billing@demo.test", "password": "wrong-password-xyz"},
            )
        tokens = {first["token"], v.token, ag.token}
    finally:
        node.stop()
    log = node.output()
    assert "GET /api/me" in log or "/api/login" in log  # the access log is on
    for secret in (*tokens, SECRET_TEXT, REPLY_TEXT, "pw-ag_billing", "wrong-password-xyz"):
        # (the query-string token above is the client's own doing; see docs/security.md)
        if secret == ag.token:
            log = log.replace(f"token={ag.token}", "token=<client's own URL>")
        assert secret not in log, f"{secret[:24]}... is in the log"
    assert "Traceback" not in log
