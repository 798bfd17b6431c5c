"""Flux Alerts from policy files: event sources with matchLabels select events by their object's labels."""

from __future__ import annotations

import textwrap
from pathlib import Path

from imagebot.alerts import alert_rules
from imagebot.config import load_config
from imagebot.cycle import scan_events
from imagebot.scan import RepositoryResult, ScanReport

CONFIG = """
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: web, namespace: apps, labels: {team: web}}
spec: {image: ghcr.io/acme/web, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: api, namespace: apps, labels: {team: api}}
spec: {image: ghcr.io/acme/api, interval: 5m}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: chat, namespace: apps}
spec: {type: generic, address: "https://hooks.example.com/x"}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: web-team, namespace: apps}
spec:
  providerRef: {name: chat}
  eventSeverity: error
  eventSources:
    - kind: ImageRepository
      name: "*"
      matchLabels: {team: web}
"""


def test_match_labels_route_only_the_labelled_objects_events(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CONFIG))
    config = load_config(tmp_path).raise_for_errors()
    [rule] = alert_rules(config)
    report = ScanReport(repositories=[RepositoryResult(r, r.spec.image, 0, "registry unreachable")
                                      for r in config.repositories])
    matched = [e.involved_object.name for e in scan_events(report) if rule.matches(e)]
    assert matched == ["web"]
