from pathlib import Path

import pytest

from tests.run.harness import workspace_fixtures
from tests.support.forgefakes import github_fake  # noqa: F401
from tests.support.gitremotes import (  # noqa: F401
    gpg_test_key,
    http_git_server,
    isolated_git_home,
    ssh_git_server,
    ssh_signing_key,
)
from tests.support.webhookreceiver import webhook_receiver  # noqa: F401


@pytest.fixture(autouse=True)
def _hermetic_git(isolated_git_home: Path) -> None:  # noqa: F811
    # The machine's git, ssh and gpg configuration must not leak into any run.
    pass


registry, workspace = workspace_fixtures("run")
