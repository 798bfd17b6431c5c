"""Which hosts each cloud provider logs in to (the facts of Flux's fluxcd/pkg auth providers), and
that the clouds' libraries are imported only when a provider is used."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imagebot.registry.cloud import ecr_region, host_problem
from imagebot.registry.cloud.azure import scope_for

ACCEPTED = [
    ("aws", "123456789012.dkr.ecr.us-east-1.amazonaws.com"),
    ("aws", "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com"),
    ("aws", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
    ("aws", "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov"),
    ("aws", "public.ecr.aws"),
    ("aws", "123456789012.dkr.ecr.eu-west-1.amazonaws.com:443"),
    ("gcp", "gcr.io"), ("gcp", "eu.gcr.io"), ("gcp", "europe-west1-docker.pkg.dev"),
    ("azure", "myreg.azurecr.io"), ("azure", "myreg.azurecr.cn"), ("azure", "myreg.azurecr.us"),
    ("azure", "myreg.azurecr.de"),
]
REFUSED = [
    ("aws", "ghcr.io"), ("aws", "123.dkr.ecr.us-east-1.amazonaws.com"),  # an account ID has 12 digits
    ("aws", "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example"),
    ("aws", "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com"),
    ("gcp", "docker.pkg.dev"), ("gcp", "gcr.io.evil.example"), ("gcp", "quay.io"),
    ("azure", "azurecr.io"), ("azure", "myreg.azurecr.io.evil.example"), ("azure", "myreg.azurecr.com"),
]


@pytest.mark.parametrize(("provider", "host"), ACCEPTED)
def test_a_cloud_host_is_accepted(provider: str, host: str) -> None:
    assert host_problem(provider, host) is None


@pytest.mark.parametrize(("provider", "host"), REFUSED)
def test_another_host_is_refused_saying_which_hosts_fit(provider: str, host: str) -> None:
    problem = host_problem(provider, host)
    assert problem is not None and f"provider {provider} logs in to" in problem


def test_the_ecr_region_and_the_acr_scope_come_from_the_host() -> None:
    assert ecr_region("123456789012.dkr.ecr.ap-south-2.amazonaws.com") == "ap-south-2"
    assert ecr_region("public.ecr.aws") == "us-east-1"
    assert scope_for("x.azurecr.io") == "https://management.azure.com/.default"
    assert scope_for("x.azurecr.cn") == "https://management.chinacloudapi.cn/.default"
    assert scope_for("x.azurecr.us") == "https://management.usgovcloudapi.net/.default"


def test_the_cloud_libraries_load_only_when_a_provider_logs_in(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(textwrap.dedent("""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: app, namespace: team}
        spec: {image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app, interval: 5m, provider: aws}
        """))
    script = textwrap.dedent(f"""\
        import sys
        import imagebot.cli, imagebot.scan, imagebot.cycle.sources, imagebot.cycle.pulls
        from imagebot.config import load_config
        from pathlib import Path
        loaded = load_config(Path({str(tmp_path)!r}))
        assert not loaded.errors, loaded.errors
        print(sorted({{m.split('.')[0] for m in sys.modules}} & {{'botocore', 'google', 'azure', 'jwt', 'msal'}}))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
