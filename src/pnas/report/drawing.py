"""Cell drawings with matplotlib's object API (no pyplot: no global state, safe in any thread).

:func:`draw_cell` draws a PNAS cell as a DAG: the inputs H(c-1) (``h1``) and
H(c-2) (``h2``) on the left, one "+" node per block in columns by depth (the
longest path from the inputs), each incoming edge labelled with its operator,
and the output "concat" on the right. A NAS-Bench-201 cell is its 4-node graph,
one labelled edge per ``i -> j``. :func:`save_cell` writes PNG, SVG or PDF.

The layout is deterministic and needs no graph library: columns by depth, rows
by the mean height of each node's inputs; edges leave and enter nodes by ports
ordered so that edges of one node do not cross near it, pass the columns they
skip through gaps between nodes, and each label slides along its edge to the
first place that covers no node, label or other edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextPath

from pnas.space import SearchSpace, create_space
from pnas.space.nb201 import NB201_EDGES, Nb201Cell, Nb201Space
from pnas.space.pnas_cell import Cell, PnasSpace, input_name

FORMATS = ("png", "svg", "pdf")
"""The suffixes :func:`save_cell` writes."""

DPI = 150
"""PNG resolution: PNASNet-5's cell comes out about 1200 x 700 pixels."""

CONCATS = ("all", "unused")

INCH_PER_UNIT = 0.62
"""Figure inches per layout unit when draw_cell makes its own figure."""
NATURAL_UNIT_PER_POINT = 1 / (72 * INCH_PER_UNIT)

# Operator families: (colour, legend text).
FAMILIES: dict[str, tuple[str, str]] = {
    "sep": ("#1f5fa8", "separable conv"),
    "conv": ("#c0500a", "conv (1x7/7x1, dilated)"),
    "pool": ("#7a3f9d", "pooling"),
    "identity": ("#2a8048", "identity"),
    "none": ("#9a9a9a", "none (no edge)"),
}

PNAS_LABELS: dict[str, tuple[str, str]] = {
    "sep3x3": ("sep 3x3", "sep"),
    "sep5x5": ("sep 5x5", "sep"),
    "sep7x7": ("sep 7x7", "sep"),
    "conv1x7_7x1": ("conv 1x7/7x1", "conv"),
    "dil3x3": ("dil 3x3", "conv"),
    "avg3x3": ("avg 3x3", "pool"),
    "max3x3": ("max 3x3", "pool"),
    "identity": ("identity", "identity"),
}
"""Each PNAS operator's label on an edge and its family."""

NB201_LABELS: dict[str, tuple[str, str]] = {
    "nor_conv_3x3": ("conv 3x3", "conv"),
    "nor_conv_1x1": ("conv 1x1", "conv"),
    "avg_pool_3x3": ("avg 3x3", "pool"),
    "skip_connect": ("identity", "identity"),
    "none": ("none", "none"),
}

INPUT_LABELS = {0: "H(c-1)", 1: "H(c-2)"}
"""Input 0 (``h1``) is the previous cell's output, input 1 (``h2``) the one before it."""

EDGE_FONT = 9.0
NODE_FONT = 10.0
CAPTION_FONT = 8.0
OUTPUT_EDGE = "#6b6b6b"
NODE_FACE = "#f4f4f4"
NODE_EDGE = "#333333"

_Point = tuple[float, float]


@dataclass
class _Node:
    key: str
    x: float
    y: float
    label: str
    shape: str  # "box" (half sizes w, h) or "circle" (radius w)
    w: float
    h: float
    font: float = NODE_FONT
    caption: str | None = None  # small text by the node
    caption_side: str = "auto"  # one of CAPTION_SIDES, "left", "right", or "auto": the first free one
    face: str = NODE_FACE
    halves: bool = False  # a PNAS block: its two inputs come in well apart

    def box(self) -> tuple[float, float, float, float]:
        return self.x - self.w, self.y - self.h, self.x + self.w, self.y + self.h


