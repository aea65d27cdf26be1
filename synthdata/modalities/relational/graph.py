"""The key graph as plain data: which table points at which.  Pure functions, no schema or data.

``edges`` maps each table to the tables its foreign keys point at (its parents and any other referenced
table); ``parents`` maps each table to its one parent table (None for the subject table).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle of references as the tables along it (first table repeated at the end), or None.

    Tables are visited in the mapping's order, so the same schema always names the same cycle."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(table: str) -> list[str] | None:
        state[table] = 1
        path.append(table)
        for target in edges.get(table, ()):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if state.get(target) is None and (found := visit(target)) is not None:
                return found
        path.pop()
        state[table] = 2
        return None

    for table in edges:
        if state.get(table) is None and (found := visit(table)) is not None:
            return found
    return None


def topological_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Every table after each table it points at (parents first); ties keep the mapping's order.

    Raises ValueError on a cycle (``find_cycle`` names it)."""
    order: list[str] = []
    done: set[str] = set()
    remaining = list(edges)
    while remaining:
        ready = [t for t in remaining if all(p in done or p not in edges for p in edges[t])]
        if not ready:
            raise ValueError("the references form a cycle")
        for table in ready:
            order.append(table)
            done.add(table)
        remaining = [t for t in remaining if t not in done]
    return order


def parent_chain(parents: Mapping[str, str | None], table: str) -> list[str]:
    """``table``'s ancestors along its parents, nearest first (the subject table last).

    Stops at a table without a parent, at a parent that is not in ``parents``, or at a repeat (a cycle)."""
    chain: list[str] = []
    current = parents.get(table)
    while current is not None and current not in chain and current != table:
        chain.append(current)
        current = parents.get(current)
    return chain


def children_of(parents: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Each table's child tables (those whose parent it is), in the mapping's order."""
    children: dict[str, list[str]] = {table: [] for table in parents}
    for table, parent in parents.items():
        if parent is not None and parent in children:
            children[parent].append(table)
    return children
