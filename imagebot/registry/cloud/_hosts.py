"""Which registry hosts each cloud provider logs in to, with the facts taken from Flux's providers
(fluxcd/pkg auth/aws, auth/gcp, auth/azure provider.go): ECR private registries (the pattern of
amazon-ecr-credential-helper, partitions included) and public.ecr.aws; GCR and Artifact Registry;
ACR in Azure's public, China, Germany and US Government clouds."""

from __future__ import annotations

import re

_ECR = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\."
                  r"(amazonaws\.com(?:\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$")
ECR_PUBLIC = "public.ecr.aws"
_GCP = re.compile(r"^(?:(?:[a-z0-9-]+\.)?gcr\.io|[a-z0-9-]+-docker\.pkg\.dev)$")
_ACR = re.compile(r"^[a-z0-9][a-z0-9-]*\.(azurecr\.io|azurecr\.cn|azurecr\.de|azurecr\.us)$")

EXAMPLES = {
    "aws": "ACCOUNT.dkr.ecr.REGION.amazonaws.com or public.ecr.aws",
    "gcp": "gcr.io, REGION.gcr.io or REGION-docker.pkg.dev",
    "azure": "NAME.azurecr.io (.azurecr.cn, .azurecr.de, .azurecr.us)",
}


def hostname(registry: str) -> str:
    """The registry's host name, without a port, lower case."""
    host = registry.lower()
    if host.startswith("["):
        return host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def ecr_region(registry: str) -> str | None:
    """The region of an ECR registry host (us-east-1 for public.ecr.aws), or None if it is not ECR."""
    host = hostname(registry)
    if host == ECR_PUBLIC:
        return "us-east-1"  # the only region that issues public ECR tokens
    found = _ECR.match(host)
    return found.group(2) if found else None


def host_problem(provider: str, registry: str) -> str | None:
    """Why `provider` cannot log in to `registry`, or None when the host is one of that cloud's."""
    host = hostname(registry)
    matches = {"aws": lambda: ecr_region(host) is not None, "gcp": lambda: bool(_GCP.match(host)),
               "azure": lambda: bool(_ACR.match(host))}
    check = matches.get(provider)
    if check is None:
        return f"unknown provider {provider!r}: use generic, aws, azure or gcp"
    if check():
        return None
    return (f"provider {provider} logs in to {EXAMPLES[provider]}, not to {host}: set spec.provider to the "
            "cloud that hosts the image, or generic with a spec.secretRef")
