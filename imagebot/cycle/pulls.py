"""Pull requests (our extension): opened or updated after a push to the automation's own branch."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from imagebot.config import Config, SecretStore
from imagebot.cycle.outcome import AutomationError, AutomationOutcome, failed
from imagebot.cycle.sources import change_records, checkout_branch, git_proxy
from imagebot.failures import FailureKind

if TYPE_CHECKING:
    from imagebot.config.models import PullRequestSpec
    from imagebot.delivery.message import ChangeRecord
    from imagebot.proxy import Proxy
    from imagebot.store import Store


async def open_pull_request(config: Config, outcome: AutomationOutcome, secrets: SecretStore) -> None:
    """Open or update the pull request of an automation that pushed to its own branch."""
    from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
    from imagebot.delivery.forges._http import ForgeBase
    from imagebot.delivery.githubapp import GitHubAppError
    from imagebot.delivery.message import AutomationObject, MessageTemplateError, render_template, template_data

    automation = outcome.automation
    push = automation.spec.git.push
    if outcome.commit is None or push is None or push.pull_request is None or outcome.result is None:
        return
    pr = push.pull_request
    token = ""
    records = change_records(outcome.result, outcome.releases)
    data = template_data(records, AutomationObject(automation.metadata.namespace, automation.metadata.name),
                         automation.spec.git.commit.message_template_values)
    try:
        title = (render_template(pr.title, data, what="pullRequest.title").strip() if pr.title
                 else default_title(records))
        body = render_template(pr.body, data, what="pullRequest.body") if pr.body else default_body(outcome)
        # the pull request API (and a GitHub App's token exchange) goes the way git goes: the GitRepository's proxy
        proxy = git_proxy(config, automation, secrets)
        api_url, token = await _api_and_token(pr, secrets, proxy)
        forge = forge_for(pr.provider, repository_url=outcome.repository_url or "", api_url=api_url, token=token)
        if isinstance(forge, ForgeBase):
            forge.proxy = proxy
        result = await forge.upsert_pull_request(PullRequestRequest(
            head=outcome.branch or push.branch or "", base=checkout_branch(config, automation), title=title,
            body=body, labels=pr.labels, reviewers=pr.reviewers))
    except (ForgeError, MessageTemplateError, LookupError, AutomationError, GitHubAppError) as err:
        if isinstance(err, ForgeError) and err.status == 401:
            from imagebot.delivery.githubapp import TOKENS

            TOKENS.refused(token)  # a revoked installation token: the next use fetches a new one
        failed(outcome, FailureKind.FORGE, f"pull request: {err}")
        return
    outcome.pull_request_url = result.url


async def _api_and_token(pr: PullRequestSpec, secrets: SecretStore, proxy: Proxy | None) -> tuple[str | None, str]:
    """The API base and token: the secret's `token`, or for GitHub an installation token of the GitHub
    App whose keys the secret holds (the GitRepository's own secret serves both)."""
    from imagebot.delivery.githubapp import DEFAULT_API_URL, KEY_APP_ID, TOKENS, GitHubApp

    name = pr.secret_ref.name
    if pr.provider == "github" and secrets.has(name, KEY_APP_ID) and not secrets.has(name, "token"):
        app = GitHubApp.from_secret(secrets, name)
        token = await asyncio.to_thread(lambda: TOKENS.token(app, proxy=proxy))
        # An app on GitHub Enterprise Server: its pulls API is on the same API base.
        return pr.url or (app.api_url if app.api_url != DEFAULT_API_URL else None), token
    from imagebot.delivery.forges import read_token

    return pr.url, read_token(secrets, name, pr.provider)


def default_title(records: list[ChangeRecord]) -> str:
    from imagebot.delivery.message import default_message

    return default_message(records).splitlines()[0]


def default_body(outcome: AutomationOutcome) -> str:
    """Markdown: every change old -> new, by file and object."""
    assert outcome.result is not None
    lines = [f"imagebot updated {len(outcome.result.changes)} image reference(s) for "
             f"`{outcome.automation.key}`.", ""]
    for file, objects in outcome.result.by_file().items():
        lines.append(f"### `{file}`")
        for obj, changes in objects.items():
            label = f"{obj.kind} {obj.namespace}/{obj.name}" if obj else "values"
            for change in changes:
                lines.append(f"- {label}: `{change.old_value}` → `{change.new_value}` "
                             f"(policy `{change.policy or change.setter}`)")
        lines.append("")
    if outcome.commit:
        lines.append(f"Commit {outcome.commit[:12]} on `{outcome.branch}`.")
    return _with_releases("\n".join(lines), outcome)


def _with_releases(body: str, outcome: AutomationOutcome) -> str:
    """`body` and a section per image that has release information, the release notes sharing what
    room the forge's body limit leaves."""
    from imagebot.release.lookup import release_key
    from imagebot.release.render import PR_BODY_MAX, markdown

    assert outcome.result is not None
    shown: dict[tuple[str, str, str], str] = {}
    for change in outcome.result.changes:
        key = release_key(change)
        if key in outcome.releases and key not in shown:
            shown[key] = f"{change.old_value} → {change.new_value}"
    if not shown:
        return body
    budget = PR_BODY_MAX - 200 - len(body)  # 200: the "and N more" line and separators
    links_only = {key: markdown(outcome.releases[key], 0) for key in shown}
    links = {key: f"### Release: `{title}`\n{links_only[key]}" for key, title in shown.items()}
    fitting, used = [], 0
    for key, section in links.items():  # links first: every image gets them while they fit
        if used + len(section) + 2 > budget:
            break
        fitting.append(key)
        used += len(section) + 2
    room = (budget - used) // max(1, len(fitting))  # what each release may add for its notes
    sections = [f"### Release: `{shown[key]}`\n{markdown(outcome.releases[key], len(links_only[key]) + room)}"
                for key in fitting]
    if len(fitting) < len(shown):
        sections.append(f"…and {len(shown) - len(fitting)} more release(s), not shown: the body has no room.")
    return body + "\n\n" + "\n\n".join(sections)


def pull_request_pending(store: Store, outcome: AutomationOutcome) -> bool:
    """Whether the pull request of this outcome's commit still has to be opened or updated.

    Always after a push; when the push branch already held the change, only if no pull request was
    recorded for that commit (a forge that failed last time gets another try, a healthy one no calls).
    """
    push = outcome.automation.spec.git.push
    if push is None or push.pull_request is None or outcome.commit is None or outcome.status == "failed":
        return False
    if outcome.pushed:
        return True
    return not any(d.commit == outcome.commit and d.pull_request_url
                   for d in store.deliveries(outcome.automation.key, limit=20))
