from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.run.harness import Workspace
from tests.support.forgefakes import github_fake  # noqa: F401
from tests.support.gitremotes import (  # noqa: F401
    gpg_test_key,
    http_git_server,
    isolated_git_home,
    ssh_git_server,
    ssh_signing_key,
)
from tests.support.registry import RegistryServer, start_registry
from tests.support.webhookreceiver import webhook_receiver  # noqa: F401


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """One plain-http registry for the folder; each test uses repositories named after itself."""
    with start_registry(tmp_path_factory.mktemp("run-registry")) as server:
        yield server


@pytest.fixture(autouse=True)
def _hermetic_git(isolated_git_home: Path) -> None:  # noqa: F811
    # The machine's git, ssh and gpg configuration must not leak into any run.
    pass


@pytest.fixture
def workspace(tmp_path: Path, registry: RegistryServer, request: pytest.FixtureRequest) -> Workspace:
    return Workspace.for_test(tmp_path, registry, request.node.name, "run")
