"""Counted nouns: the one plural rule every message uses."""

from __future__ import annotations

import pytest

from coffee_maker.wording import count_of


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (1, "priority", "1 priority"),
        (0, "priority", "0 priorities"),
        (2, "priority", "2 priorities"),
        (1, "model", "1 model"),
        (3, "model", "3 models"),
        (2, "day", "2 days"),  # a vowel before the y: just an s
        (1_500, "byte", "1,500 bytes"),
    ],
)
def test_count_of(count: int, noun: str, expected: str) -> None:
    assert count_of(count, noun) == expected


def test_an_irregular_plural_is_given() -> None:
    assert count_of(2, "child", "children") == "2 children"
    assert count_of(1, "child", "children") == "1 child"