@dataclass
class _Edge:
    src: str
    dst: str
    label: str | None = None
    color: str = OUTPUT_EDGE
    dashed: bool = False
    arrow: bool = True
    width: float = 1.4
    via: list[_Point] = field(default_factory=list)  # waypoints; found by the layout when empty
    # filled in by the layout
    start: _Point = (0.0, 0.0)
    end: _Point = (0.0, 0.0)
    label_at: _Point | None = None
    points: list[_Point] = field(default_factory=list)


@dataclass
class _Drawing:
    nodes: dict[str, _Node]
    edges: list[_Edge]
    families: list[str]
    note: str | None = None
    legend: dict[str, str] = field(default_factory=dict)  # family -> text, where not FAMILIES'


# --- public API ----------------------------------------------------------------


def draw_cell(
    cell: Any,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    concat: str = "all",
    space: SearchSpace | str | None = None,
) -> Figure:
    """Draw ``cell`` and return the figure (``ax``'s own when given, else a new one).

    ``cell`` is a cell object or its text. ``space`` (a :class:`~pnas.space.base.SearchSpace` or a
    registered space's name) reads the text and draws the cell with its own drawing
    (:meth:`~pnas.space.base.SearchSpace.draw`); a space without one says so. Without ``space``, a PNAS
    :class:`~pnas.space.Cell` or an :class:`~pnas.space.nb201.Nb201Cell` is drawn by its type, and a
    text is read as NAS-Bench-201's if it looks like ``|nor_conv_3x3~0|+|...``, else as a PNAS cell.
    ``concat`` = "all" (PNASNet-5) feeds every block into the output, "unused" only the blocks no
    other block reads; NB201 cells ignore it. A bad text is a ValueError naming the problem.
    """
    if concat not in CONCATS:
        raise ValueError(f"unknown concat {concat!r}: choose 'all' (PNASNet-5) or 'unused' (NASNet)")
    reader, parsed = read_cell(cell, space)
    return cast(Figure, reader.draw(parsed, ax, title, concat=concat))


def draw_pnas_cell(cell: Cell, ax: Axes | None = None, title: str | None = None, *, concat: str = "all") -> Figure:
    """A PNAS cell as a DAG (:meth:`pnas.space.PnasSpace.draw`)."""
    if concat not in CONCATS:
        raise ValueError(f"unknown concat {concat!r}: choose 'all' (PNASNet-5) or 'unused' (NASNet)")
    return _render(_pnas_drawing(cell, concat), ax, title)


def draw_nb201_cell(cell: Nb201Cell, ax: Axes | None = None, title: str | None = None) -> Figure:
    """A NAS-Bench-201 cell as its 4-node graph (:meth:`pnas.space.Nb201Space.draw`)."""
    return _render(_nb201_drawing(cell), ax, title)


