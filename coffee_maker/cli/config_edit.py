"""Changing one value of the user's config file without touching anything else.

The file belongs to its author: comments, order, quoting, blank lines and ``null`` spelled
as they wrote it. A ruamel.yaml round-trip dump keeps comments but still rewrites some of
that (``null`` becomes empty, long flow lists are re-wrapped), so we use ruamel only to
*locate* the scalar, by its node marks, and splice the new text into the original.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from coffee_maker.ai_providers.atomic_files import atomic_write
from coffee_maker.cli.common import UsageError

_PLAIN_SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_YAML_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~"}


def render_scalar(value: str, style: str | None) -> str:
    """``value`` in the quoting style the old value used (plain only where it stays a string)."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _PLAIN_SAFE.fullmatch(value) or value.lower() in _YAML_WORDS:
        return json.dumps(value, ensure_ascii=False)
    return value


def set_top_level_scalar(text: str, key: str, value: str, source: str) -> str:
    """``text`` with top-level ``key`` set to ``value``; added above the first key if absent."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    from coffee_maker.ai_providers.yaml_files import parse_yaml_text

    # ruamel's composer recurses and keeps aliases: it only sees text within bounds
    parse_yaml_text(text, source)
    try:
        root = YAML().compose(text)
    except YAMLError as exc:
        raise UsageError(f"{source}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(root, MappingNode) or not root.value:
        raise UsageError(f"{source}: expected a mapping at the top level")
    for key_node, value_node in root.value:
        if key_node.value != key:
            continue
        if not isinstance(value_node, ScalarNode):
            raise UsageError(f"{source}: {key}: expected a single name")
        start, end = value_node.start_mark.index, value_node.end_mark.index
        if start == end:  # `key:` with nothing after it: the marks point past the colon
            colon = text.index(":", key_node.end_mark.index)
            return text[: colon + 1] + " " + render_scalar(value, None) + text[colon + 1 :]
        new = render_scalar(value, value_node.style if value_node.style in ("'", '"') else None)
        if value_node.style in ("|", ">"):
            new += "\n"  # a block scalar's span includes its line break
        return text[:start] + new + text[end:]
    first = root.value[0][0]
    if root.flow_style:
        brace = text.index("{", root.start_mark.index)
        return f"{text[: brace + 1]}{key}: {render_scalar(value, None)}, {text[brace + 1 :]}"
    line_start = text.rfind("\n", 0, first.start_mark.index) + 1
    newline = "\r\n" if "\r\n" in text else "\n"
    return f"{text[:line_start]}{key}: {render_scalar(value, None)}{newline}{text[line_start:]}"


def replace_file_text(path: Path, text: str) -> None:
    """Atomically replace ``path``'s content, keeping its permission bits."""
    target = path.resolve()
    mode = target.stat().st_mode & 0o7777
    atomic_write(target, text.encode("utf-8"), mode=mode)
