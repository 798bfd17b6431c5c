"""One scan cycle: list each registry repository once, store its tags, select each policy's latest image.

registries --list--> store --select--> latest image per policy. The result is plain data (`ScanReport`)
that later steps (the updater, delivery, notifications) take as values.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from imagebot.config import Config, ImagePolicy, ImageRepository, SecretError, SecretStore
from imagebot.failures import FailureKind
from imagebot.grammar import TAG, is_tag
from imagebot.policy import PolicyError
from imagebot.registry.listed import read_listed

if TYPE_CHECKING:
    from imagebot.policy import Policy
    from imagebot.policy.exclusion import Exclusion
    from imagebot.policy.gates import Judgement
    from imagebot.registry import AccessOptions, ImageReference, RegistryClient
    from imagebot.selection import Selected
    from imagebot.store import Store

log = logging.getLogger("imagebot.scan")


@dataclass(frozen=True)
class LatestImage:
    name: str  # the ImageRepository's spec.image as written
    tag: str
    digest: str | None = None


@dataclass(frozen=True)
class RepositoryResult:
    repository: ImageRepository
    image: str  # normalised reference
    tags: int  # after the exclusionList
    error: str | None = None
    suspended: bool = False
    error_kind: FailureKind | None = None  # AUTH, RATE_LIMIT, REGISTRY, CONFIG (a secret)
    invalid_tags: int = 0  # tags the registry listed that are not valid OCI tags, dropped


@dataclass(frozen=True)
class PolicyResult:
    policy: ImagePolicy
    latest: LatestImage | None
    error: str | None = None
    changed: bool = False  # differs from the result stored by the previous scan
    waiting: tuple[Judgement, ...] = ()  # minimumAge: better tags that come of age later, best first
    note: str | None = None  # a warning that did not stop the selection (the newestBuild cap)

    @property
    def wake_at(self) -> datetime | None:
        """When the next better tag comes of age: the service selects again then, without a rescan."""
        return min((j.ready_at for j in self.waiting if j.ready_at is not None), default=None)

    @property
    def waits(self) -> str | None:
        """e.g. "1.5.0 waits until 2026-01-02T03:04:05Z (minimumAge 72h)", for plan and status."""
        return None if not self.waiting else f"{self.waiting[0].tag} {self.waiting[0].detail}"


@dataclass
class ScanReport:
    repositories: list[RepositoryResult] = field(default_factory=list)
    policies: list[PolicyResult] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    def __repr__(self) -> str:
        # Short: asyncio.run() formats the repr of its main task, result included, when it restores the
        # SIGINT handler, and the full repr of every result and its pydantic models cost a millisecond per
        # repository (Python 3.11's signal.getsignal -> enum ValueError("%r ...") on a partial of the task).
        return (f"ScanReport({len(self.repositories)} repositories, {len(self.policies)} policies, "
                f"{self.requests} requests, {self.seconds:.3f} s)")

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.repositories) and all(p.error is None for p in self.policies)

    def latest_by_policy(self) -> dict[str, LatestImage]:
        """`NAMESPACE:NAME` -> latest image, the form markers name policies in."""
        return {
            f"{p.policy.metadata.namespace}:{p.policy.metadata.name}": p.latest
            for p in self.policies if p.latest is not None
        }

    def to_json(self) -> dict[str, object]:
        return {
            "repositories": [
                {"namespace": r.repository.metadata.namespace, "name": r.repository.metadata.name,
                 "image": r.repository.spec.image, "tags": r.tags, "error": r.error, "suspended": r.suspended,
                 "invalidTags": r.invalid_tags}
                for r in self.repositories
            ],
            "policies": [
                {"namespace": p.policy.metadata.namespace, "name": p.policy.metadata.name,
                 "latest": None if p.latest is None else
                 {"name": p.latest.name, "tag": p.latest.tag, "digest": p.latest.digest},
                 "error": p.error,
                 **({"waits": p.waits} if p.waits else {}), **({"note": p.note} if p.note else {})}
                for p in self.policies
            ],
        }


def access_options(repo: ImageRepository, secrets: SecretStore) -> AccessOptions:
    """Credentials and TLS material of an ImageRepository, read from its secrets."""
    from imagebot.proxy import proxy_from_secret, register_environment_credentials
    from imagebot.registry import AccessOptions

    register_environment_credentials()
    spec = repo.spec
    creds = ca = cert = key = None
    if spec.secret_ref:
        creds = secrets.read(spec.secret_ref.name, ".dockerconfigjson")
    if spec.cert_secret_ref:
        name = spec.cert_secret_ref.name
        ca = secrets.read_optional(name, "ca.crt")
        cert = secrets.read_optional(name, "tls.crt")
        key = secrets.read_optional(name, "tls.key")
        if ca is None and cert is None:
            raise SecretError(f"secret '{name}' has neither ca.crt nor tls.crt")
    proxy = proxy_from_secret(secrets, spec.proxy_secret_ref.name) if spec.proxy_secret_ref else None
    return AccessOptions(credentials_config=creds, ca_pem=ca, cert_pem=cert, key_pem=key,
                         insecure=spec.insecure, timeout=spec.effective_timeout, provider=spec.provider,
                         proxy=proxy)


@dataclass
class _Listing:
    ref: ImageReference
    options: AccessOptions | None
    tags: list[str] | None = None
    error: str | None = None
    error_kind: FailureKind | None = None
    suspended: bool = False  # the tags are the last scan's, read from the store
    invalid: int = 0  # tags dropped for not being valid OCI tags
    kept: dict[tuple[str, ...], list[str]] = field(default_factory=dict)  # tags left per exclusionList


@dataclass
class _Seen:
    """An image's last listing in this Scanner and what came of it. Most scans of a service list
    exactly the same tags again: then they are not checked, filtered, compared in the store and
    selected from again (2,000 repositories a minute made that most of a scan's CPU)."""

    listed: list[str]  # as the registry listed them
    valid: list[str]  # as stored: `listed` itself when every tag is valid (2,000 of these are kept)
    revision: str  # the store's revision of `valid`
    invalid: int
    kept: dict[tuple[str, ...], list[str]]  # the listing's tags per exclusionList, shared with later listings


class Scanner:
    """Runs scan cycles for a config; holds compiled policies so a service compiles each once."""

    def __init__(self, config: Config, secrets: SecretStore, store: Store,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.secrets = secrets
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))  # injected by tests of minimumAge
        self.newest_build_cap: int | None = None  # None: selection.NEWEST_BUILD_CAP
        self._compiled: dict[str, Policy | Exception] = {}
        # A service scans one repository at a time, thousands a minute: finding it and its policies
        # goes through these (built on first use; the config does not change under a Scanner).
        self._repository_at: dict[str, tuple[int, ImageRepository]] | None = None
        self._policies_of: dict[str, list[ImagePolicy]] = {}
        self._refs: dict[str, ImageReference] = {}  # spec.image -> its parsed reference
        self._seen: dict[str, _Seen] = {}  # image -> its last listing, stored
        # policy key -> (the tags it last selected from, the tag it selected): a policy whose choice
        # depends on nothing but the tags (no minimumAge, platforms or build times) chooses the same
        # from the same list object, which an unchanged listing passes on (_Seen.kept).
        self._selected: dict[str, tuple[list[str], str | None]] = {}

    def _repositories(self, wanted: Iterable[str] | None) -> list[ImageRepository]:
        """The ImageRepositories named (all when None), in config order."""
        if wanted is None:
            return list(self.config.repositories)
        if self._repository_at is None:
            self._repository_at = {r.key: (i, r) for i, r in enumerate(self.config.repositories)}
            for policy in self.config.policies:  # config order within each repository
                self._policies_of.setdefault(policy.repository_key, []).append(policy)
        found = sorted(self._repository_at[key] for key in set(wanted) if key in self._repository_at)
        return [repo for _, repo in found]

    def _policy(self, policy: ImagePolicy) -> Policy:
        """The policy's rule, compiled once; without the exclusionList, which the scan applies first."""
        compiled = self._compiled.get(policy.key)
        if compiled is None:
            try:
                compiled = policy.compile(None)
            except PolicyError as err:  # reported per policy
                compiled = err
            self._compiled[policy.key] = compiled
        if isinstance(compiled, Exception):
            raise compiled
        return compiled

    async def scan(
        self,
        client: RegistryClient,
        *,
        repositories: Iterable[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
        stored: bool = False,
    ) -> ScanReport:
        """Scan the named ImageRepositories (namespace/name; all when None) and evaluate their policies.

        `stored`: select again from the tags the last scan stored, without listing (a minimumAge wake-up).
        """
        from imagebot.registry import ImageReference

        started = time.monotonic()
        repos = self._repositories(repositories)
        report = ScanReport()
        listings: dict[tuple[str, object], _Listing] = {}
        plan: list[tuple[ImageRepository, _Listing]] = []
        for repo in repos:
            ref = self._refs.get(repo.spec.image)
            if ref is None:
                ref = self._refs[repo.spec.image] = ImageReference.parse(repo.spec.image)
            if repo.spec.suspend or stored:  # policies use what the last scan stored
                last = self.store.tags(str(ref))
                listing = _Listing(ref, None, suspended=repo.spec.suspend)
                if last:
                    listing.tags, listing.invalid = _valid_tags(last.tags)
                plan.append((repo, listing))
                continue
            try:
                options = access_options(repo, self.secrets)
            except SecretError as err:
                plan.append((repo, _Listing(ref, None, error=str(err), error_kind=FailureKind.CONFIG)))
                continue
            # one listing per (repository, access) however many ImageRepositories name it
            plan.append((repo, listings.setdefault((str(ref), options), _Listing(ref, options))))

        # Each repository's policies select as soon as its listing is in, while the other listings are
        # still on the wire: selecting after the last listing left the registry idle for as long as
        # the selections took (most of a 200-repository plan's excess over its requests).
        keys = {repo.key for repo, _ in plan}
        if repositories is not None and len(keys) == 1:  # a service's scan: skip the pass over all
            policies = [p for key in keys for p in self._policies_of.get(key, ())]
        else:
            policies = [p for p in self.config.policies if p.repository_key in keys]
        policies_of: dict[str, list[int]] = {}
        for i, policy in enumerate(policies):
            policies_of.setdefault(policy.repository_key, []).append(i)
        users: dict[int, list[int]] = {}  # listing -> the positions in `plan` of the repositories using it
        for position, (_, listing) in enumerate(plan):
            users.setdefault(id(listing), []).append(position)
        repository_results: list[RepositoryResult | None] = [None] * len(plan)
        policy_results: list[PolicyResult | None] = [None] * len(policies)
        # Policies select from the tags each repository's exclusionList keeps, computed once per
        # (listing, exclusionList) however many ImageRepositories and ImagePolicies share them.
        tags_by_repo: dict[str, tuple[_Listing, list[str]] | None] = {}

        async def settle(listing: _Listing) -> None:
            """The results of the repositories that use `listing` (listed or not), then their policies'."""
            positions = users[id(listing)]
            for position in positions:
                repo = plan[position][0]
                tags_by_repo[repo.key], repository_results[position] = _repository_result(repo, listing)
            for position in positions:
                for i in policies_of.get(plan[position][0].key, ()):
                    policy_results[i] = await self._select(client, policies[i], tags_by_repo)

        done = 0

        async def run(listing: _Listing) -> None:
            nonlocal done
            try:
                assert listing.options is not None
                listed = await client.list_tags(listing.ref, listing.options)
                self._store_listing(listing, listed)
                if listing.invalid:
                    # Never selected, never stored: a tag that cannot be written would win and then be
                    # refused at write time, keeping every valid update from landing.
                    log.warning("%s: the registry listed %d invalid tag%s (not OCI tag grammar); dropped them",
                                listing.ref, listing.invalid, "" if listing.invalid == 1 else "s",
                                extra={"repository": str(listing.ref), "invalid_tags": listing.invalid})
            except Exception as err:  # every registry failure becomes this repository's error
                listing.error = str(err) or type(err).__name__
                listing.error_kind = _failure_kind(err)
                # the client logs a rate-limited host once, not per repository
                if listing.error_kind != FailureKind.RATE_LIMIT:
                    log.warning("scan failed", extra={"repository": str(listing.ref), "error": listing.error})
            done += 1
            if progress:
                progress(done, len(listings))
            await settle(listing)

        unlisted = list({id(listing): listing for _, listing in plan if listing.options is None}.values())
        await asyncio.gather(*(run(listing) for listing in listings.values()), *(settle(u) for u in unlisted))
        assert all(r is not None for r in repository_results) and all(r is not None for r in policy_results)
        report.repositories.extend(repository_results)  # type: ignore[arg-type]
        report.policies.extend(policy_results)  # type: ignore[arg-type]
        report.requests = client.stats.total
        report.seconds = time.monotonic() - started
        return report

    def _store_listing(self, listing: _Listing, listed: list[str]) -> None:
        """Keep the valid tags of a listing on `listing` and in the store, with first sightings."""
        image = str(listing.ref)
        seen = self._seen.get(image)
        # The same tags as this Scanner stored last, and the store still holds them (another process may
        # have written since): only the time of the scan is new. First sightings were recorded then.
        if seen is not None and seen.listed == listed and self.store.touch_tags(image, seen.revision):
            listing.tags, listing.invalid, listing.kept = seen.valid, seen.invalid, seen.kept
            return
        listing.tags, listing.invalid = _valid_tags(listed)
        with self.store.batch():
            previous = self.store.tags_revision(image)
            saved = self.store.save_tags(image, listing.tags)
            # new tags (or a database from before first sightings were kept): minimumAge counts from here
            if previous != saved.revision or not self.store.has_first_seen(image):
                self.store.record_first_seen(image, listing.tags, self.clock().timestamp())
        valid = listed if not listing.invalid else listing.tags
        self._seen[image] = _Seen(listed, valid, saved.revision, listing.invalid, listing.kept)

    def _latest(self, policy: ImagePolicy, compiled: Policy, tags: list[str]) -> str | None:
        """The tag a policy without gates or build times selects, from `tags` (after the exclusionList)."""
        last = self._selected.get(policy.key)
        if last is not None and last[0] is tags:
            return last[1]
        tag = compiled.latest(tags)
        self._selected[policy.key] = (tags, tag)
        return tag

    async def _select(self, client: RegistryClient, policy: ImagePolicy,
                      tags_by_repo: dict[str, tuple[_Listing, list[str]] | None]) -> PolicyResult:
        repo = self.config.repository_for(policy)
        assert repo is not None
        scanned = tags_by_repo.get(repo.key)
        if scanned is None:
            return PolicyResult(policy, None, f"ImageRepository {repo.key} could not be scanned")
        listing, tags = scanned
        try:
            compiled = self._policy(policy)
        except Exception as err:
            return PolicyResult(policy, None, f"invalid policy: {err}")
        image = str(listing.ref)
        waiting: tuple[Judgement, ...] = ()
        note = None
        if compiled.newest_build or compiled.gates:
            try:
                chosen = await self._select_with_facts(client, repo, listing, compiled, tags)
            except Exception as err:
                return PolicyResult(policy, None, f"reading {repo.spec.image} for {compiled.describe()}: {err}")
            tag, waiting, note = chosen.tag, tuple(chosen.waiting), chosen.note
            if tag is None:
                why = f"no tag of {len(tags)} (after the exclusionList) qualifies under {compiled.describe()}"
                if chosen.passed_over:
                    best = chosen.passed_over[0]
                    why += f"; the best, {best.tag}, {best.detail}"
                if chosen.note:
                    why += f" ({chosen.note})"
                return PolicyResult(policy, None, why, waiting=waiting, note=note)
        else:
            tag = self._latest(policy, compiled, tags)
        if tag is None:
            return PolicyResult(policy, None,
                                f"no tag of {len(tags)} (after the exclusionList) matches {compiled.describe()}")
        digest: str | None = None
        mode = policy.spec.digest_reflection_policy

        if mode != "Never":
            digest = self.store.digest(image, tag) if mode == "IfNotPresent" else None
            if digest is None:
                try:
                    # a suspended repository's listing carries no access: read it for this one request
                    options = listing.options or access_options(repo, self.secrets)
                    digest = await read_listed(lambda: client.head_digest(listing.ref, tag, options))
                except Exception as err:
                    return PolicyResult(policy, None, f"digest of {repo.spec.image}:{tag}: {err}")
            self.store.record_digest(image, tag, digest)
        latest = LatestImage(repo.spec.image, tag, digest)
        changed = self.store.save_policy_result(policy.key, repo.spec.image, tag, digest)
        return PolicyResult(policy, latest, changed=changed, waiting=waiting, note=note)

    async def _select_with_facts(self, client: RegistryClient, repo: ImageRepository, listing: _Listing,
                                 compiled: Policy, tags: list[str]) -> Selected:
        from imagebot.selection import NEWEST_BUILD_CAP, Facts, select

        image = str(listing.ref)
        facts = Facts(self.store, client, listing.ref,
                      lambda: listing.options or access_options(repo, self.secrets), self.clock)
        seen = self.store.first_seen(image)
        cap = self.newest_build_cap if self.newest_build_cap is not None else NEWEST_BUILD_CAP
        return await select(compiled, tags, facts, seen, self.clock(), cap)


def _failure_kind(err: Exception) -> FailureKind:
    from imagebot.registry import AuthError, RateLimited

    if isinstance(err, AuthError):
        return FailureKind.AUTH
    if isinstance(err, RateLimited):
        return FailureKind.RATE_LIMIT
    return FailureKind.REGISTRY


# Every tag valid, checked in one pass over the listing joined by newlines (no valid tag holds one): a
# regular-expression call per tag was a tenth of a second of a 200-repository plan.
_ALL_TAGS = re.compile(rf"(?:{TAG.pattern}\n)*")


def _valid_tags(tags: list[str]) -> tuple[list[str], int]:
    """The tags that follow the OCI tag grammar, and how many did not."""
    joined = "\n".join(tags) + "\n"
    if joined.count("\n") == len(tags) and _ALL_TAGS.fullmatch(joined) is not None:
        return tags, 0
    valid = [tag for tag in tags if is_tag(tag)]
    return valid, len(tags) - len(valid)


def _repository_result(repo: ImageRepository, listing: _Listing
                       ) -> tuple[tuple[_Listing, list[str]] | None, RepositoryResult]:
    """What one repository's policies select from (None: nothing) and its line of the report."""
    image, suspended = str(listing.ref), listing.suspended
    if listing.error is not None:
        return None, RepositoryResult(repo, image, 0, listing.error, error_kind=listing.error_kind)
    try:
        kept = _kept(listing, tuple(repo.spec.exclusion_list))
    except PolicyError as err:
        return None, RepositoryResult(repo, image, 0, f"spec.exclusionList: {err}", error_kind=FailureKind.CONFIG,
                                      suspended=suspended)
    return ((listing, kept) if listing.tags is not None else None,
            RepositoryResult(repo, image, len(kept), suspended=suspended, invalid_tags=listing.invalid))


def _kept(listing: _Listing, exclusions: tuple[str, ...]) -> list[str]:
    """The tags an exclusionList keeps; raises PolicyError for an invalid pattern."""
    kept = listing.kept.get(exclusions)
    if kept is None:
        kept = listing.kept[exclusions] = _exclusion(exclusions).keep(listing.tags or [])
    return kept


@functools.lru_cache(maxsize=256)
def _exclusion(patterns: tuple[str, ...]) -> Exclusion:
    from imagebot.policy.exclusion import Exclusion

    return Exclusion(patterns)
