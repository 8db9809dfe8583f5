"""Imports point down only: cli -> fleet -> autonomous -> agent -> ai_providers.

Read from the source with ``ast``, so an import inside a function counts as much as one
at the top: a lower layer must never learn who calls it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "coffee_maker"
LAYERS = ["ai_providers", "agent", "autonomous", "fleet", "cli"]  # lowest first
#: Beside the layers: importable from any of them, importing none.
SHARED = {"secrets", "logging", "paths", "wording", "errors", "lazy_exports"}
#: The whole config file, assembled from each layer's own settings module: it may import
#: only those (and the providers' schema it extends); every layer may import it.
ASSEMBLY = "config"
SETTINGS = {
    "coffee_maker.agent.settings",
    "coffee_maker.autonomous.settings",
    "coffee_maker.fleet.settings",
}
#: Local stand-ins for remote services: for the tests, and for the CLI's offline demo.
#: No layer below the CLI may use one (the daemon must never talk to a fake by itself).
FAKES = "fakes"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "coffee_maker" and len(parts) > 1 else None


def violations() -> list[str]:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        own = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        if own == ASSEMBLY:
            allowed = SETTINGS | {"coffee_maker.ai_providers.provider_config"}
            wrong += [
                f"coffee_maker/{relative}:{line}: the assembly imports {module}"
                for line, module in imported_modules(path)
                if layer_of(module) is not None and module not in allowed
            ]
            continue
        if own not in LAYERS and own not in SHARED:
            continue
        for line, module in imported_modules(path):
            target = layer_of(module)
            if target == FAKES and own != "cli":
                wrong.append(f"coffee_maker/{relative}:{line}: {own} imports {module}")
            if target not in LAYERS:
                continue
            if own in SHARED or LAYERS.index(target) > LAYERS.index(own):
                wrong.append(f"coffee_maker/{relative}:{line}: {own} imports {module}")
    return wrong


def test_imports_point_down_only():
    assert violations() == []


def test_each_layers_settings_import_no_other_part_of_the_package():
    for module in SETTINGS:
        path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
        imported = [m for _, m in imported_modules(path) if layer_of(m) is not None]
        assert imported == [], f"{module} imports {imported}"


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "coffee_maker"
    (fake / "agent").mkdir(parents=True)
    (fake / "agent" / "bad.py").write_text(
        "def f():\n    from coffee_maker.autonomous.state import RepoState\n"
    )
    (fake / "secrets.py").write_text("import coffee_maker.cli.common\n")
    (fake / "autonomous").mkdir()
    (fake / "autonomous" / "demo.py").write_text("from coffee_maker.fakes.github import X\n")
    (fake / "cli").mkdir()
    (fake / "cli" / "demo.py").write_text("from coffee_maker.fakes.github import X\n")
    (fake / "config.py").write_text("from coffee_maker.autonomous.state import RepoState\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert violations() == [
        "coffee_maker/agent/bad.py:2: agent imports coffee_maker.autonomous.state",
        "coffee_maker/autonomous/demo.py:1: autonomous imports coffee_maker.fakes.github",
        "coffee_maker/config.py:1: the assembly imports coffee_maker.autonomous.state",
        "coffee_maker/secrets.py:1: secrets imports coffee_maker.cli.common",
    ]
