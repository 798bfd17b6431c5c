"""deploy/kubernetes and its sharded overlay: they build, pass the Kubernetes API's schemas, their arguments are
imagebot's, their config is valid, and the shards split the objects between them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from imagebot.cli import build_parser
from imagebot.config import load_config
from imagebot.config.selector import parse_selector

ROOT = Path(__file__).resolve().parents[1]
SHARD_KEY = "sharding.fluxcd.io/key"


def test_kustomize_base_builds_and_runs_the_service_with_valid_config(tmp_path: Path) -> None:
    rendered = subprocess.run(["kubectl", "kustomize", str(ROOT / "deploy" / "kubernetes")], capture_output=True,
                              text=True, check=True, timeout=60).stdout
    objects = {doc["kind"]: doc for doc in YAML(typ="safe").load_all(rendered)}
    assert set(objects) == {"Namespace", "ConfigMap", "Deployment", "Service"}

    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 1  # one writer per Git repository
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.command == "run" and not args.once
    assert args.listen.endswith(":9090") and args.log_format == "json"
    assert args.health_listen.endswith(":9091")
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 9090, "health": 9091}
    # Probes go to the health port, which webhook traffic cannot fill.
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}

    folder = tmp_path / "config"
    folder.mkdir()
    for name, text in objects["ConfigMap"]["data"].items():
        (folder / name).write_text(text)
    assert load_config(folder).errors == []


def _render(folder: Path) -> list[dict]:
    rendered = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True,
                              timeout=60).stdout
    return list(YAML(typ="safe").load_all(rendered))


@pytest.mark.parametrize("overlay", ["kubernetes", "kubernetes/sharded"])
def test_rendered_objects_pass_the_kubernetes_api_schemas_strictly(overlay: str) -> None:
    version = kubernetes_validate.latest_version()
    for obj in _render(ROOT / "deploy" / overlay):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {err.message} at {list(err.path)}")


def test_schema_check_catches_a_misspelt_field() -> None:
    [deployment] = [o for o in _render(ROOT / "deploy" / "kubernetes") if o["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["arg"] = ["run"]
    with pytest.raises(kubernetes_validate.ValidationError, match="'arg' was unexpected"):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_sharded_overlay_runs_one_instance_per_shard_and_the_main_one_takes_the_rest() -> None:
    objects = _render(ROOT / "deploy" / "kubernetes" / "sharded")
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    [configmap] = [o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"]
    assert set(deployments) == set(services) == {"imagebot", "imagebot-shard1", "imagebot-shard2"}

    selectors = {}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        [container] = pod["spec"]["containers"]
        args = build_parser().parse_args(container["args"])
        assert args.command == "run" and args.health_listen.endswith(":9091")
        selectors[name] = parse_selector(args.watch_label_selector)
        # All read the one ConfigMap of policy files, each keeps its own state.
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["config"]["configMap"]["name"] == configmap
        # A Deployment's selector, and its Service's, match its own pods and no other's.
        for other, other_deployment in deployments.items():
            pod_labels = other_deployment["spec"]["template"]["metadata"]["labels"]
            own = deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
            served = services[name]["spec"]["selector"].items() <= pod_labels.items()
            assert own is served is (other == name), (name, other)

    # Every object goes to exactly one instance, whatever its shard key (or none).
    for labels in ({}, {SHARD_KEY: "shard1"}, {SHARD_KEY: "shard2"}, {SHARD_KEY: "shard3"}, {"other": "x"}):
        takers = [name for name, selector in selectors.items() if selector.matches(labels)]
        assert len(takers) == 1, (labels, takers)
    assert selectors["imagebot-shard1"].matches({SHARD_KEY: "shard1"})
    assert selectors["imagebot"].matches({})
