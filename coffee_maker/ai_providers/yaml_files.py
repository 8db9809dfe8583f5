"""Reading a YAML file the user supplies as bounded data: size, encoding, depth, no aliases.

YAML can describe far more than it spells out. Aliases (``*name``) repeat an anchored
node; nine aliases of nine aliases is a 350-byte "billion laughs" file that every
recursive walk (``${VAR}`` expansion, validation, a dump) turns into a billion copies: it
ate 6.5 GB before this loader existed. Anchors and aliases are therefore refused outright,
not counted: a config is short and hand-written, writing a repeated value out costs a few
lines, and with no aliases every step after parsing is linear in the file's size. Merge
keys (``<<: *base``) need an alias, so they are refused too. A key written twice in one
mapping is refused with both lines: YAML silently keeps the last, so a second
``providers:`` section would quietly erase the first. The other bounds keep a
mistake from becoming a hang: a size cap read without trusting ``stat`` (``/dev/zero`` is
a "file"), strict UTF-8 with the offending byte's offset, and a nesting limit checked while
parsing (a 1 MiB ``[[[[...`` would otherwise recurse until it crashes).

Every problem is one line naming the file (and the line, where there is one):
:class:`YamlFileError`, which callers turn into their own error type. ruamel.yaml, used
to edit the config in place, keeps aliases as shared nodes but composes recursively; it
is only handed text this loader has accepted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from coffee_maker.errors import UserError

#: Larger than any config or price table a person writes; far smaller than a bomb needs.
MAX_YAML_BYTES = 1024 * 1024
#: Nesting levels (mappings and lists); the documented config needs four.
MAX_YAML_DEPTH = 40
#: Values (scalars, lists, mappings) in one file. The price table has about 1,000; the
#: pure-Python parser (needed to see aliases before they are built) takes ~40 µs a value,
#: so this also bounds the time a file can take to ~1 s whatever its shape.
MAX_YAML_NODES = 20_000


class YamlFileError(ValueError, UserError):
    """A YAML file that is refused; ``str()`` is the one line to show the user."""


class _Refused(Exception):
    def __init__(self, mark: Any, message: str) -> None:
        self.line = mark.line + 1 if mark is not None else None
        self.message = message


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases and deep nesting as the nodes are composed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0
        self.path: list[str] = []  # keys (and [indexes]) leading to the node being composed

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                event.start_mark,
                f"YAML alias *{event.anchor} is not allowed (aliases can expand a small file "
                "into gigabytes); write the value out instead",
            )
        self.depth += 1
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise _Refused(event.start_mark, f"more than {MAX_YAML_NODES:,} values in one file")
        if self.depth > MAX_YAML_DEPTH:
            raise _Refused(event.start_mark, f"nested deeper than {MAX_YAML_DEPTH} levels")
        if isinstance(index, yaml.ScalarNode):
            self.path.append(str(index.value))
        elif isinstance(index, int):
            self.path.append(f"[{index}]")
        else:
            self.path.append("")  # a mapping's key, or the document itself
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1
            self.path.pop()

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        first_line: dict[tuple[str, str], int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            ident = (key.tag, key.value)
            if ident in first_line:
                raise _Refused(
                    key.start_mark,
                    f"duplicate key {self._dotted(key.value)} (first at line "
                    f"{first_line[ident]}); YAML would keep only the last, so write it once",
                )
            first_line[ident] = key.start_mark.line + 1
        return node

    def _dotted(self, key: str) -> str:
        """``providers.claude.model`` or ``rules[0].type``: where ``key`` sits in the file."""
        text = ""
        for part in (p for p in [*self.path, key] if p):
            text += part if part.startswith("[") or not text else f".{part}"
        return text


def parse_yaml_text(text: str | bytes, source: str) -> Any:
    """The data in ``text`` (None for an empty document), within the bounds above."""
    if isinstance(text, bytes):
        if len(text) > MAX_YAML_BYTES:
            raise YamlFileError(f"{source}: {_too_big(len(text))}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlFileError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    elif len(text) > MAX_YAML_BYTES:
        raise YamlFileError(f"{source}: {_too_big(len(text.encode('utf-8', 'replace')))}")
    loader = None
    try:
        loader = _BoundedLoader(text)
        return loader.get_single_data()
    except _Refused as exc:
        where = f"{source}:{exc.line}" if exc.line else source
        raise YamlFileError(f"{where}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0] or "could not parse"
        raise YamlFileError(f"{source}: invalid YAML{line}: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_file(path: str | os.PathLike[str]) -> Any:
    """Read and parse ``path``; never more than the size cap is read into memory."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
            if len(data) > MAX_YAML_BYTES:
                size = os.fstat(handle.fileno()).st_size
                raise YamlFileError(f"{path}: {_too_big(size)}")
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_yaml_text(data, str(Path(path)))


def _too_big(size: int) -> str:
    """``size`` is 0 when unknown (a pipe or a device has no size to report)."""
    limit = f"over the {MAX_YAML_BYTES // 1024 // 1024} MiB limit for a YAML file"
    return f"{size:,} bytes, {limit}" if size > MAX_YAML_BYTES else limit
