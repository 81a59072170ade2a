"""The one settings object.

Read from ``GATEWAY_*`` environment variables, over an optional TOML file named by
``GATEWAY_CONFIG_FILE`` (keys are the field names in lower case), over the defaults
below. Validated once at start-up: a bad value raises :class:`ConfigError` naming the
variable. docs/configuration.md documents every field; a test keeps the two in step.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from gateway.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PREFIX = "GATEWAY_"

# 0 would listen on a random port while the banner, the demo and the webhooks' base
# URL all say 0
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
RateLimit = Annotated[int, msgspec.Meta(ge=0)]  # 0: no limit

# The names GATEWAY_DEMO_PROVIDERS accepts (channels/phone keeps one touchpoint each).
DEMO_PROVIDERS = ("twilio", "whatsapp", "messenger")
# A frame must hold a message of MAX_MESSAGE_CHARS characters of up to 4 bytes in UTF-8
# each, plus the frame's other fields.
FRAME_OVERHEAD = 256
# The longest message body in characters: a fixed part of the protocol (its frames, the
# integration API, templates), not a setting (GATEWAY_MAX_MESSAGE_CHARS, which was one
# and changed nothing, is refused: docs/configuration.md).
MAX_MESSAGE_CHARS = 4000
# Every float setting is seconds: far beyond ten years a lease overflows Redis's PX
# (whole milliseconds: "value is not an integer or out of range") while any of them
# means "never" anyway.
MAX_SECONDS = 10 * 365 * 24 * 3600
# The shortest history retention (seconds): a closed conversation is still read for a
# while (the visitor's rating and transcript, the day's reports).
MIN_HISTORY_RETENTION = 86400.0
# How docs/deploy.md has an operator generate GATEWAY_SECRET_KEY.
SECRET_KEY_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
# The deploy examples' placeholders (deploy/systemd/gateway.env.example,
# deploy/k8s/secret.example.yaml) hold this: a key anyone can read signs no token.
PLACEHOLDER = "change-me"
# The largest whole number a JSON number (the widget's limits, a token's exp) and a
# float's arithmetic keep exactly.
MAX_INT = 2**53 - 1
# A host name's labels (RFC 1123); an IP address is parsed apart.
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting of the gateway. Field docs are the ones docs/configuration.md shows."""

    host: str = "127.0.0.1"
    port: Port = 8000
    # empty: the SQLite file gateway.db in data_dir (see store_url)
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    data_dir: str = "data"
    demo: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    public_url: str = ""
    visitor_token_ttl: PositiveInt = 900
    visitor_token_grace: RateLimit = 900
    agent_token_ttl: PositiveInt = 43200
    max_frame_bytes: PositiveInt = 16384
    send_queue_size: PositiveInt = 256
    send_queue_bytes: PositiveInt = 4 * 1024 * 1024
    write_timeout: Positive = 20.0
    request_timeout: Positive = 15.0
    min_body_bytes_per_second: PositiveInt = 8 * 1024
    max_connections_per_ip: RateLimit = 100
    max_header_bytes: PositiveInt = 16384
    max_headers: PositiveInt = 100
    max_body_bytes: PositiveInt = 1024 * 1024
    max_public_body_bytes: PositiveInt = 64 * 1024
    max_webhook_body_bytes: PositiveInt = 3 * 1024 * 1024
    ping_interval: Positive = 20.0
    ping_timeout: Positive = 20.0
    offer_timeout: Positive = 30.0
    reoffer_cooldown: Positive = 120.0
    # a history frame's page when it gives no limit: at most the frame's own (200)
    history_page_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    drain_timeout: Positive = 10.0
    node_id: str = ""
    router_lease: Annotated[float, msgspec.Meta(ge=1.0)] = 5.0
    router_forward_timeout: Positive = 3.0
    frames_per_minute: RateLimit = 240
    connections_per_ip_per_hour: RateLimit = 1000
    conversations_per_ip_per_hour: RateLimit = 30
    conversations_per_touchpoint_per_hour: RateLimit = 1000
    logins_per_ip_per_minute: RateLimit = 10
    login_failures_per_account_per_hour: RateLimit = 20
    password_checks_waiting: PositiveInt = 32
    trusted_proxies: str = ""
    delivery_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8
    delivery_retry_base: Positive = 2.0
    delivery_lease: Positive = 60.0
    webhook_timeout: Positive = 10.0
    signature_tolerance: Positive = 300.0
    idempotency_ttl: Positive = 86400.0
    api_max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 262144
    outbox_retention: Positive = 604800.0
    # seconds a closed conversation is kept; 0: for ever
    history_retention: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    handover_words: str = "agent,human,person,operator,representative"
    # empty: files under data_dir/blobs (see blob_store_url)
    blob_url: str = ""
    attachment_link_ttl: PositiveInt = 300
    attachment_orphan_age: PositiveInt = 3600
    # /readyz asks the file storage at most once in this many seconds
    storage_check_interval: Positive = 5.0
    chat_attachment_types: str = (
        "jpg,png,gif,webp,pdf,txt,csv,doc,docx,xls,xlsx,ppt,pptx,odt,ods,mp3,mp4"
    )
    chat_attachment_max_bytes: PositiveInt = 10 * 1024 * 1024
    # demo only: the provider emulators' base URLs ("twilio=http://127.0.0.1:8101,...")
    demo_providers: str = ""
    # empty: /metrics answers anyone; else it asks for Authorization: Bearer <this>
    metrics_token: str = ""

    def __post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            # msgspec takes "inf" and "nan" for floats; a timeout of inf overflows later.
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{PREFIX}{name.upper()}: must be a finite number")
            if isinstance(value, float) and value > MAX_SECONDS:
                raise ConfigError(
                    f"{PREFIX}{name.upper()}: at most {MAX_SECONDS} seconds (10 years)"
                )
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_INT:
                raise ConfigError(f"{PREFIX}{name.upper()}: at most {MAX_INT} (2**53 - 1)")
        self._check_words()
        self._check_urls()
        if PLACEHOLDER in self.secret_key.lower():
            raise ConfigError(
                f"{PREFIX}SECRET_KEY: holds {PLACEHOLDER!r}, an example's placeholder "
                f"anyone can read: generate a key with {SECRET_KEY_COMMAND}"
            )
        if self.secret_key and len(self.secret_key) < 32:
            raise ConfigError(f"{PREFIX}SECRET_KEY: must be at least 32 characters")
        if self.secret_key and not self.secret_key.strip():
            raise ConfigError(f"{PREFIX}SECRET_KEY: blank (white space only)")
        if self.redis_url and not self.secret_key:
            # each node would generate its own key and refuse the others' tokens
            raise ConfigError(
                f"{PREFIX}SECRET_KEY: required when {PREFIX}REDIS_URL is set "
                "(every node of a cluster must sign with the same key)"
            )
        if 0 < self.history_retention < MIN_HISTORY_RETENTION:
            # a conversation's rating, transcript and wrap-up reports come after its close
            raise ConfigError(
                f"{PREFIX}HISTORY_RETENTION: at least {MIN_HISTORY_RETENTION:g} seconds "
                "(a day), or 0 to keep history for ever"
            )
        token = self.metrics_token
        if token and not (token.isascii() and token.isprintable() and " " not in token):
            # it is sent in an HTTP header, where other characters do not arrive intact
            raise ConfigError(
                f"{PREFIX}METRICS_TOKEN: printable ASCII without spaces, or empty for none"
            )
        self.trusted_proxy_networks  # noqa: B018 - parsing validates it
        self.demo_provider_urls  # noqa: B018 - parsing validates it
        self._check_pairs()

    def _check_words(self) -> None:
        """The settings that are names: the address to listen on, the data directory,
        this node's name."""
        if not _is_host(self.host):
            raise ConfigError(
                f"{PREFIX}HOST: {self.host!r} is not an IP address or a host name "
                "(0.0.0.0 listens on every address)"
            )
        if not self.data_dir.strip():
            raise ConfigError(f"{PREFIX}DATA_DIR: blank; name a directory (default: data)")
        if not self.node_id.isprintable() or any(c.isspace() for c in self.node_id):
            # it names the node in logs, presence and the router lease: leave it empty
            # for a random one
            raise ConfigError(
                f"{PREFIX}NODE_ID: {self.node_id!r} holds white space or control characters"
            )

    def _check_urls(self) -> None:
        store = self.store_url
        scheme = store.split(":", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ConfigError(
                f"{PREFIX}DATABASE_URL: unsupported scheme {scheme!r}; "
                "use sqlite:///path or postgresql://user@host/db",
                code="invalid_config",
            )
        if scheme == "sqlite" and (not store.startswith("sqlite:///") or store == "sqlite:///"):
            raise ConfigError(
                f"{PREFIX}DATABASE_URL: {store!r}: use sqlite:///relative/path, "
                "sqlite:////absolute/path or sqlite:///:memory:"
            )
        if scheme == "sqlite" and "?" in store:
            # the path is taken as it stands: "?mode=ro" would be part of the file's name
            raise ConfigError(f"{PREFIX}DATABASE_URL: {store!r}: a SQLite URL takes no options")
        if scheme == "sqlite" and Path(self.sqlite_path).is_dir():
            raise ConfigError(
                f"{PREFIX}DATABASE_URL: {self.sqlite_path!r} is a directory, not a database file"
            )
        if scheme != "sqlite":
            # asyncpg would find a bad port only at start-up, as a one-line failure
            try:
                netloc = urlsplit(store).netloc
            except ValueError as exc:  # an unclosed IPv6 bracket
                raise ConfigError(f"{PREFIX}DATABASE_URL: not a URL: {exc}") from None
            for host in netloc.rpartition("@")[2].split(","):
                tail = host.rpartition("]")[2]  # after an IPv6 address's brackets
                port = tail.rpartition(":")[2] if ":" in tail else ""
                if port and not (port.isdigit() and 0 < int(port) < 65536):
                    raise ConfigError(
                        f"{PREFIX}DATABASE_URL: the port {port!r} is not a number from 1 to 65535"
                    )
        if self.redis_url:
            if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigError(
                    f"{PREFIX}REDIS_URL: must start with redis://, rediss:// or unix://"
                )
            problem = _redis_url_problem(self.redis_url)
            if problem:
                raise ConfigError(f"{PREFIX}REDIS_URL: {problem}")
        problem = blob_url_problem(self.blob_store_url)
        if problem:
            raise ConfigError(f"{PREFIX}BLOB_URL: {problem}")
        if self.public_url:
            problem = http_url_problem(self.public_url)
            parts = urlsplit(self.public_url)
            if not problem and (
                parts.username is not None
                or parts.query
                or parts.fragment
                or parts.path not in ("", "/")
            ):
                # only the origin is used: as the gateway's own origin (where a user or a
                # path never matches a browser's Origin) and as the base of its links
                problem = f"{self.public_url!r} is not an origin (no user, path, query or #)"
            if problem:
                raise ConfigError(f"{PREFIX}PUBLIC_URL: {problem}, e.g. https://chat.example.com")

    def _check_pairs(self) -> None:
        if self.delivery_lease <= self.webhook_timeout:
            # a delivery still waiting for its receiver would be claimed by another node
            raise ConfigError(
                f"{PREFIX}DELIVERY_LEASE ({self.delivery_lease:g}) must be longer than "
                f"{PREFIX}WEBHOOK_TIMEOUT ({self.webhook_timeout:g})"
            )
        need = 4 * MAX_MESSAGE_CHARS + FRAME_OVERHEAD
        if self.max_frame_bytes < need:
            raise ConfigError(
                f"{PREFIX}MAX_FRAME_BYTES ({self.max_frame_bytes}) cannot carry a message of "
                f"{MAX_MESSAGE_CHARS} characters: "
                f"at least {need} (4 bytes a character and {FRAME_OVERHEAD})"
            )
        if self.send_queue_bytes < self.max_frame_bytes:
            raise ConfigError(
                f"{PREFIX}SEND_QUEUE_BYTES ({self.send_queue_bytes}) must be at least "
                f"{PREFIX}MAX_FRAME_BYTES ({self.max_frame_bytes})"
            )

    def prepare_data_dir(self) -> Path:
        """GATEWAY_DATA_DIR, created if missing; ConfigError when it cannot be, or when
        a file cannot be written in it."""
        path = Path(self.data_dir)
        try:
            # private when made here (the key, the database, the files); one that exists
            # keeps the mode its operator gave it
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{PREFIX}DATA_DIR: cannot create {str(path)!r}: {exc}") from None
        if not path.is_dir():
            raise ConfigError(f"{PREFIX}DATA_DIR: {str(path)!r} is not a directory")
        try:
            # written, not asked (os.access): root passes access() where writes fail
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as exc:
            raise ConfigError(f"{PREFIX}DATA_DIR: cannot write in {str(path)!r}: {exc}") from None
        return path

    @property
    def demo_provider_urls(self) -> dict[str, str]:
        """GATEWAY_DEMO_PROVIDERS as {provider: base URL}; ConfigError names a bad entry."""
        out: dict[str, str] = {}
        if self.demo_providers.strip() and not self.demo:
            # it would change nothing: say so rather than ignore it
            raise ConfigError(f"{PREFIX}DEMO_PROVIDERS: set while {PREFIX}DEMO is off")
        for item in self.demo_providers.split(","):
            name, _, url = (x.strip() for x in item.strip().partition("="))
            if not (name or url):
                continue
            if name not in DEMO_PROVIDERS:
                raise ConfigError(
                    f"{PREFIX}DEMO_PROVIDERS: unknown provider {name!r}; "
                    f"known: {', '.join(DEMO_PROVIDERS)}"
                )
            if name in out:
                raise ConfigError(f"{PREFIX}DEMO_PROVIDERS: {name} is named twice")
            problem = http_url_problem(url)
            if problem:
                raise ConfigError(f"{PREFIX}DEMO_PROVIDERS: {name}: {problem}")
            out[name] = url.rstrip("/")
        return out

    @property
    def trusted_proxy_networks(self) -> list[IPNetwork]:
        """GATEWAY_TRUSTED_PROXIES as networks; ConfigError names a bad entry."""
        return [net for _, net in self._trusted_proxies()]

    def _trusted_proxies(self) -> list[tuple[str, IPNetwork]]:
        """Each entry of GATEWAY_TRUSTED_PROXIES as written, with its network."""
        out: list[tuple[str, IPNetwork]] = []
        for item in self.trusted_proxies.replace(" ", "").split(","):
            if not item:
                continue
            try:
                out.append((item, ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ConfigError(
                    f"{PREFIX}TRUSTED_PROXIES: {item!r} is not an IP address or network"
                ) from None
        return out

    def warnings(self) -> list[str]:
        """What start-up reports and runs with anyway: values taken, but perhaps not as
        meant (refusing them would stop a gateway that ran with them before)."""
        return [
            f"{PREFIX}TRUSTED_PROXIES: {item} has host bits set: trusting the whole "
            f"network {net} (write {net}, or the address alone)"
            for item, net in self._trusted_proxies()
            if "/" in item and net.network_address != ipaddress.ip_address(item.split("/")[0])
        ]

    @property
    def store_url(self) -> str:
        """The database the store uses: GATEWAY_DATABASE_URL, or by default the SQLite
        file ``gateway.db`` in GATEWAY_DATA_DIR."""
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'gateway.db'}"

    @property
    def blob_store_url(self) -> str:
        """Where attachments are kept: GATEWAY_BLOB_URL, or by default the directory
        ``blobs`` in GATEWAY_DATA_DIR."""
        return self.blob_url or f"file://{(Path(self.data_dir) / 'blobs').absolute()}"

    @property
    def uses_postgres(self) -> bool:
        return self.store_url.startswith(("postgresql:", "postgres:"))

    @property
    def sqlite_path(self) -> str:
        """The file path of a ``sqlite:///path`` URL (``sqlite:///:memory:`` for memory)."""
        return self.store_url.removeprefix("sqlite://").removeprefix("/") or ":memory:"


FIELDS: tuple[str, ...] = Settings.__struct_fields__


def http_url_problem(url: str) -> str:
    """What is wrong with an http(s) base URL, or nothing (also for ``gateway
    touchpoint --url``)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return f"{url!r} is not a URL with a numeric port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL with a host"
    return ""


def _is_host(host: str) -> bool:
    """``host`` is an IP address or a host name (a URL, a blank or a dotted number
    that is no IPv4 address is neither)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(host):
        return False
    return not host.rstrip(".").rsplit(".", 1)[-1].isdigit()  # 999.1.1.1


def _redis_url_problem(url: str) -> str:
    """What is wrong with a redis://, rediss:// or unix:// URL beyond its scheme."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the port is not a number from 1 to 65535"
    if parts.scheme == "unix":
        return "" if parts.path else f"{url!r}: use unix:///path/to/redis.sock"
    if not parts.hostname:
        return f"{url!r}: use redis://host:6379/0"
    if port == 0:
        return "the port is not a number from 1 to 65535"
    db = parts.path.strip("/")
    if db and not db.isdigit():
        return f"{url!r}: the database after the host is a number (redis://host:6379/0)"
    return ""


def blob_url_problem(url: str) -> str:
    """What is wrong with a blob store URL (gateway/ports/blobs builds the store it
    names), or nothing."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or path == "/":
            return f"{url!r}: use file:///absolute/path (a directory, not the root)"
        return ""
    if parts.scheme == "s3":
        if not parts.netloc or parts.username or parts.password:
            return (
                f"{url!r}: use s3://bucket/prefix?endpoint=...; credentials come from "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not the URL"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "region", "addressing"}
        if unknown:
            return f"{url!r}: unknown parameter(s) {sorted(unknown)}"
        if query.get("addressing", "path") not in ("path", "virtual"):
            return f"{url!r}: addressing is path or virtual"
        if "endpoint" in query and http_url_problem(query["endpoint"]):
            return f"{url!r}: endpoint {http_url_problem(query['endpoint'])}"
        return ""
    return (
        f"{url!r}: use file:///path for files on this machine or "
        "s3://bucket?endpoint=https://host for S3-compatible storage"
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from a file (optional) and the environment; raise ConfigError."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    file = env.get(PREFIX + "CONFIG_FILE", "")
    if file:
        try:
            raw.update(tomllib.loads(Path(file).read_text()))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{PREFIX}CONFIG_FILE: cannot read {file}: {exc}") from exc
        unknown = set(raw) - set(FIELDS)
        if unknown:
            raise ConfigError(f"{PREFIX}CONFIG_FILE: unknown setting(s) {sorted(unknown)}")
    if PREFIX + "MAX_MESSAGE_CHARS" in env:  # one of REFUSED_VARIABLES
        # set expecting an effect it never had: say so rather than ignore it
        raise ConfigError(
            f"{PREFIX}MAX_MESSAGE_CHARS is not a setting: a message is at most "
            f"{MAX_MESSAGE_CHARS} characters, a fixed part of the protocol; unset it"
        )
    from_file = set(raw)
    for name in FIELDS:
        value = env.get(PREFIX + name.upper())
        if value is not None:
            raw[name] = value
            from_file.discard(name)
    try:
        # strict=False turns the environment's strings into ints, floats and booleans.
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_as_written(_name_the_variable(str(exc)), file, from_file)) from exc
    except ConfigError as exc:
        raise ConfigError(_as_written(str(exc), file, from_file)) from exc


def _as_written(message: str, file: str, from_file: set[str]) -> str:
    """A message that names settings' variables, naming instead the file's keys for the
    values that came from the file (the operator looks for what they wrote): led by the
    file when the setting refused is one of its keys, "key in file" otherwise."""
    lead = ""
    for name in from_file:
        var = PREFIX + name.upper()
        if message.startswith(var) and message[len(var) : len(var) + 1] in (":", " "):
            lead, message = f"{file}: ", name + message[len(var) :]
    for name in from_file:  # the other setting of a refused pair
        var = PREFIX + name.upper()
        named = name if lead else f"{name} in {file}"
        # a file's path may hold a backslash, which re.sub would read as an escape
        message = re.sub(rf"\b{var}\b", named.replace("\\", "\\\\"), message)
    return lead + message


# GATEWAY_ names read by something other than the settings: the admin commands' own
# (docs/admin-api.md) and the test suite's hang watchdog.
OTHER_VARIABLES = frozenset(
    {"CONFIG_FILE", "ADMIN_TOKEN", "ADMIN_PASSWORD", "ADMIN_EMAIL", "TEST_HANG_AFTER"}
)
# GATEWAY_ names that are no setting and are refused (load_settings), not ignored: no
# warning says "ignored" before the refusal.
REFUSED_VARIABLES = frozenset({"MAX_MESSAGE_CHARS"})


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each ``GATEWAY_*`` variable that is no setting, with the setting it
    may be a typo of. Warned of, not refused: a platform may set such names itself (a
    Kubernetes Service named ``gateway`` adds GATEWAY_SERVICE_HOST and its kin to every
    pod), and refusing them would stop a gateway that runs as configured."""
    env = os.environ if environ is None else environ
    names = [n.upper() for n in FIELDS]
    out = []
    for var in sorted(env):
        name = var[len(PREFIX) :]
        if (
            not var.startswith(PREFIX)
            or name in OTHER_VARIABLES | REFUSED_VARIABLES
            or name.lower() in FIELDS
        ):
            continue
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.7)
        hint = f" (did you mean {PREFIX}{close[0]}?)" if close else ""
        out.append(f"{var} is not a setting and is ignored{hint}")
    return out


def _name_the_variable(message: str) -> str:
    # msgspec says "... - at `$.port`"; say which variable that is.
    if "`$." in message:
        field = message.rsplit("`$.", 1)[1].rstrip("`").split("[")[0]
        said = message.split(" - at ")[0]
        types = {f.name: f.type for f in msgspec.structs.fields(Settings)}
        words = get_args(types.get(field))
        if said.startswith("Invalid enum value") and words:
            said += f"; one of: {', '.join(words)}"
        return f"{PREFIX}{field.upper()}: {said}"
    return message
