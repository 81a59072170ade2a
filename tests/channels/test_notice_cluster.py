"""An admin notice is given once an hour for the whole cluster, not once per node
(gateway/services/notices.py, the store's ``give_notice``): two real gateway nodes on
one PostgreSQL see the same provider refusal at the same instant, and the admins get
one stored notice and one email (docs/channels.md, "Admin notices")."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from devkit import services
from tests.channels.conftest import Emulators, fresh
from tests.channels.email.mail import SmtpServer, admins_mail
from tests.channels.support import ACCOUNT, TOKEN, admin_get, sms_touchpoint
from tests.channels.test_webhook_races import NUMBER, signed_text
from tests.cluster.conftest import Cluster
from tests.gateway.conftest import ADMIN, seed


async def test_a_refusal_both_nodes_see_is_one_notice_and_one_email(
    postgres: services.Postgres,
    emulators: Emulators,
    dovecot: services.Dovecot,
    smtp: SmtpServer,
) -> None:
    """HELP texted to an outbound-only number with nothing open is answered through the
    provider by the node the webhook reaches; the provider refuses the answer at once
    (Twilio 21606: the number is not one of the account's), which only an admin can
    fix. Two contacts' HELP reach the two nodes at once: both answers are refused, and
    the admins are told once."""
    twilio = await fresh(emulators, "twilio")
    database_url = services.createdb(postgres, f"notice_{uuid.uuid4().hex[:8]}")
    cluster = Cluster(
        postgres, database_url, services.start_redis(), f"http://127.0.0.1:{services.free_port()}"
    )
    try:
        signed_at = f"{cluster.public}/webhooks/sms/tp_out"  # the URL the provider signs
        await twilio.configure(accounts={ACCOUNT: TOKEN}, numbers={})  # NUMBER is not the account's
        address, mail_tps = admins_mail(dovecot, smtp)
        sms = sms_touchpoint("tp_out", NUMBER, twilio.base_url, direction="outbound")
        seed(database_url, touchpoints=[sms, *mail_tps])
        nodes = [cluster.start_node(), cluster.start_node()]

        async with httpx.AsyncClient(timeout=60) as http:

            async def help_to(node: services.GatewayProcess, i: int) -> int:
                body, headers = signed_text(
                    signed_at, f"SM{i:02d}" + "4" * 30, f"+1202555014{i}", "HELP"
                )
                r = await http.post(
                    f"{node.base_url}/webhooks/sms/tp_out", content=body, headers=headers
                )
                return r.status_code

            statuses = await asyncio.gather(*(help_to(n, i) for i, n in enumerate(nodes)))
        assert statuses == [200, 200]
        # both nodes asked the provider, and both were refused
        refused = [s for s in await twilio.sent(2) if s.get("refused")]
        assert len(refused) == 2, await twilio.sent()

        # a webhook is answered after its notice is given: one kept, seen from either node
        for node in nodes:
            [notice] = await admin_get(node, "/api/admin/notices")
            assert notice["kind"] == "sending_refused" and notice["touchpoint_id"] == "tp_out"
            assert "error 21606" in notice["message"]
        # each notice given emails the admins once, and there is one: one email
        [mail] = await smtp.recorder.until(1)
        assert len(smtp.recorder.messages) == 1
        sender, rcpts, _ = smtp.recorder.messages[0]
        assert sender == address and rcpts == [ADMIN[0]]
        body = mail.get_body(("plain",))
        assert body is not None and notice["message"] in str(body.get_content())
    finally:
        cluster.stop()
