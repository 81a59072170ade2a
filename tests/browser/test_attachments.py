"""Files in Chromium, on both sides: the widget (in a cross-origin iframe, as on a
customer's site) and the console attach by button, drag and drop and paste; an upload
shows its progress (the browser's upload throttled through the DevTools protocol, so
that there is progress to see); images show their thumbnail; a download returns the
bytes that were sent; a refused type says why and what is allowed."""

from __future__ import annotations

import base64
import io
import random
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import FrameLocator, Locator, Page, expect

from devkit.services import GatewayProcess
from tests.attachments import files
from tests.browser.conftest import (
    NewPage,
    accept_offer,
    axe_audit,
    login,
    open_widget,
    reply,
    shot,
    start_chat,
)

pytestmark = pytest.mark.browser

HTML_PAGE = b"<!doctype html><html><body><script>alert(1)</script></body></html>\n"


def photo(size: tuple[int, int] = (1200, 900)) -> bytes:
    """A JPEG of noise (so it does not compress away: about a megabyte)."""
    rnd = random.Random(12)
    im = Image.frombytes("RGB", size, rnd.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=92)
    return out.getvalue()


def a_pdf() -> bytes:
    return files.pdf(pad=300_000)


def throttle_uploads(page: Page, target: Any, bytes_per_second: int) -> None:
    """Slow this page's (or out-of-process frame's) uploads, as on a slow line."""
    cdp = page.context.new_cdp_session(target)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def watch_progress(where: Page | Any) -> None:
    """Record every value an upload's progress bar takes (window.__progress)."""
    where.evaluate(
        """() => {
            window.__progress = [];
            new MutationObserver(() => {
                for (const bar of document.querySelectorAll('progress'))
                    window.__progress.push(bar.value);
            }).observe(document, {subtree: true, childList: true, attributes: true,
                                  attributeFilter: ['value']});
            setInterval(() => {
                for (const bar of document.querySelectorAll('progress'))
                    window.__progress.push(bar.value);
            }, 20);
        }"""
    )


def progress_seen(where: Page | Any) -> list[float]:
    return list(where.evaluate("() => window.__progress"))


def put_files(target: Locator, how: str, name: str, data: bytes, mime: str) -> None:
    """Drop or paste a file on an element, as the browser hands it to the page."""
    target.evaluate(
        """(el, [how, name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: mime}));
            if (how === 'paste') {
                el.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true,
                                                              cancelable: true}));
            } else {
                for (const type of ['dragenter', 'dragover', 'drop'])
                    el.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true,
                                                          cancelable: true}));
            }
        }""",
        [how, name, base64.b64encode(data).decode(), mime],
    )


def choose_file(page: Page, button: Locator, name: str, data: bytes, mime: str) -> None:
    """The attach button opens the file chooser; the test picks the file."""
    with page.expect_file_chooser() as chooser:
        button.click()
    chooser.value.set_files({"name": name, "mimeType": mime, "buffer": data})


def downloaded(page: Page, link: Locator, tmp: Path) -> bytes:
    with page.expect_download() as d:
        link.click()
    path = tmp / d.value.suggested_filename
    d.value.save_as(path)
    return path.read_bytes()


def thumbnail_loaded(where: Locator) -> None:
    img = where.locator("img")
    expect(img).to_be_visible()
    img.evaluate("i => i.decode()")  # rejects when the image did not load
    assert img.evaluate("i => i.naturalWidth") > 0


def send_widget(frame: FrameLocator, text: str = "") -> None:
    box = frame.get_by_role("textbox", name="Message")
    if text:
        box.fill(text)
    box.press("Enter")


