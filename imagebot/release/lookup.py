"""Release information for the changes of one delivery: labels read from the registry, the source
repository and compare link they give, and release notes from the source's forge.

Everything here is best effort and bounded: an image that cannot be read, a forge that does not
answer, or the overall budget running out leaves that change without release information; the
delivery goes on regardless.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from imagebot.release.model import Release
from imagebot.release.source import ForgeKind, ImageSource, compare_url, source_repository

if TYPE_CHECKING:
    from imagebot.config import Config, ImageUpdateAutomation, SecretStore
    from imagebot.registry import AccessOptions, RegistryClient, RegistryPool
    from imagebot.update import Change

log = logging.getLogger("imagebot.release")

BUDGET = 30.0  # seconds for every lookup of one delivery together
MAX_IMAGES = 50  # distinct changes looked up per delivery; the rest go without


def release_key(change: Change) -> tuple[str, str, str]:
    """Changes of the same image from the same old to the same new value share one Release."""
    return (change.policy, change.old_value, change.new_value)


def _tags(change: Change, new_tag: str) -> tuple[str, str] | None:
    """(old tag, new tag) of a change, when its marker names a tag; None for `:name`/`:digest` markers."""
    from imagebot.registry import ImageReference

    # the marker's suffix (`:tag`, `:name`, `:digest`), whether or not it names a namespace
    last = change.setter.rsplit(":", 1)[-1] if ":" in change.setter else ""
    kind = last if last in ("tag", "name", "digest") and change.policy.rsplit(":", 1)[-1] != last else ""
    if kind in ("name", "digest"):
        return None
    if kind == "tag":
        return change.old_value, new_tag
    try:
        old = ImageReference.parse(change.old_value).tag
    except ValueError:
        return None
    return (old, new_tag) if old else None


def _note_tags(version: str) -> list[str]:
    return [version] if version.startswith("v") else [version, f"v{version}"]


# Pull request providers whose releases API is read (Forgejo keeps Gitea's).
_RELEASE_APIS: dict[str, ForgeKind] = {"github": "github", "gitlab": "gitlab", "gitea": "gitea", "forgejo": "gitea"}


@dataclass
class ReleaseFinder:
    """Finds the Release of each change of a delivery (`find`), for one config and its secrets."""

    config: Config
    secrets: SecretStore
    ca_file: Path | None = None
    budget: float = BUDGET
    # A service's registry connections and the event loop they belong to: a delivery's thread then
    # looks up on that loop, over kept-alive connections, instead of building a client (an SSL
    # context: ~40 ms of CPU) and a loop of its own in the middle of every delivery.
    pool: RegistryPool | None = None
    loop: asyncio.AbstractEventLoop | None = None
    _labels: dict[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)

    def find_blocking(self, automation: ImageUpdateAutomation, changes: Iterable[Change],
                      new_tags: Mapping[str, str]) -> dict[tuple[str, str, str], Release]:
        """`find` from a thread without an event loop (the git work of a delivery runs in one)."""
        if self.loop is None or not self.loop.is_running():
            return asyncio.run(self.find(automation, changes, new_tags))
        future = asyncio.run_coroutine_threadsafe(self.find(automation, changes, new_tags), self.loop)
        try:
            return future.result(timeout=self.budget + 5.0)  # find() keeps to the budget; this is in case it cannot
        except concurrent.futures.TimeoutError:
            future.cancel()
            log.info("release information: no answer within %gs", self.budget, extra={"automation": automation.key})
            return {}

    async def find(self, automation: ImageUpdateAutomation, changes: Iterable[Change],
                   new_tags: Mapping[str, str]) -> dict[tuple[str, str, str], Release]:
        """`new_tags` is each policy's (NS:NAME) new tag. Keys are `release_key(change)`."""
        from imagebot.registry import RegistryClient

        found: dict[tuple[str, str, str], Release] = {}
        wanted = {}
        for change in changes:
            key = release_key(change)
            if key not in wanted and change.policy in new_tags and len(wanted) < MAX_IMAGES:
                wanted[key] = change
        if not wanted:
            return found
        forges, token_host, token = self._forges(automation)
        try:
            async with asyncio.timeout(self.budget), RegistryClient(ca_file=self.ca_file, pool=self.pool) as client:
                for key, change in wanted.items():
                    release = await self._one(client, change, new_tags[change.policy], forges,
                                              token if token_host else None, token_host)
                    if release is not None:
                        found[key] = release
        except TimeoutError:
            log.info("release information: stopped after %gs, %d of %d change(s) looked up",
                     self.budget, len(found), len(wanted), extra={"automation": automation.key})
        return found

    def _forges(self, automation: ImageUpdateAutomation) -> tuple[dict[str, tuple[ForgeKind, str]], str | None,
                                                                   str | None]:
        """The forge of the automation's pull request (its host and API), and its token, which is
        also used for release notes on that same host."""
        push = automation.spec.git.push
        pr = push.pull_request if push else None
        if pr is None:
            return {}, None, None
        try:
            token = self.secrets.read_text(pr.secret_ref.name, "token")
        except (OSError, LookupError, ValueError):
            token = None
        # Release notes come from GitHub's, GitLab's and Gitea's releases API (Forgejo keeps Gitea's);
        # the other forges' pull requests are served, their releases are not looked up.
        kind = _RELEASE_APIS.get(pr.provider)
        if kind is None:
            return {}, None, None
        if pr.url:
            host = urlsplit(pr.url).netloc.lower()
            return {host: (kind, pr.url)}, host, token
        public = {"github": "github.com", "gitlab": "gitlab.com"}.get(pr.provider)
        return {}, public, token

    async def _one(self, client: RegistryClient, change: Change, new_tag: str,
                   forges: dict[str, tuple[ForgeKind, str]], token: str | None,
                   token_host: str | None) -> Release | None:
        from imagebot.delivery.forges.releases import fetch_release_notes

        tags = _tags(change, new_tag)
        policy = self.config.find("ImagePolicy", change.policy.replace(":", "/", 1))
        if tags is None or policy is None:
            return None
        repository = self.config.find("ImageRepository", policy.repository_key)  # type: ignore[attr-defined]
        if repository is None:
            return None
        image = repository.spec.image  # type: ignore[attr-defined]
        new = ImageSource.from_labels(await self._read(client, image, tags[1], repository))
        if new.source is None:
            return None
        old = ImageSource.from_labels(await self._read(client, image, tags[0], repository))
        repo = source_repository(new.source, forges)
        compare = None
        if old.revision and new.revision and old.revision != new.revision:
            compare = compare_url(repo, old.revision, new.revision)
        elif old.version and new.version and old.version != new.version:
            compare = compare_url(repo, old.version, new.version)
        notes = await fetch_release_notes(repo, _note_tags(new.version or tags[1]),
                                          token=token if repo.host == token_host else None)
        return Release(Source=repo.web_url, Version=new.version or tags[1], Revision=new.revision,
                       OldRevision=old.revision, Compare=compare, URL=new.url, Notes=notes)

    async def _read(self, client: RegistryClient, image: str, tag: str, repository: object) -> Mapping[str, str]:
        from imagebot.registry import ImageReference, RegistryError
        from imagebot.registry.labels import image_labels

        cache_key = (image, tag)
        if cache_key not in self._labels:
            try:
                labels = await image_labels(client, ImageReference.parse(image), tag, self._options(repository))
            except (RegistryError, ValueError, OSError) as err:
                log.info("labels of %s:%s not read: %s", image, tag, err)
                labels = {}
            self._labels[cache_key] = labels
        return self._labels[cache_key]

    def _options(self, repository: object) -> AccessOptions | None:
        from imagebot.scan import access_options

        try:
            return access_options(repository, self.secrets)  # type: ignore[arg-type]
        except (OSError, LookupError, ValueError):
            return None
