"""Names beside the points of a scatter plot, inside the axes and apart from each other.

matplotlib writes a text where it is told, so names of points that lie close together
overlap, and the name of a point near an edge runs off the axes. :func:`place_labels` tries
positions around each point, nearest first, in pixels of the drawn figure, and keeps the
first free one: inside the axes, clear of the names placed before it and of the points. A
name that has to move away from its point gets a thin line to it. Only matplotlib is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# (x0, y0, x1, y1) in display pixels
Box = tuple[float, float, float, float]

GAP_PT = 4.0  # between a point and its name, and between two names
MARKER_PT = 5.0  # half the size of the box kept free around each point
DIRECTIONS = 16  # positions tried on each ring around a point
RINGS = 12  # rings tried, each GAP_PT further out
LEADER_PT = 14.0  # a name further than this from its point gets a line to it


def _overlap(a: Box, b: Box) -> float:
    """The area two boxes share (0 when apart)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def _outside(box: Box, frame: Box) -> float:
    """How far ``box`` reaches out of ``frame``, summed over its four sides."""
    return (
        max(frame[0] - box[0], 0.0)
        + max(frame[1] - box[1], 0.0)
        + max(box[2] - frame[2], 0.0)
        + max(box[3] - frame[3], 0.0)
    )


def _side(direction: float, length: float) -> float:
    """Where a box of ``length`` starts so that it lies on the ``direction`` side of 0."""
    if direction > 1e-9:
        return 0.0
    return -length if direction < -1e-9 else -length / 2


def _candidates(anchor: np.ndarray, size: tuple[float, float], clear: float, step: float):
    """Lower-left corners of a ``size`` box around ``anchor``, nearest first: right of the
    point and a little up, then all around it on rings ``step`` apart, the nearest ``clear``
    from it."""
    width, height = size
    yield anchor[0] + clear, anchor[1] + step / 2
    for ring in range(RINGS):
        radius = clear + step * ring
        for k in range(DIRECTIONS):
            angle = 2 * math.pi * k / DIRECTIONS
            dx, dy = math.cos(angle), math.sin(angle)
            yield (
                anchor[0] + dx * radius + _side(dx, width),
                anchor[1] + dy * radius + _side(dy, height),
            )


def place_labels(
    ax,
    points: Sequence[tuple[float, float]],
    names: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
    fontsize: float = 9,
) -> list:
    """Write ``names[i]`` beside ``points[i]`` (data coordinates) on ``ax``, each inside the
    axes and clear of the others and of the points where any free position is found (the
    least crowded one otherwise); returns the text artists. Call it once the axes' limits and
    the figure's layout are final: positions are chosen in pixels."""
    fig = ax.figure
    ax.set_xlim(ax.get_xlim())  # the limits as autoscaling leaves them, fixed from now on
    ax.set_ylim(ax.get_ylim())
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72.0
    gap, marker = GAP_PT * scale, MARKER_PT * scale
    frame_box = ax.get_window_extent(renderer)
    frame: Box = (frame_box.x0, frame_box.y0, frame_box.x1, frame_box.y1)
    anchors = ax.transData.transform(np.asarray(points, dtype=float).reshape(-1, 2))
    taken: list[Box] = [(x - marker, y - marker, x + marker, y + marker) for x, y in anchors]
    to_data = ax.transData.inverted()
    texts = []
    for i, (name, anchor) in enumerate(zip(names, anchors, strict=True)):
        probe = ax.text(0, 0, name, fontsize=fontsize)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        size = (extent.width, extent.height)
        best, best_cost = None, math.inf
        for x, y in _candidates(anchor, size, marker + gap, gap):
            box = (x, y, x + size[0], y + size[1])
            padded = (box[0] - gap / 2, box[1] - gap / 2, box[2] + gap / 2, box[3] + gap / 2)
            crowding = sum(_overlap(padded, other) for other in taken)
            cost = 1e6 * _outside(box, frame) + crowding
            if cost < best_cost:
                best, best_cost = box, cost
            if cost == 0:
                break
        assert best is not None
        taken.append(best)
        corner = to_data.transform((best[0], best[1]))
        centre = ((best[0] + best[2]) / 2, (best[1] + best[3]) / 2)
        far = math.dist(centre, anchor) > LEADER_PT * scale + max(size) / 2
        color = colors[i] if colors is not None else "black"
        texts.append(
            ax.annotate(
                name,
                xy=points[i],
                xytext=tuple(corner),
                textcoords="data",
                ha="left",
                va="bottom",
                fontsize=fontsize,
                arrowprops={"arrowstyle": "-", "color": color, "lw": 0.6, "alpha": 0.8}
                if far
                else None,
            )
        )
    return texts
