"""HTML from email, made safe and readable: sanitised with nh3 (the Ammonia sanitiser)
before anything renders or stores it, split into what is new and what is quoted, and
turned into plain text for the conversation's body.

Nothing here executes or fetches anything: scripts, styles with expressions, event
handlers, forms, frames and objects are removed by nh3's allow-list; remote images stay
as ``<img src>`` and the console's sandboxed frame blocks them by its Content Security
Policy until the agent asks (docs/channels/email.md, "What the agent sees").
"""

from __future__ import annotations

import html as _html
import re

import nh3

# What an email may keep: text formatting, links, images, tables. No script, style,
# form, iframe, object, embed, meta, link or base; no event handler attributes.
TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col",
        "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s",
        "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
        "th", "thead", "tr", "tt", "u", "ul",
    }
)  # fmt: skip
_COMMON = {"class", "dir", "lang", "title", "align", "style"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON,
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height", "border"},
    "td": {"colspan", "rowspan", "valign", "width", "bgcolor"},
    "th": {"colspan", "rowspan", "valign", "width", "bgcolor"},
    "table": {"border", "cellpadding", "cellspacing", "width", "bgcolor"},
    "font": {"color", "face", "size"},
    "blockquote": {"type"},
    "div": {"id"},
    "hr": {"id"},
    "ol": {"start", "type"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid", "data"})
# Inline CSS properties kept (no url(), no position, no behaviour/expression).
STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
        "text-align", "text-decoration", "margin", "margin-left", "margin-right",
        "margin-top", "margin-bottom", "padding", "padding-left", "padding-right",
        "border", "border-left", "width", "max-width", "height", "line-height",
        "vertical-align", "white-space",
    }
)  # fmt: skip


_DATA_IMAGE = re.compile(r"(?i)\s*data:image/(png|gif|jpe?g|bmp|webp);")


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    # data: only for images (inline pictures); never a data: link
    data = attribute in ("href", "src") and value.strip().lower().startswith("data:")
    if data and (element != "img" or not _DATA_IMAGE.match(value)):
        return None
    return value


def sanitise(html: str) -> str:
    """The HTML with everything that could run, submit or frame removed."""
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(STYLE_PROPERTIES),
        attribute_filter=_keep_attribute,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# Where quoted text starts in the HTML the common clients write (Gmail, Apple Mail,
# Thunderbird, Outlook), after sanitising (attributes lower-cased by the parser).
_QUOTE_MARKERS = re.compile(
    r'<div class="gmail_quote|<blockquote|<div class="moz-cite-prefix"|<div id="divRplyFwdMsg"'
    r'|<div id="appendonsend"|<hr id="stopSpelling"|<div class="yahoo_quoted"',
    re.IGNORECASE,
)


def split_quoted_html(clean: str) -> tuple[str, str]:
    """(what is new, what is quoted) of sanitised HTML; each part sanitised again so
    that both are balanced. Nothing is quoted when the marker is at the very start (a
    forward whose whole content is the quote keeps it visible)."""
    match = _QUOTE_MARKERS.search(clean)
    if match is None or not html_to_text(clean[: match.start()]).strip():
        return clean, ""
    return sanitise(clean[: match.start()]), sanitise(clean[match.start() :])


_BREAKS = re.compile(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote|table|pre)>")


def html_to_text(html: str) -> str:
    """Readable plain text of (sanitised) HTML."""
    text = _BREAKS.sub("\n", html)
    text = _html.unescape(nh3.clean(text, tags=set()))
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_WROTE = re.compile(
    r"^(On .{1,200}wrote:|Le .{1,200}a écrit ?:|Am .{1,200}schrieb .{0,100}:"
    r"|-{2,} ?Original Message ?-{2,}|From: .{1,200})\s*$",
    re.IGNORECASE,
)


def split_quoted_text(text: str) -> tuple[str, str]:
    """(what is new, what is quoted) of a plain-text email: quoted text begins at an
    attribution line ("On ... wrote:", "-----Original Message-----") or at the first
    line of a trailing block of "> " lines."""
    lines = text.splitlines()
    cut = len(lines)
    for i, line in enumerate(lines):
        if _WROTE.match(line.strip()):
            cut = i
            break
    else:
        # a trailing run of quoted lines (blank lines inside it allowed)
        j = len(lines)
        while j > 0 and (lines[j - 1].startswith(">") or not lines[j - 1].strip()):
            j -= 1
        if any(line.startswith(">") for line in lines[j:]):
            cut = j
    new, quoted = "\n".join(lines[:cut]).rstrip(), "\n".join(lines[cut:]).strip()
    if not new.strip():
        return text.strip(), ""
    return new, quoted


def text_to_html(text: str) -> str:
    """Plain text as HTML paragraphs (what an agent typed, for the HTML part)."""
    paragraphs = [p for p in re.split(r"\n{2,}", text.strip()) if p.strip()]
    return "".join("<p>" + _html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
