"""Secret names that leave the secrets folder: `../../outside`, absolute paths, links out of it.

Before, `secretRef: {name: ../../outside}` read a docker config outside `--secrets-dir` and sent
its credentials to the registry, and `validate` said valid. Names are Kubernetes names (the schema
says so at validate), and the read itself resolves the file and refuses to leave the folder.
"""

from __future__ import annotations

import base64
import json
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from imagebot.cli import main
from imagebot.config import SecretError, SecretStore, load_config

PASSWORD = "outside-password-9f3b"


def docker_config(host: str) -> str:
    auth = base64.b64encode(f"thief:{PASSWORD}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": auth}}})


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        Recorder.seen.append(dict(self.headers))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="r"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def config_naming(folder: Path, host: str, secret: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "repo.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {{name: app}}
        spec: {{image: {host}/acme/app, interval: 5m, insecure: true, secretRef: {{name: "{secret}"}}}}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata: {{name: app}}
        spec: {{imageRepositoryRef: {{name: app}}, policy: {{semver: {{range: ">=1"}}}}}}
        """))
    return folder


@pytest.mark.parametrize("name", ["../outside", "../../outside", "ABSOLUTE"])
def test_a_secret_name_outside_the_folder_is_refused_and_nothing_is_sent(
    tmp_path: Path, registry: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "deep" / "secrets"
    secrets.mkdir(parents=True)
    for outside in (tmp_path / "deep" / "outside", tmp_path / "outside"):
        outside.mkdir(parents=True, exist_ok=True)
        (outside / ".dockerconfigjson").write_text(docker_config(registry))
    if name == "ABSOLUTE":
        name = str(tmp_path / "outside")
    config = config_naming(tmp_path / "config", registry, name)

    assert main(["validate", "-c", str(config), "--secrets-dir", str(secrets)]) == 1
    err = capsys.readouterr().err
    assert "spec.secretRef.name" in err and "a Kubernetes name" in err

    code = main(["scan", "-c", str(config), "--secrets-dir", str(secrets), "--state-dir", str(tmp_path / "s"),
                 "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert Recorder.seen == []  # the config is refused before any request
    assert PASSWORD not in out + err


@pytest.mark.parametrize("name", ["../outside", "/etc", "a/b", "UPPER", "", "x" * 254])
def test_the_store_refuses_names_that_are_not_kubernetes_names(tmp_path: Path, name: str) -> None:
    store = SecretStore(tmp_path / "secrets")
    (tmp_path / "secrets").mkdir()
    with pytest.raises(SecretError, match="not a Kubernetes name"):
        store.read(name, ".dockerconfigjson")
    assert not store.has(name, ".dockerconfigjson")


@pytest.mark.parametrize("key", ["../../outside/.dockerconfigjson", "..", "/etc/passwd"])
def test_the_store_refuses_keys_that_are_paths(tmp_path: Path, key: str) -> None:
    (tmp_path / "secrets" / "regcred").mkdir(parents=True)
    with pytest.raises(SecretError, match="not a Kubernetes secret key"):
        SecretStore(tmp_path / "secrets").read("regcred", key)


def test_a_key_linking_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.json").write_text(docker_config("ghcr.io"))
    folder = tmp_path / "secrets" / "regcred"
    folder.mkdir(parents=True)
    (folder / ".dockerconfigjson").symlink_to(tmp_path / "outside.json")
    with pytest.raises(SecretError, match="leads out of the secrets folder"):
        SecretStore(tmp_path / "secrets").read("regcred", ".dockerconfigjson")


def test_a_secret_folder_linking_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / ".dockerconfigjson").write_text(docker_config("ghcr.io"))
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "regcred").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SecretError, match="leads out of the secrets folder"):
        SecretStore(tmp_path / "secrets").read("regcred", ".dockerconfigjson")
    config = config_naming(tmp_path / "config", "ghcr.io", "regcred")
    [error] = load_config(config, tmp_path / "secrets").errors
    assert "leads out of the secrets folder" in error.message


def test_a_mounted_kubernetes_secret_with_its_data_links_still_reads(tmp_path: Path) -> None:
    # A secret volume: KEY -> ..data/KEY, ..data -> ..2026_11_27_10_00_00.1 (all inside the folder)
    folder = tmp_path / "secrets" / "regcred"
    stamped = folder / "..2026_11_27_10_00_00.1"
    stamped.mkdir(parents=True)
    (stamped / ".dockerconfigjson").write_text(docker_config("ghcr.io"))
    (folder / "..data").symlink_to(stamped.name)
    (folder / ".dockerconfigjson").symlink_to("..data/.dockerconfigjson")
    assert b"auths" in SecretStore(tmp_path / "secrets").read("regcred", ".dockerconfigjson")
