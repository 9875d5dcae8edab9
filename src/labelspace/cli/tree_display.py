"""Showing a large hierarchy on a terminal without flooding it: ImageNet-21k has 28,136 nodes
and 4,589 notes (one per class with a leaf of its own), some listing thousands of classes.

:func:`limit_tree` cuts a printed tree after a number of lines; :func:`shown_notes` keeps the
first few notes, each shortened. Both say how much they left out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.tree import Tree

MAX_NODES = 3000  # lines of tree shown by default: all of ImageNet-1k's (2,032)
NOTES_SHOWN = 10
NOTE_WIDTH = 300


def limit_tree(tree: Tree, max_nodes: int) -> Tree:
    """``tree`` with only its first ``max_nodes`` lines in display order (0: all of them),
    and a last line saying how many were left out. Changes ``tree`` in place."""
    order: list[Tree] = []  # depth-first, in display order
    stack = [tree]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(reversed(node.children))
    if max_nodes <= 0 or len(order) <= max_nodes:
        return tree
    kept = order[:max_nodes]
    keep = {id(node) for node in kept}
    for node in kept:
        node.children = [child for child in node.children if id(child) in keep]
    tree.add(
        f"[dim]... {len(order) - max_nodes:,} more lines not shown (--max-nodes 0 shows them "
        "all; --max-children shows fewer children per node)[/dim]"
    )
    return tree


def shown_notes(notes: Sequence[str], shown: int = NOTES_SHOWN) -> list[str]:
    """The first ``shown`` notes, each cut to :data:`NOTE_WIDTH` characters, and a line
    saying how many more there are."""
    lines = [textwrap.shorten(note, NOTE_WIDTH, placeholder=" ...") for note in notes[:shown]]
    if len(notes) > shown:
        lines.append(f"... and {len(notes) - shown:,} more like these")
    return lines
