"""The settings object: defaults, environment, file, validation, and its documentation."""

import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway import settings as settings_module
from gateway.errors import ConfigError
from gateway.settings import FIELDS, Settings, load_settings, unknown_variables

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_single_node_setup() -> None:
    s = load_settings({})
    assert s == Settings()
    assert s.store_url == "sqlite:///data/gateway.db" and s.redis_url == ""
    # The demo's accounts have public passwords: only ./scripts/serve turns it on.
    assert not s.demo
    assert "GATEWAY_DEMO" in (ROOT / "scripts" / "serve").read_text()


def test_the_data_directory_holds_the_default_database_too(tmp_path: Path) -> None:
    """GATEWAY_DATA_DIR moves the default SQLite file with the secret key (it used to
    move only the key)."""
    s = load_settings({"GATEWAY_DATA_DIR": str(tmp_path / "state")})
    assert s.store_url == f"sqlite:///{tmp_path}/state/gateway.db"
    assert s.sqlite_path == f"{tmp_path}/state/gateway.db"
    given = load_settings(
        {"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_DATABASE_URL": "postgresql://u@h/db"}
    )
    assert given.store_url == "postgresql://u@h/db" and given.uses_postgres


def test_environment_values_are_converted() -> None:
    s = load_settings(
        {"GATEWAY_PORT": "9001", "GATEWAY_DEMO": "false", "GATEWAY_OFFER_TIMEOUT": "2.5"}
    )
    assert (s.port, s.demo, s.offer_timeout) == (9001, False, 2.5)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
        ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT"),
        ({"GATEWAY_OFFER_TIMEOUT": "0"}, "GATEWAY_OFFER_TIMEOUT"),
        ({"GATEWAY_DATABASE_URL": "mysql://x"}, "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_DATABASE_URL": "postgresql://u@db:54x2/gw"}, "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_DATABASE_URL": "postgresql://u@db:5432,db2:99999/gw"}, "the port '99999'"),
        ({"GATEWAY_DATABASE_URL": "postgres://u:p@[::1]:0/gw"}, "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_DATABASE_URL": "postgresql://u@[::1/gw"}, "not a URL"),
        ({"GATEWAY_REDIS_URL": "localhost:6379"}, "GATEWAY_REDIS_URL"),
        ({"GATEWAY_SECRET_KEY": "short"}, "GATEWAY_SECRET_KEY"),
        ({"GATEWAY_LOG_LEVEL": "loud"}, "GATEWAY_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p:x@db/gw",  # a colon in the password
        "postgresql://u@[::1]:5432/gw",
        "postgresql://u@db1:5432,db2/gw",
        "postgresql:///gw?host=/var/run/postgresql",
    ],
)
def test_postgres_urls_with_good_ports_are_taken(url: str) -> None:
    assert load_settings({"GATEWAY_DATABASE_URL": url}).database_url == url


