"""``gateway touchpoint add | list | check``: chat touchpoints for scripted set-ups.

The commands talk to a running gateway's admin API, as an admin, exactly as the admin
section in the browser does: the gateway validates with the very code the API uses
(gateway/web/admin/touchpoints.py and the chat adapter's domain check), the change
reaches every node at once, and nobody needs the database's credentials. Where:
``--url`` (default ``GATEWAY_PUBLIC_URL``, else ``http://GATEWAY_HOST:GATEWAY_PORT``);
who: ``--email`` (``GATEWAY_ADMIN_EMAIL``) with the password in
``GATEWAY_ADMIN_PASSWORD`` or typed at the prompt, or a token in
``GATEWAY_ADMIN_TOKEN``. Exit codes, those of ``gateway agent`` (docs/deploy.md, "The
first admin"): 0 done (``check``: matches); 2 refused input (each problem printed; no admin
named, no password, a bad ``--url``); 1 the gateway cannot be reached or the login
failed (a wrong password, not an admin, a token refused); 3 ``check``: does not match.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from gateway.settings import http_url_problem

TIMEOUT = 15.0


class Refused(Exception):
    """The gateway answered with an error: its message and field problems."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(error.get("message", f"HTTP {status}"))
        self.status = status
        self.code = str(error.get("code", ""))
        self.fields: list[dict[str, str]] = list(error.get("fields", []))


class Unreachable(Exception):
    """The gateway cannot be reached, or it does not let this admin in (exit 1)."""


class Usage(Exception):
    """Input missing before anything is asked of the gateway (exit 2)."""


# ``check``'s answer "no match": neither refused input (2) nor the gateway out of reach (1)
NO_MATCH = 3


class AdminAPI:
    def __init__(self, url: str, token: str = "") -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            raise Refused(exc.code, answer) from None
        except (urllib.error.URLError, OSError) as exc:
            raise Unreachable(f"cannot reach the gateway at {self.url}: {exc}") from None
        return json.loads(raw) if raw else None

    def log_in(self, email: str, password: str) -> None:
        try:
            answer = self.call("POST", "/api/login", {"email": email, "password": password})
        except Refused as exc:
            raise Unreachable(f"login as {email} failed: {exc}") from None
        self.token = answer["token"]
        if answer["agent"]["role"] != "admin":
            raise Unreachable(f"{email} is not an admin")


def _default_url() -> str:
    public = os.environ.get("GATEWAY_PUBLIC_URL", "")
    if public:
        return public
    host = os.environ.get("GATEWAY_HOST", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{os.environ.get('GATEWAY_PORT', '8000')}"


def _gateway_url(value: str) -> str:
    """--url checked before use: a usage error (exit 2) rather than a traceback."""
    problem = http_url_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(
            f"{problem} (the default comes from GATEWAY_PUBLIC_URL, "
            "else GATEWAY_HOST and GATEWAY_PORT)"
        )
    return value


def _connect(args: argparse.Namespace) -> AdminAPI:
    api = AdminAPI(args.url, os.environ.get("GATEWAY_ADMIN_TOKEN", ""))
    if api.token:
        return api
    if not args.email:
        raise Usage("who is the admin? pass --email (or set GATEWAY_ADMIN_EMAIL)")
    password = os.environ.get("GATEWAY_ADMIN_PASSWORD") or (
        getpass.getpass(f"password for {args.email}: ") if sys.stdin.isatty() else ""
    )
    if not password:
        raise Usage("no password: set GATEWAY_ADMIN_PASSWORD or run in a terminal")
    api.log_in(args.email, password)
    return api


def _add(args: argparse.Namespace, api: AdminAPI) -> int:
    body: dict[str, Any] = {
        "name": args.name,
        "channel": "chat",
        "domain": args.domain,
        "queue_ids": args.queue,
        "flow": {"default": {}},
        "display_name": args.display_name or "",
    }
    if args.id:
        body["id"] = args.id
    tp = api.call("POST", "/api/admin/touchpoints", body)
    tp_id = quote(tp["id"], safe="")
    if args.activate:
        tp = api.call("POST", f"/api/admin/touchpoints/{tp_id}/activate")
    snippet = api.call("GET", f"/api/admin/touchpoints/{tp_id}/snippet")
    state = "active" if tp["active"] else "inactive: activate it to accept chats"
    print(f"touchpoint {tp['id']} created ({state})")
    print(f"name:     {tp['name']}")
    print(f"domain:   {tp['domain']}")
    print(f"snippet:  {snippet['script']}")
    return 0


def _list(args: argparse.Namespace, api: AdminAPI) -> int:
    for tp in api.call("GET", "/api/admin/touchpoints"):
        state = "active" if tp["active"] else "inactive"
        print(f"{tp['id']}\t{tp['channel']}\t{state}\t{tp['domain'] or '-'}\t{tp['name']}")
    return 0


def _check(args: argparse.Namespace, api: AdminAPI) -> int:
    tp_id = quote(args.touchpoint, safe="")
    query = urlencode({"page_url": args.page_url})
    m = api.call("GET", f"/api/admin/touchpoints/{tp_id}/match?{query}")
    print(f"domain:   {m['domain']}")
    print(f"accepts:  {m['accepts']}")
    print(f"{'match:   ' if m['matched'] else 'no match:'} {m['reason']}")
    return 0 if m["matched"] else NO_MATCH


def run(args: argparse.Namespace) -> int:
    try:
        api = _connect(args)
        result: int = args.action(args, api)
        return result
    except Usage as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except Unreachable as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except Refused as exc:
        print(f"gateway: refused: {exc}", file=sys.stderr)
        for problem in exc.fields:
            print(f"  {problem.get('field') or 'body'}: {problem.get('message')}", file=sys.stderr)
        # not let in (a token refused), or the gateway failing: not the input's fault
        return 1 if exc.status in (401, 403) or exc.status >= 500 else 2


def add_parser(sub: Any) -> None:
    """``gateway touchpoint …`` on the CLI's subcommands."""
    tp = sub.add_parser(
        "touchpoint",
        help="add, list and check chat touchpoints on a running gateway (as an admin)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    # argparse passes the default through type= too: a bad GATEWAY_PORT is named
    common.add_argument(
        "--url", type=_gateway_url, default=_default_url(), help="the gateway's URL"
    )
    common.add_argument(
        "--email", default=os.environ.get("GATEWAY_ADMIN_EMAIL", ""), help="an admin's email"
    )
    actions = tp.add_subparsers(dest="touchpoint_command", required=True)
    add = actions.add_parser("add", parents=[common], help="create a chat touchpoint for a website")
    add.add_argument("--name", required=True, help="its internal name, e.g. 'Shop (EN)'")
    add.add_argument("--domain", required=True, help="the site, e.g. shop.example (no path)")
    add.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="QUEUE_ID",
        help="a queue whose agents answer (repeat for several)",
    )
    add.add_argument("--display-name", help="the name visitors see on automatic messages")
    add.add_argument("--id", help="its id (generated when absent)")
    add.add_argument("--activate", action="store_true", help="accept chats at once")
    add.set_defaults(func=run, action=_add)
    ls = actions.add_parser(
        "list", parents=[common], help="the touchpoints: id, channel, state, domain, name"
    )
    ls.set_defaults(func=run, action=_list)
    check = actions.add_parser(
        "check", parents=[common], help="does a page match a touchpoint's domain, and why"
    )
    check.add_argument("touchpoint", metavar="TOUCHPOINT_ID")
    check.add_argument("page_url", metavar="PAGE_URL")
    check.set_defaults(func=run, action=_check)
