"""The default pull request body with release notes stays within GitHub's 65,536 characters however
many images change and however long their notes are."""

from __future__ import annotations

from imagebot.config.models import ImageUpdateAutomation
from imagebot.cycle import AutomationOutcome, default_body
from imagebot.release.lookup import release_key
from imagebot.release.model import Release, ReleaseNotes
from imagebot.release.render import PR_BODY_MAX
from imagebot.update.changes import Change, FileChange, ObjectRef, UpdateResult

AUTOMATION = ImageUpdateAutomation.model_validate({
    "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
    "metadata": {"name": "apps", "namespace": "flux-system"},
    "spec": {"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "apps"},
             "git": {"commit": {"author": {"name": "imagebot", "email": "imagebot@example.com"}}}},
})


def outcome_with(images: int, notes_chars: int) -> AutomationOutcome:
    changes = [Change(f"apps/app{i}.yaml", ObjectRef("apps/v1", "Deployment", "apps", f"app{i}"),
                      f"registry.example.com/app{i}:1.0.0", f"registry.example.com/app{i}:2.0.0",
                      f"flux-system:app{i}", 12, f"flux-system:app{i}") for i in range(images)]
    result = UpdateResult(files=[FileChange(c.file, b"", b"", [c]) for c in changes])
    outcome = AutomationOutcome(AUTOMATION, "committed", result=result, commit="a" * 40, branch="imagebot")
    for i, change in enumerate(changes):
        outcome.releases[release_key(change)] = Release(
            Source=f"https://github.com/acme/app{i}", Compare=f"https://github.com/acme/app{i}/compare/v1...v2",
            Notes=ReleaseNotes(Title="v2", Text=("- a change worth a line\n" * notes_chars)[:notes_chars],
                               URL=f"https://github.com/acme/app{i}/releases/tag/v2"))
    return outcome


def test_one_image_with_long_notes_fits() -> None:
    body = default_body(outcome_with(1, 20_000))
    assert len(body) <= PR_BODY_MAX
    assert body.count("> - a change worth a line") > 500, "most of the notes are kept"
    assert "### Release: `registry.example.com/app0:1.0.0 → registry.example.com/app0:2.0.0`" in body


def test_many_images_share_the_room_and_every_one_keeps_its_links() -> None:
    body = default_body(outcome_with(40, 20_000))
    assert len(body) <= PR_BODY_MAX
    for i in range(40):
        assert f"[compare](https://github.com/acme/app{i}/compare/v1...v2)" in body
    assert body.count("… (cut)") == 40


def test_so_many_images_that_notes_do_not_fit_still_link_each_release() -> None:
    body = default_body(outcome_with(300, 20_000))
    assert len(body) <= PR_BODY_MAX
    assert "<details>" not in body and 50 < body.count("[source](") < 300  # the change list takes most room
    assert f"…and {300 - body.count('[source](')} more release(s), not shown" in body
