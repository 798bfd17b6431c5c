"""Flux's objects as pydantic models, with Flux's field names and defaults.

Only the fields imagebot acts on are modelled. Every document is first checked against Flux's own
schema (imagebot.config.schema), which knows every field: a misspelt one is an error there, and the
other Flux fields (serviceAccountName, accessFrom, ...) reach these models and are ignored, so that
existing YAML loads unchanged. Our extensions are marked `extension` in their field description and
added to the schema explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from imagebot.config.durations import parse_duration

if TYPE_CHECKING:
    from imagebot.policy import Policy

Duration = Annotated[float, BeforeValidator(parse_duration)]

IMAGE_GROUP = "image.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True,
                              defer_build=True)


@dataclass(frozen=True)
class Origin:
    """Where an object was read: the file and the 1-based line of its document."""

    file: str
    line: int


class Metadata(_Model):
    name: str = Field(min_length=1)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class LocalRef(_Model):
    name: str = Field(min_length=1)


class NamespacedRef(_Model):
    name: str = Field(min_length=1)
    namespace: str | None = None


class FluxObject(_Model):
    api_version: str
    kind: str
    metadata: Metadata
    origin: Origin | None = Field(default=None, exclude=True)

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"

    def describe(self) -> str:
        return f"{self.kind} {self.key}"


# --- image.toolkit.fluxcd.io ---------------------------------------------------------------


class ImageRepositorySpec(_Model):
    image: str = Field(min_length=1)
    interval: Duration
    timeout: Duration | None = None
    secret_ref: LocalRef | None = None
    cert_secret_ref: LocalRef | None = None
    insecure: bool = False
    exclusion_list: list[str] = Field(default_factory=lambda: ["^.*\\.sig$"])
    suspend: bool = False
    provider: Literal["generic", "aws", "azure", "gcp"] = "generic"
    proxy_secret_ref: LocalRef | None = None

    @field_validator("image")
    @classmethod
    def _image_is_reference(cls, value: str) -> str:
        from imagebot.registry import ImageReference

        ref = ImageReference.parse(value)
        if ref.tag or ref.digest:
            raise ValueError(f"expected an image name without tag or digest, got {value!r}")
        return value


    @property
    def effective_timeout(self) -> float:
        return self.timeout if self.timeout is not None else self.interval


class ImageRepository(FluxObject):
    kind: Literal["ImageRepository"] = "ImageRepository"
    spec: ImageRepositorySpec


class SemverChoice(_Model):
    range: str = Field(min_length=1)
    strict: bool = Field(default=True, description="extension: false parses versions leniently (16, 3.19)")


class OrderChoice(_Model):
    order: Literal["asc", "desc"] = "asc"


class NewestBuildChoice(_Model):
    """extension: rank by build time (OCI created annotation, else the image config's created)."""


class PolicyChoice(_Model):
    semver: SemverChoice | None = None
    alphabetical: OrderChoice | None = None
    numerical: OrderChoice | None = None
    newest_build: NewestBuildChoice | None = Field(default=None, description="extension: the newest build wins")

    @model_validator(mode="after")
    def _exactly_one(self) -> PolicyChoice:
        chosen = [n for n in ("semver", "alphabetical", "numerical", "newest_build") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "expected exactly one of semver, alphabetical, numerical or newestBuild"
                + (f", got {', '.join(to_camel(n) for n in chosen)}" if chosen else "")
            )
        return self


class TagFilter(_Model):
    pattern: str = ""
    extract: str = ""


class ImagePolicySpec(_Model):
    image_repository_ref: NamespacedRef
    policy: PolicyChoice
    filter_tags: TagFilter | None = None
    digest_reflection_policy: Literal["Never", "IfNotPresent", "Always"] = "Never"
    interval: Duration | None = None
    minimum_age: Duration | None = Field(
        default=None, description="extension: a tag qualifies once imagebot has known it this long")
    platforms: list[str] = Field(
        default_factory=list, description="extension: a tag qualifies if its image serves every one")


class ImagePolicy(FluxObject):
    kind: Literal["ImagePolicy"] = "ImagePolicy"
    spec: ImagePolicySpec

    @property
    def repository_key(self) -> str:
        ref = self.spec.image_repository_ref
        return f"{ref.namespace or self.metadata.namespace}/{ref.name}"

    def compile(self, repository: ImageRepository | None) -> Policy:
        """The selection rule of this policy, with the repository's exclusionList applied first."""
        from imagebot.policy import build_policy

        choice = self.spec.policy
        filt = self.spec.filter_tags
        return build_policy(
            semver=choice.semver.range if choice.semver else None,
            strict=choice.semver.strict if choice.semver else True,
            alphabetical=choice.alphabetical.order if choice.alphabetical else None,
            numerical=choice.numerical.order if choice.numerical else None,
            filter_pattern=filt.pattern if filt and filt.pattern else None,
            filter_extract=filt.extract if filt and filt.extract else None,
            exclusions=tuple(repository.spec.exclusion_list) if repository else (),
            newest_build=choice.newest_build is not None,
            minimum_age=None if self.spec.minimum_age is None else timedelta(seconds=self.spec.minimum_age),
            platforms=tuple(self.spec.platforms),
        )


class GitRef(_Model):
    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    name: str | None = None
    commit: str | None = None


class Author(_Model):
    name: str = Field(min_length=1)
    email: str = Field(min_length=1)


class SigningKey(_Model):
    secret_ref: LocalRef
    type: Literal["gpg", "ssh"] = Field(default="gpg", description="extension: ssh signs with `identity`")


class CommitSpec(_Model):
    author: Author
    signing_key: SigningKey | None = None
    message_template: str | None = None
    message_template_values: dict[str, str] = Field(default_factory=dict)


class PullRequestSpec(_Model):
    """Extension: open or update a pull request from the push branch into the checkout branch."""

    provider: Literal["github", "gitlab", "gitea", "forgejo", "bitbucket", "bitbucketserver", "azuredevops"]
    url: str | None = None
    secret_ref: LocalRef
    title: str | None = None
    body: str | None = None
    labels: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)


