"""The SQLite state: tags, digests with first-seen times, policy results, and recovery from corruption."""

from __future__ import annotations

from pathlib import Path

from imagebot.store import Delivery, Store


def test_tags_digests_and_policy_results_survive_reopening(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        first = store.save_tags("docker.io/library/nginx", ["1.25", "1.26", "latest"], at=100.0)
        store.record_digest("docker.io/library/nginx", "latest", "sha256:" + "a" * 64, at=100.0)
        store.record_digest("docker.io/library/nginx", "latest", "sha256:" + "b" * 64, at=200.0)
        assert store.save_policy_result("default/nginx", "nginx", "1.26", None, at=100.0) is True
        assert store.save_policy_result("default/nginx", "nginx", "1.26", None, at=150.0) is False
    with Store(tmp_path) as store:
        record = store.tags("docker.io/library/nginx")
        assert record is not None and record.tags == ["1.25", "1.26", "latest"] and record.revision == first.revision
        assert store.digest("docker.io/library/nginx", "latest") == "sha256:" + "b" * 64
        assert [at for _, at in store.digests("docker.io/library/nginx", "latest")] == [100.0, 200.0]
        result = store.policy_result("default/nginx")
        assert result is not None and result.changed_at == 100.0
        assert store.save_policy_result("default/nginx", "nginx", "1.27", None, at=300.0) is True
        assert store.policy_result("default/nginx").changed_at == 300.0  # type: ignore[union-attr]
        assert store.save_tags("docker.io/library/nginx", ["1.26", "1.25", "latest"]).revision == first.revision


def test_a_scan_of_the_same_tags_touches_only_the_time(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        first = store.save_tags("r/app", ["1", "2"], at=100.0)
        assert store.touch_tags("r/app", first.revision, at=200.0) is True
        assert store.tags("r/app").scanned_at == 200.0  # type: ignore[union-attr]
        store.save_tags("r/app", ["1", "2", "3"], at=300.0)  # another process stored a newer list
        assert store.touch_tags("r/app", first.revision, at=400.0) is False
        assert store.tags("r/app").scanned_at == 300.0  # type: ignore[union-attr]
        assert store.touch_tags("r/other", first.revision) is False


def test_corrupt_database_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 100)
    with Store(tmp_path) as store:
        assert store.tags("x") is None
        store.save_tags("x", ["1"])
        assert store.tags("x").tags == ["1"]  # type: ignore[union-attr]
    assert list(tmp_path.glob("state.db.corrupt-*"))


def test_deliveries_newest_first(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        for i in range(3):
            store.record_delivery(Delivery(float(i), "apps/fleet", "file:///r", f"c{i}", "main", None,
                                           [{"file": "a.yaml", "old": "1", "new": str(i)}]))
        got = store.deliveries("apps/fleet", limit=2)
        assert [d.commit for d in got] == ["c2", "c1"]
        assert got[0].changes == [{"file": "a.yaml", "old": "1", "new": "2"}]


def test_an_intent_is_recorded_once_and_its_notification_owed_once(tmp_path: Path) -> None:
    changes = [{"file": "a.yaml", "object": None, "old": "r:1", "new": "r:2", "setter": "ns:app"}]
    with Store(tmp_path) as store:
        intent = store.intend_push("ns/auto", "file:///remote.git", "main", "c" * 40, changes)
        [pending] = store.intents("ns/auto")
        assert (pending.state, pending.commit, pending.ref, pending.changes) == ("pushing", "c" * 40, "main", changes)
        assert pending.mine and pending.owner_alive

        delivery = Delivery(1.0, "ns/auto", "file:///remote.git", "c" * 40, "main", None, changes)
        first = store.complete_intent(intent, delivery)
        again = store.complete_intent(intent, delivery)  # a second run that also found the commit

        assert first is not None and again is None
        assert [d.commit for d in store.deliveries("ns/auto")] == ["c" * 40]
        assert store.claim_notification(intent) is False, "the recording process owns the notification"
        store.intent_notified(intent)
        assert store.intents("ns/auto") == []
        assert [i.state for i in store.intents("ns/auto", states=("notified",))] == ["notified"]


def test_an_abandoned_intent_records_nothing(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        intent = store.intend_push("ns/auto", "file:///remote.git", "main", "d" * 40, [])
        store.abandon_intent(intent)
        assert store.intents("ns/auto") == [] and store.deliveries() == []
