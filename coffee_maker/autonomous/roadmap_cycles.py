"""Dependency cycles among roadmap priorities: a cycle never becomes ready on its own.

Pure graph code over ``id -> dependency ids``; :mod:`coffee_maker.autonomous.roadmap_scan`
turns each cycle into a warning with its line.
"""

from __future__ import annotations


def dependency_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each group of mutually dependent ids as one closed path (``[a, b, a]``), in file order.

    Tarjan's strongly connected components, iterative (a generated roadmap can chain
    thousands of priorities); within a component, the shortest path from its first id
    back to itself is the cycle shown.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            deps = [d for d in graph.get(node, []) if d in graph]
            if child < len(deps):
                work.append((node, child + 1))
                dep = deps[child]
                if dep not in index:
                    work.append((dep, 0))
                elif dep in on_stack:
                    low[node] = min(low[node], index[dep])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    order = {pid: n for n, pid in enumerate(graph)}
    return sorted(
        (_closed_path(graph, set(c), min(c, key=order.__getitem__)) for c in components),
        key=lambda cycle: order[cycle[0]],
    )


def _closed_path(graph: dict[str, list[str]], members: set[str], start: str) -> list[str]:
    """The shortest path ``start -> ... -> start`` inside one strongly connected component."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for dep in graph[node]:
                if dep == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if dep in members and dep not in came_from:
                    came_from[dep] = node
                    following.append(dep)
        frontier = following
    return [start, start]  # unreachable for a component of two or more
