"""Making untrusted text safe to publish: in a pull request body, a title, a commit message.

A PR is public on an open-source project, and what goes into it is written by the model
(its summary, the names of files it created, the output of tests it wrote) or read from
the repository. Rendered by GitHub, such text could notify people (``@octocat``), link or
close issues (``#1``, ``Closes #1``), inject HTML (``<img onerror=...>``), break out of the
code block it was put in, or reveal this machine (absolute paths under the user's home,
ANSI colour codes). Everything here turns text into inert text; nothing here decides what
a PR says. Secrets are not this module's job: :func:`coffee_maker.secrets.redact_text`.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

#: U+2060 WORD JOINER: invisible, but GitHub no longer sees a mention or a reference.
JOINER = "\u2060"

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
)
#: Control characters but tab and newline, and the bidirectional overrides of "Trojan source".
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MENTION = re.compile(r"(?<![\w`])@(?=[A-Za-z0-9_])")
_REFERENCE = re.compile(r"(?i)(?<!&)(#|\bgh-)(?=\d)")  # #1, o/r#1, GH-1
#: A closing keyword followed by something it could close (``Fixes #1``, ``closes o/r#1``,
#: ``Resolves https://github.com/o/r/issues/1``); the keyword itself is broken.
_CLOSING = re.compile(
    r"(?i)\b(?:(c)(los(?:e[sd]?|ing))|(f)(ix(?:e[sd]|ing)?)|(r)(esolv(?:e[sd]?|ing)))"
    r"(?=\s*:?\s*(?:#|gh-|https?://|[\w.-]+/[\w.-]+#|[\w.-]+#))"
)
_IMAGE = re.compile(r"!\[")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def strip_terminal(text: str) -> str:
    """No ANSI escapes, no control characters; ``\\r`` line ends become ``\\n``."""
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def quiet(text: str) -> str:
    """Break what GitHub would act on in any text: mentions, issue references and closing
    keywords (``Closes #1`` closes an issue from a PR body or a merged commit message)."""
    text = _quiet_closing(text)
    text = _MENTION.sub("@" + JOINER, text)
    return _REFERENCE.sub(lambda m: m.group(1) + JOINER, text)


def plain(text: str, paths: LocalPaths | None = None) -> str:
    """For text shown as is (titles, commit messages): clean and quiet, no local path."""
    text = strip_terminal(text)
    return quiet(paths.scrub(text) if paths else text)


# -- markdown ------------------------------------------------------------------------------


def code_span(text: str) -> str:
    """``text`` as one inline code span that nothing inside can close (backticks, newlines)."""
    text = quiet_code(" ".join(strip_terminal(text).split("\n"))) or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text.isspace() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fenced(text: str, info: str = "") -> str:
    """A code block whose fence is longer than any backtick run inside, so it stays shut."""
    text = quiet_code(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    info = re.sub(r"[^\w+.-]", "", info)[:20]
    return f"{fence}{info}\n{text}\n{fence}"


def inert_markdown(text: str) -> str:
    """Markdown written by someone else, kept readable but unable to act or escape.

    Code blocks and code spans are re-fenced by us (an unclosed fence is closed); outside
    code, HTML is escaped, images become text and mentions, references and closing
    keywords are broken.
    """
    out: list[str] = []
    prose: list[str] = []
    lines = strip_terminal(text).split("\n")
    i = 0
    while i < len(lines):
        opened = _FENCE_OPEN.match(lines[i])
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = opened.group(1)
            code: list[str] = []
            i += 1
            while i < len(lines) and not _closes(lines[i], fence):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end)
            out += [_inert_prose("\n".join(prose))] if prose else []
            prose = []
            out.append(fenced("\n".join(code), opened.group(2).strip()))
        else:
            prose.append(lines[i])
            i += 1
    if prose:
        out.append(_inert_prose("\n".join(prose)))
    return "\n".join(out)


def _closes(line: str, fence: str) -> bool:
    found = re.match(r"^ {0,3}(`+|~+)[ \t]*$", line)
    return bool(found) and found.group(1)[0] == fence[0] and len(found.group(1)) >= len(fence)


def _quiet_closing(text: str) -> str:
    return _CLOSING.sub(lambda m: JOINER.join(g for g in m.groups() if g), text)


def quiet_code(text: str) -> str:
    """For code: GitHub renders nothing in it, but a closing keyword may still be read, and
    a mention copied out of it would notify; break those two (references stay readable)."""
    return _MENTION.sub("@" + JOINER, _quiet_closing(text))


def _inert_prose(text: str) -> str:
    parts: list[str] = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        parts.append(_escape(text[last : span.start()]))
        parts.append(code_span(span.group(2)))
        last = span.end()
    parts.append(_escape(text[last:]))
    return "".join(parts)


def _escape(text: str) -> str:
    text = _IMAGE.sub("!\\[", text.translate(_HTML))
    return quiet(text.replace("`", "\\`"))


# -- local paths ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalPaths:
    """The absolute paths of this machine a public text must not show, and what it shows
    instead. Longest first, so the worktree (under the home) is named as the worktree."""

    replacements: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of_run(
        cls,
        worktree: str | os.PathLike[str] | None = None,
        checkout: str | os.PathLike[str] | None = None,
        extra: Iterable[tuple[str | os.PathLike[str], str]] = (),
    ) -> LocalPaths:
        """Worktree, the user's checkout, ``COFFEE_MAKER_HOME`` (ledger, transcripts),
        the Python environment, the temporary directory and the home directory."""
        named: list[tuple[str | os.PathLike[str] | None, str]] = [
            (worktree, "<worktree>"),
            (checkout, "<checkout>"),
            *extra,
            (os.environ.get("COFFEE_MAKER_HOME"), "<state>"),
            (os.environ.get("VIRTUAL_ENV"), "<venv>"),
            (sys.prefix if sys.prefix != sys.base_prefix else None, "<venv>"),
            (tempfile.gettempdir(), "<tmp>"),
            (os.path.expanduser("~"), "<home>"),
        ]
        pairs: dict[str, str] = {}
        for path, label in named:
            if not path:
                continue
            for form in {os.fspath(path), os.path.realpath(path)}:
                form = form.rstrip("/")
                if len(form) > 1 and form not in pairs:  # never "/" itself
                    pairs[form] = label
        ordered = sorted(pairs.items(), key=lambda kv: -len(kv[0]))
        return cls(tuple(ordered))

    def scrub(self, text: str) -> str:
        """Each known absolute path replaced by its placeholder (``<worktree>/src/x.py``)."""
        for path, label in self.replacements:
            if path in text:
                text = re.sub(re.escape(path) + r"(?=[/\\\s'\":,;)\]}>]|$)", label, text)
        return text