def test_visitor_files(new_page: NewPage, gateway: GatewayProcess, tmp_path: Path) -> None:
    base = gateway.base_url
    agent: Page = login(new_page(), base)
    visitor: Page = new_page()
    # The shop on one origin, the widget on the other (localhost <-> 127.0.0.1).
    visitor.goto(base + "/demo?cross=1")
    open_widget(visitor)
    frame = start_chat(visitor, "Fay", "fay@example.com", "Hello, a photo of the damage")
    accept_offer(agent, "Fay")
    reply(agent, "Please send it")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Please send it")

    # By the button, with a slow line: the progress bar moves, then the file is ready.
    inner = next(f for f in visitor.frames if "/widget/frame.html" in f.url)
    throttle_uploads(visitor, inner, 200_000)
    watch_progress(inner)
    image = photo()
    assert len(image) > 600_000
    choose_file(visitor, frame.get_by_role("button", name="Attach files"), "damage.jpg", image,
                "image/jpeg")  # fmt: skip
    bar = frame.get_by_role("progressbar", name="Uploading damage.jpg")
    expect(bar).to_be_visible()
    uploads = frame.get_by_role("list", name="Attach files")
    expect(uploads.get_by_role("listitem")).to_contain_text("JPEG image", timeout=30_000)
    expect(bar).to_have_count(0)
    seen = progress_seen(inner)
    assert any(0 < v < 100 for v in seen), seen  # it moved, not just 0 then done
    shot(visitor, "widget-upload-ready")
    # A message of only a file: its card, no empty bubble.
    send_widget(frame)
    mine = frame.get_by_role("listitem").filter(has=frame.locator(".file-card"))
    expect(mine).to_contain_text("Sent")
    expect(mine.locator(".bubble")).to_have_count(0)
    card = mine.locator(".file-card")
    expect(card).to_contain_text("damage.jpg")
    expect(card).to_contain_text("JPEG image")
    thumbnail_loaded(card.get_by_role("link", name="Open damage.jpg"))

    # By drag and drop: a PDF, with text; then more text, in order.
    pdf = a_pdf()
    put_files(frame.locator("#app"), "drop", "invoice.pdf", pdf, "application/pdf")
    expect(uploads).to_contain_text("PDF document", timeout=30_000)
    send_widget(frame, "And the invoice")
    send_widget(frame, "Thanks!")
    expect(frame.get_by_role("listitem").filter(has_text="Thanks!")).to_contain_text("Sent")

    # The agent sees them in the conversation, in order with the messages.
    messages = agent.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("Thanks!")
    items = messages.get_by_role("listitem")
    texts = [t for t in items.all_inner_texts() if "Fay" in t]
    order = [
        next((w for w in ("damage.jpg", "invoice.pdf", "Thanks!") if w in t), "") for t in texts
    ]
    assert [w for w in order if w] == ["damage.jpg", "invoice.pdf", "Thanks!"], texts
    thumbnail_loaded(messages.get_by_role("link", name="Open damage.jpg"))
    invoice = messages.locator(".file-card").filter(has_text="invoice.pdf")
    expect(invoice).to_contain_text("PDF document")
    expect(invoice).to_contain_text(re.compile(r"29\d KB"))
    # The agent downloads what the visitor sent: the same bytes.
    assert (
        downloaded(agent, invoice.get_by_role("link", name="Download invoice.pdf"), tmp_path) == pdf
    )
    shot(agent, "console-files")
    # ... and so does the visitor, from the cross-origin iframe.
    (tmp_path / "v").mkdir()
    link = frame.get_by_role("link", name="Download invoice.pdf")
    assert downloaded(visitor, link, tmp_path / "v") == pdf

    # A refused type, pasted: it says why and what is allowed; nothing is sent.
    put_files(frame.get_by_role("textbox", name="Message"), "paste", "notes.html", HTML_PAGE,
              "text/html")  # fmt: skip
    refusal = frame.get_by_role("alert").filter(has_text="notes.html was not attached")
    expect(refusal).to_contain_text("HTML")
    expect(refusal).to_contain_text(re.compile(r"Allowed: jpg, png, .*pdf.* up to 10 MB"))
    shot(visitor, "widget-file-refused")
    frame.get_by_role("button", name="Remove notes.html").click()
    expect(refusal).to_have_count(0)


