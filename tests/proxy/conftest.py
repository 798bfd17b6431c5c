from pathlib import Path

import pytest

from tests.run.harness import workspace_fixtures
from tests.support.forgefakes import github_fake  # noqa: F401
from tests.support.gitremotes import gpg_test_key, http_git_server, isolated_git_home  # noqa: F401
from tests.support.proxy import squid  # noqa: F401
from tests.support.registry import (  # noqa: F401
    plain_registry,
    registry_ca,
    tls_registry,
)
from tests.support.webhookreceiver import webhook_receiver  # noqa: F401


@pytest.fixture(autouse=True)
def _hermetic(isolated_git_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    # The machine's proxy settings must not decide where these tests' requests go.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


registry, workspace = workspace_fixtures("proxy")