class PushSpec(_Model):
    branch: str | None = None
    refspec: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    pull_request: PullRequestSpec | None = None


class CheckoutSpec(_Model):
    ref: GitRef


class GitSpec(_Model):
    checkout: CheckoutSpec | None = None
    commit: CommitSpec
    push: PushSpec | None = None


class UpdateStrategy(_Model):
    path: str = "./"
    strategy: Literal["Setters"] = "Setters"


class SourceRef(_Model):
    kind: Literal["GitRepository"] = "GitRepository"
    name: str = Field(min_length=1)
    namespace: str | None = None
    api_version: str | None = None


class LabelExpression(_Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)


class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelExpression] = Field(default_factory=list)

    def matches(self, labels: dict[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for expr in self.match_expressions:
            present = expr.key in labels
            ok = {
                "In": present and labels.get(expr.key) in expr.values,
                "NotIn": not present or labels.get(expr.key) not in expr.values,
                "Exists": present,
                "DoesNotExist": not present,
            }[expr.operator]
            if not ok:
                return False
        return True


class DeliveryWindow(_Model):
    """Extension: minutes (a five-field cron expression, read in `timeZone`) in which to deliver."""

    cron: str = Field(description="extension: minutes in which the automation may commit and push")
    time_zone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str) -> str:
        from imagebot.cycle.window import cron_trigger

        cron_trigger(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        from imagebot.cycle.window import time_zone

        time_zone(value)
        return value

    @model_validator(mode="after")
    def _opens_some_day(self) -> DeliveryWindow:
        from datetime import UTC, datetime

        from imagebot.cycle.window import cron_trigger

        # `0 0 31 2 *` parses, but no day matches it: an automation that would wait forever
        if cron_trigger(self.cron, self.time_zone).get_next_fire_time(None, datetime.now(UTC)) is None:
            raise ValueError(f"the window {self.cron!r} never opens: no date matches it")
        return self


class ApprovalSpec(_Model):
    """extension: a change waits for a person's approval (Slack, the status page or the CLI) before it is
    committed. `approvers`: Slack user IDs (U…/W…) or e-mail addresses; empty: nobody can approve in Slack."""

    required: bool = True
    approvers: list[str] = Field(default_factory=list)
    expires_after: Duration = 24 * 3600.0


class ImageUpdateAutomationSpec(_Model):
    source_ref: SourceRef
    git: GitSpec
    interval: Duration
    update: UpdateStrategy = Field(default_factory=UpdateStrategy)
    suspend: bool = False
    policy_selector: LabelSelector | None = None
    schedule: list[DeliveryWindow] = Field(default_factory=list, description="extension: delivery windows")
    approval: ApprovalSpec | None = Field(default=None, description="extension: approval gate")


class ImageUpdateAutomation(FluxObject):
    kind: Literal["ImageUpdateAutomation"] = "ImageUpdateAutomation"
    spec: ImageUpdateAutomationSpec

    @property
    def source_key(self) -> str:
        ref = self.spec.source_ref
        return f"{ref.namespace or self.metadata.namespace}/{ref.name}"


# --- source.toolkit.fluxcd.io ---------------------------------------------------------------


class GitVerification(_Model):
    """Flux's `spec.verify`: the checked-out head commit must be signed by a key in the secret."""

    mode: str = "HEAD"
    secret_ref: LocalRef

    @field_validator("mode")
    @classmethod
    def _head_only(cls, value: str) -> str:
        # Tag and TagAndHEAD verify the tag a checkout names: imagebot checks out branches only.
        if value not in ("HEAD", "head"):
            raise ValueError(f"mode {value!r} verifies the tag a GitRepository checks out, but imagebot "
                             "checks out a branch (to push to it): use mode HEAD")
        return value


class GitRepositorySpec(_Model):
    url: str = Field(min_length=1)
    ref: GitRef | None = None
    secret_ref: LocalRef | None = None
    proxy_secret_ref: LocalRef | None = None
    verify: GitVerification | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    suspend: bool = False
    provider: Literal["generic", "aws", "azure", "github"] = "generic"  # github: a GitHub App's secret keys


class GitRepository(FluxObject):
    kind: Literal["GitRepository"] = "GitRepository"
    spec: GitRepositorySpec


# --- notification.toolkit.fluxcd.io ---------------------------------------------------------


class CrossNamespaceRef(_Model):
    kind: str
    name: str = Field(min_length=1)
    namespace: str | None = None
    api_version: str | None = None
    match_labels: dict[str, str] = Field(default_factory=dict)


class ReceiverSpec(_Model):
    # Flux also has gcr, nexus and cdevents: imagebot does not verify those (yet), so it refuses them
    type: Literal["generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor", "dockerhub", "quay", "acr"]
    events: list[str] = Field(default_factory=list)
    resources: list[CrossNamespaceRef]
    secret_ref: LocalRef
    interval: Duration | None = None
    suspend: bool = False


class Receiver(FluxObject):
    kind: Literal["Receiver"] = "Receiver"
    spec: ReceiverSpec


class ProviderSpec(_Model):
    type: str
    address: str | None = None
    channel: str | None = None
    username: str | None = None
    secret_ref: LocalRef | None = None
    cert_secret_ref: LocalRef | None = None
    proxy_secret_ref: LocalRef | None = None
    proxy: str | None = Field(default=None, description="deprecated in Flux: proxySecretRef wins over it")
    timeout: Duration | None = None
    suspend: bool = False


class Provider(FluxObject):
    kind: Literal["Provider"] = "Provider"
    spec: ProviderSpec


class AlertSpec(_Model):
    provider_ref: LocalRef
    event_severity: Literal["info", "error"] = "info"
    event_sources: list[CrossNamespaceRef]
    inclusion_list: list[str] = Field(default_factory=list)
    exclusion_list: list[str] = Field(default_factory=list)
    summary: str | None = None
    event_metadata: dict[str, str] = Field(default_factory=dict)
    suspend: bool = False


class Alert(FluxObject):
    kind: Literal["Alert"] = "Alert"
    spec: AlertSpec


# kind -> (API group, accepted versions, model)
KINDS: dict[str, tuple[str, tuple[str, ...], type[FluxObject]]] = {
    "ImageRepository": (IMAGE_GROUP, ("v1", "v1beta2"), ImageRepository),
    "ImagePolicy": (IMAGE_GROUP, ("v1", "v1beta2"), ImagePolicy),
    "ImageUpdateAutomation": (IMAGE_GROUP, ("v1", "v1beta2"), ImageUpdateAutomation),
    "GitRepository": (SOURCE_GROUP, ("v1", "v1beta2"), GitRepository),
    "Receiver": (NOTIFICATION_GROUP, ("v1", "v1beta3", "v1beta2"), Receiver),
    "Provider": (NOTIFICATION_GROUP, ("v1beta3", "v1beta2"), Provider),
    "Alert": (NOTIFICATION_GROUP, ("v1beta3", "v1beta2"), Alert),
}
