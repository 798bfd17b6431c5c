"""Checks across objects: references, policies that do not compile, commit templates, provider types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagebot.config.models import ImageUpdateAutomation
from imagebot.config.problems import Problem, object_problem

if TYPE_CHECKING:
    from imagebot.config._config import Config

_TRIGGERABLE = ("ImageRepository", "ImageUpdateAutomation", "GitRepository", "ImagePolicy")


def check_links(config: Config) -> list[Problem]:
    """Dangling references, policies that do not compile, and templates that do not render."""
    from imagebot.policy import PolicyError
    from imagebot.policy.exclusion import Exclusion

    problems: list[Problem] = []
    for repo in config.repositories:
        try:
            Exclusion(repo.spec.exclusion_list)
        except PolicyError as err:
            problems.append(object_problem(repo, "spec.exclusionList", str(err)))
        if repo.spec.provider != "generic":
            from imagebot.registry import ImageReference
            from imagebot.registry.cloud import host_problem

            wrong = host_problem(repo.spec.provider, ImageReference.parse(repo.spec.image).registry)
            if wrong:
                problems.append(object_problem(repo, "spec.provider", wrong))
            if repo.spec.secret_ref is not None:
                problems.append(object_problem(repo, "spec.secretRef", f"not used: provider {repo.spec.provider} "
                                               "logs in with the cloud's own credentials", "note"))
    for policy in config.policies:
        if config.repository_for(policy) is None:
            problems.append(object_problem(policy, "spec.imageRepositoryRef",
                                           config.missing("ImageRepository", policy.repository_key)))
        try:
            policy.compile(None)  # the repository's exclusionList is checked with the repository
        except PolicyError as err:
            problems.append(object_problem(policy, "spec.policy", str(err)))
    for automation in config.automations:
        problems.extend(_automation_problems(config, automation))
    for git in config.git_repositories:
        if git.spec.provider in ("aws", "azure"):
            problems.append(object_problem(git, "spec.provider", f"provider {git.spec.provider!r} (cloud workload "
                                           "identity for git) is not available: imagebot uses spec.secretRef",
                                           "note"))
        elif git.spec.provider == "github" and git.spec.secret_ref is None:
            problems.append(object_problem(git, "spec.secretRef", "provider github needs a secret with the GitHub "
                                           "App's keys: githubAppID, githubAppInstallationID (or "
                                           "githubAppInstallationOwner) and githubAppPrivateKey"))
        if git.spec.provider == "github" and not git.spec.url.startswith(("https://", "http://")):
            problems.append(object_problem(git, "spec.url", "provider github authenticates with a GitHub App "
                                           "token, which git sends over HTTPS only: use the https:// URL of the "
                                           "repository"))
        ref = git.spec.ref
        if ref is None:
            problems.append(object_problem(git, "spec.ref", "not set: the branch is master, as Flux defaults it",
                                           "note"))
        elif not ref.branch:
            problems.append(object_problem(git, "spec.ref.branch", "an automation needs a branch to push to: set it "
                                           "here or spec.git.checkout.ref.branch on the automation", "note"))
    problems.extend(_notification_problems(config))
    return problems


def _automation_problems(config: Config, automation: ImageUpdateAutomation) -> list[Problem]:
    problems: list[Problem] = []
    if config.git_repository_for(automation) is None:
        problems.append(object_problem(automation, "spec.sourceRef",
                                       config.missing("GitRepository", automation.source_key)))
    if not config.policies_for(automation):
        problems.append(object_problem(automation, "spec.policySelector",
                                       "no ImagePolicy in this namespace is selected: nothing to update", "note"))
    push = automation.spec.git.push
    if push and push.pull_request:
        checkout = config.checkout_branch(automation)
        if not push.branch or push.branch == checkout:
            problems.append(object_problem(automation, "spec.git.push.pullRequest",
                                           "a pull request needs spec.git.push.branch set to a branch other than "
                                           "the checkout branch"))
        from imagebot.delivery.forges import settings_problems

        pr = push.pull_request
        for field, message in settings_problems(pr.provider, pr.labels, pr.reviewers):
            problems.append(object_problem(automation, f"spec.git.push.pullRequest.{field}", message))
    problems.extend(check_templates(config, automation))
    return problems


def check_templates(config: Config, automation: ImageUpdateAutomation) -> list[Problem]:
    """The automation's commit message (and pull request) templates rendered over sample changes: a Go
    template or a Jinja2 error is found here, not at the first commit."""
    commit = automation.spec.git.commit
    push = automation.spec.git.push
    templates = [("spec.git.commit.messageTemplate", "git.commit.messageTemplate", commit.message_template)]
    if push and push.pull_request:
        templates += [("spec.git.push.pullRequest.title", "pullRequest.title", push.pull_request.title),
                      ("spec.git.push.pullRequest.body", "pullRequest.body", push.pull_request.body)]
    if not any(template for _, _, template in templates):
        return []  # nothing to render: Jinja2 and the delivery package stay unloaded (CLI start-up time)
    from imagebot.delivery.message import (
        AutomationObject,
        ChangeRecord,
        MessageTemplateError,
        render_template,
        template_data,
    )

    namespace = automation.metadata.namespace
    policies = config.policies_for(automation) or []
    policy = policies[0].metadata.name if policies else "app"
    sample = [ChangeRecord("apps/deployment.yaml", "Deployment", namespace, "app",
                           "registry.example.com/app:1.0.0", "registry.example.com/app:1.0.1",
                           f"{namespace}:{policy}", "apps/v1")]
    data = template_data(sample, AutomationObject(namespace, automation.metadata.name),
                         commit.message_template_values)
    problems = []
    for fieldname, what, template in templates:
        if not template:
            continue
        try:
            render_template(template, data, what=what)
        except MessageTemplateError as err:
            problems.append(object_problem(automation, fieldname, str(err)))
    return problems


def _notification_problems(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    if config.providers:  # the notify package (httpx, every notifier) loads only when there is one
        from imagebot.notify import ProviderType

        supported = [t.value for t in ProviderType]
    for provider in config.providers:
        if provider.spec.type not in supported:
            problems.append(object_problem(provider, "spec.type", f"type '{provider.spec.type}' is a Flux provider "
                                           f"imagebot does not send to: use one of {', '.join(supported)}"))
    for alert in config.alerts:
        if config.provider_for(alert) is None:
            problems.append(object_problem(alert, "spec.providerRef", config.missing(
                "Provider", f"{alert.metadata.namespace}/{alert.spec.provider_ref.name}")))
    for receiver in config.receivers:
        for i, res in enumerate(receiver.spec.resources):
            if res.kind not in _TRIGGERABLE:
                problems.append(object_problem(receiver, f"spec.resources[{i}].kind",
                                               f"kind {res.kind!r} is not one imagebot can trigger", "note"))
                continue
            key = f"{res.namespace or receiver.metadata.namespace}/{res.name}"
            if res.name != "*" and config.find(res.kind, key) is None:
                problems.append(object_problem(receiver, f"spec.resources[{i}]", config.missing(res.kind, key)))
    return problems
