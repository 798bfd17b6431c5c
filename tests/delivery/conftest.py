import pytest

from tests.support.gitremotes import (  # noqa: F401
    bare_remote,
    gpg_test_key,
    http_git_server,
    isolated_git_home,
    ssh_git_server,
    ssh_signing_key,
)


@pytest.fixture(autouse=True)
def _hermetic_git(request: pytest.FixtureRequest) -> None:
    # The machine's git and gpg configuration must not leak into any test.
    request.getfixturevalue("isolated_git_home")
