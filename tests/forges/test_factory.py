import pytest

from imagebot.delivery.forges import ForgeError, forge_for


@pytest.mark.parametrize(
    ("provider", "repository_url", "api_url"),
    [
        ("github", "git@github.com:acme/deploy.git", "https://api.github.com"),
        ("gitlab", "https://gitlab.example.com/platform/apps/deploy.git", "https://gitlab.example.com/api/v4"),
        ("gitea", "ssh://git@code.example.org:2222/acme/deploy.git", "https://code.example.org/api/v1"),
        ("forgejo", "https://codeberg.org/acme/deploy.git", "https://codeberg.org/api/v1"),
        ("bitbucket", "git@bitbucket.org:acme/deploy.git", "https://api.bitbucket.org/2.0"),
        ("bitbucketserver", "https://git.corp.example/scm/PLAT/deploy.git", "https://git.corp.example/rest"),
        ("azuredevops", "https://dev.azure.com/acme/Platform/_git/deploy", "https://dev.azure.com/acme"),
    ],
)
def test_api_url_defaults_per_provider(provider: str, repository_url: str, api_url: str) -> None:
    forge = forge_for(provider, repository_url=repository_url, api_url=None, token="t")  # type: ignore[arg-type]
    assert forge.api_url == api_url


def test_explicit_api_url_wins_for_github_enterprise() -> None:
    forge = forge_for(
        "github", repository_url="https://ghe.corp/acme/deploy", api_url="https://ghe.corp/api/v3/", token="t"
    )
    assert forge.api_url == "https://ghe.corp/api/v3"


@pytest.mark.parametrize("given", ["https://git.corp.example/rest", "https://git.corp.example/rest/api/1.0/",
                                   "https://git.corp.example/rest/api/latest"])
def test_bitbucket_server_takes_the_rest_root_or_a_versioned_api_url(given: str) -> None:
    forge = forge_for("bitbucketserver", repository_url="ssh://git@git.corp.example:7999/PLAT/deploy.git",
                      api_url=given, token="t")
    assert forge.api_url == "https://git.corp.example/rest"


def test_unknown_provider_is_refused_with_the_choices() -> None:
    with pytest.raises(ForgeError, match="use one of github, gitlab, gitea, forgejo, bitbucket, bitbucketserver, "
                                         "azuredevops"):
        forge_for("sourcehut", repository_url="https://b.org/a/b", api_url=None, token="t")  # type: ignore[arg-type]


def test_empty_token_is_refused_before_any_request() -> None:
    with pytest.raises(ForgeError, match="no token"):
        forge_for("github", repository_url="https://github.com/a/b", api_url=None, token="")
