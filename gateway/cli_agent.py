"""``gateway agent add | list | set-password``: accounts from the server's shell.

An installation without the demo has no account at all, and the admin API wants an
admin: so, unlike ``gateway touchpoint``, these commands write to the database
themselves, opened from the same ``GATEWAY_*`` settings as ``gateway serve`` (run them
where a node runs, with its environment, e.g. ``docker compose exec gateway-1 gateway
agent add ...``). They check what the admin API checks, with its own rules (email,
name, role, queues, password length; an email is taken whatever its case), and hash
with the gateway's password hashing. Then they tell the running nodes over Redis
(``GATEWAY_REDIS_URL``), as an admin's change through the API does: every node reloads
its configuration, the router learns of a new agent, and a new password closes the
agent's open consoles. A new password also clears the account's failed logins in
Redis, where the nodes count them: an agent locked out by them logs in at once. A node
without Redis is not told: logins and the admin section work at once (they read the
database), the console and routing once the node reloads (any change saved in the admin
section, or a restart), and failed logins it counted in its memory still lock the
account until their hour has passed or the node restarts.

The password is never an argument (shell history, ``ps``): in a terminal it is typed
twice at a prompt that does not echo; otherwise it is the first line of standard input
(``printf '%s\\n' "$PASSWORD" | gateway agent add ...``).

Exit codes (docs/deploy.md, "The first admin", the same for ``gateway touchpoint``): 0
done; 2 refused input (every problem on its own line: bad input, an email already
taken, no agent with that email, a bad configuration, a usage error); 1 the database
cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, get_args

import msgspec

from gateway.auth import hash_password, new_id
from gateway.errors import ConfigError, Conflict, GatewayError, InvalidInput, NotFound
from gateway.model.records import Agent
from gateway.ports.store import create_store
from gateway.ports.store.base import Store
from gateway.settings import Settings, load_settings
from gateway.web.admin.config import missing_ids, visible_name
from gateway.web.admin.http import convert
from gateway.web.admin.schemas import AgentCreate, Email, Name, Password
from routing.model import Role

# Redis is asked to take the news within this; the agent is written by then.
NOTIFY_TIMEOUT = 10.0

Action = Callable[[argparse.Namespace, Store, Settings], Awaitable[int]]


class Refused(Exception):
    """Input the gateway does not take: what is wrong, field by field."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(fields[0][1])
        self.fields = fields


class _NewPassword(msgspec.Struct, forbid_unknown_fields=True):
    password: Password


