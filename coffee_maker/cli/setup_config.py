"""The YAML the setup wizard writes: the documented example (or the user's own file),
with the answers written into it by ruamel so every comment explaining a key stays.

The result is validated with the same ``parse_config`` the daemon uses before anything
is written, so the wizard cannot leave a config the daemon would refuse.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.cli.common import UsageError

if TYPE_CHECKING:
    from coffee_maker.cli.setup_wizard import Answers
    from coffee_maker.config import AppConfig

HEADER = "# coffee-maker configuration, written by `project-manager setup` (README.md)."


def example_path() -> Path:
    from coffee_maker.ai_providers.provider_config import BUILTIN_CONFIG, PACKAGED_CONFIG

    return BUILTIN_CONFIG if BUILTIN_CONFIG.is_file() else PACKAGED_CONFIG


@functools.cache
def example_text() -> str:
    return example_path().read_text(encoding="utf-8")


def example_data() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(example_text()) or {}


def base_document(existing: Path | None) -> tuple[str, bool]:
    """The text to write answers into, and whether it is the user's own file.

    With ``--reconfigure`` the user's file is the base (their comments and daemon
    settings survive); if it cannot be parsed the example is used and the user told.
    """
    if existing is None or not existing.is_file():
        return _with_header(example_text()), False
    from coffee_maker.ai_providers.yaml_files import YamlFileError, read_yaml_file

    try:  # bounded: an alias bomb or a huge file must not reach the round-trip loader
        if isinstance(read_yaml_file(existing), dict):
            return existing.read_text(encoding="utf-8"), True
        why = f"{existing}: expected a mapping at the top level"
    except YamlFileError as exc:
        why = str(exc)
    print(f"note: {why}; starting from the documented example")
    return _with_header(example_text()), False


def _with_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("#"):
        lines = lines[1:]
    return HEADER + "\n" + "".join(lines)


def _round_trip() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def render_config(base_text: str, user_file: bool, answers: Answers) -> str:
    """``base_text`` with the answers in it. Providers not chosen are removed from the
    example, but only disabled in the user's own file (their settings are theirs)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = _round_trip()
    data = yaml.load(base_text)
    providers = data.get("providers")
    if not isinstance(providers, dict):
        providers = data["providers"] = CommentedMap()
    gap = _take_trailing_gap(providers)
    chosen = {c.name for c in answers.choices}
    for name in list(providers):
        if name in chosen:
            continue
        if not user_file:
            del providers[name]
        elif isinstance(providers[name], dict):
            providers[name]["enabled"] = False
        else:
            providers[name] = CommentedMap(enabled=False)
    for choice in answers.choices:
        if not isinstance(providers.get(choice.name), dict):
            providers[choice.name] = CommentedMap()
        entry = providers[choice.name]
        for key, value in choice.settings.items():
            if key in entry or (key, value) != ("enabled", True):  # enabled defaults to true
                entry[key] = value
    _give_trailing_gap(providers, gap)
    data["default_provider"] = answers.order[0]
    order = CommentedSeq(answers.order)
    order.fa.set_flow_style()
    _section(data, "fallback")["fallback_order"] = order
    costs = _section(data, "cost_controls")
    costs["daily_limit"] = answers.daily_limit
    costs["per_task_limit"] = answers.per_task_limit
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _last_key(node: Any) -> tuple[Any, Any] | None:
    """The innermost last ``(mapping, key)`` of a block: where ruamel keeps the blank lines
    and comments that follow the block."""
    from ruamel.yaml.comments import CommentedMap

    while isinstance(node, CommentedMap) and node:
        key = list(node)[-1]
        if not (isinstance(node[key], CommentedMap) and node[key]):
            return node, key
        node = node[key]
    return None


def _take_trailing_gap(node: Any) -> str:
    """Detach what follows the block's last line (blank lines before the next section), so
    it stays at the end when entries are removed or added after it."""
    found = _last_key(node)
    token = found[0].ca.items.get(found[1], [None] * 4)[2] if found else None
    if token is None:
        return ""
    line, newline, rest = token.value.partition("\n")
    token.value = line + newline
    return rest


def _give_trailing_gap(node: Any, gap: str) -> None:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    found = _last_key(node)
    if not gap or not found:
        return
    mapping, key = found
    slots = mapping.ca.items.setdefault(key, [None] * 4)
    if slots[2] is None:
        slots[2] = CommentToken("\n" + gap, CommentMark(0))
    else:
        slots[2].value += gap


def _section(data: Any, name: str) -> Any:
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(data.get(name), dict):
        data[name] = CommentedMap()
    return data[name]


def validate(text: str, path: Path) -> AppConfig:
    """The config the daemon would load from ``text``; a failure here is our bug, not the
    user's, but it is still reported as the daemon would report it, and nothing is written."""
    from coffee_maker.ai_providers.provider_config import ConfigError, parse_config
    from coffee_maker.ai_providers.yaml_files import YamlFileError, parse_yaml_text

    try:
        return parse_config(parse_yaml_text(text, str(path)), str(path))
    except (ConfigError, YamlFileError) as exc:
        raise UsageError(f"the resulting config would not be valid: {exc}") from None
