"""The ``gateway`` command: ``serve`` runs the server; admin commands beside it
(``domain-match``, ``touchpoint`` in cli_touchpoint.py, ``agent`` in cli_agent.py)."""

from __future__ import annotations

import argparse
import gc
import socket
import sys
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette

from gateway import cli_agent, cli_touchpoint
from gateway.errors import ConfigError
from gateway.settings import Settings

# Young collections this far apart: a message's objects (frames, futures, rows) are
# mostly gone by the next one instead of promoted to older generations, whose growth
# sets off the full collections that stall every socket of the node at once. The count
# is of objects allocated less those freed, so steady traffic moves it little, and each
# young collection walks the pending reads of every socket active since the last one
# (tens of ms at thousands of sockets): at 10,000 a busy node ran one every few seconds
# (docs/deploy.md). Cyclic garbage waits for at most this many objects.
GC_THRESHOLD = (100_000, 10, 10)


def settle_heap() -> None:
    """After start-up: what start-up left (modules, classes, settings, the router's
    state) is moved out of the collector's reach (``gc.freeze``), so a full collection
    no longer walks it on every message-time pass; young collections are spaced out
    (:data:`GC_THRESHOLD`). Nothing is leaked: frozen objects are still freed by their
    reference counts, only cycles among them stay."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


# uvicorn's own default backlog, which it used when it bound the port itself
BACKLOG = 2048


class CannotListen(Exception):
    """GATEWAY_HOST and GATEWAY_PORT cannot be listened on; the message says why."""


def listen(settings: Settings) -> list[socket.socket]:
    """Sockets listening on GATEWAY_HOST:GATEWAY_PORT, one for each address the host
    resolves to (as uvicorn's own bind did: asyncio's ``create_server``), accepting once
    the server starts: bound before anything starts, so that an address in use or a host that does not resolve
    stops ``gateway serve`` at once, before migrations, the demo or a data directory."""
    where = f"cannot listen on GATEWAY_HOST={settings.host} GATEWAY_PORT={settings.port}"
    try:
        infos = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:  # socket.gaierror: "Name or service not known"
        raise CannotListen(f"{where}: {exc.strerror or exc}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in infos:
            if any(s.family == family and s.getsockname()[:2] == address[:2] for s in sockets):
                continue  # getaddrinfo may name an address twice
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # as asyncio: a family this kernel lacks (IPv6 off) is skipped
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio: "::" is not also 0.0.0.0
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            # listening at once: a bound socket that does not listen yet can be bound
            # again by another process's SO_REUSEADDR socket, which would then take the
            # port while this node starts (connections wait in the backlog meanwhile)
            sock.listen(BACKLOG)
        if not sockets:
            raise OSError(f"no socket for any address of {settings.host}")
    except OSError as exc:  # "Address already in use", "Cannot assign requested address"
        for sock in sockets:
            sock.close()
        raise CannotListen(f"{where}: {exc.strerror or exc}") from None
    return sockets


def build_server(app: Starlette, settings: Settings) -> uvicorn.Server:
    """The uvicorn server ``gateway serve`` runs: the gateway's limits (frame size, and
    the connection limits of gateway/web/transport.py), no compression, pings, and a
    drain that starts when SIGTERM arrives."""

    class DrainingServer(uvicorn.Server):
        """Marks the node as draining the moment SIGTERM arrives, before uvicorn stops
        accepting and closes the sockets with 1012 (docs/deploy.md, "the drain")."""

        def handle_exit(self, sig: int, frame: object) -> None:
            app.state.web.health.begin_drain()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]
            # uvicorn (0.54) raises the signal again once drained (a KeyboardInterrupt
            # traceback, or death by SIGTERM); a clean drain exits 0 instead. Its list is
            # private: looked up, so another version only brings the old exit back.
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().startup(sockets)
            except SystemExit:
                if not self.lifespan.should_exit:  # the lifespan started: the bind failed
                    print(
                        f"gateway: cannot start: cannot listen on GATEWAY_HOST={settings.host} "
                        f"GATEWAY_PORT={settings.port}",
                        file=sys.stderr,
                        flush=True,
                    )
                raise
            settle_heap()
            banner(settings)

    from gateway.app import banner
    from gateway.web.direct import DirectSockets
    from gateway.web.transport import protocols

    http, ws = protocols(settings)
    config = uvicorn.Config(
        DirectSockets(app),
        http=http,
        ws=ws,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        ws_per_message_deflate=False,
        # typed int by uvicorn, used as asyncio.wait_for's timeout: a fraction works
        timeout_graceful_shutdown=settings.drain_timeout,  # type: ignore[arg-type]
        proxy_headers=False,
    )
    return DrainingServer(config)


def _serve(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.model.attachment_rules import chat_rule
    from gateway.settings import load_settings, unknown_variables

    # before the settings are read: a typo's warning explains a refusal too (a secret
    # key required, one misspelt)
    for warning in unknown_variables():
        print(f"gateway: warning: {warning}", file=sys.stderr)
    sockets: list[socket.socket] = []
    try:
        settings = load_settings()
        for warning in settings.warnings():
            print(f"gateway: warning: {warning}", file=sys.stderr)
        # the attachment types are the files' model's to parse: before anything is
        # written (the data directory, its secret key)
        chat_rule(settings.chat_attachment_types, settings.chat_attachment_max_bytes)
        sockets = listen(settings)
        settings.prepare_data_dir()
        server = build_server(create_app(settings), settings)
    except ConfigError as exc:
        for sock in sockets:
            sock.close()
        print(f"gateway: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except CannotListen as exc:
        print(f"gateway: cannot start: {exc}", file=sys.stderr)
        return 3
    try:
        server.run(sockets=sockets)
    except SystemExit as exc:  # uvicorn's own exit when start-up failed
        return exc.code if isinstance(exc.code, int) and exc.code else 3
    finally:
        for sock in sockets:
            sock.close()
    return 0 if server.started else 3


def _domain_match(args: argparse.Namespace) -> int:
    from channels.chat.domain import InvalidDomain, match_origin, match_page, parse_domain

    try:
        rule = parse_domain(args.configured)
    except InvalidDomain as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    check = match_origin if args.origin else match_page
    result = check(rule, args.page_url)
    print(f"domain:   {rule}")
    print(f"accepts:  {rule.describe()}")
    print(f"{'origin:  ' if args.origin else 'page:    '} {args.page_url}")
    print(f"{'match:   ' if result.matched else 'no match:'} {result.reason}")
    return 0 if result.matched else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (settings from GATEWAY_* variables)")
    serve.set_defaults(func=_serve)
    dm = sub.add_parser(
        "domain-match",
        help="say whether and why a page matches a touchpoint domain (exit 0 yes, 1 no, 2 invalid)",
        description="Explain the chat domain rule for one page; see docs/domains.md.",
    )
    dm.add_argument("configured", metavar="CONFIGURED", help="the touchpoint's domain")
    dm.add_argument("page_url", metavar="PAGE_URL", help="the page URL (or Origin with --origin)")
    dm.add_argument("--origin", action="store_true", help="PAGE_URL is an Origin header value")
    dm.set_defaults(func=_domain_match)
    cli_touchpoint.add_parser(sub)
    cli_agent.add_parser(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
