"""The imagebot demo: a real registry and a real git remote on this machine, then the full cycle.

Sets up, in a temporary folder:
  - CNCF distribution (`docker-registry`) with TLS (a CA made here) and bearer-token auth,
    holding images `team/app` (semver tags) and `team/web` (CI build tags), one multi-arch;
  - a bare git repository holding Kubernetes manifests with Flux markers;
  - Flux policy files and secrets (docker config, CA) in the layout imagebot reads.
Then runs imagebot as a user would: validate, scan, plan, run --once, history.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.registry import CertificateAuthority, start_registry  # noqa: E402

IMAGEBOT = [str(ROOT / ".venv" / "bin" / "imagebot")]


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def sh(*args: str, cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None) -> int:
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"$ {shown}", flush=True)
    return subprocess.run(args, cwd=cwd, check=check, env=env).returncode


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="imagebot-demo-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, GIT_CONFIG_GLOBAL=str(work / "gitconfig"), GIT_TERMINAL_PROMPT="0")
        os.environ.update(env)
        (work / "gitconfig").write_text("[user]\n\tname = demo\n\temail = demo@example.com\n"
                                        "[init]\n\tdefaultBranch = main\n")
        step("A real registry: CNCF distribution with TLS and token auth")
        ca = CertificateAuthority("imagebot demo CA")
        with start_registry(work / "registry", auth="token", ca=ca) as registry:
            print(f"registry at https://{registry.host} (token server {registry.token_server.realm})")
            for tag in ("1.0.0", "1.1.0", "1.2.0", "1.3.0-rc.1", "2.0.0-beta.1"):
                registry.push_image("team/app", tag)
            for tag in ("main-1a2b3c-1700000100", "main-4d5e6f-1700000200", "main-0a0b0c-1700000150", "latest"):
                registry.push_image("team/web", tag)
            registry.push_index("team/web", "main-9f8e7d-1700000300")
            print("pushed team/app: 1.0.0 1.1.0 1.2.0 1.3.0-rc.1 2.0.0-beta.1")
            print("pushed team/web: main-…-1700000100/150/200, latest, and a multi-arch main-9f8e7d-1700000300")

            step("Secrets as files: SECRETS_DIR/NAME/KEY, the layout of a mounted Kubernetes secret")
            secrets = work / "secrets"
            (secrets / "regcred").mkdir(parents=True)
            (secrets / "regcred" / ".dockerconfigjson").write_bytes(registry.docker_config())
            (secrets / "registry-ca").mkdir()
            (secrets / "registry-ca" / "ca.crt").write_bytes(ca.cert_pem)
            print(f"{secrets}/regcred/.dockerconfigjson, {secrets}/registry-ca/ca.crt")

            step("A git remote with manifests marked for imagebot")
            remote = work / "fleet.git"
            git("init", "--bare", "-b", "main", str(remote), cwd=work)
            seed = work / "seed"
            git("clone", str(remote), str(seed), cwd=work)
            write(seed / "apps/app/deployment.yaml", f"""
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: app
                  namespace: team
                spec:
                  template:
                    spec:
                      containers:
                        - name: app
                          # pinned by imagebot: do not edit by hand
                          image: {registry.host}/team/app:1.0.0 # {{"$imagepolicy": "team:app"}}
                          ports:

                            - containerPort: 8080
                """)
            write(seed / "apps/web/kustomization.yaml", f"""
                apiVersion: kustomize.config.k8s.io/v1beta1
                kind: Kustomization
                resources: []
                images:
                  - name: web
                    newName: {registry.host}/team/web # {{"$imagepolicy": "team:web:name"}}
                    newTag: "main-1a2b3c-1700000100" # {{"$imagepolicy": "team:web:tag"}}
                    digest: sha256:{"0" * 64} # {{"$imagepolicy": "team:web:digest"}}
                """)
            git("add", "-A", cwd=seed)
            git("commit", "-m", "Initial manifests", cwd=seed)
            git("push", "origin", "main", cwd=seed)
            print(f"bare repository {remote} with apps/app/deployment.yaml and apps/web/kustomization.yaml")

            step("Flux policy files")
            config = work / "config"
            write(config / "images.yaml", f"""
                apiVersion: image.toolkit.fluxcd.io/v1
                kind: ImageRepository
                metadata: {{name: app, namespace: team}}
                spec:
                  image: {registry.host}/team/app
                  interval: 1h
                  secretRef: {{name: regcred}}
                  certSecretRef: {{name: registry-ca}}
                ---
                apiVersion: image.toolkit.fluxcd.io/v1
                kind: ImageRepository
                metadata: {{name: web, namespace: team}}
                spec:
                  image: {registry.host}/team/web
                  interval: 1h
                  secretRef: {{name: regcred}}
                  certSecretRef: {{name: registry-ca}}
                ---
                apiVersion: image.toolkit.fluxcd.io/v1
                kind: ImagePolicy
                metadata: {{name: app, namespace: team}}
                spec:
                  imageRepositoryRef: {{name: app}}
                  policy:
                    semver: {{range: ">=1.0.0 <2.0.0"}}
                ---
                apiVersion: image.toolkit.fluxcd.io/v1
                kind: ImagePolicy
                metadata: {{name: web, namespace: team}}
                spec:
                  imageRepositoryRef: {{name: web}}
                  filterTags:
                    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$'
                    extract: '$ts'
                  policy:
                    numerical: {{order: asc}}
                  digestReflectionPolicy: IfNotPresent
                """)
            write(config / "automation.yaml", f"""
                apiVersion: source.toolkit.fluxcd.io/v1
                kind: GitRepository
                metadata: {{name: fleet, namespace: team}}
                spec:
                  url: file://{remote}
                  ref: {{branch: main}}
                  interval: 1h
                ---
                apiVersion: image.toolkit.fluxcd.io/v1
                kind: ImageUpdateAutomation
                metadata: {{name: fleet, namespace: team}}
                spec:
                  interval: 1h
                  sourceRef: {{kind: GitRepository, name: fleet}}
                  git:
                    checkout: {{ref: {{branch: main}}}}
                    commit:
                      author: {{name: imagebot, email: imagebot@example.com}}
                    push: {{branch: main}}
                  update: {{path: ./apps, strategy: Setters}}
                """)
            print(f"{config}/images.yaml, {config}/automation.yaml")

            common = ["-c", str(config), "--secrets-dir", str(secrets)]
            state = ["--state-dir", str(work / "state")]
            step("imagebot validate")
            sh(*IMAGEBOT, "validate", *common)
            step("imagebot scan")
            sh(*IMAGEBOT, "scan", *common, *state)
            return run_delivery(common, state, remote, work)


def run_delivery(common: list[str], state: list[str], remote: Path, work: Path) -> int:
    step("imagebot plan: the diff the automation would commit (writes nothing)")
    sh(*IMAGEBOT, "plan", *common, *state)
    step("imagebot run --once: scan, pick, edit, commit, push")
    sh(*IMAGEBOT, "run", "--once", *common, *state)
    step("The commit on the remote: only the marked bytes changed")
    sh("git", "--git-dir", str(remote), "log", "-1", "--format=%h %an <%ae>%n%n%B")
    sh("git", "--git-dir", str(remote), "show", "--format=", "HEAD")
    step("imagebot run --once again: nothing to do, no commit")
    sh(*IMAGEBOT, "run", "--once", *common, *state)
    sh("git", "--git-dir", str(remote), "rev-list", "--count", "main")
    step("imagebot history")
    sh(*IMAGEBOT, "history", *state)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
