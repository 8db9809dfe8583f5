"""Counted nouns in what users read: "1 priority", "2 priorities", never "1 priorities".

The one place the plural rule lives, so every layer's messages agree. Pure, no imports.
"""

from __future__ import annotations


def count_of(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and the noun in the form it takes: ``count_of(1, "priority")`` → ``1 priority``.

    ``plural`` defaults to ``singular + "s"``, or ``-y`` → ``-ies`` after a consonant.
    """
    if count == 1:
        return f"1 {singular}"
    if plural is None:
        if singular.endswith("y") and singular[-2:-1] not in ("a", "e", "i", "o", "u"):
            plural = singular[:-1] + "ies"
        else:
            plural = singular + "s"
    return f"{count:,} {plural}"
