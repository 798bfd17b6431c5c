"""Real tag lists (fixtures/tags, copied from the shared corpus of Docker official images)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

TAGS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "tags"


@cache
def corpus(image: str) -> tuple[str, ...]:
    """Every tag the official image ``image`` ever published."""
    return tuple((TAGS_DIR / f"{image}.txt").read_text().split())


@pytest.fixture
def tags_of():
    return corpus
