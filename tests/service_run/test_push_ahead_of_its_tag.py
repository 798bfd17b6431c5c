"""A registry's push notification that arrives before the pushed tag can be listed.

distribution announces a manifest push from the manifest store, before the tag's link is written:
a scan the notification starts at once can list the tags without the new one. Were that scan the
last word, the push would wait for the next interval (an hour here). These tests post the
registry's notification for a tag, let the service's scan miss it, then write the tag link as
distribution does a moment later.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from imagebot.service.receivers import hook_path
from tests.service_run._stack import NAMESPACE, RECEIVER, REPOSITORY, TOKEN, Service, service_stack

EVENTS_TYPE = "application/vnd.docker.distribution.events.v1+json"


def announce(svc: Service, tag: str, digest: str) -> None:
    """POST the notification distribution sends for a manifest pushed as `tag`."""
    event = {"action": "push", "request": {"host": svc.registry.host, "method": "PUT"},
             "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": digest,
                        "repository": REPOSITORY, "tag": tag}}
    answer = svc.http.post(hook_path(TOKEN, RECEIVER, NAMESPACE), content=json.dumps({"events": [event]}),
                           headers={"Content-Type": EVENTS_TYPE})
    assert answer.status_code == 200, answer.text


def scans(svc: Service) -> int:
    return svc.log.count('"scanned ')


def test_a_push_announced_before_its_tag_is_listed_still_becomes_a_commit(tmp_path: Path) -> None:
    with service_stack(tmp_path, slack=False) as svc:
        svc.wait_log("run finished", timeout=15)
        # The image is in the registry, its tag not yet: distribution's state between the two writes.
        digest = svc.registry.push_image(REPOSITORY, None).digest
        time.sleep(0.5)  # the untagged push's own notification and scan come and go
        before_head, before_scans = svc.remote.head(), scans(svc)

        def tag_once_scanned() -> None:
            deadline = time.monotonic() + 20
            while scans(svc) == before_scans and time.monotonic() < deadline:
                time.sleep(0.005)
            svc.registry.seed_tags(REPOSITORY, ["1.1.0"], digest)

        tagger = threading.Thread(target=tag_once_scanned, daemon=True)
        tagger.start()
        announce(svc, "1.1.0", digest)
        after = svc.wait_head_change(before_head, timeout=15)
        tagger.join(5)

        assert f"{svc.registry.host}/{REPOSITORY}:1.1.0 #" in svc.remote.read("apps/app.yaml")
        assert "the announced tag 1.1.0 is not listed yet: scanning again in 0.2 s" in svc.log
        assert svc.remote.parents(after) == [before_head]


def test_an_announced_tag_that_never_appears_is_given_up_with_a_warning(tmp_path: Path) -> None:
    with service_stack(tmp_path, slack=False) as svc:
        svc.wait_log("run finished", timeout=15)
        digest = svc.registry.push_image(REPOSITORY, None).digest
        time.sleep(0.5)
        before, head = scans(svc), svc.remote.head()

        announce(svc, "9.9.9", digest)
        svc.wait_log("still lacks the announced tag 9.9.9 after 5 scans", timeout=15)

        # the first scan and a few more, spaced out, then nothing: a missing tag is not polled for ever
        tries = scans(svc) - before
        time.sleep(3)
        assert scans(svc) - before == tries == 5, tries
        assert svc.remote.head() == head  # nothing committed
