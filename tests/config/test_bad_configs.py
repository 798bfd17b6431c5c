"""The corpus of broken configs (fixtures/bad-configs): each is refused by `validate` with the expected
exit code and a first error naming what is wrong; a sample is refused the same way by `plan` and
`run --once`, before anything is contacted or any state written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from imagebot.cli import main

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "bad-configs"


@dataclass(frozen=True)
class Case:
    folder: Path
    exit: int
    first_error: list[str]
    also: list[str]
    secrets: bool

    @property
    def args(self) -> list[str]:
        args = ["-c", str(self.folder / "config")]
        if self.secrets:
            args += ["--secrets-dir", str(self.folder / "secrets")]
        return args


def load_cases() -> list[Case]:
    cases = []
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_")):
        expect = YAML(typ="safe").load((folder / "expect.yaml").read_text())
        cases.append(Case(folder, expect["exit"], expect["first_error"], expect.get("also", []),
                          bool(expect.get("secrets"))))
    return cases


CASES = load_cases()


def errors_of(stderr: str) -> list[str]:
    """Each `error: ...` of the output, with the lines that continue it (a template's Jinja2 equivalent)."""
    errors: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("error: "):
            errors.append(line)
        elif errors and not line.startswith(("note: ", "# ")):
            errors[-1] += "\n" + line
    return errors


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 80
    names = " ".join(c.folder.name for c in CASES)
    for kind in ("imagerepository", "imagepolicy", "gitrepository", "imageupdateautomation", "receiver",
                 "provider", "alert", "yaml", "secret"):
        assert f"-{kind}-" in names, kind


def test_the_unbroken_config_is_valid_with_its_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    base = CORPUS / "_valid"
    code = main(["validate", "-c", str(base / "config"), "--secrets-dir", str(base / "secrets")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "error" not in err and out.rstrip().endswith(": valid")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.folder.name)
def test_validate_refuses_it_naming_the_mistake(case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", *case.args])
    err = capsys.readouterr().err
    errors = errors_of(err)
    assert code == case.exit, err
    assert errors, err
    for word in case.first_error:
        assert word in errors[0], f"{word!r} not in the first error:\n{errors[0]}\n(all: {err})"
    for word in case.also:
        assert any(word in e for e in errors), f"{word!r} in no error:\n{err}"
    assert "Traceback" not in err


# A sample of every kind and field class: plan and run --once refuse them as validate does.
SAMPLE = [c for c in CASES if not c.secrets and c.folder.name.split("-", 1)[1] in {
    "imagerepository-typo-secretref", "imagerepository-provider-oracle", "imagerepository-secretref-traversal",
    "imagepolicy-kind-typo", "imagepolicy-typo-imagerepositoryref", "imagepolicy-ref-invalid-repository",
    "gitrepository-url-no-scheme", "imageupdateautomation-template-go", "imageupdateautomation-push-typo",
    "receiver-type-typo", "provider-type-telegram", "alert-severity-enum", "yaml-merge-bomb",
}]


@pytest.mark.parametrize("command", [["plan"], ["run", "--once"]])
@pytest.mark.parametrize("case", SAMPLE, ids=lambda c: c.folder.name)
def test_plan_and_run_refuse_the_same_configs_before_contacting_anything(
    case: Case, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    main(["validate", *case.args])
    validate_errors = errors_of(capsys.readouterr().err)
    code = main([*command, *case.args, "--state-dir", str(state)])
    errors = errors_of(capsys.readouterr().err)
    assert code == 1
    assert errors and errors[0] == validate_errors[0]
    assert not state.exists()  # nothing scanned, cloned or recorded


def test_the_sample_covers_many_cases() -> None:
    assert len(SAMPLE) == 13
