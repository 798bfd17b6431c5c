"""The policy engine: given a repository's tags and an ImagePolicy, pick the newest tag as Flux does.

Pure functions, no I/O. One module per rule: ``semver`` (with ``constraint`` and ``version``),
``alphabetical``, ``numerical``, ``filter`` (filterTags and extract), ``exclusion`` (the
ImageRepository's exclusionList) and ``explain`` (what happened to each tag); ``regex`` and
``gosyntax`` match patterns as Go's regexp does. Selection follows Flux 2.7 and later, checked
against Flux's own answers in fixtures/flux-policy.

    policy = build_policy(semver=">=1.0.0", filter_pattern=r"^v(?P<v>.*)$", filter_extract="$v")
    policy.latest(["v1.0.0", "v1.2.0", "latest"])  # "v1.2.0"
"""

from imagebot.policy._policy import Policy, build_policy
from imagebot.policy.errors import PolicyError
from imagebot.policy.explain import Outcome, Verdict

__all__ = ["Outcome", "Policy", "PolicyError", "Verdict", "build_policy"]
