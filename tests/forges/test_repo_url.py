import pytest

from imagebot.delivery.forges import ForgeError, parse_repository_url


@pytest.mark.parametrize(
    ("url", "host", "path"),
    [
        ("https://github.com/acme/deploy", "github.com", "acme/deploy"),
        ("https://github.com/acme/deploy.git", "github.com", "acme/deploy"),
        ("https://github.com/acme/deploy/", "github.com", "acme/deploy"),
        ("http://gitea.local:3000/acme/deploy.git", "gitea.local", "acme/deploy"),
        ("https://user:s3cret@GitHub.com/acme/deploy.git", "github.com", "acme/deploy"),
        ("ssh://git@github.com/acme/deploy.git", "github.com", "acme/deploy"),
        ("ssh://git@gitea.example.com:2222/acme/deploy.git", "gitea.example.com", "acme/deploy"),
        ("git@github.com:acme/deploy.git", "github.com", "acme/deploy"),
        ("git@github.com:acme/deploy", "github.com", "acme/deploy"),
        ("github.com:acme/deploy.git", "github.com", "acme/deploy"),
        ("https://gitlab.com/platform/apps/deploy.git", "gitlab.com", "platform/apps/deploy"),
        ("git@gitlab.example.com:platform/apps/team/deploy.git", "gitlab.example.com", "platform/apps/team/deploy"),
        ("ssh://git@gitlab.example.com/platform/apps/deploy", "gitlab.example.com", "platform/apps/deploy"),
    ],
)
def test_repository_url_forms(url: str, host: str, path: str) -> None:
    location = parse_repository_url(url)
    assert (location.host, location.path) == (host, path)


def test_owner_and_name_split_at_the_last_slash() -> None:
    location = parse_repository_url("git@gitlab.com:platform/apps/deploy.git")
    assert (location.owner, location.name) == ("platform/apps", "deploy")


@pytest.mark.parametrize(
    "url",
    [
        "file:///srv/git/deploy.git",
        "/srv/git/deploy.git",
        "https://github.com/acme",
        "git@github.com:deploy.git",
        "https://github.com//deploy",
    ],
)
def test_urls_without_a_forge_repository_are_refused(url: str) -> None:
    with pytest.raises(ForgeError, match="cannot tell the repository"):
        parse_repository_url(url)


def test_credentials_in_the_url_stay_out_of_the_error() -> None:
    with pytest.raises(ForgeError) as caught:
        parse_repository_url("https://bot:tok-very-secret@github.com/only-owner")
    assert "tok-very-secret" not in str(caught.value)
    assert "***@github.com" in str(caught.value)
