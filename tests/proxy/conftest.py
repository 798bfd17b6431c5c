from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.run.harness import Workspace
from tests.support.forgefakes import github_fake  # noqa: F401
from tests.support.gitremotes import gpg_test_key, http_git_server, isolated_git_home  # noqa: F401
from tests.support.proxy import squid  # noqa: F401
from tests.support.registry import (  # noqa: F401
    RegistryServer,
    plain_registry,
    registry_ca,
    start_registry,
    tls_registry,
)
from tests.support.webhookreceiver import webhook_receiver  # noqa: F401


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("proxy-registry")) as server:
        yield server


@pytest.fixture(autouse=True)
def _hermetic(isolated_git_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    # The machine's proxy settings must not decide where these tests' requests go.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def workspace(tmp_path: Path, registry: RegistryServer, request: pytest.FixtureRequest) -> Workspace:
    return Workspace.for_test(tmp_path, registry, request.node.name, "proxy")
