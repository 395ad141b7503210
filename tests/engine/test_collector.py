"""Fewer collections while runs go on: overlapping runs, and settings someone else made."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from engine.collector import YOUNG_THRESHOLD, fewer_collections


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_the_thresholds_come_back_only_when_the_last_of_overlapping_runs_ends() -> None:
    gc.set_threshold(700, 10, 10)
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    first.__exit__(None, None, None)  # runs end in any order
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize("young", [0, 50_000])
def test_collection_switched_off_or_already_rarer_is_left_as_it_was(young: int) -> None:
    gc.set_threshold(young, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == (young, 10, 10)
    assert gc.get_threshold() == (young, 10, 10)
