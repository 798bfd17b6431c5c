"""A marker that marks nothing (on a key whose value is a mapping, after a flow collection, after an
alias) is reported with its file and line, through the updater's result and `imagebot set`."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.cli import main
from imagebot.update import apply_updates
from imagebot.update.scan import scan

M = '# {"$imagepolicy": "ns:app"}'


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pure"])
@pytest.mark.parametrize(
    "text,line,why",
    [
        (f"image: {M}\n  repository: r\n  tag: '1'\n", 1, "on the key 'image', whose value is a mapping"),
        (f"images: {M}\n  - r:1\n", 1, "on the key 'images', whose value is a sequence"),
        (f"image: {M}\n  r:1\n", 1, "on the key 'image', not after its value (on line 2)"),
        (f"image: [r, '1'] {M}\n", 1, "follows a flow collection"),
        (f"a: 1\nimage: {{repository: r, tag: '1'}}  {M}\n", 2, "follows a flow collection"),
        (f"- [r, '1'] {M}\n", 1, "follows a flow collection"),
        (f"x: [[r], {M}\n  b]\n", 1, "follows a flow collection"),
        (f"a: &img r:1\nimage: *img {M}\n", 2, "follows an alias (*img)"),
    ],
)
def test_a_marker_that_marks_no_scalar_is_a_problem_with_its_line(text: str, line: int, why: str,
                                                                   fast: bool) -> None:
    found = scan(text, "ns", fast=fast)

    assert found.targets == []
    [problem] = found.problems
    assert problem.line == line and why in problem.message and problem.message.startswith("marker ignored")


@pytest.mark.parametrize(
    "text",
    [
        f"image: r:1 {M}\n",  # the ordinary marker
        f"image: [r:1, {M}\n  b]\n",  # a flow item marked after its comma
        "image: # a plain comment\n  tag: 1\n",
        'image: "r # {\\"$imagepolicy\\": \\"ns:app\\"}"\n',  # inside a string, not a comment
        "image: # see $imagepolicy markers below\n  tag: 1\n",  # prose, not a marker
    ],
)
def test_markers_that_mark_a_scalar_and_comments_that_are_no_markers_say_nothing(text: str) -> None:
    assert scan(text, "ns").problems == []


def test_the_note_reaches_the_update_result_and_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "values.yaml").write_text(f"image: {M}\n  repository: r\n  tag: '1'\n")

    result = apply_updates(tmp_path, {}, default_namespace="ns", write=False)
    [note] = [n for n in result.notes if n.code == "invalid-marker"]
    assert (note.file, note.line, note.level) == ("values.yaml", 1, "warning")

    main(["set", str(tmp_path), "ns:app=r:2", "-n", "ns"])
    err = capsys.readouterr().err
    assert "values.yaml:1: warning: marker ignored: it is on the key 'image', whose value is a mapping" in err
    assert (tmp_path / "values.yaml").read_text() == f"image: {M}\n  repository: r\n  tag: '1'\n"
