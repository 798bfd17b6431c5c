"""The Kubernetes base in deploy/: it builds, its arguments are imagebot's, its config is valid."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from imagebot.cli import build_parser
from imagebot.config import load_config

ROOT = Path(__file__).resolve().parents[1]


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
