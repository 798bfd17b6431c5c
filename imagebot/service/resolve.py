"""Plain functions of the engine: which scans and runs a webhook or a new configuration calls for.

No I/O and no state: each takes the config (and what happened) and returns keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from imagebot.config import Config, FluxObject
from imagebot.registry import ImageReference
from imagebot.service.receivers import PushedImage, ResourceRef


@dataclass
class ConfigChanges:
    """What a reload changed, by kind and key; `scan` and `run` are the work it calls for."""

    scan: set[str] = field(default_factory=set)  # ImageRepository keys
    run: set[str] = field(default_factory=set)  # ImageUpdateAutomation keys
    dropped_policies: set[str] = field(default_factory=set)


def resolve_resources(config: Config, resources: Iterable[ResourceRef]) -> tuple[set[str], set[str]]:
    """The ImageRepository keys to scan and ImageUpdateAutomation keys to run for a Receiver's resources.

    ImagePolicy resources scan their repository; GitRepository resources run the automations
    that use it. A name of `*` means every object of that kind in the namespace.
    """
    repos: set[str] = set()
    automations: set[str] = set()

    def picks(obj_namespace: str, obj_name: str, ref: ResourceRef) -> bool:
        return obj_namespace == (ref.namespace or "default") and ref.name in ("*", obj_name)

    for ref in resources:
        if ref.kind == "ImageRepository":
            repos |= {r.key for r in config.repositories if picks(r.metadata.namespace, r.metadata.name, ref)}
        elif ref.kind == "ImagePolicy":
            repos |= {p.repository_key for p in config.policies if picks(p.metadata.namespace, p.metadata.name, ref)}
        elif ref.kind == "ImageUpdateAutomation":
            automations |= {a.key for a in config.automations if picks(a.metadata.namespace, a.metadata.name, ref)}
        elif ref.kind == "GitRepository":
            sources = {g.key for g in config.git_repositories if picks(g.metadata.namespace, g.metadata.name, ref)}
            automations |= {a.key for a in config.automations if a.source_key in sources}
    return repos, automations


def pushed_matches(config: Config, repo_key: str, pushed: Iterable[PushedImage]) -> bool:
    """Does a pushed image name this ImageRepository? Compared by repository path only: the host in a
    registry's notification is whatever Host the pusher used, often not the name in the config."""
    repo = config.find("ImageRepository", repo_key)
    if repo is None:
        return False
    try:
        path = ImageReference.parse(repo.spec.image).repository
    except ValueError:
        return False
    return any(path in _names(image) for image in pushed)


def pushed_tags(config: Config, repo_key: str, pushed: Iterable[PushedImage]) -> frozenset[str]:
    """The tags a notification announces for this ImageRepository (pushes by digest name none)."""
    repo = config.find("ImageRepository", repo_key)
    try:
        path = ImageReference.parse(repo.spec.image).repository if repo is not None else None
    except ValueError:
        path = None
    return frozenset(i.tag for i in pushed if i.tag and path in _names(i))


def _names(image: PushedImage) -> set[str]:
    names = {image.repository}
    if "/" not in image.repository:  # Docker Hub's official images
        names.add(f"library/{image.repository}")
    return names


def config_changes(old: Config, new: Config) -> ConfigChanges:
    """The scans and runs a new config calls for: new or changed repositories and policies are
    scanned, new or changed automations (or their GitRepository) run."""

    def by_key(objects: Iterable[FluxObject]) -> dict[str, dict[str, Any]]:
        return {o.key: o.model_dump() for o in objects}

    changes = ConfigChanges()
    old_repos, new_repos = by_key(old.repositories), by_key(new.repositories)
    changes.scan |= {k for k, v in new_repos.items() if old_repos.get(k) != v}
    old_policies, new_policies = by_key(old.policies), by_key(new.policies)
    changed_policies = {k for k, v in new_policies.items() if old_policies.get(k) != v}
    changes.dropped_policies = changed_policies | (old_policies.keys() - new_policies.keys())
    changes.scan |= {p.repository_key for p in new.policies if p.key in changed_policies}
    changes.scan &= new_repos.keys()
    old_git, new_git = by_key(old.git_repositories), by_key(new.git_repositories)
    changed_git = {k for k, v in new_git.items() if old_git.get(k) != v}
    old_autos = by_key(old.automations)
    for automation in new.automations:
        if automation.spec.suspend:
            continue
        if old_autos.get(automation.key) != automation.model_dump() or automation.source_key in changed_git:
            changes.run.add(automation.key)
    return changes


def objects_named(labels: Iterable[str | None]) -> list[tuple[str, str, str]]:
    """"ImagePolicy ns/name" labels of problems -> (kind, namespace, name), each once."""
    out: list[tuple[str, str, str]] = []
    for label in labels:
        if not label or " " not in label:
            continue
        kind, _, key = label.partition(" ")
        namespace, sep, name = key.partition("/")
        if sep and (kind, namespace, name) not in out:
            out.append((kind, namespace, name))
    return out