class _Email(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class _Name(msgspec.Struct, forbid_unknown_fields=True):
    name: Name


# The admin API's rules (gateway/web/admin/schemas.py) said in words: msgspec's own
# messages name a regex or a length bound.
EMAIL_RULE = "is not an email address (name@example.com, at most 254 characters)"
NAME_RULE = "is longer than 200 characters"
PASSWORD_RULE = "a password has 8 to 1,024 characters"


def _checked(data: dict[str, str], type_: type[Any]) -> bool:
    """Whether ``data`` passes the admin API's rule for its one field."""
    try:
        convert(data, type_)
    except InvalidInput:
        return False
    return True


def _email(value: str, errors: list[tuple[str, str]]) -> str:
    """The email as stored (trimmed), or an error in words on ``errors``."""
    if not _checked({"email": value}, _Email):
        errors.append(("email", f"{value!r} {EMAIL_RULE}"))
    return value.strip()


def _read_password(email: str) -> str:
    """Typed twice without echo in a terminal; else the first line of standard input.
    Checked with the admin API's rule (its length)."""
    if sys.stdin.isatty():
        password = getpass.getpass(f"new password for {email}: ")
        if getpass.getpass("the same again: ") != password:
            raise Refused([("password", "the two passwords differ")])
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise Refused([("password", "none given: type it at the prompt, or pipe it as one line")])
    if not _checked({"password": password}, _NewPassword):
        raise Refused([("password", f"{len(password)} characters: {PASSWORD_RULE}")])
    return password


async def tell_nodes(settings: Settings) -> str:
    """Every running node reloads its configuration: the message a node broadcasts after
    an admin's change (gateway/services/router_shell.py), sent on the cluster's log
    topic. Empty when sent; else why the nodes were not told."""
    if not settings.redis_url:
        return "no GATEWAY_REDIS_URL: a running node is not told"
    from gateway import topics
    from gateway.cluster.messages import ConfigChanged, encode
    from gateway.ports.bus.redis import RedisBus

    # the bus's own warning would say it a second time, less clearly
    logging.getLogger("gateway.ports.bus.redis").setLevel(logging.ERROR)
    bus = RedisBus(settings.redis_url, client_name="gateway-cli")
    try:
        async with asyncio.timeout(NOTIFY_TIMEOUT):
            await bus.publish(topics.LOG, encode(ConfigChanged(origin="cli")))
    except (TimeoutError, GatewayError) as exc:
        why = str(exc).rstrip(".") or "no answer in time"
        return f"the running nodes could not be told through Redis ({why})"
    finally:
        await bus.stop()
    return ""


def _told(problem: str) -> None:
    if problem:
        print(
            f"gateway: note: {problem}; the console and routing see the change once a "
            "node reloads its configuration (any change saved in the admin section, or "
            "a restart); logins and the admin section see it now",
            file=sys.stderr,
        )


async def _add(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    # everything but the password first: nobody types one for a command refused anyway;
    # each field on its own, so that every problem is said at once (docs/deploy.md)
    errors: list[tuple[str, str]] = []
    _email(args.email, errors)
    name = visible_name(args.name, "name", errors)
    if name and not _checked({"name": args.name}, _Name):
        errors.append(("name", NAME_RULE))
    if missing := missing_ids(args.queue, {q.id for q in await store.list_queues()}):
        errors.append(("queue_ids", f"unknown queue id(s): {', '.join(missing)}"))
    if errors:
        raise Refused(errors)
    # the whole body as the admin API takes it (the role, the queue ids' form)
    body = convert(
        {"email": args.email, "name": args.name, "role": args.role, "queue_ids": args.queue},
        AgentCreate,
    )
    email = body.email.strip()
    await _check_free(store, email)
    agent = Agent(
        id=new_id("ag"),
        email=email,
        name=name,
        role=body.role,
        queue_ids=list(dict.fromkeys(body.queue_ids)),
        password_hash=hash_password(_read_password(email)),
    )
    try:
        await store.create_agent(agent)
    except Conflict:  # created meanwhile by someone else
        raise Refused([("email", "this email belongs to another agent")]) from None
    print(f"agent {agent.id} created: {agent.email} ({agent.role})")
    _told(await tell_nodes(settings))
    return 0


async def _check_free(store: Store, email: str) -> None:
    try:
        other = await store.get_agent_by_email(email)
    except NotFound:
        return
    raise Refused([("email", f"this email belongs to another agent: {other.email} ({other.id})")])


async def _list(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    for a in sorted(await store.list_agents(), key=lambda a: a.email.lower()):
        state = "active" if a.active else "inactive"
        if not a.password_hash:
            state += ", no password"
        print(f"{a.id}\t{a.role}\t{state}\t{a.email}\t{a.name}")
    return 0


async def _set_password(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    errors: list[tuple[str, str]] = []
    email = _email(args.email, errors)
    if errors:
        raise Refused(errors)
    try:
        agent = await store.get_agent_by_email(email)
    except NotFound:
        raise Refused([("email", f"no agent has the email {email}")]) from None
    password_hash = hash_password(_read_password(agent.email))
    try:  # only if it is still there: an agent deleted meanwhile stays deleted
        await store.update_agent(msgspec.structs.replace(agent, password_hash=password_hash))
    except NotFound:
        raise Refused([("email", f"no agent has the email {email}")]) from None
    # as the admin API does: a stolen token dies with the old password
    ended = await store.revoke_agent_sessions(agent.id)
    print(f"password of {agent.email} changed; {len(ended)} login session(s) ended")
    if not agent.active:
        print(
            f"gateway: note: {agent.email} is deactivated: it logs in once an admin activates it",
            file=sys.stderr,
        )
    if problem := await _clear_login_failures(settings, agent.email):
        print(f"gateway: note: {problem}", file=sys.stderr)
    _told(await tell_nodes(settings))
    return 0


async def _clear_login_failures(settings: Settings, email: str) -> str:
    """The account's failed logins forgotten, as an admin's password reset does: a
    locked-out agent logs in with the new password at once. They are counted in Redis
    when the nodes share one; else in a node's memory, out of this command's reach.
    Empty when cleared; else why not."""
    if not settings.redis_url:
        return (
            "no GATEWAY_REDIS_URL: a node counts failed logins in its memory; an account "
            "locked by them logs in once the hour has passed or the node restarts "
            "(a password set in the admin section clears them at once)"
        )
    from gateway.web.limits import Limits

    logging.getLogger("gateway.limits").setLevel(logging.ERROR)  # said below, once
    try:
        async with asyncio.timeout(NOTIFY_TIMEOUT):
            cleared = await Limits(settings).clear_login_failures(email)
    except TimeoutError:
        cleared = False
    return "" if cleared else "the failed logins of the account could not be cleared in Redis"


async def _with_store(args: argparse.Namespace, settings: Settings) -> int:
    store = create_store(settings.store_url)
    await store.open()  # runs the migrations, as a node's start does
    try:
        action: Action = args.action
        return await action(args, store, settings)
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        if not settings.uses_postgres:
            settings.prepare_data_dir()  # where gateway serve would make its SQLite file
        return asyncio.run(_with_store(args, settings))
    except ConfigError as exc:
        print(f"gateway: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except (Refused, InvalidInput) as exc:
        print("gateway: refused:", file=sys.stderr)
        for field, message in exc.fields:
            print(f"  {field or 'body'}: {message}", file=sys.stderr)
        return 2
    except (EOFError, KeyboardInterrupt):  # the prompt closed or interrupted
        print("\ngateway: cancelled", file=sys.stderr)
        return 2
    except GatewayError as exc:  # the database: unreachable, refused the connection
        print(f"gateway: cannot use the database: {exc}", file=sys.stderr)
        return 1


def add_parser(sub: Any) -> None:
    """``gateway agent …`` on the CLI's subcommands."""
    ag = sub.add_parser(
        "agent",
        help="add agents and admins, list them, set a password (on this server's database)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = ag.add_subparsers(dest="agent_command", required=True)
    add = actions.add_parser(
        "add", help="create an agent, supervisor or admin (the password is asked for)"
    )
    add.add_argument("--email", required=True, help="their login")
    add.add_argument("--name", required=True, help="the name others see")
    add.add_argument(
        "--role", choices=get_args(Role), default="agent", help="what they may do (agent)"
    )
    add.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="QUEUE_ID",
        help="a queue they answer (repeat for several)",
    )
    add.set_defaults(func=run, action=_add)
    ls = actions.add_parser("list", help="the agents: id, role, state, email, name")
    ls.set_defaults(func=run, action=_list)
    pw = actions.add_parser(
        "set-password", help="give an agent a new password; their login sessions end"
    )
    pw.add_argument("--email", required=True, help="their login")
    pw.set_defaults(func=run, action=_set_password)
