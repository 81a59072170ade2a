"""The loader's check and the chat frame's ``frame-ancestors`` agree, in a real Chromium:
a page the check says yes to shows the frame, a page it refuses does not. It said yes to
``www.www.`` hosts and trailing-dot hosts the frame's CSP did not name, so the browser
refused the frame after the check had said yes (docs/domains.md, Decisions)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Playwright

from devkit import services
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, page_site
from tests.gateway.conftest import agent_record, seed
from tests.gateway.test_domain_walkthrough import chat_touchpoint


def shop(frame_src: str) -> contextlib.AbstractContextManager[int]:
    """A site on 127.0.0.1 whose every page frames ``frame_src``; yields its port."""
    return page_site(f'<!doctype html><title>Shop</title><iframe src="{frame_src}"></iframe>')


@pytest.mark.browser
def test_the_check_and_the_frames_csp_accept_the_same_pages(playwright: Playwright) -> None:
    hosts = {
        "shop.test": True,
        "www.shop.test": True,
        "shop.test.": True,  # the same DNS name; the browser's origin keeps the dot
        "www.shop.test.": True,
        "www.www.shop.test": False,  # one www. only: CSP could not name them all
        "a.shop.test": False,
    }
    gateway_port = services.free_port()
    base = f"http://127.0.0.1:{gateway_port}"
    src = f"{base}/widget/frame.html?touchpoint=tp_shop&embed=inline"
    with shop(src) as shop_port:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='gw-test-'))}/gateway.db"
        seed(
            url,
            agents=[agent_record("ag_x", "x@test", ["q_support"])],
            touchpoints=[chat_touchpoint("tp_shop", f"shop.test:{shop_port}")],
        )
        node = services.start_gateway(
            {"GATEWAY_DATABASE_URL": url, "GATEWAY_DEMO": "1"}, port=gateway_port
        )
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *CHROMIUM_ARGS,
                "--host-resolver-rules=MAP *.test 127.0.0.1, MAP *.test. 127.0.0.1",
            ],
        )
        try:
            seen = {}
            for host in hosts:
                origin = f"http://{host}:{shop_port}"
                answer = httpx.get(
                    f"{base}/widget/check",
                    params={"touchpoint": "tp_shop", "page": origin + "/cart"},
                    headers={"Origin": origin},
                ).json()
                page = browser.new_page()
                blocked: list[str] = []
                page.on("console", lambda m, b=blocked: b.append(m.text))
                page.goto(origin + "/cart", wait_until="load")
                [frame] = [f for f in page.frames if f is not page.main_frame]
                shown = frame.url == src and "frame-ancestors" not in " ".join(blocked)
                seen[host] = (answer["ok"], shown)
                page.close()
        finally:
            browser.close()
            node.stop()
    assert seen == {host: (want, want) for host, want in hosts.items()}
