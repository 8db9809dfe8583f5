"""The PR body and the commit message are inert: nothing in them notifies, links, closes,
renders HTML, escapes its block, shows this machine's paths or ANSI, or grows unbounded."""

from __future__ import annotations

import re
from pathlib import Path

from coffee_maker.autonomous.pr_body import BODY_LIMIT, PullRequestContent, render_pr_body
from coffee_maker.autonomous.public_text import (
    JOINER,
    LocalPaths,
    code_span,
    inert_markdown,
    strip_terminal,
)

HOSTILE = (
    "Done @octocat and @org/team! <img src=x onerror=alert(1)> <details open> & &lt;\n"
    "Closes #1. fixes octo/calc#2, Resolves https://github.com/octo/calc/issues/3, GH-4\n"
    "![pixel](https://tracker.example/p.png)\n"
    "```\n</details>\n## escaped?\n"  # an unclosed fence
)


def active_mentions(text: str) -> list[str]:
    return re.findall(r"(?<![\w`])@[A-Za-z0-9]", text)


def closing_keywords(text: str) -> list[str]:
    return re.findall(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+\S*#?\d", text)


def outside_code(markdown: str) -> str:
    """The markdown with fenced blocks and code spans removed (what GitHub renders as HTML)."""
    text = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", markdown)
    return re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", "", text)


def test_inert_markdown_breaks_everything_github_would_act_on() -> None:
    out = inert_markdown(HOSTILE)
    prose = outside_code(out)
    assert active_mentions(out) == []
    assert "<" not in prose and ">" not in prose and "&amp;lt;" in prose
    assert closing_keywords(out) == []
    assert not re.search(r"(?<!&)#\d|GH-\d", out)
    assert "![" not in out
    # The unclosed fence is closed by us: nothing after it can become markdown.
    assert out.rstrip().endswith("```") and "</details>" in out
    assert out.count("```") == 2


def test_code_spans_hold_any_file_name() -> None:
    for name in ("a`b.py", "``x``", "`", "line\nbreak.md", "ok.py"):
        span = code_span(name)
        ticks = re.match(r"`+", span).group(0)
        inner = span[len(ticks) : -len(ticks)]
        assert "\n" not in span and span.endswith(ticks)
        assert ticks not in inner  # nothing inside closes it
        assert name.replace("\n", " ") == inner.strip() or inner.strip() in name


def test_terminal_escapes_and_bidi_overrides_are_stripped() -> None:
    raw = "\x1b[31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 a\u202eb\r\n"
    assert strip_terminal(raw) == "red link ab\n"


def test_local_paths_become_placeholders(tmp_path: Path) -> None:
    worktree, checkout = tmp_path / "state" / "worktrees" / "w", tmp_path / "checkout"
    paths = LocalPaths.of_run(worktree, checkout)
    text = f"{worktree}/src/a.py failed; see {checkout}/.venv/bin/python and {Path.home()}/.ssh"
    assert paths.scrub(text) == (
        "<worktree>/src/a.py failed; see <checkout>/.venv/bin/python and <home>/.ssh"
    )


def test_a_hostile_body_is_inert_bounded_and_local_free(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    content = PullRequestContent(
        priority_id="PRIORITY 1",
        priority_title="Add @admin <b>bold</b> Closes #9",
        priority_text="<&" * 10_000 + HOSTILE * 3,  # escaped, text grows 4-5 times
        summary=HOSTILE + f"\nworked in {worktree}\n\x1b[31mred\x1b[0m\n" + "<" * 100_000,
        files_changed=["a`b``c.py", "<img src=x>.md", "@octocat.md", "x" * 10_000],
        diff_stat=" a`b``c.py | 2 +-\n",
        test_command=f"{worktree}/.venv/bin/python -m pytest",
        test_passed=False,
        test_output_tail="\x1b[32m" + "noise\n" * 20_000 + "=== FAILURES ===\nE boom @ann\n",
        providers_used=["openai/<script>"],
        fallback_events=[{"error": "Closes #5 @someone <b>"}, *["&" * 400] * 30],
        run_id="20261202T000000-abc123",
        dropped_paths=[".github/workflows/x`y.yml"],
        local_paths=LocalPaths.of_run(worktree, tmp_path / "checkout"),
    )
    body = render_pr_body(content)
    assert len(body) <= BODY_LIMIT
    assert "shortened to fit GitHub's size limit" in body
    assert active_mentions(body) == [] and closing_keywords(body) == []
    assert str(tmp_path) not in body and "<worktree>/.venv/bin/python -m pytest" in body
    assert "\x1b" not in body
    prose = outside_code(body)
    for tag in ("<img", "<b>", "<script", "<details open"):
        assert tag not in prose
    assert f"=== FAILURES ===\nE boom @{JOINER}ann" in body  # the relevant part of the output
    assert "`` a`b``c.py ``" not in body and "```a`b``c.py```" in body
    assert "### Not included" in body and "````.github/workflows/x`y.yml" not in body
    assert "20261202T000000-abc123" in body and "Transcript:" not in body
    # Our own structure is intact: every <details> we opened is closed once, in order.
    assert prose.count("<details>") == prose.count("</details>") == 2
    assert body.rstrip().endswith("an autonomous development daemon.</sub>")
    assert JOINER in body


def test_every_section_at_its_worst_still_fits_github() -> None:
    content = PullRequestContent(
        "PRIORITY 1",
        "t" * 1000,
        "&" * 10**6,
        summary="<" * 10**6,
        files_changed=["x" * 4000] * 500,
        dropped_paths=["`" * 4000] * 500,
        fallback_events=["&" * 5000] * 500,
        test_command="c" * 10**5,
        test_passed=False,
        test_output_tail="o\n" * 10**6,
        diff_stat="s" * 10**6,
    )
    body = render_pr_body(content)
    assert len(body) <= BODY_LIMIT
    assert "shortened to fit GitHub's size limit" in body
    assert body.rstrip().endswith("an autonomous development daemon.</sub>")
