"""The one error the policy engine raises."""

from __future__ import annotations


class PolicyError(ValueError):
    """An ImagePolicy that cannot be evaluated: the message says what is wrong and what is expected."""
