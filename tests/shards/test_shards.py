"""Three `imagebot run` instances over one config folder, split by --watch-label-selector as Flux shards:
each object is handled by exactly one instance, a push gives exactly one commit, a dead instance costs
only its own shard, and a lost state folder is rebuilt without duplicate commits or pull requests."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.shards.fleet import (
    APPS,
    NAMESPACES,
    SELECTORS,
    Instance,
    instance_of,
    manifests,
    namespace,
    namespace_config,
    settled,
)
from tests.support.forgefakes import TOKEN, GitHubFake
from tests.support.gitremotes import BareRemote, HttpGitServer, make_bare_repo
from tests.support.registry import RegistryServer, copy_repository, start_registry

pytestmark = pytest.mark.timeout(900)
PR_NAMESPACE = 2  # shard2's first namespace delivers by pull request
PR_BRANCH = "imagebot/updates"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with start_registry(tmp_path / "registry") as server:
        yield server


def commits(remote: BareRemote, branch: str = "main") -> int:
    from tests.support.gitremotes import git
    return int(git("rev-list", "--count", branch, cwd=remote.path).strip())


def objects(status: dict) -> set[tuple[str, str, str]]:
    return ({("ImageRepository", r["namespace"], r["name"]) for r in status["repositories"]}
            | {("ImagePolicy", p["namespace"], p["name"]) for p in status["policies"]}
            | {("ImageUpdateAutomation", a["namespace"], a["name"]) for a in status["automations"]})


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


def test_three_shards_split_the_fleet_and_survive_death_and_lost_state(
        tmp_path: Path, registry: RegistryServer, http_git_server: HttpGitServer, github_fake: GitHubFake) -> None:
    host = registry.host
    registry.push_image("team0/app0", "1.0.0")
    for n in range(NAMESPACES):
        for a in range(APPS):
            if (n, a) != (0, 0):
                copy_repository(registry.storage_root, "team0/app0", f"{namespace(n)}/app{a}")

    config, secrets = tmp_path / "config", tmp_path / "secrets"
    config.mkdir()
    (secrets / "git-http").mkdir(parents=True)
    (secrets / "git-http" / "username").write_text(http_git_server.username)
    (secrets / "git-http" / "password").write_text(http_git_server.password)
    (secrets / "github").mkdir()
    (secrets / "github" / "token").write_text(TOKEN)
    remotes: dict[int, BareRemote] = {}
    for n in range(NAMESPACES):
        if n == PR_NAMESPACE:
            github_fake.add_repository(f"acme/{namespace(n)}", branches={"main", PR_BRANCH})
            remotes[n] = http_git_server.new_repo(f"acme/{namespace(n)}.git", manifests(host, n))
            text = namespace_config(host, n, http_git_server.url_for(remotes[n]), git_secret="git-http",
                                    pull_request={"url": github_fake.api_url, "secret": "github"})
        else:
            remotes[n] = make_bare_repo(tmp_path / "remotes" / f"{namespace(n)}.git", manifests(host, n))
            text = namespace_config(host, n, str(remotes[n].path))
        (config / f"{namespace(n)}.yaml").write_text(text)
    before = {n: commits(r) for n, r in remotes.items()}

    instances = {name: Instance(name, config, secrets, tmp_path / f"state-{name}", tmp_path / f"home-{name}",
                                tmp_path / f"{name}.log") for name in SELECTORS}
    try:
        for instance in instances.values():
            instance.start()
        statuses = {name: i.wait(settled, "first scans and runs", timeout=120) for name, i in instances.items()}

        # Every object is handled by exactly one instance: the one its shard label names.
        owned = {name: objects(status) for name, status in statuses.items()}
        everything = set().union(*owned.values())
        assert len(everything) == 30 + 30 + 6
        assert sum(len(o) for o in owned.values()) == len(everything)
        for name, found in owned.items():
            assert {ns for _, ns, _ in found} == {namespace(n) for n in range(NAMESPACES) if instance_of(n) == name}
        assert {n: commits(r) for n, r in remotes.items()} == before  # nothing to do yet

        # One push, exactly one commit, by the main instance, on that namespace's remote only.
        registry.push_image("team4/app1", "1.1.0")
        wait_until(lambda: commits(remotes[4]) == before[4] + 1, "the main instance's commit")
        time.sleep(5)  # two more scan intervals on every instance: nobody commits it again
        assert {n: commits(r) for n, r in remotes.items()} == {**before, 4: before[4] + 1}
        assert f"{host}/team4/app1:1.1.0" in remotes[4].read("apps/app1.yaml")

        # shard2: a commit on one remote and a pull request on the other.
        registry.push_image("team3/app2", "1.1.0")
        registry.push_image("team2/app0", "1.1.0")
        wait_until(lambda: commits(remotes[3]) == before[3] + 1, "shard2's commit")
        wait_until(lambda: len(github_fake.repositories["acme/team2"].pulls) == 1, "shard2's pull request")
        pr_head = remotes[PR_NAMESPACE].head(PR_BRANCH)
        heads = {n: r.head() for n, r in remotes.items()}

        # shard1 dies: its namespaces wait, the others carry on untouched.
        instances["shard1"].kill()
        registry.push_image("team0/app0", "1.1.0")
        registry.push_image("team5/app0", "1.1.0")
        wait_until(lambda: commits(remotes[5]) == before[5] + 1, "the main instance's commit after shard1's death")
        time.sleep(3)
        assert commits(remotes[0]) == before[0]  # nobody else takes shard1's objects
        assert {n: r.head() for n, r in remotes.items() if n != 5} == {n: h for n, h in heads.items() if n != 5}
        for name in ("main", "shard2"):
            assert settled(instances[name].status())

        # shard2 loses its state: restarted, it rebuilds it from the registry and git, committing nothing twice.
        instances["shard2"].stop()
        shutil.rmtree(instances["shard2"].state)
        instances["shard2"].start()
        instances["shard2"].wait(settled, "scans and runs after losing its state", timeout=120)
        time.sleep(5)  # more scans and automation runs
        assert commits(remotes[3]) == before[3] + 1 and remotes[3].head() == heads[3]
        assert remotes[PR_NAMESPACE].head(PR_BRANCH) == pr_head
        assert len(github_fake.repositories["acme/team2"].pulls) == 1
        assert (instances["shard2"].state / "state.db").exists()

        # shard1 comes back with its state and does the one commit it owes.
        instances["shard1"].start()
        wait_until(lambda: commits(remotes[0]) == before[0] + 1, "shard1's commit after its restart", timeout=120)
        assert f"{host}/team0/app0:1.1.0" in remotes[0].read("apps/app0.yaml")
    finally:
        for instance in instances.values():
            instance.stop()
