"""Static checks of deploy/: no Docker engine or Kubernetes runs here, so each file is
parsed and checked against the app's routes and settings; nginx, systemd and the
Kubernetes schemas check what they can offline (nginx -t, systemd-analyze verify,
kubernetes-validate's bundled OpenAPI schemas)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from ipaddress import ip_address, ip_network
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gateway.app import create_app
from gateway.errors import ConfigError
from gateway.settings import Settings, load_settings
from gateway.web.guard import RequestGuard
from tests.ops import wheelhouse
from tests.ops.deploy_files import (
    DEFAULTS,
    DEPLOY,
    ROOT,
    SETTING_NAMES,
    NginxConf,
    duration_seconds,
    load_yaml,
    load_yaml_all,
    need_binary,
    parse_env_file,
    parse_unit,
    substitute,
    systemd_seconds,
)

TEST_KEY = "test-secret-key-0123456789abcdef-0123456789"


def load_cluster_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_script", ROOT / "scripts/cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cluster_script"] = module
    spec.loader.exec_module(module)
    return module


def app_paths() -> set[str]:
    app = create_app(Settings(database_url="sqlite:///:memory:", secret_key=TEST_KEY, demo=False))
    return {getattr(route, "path", "") for route in app.routes}


# ---------------------------------------------------------------- nginx


GATEWAY_CONF = NginxConf((DEPLOY / "nginx/gateway.conf").read_text())


def test_nginx_recipe_balances_without_stickiness_and_checks_passively() -> None:
    upstream = GATEWAY_CONF.block(r"upstream\s+gateway")
    assert re.search(r"^\s*least_conn;", upstream, re.MULTILINE)
    assert "ip_hash" not in upstream and "sticky" not in upstream and "hash " not in upstream
    servers = NginxConf.directives(upstream, "server")
    assert len(servers) >= 2
    for server in servers:
        assert re.search(r"\bmax_fails=\d+", server), server
        assert re.search(r"\bfail_timeout=\d+s", server), server


def test_nginx_recipe_upgrades_websockets_with_timeouts_above_the_ping_interval() -> None:
    assert GATEWAY_CONF.blocks(r"map\s+\$http_upgrade\s+\$connection_upgrade")
    server = GATEWAY_CONF.block(r"\bserver")
    headers = dict(h.split(None, 1) for h in NginxConf.directives(server, "proxy_set_header"))
    assert headers["Upgrade"] == "$http_upgrade"
    assert headers["Connection"] == "$connection_upgrade"
    # $http_host keeps the port: the gateway's own-origin check compares it.
    assert headers["Host"] == "$http_host"
    for name in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"):
        assert name in headers, name
    assert NginxConf.directives(server, "proxy_http_version") == ["1.1"]
    # proxy_set_header in a location would silently drop every header set above.
    for location in GATEWAY_CONF.blocks(r"location\s+[^{;]*"):
        assert NginxConf.directives(location, "proxy_set_header") == []
    ws = GATEWAY_CONF.block(r"location\s+/ws/")
    assert NginxConf.directives(ws, "proxy_pass") == ["http://gateway"]
    assert NginxConf.directives(ws, "proxy_buffering") == ["off"]
    (read_timeout,) = NginxConf.directives(ws, "proxy_read_timeout")
    assert systemd_seconds(read_timeout) > 3 * DEFAULTS.ping_interval
    (send_timeout,) = NginxConf.directives(ws, "proxy_send_timeout")
    assert systemd_seconds(send_timeout) > DEFAULTS.ping_interval


def nginx_size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def nginx_location(path: str) -> str:
    """The body of the recipe's location that serves ``path``, chosen as nginx does:
    an exact match, else the longest prefix unless a regex (in file order) matches."""
    headers = re.findall(r"location\s+([^{;]*?)\s*\{", GATEWAY_CONF.text)
    exact = [h for h in headers if h.split()[0] == "=" and h.split()[1] == path]
    if exact:
        return GATEWAY_CONF.block(r"location\s+" + re.escape(exact[0]))
    for header in headers:
        if header.split()[0] == "~" and re.search(header.split(None, 1)[1], path):
            return GATEWAY_CONF.block(r"location\s+" + re.escape(header))
    prefixes = [h for h in headers if len(h.split()) == 1 and path.startswith(h)]
    return GATEWAY_CONF.block(r"location\s+" + re.escape(max(prefixes, key=len)) + r"(?=\s*\{)")


def nginx_body_limit(path: str) -> int:
    (value,) = NginxConf.directives(nginx_location(path), "client_max_body_size") or (
        NginxConf.directives(GATEWAY_CONF.block(r"\bserver"), "client_max_body_size")
    )
    return nginx_size(value)


def test_nginx_recipe_lets_every_body_the_gateway_takes_through() -> None:
    """nginx's own limit on each path is at least the gateway's (whose 413 is its own
    JSON, before the body is read): the recipe let 11 MiB through everywhere, so an
    agent's 25 MB email file or 100 MB WhatsApp document got nginx's 413 instead. The
    large limit is the uploads' alone."""
    app = create_app(Settings(database_url="sqlite:///:memory:", secret_key=TEST_KEY, demo=False))
    (guard,) = (m for m in app.user_middleware if m.cls is RequestGuard)
    gateway = RequestGuard(app, **guard.kwargs)
    uploads = [
        "/widget/attachments",
        "/api/conversations/c_1/attachments",
        "/api/integrations/tp_1/conversations/c_1/attachments",
    ]
    others = [
        "/widget/bootstrap",
        "/api/login",
        "/api/admin/agents",
        "/api/conversations/c_1/notes",
        "/api/integrations/tp_1/conversations",
        "/webhooks/whatsapp/tp_1",
        "/",
    ]
    assert gateway.upload_bytes >= 100 * 1024 * 1024  # a WhatsApp document
    for path in uploads:
        assert gateway.limit(path) == gateway.upload_bytes, path
        assert nginx_body_limit(path) >= gateway.upload_bytes, path
        assert NginxConf.directives(nginx_location(path), "proxy_request_buffering") == ["off"]
    for path in others:
        assert nginx_body_limit(path) >= gateway.limit(path), path
        assert nginx_body_limit(path) <= DEFAULTS.max_webhook_body_bytes, path


