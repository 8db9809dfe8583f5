"""The docs stay true: their commands parse, their config keys exist, their links resolve.

A newcomer copies commands and YAML from README.md and docs/ and expects them to work.
These checks read the docs the way they do: every ``code-developer`` / ``project-manager``
line in a shell block (or an inline code span) is run through the real argparse parsers,
every YAML block through the real config schema (or the price-table loader), every
dotted config key and price row against the schema and the price table, every relative
link against the file system. The README's quick-start test command must be the one CI
runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel

from coffee_maker.ai_providers.pricing import BUILTIN_PRICES, PriceTable
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.cli import code_developer, project_manager
from coffee_maker.config import AppConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "AI_PROVIDERS.md",
    ROOT / "docs" / "ARCHITECTURE.md",
    ROOT / "docs" / "OPERATIONS.md",
    ROOT / "docs" / "ROADMAP_FORMAT.md",
    ROOT / "docs" / "VERIFICATION.md",
]
PROGRAMS = {"code-developer", "project-manager"}
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
#: Words before a program that still leave it in command position.
PREFIXES = {"sudo", "exec", "time", "env"}
#: Placeholders in the docs, replaced by a value of the type argparse expects.
PLACEHOLDERS = {"N": "7", "SECONDS": "30"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*$")
INLINE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
SECTION_KEY = re.compile(
    r"(?<![\w./])(fallback|cost_controls|agent|daemon|github)\.([a-z_]+)(?![\w./-])"
)
PROVIDER_KEY = re.compile(r"(?<![\w./])providers\.[\w-]+\.([a-z_]+)(?![\w./-])")


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def lines(self) -> list[tuple[int, str]]:
        """Numbered logical lines: a line ending in a backslash continues on the next."""
        numbered: list[tuple[int, str]] = []
        continued = False
        for offset, line in enumerate(self.text.split("\n"), self.line + 1):
            if continued:
                numbered[-1] = (numbered[-1][0], numbered[-1][1][:-1] + " " + line)
            else:
                numbered.append((offset, line))
            continued = line.endswith("\\")
        return numbered


def split_markdown(path: Path) -> tuple[list[Block], list[tuple[int, str]]]:
    """Fenced code blocks, and the other lines (numbered) where prose and tables live."""
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    fence: tuple[str, int, str, list[str]] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = (match.group(2), number, match.group(3).lower(), [])
        elif fence is not None and match and match.group(2).startswith(fence[0]):
            if not match.group(3):
                blocks.append(Block(path, fence[1], fence[2], "\n".join(fence[3])))
                fence = None
        elif fence is not None:
            fence[3].append(line)
        else:
            prose.append((number, line))
    assert fence is None, f"{path}: a code fence opened at line {fence[1]} is never closed"
    return blocks, prose


def inline_spans(path: Path) -> list[tuple[int, str]]:
    return [
        (n, m.group(2).strip())
        for n, line in split_markdown(path)[1]
        for m in INLINE.finditer(line)
    ]


# -- commands ------------------------------------------------------------------------------


def strip_comment(line: str) -> str:
    """The line without its shell comment (a ``#`` outside quotes, after a space)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def invocations(text: str) -> list[list[str]]:
    """Each ``code-developer`` / ``project-manager`` command in shell text, as argv."""
    found = []
    for line in text.splitlines():
        lexer = shlex.shlex(
            strip_comment(line.removeprefix("$ ")), posix=True, punctuation_chars=True
        )
        lexer.whitespace_split = True
        lexer.commenters = ""
        command: list[str] | None = None
        at_start = True
        for token in lexer:
            if set(token) <= set("();<>|&"):
                command, at_start = None, True
            elif command is not None:
                command.append(token)
            elif at_start and (token in PREFIXES or re.fullmatch(r"\w+=\S*", token)):
                continue
            elif at_start and Path(token).name in PROGRAMS:
                command = [Path(token).name]
                found.append(command)
            else:
                at_start = False
    return found


def subparsers(parser: typing.Any) -> dict[str, typing.Any]:
    return next(
        (a.choices for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"), {}
    )


def check_invocation(argv: list[str]) -> str | None:
    """Why ``argv`` would not work (unknown subcommand or flag, bad value), or None."""
    program, args = argv[0], argv[1:]
    if program == "code-developer":
        command = args[0] if args and args[0] in code_developer.PARSERS else None
        parser = code_developer.PARSERS[command]()
        args = args[1:] if command else args
        full_parser = parser
    else:
        parser = full_parser = project_manager.build_parser()
    synopsis = any(t in ("|", "...") or t.startswith("[") or t.endswith("]") for t in args)
    for token in args:
        name = token.strip("[]").split("=")[0]
        if name.startswith("-") and len(name) > 1:
            if name not in parser._option_string_actions:
                return f"{parser.prog}: no option {name}"
        elif token in subparsers(parser):
            parser = subparsers(parser)[token]
    if synopsis:
        return None
    values = [PLACEHOLDERS.get(t, t) for t in args]
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            full_parser.parse_args(values)
    except SystemExit as exc:
        if exc.code:
            return output.getvalue().strip() or f"exit {exc.code}"
    return None


def test_every_command_in_the_docs_parses():
    problems, count = [], 0
    for path in DOCS:
        blocks, _ = split_markdown(path)
        rel = path.relative_to(ROOT)
        sources = [
            (f"{rel}:{n}", line) for b in blocks if b.lang in SHELL_LANGS for n, line in b.lines()
        ]
        sources += [
            (f"{rel}:{n}", span)
            for n, span in inline_spans(path)
            if Path(span.split(" ")[0]).name in PROGRAMS and span not in PROGRAMS
        ]
        for where, text in sources:
            try:
                found = invocations(text)
            except ValueError as exc:  # unbalanced quotes
                problems.append(f"{where}: cannot read as shell: {exc}")
                continue
            for argv in found:
                count += 1
                problem = check_invocation(argv)
                if problem:
                    problems.append(f"{where}: `{' '.join(argv)}`: {problem}")
    assert not problems, "\n".join(problems)
    assert count >= 20, f"only {count} commands found: is the docs parser still working?"


def test_the_command_check_catches_mistakes():
    assert check_invocation(["code-developer", "--once", "--dry-runn"])
    assert check_invocation(["project-manager", "provider", "statuss"])
    assert check_invocation(["project-manager", "provider", "costs", "--days", "many"])
    assert check_invocation(["code-developer", "status", "--reconfigure"])
    assert invocations("ln -s venv/bin/code-developer ~/.local/bin/  # code-developer --x") == []
    assert invocations("cd repo && sudo code-developer --once # run it") == [
        ["code-developer", "--once"]
    ]


# -- configuration -------------------------------------------------------------------------


def model_of(annotation: typing.Any) -> type[BaseModel] | None:
    """The pydantic model a field holds, directly, in a dict's values, or beside None."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        if typing.get_origin(candidate) is dict:
            return model_of(typing.get_args(candidate)[1])
    return None


def resolve_key(path: str) -> bool:
    """Whether a dotted key (``daemon.test_command``, ``providers.NAME.host``) exists."""
    parts = path.split(".")
    if parts[0] == "providers":
        return len(parts) == 3 and parts[2] in ProviderSettings.model_fields
    model: type[BaseModel] | None = AppConfig
    for part in parts:
        if model is None or part not in model.model_fields:
            return False
        model = model_of(model.model_fields[part].annotation)
    return True


def test_every_yaml_block_is_a_valid_config_or_price_file(tmp_path):
    problems, configs = [], 0
    for path in DOCS:
        for block in split_markdown(path)[0]:
            if block.lang not in ("yaml", "yml"):
                continue
            data = yaml.safe_load(block.text)
            if isinstance(data, dict) and set(data) & set(AppConfig.model_fields):
                configs += 1
                try:
                    parse_config(data, block.where, environ={})
                except Exception as exc:
                    problems.append(str(exc))
            else:
                prices = tmp_path / "prices.yaml"
                prices.write_text(block.text, encoding="utf-8")
                try:
                    PriceTable.from_files([prices])
                except ValueError as exc:
                    problems.append(f"{block.where}: not a config, nor a price file: {exc}")
    assert not problems, "\n".join(problems)
    assert configs >= 5


def key_table_cells(path: Path) -> list[tuple[int, str]]:
    """First cells of the rows of tables whose first column is headed ``key``."""
    cells, header, previous = [], None, ""
    for number, line in split_markdown(path)[1]:
        if line.startswith("|"):
            first = line.split("|")[1].strip()
            if not previous.startswith("|"):
                header = first
            elif header == "key" and not set(first) <= set("-: "):
                cells.append((number, first))
        previous = line
    return cells


def test_every_config_key_named_in_the_docs_exists():
    problems, keys = [], 0
    for path in DOCS:
        rel = path.relative_to(ROOT)
        for number, span in inline_spans(path):
            if "unknown key" in span:  # an error message the docs quote on purpose
                continue
            for match in [*SECTION_KEY.finditer(span), *PROVIDER_KEY.finditer(span)]:
                key, keys = match.group(0), keys + 1
                if not resolve_key(key):
                    problems.append(f"{rel}:{number}: `{key}` is not a config key")
        for number, first_cell in key_table_cells(path):
            for name in re.findall(r"`([a-z_]+)`", first_cell):
                keys += 1
                if name not in ProviderSettings.model_fields:
                    problems.append(f"{rel}:{number}: `{name}` is not a provider key")
    assert not problems, "\n".join(problems)
    assert keys >= 20


def test_price_tables_in_the_docs_match_the_price_file():
    table = PriceTable.from_files([BUILTIN_PRICES])
    problems, rows = [], 0
    for path in DOCS:
        section = None
        for number, line in split_markdown(path)[1]:
            header = re.match(r"\| model \((\w+)\) \|", line)
            if header:
                section = header.group(1)
                continue
            row = re.match(r"\| `([^`]+)` \|((?: [\d.]+ \|)+)\s*$", line)
            if not line.startswith("|"):
                section = None
            if section is None or row is None:
                continue
            rows += 1
            shown = [float(v) for v in row.group(2).strip(" |").split(" | ")]
            price = table.sections.get(section, {}).get(row.group(1))
            fields = ("input", "output", "cache_read", "cache_write")
            actual = [getattr(price, f) for f in fields[: len(shown)]] if price else None
            if actual != shown:
                where = f"{path.relative_to(ROOT)}:{number}"
                problems.append(f"{where}: {section}/{row.group(1)} {shown} != {actual}")
    assert not problems, "\n".join(problems)
    assert rows >= 5


# -- links and the quick start -------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {
        slug(line.lstrip("#")) for _, line in split_markdown(path)[1] if re.match(r"#{1,6} ", line)
    }


def test_every_relative_link_resolves():
    problems, links = [], 0
    for path in DOCS:
        for number, line in split_markdown(path)[1]:
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue
                links += 1
                file_part, _, anchor = target.partition("#")
                resolved = (path.parent / file_part).resolve() if file_part else path
                where = f"{path.relative_to(ROOT)}:{number}: {target}"
                if not resolved.exists():
                    problems.append(f"{where}: no such file")
                elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                    problems.append(f"{where}: no heading #{anchor} in {resolved.name}")
    assert not problems, "\n".join(problems)
    assert links >= 5


def test_readme_quick_start_runs_the_command_ci_runs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start (development)", 1)[1]
    block = next(b for b in split_markdown(ROOT / "README.md")[0] if b.text.strip() in section)
    lines = [strip_comment(line).strip() for line in block.text.splitlines() if line.strip()]
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert len(lines) == 2
    assert lines[1] == ci_lines[-1].strip()


def test_the_readmes_python_example_runs_as_written(tmp_path):
    """The Python API example drives the agent offline against a scripted fake model."""
    blocks = [b for b in split_markdown(ROOT / "README.md")[0] if b.lang == "python"]
    assert blocks, "README.md has no python example"
    env = {**os.environ, "OPENAI_API_KEY": "sk-readme-example-0000000000000000",
           "COFFEE_MAKER_HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path)}  # fmt: skip
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block.text], capture_output=True,
                              text=True, env=env, timeout=60)  # fmt: skip
        assert done.returncode == 0, f"{block.where}: {done.stderr}"
        assert done.stdout.startswith("success add() adds now ['calc.py'] True")


def test_the_readme_says_which_node_the_test_tools_need():
    """The pinned Claude Code declares the Node.js it needs; the README must say the same."""
    import json

    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    engines = lock["packages"]["node_modules/@anthropic-ai/claude-code"]["engines"]["node"]
    major = re.fullmatch(r">=\s*(\d+)(?:\.\d+)*", engines.strip())
    assert major, f"package-lock.json: claude-code engines.node {engines!r}: not '>=N'"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = text.split("## Quick start (development)", 1)[1].split("\n## ", 1)[0]
    assert f"Node.js {major.group(1)} or newer" in " ".join(quick_start.split())


def test_no_file_cites_notes_outside_the_repository():
    """The project stands on its own: it cites its own docs, never the notes it grew from."""
    names = "|".join(["CON" + "TRACT", "DE" + "SIGN", "FA" + "CTS"])  # not a citation itself
    citation = re.compile(rf"\b(?:{names})(?:\.md\b|'s\b)")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    found = []
    for name in filter(None, listed):
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        found += [
            f"{name}:{n}: {line.strip()[:120]}"
            for n, line in enumerate(text.splitlines(), 1)
            if citation.search(line)
        ]
    assert not found, "cites a file that is not in the repository:\n" + "\n".join(found)