def test_file_then_environment(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text("port = 8081\noffer_timeout = 45.0\n")
    s = load_settings({"GATEWAY_CONFIG_FILE": str(f), "GATEWAY_PORT": "8082"})
    assert (s.port, s.offer_timeout) == (8082, 45.0)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings({"GATEWAY_CONFIG_FILE": str(f)})


def test_every_setting_is_documented_with_its_default() -> None:
    text = DOC.read_text()
    rows = dict(re.findall(r"^\| `GATEWAY_([A-Z_]+)` \| ([^|]+) \|", text, re.M))
    assert {k.lower() for k in rows} == set(FIELDS)
    defaults = Settings()
    for name, shown in rows.items():
        value = getattr(defaults, name.lower())
        shown = shown.strip()
        if shown.startswith("*("):
            assert value == ""
        else:
            assert (
                shown.strip("`") == str(value).lower()
                if isinstance(value, bool)
                else shown.strip("`") == str(value)
            )


def test_the_documented_file_example_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert block
    tomllib.loads(block.group(1))
    f = tmp_path / "gateway.toml"
    f.write_text(block.group(1))
    s = load_settings({"GATEWAY_CONFIG_FILE": str(f), "GATEWAY_SECRET_KEY": "k" * 32})
    assert s.port == 8080 and not s.demo


def test_a_bad_value_stops_the_process_with_status_2() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        env={"GATEWAY_PORT": "eighty", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert "GATEWAY_PORT" in r.stderr


def test_a_misspelt_variable_is_warned_of_with_the_setting_it_may_mean() -> None:
    warnings = unknown_variables(
        {
            "GATEWAY_OFER_TIMEOUT": "30",
            "GATEWAY_REDIS": "redis://r",
            "GATEWAY_SERVICE_HOST": "10.0.0.1",
            "GATEWAY_PORT": "8000",
            "GATEWAY_ADMIN_TOKEN": "t",
            "GATEWAY_CONFIG_FILE": "g.toml",
            "GATEWAY_TEST_HANG_AFTER": "600",
            "PATH": "/usr/bin",
        }
    )
    assert warnings == [
        "GATEWAY_OFER_TIMEOUT is not a setting and is ignored "
        "(did you mean GATEWAY_OFFER_TIMEOUT?)",
        "GATEWAY_REDIS is not a setting and is ignored (did you mean GATEWAY_REDIS_URL?)",
        "GATEWAY_SERVICE_HOST is not a setting and is ignored",
    ]


def test_a_proxy_network_with_host_bits_is_taken_whole_with_a_warning() -> None:
    s = load_settings({"GATEWAY_TRUSTED_PROXIES": "10.0.0.1/8, 127.0.0.1, FD00::/64, fd01::1/64"})
    assert [str(n) for n in s.trusted_proxy_networks] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "fd00::/64",
        "fd01::/64",
    ]
    assert s.warnings() == [
        "GATEWAY_TRUSTED_PROXIES: 10.0.0.1/8 has host bits set: trusting the whole "
        "network 10.0.0.0/8 (write 10.0.0.0/8, or the address alone)",
        "GATEWAY_TRUSTED_PROXIES: fd01::1/64 has host bits set: trusting the whole "
        "network fd01::/64 (write fd01::/64, or the address alone)",
    ]
    assert load_settings({"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8"}).warnings() == []
    # the process says so at start (stopped here by a refusal found after the settings)
    r = subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        env={
            "GATEWAY_TRUSTED_PROXIES": "10.0.0.1/8",
            "GATEWAY_CHAT_ATTACHMENT_TYPES": "nope",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2, r.stderr
    assert f"gateway: warning: {s.warnings()[0]}" in r.stderr.splitlines()


def test_the_documented_typo_warning_is_what_the_process_prints() -> None:
    # docs/configuration.md's example, run: the warning comes before a refusal too
    shown = re.search(
        r"\$ (GATEWAY_DATABSE_URL=\S+) \./scripts/serve\n(.*?)\n```", DOC.read_text(), re.S
    )
    assert shown
    name, value = shown.group(1).split("=", 1)
    r = subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        env={name: value, "GATEWAY_PORT": "eighty", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == shown.group(2)
    assert "GATEWAY_PORT" in r.stderr.splitlines()[1]


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"GATEWAY_DRAIN_TIMEOUT": "inf"}, "GATEWAY_DRAIN_TIMEOUT: must be a finite"),
        ({"GATEWAY_OFFER_TIMEOUT": "inf"}, "GATEWAY_OFFER_TIMEOUT: must be a finite"),
        ({"GATEWAY_PUBLIC_URL": "chat.example.com"}, "GATEWAY_PUBLIC_URL"),
        ({"GATEWAY_PUBLIC_URL": "ftp://chat.example.com"}, "GATEWAY_PUBLIC_URL"),
        ({"GATEWAY_PUBLIC_URL": "https://"}, "GATEWAY_PUBLIC_URL"),
        ({"GATEWAY_PUBLIC_URL": "https://chat.example.com:x"}, "GATEWAY_PUBLIC_URL"),
        (
            {"GATEWAY_DEMO": "1", "GATEWAY_DEMO_PROVIDERS": "twillio=http://127.0.0.1:9"},
            "GATEWAY_DEMO_PROVIDERS: unknown provider 'twillio'",
        ),
        (
            {"GATEWAY_DELIVERY_LEASE": "5", "GATEWAY_WEBHOOK_TIMEOUT": "30"},
            "GATEWAY_DELIVERY_LEASE (5) must be longer than GATEWAY_WEBHOOK_TIMEOUT (30)",
        ),
        (
            {"GATEWAY_MAX_FRAME_BYTES": "1000"},
            "GATEWAY_MAX_FRAME_BYTES (1000) cannot carry a message of 4000 characters",
        ),
        # never a setting that did anything: refused rather than ignored
        ({"GATEWAY_MAX_MESSAGE_CHARS": "100"}, "GATEWAY_MAX_MESSAGE_CHARS is not a setting"),
        ({"GATEWAY_HISTORY_PAGE_SIZE": "201"}, "GATEWAY_HISTORY_PAGE_SIZE"),
        (
            {"GATEWAY_SEND_QUEUE_BYTES": "1000"},
            "GATEWAY_SEND_QUEUE_BYTES (1000) must be at least GATEWAY_MAX_FRAME_BYTES",
        ),
        (
            {"GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0"},
            "GATEWAY_SECRET_KEY: required when GATEWAY_REDIS_URL is set",
        ),
        # The audit of invalid settings: each of these started the gateway, or stopped it
        # only after it had written its data directory and database.
        ({"GATEWAY_HOST": ""}, "GATEWAY_HOST: '' is not an IP address"),  # every address
        ({"GATEWAY_HOST": "http://127.0.0.1"}, "GATEWAY_HOST: 'http://127.0.0.1' is not"),
        ({"GATEWAY_HOST": " 127.0.0.1"}, "GATEWAY_HOST: ' 127.0.0.1' is not"),
        ({"GATEWAY_HOST": "999.1.1.1"}, "GATEWAY_HOST: '999.1.1.1' is not"),
        ({"GATEWAY_PORT": "0"}, "GATEWAY_PORT: Expected `int` >= 1"),  # a random port
        ({"GATEWAY_DATA_DIR": ""}, "GATEWAY_DATA_DIR: blank"),  # the working directory
        ({"GATEWAY_DATA_DIR": " "}, "GATEWAY_DATA_DIR: blank"),
        ({"GATEWAY_SECRET_KEY": " " * 32}, "GATEWAY_SECRET_KEY: blank"),
        (
            {"GATEWAY_LOG_LEVEL": "INFO"},
            "GATEWAY_LOG_LEVEL: Invalid enum value 'INFO'; one of: debug, info, warning, error",
        ),
        ({"GATEWAY_PUBLIC_URL": "https://chat.example.com/chat"}, "GATEWAY_PUBLIC_URL: "),
        ({"GATEWAY_PUBLIC_URL": "https://u:p@chat.example.com"}, "is not an origin"),
        ({"GATEWAY_PUBLIC_URL": "https://chat.example.com?x=1"}, "is not an origin"),
        ({"GATEWAY_PUBLIC_URL": "https://chat.example.com#top"}, "is not an origin"),
        ({"GATEWAY_NODE_ID": " "}, "GATEWAY_NODE_ID: ' ' holds white space"),
        ({"GATEWAY_NODE_ID": "node\n1"}, "GATEWAY_NODE_ID: "),
        ({"GATEWAY_DATABASE_URL": "sqlite:///gw.db?mode=ro"}, "a SQLite URL takes no options"),
        ({"GATEWAY_DATABASE_URL": "sqlite:////tmp"}, "'/tmp' is a directory, not a database"),
        ({"GATEWAY_REDIS_URL": "unix://"}, "GATEWAY_REDIS_URL: 'unix://': use unix:///path"),
        ({"GATEWAY_REDIS_URL": "redis://"}, "GATEWAY_REDIS_URL: 'redis://': use redis://host"),
        ({"GATEWAY_REDIS_URL": "redis://h:0/0"}, "GATEWAY_REDIS_URL: the port is not a number"),
        ({"GATEWAY_REDIS_URL": "redis://h:6379/x"}, "the database after the host is a number"),
        ({"GATEWAY_ROUTER_LEASE": "1e300"}, "GATEWAY_ROUTER_LEASE: at most 315360000 seconds"),
        ({"GATEWAY_WRITE_TIMEOUT": "1e12"}, "GATEWAY_WRITE_TIMEOUT: at most 315360000"),
        ({"GATEWAY_SEND_QUEUE_SIZE": "1" + "0" * 23}, "GATEWAY_SEND_QUEUE_SIZE: at most"),
        ({"GATEWAY_FRAMES_PER_MINUTE": str(2**53)}, "GATEWAY_FRAMES_PER_MINUTE: at most"),
        ({"GATEWAY_HISTORY_RETENTION": "-1"}, "GATEWAY_HISTORY_RETENTION: Expected `float` >= 0"),
        ({"GATEWAY_HISTORY_RETENTION": "3600"}, "GATEWAY_HISTORY_RETENTION: at least 86400"),
        # changes nothing without the demo
        ({"GATEWAY_DEMO_PROVIDERS": "twilio=http://127.0.0.1:9"}, "set while GATEWAY_DEMO is off"),
        (
            {
                "GATEWAY_DEMO": "1",
                "GATEWAY_DEMO_PROVIDERS": "twilio=http://127.0.0.1:9,twilio=http://127.0.0.1:10",
            },
            "GATEWAY_DEMO_PROVIDERS: twilio is named twice",
        ),
    ],
)
def test_bad_values_and_contradictions_are_refused(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_HOST", "0.0.0.0"),
        ("GATEWAY_HOST", "::"),
        ("GATEWAY_HOST", "localhost"),
        ("GATEWAY_HOST", "gateway-1.internal"),
        ("GATEWAY_PUBLIC_URL", "https://chat.example.com/"),
        ("GATEWAY_NODE_ID", "node_a-1.eu"),
        # as every node of a cluster had it before keys were checked further: kept
        ("GATEWAY_SECRET_KEY", "k" * 32 + "\n"),
        ("GATEWAY_DATABASE_URL", "sqlite:///:memory:"),
        ("GATEWAY_OUTBOX_RETENTION", "315360000"),
        ("GATEWAY_CHAT_ATTACHMENT_TYPES", ""),
    ],
)
def test_good_values_next_to_the_refused_ones_are_taken(name: str, value: str) -> None:
    field = name.removeprefix("GATEWAY_").lower()
    got = getattr(load_settings({name: value}), field)
    assert got == type(got)(value)


