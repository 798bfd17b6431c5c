"""Approval gates (`spec.approval`): a computed change waits for a person before it is committed.

    cycle --change--> gate.settle --> pending request (store) --notify--> Slack buttons / status page / CLI
    decision (slack.py, ui, cli) --> store --> next run recomputes --same change--> commit with Approved-by

Modules: `_store` (tables), `gate` (what a cycle does), `decide` (a person's decision, from anywhere),
`signature` (Slack's request signing), `interactions` (the Slack callback route), `blocks` (messages).
"""

from imagebot.approval._store import Approval, ApprovalError, ApprovalState, Decision, SlackMessage

__all__ = ["Approval", "ApprovalError", "ApprovalState", "Decision", "SlackMessage"]
