"""The approval tables: one decision per request however many deciders race, and what each state allows."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from imagebot.approval import ApprovalError
from imagebot.store import Store

CHANGES = [{"file": "a.yaml", "object": "Deployment x/y", "old": "r:1", "new": "r:2", "setter": "x:y"}]


def request(store: Store, supersedes: int | None = None, at: float = 1000.0, expires: float = 60.0) -> int:
    return store.request_approval(automation="ns/auto", repository_url="file:///r", branch="main", base_commit="b" * 40,
                                  changes=CHANGES, fingerprint="f", diff="", expires_after=expires,
                                  supersedes=supersedes, at=at).id


def test_two_processes_deciding_at_once_make_one_decision(tmp_path: Path) -> None:
    with Store(tmp_path) as first:
        number = request(first, at=None)  # type: ignore[arg-type]
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def decide(i: int) -> None:
        with Store(tmp_path) as store:  # a connection each, as the CLI and the service have
            barrier.wait()
            try:
                store.decide_approval(number, "approved" if i % 2 else "rejected", f"user{i}", "cli")
                outcomes.append("won")
            except ApprovalError as err:
                assert "already" in str(err)
                outcomes.append("refused")

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]
    with Store(tmp_path) as store:
        decisions = [d.decision for d in store.approval_decisions(number)]
        assert len(decisions) == 2 and decisions[-1] == "requested"


def test_states_and_what_they_allow(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        first = request(store)
        second = request(store, supersedes=first, at=1001.0)
        assert store.approval(first).state == "superseded" and store.approval(first).superseded_by == second
        with pytest.raises(ApprovalError, match=f"already superseded .*by #{second}"):
            store.decide_approval(first, "approved", "u", "cli", at=1002.0)
        with pytest.raises(ApprovalError, match="expired"):
            store.decide_approval(second, "approved", "u", "cli", at=1001.0 + 61)
        assert store.approval(second).state == "pending", "only a run, which announces it, records the expiry"
        assert [a.id for a in store.expire_approvals("ns/auto", at=1001.0 + 61)] == [second]
        assert store.approval(second).state == "expired"
        assert store.last_closed_approval("ns/auto").id == second
        with pytest.raises(ApprovalError, match="does not exist"):
            store.decide_approval(999, "approved", "u", "cli")
        third = request(store, at=2000.0)
        store.decide_approval(third, "approved", "u", "cli", at=2001.0)
        store.approval_delivered(third, "c" * 40, at=2002.0)
        store.approval_delivered(third, "d" * 40, at=2003.0)  # once only
        assert store.approval(third).commit == "c" * 40 and store.approval_for_commit("c" * 40).id == third
        assert store.open_approval("ns/auto") is None


def test_a_signature_is_used_once_and_forgotten_after_its_window(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.first_use_of_signature("v0=aa", at=100.0, keep=600.0)
        assert not store.first_use_of_signature("v0=aa", at=200.0, keep=600.0)
        assert store.first_use_of_signature("v0=aa", at=800.0, keep=600.0)  # its timestamp is long stale by now


def test_an_approved_push_recovered_after_a_kill_is_recorded_as_delivered(tmp_path: Path) -> None:
    from imagebot.approval.gate import fingerprint, settle
    from imagebot.config import ImageUpdateAutomation
    from imagebot.store import Delivery

    automation = ImageUpdateAutomation.model_validate({
        "apiVersion": "image.toolkit.fluxcd.io/v1", "metadata": {"name": "auto", "namespace": "ns"},
        "spec": {"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                 "git": {"commit": {"author": {"name": "b", "email": "b@example.com"}}},
                 "approval": {"approvers": ["U0APPROVER"]}}})
    with Store(tmp_path) as store:
        asked = settle(store, automation, CHANGES, "", base_commit="b" * 40, repository_url=None, branch="main",
                       now=1000.0)
        assert asked.requested and asked.pending is not None and asked.pending.fingerprint == fingerprint(CHANGES)
        store.decide_approval(asked.pending.id, "approved", "u", "cli", at=1001.0)
        # the run pushed, was killed before recording; the next one recorded the delivery from its intent
        store.record_delivery(Delivery(1002.0, "ns/auto", None, "c" * 40, "main", None, CHANGES))
        after = settle(store, automation, [], "", base_commit="c" * 40, repository_url=None, branch="main",
                       now=1003.0)
        assert after.withdrawn is None and after.pending is None
        assert store.approval(asked.pending.id).state == "delivered"
        assert store.approval(asked.pending.id).commit == "c" * 40
