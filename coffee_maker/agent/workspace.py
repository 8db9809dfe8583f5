"""The jail every tool acts through: paths, file operations and the command runner.

The model is untrusted (README, "Safety model"). A path it names is relative to the workspace
root; ``..``, absolute paths, symbolic links resolving outside, anything under ``.git``
and files the config marks sensitive are refused with a :class:`ToolError`, whose message
goes back to the model as a tool result: a refusal never ends the run.

Files are opened component by component from the root with ``O_NOFOLLOW``, so a symbolic
link swapped in between the check and the open is refused too
(:mod:`~coffee_maker.agent.file_access`); the tree is walked as git sees it
(:mod:`~coffee_maker.agent.tree_walk`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from coffee_maker.agent.commands import CommandResult, run_command, scrubbed_env, truncate_middle
from coffee_maker.agent.file_access import ToolError, open_under, parent_under, tool_error
from coffee_maker.agent.replace_file import WriteFailed, replace_at
from coffee_maker.agent.sandbox import Sandbox
from coffee_maker.agent.settings import DEFAULT_SENSITIVE, AgentSettings
from coffee_maker.agent.tree_walk import walk
from coffee_maker.agent.write_policy import WritePolicy
from coffee_maker.wording import count_of

MAX_FILE_BYTES = 2_000_000
MAX_LIST_ENTRIES = 1000
MAX_LINE_CHARS = 300
#: One search's whole matching budget (CPU seconds), and the longest pattern it takes.
SEARCH_SECONDS = 5.0
MAX_PATTERN_CHARS = 1000
_ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:)")

Snapshot = dict[str, str]


class Workspace:
    """A directory the model may read and change, and run commands in."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        sensitive_patterns: Sequence[str] = DEFAULT_SENSITIVE,
        secret_env_names: Iterable[str] = (),
        output_limit: int = 12000,
        protected_patterns: Sequence[str] = (),
        *,
        sandbox: Sandbox | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.root = Path(root).resolve(strict=True)
        if not self.root.is_dir():
            raise NotADirectoryError(f"workspace {self.root} is not a directory")
        self.sensitive_patterns = [p.lower() for p in sensitive_patterns]
        self.secret_env_names = set(secret_env_names)
        self.output_limit = output_limit
        self.write_policy = WritePolicy(protected_patterns)
        self.sandbox = sandbox
        self.should_stop = should_stop

    @classmethod
    def from_settings(cls, root: str | os.PathLike[str], settings: AgentSettings) -> Workspace:
        """A workspace with the config's sensitive files, secret names, output budget and
        protected paths."""
        return cls(
            root,
            settings.sensitive_files,
            settings.secret_env,
            settings.output_limit,
            settings.protected_paths,
        )

    # -- paths ------------------------------------------------------------------------------
    def resolve(self, path: str) -> Path:
        """The real path inside the root that ``path`` names, or a ToolError saying why not."""
        parts = self._relative_parts(path)
        self._check_policy(parts, path)
        real = Path(os.path.realpath(self.root.joinpath(*parts)))
        if real != self.root and self.root not in real.parents:
            raise ToolError(f"{path}: resolves outside the workspace (symbolic link); refused")
        self._check_policy(real.relative_to(self.root).parts, path)
        return real

    def relative(self, real: Path) -> str:
        return real.relative_to(self.root).as_posix() or "."

    def is_sensitive(self, rel_parts: Sequence[str]) -> bool:
        names = [p.lower() for p in rel_parts]
        candidates = [*names, "/".join(names)]
        return any(
            fnmatch.fnmatchcase(c, pat) for c in candidates for pat in self.sensitive_patterns
        )

    def _relative_parts(self, path: str) -> list[str]:
        if not isinstance(path, str):
            raise ToolError(f"path must be a string, not {type(path).__name__}")
        text = path.strip().replace("\\", "/")
        if "\x00" in text:
            raise ToolError(f"{path!r}: a path may not contain NUL bytes")
        if _ABSOLUTE.match(text):
            raise ToolError(
                f"{path}: absolute paths (and ~) are not allowed; give a path relative to "
                "the workspace root"
            )
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ToolError(f"{path}: '..' is not allowed; paths stay inside the workspace")
        return parts

    def _check_policy(self, parts: Sequence[str], shown: str) -> None:
        if any(p.lower() == ".git" for p in parts):
            raise ToolError(f"{shown}: .git is off limits; the harness handles version control")
        if self.is_sensitive(parts):
            raise ToolError(
                f"{shown}: a sensitive file (keys, credentials); neither read nor written"
            )

    def check_writable(self, path: str) -> None:
        """Refuse to change a protected path (agent.protected_paths): called before every
        write, delete or rename. Checked on the path as named and as resolved, so a
        symbolic link inside the workspace cannot lead around it."""
        real = self.resolve(path)
        for rel in ("/".join(self._relative_parts(path)), self.relative(real)):
            message = self.write_policy.refusal(rel, path)
            if message:
                raise ToolError(message)

    # -- files ------------------------------------------------------------------------------
    def read_raw(self, path: str) -> str:
        """The whole text of a file (UTF-8), refusing binary and oversized files."""
        real = self.resolve(path)
        shown = self.relative(real)
        with os.fdopen(open_under(self.root, real, os.O_RDONLY), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ToolError(f"{shown}: not a regular file")
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ToolError(f"{shown}: larger than {MAX_FILE_BYTES} bytes; use search instead")
        if b"\x00" in data[:8192]:
            raise ToolError(f"{shown}: a binary file")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{shown}: not a UTF-8 text file") from None

    def read_text(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> str:
        """Numbered lines within the output budget; where it cuts, it says how to go on."""
        lines = self.read_raw(path).splitlines()
        first = 1 if start_line is None else start_line
        last = len(lines) if end_line is None else min(end_line, len(lines))
        if first < 1:
            raise ToolError("start_line: lines are numbered from 1")
        if lines and first > len(lines):
            raise ToolError(f"start_line: {path} has only {count_of(len(lines), 'line')}")
        if last < first and lines:
            raise ToolError("end_line: must not be smaller than start_line")
        shown: list[str] = []
        size = 0
        for number in range(first, last + 1):
            line = f"{number:>6}\t{lines[number - 1]}"
            if size + len(line) > self.output_limit and shown:
                shown.append(
                    f"[... lines {number}-{last} not shown; call read_file with "
                    f"start_line={number} to continue ...]"
                )
                break
            shown.append(line)
            size += len(line) + 1
        return "\n".join(shown) if shown else f"({path} is empty)"

    def write_text(self, path: str, content: str) -> int:
        """Create or replace a file (parents created); returns the bytes written.

        The new content goes to a temporary file beside the target, which then replaces
        it: a write that fails half-way (disk full, a size limit) leaves the old content,
        never a truncated file the harness would commit.
        """
        self.check_writable(path)
        real = self.resolve(path)
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ToolError(f"{path}: content is not valid Unicode text ({exc.reason})") from None
        with parent_under(self.root, real, make_parents=True) as (dir_fd, name, shown):
            try:
                replace_at(dir_fd, name, data)
            except WriteFailed as exc:
                message = f"{shown}: writing failed ({exc.strerror}); the file is unchanged"
                raise ToolError(message) from None
            except OSError as exc:
                raise tool_error(exc, shown) from None
        return len(data)

    def exists(self, path: str) -> bool:
        return self.resolve(path).exists()

    # -- the tree ---------------------------------------------------------------------------
    def list_files(self, path: str = ".") -> list[str]:
        """Files and folders (``dir/``) under ``path``, .gitignore respected, capped."""
        real = self.resolve(path)
        if not real.is_dir():
            raise ToolError(f"{path}: not a directory")
        entries = []
        for rel, is_dir in self._walk(real):
            if len(entries) == MAX_LIST_ENTRIES:
                entries.append(f"[... more than {MAX_LIST_ENTRIES} entries; list a subfolder]")
                break
            entries.append(rel + "/" if is_dir else rel)
        return entries

    def search(self, pattern: str, path: str = ".", max_matches: int = 200) -> list[str]:
        """``file:line: text`` for lines matching the regex; text files only, capped.

        The pattern is the model's: one like ``(x+x+)+y`` backtracks for ever on a long
        line, and the stdlib's C-level match does not even let SIGTERM in. The ``regex``
        engine checks for signals while it matches and stops at a timeout, which it
        counts in CPU seconds: one budget of :data:`SEARCH_SECONDS` serves the whole
        search. A pattern longer than :data:`MAX_PATTERN_CHARS` is refused.
        """
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
            raise ToolError(
                f"pattern: give a regular expression of at most {MAX_PATTERN_CHARS} characters"
            )
        import regex  # the time-bounded engine, loaded for the first search (~1 MB)

        try:
            compiled = regex.compile(pattern)
        except (regex.error, OverflowError, RecursionError) as exc:
            raise ToolError(
                f"pattern {pattern!r} is not a valid regular expression: {exc}"
            ) from None
        real = self.resolve(path)
        files = (
            [self.relative(real)]
            if real.is_file()
            else [rel for rel, is_dir in self._walk(real) if not is_dir]
        )
        spent_by = time.process_time() + SEARCH_SECONDS  # regex counts CPU time too
        matches: list[str] = []
        for rel in files:
            for number, line in self._searchable_lines(rel):
                try:
                    left = spent_by - time.process_time()
                    if left <= 0:
                        raise TimeoutError
                    found = compiled.search(line, timeout=left)
                except TimeoutError:
                    raise ToolError(
                        f"search timed out after {SEARCH_SECONDS:g} s (in {rel}, line {number});"
                        " simplify the pattern or narrow the path"
                    ) from None
                if found:
                    if len(matches) == max_matches:
                        return [
                            *matches,
                            f"[... more than {max_matches} matches; narrow the search]",
                        ]
                    matches.append(f"{rel}:{number}: {line[:MAX_LINE_CHARS]}")
        return matches

    def _searchable_lines(self, rel: str) -> Iterator[tuple[int, str]]:
        try:
            text = self.read_raw(rel)
        except ToolError:
            return
        yield from enumerate(text.splitlines(), start=1)

    def _walk(self, directory: Path) -> Iterator[tuple[str, bool]]:
        """The tree under ``directory``, less .git, sensitive and ignored files."""
        return walk(self.root, directory, self._hidden)

    def _hidden(self, rel_parts: Sequence[str]) -> bool:
        return rel_parts[-1].lower() == ".git" or self.is_sensitive(rel_parts)

    def snapshot(self) -> Snapshot:
        """A content hash of every file that is not ignored, to tell later what changed."""
        hashes: Snapshot = {}
        for rel, is_dir in self._walk(self.root):
            if is_dir:
                continue
            full = self.root / rel
            digest = hashlib.sha256()
            if full.is_symlink():
                digest.update(b"link:" + os.readlink(full).encode())
            elif not full.is_file():
                continue  # FIFOs, sockets, devices: nothing to hash, nothing to wait for
            else:
                try:
                    digest.update(full.read_bytes())
                except OSError:
                    continue
            hashes[rel] = digest.hexdigest()
        return hashes

    def changed_files(self, before: Snapshot) -> list[str]:
        """Files added, deleted or modified since ``before`` (no git involved)."""
        after = self.snapshot()
        return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))

    # -- commands ---------------------------------------------------------------------------
    def run(
        self, command: str, timeout: float, variables: Mapping[str, str] | None = None
    ) -> CommandResult:
        """Run a shell command in the root with a scrubbed environment, in the sandbox
        when there is one, killed when a stop is requested (see commands.py);
        ``variables`` (the test environment's ``PATH``, ...) are set on top."""
        return run_command(
            command,
            cwd=self.root,
            timeout=timeout,
            output_limit=self.output_limit,
            env=scrubbed_env(self.secret_env_names) | dict(variables or {}),
            sandbox=self.sandbox,
            should_stop=self.should_stop,
        )

    def truncate(self, text: str) -> str:
        return truncate_middle(text, self.output_limit)
