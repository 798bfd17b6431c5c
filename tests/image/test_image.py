"""The container image: built by scripts/image with buildah, pushed, inspected, and started.

The slow test of the suite (minutes: vfs storage copies whole layers). No image can be pulled here, so
scripts/image makes its base from Debian's packages with mmdebstrap, cached between runs under
~/.cache/imagebot/image-base/ (the first run pays about three minutes for it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imagebot import __version__
from tests.service_run._stack import free_port
from tests.support.registry import RegistryServer, start_registry

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "https://example.invalid/imagebot"
TAG = "localhost/imagebot:under-test"
# The system bundle: where Debian puts a CA that a TLS-intercepting proxy in front of PyPI needs.
SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


class Buildah:
    """buildah on a storage folder of its own (vfs, chroot isolation: what works without a daemon here)."""

    def __init__(self, root: Path, revision: str) -> None:
        self.root = root
        self.revision = revision  # the commit the image was built from
        self.base = ["buildah", "--storage-driver", "vfs", "--root", str(root), "--runroot", str(root / "run")]

    def __call__(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"buildah {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Buildah]:
    root = tmp_path_factory.mktemp("buildah")
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    ca = ["--ca-file", str(SYSTEM_CA)] if SYSTEM_CA.exists() else []
    done = subprocess.run([str(ROOT / "scripts" / "image"), "--root", str(root), "--tag", TAG, "--source", SOURCE,
                           *ca], capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip().splitlines()[-1] == TAG
    buildah = Buildah(root, revision)
    try:
        yield buildah
    finally:
        # Gigabytes of vfs layers: gone with the test, not left for pytest's tmp rotation.
        subprocess.run([*buildah.base, "rm", "--all"], capture_output=True, timeout=120)
        subprocess.run([*buildah.base, "rmi", "--all", "--force"], capture_output=True, timeout=300)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("registry")) as server:
        yield server


def skopeo_inspect(*args: str) -> dict:
    done = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *args], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def test_image_pushed_carries_labels_user_entrypoint_and_ports(built: Buildah, registry: RegistryServer) -> None:
    built("push", "--quiet", "--tls-verify=false", TAG, f"docker://{registry.host}/imagebot:{__version__}")

    image = skopeo_inspect(f"docker://{registry.host}/imagebot:{__version__}")
    labels = image["Labels"]
    assert labels["org.opencontainers.image.source"] == SOURCE
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.revision"] == built.revision
    created = labels["org.opencontainers.image.created"]
    assert time.time() - time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")) + time.timezone < 3600

    config = skopeo_inspect("--config", f"docker://{registry.host}/imagebot:{__version__}")["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["imagebot"]
    assert set(config["ExposedPorts"]) == {"9090/tcp", "9091/tcp"}
    assert config["Cmd"][:3] == ["run", "-c", "/config"]
    assert "--health-listen" in config["Cmd"]
    manifest = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/imagebot:{__version__}"],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    size = sum(layer["size"] for layer in manifest["layers"])
    print(f"\nimage size, compressed layers in the registry: {size / 1e6:.0f} MB; "
          f"unpacked: {built('images', '--format', '{{.Size}}', TAG)}")
    assert size < 250e6  # keep it small: the base's packages and imagebot's virtualenv, nothing else


def test_image_holds_no_build_tools_or_caches(built: Buildah) -> None:
    ctr = built("from", "--quiet", TAG)
    out = built("run", "--isolation", "chroot", ctr, "--", "sh", "-c",
                "id -u; for t in pip pip3 gcc cc make; do command -v $t; done; "
                "ls -A /var/lib/apt/lists /var/cache/apt/archives /state 2>/dev/null | grep -v -e : -e '^lock$' "
                "-e '^partial$' -e '^$'; ls /opt/imagebot/lib/python3*/site-packages | grep -i -e '^pip' -e setuptools;"
                " true")
    assert out.splitlines() == ["65532"]


def test_image_prints_its_version_and_serves_readyz(built: Buildah, registry: RegistryServer,
                                                    tmp_path: Path) -> None:
    ctr = built("from", "--quiet", TAG)
    assert built("run", "--isolation", "chroot", ctr, "--", "imagebot", "--version") == f"imagebot {__version__}"

    # The service, as the Deployment starts it, on a config mounted from here: it scans the registry
    # this image was pushed to (the test above), so /status shows a scan made from inside the image.
    built("push", "--quiet", "--tls-verify=false", TAG, f"docker://{registry.host}/imagebot:{__version__}")
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    state.mkdir(mode=0o777)
    state.chmod(0o777)  # the image's user, 65532, writes here
    (config / "imagebot.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {{name: imagebot, namespace: ops}}
        spec: {{image: {registry.host}/imagebot, interval: 1m, insecure: true}}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata: {{name: imagebot, namespace: ops}}
        spec:
          imageRepositoryRef: {{name: imagebot}}
          policy: {{semver: {{range: ">=0.0.1"}}}}
        """))
    listen, health = free_port(), free_port()
    service = subprocess.Popen(
        [*built.base, "run", "--isolation", "chroot", "-v", f"{config}:/config:ro", "-v", f"{state}:/state", ctr,
         "--", "imagebot", "run", "-c", "/config", "--listen", f"127.0.0.1:{listen}",
         "--health-listen", f"127.0.0.1:{health}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        ready = latest = None
        while time.monotonic() < deadline and service.poll() is None and latest is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{health}/readyz", timeout=2)
                status = httpx.get(f"http://127.0.0.1:{listen}/status", timeout=2).json()
                latest = _latest_tag(status)
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert service.poll() is None, service.communicate(timeout=10)[0][-3000:]
        assert ready is not None and ready.status_code == 200
        assert latest == __version__
        assert (state / "state.db").exists()  # written by the image's user through the mount
    finally:
        service.terminate()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(timeout=10)


def _latest_tag(status: dict) -> str | None:
    for policy in status["policies"]:
        if (policy["namespace"], policy["name"]) == ("ops", "imagebot") and policy["latest"]:
            return policy["latest"]["tag"]
    return None
