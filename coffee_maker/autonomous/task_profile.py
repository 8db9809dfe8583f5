"""What kind of task a priority is, for routing: its type, complexity and privacy.

Each comes from the priority's own line when it has one (``**Type**:``,
``**Complexity**:``, ``**Privacy**:``; see docs/ROADMAP_FORMAT.md), else is inferred from
its text, and every profile says where each value came from, in words, so
``project-manager route explain`` can show it. Pure: text in, profile out.

How the inference works (docs/ROUTING.md says the same):

- type: each type has a few word patterns; a match in the title counts 3, in the body 1;
  the highest score wins (ties in the order bugfix, tests, docs, refactor, feature); no
  match at all is a feature.
- complexity: a base per type (docs 2, tests 3, refactor 4, bugfix 4, feature 5), +1 per
  150 words of text beyond the first 60 (at most +3), +1 when it names 3 or more files
  and +2 when 6 or more, +1 per word that signals hard work (concurrency, migration,
  security...; at most +2), -1 when it says it is small (typo, trivial...); 1 to 10.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coffee_maker.autonomous.roadmap_scan import TASK_TYPES, Priority

_TYPE_PATTERNS: dict[str, tuple[str, ...]] = {
    "bugfix": (r"\bfix(?:es|ed|ing)?\b", r"\bbugs?\b", r"\bcrash\w*", r"\bregression\b",
               r"\bbroken\b", r"\bwrong\b", r"\bfails?\b"),
    "tests": (r"\b(?:add|write|more|missing|improve)\s+(?:unit\s+|integration\s+)?tests\b",
              r"\btest\s+coverage\b", r"\bcoverage\b", r"\btest\s+suite\b"),
    "docs": (r"\bdoc(?:s|umentation|umented|string)?s?\b", r"\breadme\b", r"\busage\s+note\b",
             r"\bguide\b", r"\btutorial\b", r"\b\w+\.md\b", r"\bchangelog\b"),
    "refactor": (r"\brefactor\w*", r"\brename\w*", r"\bclean\s*-?\s*up\b", r"\bextract\w*",
                 r"\bsimplif\w*", r"\bsplit\b", r"\bdeduplicat\w*", r"\breorganiz\w*"),
    "feature": (r"\badd\w*\b", r"\bimplement\w*", r"\bsupport\w*", r"\bnew\b", r"\bcommand\b",
                r"\bflag\b", r"\bendpoint\b"),
}  # fmt: skip
_TIE_ORDER = ("bugfix", "tests", "docs", "refactor", "feature")
_BASE = {"docs": 2, "tests": 3, "refactor": 4, "bugfix": 4, "feature": 5}
_HARD = re.compile(
    r"\b(?:concurren\w*|thread\w*|async\w*|race|migrat\w*|security|performance|distributed"
    r"|protocol|parser|algorithm\w*|cach\w*|transaction\w*|backwards?[- ]compatib\w*)\b",
    re.I,
)
_SMALL = re.compile(r"\b(?:typo|trivial|one[- ]line|small|tiny|minor)\b", re.I)
_FILE = re.compile(r"(?<![\w/])(?:[\w.-]+/)*[\w-]+\.(?:py|js|ts|tsx|jsx|go|rs|java|rb|c|h|cpp"
                   r"|md|toml|yaml|yml|json|cfg|ini|sh|html|css)\b")  # fmt: skip


@dataclass(frozen=True)
class TaskProfile:
    """A priority as routing sees it; each ``*_source`` says where the value came from."""

    task_type: str
    type_source: str
    complexity: int
    complexity_source: str
    local_only: bool
    privacy_source: str


def profile(priority: Priority) -> TaskProfile:
    title, body = priority.title, _body(priority)
    if priority.task_type:
        task_type, type_source = priority.task_type, "its **Type** line"
    else:
        task_type, type_source = infer_type(title, body)
    if priority.complexity:
        complexity, complexity_source = priority.complexity, "its **Complexity** line"
    else:
        complexity, complexity_source = estimate_complexity(task_type, title, body)
    if priority.privacy == "local":
        local_only, privacy_source = True, "its **Privacy**: local line"
    else:
        local_only, privacy_source = False, "no **Privacy**: local line"
    return TaskProfile(
        task_type, type_source, complexity, complexity_source, local_only, privacy_source
    )


def _body(priority: Priority) -> str:
    """The section without its heading and its field lines (their words are not the task's)."""
    lines = priority.section_text.splitlines()[1:]
    return "\n".join(line for line in lines if not re.match(r"^\s*[-*+]?\s*\*\*\w[\w ]*\*\*", line))


def infer_type(title: str, body: str) -> tuple[str, str]:
    scores: dict[str, int] = {}
    hits: dict[str, list[str]] = {}
    for task_type, patterns in _TYPE_PATTERNS.items():
        for pattern in patterns:
            for text, weight in ((title, 3), (body, 1)):
                for match in re.finditer(pattern, text, re.I):
                    scores[task_type] = scores.get(task_type, 0) + weight
                    hits.setdefault(task_type, []).append(match.group(0).lower())
    if not scores:
        return "feature", "inferred: no word names a type, so a feature"
    best = max(_TIE_ORDER, key=lambda t: (scores.get(t, 0), -_TIE_ORDER.index(t)))
    words = ", ".join(dict.fromkeys(hits[best]))
    return best, f"inferred from the words {words} (score {scores[best]}; title words count 3)"


def estimate_complexity(task_type: str, title: str, body: str) -> tuple[int, str]:
    text = f"{title}\n{body}"
    value = _BASE.get(task_type, 5)
    why = [f"{value}, the base for {task_type}"]
    words = len(text.split())
    length = min(3, max(0, (words - 60) // 150 + (1 if words > 60 else 0)))
    if length:
        value += length
        why.append(f"+{length} for {words} words")
    files = sorted(set(_FILE.findall(text)))
    if len(files) >= 3:
        extra = 2 if len(files) >= 6 else 1
        value += extra
        why.append(f"+{extra} for naming {len(files)} files")
    hard = list(dict.fromkeys(m.lower() for m in _HARD.findall(text)))[:2]
    if hard:
        value += len(hard)
        why.append(f"+{len(hard)} for {', '.join(hard)}")
    if _SMALL.search(text):
        value -= 1
        why.append(f"-1 for '{_SMALL.search(text).group(0).lower()}'")  # type: ignore[union-attr]
    value = max(1, min(10, value))
    return value, "estimated: " + ", ".join(why)


assert set(_TYPE_PATTERNS) == set(TASK_TYPES)
