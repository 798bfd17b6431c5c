from tests.support.forgefakes import gitea_fake, github_fake, gitlab_fake  # noqa: F401
from tests.support.moreforges import azuredevops_fake, bitbucket_fake, bitbucketserver_fake, forgejo_fake  # noqa: F401
