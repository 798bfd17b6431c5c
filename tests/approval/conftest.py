from pathlib import Path

import pytest

from tests.run.harness import workspace_fixtures
from tests.support.gitremotes import isolated_git_home  # noqa: F401


@pytest.fixture(autouse=True)
def _hermetic_git(isolated_git_home: Path) -> None:  # noqa: F811
    pass


registry, workspace = workspace_fixtures("approval")