def test_nginx_recipe_compresses_text() -> None:
    server = GATEWAY_CONF.block(r"\bserver")
    assert NginxConf.directives(server, "gzip") == ["on"]
    (types,) = NginxConf.directives(server, "gzip_types")
    assert {"application/javascript", "text/css"} <= set(types.split())
    # never the API's JSON: answers with tokens beside what a caller sent (BREACH)
    assert "application/json" not in types.split()


def test_nginx_recipe_routes_every_gateway_path() -> None:
    healthz = GATEWAY_CONF.block(r"location\s+=\s+/healthz")
    assert NginxConf.directives(healthz, "proxy_pass") == ["http://gateway"]
    assert "/healthz" in app_paths() and "/ws/visitor" in app_paths()
    catch_all = GATEWAY_CONF.block(r"location\s+/(?=\s*\{)")
    assert NginxConf.directives(catch_all, "proxy_pass") == ["http://gateway"]


def test_nginx_accepts_the_recipe_as_the_cluster_writes_it(tmp_path: Path) -> None:
    """nginx -t on the recipe with local ports (the one change scripts/cluster makes)."""
    nginx = need_binary("nginx", "nginx")
    cluster = load_cluster_script()
    (tmp_path / "temp").mkdir()
    conf = cluster.nginx_config(tmp_path, tmp_path, 18080, [18081, 18082])
    written = (tmp_path / "gateway.conf").read_text()
    assert "server 127.0.0.1:18081 max_fails=3 fail_timeout=10s;" in written
    assert "server 127.0.0.1:18082 max_fails=3 fail_timeout=10s;" in written
    assert "gateway-1" not in written and "listen 127.0.0.1:18080;" in written
    r = subprocess.run(
        [*cluster.nginx_argv(nginx, tmp_path, conf, tmp_path), "-t"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr and "test is successful" in r.stderr


# ---------------------------------------------------------------- systemd


UNIT = DEPLOY / "systemd/gateway@.service"
ENV_EXAMPLE = DEPLOY / "systemd/gateway.env.example"


def unit_values(section: str, key: str) -> list[str]:
    return [v for s, k, v in parse_unit(UNIT) if s == section and k == key]


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = need_binary("systemd-analyze", "systemd")
    # verify checks that ExecStart exists: point it at this checkout's gateway command.
    (exec_start,) = unit_values("Service", "ExecStart")
    assert exec_start == "/opt/gateway/.venv/bin/gateway serve"
    local = Path(sys.executable).with_name("gateway")
    assert local.exists(), f"{local}: the project is not installed in this environment"
    unit = tmp_path / "gateway@.service"
    unit.write_text(UNIT.read_text().replace("/opt/gateway/.venv/bin/gateway", str(local)))
    r = subprocess.run(
        [analyze, "verify", str(tmp_path / "gateway@8001.service")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr  # no unknown keys, no bad values


def test_systemd_unit_runs_one_hardened_node_per_port_and_drains() -> None:
    env = unit_values("Service", "Environment")
    assert "GATEWAY_PORT=%i" in env
    assert unit_values("Service", "EnvironmentFile") == ["/etc/gateway/gateway.env"]
    assert unit_values("Service", "KillSignal") == ["SIGTERM"]
    assert unit_values("Service", "Restart") == ["on-failure"]
    # A configuration error exits with 2 (gateway/cli.py): restarting will not help.
    assert unit_values("Service", "RestartPreventExitStatus") == ["2"]
    drain = float(parse_env_file(ENV_EXAMPLE)["GATEWAY_DRAIN_TIMEOUT"])
    (stop,) = unit_values("Service", "TimeoutStopSec")
    assert systemd_seconds(stop) >= drain + 10
    assert unit_values("Service", "NoNewPrivileges") == ["yes"]
    assert unit_values("Service", "ProtectSystem") == ["strict"]
    data_dirs = [e.split("=", 1)[1] for e in env if e.startswith("GATEWAY_DATA_DIR=")]
    assert data_dirs and data_dirs[0] in unit_values("Service", "ReadWritePaths")
    assert unit_values("Service", "User") == ["gateway"] or unit_values(
        "Service", "DynamicUser"
    ) == ["yes"]


def test_systemd_env_example_is_a_valid_production_configuration() -> None:
    env = parse_env_file(ENV_EXAMPLE)
    assert set(env) <= SETTING_NAMES, set(env) - SETTING_NAMES
    # The unit sets these per instance; EnvironmentFile= would override them.
    assert "GATEWAY_PORT" not in env and "GATEWAY_DATA_DIR" not in env
    # its key is a placeholder, refused until the operator generates one (the comment's way)
    with pytest.raises(ConfigError, match="GATEWAY_SECRET_KEY: holds 'change-me'"):
        load_settings(env)
    settings = load_settings(env | {"GATEWAY_SECRET_KEY": TEST_KEY})
    assert settings.uses_postgres and settings.redis_url and settings.public_url
    assert not settings.demo and len(settings.secret_key) >= 32
    # nginx on the same host: its X-Forwarded-For names the client for the per-IP limits.
    assert any(ip_address("127.0.0.1") in net for net in settings.trusted_proxy_networks)


# ---------------------------------------------------------------- image and compose


DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_builds_from_the_pinned_sources_and_runs_unprivileged() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert froms and all(f.split()[0] == "python:3.11-slim" for f in froms)
    copied = [
        rest.split()[0]
        for word, rest in instructions
        if word == "COPY" and not rest.startswith("--from")
    ]
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
    runs = " ".join(rest for word, rest in instructions if word == "RUN")
    assert "-c constraints.txt" in runs
    # Everything copied is let through the ignore file beside the Dockerfile.
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for source in copied:
        assert "!" + source in ignore or "!" + source + "/" in ignore, source
    (user,) = [rest for word, rest in instructions if word == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    (cmd,) = [rest for word, rest in instructions if word == "CMD"]
    assert cmd == '["python", "-m", "gateway", "serve"]'
    (health,) = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert "/healthz" in health and "/healthz" in app_paths()
    assert [rest for word, rest in instructions if word == "STOPSIGNAL"] == ["SIGTERM"]
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    port = re.search(r"GATEWAY_PORT=(\d+)", env)
    assert port is not None
    assert [rest for word, rest in instructions if word == "EXPOSE"] == [port.group(1)]
    assert "GATEWAY_HOST=0.0.0.0" in env
    # The demo's accounts have public passwords: never in an image (issue 11, item 7).
    assert "GATEWAY_DEMO=false" in env and not load_settings({}).demo


COMPOSE = load_yaml(DEPLOY / "compose.yaml")


def gateway_services() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in COMPOSE["services"].items() if k.startswith("gateway")}


def test_compose_runs_several_gateways_behind_nginx_on_postgres_and_redis() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "redis", "nginx"} <= set(services)
    gateways = gateway_services()
    assert len(gateways) >= 2
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else ""
            if source.startswith("."):
                assert (DEPLOY / source).resolve().exists(), f"{name}: {source} missing"
    for name, service in gateways.items():
        context = (DEPLOY / service["build"]["context"]).resolve()
        assert context == ROOT, name
        assert (context / service["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
        assert {"postgres", "redis"} <= set(service["depends_on"]), name
        assert service["stop_signal"] == "SIGTERM"
        env = {k: str(v) for k, v in service["environment"].items()}
        assert set(env) <= SETTING_NAMES, set(env) - SETTING_NAMES
        with pytest.raises(KeyError):  # the secret key must be given, never defaulted
            substitute(env["GATEWAY_SECRET_KEY"], {})
        settings = load_settings(
            {k: substitute(v, {"GATEWAY_SECRET_KEY": TEST_KEY}) for k, v in env.items()}
        )
        assert settings.host == "0.0.0.0" and settings.uses_postgres and not settings.demo
        assert "GATEWAY_DEMO" not in service["environment"]["GATEWAY_DEMO"]  # no override
        assert "@postgres:5432/" in settings.database_url
        assert settings.redis_url.startswith("redis://redis:")
        assert duration_seconds(service["stop_grace_period"]) >= settings.drain_timeout + 10
        # nginx's fixed address is trusted to name the client in X-Forwarded-For.
        nginx_ip = ip_address(services["nginx"]["networks"]["default"]["ipv4_address"])
        assert any(nginx_ip in net for net in settings.trusted_proxy_networks)
        subnet = COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"]
        assert nginx_ip in ip_network(subnet)
    postgres_env = services["postgres"]["environment"]
    assert postgres_env["POSTGRES_USER"] == "gateway" and postgres_env["POSTGRES_DB"] == "gateway"


def test_compose_nginx_uses_the_recipe_whose_upstream_is_the_gateway_services() -> None:
    nginx = COMPOSE["services"]["nginx"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in nginx["volumes"]}
    assert (DEPLOY / mounts["/etc/nginx/conf.d/default.conf"]).resolve() == (
        DEPLOY / "nginx/gateway.conf"
    )
    upstream = GATEWAY_CONF.block(r"upstream\s+gateway")
    servers = {s.split()[0] for s in NginxConf.directives(upstream, "server")}
    ports = {str(s["environment"]["GATEWAY_PORT"]) for s in gateway_services().values()}
    assert servers == {f"{name}:{port}" for name in gateway_services() for port in ports}
    (listen,) = NginxConf.directives(GATEWAY_CONF.block(r"\bserver"), "listen")
    assert any(p.endswith(":" + listen) for p in nginx["ports"])


# ---------------------------------------------------------------- Kubernetes


K8S = DEPLOY / "k8s"
KINDS = {
    "deployment.yaml": ("apps/v1", "Deployment"),
    "service.yaml": ("v1", "Service"),
    "pdb.yaml": ("policy/v1", "PodDisruptionBudget"),
    "configmap.yaml": ("v1", "ConfigMap"),
    "secret.example.yaml": ("v1", "Secret"),
}


def manifest(name: str) -> dict[str, Any]:
    (doc,) = load_yaml_all(K8S / name)
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kubernetes_manifest_matches_the_api_schema(name: str) -> None:
    try:
        import kubernetes_validate  # type: ignore[import-untyped]
    except ImportError:
        pytest.fail(
            "kubernetes-validate is not installed: pip install kubernetes-validate "
            "(it validates offline against bundled Kubernetes schemas)",
            pytrace=False,
        )
    doc = manifest(name)
    assert (doc["apiVersion"], doc["kind"]) == KINDS[name]
    try:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{name}: {exc}", pytrace=False)


def test_kubernetes_manifests_agree_with_each_other_and_with_the_app() -> None:
    deployment, service, pdb = (
        manifest(n) for n in ("deployment.yaml", "service.yaml", "pdb.yaml")
    )
    config, secret = manifest("configmap.yaml")["data"], manifest("secret.example.yaml")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 3
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
    (container,) = pod["containers"]
    # Settings: the ConfigMap and the Secret are valid together, secrets only in the Secret.
    assert set(config) <= SETTING_NAMES and set(secret["stringData"]) <= SETTING_NAMES
    assert {"GATEWAY_SECRET_KEY", "GATEWAY_DATABASE_URL"} <= set(secret["stringData"])
    assert not {"GATEWAY_SECRET_KEY", "GATEWAY_DATABASE_URL"} & set(config)
    assert {e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e} == {
        manifest("configmap.yaml")["metadata"]["name"]
    }
    assert {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e} == {
        secret["metadata"]["name"]
    }
    with pytest.raises(ConfigError, match="GATEWAY_SECRET_KEY: holds 'change-me'"):
        load_settings({**config, **secret["stringData"]})
    key = {"GATEWAY_SECRET_KEY": TEST_KEY}
    settings = load_settings({**config, **secret["stringData"], **key})
    assert settings.host == "0.0.0.0" and not settings.demo and settings.redis_url
    assert settings.trusted_proxy_networks  # the Ingress controller names the client
    # Ports: the container's named port is the gateway's, the Service and probes use it.
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    assert service["spec"]["ports"][0]["targetPort"] in (port["name"], settings.port)
    # Probes: readiness on /readyz, liveness on /healthz, both routes of the app.
    paths = app_paths()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/readyz", "/healthz"} <= paths
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in container:
            assert container[probe]["httpGet"]["port"] in (port["name"], settings.port)
    # Termination: preStop sleep, then SIGTERM and the drain, all within the grace period.
    pre_stop = container["lifecycle"]["preStop"]
    sleep = (
        pre_stop["sleep"]["seconds"]
        if "sleep" in pre_stop
        else float(shlex.join(pre_stop["exec"]["command"]).split()[-1])
    )
    assert sleep > 0
    assert pod["terminationGracePeriodSeconds"] > sleep + settings.drain_timeout
    # Unprivileged, read-only root, the data directory on an emptyDir.
    assert pod["securityContext"]["runAsNonRoot"] is True
    image_user = re.search(r"^USER (\d+)", DOCKERFILE, re.M)
    assert image_user is not None
    assert pod["securityContext"]["runAsUser"] == int(image_user.group(1))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts[settings.data_dir]]
    assert container["resources"]["requests"] and container["resources"]["limits"]


# ---------------------------------------------------------------- scripts/cluster


def test_cluster_script_is_an_executable_bash_wrapper() -> None:
    script = ROOT / "scripts/cluster"
    assert script.stat().st_mode & 0o111
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "_venv.sh" in text and "scripts/cluster.py" in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


# ---------------------------------------------------------------- scripts/serve's venv


@pytest.mark.apart  # a minute or more of pip: the rest of this file runs beside it
@pytest.mark.parametrize("uv", [True, False], ids=["uv", "pip-when-uv-cannot-be-had"])
def test_serve_installs_only_what_running_needs_and_says_so(tmp_path: Path, uv: bool) -> None:
    """A fresh copy, sourced as scripts/serve does: the runtime only (no test tools), a
    line per package, a stamp of its own; sourcing again installs nothing. uv (or pip,
    when uv is not to be had) resolves and installs for real, from a local wheelhouse
    of the same pinned releases instead of PyPI (tests/ops/wheelhouse.py): the download
    is PyPI's part, not the script's."""
    copy = tmp_path / "gw"
    copy.mkdir()
    for name in ("pyproject.toml", "constraints.txt", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    for name in ("gateway", "routing", "channels", "widget", "scripts", "devkit"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "VENV_EXTRAS")}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    env["PIP_NO_INDEX"] = "1"
    # no bytecode written ahead: half of pip's time here, and the imports below compile
    # what they use as any first start would
    env["PIP_NO_COMPILE"] = "1"
    env["PIP_FIND_LINKS"] = str(wheelhouse.build(ROOT, tmp_path / "wheels", uv=uv))
    env.update(UV_OFFLINE="1", UV_NO_CACHE="1", UV_FIND_LINKS=env["PIP_FIND_LINKS"])
    env["UV_COMPILE_BYTECODE"] = "0"  # as PIP_NO_COMPILE
    source = ["bash", "-c", 'VENV_EXTRAS= source scripts/_venv.sh && echo "$PY"']
    first = subprocess.run(source, cwd=copy, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    assert "==> installing the gateway (what running it needs), pinned by constraints.txt" in lines
    packages = [line.split()[1] for line in lines if re.match(r"^ +\d+  \S+$", line)]
    assert {"starlette", "uvicorn", "msgspec"} <= set(packages)
    assert not {"pytest", "playwright", "mypy", "matplotlib"} & set(packages)
    assert re.search(r"^==> installed in \d+ s$", first.stderr, re.M)
    assert (copy / ".venv" / "bin" / "uv").exists() == uv
    log = (copy / ".venv" / "install.log").read_text()
    # uv's "+ name==version" lines, or pip's own: the installer chosen is the one that ran
    by_pip = [ln for ln in log.splitlines() if ln.startswith("Successfully installed")]
    assert (" + starlette==" in log) == uv, log
    assert any("starlette-" in ln for ln in by_pip) != uv, log
    python = first.stdout.strip()
    # the gateway, and the provider emulators serve runs for the demo's phone page
    ok = subprocess.run(
        [python, "-c", "import gateway.app, devkit.emulators.__main__"],
        cwd=copy,
        capture_output=True,
    )
    assert ok.returncode == 0, ok.stderr
    dev = subprocess.run([python, "-c", "import pytest"], cwd=copy, capture_output=True)
    assert dev.returncode != 0  # the test tools are not there
    assert (copy / ".venv" / ".installed-runtime").exists()
    assert not (copy / ".venv" / ".installed-dev").exists()
    again = subprocess.run(source, cwd=copy, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stderr == ""
