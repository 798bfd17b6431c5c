"""Events as imagebot emits them, for the notification tests."""

from __future__ import annotations

from datetime import UTC, datetime

from imagebot.notify import Event, ImageChange, ObjectRef

AUTOMATION = ObjectRef("ImageUpdateAutomation", "flux-system", "apps")
COMMIT = "3f9a2c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
PR_URL = "https://github.com/acme/fleet/pull/42"


def delivery(**overrides: object) -> Event:
    fields: dict[str, object] = dict(
        severity="info",
        reason="CommitCreated",
        message="Updated 2 images in apps <staging> & prod",
        involved_object=AUTOMATION,
        automation="flux-system/apps",
        changes=(
            ImageChange(
                "apps/web/deployment.yaml", "Deployment/web", "ghcr.io/acme/web:1.4.2", "ghcr.io/acme/web:1.5.0"
            ),
            ImageChange("apps/api/values.yaml", "HelmRelease/api", "1.2.0", "1.3.0"),
        ),
        commit=COMMIT,
        branch="main",
        pull_request_url=PR_URL,
        repository_url="https://github.com/acme/fleet",
        metadata={"cluster": "eu-1"},
        timestamp=datetime(2026, 11, 21, 12, 30, 5, tzinfo=UTC),
    )
    fields.update(overrides)
    return Event(**fields)  # type: ignore[arg-type]


def failure(**overrides: object) -> Event:
    fields: dict[str, object] = dict(
        severity="error",
        reason="PushRejected",
        message="push to main rejected after 3 attempts: non-fast-forward",
        involved_object=AUTOMATION,
        automation="flux-system/apps",
        changes=(),
        commit=None,
        pull_request_url=None,
    )
    fields.update(overrides)
    return delivery(**fields)


def many_changes(count: int) -> tuple[ImageChange, ...]:
    return tuple(
        ImageChange(
            f"clusters/prod/apps/service-{i:03d}/deployment.yaml",
            f"Deployment/service-{i:03d}",
            f"registry.example.com/team/service-{i:03d}:1.0.{i}",
            f"registry.example.com/team/service-{i:03d}:1.1.{i}",
        )
        for i in range(count)
    )
