import httpx

from devkit.services import running_gateway


def test_healthz_answers_on_a_real_server() -> None:
    with running_gateway({}) as node:
        r = httpx.get(node.base_url + "/healthz")
        assert r.status_code == 200
        assert r.json()["status"] == "ok"