@pytest.mark.parametrize("url", ["unix:///run/redis.sock", "rediss://u:p@redis:6380/2"])
def test_redis_urls_that_name_a_server_are_taken(url: str) -> None:
    assert (
        load_settings({"GATEWAY_REDIS_URL": url, "GATEWAY_SECRET_KEY": "k" * 32}).redis_url == url
    )


def test_a_data_directory_it_cannot_write_in_is_refused() -> None:
    """/proc exists and is a directory, so it used to pass; the secret key's write then
    failed with a traceback (exit 1), even for root, whom os.access lets through."""
    with pytest.raises(ConfigError, match="GATEWAY_DATA_DIR: cannot write in '/proc'"):
        load_settings({"GATEWAY_DATA_DIR": "/proc"}).prepare_data_dir()


def test_sound_pairs_and_a_cluster_with_a_key_are_accepted() -> None:
    s = load_settings(
        {
            "GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0",
            "GATEWAY_SECRET_KEY": "k" * 32,
            "GATEWAY_PUBLIC_URL": "https://chat.example.com:8443",
            "GATEWAY_MAX_FRAME_BYTES": "16256",
            "GATEWAY_SEND_QUEUE_BYTES": "16256",
            "GATEWAY_DELIVERY_LEASE": "3",
            "GATEWAY_WEBHOOK_TIMEOUT": "2",
        }
    )
    assert s.max_frame_bytes == 16256 and s.delivery_lease == 3.0