def test_agent_files(new_page: NewPage, gateway: GatewayProcess, tmp_path: Path) -> None:
    base = gateway.base_url
    agent: Page = login(new_page(), base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    frame = open_widget(visitor)
    frame = start_chat(visitor, "Gus", "gus@example.com", "Can you send the manual?")
    accept_offer(agent, "Gus")

    # By the button, slowly: progress, then ready; sent with a text.
    throttle_uploads(agent, agent, 200_000)
    watch_progress(agent)
    pdf = a_pdf()
    choose_file(agent, agent.get_by_role("button", name="Attach files"), "manual.pdf", pdf,
                "application/pdf")  # fmt: skip
    expect(agent.get_by_role("progressbar", name="Uploading manual.pdf")).to_be_visible()
    uploads = agent.get_by_role("list", name="Attach files")
    expect(uploads).to_contain_text("PDF document", timeout=30_000)
    assert any(0 < v < 100 for v in progress_seen(agent))
    reply(agent, "Here is the manual")
    sent = (
        agent.get_by_role("list", name="Messages")
        .get_by_role("listitem")
        .filter(has_text="Here is the manual")
    )
    expect(sent.locator(".file-card")).to_contain_text("manual.pdf")

    # The visitor sees it and downloads it: the same bytes.
    card = frame.locator(".file-card").filter(has_text="manual.pdf")
    expect(card).to_contain_text("PDF document")
    assert (
        downloaded(visitor, card.get_by_role("link", name="Download manual.pdf"), tmp_path) == pdf
    )

    # An image, dropped on the conversation: both sides show its thumbnail.
    put_files(agent.locator("#conv"), "drop", "diagram.png", files.png((900, 700)), "image/png")
    expect(uploads).to_contain_text("PNG image", timeout=30_000)
    agent.get_by_role("button", name="Send", exact=True).click()
    thumbnail_loaded(agent.get_by_role("link", name="Open diagram.png"))
    thumbnail_loaded(frame.get_by_role("link", name="Open diagram.png"))
    # Opening the image: the file itself, inline, from the gateway's origin.
    link = frame.get_by_role("link", name="Open diagram.png")
    with visitor.context.expect_page() as tab:
        link.click()
    opened = tab.value
    opened.wait_for_load_state()
    assert "/files/" in opened.url and "v=file" in opened.url
    # Chromium's own image document: the picture, nothing of ours around it.
    assert opened.evaluate("[document.images.length, document.images[0].naturalWidth]") == [1, 900]
    opened.close()

    # A refused type, pasted into the reply: why, and what is allowed.
    put_files(agent.get_by_role("textbox", name="Reply"), "paste", "page.html", HTML_PAGE,
              "text/html")  # fmt: skip
    refusal = agent.get_by_role("alert").filter(has_text="page.html was not attached")
    expect(refusal).to_contain_text(re.compile(r"Allowed: jpg, png, .* up to 10 MB"))
    shot(agent, "console-file-refused")


def test_axe_file_ui(new_page: NewPage, gateway: GatewayProcess) -> None:
    """axe-core on the new parts: uploads (ready and refused) and file cards."""
    base = gateway.base_url
    agent: Page = login(new_page(bypass_csp=True), base)
    visitor: Page = new_page(bypass_csp=True)
    visitor.goto(base + "/demo")
    open_widget(visitor)
    frame = start_chat(visitor, "Hal", "hal@example.com", "Files, accessibly")
    accept_offer(agent, "Hal")
    box = frame.get_by_role("textbox", name="Message")
    put_files(box, "paste", "shot.png", files.png((640, 480)), "image/png")
    put_files(box, "paste", "bad.html", HTML_PAGE, "text/html")
    expect(frame.get_by_role("alert").filter(has_text="bad.html")).to_be_visible()
    expect(frame.get_by_role("list", name="Attach files")).to_contain_text("PNG image")
    found = {"widget uploads": axe_audit(visitor)}
    send_widget(frame, "with a picture")
    thumbnail_loaded(frame.get_by_role("link", name="Open shot.png"))
    found["widget file card"] = axe_audit(visitor)
    thumbnail_loaded(agent.get_by_role("link", name="Open shot.png"))
    put_files(agent.get_by_role("textbox", name="Reply"), "paste", "x.html", HTML_PAGE, "text/html")
    expect(agent.get_by_role("alert").filter(has_text="x.html")).to_be_visible()
    found["console file card and refusal"] = axe_audit(agent)
    bad = {
        screen: "\n".join(f"{v['id']} ({v['impact']}): {v['help']}\n    {v['nodes']}" for v in vs)
        for screen, vs in found.items()
        if vs
    }
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())
