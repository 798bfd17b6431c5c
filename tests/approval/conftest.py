from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.run.harness import Workspace
from tests.support.gitremotes import isolated_git_home  # noqa: F401
from tests.support.registry import RegistryServer, start_registry


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("approval-registry")) as server:
        yield server


@pytest.fixture(autouse=True)
def _hermetic_git(isolated_git_home: Path) -> None:  # noqa: F811
    pass


@pytest.fixture
def workspace(tmp_path: Path, registry: RegistryServer, request: pytest.FixtureRequest) -> Workspace:
    return Workspace.for_test(tmp_path, registry, request.node.name, "approval")
