"""ImageRepository `spec.provider: aws | azure | gcp`: imagebot logs in to the cloud's registry
itself, from that cloud's standard credential chain, with the cloud's own library (imported only
when a provider is used): botocore (ECR), google-auth (GCR, Artifact Registry), azure-identity plus
ACR's OAuth2 token exchange (ACR).

    credentials = await LOGINS.credentials("aws", "123456789012.dkr.ecr.eu-west-1.amazonaws.com")
"""

from imagebot.registry.cloud._hosts import EXAMPLES, ecr_region, host_problem, hostname
from imagebot.registry.cloud._logins import LOGINS, RENEW_BEFORE, CloudLogins, Login, Reach

__all__ = ["EXAMPLES", "LOGINS", "RENEW_BEFORE", "CloudLogins", "Login", "Reach", "ecr_region", "host_problem",
           "hostname"]
