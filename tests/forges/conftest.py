from tests.support.forgefakes import gitea_fake, github_fake, gitlab_fake  # noqa: F401
