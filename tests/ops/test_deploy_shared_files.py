"""The multi-node recipes keep attachments where every node reads them: a file uploaded
through one node is downloaded through another and outlives the node. They kept them
in each node's data directory (a tmpfs per container, an emptyDir per pod)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from gateway.settings import load_settings
from tests.ops.deploy_files import DEPLOY, load_yaml_all, substitute
from tests.ops.test_deploy import COMPOSE, DOCKERFILE, TEST_KEY, gateway_services


def test_compose_nodes_share_one_volume_for_their_files() -> None:
    volumes = set(COMPOSE.get("volumes") or {})
    shared: set[str] = set()
    for name, service in gateway_services().items():
        env = {k: substitute(str(v), {"GATEWAY_SECRET_KEY": TEST_KEY}) for k, v in
               service["environment"].items()}  # fmt: skip
        settings = load_settings(env)
        url = settings.blob_store_url
        if url.startswith("s3://"):
            continue
        assert settings.blob_url.startswith("file:///"), (name, url)
        blobs = PurePosixPath(settings.blob_url.removeprefix("file://"))
        named = [
            v
            for v in service.get("volumes", [])
            if isinstance(v, dict)
            and v.get("type") == "volume"
            and blobs.is_relative_to(PurePosixPath(v["target"]))
        ]
        assert len(named) == 1, f"{name}: {blobs} is on no named volume"
        assert named[0]["source"] in volumes, name
        shared.add(named[0]["source"])
        # the image makes the directory, owned by its user: a new volume takes it
        user = re.search(r"^USER (\d+)", DOCKERFILE, re.M)
        assert user is not None
        assert re.search(rf"install -d -o {user[1]} -g {user[1]} [^\n]*\s{named[0]['target']}\b",
                         DOCKERFILE), "the image makes no directory for the volume"  # fmt: skip
    assert len(shared) <= 1, f"the nodes mount different volumes: {shared}"


def test_kubernetes_pods_keep_files_outside_their_emptydir() -> None:
    (config,) = load_yaml_all(DEPLOY / "k8s/configmap.yaml")
    settings = load_settings({**config["data"], "GATEWAY_SECRET_KEY": TEST_KEY})
    # an emptyDir is one pod's: only storage every pod reaches will do
    assert settings.blob_store_url.startswith("s3://"), settings.blob_store_url
