"""Labels and annotations read from a real registry: config labels, manifest annotations, an index's
annotations over its platform manifest, and the bounds on what is kept."""

from __future__ import annotations

import asyncio

from imagebot.registry import ImageReference, RegistryClient
from imagebot.registry.labels import MAX_LABELS, MAX_VALUE, image_labels
from tests.support.labelled import push_labelled
from tests.support.registry import RegistryServer


def labels_of(server: RegistryServer, repository: str, tag: str) -> tuple[dict[str, str], int]:
    async def read():
        async with RegistryClient() as client:
            labels = await image_labels(client, ImageReference.parse(server.image(repository)), tag,
                                        server.access_options())
            return labels, client.stats.total

    return asyncio.run(read())


def test_config_labels_and_manifest_annotations_merge_annotations_first(plain_registry: RegistryServer) -> None:
    push_labelled(plain_registry, "labels/app", "1.0.0",
                  labels={"org.opencontainers.image.source": "https://github.com/acme/old", "maintainer": "a"},
                  annotations={"org.opencontainers.image.source": "https://github.com/acme/app"})
    labels, requests = labels_of(plain_registry, "labels/app", "1.0.0")
    assert labels == {"org.opencontainers.image.source": "https://github.com/acme/app", "maintainer": "a"}
    assert requests == 2  # the manifest and the config blob


def test_an_index_gives_its_annotations_and_its_platform_images_labels(plain_registry: RegistryServer) -> None:
    push_labelled(plain_registry, "labels/multi", "2.0.0", index=True,
                  labels={"org.opencontainers.image.revision": "abc123"},
                  annotations={"org.opencontainers.image.version": "2.0.0"})
    labels, requests = labels_of(plain_registry, "labels/multi", "2.0.0")
    assert labels == {"org.opencontainers.image.revision": "abc123", "org.opencontainers.image.version": "2.0.0"}
    assert requests == 3  # index, platform manifest, config


def test_an_image_without_labels_has_none(plain_registry: RegistryServer) -> None:
    plain_registry.push_image("labels/bare", "1.0.0")
    assert labels_of(plain_registry, "labels/bare", "1.0.0")[0] == {}


def test_hostile_label_sets_are_bounded(plain_registry: RegistryServer) -> None:
    many = {f"label.{i:05d}": "v" for i in range(MAX_LABELS * 2)}
    many["huge"] = "x" * (MAX_VALUE + 1)
    push_labelled(plain_registry, "labels/hostile", "1.0.0", labels=many)
    labels, _ = labels_of(plain_registry, "labels/hostile", "1.0.0")
    assert len(labels) == MAX_LABELS and "huge" not in labels
