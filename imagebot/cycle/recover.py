"""Finishing what a killed run left: a push made but never recorded, a delivery recorded but never notified.

Every push is written down (an intent) before it is made. A run that dies between the push and its
record leaves the intent `pushing`; the next run of that automation asks the remote whether the commit
landed, then records it (history shows it) and notifies it, once: the database says who owes the
notification, and only a run that moved the intent itself, or whose owner died before the first
request of the notification went out, sends it. A notification cut off while being sent is not sent
again: it may have arrived, and a delivery is announced at most once.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from imagebot.update.changes import object_label

if TYPE_CHECKING:
    from imagebot.delivery.git import Checkout
    from imagebot.store import Intent, Store
    from imagebot.update import UpdateResult

log = logging.getLogger("imagebot.cycle")

# A recorded delivery whose owner still runs is left to it, unless it has owed its notification this long.
NOTIFY_LEASE_SECONDS = 3600.0


def change_dicts(result: UpdateResult) -> list[dict[str, Any]]:
    """The changes of a delivery as the state database keeps them."""
    return [{"file": c.file, "object": object_label(c.object), "old": c.old_value,
             "new": c.new_value, "setter": c.setter} for c in result.changes]


def reconcile(store: Store, checkout: Checkout, automation: str) -> list[Intent]:
    """Blocking, with the automation's clone locked. Settles its unfinished pushes; returns the intents
    whose notification this run now owes (recorded just now, or left unsent by a run that died)."""
    from imagebot.delivery.git import commit_landed
    from imagebot.store import Delivery

    owed: list[Intent] = []
    url = checkout.source.display_url
    for intent in store.intents(automation, states=("pushing",)):
        fields = {"automation": automation, "commit": intent.commit, "ref": intent.ref}
        if intent.repository_url != url:
            log.warning("an interrupted push to %s cannot be checked: the automation now uses %s; forgotten",
                        intent.repository_url, url, extra=fields)
            store.abandon_intent(intent.id)
            continue
        landed = commit_landed(checkout, intent.ref, intent.commit, intent.at)
        if landed is None:
            log.warning("an interrupted push to %s cannot be confirmed (the remote does not list that ref); "
                        "forgotten", intent.ref, extra=fields)
            store.abandon_intent(intent.id)
        elif not landed:
            log.info("an interrupted push never reached %s; the change is made again", intent.ref, extra=fields)
            store.abandon_intent(intent.id)
        else:
            branch = intent.ref.removeprefix("refs/heads/")
            recorded = store.complete_intent(intent.id, Delivery(time.time(), automation, url, intent.commit,
                                                                 branch, None, intent.changes))
            if recorded is not None:
                log.warning("a push interrupted before it was recorded had landed: %s on %s, recorded now",
                            intent.commit[:12], branch, extra=fields)
                owed.append(intent)
    taken = {i.id for i in owed}
    for intent in store.intents(automation, states=("recorded", "sending")):
        if intent.id in taken or intent.mine:
            continue
        if intent.owner_alive and time.time() - intent.at < NOTIFY_LEASE_SECONDS:
            continue  # its owner is still at it
        if intent.state == "sending":
            # The run died while its notification was going out: it may have arrived. Never twice, so
            # it is not sent again; the delivery itself is recorded (history shows it).
            log.warning("the notification of %s may not have been sent: the run sending it was stopped",
                        intent.commit[:12], extra={"automation": automation, "commit": intent.commit})
            store.intent_notified(intent.id)
        elif store.claim_notification(intent.id):
            owed.append(intent)
    return owed