def test_the_demo_providers_are_the_phone_channels_emulators() -> None:
    from channels.phone import _CHANNELS

    s = load_settings(
        {"GATEWAY_DEMO": "1", "GATEWAY_DEMO_PROVIDERS": "twilio=http://127.0.0.1:8101/"}
    )
    assert s.demo_provider_urls == {"twilio": "http://127.0.0.1:8101"}
    assert set(_CHANNELS) == set(settings_module.DEMO_PROVIDERS)


def test_a_config_file_that_is_not_utf8_is_refused_by_name(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_bytes(b"port = 8080\n# \xff\xfe\n")
    with pytest.raises(ConfigError, match="GATEWAY_CONFIG_FILE"):
        load_settings({"GATEWAY_CONFIG_FILE": str(f)})


def test_a_fraction_of_a_second_of_drain_reaches_uvicorn() -> None:
    from starlette.applications import Starlette

    from gateway import cli

    server = cli.build_server(Starlette(), load_settings({"GATEWAY_DRAIN_TIMEOUT": "0.5"}))
    assert server.config.timeout_graceful_shutdown == 0.5


def test_a_data_directory_made_at_start_is_private(tmp_path: Path) -> None:
    """Regression: made with the umask's mode (0755), beside its 0600 files."""
    made = load_settings({"GATEWAY_DATA_DIR": str(tmp_path / "new" / "data")}).prepare_data_dir()
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    kept = tmp_path / "kept"
    kept.mkdir(mode=0o750)
    load_settings({"GATEWAY_DATA_DIR": str(kept)}).prepare_data_dir()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o750  # the operator's choice
