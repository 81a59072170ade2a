"""The widget's look, set through the admin API (docs/widget.md, "Customising"): colour,
text colour, font, launcher icon and texts reach the launcher and the chat as
configured, again after a reload (the configuration is fetched anew); values that are
no colour, a font that would leave its CSS declaration, an icon that is no image URL and
texts too long are refused, and nothing of a refused edit is stored."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, NewPage, login

pytestmark = pytest.mark.browser

TOUCHPOINT = "/api/admin/touchpoints/tp_demo_127"  # the /demo page's on 127.0.0.1
ICON = (
    "data:image/svg+xml;base64,"
    + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
        b'<circle cx="12" cy="12" r="10" fill="#fde68a"/></svg>'
    ).decode()
)
TEXTS = {
    "title": "Parlons-en",
    "frame_title": "Discussion",
    "launcher_open": "Ouvrir la discussion",
    "launcher_close": "Réduire la discussion",
    "minimise": "Fermer le panneau",
    "form_intro": "Dites-nous qui vous êtes.",
    "form_message": "Votre question",
    "start": "Commencer",
    "placeholder": "Écrivez ici…",
    "message_label": "Votre réponse",
    "send": "Envoyer",
}
WIDGET: dict[str, Any] = {
    "color": "#7c2d12",  # rgb(124, 45, 18)
    "text_color": "#fde68a",  # rgb(253, 230, 138): 8:1 on the colour, kept
    "font": 'Georgia, "Times New Roman", serif',
    "launcher_icon": ICON,
    "lang": "fr",
    "texts": TEXTS,
}
COLOR, ON_COLOR = "rgb(124, 45, 18)", "rgb(253, 230, 138)"


def style(locator: Any, prop: str) -> str:
    return str(locator.evaluate(f"e => getComputedStyle(e).{prop}"))


def admin_client(base: str) -> httpx.Client:
    token = login_token(base, *ADMIN)
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def assert_look(visitor: Page, title: str) -> Any:
    """The launcher and the open chat as WIDGET says; returns the chat's frame."""
    launcher = visitor.get_by_role("button", name="Ouvrir la discussion")
    expect(launcher).to_be_visible()
    assert style(launcher, "backgroundColor") == COLOR
    assert style(launcher, "color") == ON_COLOR
    icon = launcher.locator("img")
    expect(icon).to_have_attribute("src", ICON)
    assert icon.evaluate("i => i.decode().then(() => i.naturalWidth)") > 0  # it loads
    iframe = visitor.locator("iframe[title='Discussion']")
    expect(iframe).to_be_attached()
    launcher.click()
    expect(visitor.get_by_role("button", name="Réduire la discussion")).to_be_visible()
    frame = iframe.content_frame
    heading = frame.get_by_role("heading", name=title, level=1)
    expect(heading).to_be_visible()
    header = frame.locator("header.bar")
    assert style(header, "backgroundColor") == COLOR
    assert style(header, "color") == ON_COLOR
    assert style(heading, "fontFamily") == WIDGET["font"]
    expect(frame.get_by_role("button", name="Fermer le panneau")).to_be_visible()
    expect(frame.locator("html")).to_have_attribute("lang", "fr")
    return frame


def test_colour_font_icon_and_texts_reach_the_widget_and_survive_a_reload(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    with admin_client(base) as api:
        r = api.patch(TOUCHPOINT, json={"widget": WIDGET})
        assert r.status_code == 200, r.text
        assert r.json()["widget"] == {"title": "Chat with us", **WIDGET}  # merged
    login(new_page(), base)  # someone to answer: the form offers "Start chat"
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    frame = assert_look(visitor, "Parlons-en")
    expect(frame.get_by_text("Dites-nous qui vous êtes.")).to_be_visible()
    frame.get_by_role("textbox", name="Your name").fill("Inès")
    frame.get_by_role("textbox", name="Email").fill("ines@example.com")
    frame.get_by_role("textbox", name="Votre question").fill("Livrez-vous à Lyon ?")
    start = frame.get_by_role("button", name="Commencer")
    assert style(start, "backgroundColor") == COLOR
    start.click()
    box = frame.get_by_role("textbox", name="Votre réponse")
    expect(box).to_have_attribute("placeholder", "Écrivez ici…")
    expect(frame.get_by_role("button", name="Envoyer")).to_be_visible()
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Livrez-vous à Lyon ?")

    # A reload asks for the configuration again: the same look, and an edit made
    # meanwhile shows.
    with admin_client(base) as api:
        r = api.patch(TOUCHPOINT, json={"widget": {"texts": {"title": "Parlons-en encore"}}})
        assert r.status_code == 200, r.text
    visitor.reload()
    visitor.get_by_role("button", name="Réduire la discussion").click()  # it stayed open
    frame = assert_look(visitor, "Parlons-en encore")
    expect(frame.get_by_role("textbox", name="Votre réponse")).to_have_attribute(
        "placeholder", "Écrivez ici…"
    )
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Livrez-vous à Lyon ?")


BAD = [
    ("colour that is no colour", {"color": "red; background: url(x)"}, "widget.color"),
    ("colour by name", {"color": "tomato"}, "widget.color"),
    ("text colour", {"text_color": "#12345"}, "widget.text_color"),
    ("font leaving its declaration", {"font": "Arial; } body { display: none"}, "widget.font"),
    ("font with a brace", {"font": "Arial}"}, "widget.font"),
    ("font loading a URL", {"font": "url(https://evil.example/x)"}, "widget.font"),
    ("icon running script", {"launcher_icon": "javascript:alert(1)"}, "widget.launcher_icon"),
    ("icon over plain http", {"launcher_icon": "http://example.com/i.png"}, "widget.launcher_icon"),
    ("icon of HTML", {"launcher_icon": "data:text/html,<b>x</b>"}, "widget.launcher_icon"),
    ("text too long", {"texts": {"title": "x" * 1001}}, "widget.texts.title"),
    ("text not text", {"texts": {"placeholder": 3}}, "widget.texts.placeholder"),
    ("title too long", {"title": "x" * 1001}, "widget.title"),
    ("texts not an object", {"texts": ["Chat"]}, "widget.texts"),
    ("direction", {"dir": "sideways"}, "widget.dir"),
    ("language", {"lang": 'fr"><script>'}, "widget.lang"),
    ("unknown key", {"colour": "#123456"}, "widget.colour"),
]


@pytest.mark.parametrize(("value", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_invalid_values_are_refused_and_nothing_is_stored(
    gateway: GatewayProcess, value: dict[str, Any], field: str
) -> None:
    with admin_client(gateway.base_url) as api:
        before = api.get(TOUCHPOINT).json()["widget"]
        # a valid change next to the invalid one: neither is stored
        r = api.patch(TOUCHPOINT, json={"widget": {"texts": {"send": "Go"}, **value}})
        assert r.status_code == 422, r.text
        fields = r.json()["error"]["fields"]
        assert [f["field"] for f in fields] == [field], fields
        assert fields[0]["message"], fields
        assert api.get(TOUCHPOINT).json()["widget"] == before
