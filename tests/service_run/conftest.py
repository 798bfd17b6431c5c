"""Fixtures of the service tests: a smart-HTTP git server with Basic auth, shared by the session."""

from tests.support.gitremotes import http_git_server  # noqa: F401