def save_cell(cell: Any, path: str | Path, *, dpi: int = DPI, **kw: Any) -> Path:
    """Draw ``cell`` (``kw`` as :func:`draw_cell`'s) into ``path``: .png, .svg or .pdf by its suffix.

    Missing parent folders are made. SVG keeps its text as text (searchable, and
    the labels stay editable); SVG and PDF carry no date, so one cell always
    gives the same file.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(
            f"cannot write a drawing to {str(path)!r}: the suffix must be one of " + ", ".join("." + f for f in FORMATS)
        )
    if "ax" in kw:
        raise TypeError("save_cell draws its own figure: call draw_cell(cell, ax=...) to draw into an axes")
    figure = draw_cell(cell, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"format": fmt, "dpi": dpi, "facecolor": "white"}
    if fmt == "svg":
        options["metadata"] = {"Date": None}
        # The SVG writer reads this setting while saving: text as <text>, not paths.
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "pnas-cell"}):
            figure.savefig(path, **options)
    else:
        if fmt == "pdf":
            options["metadata"] = {"CreationDate": None}
        figure.savefig(path, **options)
    return path


def as_cell(cell: Any, space: SearchSpace | str | None = None) -> Any:
    """``cell`` itself, or its text read as a cell (of ``space`` when given; see :func:`draw_cell`)."""
    return read_cell(cell, space)[1]


def read_cell(cell: Any, space: SearchSpace | str | None = None) -> tuple[SearchSpace, Any]:
    """(the space that draws it, the cell): ``cell`` or its text read by ``space`` (a space or a
    registered space's name); without one, by the cell's type or the text's look (see :func:`draw_cell`)."""
    if isinstance(space, str):
        space = create_space(space)
    if isinstance(cell, str):
        text = cell.strip()
        if not text:
            raise ValueError("empty cell text: give blocks like 'sep3x3(h1)+identity(h2)' or an NB201 string")
        if space is None:
            nb201 = "~" in text or text.startswith("|")
            reader: SearchSpace = Nb201Space() if nb201 else PnasSpace(max_level=max(1, text.count(";") + 1))
        else:
            reader = space
        try:
            return reader, reader.parse(text)
        except ValueError as exc:
            raise ValueError(f"bad {reader.title or reader.name} cell text: {exc}") from None
    if space is not None:
        try:
            text = space.format(cell)
            same = space.parse(text) == cell
        except (ValueError, TypeError, AttributeError):
            same = False
        if not same:
            raise ValueError(f"{type(cell).__name__} is not a cell of space {space.name!r}")
        return space, cell
    if isinstance(cell, Cell):
        return PnasSpace(max_level=cell.num_blocks), cell
    if isinstance(cell, Nb201Cell):
        return Nb201Space(), cell
    raise TypeError(f"draw a Cell, an Nb201Cell or a cell's text (with its space), not {type(cell).__name__}")


# --- the two kinds of cells -------------------------------------------------------

COLUMN = 4.0  # layout units between columns of a PNAS cell
ROW = 1.75  # least distance between nodes of one column
INPUT_SPREAD = 1.4  # h1 at +this, h2 at -this


def _depths(cell: Cell) -> list[int]:
    """Each block's longest path from the inputs (inputs 0 and 1 have depth 0)."""
    depth = [0, 0]
    for block in cell.blocks:
        depth.append(1 + max(depth[i] for i in block.inputs))
    return depth[2:]


def _spread(desired: list[float], gap: float) -> list[float]:
    """Heights near ``desired`` (kept in order, top first) at least ``gap`` apart, centred like them."""
    if not desired:
        return []
    placed = [desired[0]]
    for want in desired[1:]:
        placed.append(min(want, placed[-1] - gap))
    shift = sum(desired) / len(desired) - sum(placed) / len(placed)
    return [y + shift for y in placed]


def _pnas_drawing(cell: Cell, concat: str) -> _Drawing:
    depths = _depths(cell)
    levels = max(depths)
    nodes: dict[str, _Node] = {}
    for index, y in ((0, INPUT_SPREAD), (1, -INPUT_SPREAD)):
        name = input_name(index)
        readers = sum(block.inputs.count(index) for block in cell.blocks)
        nodes[name] = _Node(name, 0.0, y, f"{INPUT_LABELS[index]}\n{name}", "box", 0.62, max(0.38, 0.1 * readers))
    heights: dict[int, float] = {0: INPUT_SPREAD, 1: -INPUT_SPREAD}  # by input index
    for level in range(1, levels + 1):
        members = [b for b, d in enumerate(depths, start=1) if d == level]
        want = {b: sum(heights[i] for i in cell.blocks[b - 1].inputs) / 2 for b in members}
        members.sort(key=lambda b: (-want[b], b))
        for b, y in zip(members, _spread([want[b] for b in members], ROW)):
            heights[b + 1] = y
            nodes[f"b{b}"] = _Node(
                f"b{b}", level * COLUMN, y, "+", "circle", 0.3, 0.3, font=15.0, caption=f"b{b}", halves=True
            )
    used = cell.used_blocks()
    outputs = [b for b in range(1, cell.num_blocks + 1) if concat == "all" or b not in used]
    out_y = sum(heights[b + 1] for b in outputs) / len(outputs)
    out_x = levels * COLUMN + 0.8 * COLUMN
    out_label = "concat\nH(c)" if concat == "all" else "concat\n(unused)\nH(c)"
    out_h = max(0.38 if concat == "all" else 0.52, 0.1 * len(outputs))
    nodes["out"] = _Node("out", out_x, out_y, out_label, "box", 0.6, out_h)

    edges: list[_Edge] = []
    families: list[str] = []
    for b, block in enumerate(cell.blocks, start=1):
        for inp, op in ((block.input1, block.op1), (block.input2, block.op2)):
            label, family = PNAS_LABELS[op]
            color = FAMILIES[family][0]
            edges.append(_Edge(input_name(inp), f"b{b}", label, color))
            if family not in families:
                families.append(family)
    for b in outputs:
        edges.append(_Edge(f"b{b}", "out", width=1.1))
    families.sort(key=list(FAMILIES).index)
    return _Drawing(nodes, edges, families)


NB201_STEP = 3.0
NB201_ARC = 1.15


def _nb201_drawing(cell: Nb201Cell) -> _Drawing:
    nodes: dict[str, _Node] = {}
    for k in range(4):
        node = _Node(str(k), k * NB201_STEP, 0.0, str(k), "circle", 0.32, 0.32, font=12.0)
        if k == 0:
            node.caption, node.caption_side = "input", "left"
        if k == 3:
            node.caption, node.caption_side = "output", "right"
        nodes[str(k)] = node
    edges: list[_Edge] = []
    families: list[str] = []
    for (src, dst), op in zip(NB201_EDGES, cell.ops):
        label, family = NB201_LABELS[op]
        none = op == "none"
        # Neighbours straight; skips of one node above, the long edge 0 -> 3 below.
        lift = {1: [], 2: [(src + 1, NB201_ARC)], 3: [(1, -NB201_ARC), (2, -NB201_ARC)]}[dst - src]
        via = [(k * NB201_STEP, y) for k, y in lift]
        edge = _Edge(str(src), str(dst), label, FAMILIES[family][0], dashed=none, arrow=not none, via=via)
        edge.width = 1.0 if none else 1.5
        edges.append(edge)
        if family not in families:
            families.append(family)
    families.sort(key=list(FAMILIES).index)
    note = "all edges none: the cell outputs zeros" if all(op == "none" for op in cell.ops) else None
    return _Drawing(nodes, edges, families, note=note, legend={"conv": "convolution (ReLU-conv-BN)"})


# --- geometry ----------------------------------------------------------------------
#
# Every edge leaves its source by a port on the source's right side and enters its
# target by one on the left side, ports ordered by where the edge goes so that edges
# from one node do not cross near it. Between ports and waypoints an edge is a
# cubic curve with horizontal ends; an edge that skips a column goes through a
# waypoint in each column it passes, in a gap between that column's nodes.

WAYPOINT_CLEARANCE = 0.42  # from a node's rim to an edge passing it by, room for the node's caption
WAYPOINT_GAP = 0.16  # between two edges passing through one gap
BLOCK_ENTRY = 40.0  # degrees above and below the horizontal where a block's two halves come in


def _waypoints(drawing: _Drawing) -> None:
    """Waypoints for edges that skip a column (edges with a ``via`` already keep theirs)."""
    nodes = drawing.nodes
    columns: dict[float, list[_Node]] = {}
    for node in nodes.values():
        columns.setdefault(round(node.x, 6), []).append(node)
    used: dict[float, list[float]] = {}
    order = sorted(range(len(drawing.edges)), key=lambda i: (_length(drawing.edges[i], nodes), i))
    for i in order:
        edge = drawing.edges[i]
        if edge.via:
            continue
        a, b = nodes[edge.src], nodes[edge.dst]
        for x in sorted(columns):
            if not a.x + 1e-6 < x < b.x - 1e-6:
                continue
            straight = a.y + (b.y - a.y) * (x - a.x) / (b.x - a.x)
            y = _free_height(straight, columns[x], used.setdefault(x, []))
            used[x].append(y)
            edge.via.append((x, y))


def _free_height(want: float, column: list[_Node], taken: list[float]) -> float:
    """The height nearest ``want`` that passes the column's nodes (and earlier waypoints) by."""
    blocked = sorted((n.y - n.h - WAYPOINT_CLEARANCE, n.y + n.h + WAYPOINT_CLEARANCE) for n in column)
    blocked += [(y - WAYPOINT_GAP, y + WAYPOINT_GAP) for y in taken]
    blocked.sort()
    merged: list[list[float]] = []
    for lo, hi in blocked:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    for lo, hi in merged:
        if lo < want < hi:
            return lo if want - lo <= hi - want else hi
    return want


def _ports(drawing: _Drawing) -> None:
    """Where each edge leaves its source and enters its target."""
    nodes, edges = drawing.nodes, drawing.edges
    for node in nodes.values():
        out = [i for i, e in enumerate(edges) if e.src == node.key]
        into = [i for i, e in enumerate(edges) if e.dst == node.key]
        toward = {i: (edges[i].via[0] if edges[i].via else _centre(nodes[edges[i].dst])) for i in out}
        origin = {i: (edges[i].via[-1] if edges[i].via else _centre(nodes[edges[i].src])) for i in into}
        for i, point in zip(out, _side(node, out, toward, +1)):
            edges[i].start = point
        for i, point in zip(into, _side(node, into, origin, -1)):
            edges[i].end = point


def _centre(node: _Node) -> _Point:
    return node.x, node.y


def _side(node: _Node, indices: list[int], other: dict[int, _Point], direction: int) -> list[_Point]:
    """Ports on the right (``direction`` +1) or left (-1) side of ``node``, top to bottom by the far end's height.

    Returned in the order of ``indices``."""
    if not indices:
        return []
    ranked = sorted(indices, key=lambda i: (-other[i][1], i))
    if node.shape == "box":
        n = len(ranked)
        span = 0.78 * node.h
        heights = [node.y] if n == 1 else [node.y + span - 2 * span * k / (n - 1) for k in range(n)]
        place = {i: (node.x + direction * node.w, y) for i, y in zip(ranked, heights)}
    elif direction < 0 and node.halves and len(ranked) == 2:
        # a block's two halves: well apart, so that their labels have room
        place = {
            i: (node.x - node.w * math.cos(math.radians(a)), node.y + node.w * math.sin(math.radians(a)))
            for i, a in zip(ranked, (BLOCK_ENTRY, -BLOCK_ENTRY))
        }
    else:
        want = []
        for i in ranked:
            px, py = other[i]
            angle = math.degrees(math.atan2(py - node.y, abs(px - node.x) or 1e-9))
            want.append(max(-55.0, min(55.0, angle)))
        angles = [max(-75.0, min(75.0, a)) for a in _spread(want, 32.0)]
        place = {
            i: (node.x + direction * node.w * math.cos(math.radians(a)), node.y + node.w * math.sin(math.radians(a)))
            for i, a in zip(ranked, angles)
        }
    return [place[i] for i in indices]


def _segments(edge: _Edge) -> list[tuple[_Point, _Point, _Point, _Point]]:
    """The edge's cubic pieces: from its start through its waypoints to its end, ends horizontal."""
    stops = [edge.start, *edge.via, edge.end]
    pieces = []
    for (x0, y0), (x3, y3) in zip(stops, stops[1:]):
        k = (x3 - x0) / 2
        pieces.append(((x0, y0), (x0 + k, y0), (x3 - k, y3), (x3, y3)))
    return pieces


def _cubic(p: tuple[_Point, _Point, _Point, _Point], t: float) -> _Point:
    u = 1 - t
    weights = (u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t)
    return sum(w * q[0] for w, q in zip(weights, p)), sum(w * q[1] for w, q in zip(weights, p))


def _trace(edge: _Edge, per_piece: int = 48) -> None:
    """Points along the edge, evenly in each piece's parameter."""
    points: list[_Point] = []
    for piece in _segments(edge):
        start = 1 if points else 0
        points += [_cubic(piece, k / per_piece) for k in range(start, per_piece + 1)]
    edge.points = points


def _layout_edges(drawing: _Drawing) -> None:
    _waypoints(drawing)
    _ports(drawing)
    for edge in drawing.edges:
        _trace(edge)


_Box = tuple[float, float, float, float]


def _text_size(text: str, font: float, unit_per_point: float, pad: float = 2.5) -> tuple[float, float]:
    """Width and height of a one-line label with its box, in layout units."""
    return (_text_width(text, font) + 2 * pad) * unit_per_point, (font * 1.05 + 2 * pad) * unit_per_point


@lru_cache(maxsize=512)
def _text_width(text: str, font: float) -> float:
    """A one-line text's width in points (its glyphs' outlines, control points included)."""
    xs = TextPath((0, 0), text, size=font).vertices[:, 0]
    return float(xs.max() - xs.min()) if len(xs) else 0.0


def _overlap(a: _Box, b: _Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


CAPTION_SIDES = ("above", "below", "upper right", "lower right", "upper left", "lower left")
"""Where an "auto" caption may go, in order of preference."""


def _caption_box(node: _Node, unit_per_point: float, side: str | None = None) -> tuple[_Point, str, _Box] | None:
    """Where a node's caption goes (its anchor, horizontal alignment) and the space it takes."""
    if node.caption is None:
        return None
    side = side or node.caption_side
    w, h = _text_size(node.caption, CAPTION_FONT, unit_per_point, pad=1.0)
    if side == "left":
        x = node.x - node.w - 0.1
        return (x, node.y), "right", (x - w, node.y - h / 2, x, node.y + h / 2)
    if side == "right":
        x = node.x + node.w + 0.1
        return (x, node.y), "left", (x, node.y - h / 2, x + w, node.y + h / 2)
    if side in ("above", "below"):
        y = node.y + (1 if side == "above" else -1) * (node.h + 0.05 + h / 2)
        return (node.x, y), "center", (node.x - w / 2, y - h / 2, node.x + w / 2, y + h / 2)
    # diagonal: the caption's near corner just off the node's rim at 45 degrees
    sx = 1 if "right" in side else -1
    sy = 1 if "upper" in side else -1
    cx, cy = node.x + sx * (node.w * 0.72 + 0.04), node.y + sy * (node.h * 0.72 + 0.04)
    x_far, y_far = cx + sx * w, cy + sy * h
    anchor = ((cx + x_far) / 2, (cy + y_far) / 2)
    return anchor, "center", (min(cx, x_far), min(cy, y_far), max(cx, x_far), max(cy, y_far))


def _place_captions(drawing: _Drawing, unit_per_point: float) -> None:
    """Give each "auto" caption the first side that no edge runs through."""
    points = [p for e in drawing.edges for p in e.points]
    for node in drawing.nodes.values():
        if node.caption is None or node.caption_side != "auto":
            continue
        best: tuple[int, str] | None = None
        for side in CAPTION_SIDES:
            placed = _caption_box(node, unit_per_point, side)
            assert placed is not None
            box = _grow(placed[2], 0.05)
            crossed = sum(1 for p in points if box[0] < p[0] < box[2] and box[1] < p[1] < box[3])
            if best is None or crossed < best[0]:
                best = (crossed, side)
            if crossed == 0:
                break
        assert best is not None
        node.caption_side = best[1]


def _grow(box: _Box, margin: float) -> _Box:
    return box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin


def _place_labels(drawing: _Drawing, unit_per_point: float) -> None:
    """Put each edge label at the first spot along its edge that covers nothing else."""
    nodes, edges = drawing.nodes, drawing.edges
    taken: list[_Box] = [_grow(n.box(), 0.14) for n in nodes.values()]
    for node in nodes.values():
        caption = _caption_box(node, unit_per_point)
        if caption is not None:
            taken.append(_grow(caption[2], 0.06))
    spots = [0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.46, 0.54, 0.38, 0.62, 0.3, 0.7, 0.2, 0.8]
    # Short edges first: they have the fewest places to go.
    order = sorted((i for i, e in enumerate(edges) if e.label), key=lambda i: (_length(edges[i], nodes), i))
    for i in order:
        edge = edges[i]
        assert edge.label is not None
        w, h = _text_size(edge.label, EDGE_FONT, unit_per_point)
        along = _along(edge.points)
        best: tuple[tuple[bool, int, float], _Point, _Box] | None = None
        for s in spots:
            x, y = _point_at(edge.points, along, s)
            box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            crowd = sum(_overlap(box, other) for other in taken)
            crossed = sum(
                1
                for k, other in enumerate(edges)
                if k != i
                for p in other.points
                if box[0] - 0.05 < p[0] < box[2] + 0.05 and box[1] - 0.05 < p[1] < box[3] + 0.05
            )
            # Covering a node or a label is worse than covering any number of edge points.
            score = (crowd > 1e-9, crossed, crowd)
            if best is None or score < best[0]:
                best = (score, (x, y), box)
            if not score[0] and not crossed:
                break
        assert best is not None
        edge.label_at = best[1]
        taken.append(_grow(best[2], 0.06))


def _along(points: list[_Point]) -> list[float]:
    """Distance along a polyline to each of its points."""
    out = [0.0]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        out.append(out[-1] + math.hypot(x1 - x0, y1 - y0))
    return out


def _point_at(points: list[_Point], along: list[float], fraction: float) -> _Point:
    """The point ``fraction`` of the way along a polyline."""
    goal = fraction * along[-1]
    for k in range(1, len(points)):
        if along[k] >= goal:
            seg = along[k] - along[k - 1]
            f = (goal - along[k - 1]) / seg if seg else 0.0
            (x0, y0), (x1, y1) = points[k - 1], points[k]
            return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
    return points[-1]


def _length(edge: _Edge, nodes: dict[str, _Node]) -> float:
    a, b = nodes[edge.src], nodes[edge.dst]
    return math.hypot(b.x - a.x, b.y - a.y)


# --- rendering ----------------------------------------------------------------------


def _bounds(drawing: _Drawing) -> _Box:
    xs: list[float] = []
    ys: list[float] = []
    for n in drawing.nodes.values():
        boxes = [n.box()]
        caption = _caption_box(n, NATURAL_UNIT_PER_POINT)
        if caption is not None:
            boxes.append(caption[2])
        for box in boxes:
            xs += [box[0], box[2]]
            ys += [box[1], box[3]]
    for e in drawing.edges:
        for p in e.points:
            xs.append(p[0])
            ys.append(p[1])
    return min(xs), min(ys), max(xs), max(ys)


def _render(drawing: _Drawing, ax: Axes | None, title: str | None) -> Figure:
    _layout_edges(drawing)
    _place_captions(drawing, NATURAL_UNIT_PER_POINT)
    x0, y0, x1, y1 = _bounds(drawing)
    pad = 0.45
    legend_room = 0.6 if drawing.families else 0.0
    note_room = 0.45 if drawing.note else 0.0
    title_room = 0.7 if title else 0.0
    x0, x1 = x0 - pad, x1 + pad
    y0, y1 = y0 - pad - legend_room - note_room, y1 + pad + title_room
    if ax is None:
        figure = Figure(figsize=((x1 - x0) * INCH_PER_UNIT, (y1 - y0) * INCH_PER_UNIT))
        FigureCanvasAgg(figure)
        ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
        unit_per_point = NATURAL_UNIT_PER_POINT
    else:
        parent = ax.get_figure()
        if parent is None:
            raise ValueError("draw_cell needs axes that belong to a figure")
        figure = parent if isinstance(parent, Figure) else parent.figure  # a subfigure's root figure
        points_per_pixel = 72 / figure.dpi
        unit_per_point = max(
            (x1 - x0) / (ax.bbox.width * points_per_pixel), (y1 - y0) / (ax.bbox.height * points_per_pixel)
        )
    # Axes smaller than the drawing's own figure shrink text and lines with it (larger ones keep them).
    scale = min(1.0, NATURAL_UNIT_PER_POINT / unit_per_point)
    unit_per_point *= scale  # layout units per point of unscaled text
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    _place_labels(drawing, unit_per_point)

    for edge in drawing.edges:
        _draw_edge(ax, edge, scale)
    for node in drawing.nodes.values():
        _draw_node(ax, node, unit_per_point, scale)
    for edge in drawing.edges:
        if edge.label and edge.label_at:
            ax.text(
                *edge.label_at,
                edge.label,
                ha="center",
                va="center",
                fontsize=EDGE_FONT * scale,
                color=edge.color,
                zorder=5,
                bbox={
                    "boxstyle": "round,pad=0.18",
                    "facecolor": "white",
                    "edgecolor": edge.color,
                    "linewidth": 0.6 * scale,
                },
            )
    if title:
        ax.text((x0 + x1) / 2, y1 - 0.2, title, ha="center", va="top", fontsize=11 * scale, parse_math=False, zorder=6)
    if drawing.note:
        ax.text(
            (x0 + x1) / 2,
            y0 + legend_room + 0.1,
            drawing.note,
            ha="center",
            va="bottom",
            fontsize=9 * scale,
            color="#555555",
            style="italic",
        )
    if drawing.families:
        handles = [
            Line2D([], [], color=FAMILIES[f][0], linewidth=2 * scale, linestyle="--" if f == "none" else "-")
            for f in drawing.families
        ]
        ax.legend(
            handles,
            [drawing.legend.get(f, FAMILIES[f][1]) for f in drawing.families],
            loc="lower center",
            ncol=len(handles),
            frameon=False,
            fontsize=8.5 * scale,
            handlelength=1.6,
            borderaxespad=0.2,
            columnspacing=1.4,
        )
    return figure


def _draw_edge(ax: Axes, edge: _Edge, scale: float) -> None:
    vertices: list[_Point] = [edge.start]
    for _, c1, c2, end in _segments(edge):
        vertices += [c1, c2, end]
    codes = [MplPath.MOVETO] + [MplPath.CURVE4] * (len(vertices) - 1)
    ax.add_patch(
        FancyArrowPatch(
            path=MplPath(vertices, codes),
            arrowstyle="-|>" if edge.arrow else "-",
            mutation_scale=11 * scale,
            color=edge.color,
            linewidth=edge.width * scale,
            linestyle=(0, (4, 3)) if edge.dashed else "-",
            zorder=2,
        )
    )


def _draw_node(ax: Axes, node: _Node, unit_per_point: float, scale: float) -> None:
    if node.shape == "circle":
        ax.add_patch(
            Circle((node.x, node.y), node.w, facecolor=node.face, edgecolor=NODE_EDGE, linewidth=1.2 * scale, zorder=3)
        )
    else:
        ax.add_patch(
            FancyBboxPatch(
                (node.x - node.w + 0.08, node.y - node.h + 0.08),
                2 * node.w - 0.16,
                2 * node.h - 0.16,
                boxstyle="round,pad=0.08",
                facecolor=node.face,
                edgecolor=NODE_EDGE,
                linewidth=1.2 * scale,
                zorder=3,
            )
        )
    ax.text(
        node.x, node.y, node.label, ha="center", va="center", fontsize=node.font * scale, zorder=4, linespacing=1.15
    )
    caption = _caption_box(node, unit_per_point)
    if caption is not None and node.caption is not None:
        (x, y), ha, _ = caption
        ax.text(x, y, node.caption, ha=ha, va="center", fontsize=CAPTION_FONT * scale, color="#555555", zorder=4)


def block_count(cell: Any) -> int:
    """Blocks of a PNAS cell; edges that are not ``none`` of an NB201 cell: the cell's level."""
    space, parsed = read_cell(cell)
    return space.level(parsed)
