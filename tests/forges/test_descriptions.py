"""The API descriptions the fakes check against: where they come from, and that they are reproducible."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "fixtures" / "openapi"


def test_github_description_comes_from_the_octokit_npm_package() -> None:
    source = json.loads((SPECS / "github.json").read_text())["source"]
    assert source["npm_package"] == "@octokit/openapi"
    assert source["version"] and len(source["tarball_sha256"]) == 64


@pytest.mark.parametrize(("name", "repository"), [("gitlab", "gitlabhq/gitlabhq"), ("gitea", "go-gitea/gitea")])
def test_excerpt_provenance_is_recorded(name: str, repository: str) -> None:
    source = json.loads((SPECS / f"{name}.json").read_text())["source"]
    assert source["repository"] == repository
    assert len(source["commit"]) == 40
    assert source["character_ranges_read"]


@pytest.mark.parametrize(("name", "repository", "path", "title"), [
    ("forgejo", "offsoc/forgejo", "templates/swagger/v1_json.tmpl", "Forgejo API"),
    ("bitbucket", "Mindtable/bitbucket-helper", "specs/bitbucket-cloud/openapi.json", "Bitbucket API"),
    ("bitbucketserver", "marcosgalleterobbva/bitbucketdc-cli", "resources/10.0.swagger.v3.json",
     "Bitbucket Data Center"),
    ("azuredevops", "MicrosoftDocs/vsts-rest-api-specs", "specification/git/7.1/git.json", "Git"),
])
def test_each_new_forge_records_the_description_it_was_cut_from(name: str, repository: str, path: str,
                                                                title: str) -> None:
    excerpt = json.loads((SPECS / "sources" / f"{name}.excerpt.json").read_text())
    source = excerpt["x-imagebot-excerpt"]
    assert (source["repository"], source["path"]) == (repository, path)
    assert len(source["commit"]) == 40 and len(source["full_file_sha256"]) == 64
    assert excerpt["info"]["title"] == title  # the forge's own description, not a neighbour's
    fixture = json.loads((SPECS / f"{name}.json").read_text())["source"]
    assert fixture["commit"] == source["commit"] and fixture["local_file"].endswith(f"{name}.excerpt.json")


@pytest.mark.parametrize("name", ["gitlab", "gitea", "forgejo", "bitbucket", "bitbucketserver", "azuredevops"])
def test_extraction_from_the_kept_excerpts_reproduces_the_fixtures(name: str, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "extract-openapi"), "--only", name, "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert json.loads((tmp_path / f"{name}.json").read_text()) == json.loads((SPECS / f"{name}.json").read_text())


@pytest.mark.parametrize("name", ["github", "gitlab", "gitea", "forgejo", "bitbucket", "bitbucketserver",
                                  "azuredevops"])
def test_every_reference_resolves_inside_the_fixture(name: str) -> None:
    doc = json.loads((SPECS / f"{name}.json").read_text())
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc["operations"])
    walk(doc["schemas"])
    assert refs, "expected schema references"
    assert all(ref.removeprefix("#/schemas/") in doc["schemas"] for ref in refs)
