"""The settings a Meta touchpoint keeps: the Graph API's base URL and version, the app
secret that signs webhooks and the verify token of the subscription (both secrets), and
each platform's own (WhatsApp's phone number id and token, Messenger's page and token).

The access token and the app secret go into requests (an ``Authorization`` header, a
URL, a signature's key): surrounding whitespace (a pasted line break) is removed, and
what is left must be printable ASCII without spaces (``credential_problem``), or the
touchpoint is refused with a 422 on the field rather than every reply failing. The
verify token is the admin's own string: only its surrounding whitespace is removed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from gateway.model.records import Touchpoint
from gateway.services.deliveries import credential_problem
from gateway.settings import http_url_problem

DEFAULT_API: Final = "https://graph.facebook.com"
DEFAULT_VERSION: Final = "v21.0"
SECRETS: Final = ("app_secret", "verify_token")


def check(
    tp: Touchpoint,
    id_field: str,
    token_field: str,
    known: Iterable[str],
    others: Iterable[Touchpoint],
    what: str,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Normalised settings and problems. ``id_field`` (a numeric id) may belong to one
    touchpoint only: ``others`` are the channel's other touchpoints."""
    s = dict(tp.settings)
    problems: list[tuple[str, str]] = []
    if tp.domain:
        problems.append(("domain", f"{tp.channel} touchpoints have no domain"))
    ident = str(s.get(id_field, "")).strip()
    s[id_field] = ident
    if not re.fullmatch(r"[0-9]{1,32}", ident):
        problems.append((f"settings.{id_field}", f"the {what}: digits"))
    else:
        for other in others:
            if other.id != tp.id and str(other.settings.get(id_field, "")) == ident:
                problems.append(
                    (
                        f"settings.{id_field}",
                        f"the {what} {ident} is already touchpoint {other.id}'s",
                    )
                )
    for name in (token_field, *sorted(SECRETS)):
        value = str(s.get(name, "")).strip()
        s[name] = value
        problem = "required" if not value else ""
        if value and name != "verify_token":
            problem = credential_problem(value)
        if problem:
            problems.append((f"settings.{name}", problem))
    api = str(s.get("api_base", "") or DEFAULT_API).rstrip("/")
    if http_url_problem(api):  # also a bad port or an unclosed IPv6 bracket (a 500)
        problems.append(("settings.api_base", "an http(s) URL, e.g. https://graph.facebook.com"))
    s["api_base"] = api
    version = str(s.get("api_version", "") or DEFAULT_VERSION)
    if not re.fullmatch(r"v[0-9]{1,3}\.[0-9]{1,2}", version):
        problems.append(("settings.api_version", "a Graph API version, e.g. v21.0"))
    s["api_version"] = version
    allowed = {id_field, token_field, "api_base", "api_version", *SECRETS, *known}
    problems += [(f"settings.{k}", "unknown setting") for k in sorted(set(s) - allowed)]
    return s, problems


def graph_url(tp: Touchpoint, path: str) -> str:
    s = tp.settings
    return f"{str(s.get('api_base') or DEFAULT_API).rstrip('/')}/{s.get('api_version') or DEFAULT_VERSION}/{path}"


def of_app(
    touchpoints: Iterable[Touchpoint], signer: Touchpoint, channel: str, key: str, value: str
) -> Touchpoint | None:
    """The ``channel`` touchpoint whose setting ``key`` is ``value``, if it belongs to the
    app that signed the event (``signer``'s): one app's webhook never speaks for another's
    page or number."""
    for tp in touchpoints:
        if tp.channel == channel and tp.settings.get(key) == value:
            return tp if same_app(tp, signer) else None
    return None


def same_app(a: Touchpoint, b: Touchpoint) -> bool:
    """Two touchpoints of one Meta app (one webhook subscription signs both)."""
    return bool(a.settings.get("app_secret")) and a.settings.get("app_secret") == b.settings.get(
        "app_secret"
    )
