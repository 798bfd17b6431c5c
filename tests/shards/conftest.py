"""Fixtures of the shard tests: a smart-HTTP git server and a GitHub fake for the pull request automation."""

from tests.support.forgefakes import github_fake  # noqa: F401
from tests.support.gitremotes import http_git_server  # noqa: F401
