"""Source labels -> repository, forge and compare link (GitHub, GitLab and Gitea URL forms)."""

from __future__ import annotations

import pytest

from imagebot.release.source import ImageSource, compare_url, source_repository

OLD, NEW = "a1b2c3d", "e4f5a6b"


@pytest.mark.parametrize(("source", "web", "kind", "api", "compare"), [
    ("https://github.com/acme/app", "https://github.com/acme/app", "github", "https://api.github.com",
     f"https://github.com/acme/app/compare/{OLD}...{NEW}"),
    ("https://github.com/acme/app.git", "https://github.com/acme/app", "github", "https://api.github.com",
     f"https://github.com/acme/app/compare/{OLD}...{NEW}"),
    ("https://github.com/acme/mono/tree/main/services/app", "https://github.com/acme/mono", "github",
     "https://api.github.com", f"https://github.com/acme/mono/compare/{OLD}...{NEW}"),
    ("https://gitlab.com/group/sub/project", "https://gitlab.com/group/sub/project", "gitlab",
     "https://gitlab.com/api/v4", f"https://gitlab.com/group/sub/project/-/compare/{OLD}...{NEW}"),
    ("https://gitlab.com/group/sub/project/-/tree/main", "https://gitlab.com/group/sub/project", "gitlab",
     "https://gitlab.com/api/v4", f"https://gitlab.com/group/sub/project/-/compare/{OLD}...{NEW}"),
    ("https://codeberg.org/forgejo/forgejo", "https://codeberg.org/forgejo/forgejo", "gitea",
     "https://codeberg.org/api/v1", f"https://codeberg.org/forgejo/forgejo/compare/{OLD}...{NEW}"),
    ("https://git.example.com/team/app", "https://git.example.com/team/app", None, None, None),
])
def test_known_forges_and_their_compare_links(source: str, web: str, kind: str | None, api: str | None,
                                              compare: str | None) -> None:
    repo = source_repository(source)
    assert (repo.web_url, repo.kind, repo.api_url) == (web, kind, api)
    assert compare_url(repo, OLD, NEW) == compare


def test_a_self_hosted_forge_is_known_from_the_pull_request_settings() -> None:
    forges = {"git.example.com": ("gitlab", "https://git.example.com/api/v4")}
    repo = source_repository("https://git.example.com/platform/apps/web", forges)
    assert (repo.kind, repo.api_url, repo.path) == ("gitlab", "https://git.example.com/api/v4", "platform/apps/web")
    assert compare_url(repo, "v1.0.0", "v1.1.0") == "https://git.example.com/platform/apps/web/-/compare/v1.0.0...v1.1.0"
    ghe = source_repository("https://ghe.example.com/acme/app", {"ghe.example.com": ("github", None)})  # type: ignore[dict-item]
    assert ghe.api_url == "https://ghe.example.com/api/v3"


@pytest.mark.parametrize(("old", "new"), [
    ("abc", "def?x=1"), ("abc", "de f"), ("abc", "a..b"), ("abc", "x" * 300), ("abc", "<script>"),
])
def test_revisions_that_cannot_be_part_of_a_url_give_no_compare_link(old: str, new: str) -> None:
    assert compare_url(source_repository("https://github.com/acme/app"), old, new) is None


def test_labels_are_read_with_bounds_and_only_web_sources_count() -> None:
    src = ImageSource.from_labels({
        "org.opencontainers.image.source": "https://github.com/acme/app",
        "org.opencontainers.image.revision": " 1234abcd ",
        "org.opencontainers.image.version": "1.2.3\nInjected: line",
        "org.opencontainers.image.url": "javascript:alert(1)",
    })
    assert src == ImageSource(source="https://github.com/acme/app", revision="1234abcd", version=None, url=None)
    for bad in ("git@github.com:acme/app.git", "file:///etc/passwd", "https://user:pw@github.com/acme/app",
                "https://github.com/" + "a" * 3000):
        assert ImageSource.from_labels({"org.opencontainers.image.source": bad}).source is None


@pytest.mark.parametrize(("setter", "old", "expected"), [
    ("flux-system:app", "registry.example.com/app:1.0.0", ("1.0.0", "2.0.0")),
    ("flux-system:app:tag", "1.0.0", ("1.0.0", "2.0.0")),
    ("app:tag", "1.0.0", ("1.0.0", "2.0.0")),  # a marker without a namespace
    ("flux-system:app:name", "registry.example.com/app", None),
    ("flux-system:app:digest", "sha256:" + "a" * 64, None),
    ("flux-system:app", "registry.example.com/app@sha256:" + "a" * 64, None),
])
def test_old_and_new_tags_of_each_marker_form(setter: str, old: str, expected: tuple[str, str] | None) -> None:
    from imagebot.release.lookup import _tags
    from imagebot.update.changes import Change

    change = Change("apps/app.yaml", None, old, "new", setter, 1, "flux-system:app")
    assert _tags(change, "2.0.0") == expected
