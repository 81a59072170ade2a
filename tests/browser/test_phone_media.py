"""Files on the demo phone page, both ways: the contact attaches a file (the emulator
sends it as the provider's phone would: an MMS, a Messenger attachment) and the agent
sees it in the console; the agent attaches one and the phone shows the copy the
emulator kept when it fetched the gateway's link."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit import services
from tests.attachments import files
from tests.browser.conftest import NewPage, login
from tests.browser.test_attachments import choose_file, downloaded, thumbnail_loaded
from tests.browser.test_messaging import demo, phone_page, take, text

pytestmark = pytest.mark.browser
__all__ = ["demo"]  # the demo as ./scripts/serve runs it, for this module too


def attach(contact: Page, name: str, data: bytes, mime: str) -> None:
    contact.get_by_label("Attach a file").set_input_files(
        files={"name": name, "mimeType": mime, "buffer": data}
    )


def test_files_both_ways_by_mms(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]], tmp_path: Path
) -> None:
    node, urls = demo
    agent = login(new_page(), node.base_url)
    contact = phone_page(new_page, node.base_url, "SMS")
    contact.get_by_role("textbox", name="Your number").fill("+12025550166")
    contact.get_by_role("textbox", name="Your number").press("Tab")

    # the contact's PDF goes as an MMS; the agent downloads the same bytes
    receipt = files.pdf(pad=4000)
    attach(contact, "receipt.pdf", receipt, "application/pdf")
    text(contact, "Here is my receipt")
    expect(contact.get_by_role("list", name="Thread")).to_contain_text("receipt.pdf")
    expect(contact.get_by_label("Attach a file")).to_have_value("")  # sent: cleared
    take(agent, "+12025550166")
    message = (
        agent.get_by_role("list", name="Messages")
        .get_by_role("listitem")
        .filter(has_text="Here is my receipt")
    )
    card = message.locator(".file-card")
    expect(card).to_contain_text("PDF document", timeout=15_000)
    link = card.get_by_role("link", name=re.compile("^Download "))
    assert downloaded(agent, link, tmp_path) == receipt

    # the agent's image goes out as MMS media; the phone shows the copy Twilio fetched
    image = files.png((320, 200))
    choose_file(agent, agent.get_by_role("button", name="Attach files"), "map.png", image,
                "image/png")  # fmt: skip
    expect(agent.get_by_role("list", name="Attach files")).to_contain_text(
        "PNG image", timeout=30_000
    )
    agent.get_by_role("textbox", name="Reply").fill("Our shop is here")
    agent.get_by_role("textbox", name="Reply").press("Shift+Enter")
    thread = contact.get_by_role("list", name="Thread")
    got = thread.get_by_role("listitem").filter(has_text="Our shop is here")
    expect(got).to_be_visible(timeout=15_000)
    shown = got.get_by_role("link", name="Open map.png")
    thumbnail_loaded(shown)
    href = shown.get_attribute("href")
    assert href and href.startswith(urls["twilio"] + "/_emulator/media/")
    assert httpx.get(href).content == image  # the bytes the emulator fetched
    sent = httpx.get(urls["twilio"] + "/_emulator/sent").json()
    mms = next(s for s in sent if s.get("Body") == "Our shop is here")
    assert mms["media"][0]["sha256"] == hashlib.sha256(image).hexdigest()
    assert mms["media"][0]["source"].startswith(node.base_url)  # the gateway's link


def test_files_both_ways_on_messenger(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]], tmp_path: Path
) -> None:
    node, _ = demo
    agent = login(new_page(), node.base_url)
    contact = phone_page(new_page, node.base_url, "Messenger")
    contact.get_by_role("textbox", name="First name").fill("Rui")
    contact.get_by_role("textbox", name="Last name").fill("Neves")
    contact.get_by_role("textbox", name="Last name").press("Tab")

    # a photo only, no text: a Messenger image attachment; the console shows it
    photo = files.png((200, 150))
    attach(contact, "scratch.png", photo, "image/png")
    contact.get_by_role("button", name="Send").click()
    expect(contact.get_by_role("list", name="Thread")).to_contain_text("scratch.png")
    take(agent, "Rui Neves")
    card = agent.get_by_role("list", name="Messages").locator(".file-card").first
    expect(card).to_contain_text("PNG image", timeout=15_000)
    assert (
        downloaded(agent, card.get_by_role("link", name="Download scratch.png"), tmp_path) == photo
    )

    # the agent's PDF: a file attachment, a link on the phone to the same bytes
    manual = files.pdf(pad=2000)
    choose_file(agent, agent.get_by_role("button", name="Attach files"), "manual.pdf", manual,
                "application/pdf")  # fmt: skip
    expect(agent.get_by_role("list", name="Attach files")).to_contain_text(
        "PDF document", timeout=30_000
    )
    agent.get_by_role("button", name="Send", exact=True).click()
    link = contact.get_by_role("list", name="Thread").get_by_role(
        "link", name=re.compile(r"manual\.pdf")
    )
    expect(link).to_be_visible(timeout=15_000)
    href = link.get_attribute("href")
    assert href and httpx.get(href).content == manual


def test_files_both_ways_on_whatsapp(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]], tmp_path: Path
) -> None:
    node, urls = demo
    agent = login(new_page(), node.base_url)
    contact = phone_page(new_page, node.base_url, "WhatsApp")
    contact.get_by_role("textbox", name="Your WhatsApp name").fill("Inês Prata")
    contact.get_by_role("textbox", name="Your WhatsApp name").press("Tab")

    # a photo with a text: a WhatsApp image whose caption is the text
    photo = files.png((240, 180))
    attach(contact, "leak.png", photo, "image/png")
    text(contact, "The leak under the sink")
    take(agent, "Inês Prata")
    message = (
        agent.get_by_role("list", name="Messages")
        .get_by_role("listitem")
        .filter(has_text="The leak under the sink")
    )
    card = message.locator(".file-card")
    expect(card).to_contain_text("PNG image", timeout=15_000)
    link = card.get_by_role("link", name=re.compile("^Download "))
    assert downloaded(agent, link, tmp_path) == photo

    # the agent's PDF: a WhatsApp document; the phone links to the copy Meta fetched
    guide = files.pdf(pad=3000)
    choose_file(agent, agent.get_by_role("button", name="Attach files"), "guide.pdf", guide,
                "application/pdf")  # fmt: skip
    expect(agent.get_by_role("list", name="Attach files")).to_contain_text(
        "PDF document", timeout=30_000
    )
    agent.get_by_role("button", name="Send", exact=True).click()
    got = contact.get_by_role("list", name="Thread").get_by_role(
        "link", name=re.compile(r"guide\.pdf")
    )
    expect(got).to_be_visible(timeout=15_000)
    href = got.get_attribute("href")
    assert href and href.startswith(urls["whatsapp"] + "/_emulator/media/")
    assert httpx.get(href).content == guide
