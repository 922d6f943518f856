"""Tests of :mod:`einnas.viz.drawing`: operation graphs, their layout, pictures and DOT text."""

from __future__ import annotations

from pathlib import Path

import pytest

from einnas.grammar import Feature, InvalidArchitecture, Terminal, analyze, parse
from einnas.seeds import SEED_NAMES, seed_tree
from einnas.viz.drawing import (
    AGGREGATE,
    BRANCH,
    COMPUTE,
    Chain,
    Fork,
    OpGraph,
    graph_dot,
    layout_graph,
    operation_graph,
    shape_label,
    tree_dot,
)

PNG = b"\x89PNG\r\n\x1a\n"

RESIDUAL = (
    "branching(2)[clone(2), sequential[computation[conv1d(3,8)], computation[leakyrelu]], "
    "computation[identity], add]"
)
CONV = "routing[im2col(3,1,1), computation[linear16], col2im]"
HEADS = "branching(4)[clone(4), computation[linear16], cat(4,2)]"


def _forks(chain: Chain) -> list[Fork]:
    out: list[Fork] = []
    for item in chain.items:
        if isinstance(item, Fork):
            out.append(item)
            for branch in item.branches:
                out += _forks(branch)
    return out


def _labels(g: OpGraph) -> list[str]:
    return [n.label for n in g.nodes]


def _edges(g: OpGraph) -> list[tuple[str, str, str]]:
    return [(g.nodes[e.source].label, g.nodes[e.target].label, e.shape) for e in g.edges]


def _check_shapes_match_analysis(g: OpGraph, tree_text: str, shape: tuple[int, ...]) -> None:
    analysis = analyze(parse(tree_text), shape)
    outputs = {info.path: info.output for info in analysis.nodes}
    for e in g.edges:
        source = g.nodes[e.source]
        want = analysis.input if source.kind == "input" else outputs[source.path]
        assert e.feature == want


def _check_layout(g: OpGraph) -> None:
    lay = layout_graph(g)
    assert set(lay.positions) == {n.id for n in g.nodes}
    assert len(set(lay.positions.values())) == len(g.nodes)  # no two boxes on one spot
    assert len(lay.routes) == len(g.edges)
    for e in g.edges:  # layered top to bottom
        assert lay.positions[e.source][1] < lay.positions[e.target][1]
    assert all(0 <= x <= lay.width for x, _ in lay.positions.values())


def test_shape_labels() -> None:
    assert shape_label(Feature("im", (64, 40))) == "64x40"
    assert shape_label(Feature("im", (3, 28, 28))) == "3x28x28"
    assert shape_label(Feature("col", (49, 64))) == "(S=49, D=64)"


def test_sequential_tree() -> None:
    text = "sequential[computation[conv1d(3,64)], sequential[computation[norm], computation[leakyrelu]]]"
    g = operation_graph(parse(text), (1, 40))
    assert _labels(g) == ["input", "conv1d(3,64)", "norm", "leakyrelu", "output"]
    assert _edges(g) == [
        ("input", "conv1d(3,64)", "1x40"),
        ("conv1d(3,64)", "norm", "64x40"),
        ("norm", "leakyrelu", "64x40"),
        ("leakyrelu", "output", "64x40"),
    ]
    assert g.body == Chain((0, 1, 2, 3, 4)) and g.params == analyze(parse(text), (1, 40)).params
    _check_shapes_match_analysis(g, text, (1, 40))
    lay = layout_graph(g)
    assert [lay.positions[i] for i in range(5)] == [(lay.width / 2, float(k)) for k in range(5)]


def test_branching_clone_add_residual() -> None:
    g = operation_graph(parse(RESIDUAL), (8, 40))
    # the identity shortcut is left out: a plain edge from the split to the merge
    assert _labels(g) == ["input", "clone(2)", "conv1d(3,8)", "leakyrelu", "add", "output"]
    assert sorted(_edges(g)) == sorted(
        [
            ("input", "clone(2)", "8x40"),
            ("clone(2)", "conv1d(3,8)", "8x40"),
            ("conv1d(3,8)", "leakyrelu", "8x40"),
            ("leakyrelu", "add", "8x40"),
            ("clone(2)", "add", "8x40"),
            ("add", "output", "8x40"),
        ]
    )
    (fork,) = _forks(g.body)
    assert (g.nodes[fork.split].kind, g.nodes[fork.merge].kind) == (BRANCH, AGGREGATE)
    assert [len(b.items) for b in fork.branches] == [2, 0] and fork.copies == 1
    _check_shapes_match_analysis(g, RESIDUAL, (8, 40))
    _check_layout(g)
    lay = layout_graph(g)
    split, conv, merge = (lay.positions[i] for i in (1, 2, 4))
    assert split[0] == conv[0] == merge[0]  # the main path runs straight down
    assert merge[1] - split[1] == 3  # split, two operations, merge
    # the shortcut runs down its own lane, right of the main path
    shortcut = [r for r in lay.routes if len(r) == 4]
    assert len(shortcut) == 1 and shortcut[0][1][0] > split[0]

    kept = operation_graph(parse(RESIDUAL), (8, 40), keep_identity=True)
    assert _labels(kept).count("identity") == 1 and len(kept.edges) == 7
    _check_layout(kept)


def test_group_branches_carry_their_part() -> None:
    text = "branching(2)[group(2,1), computation[linear16], computation[linear16], cat(2,1)]"
    g = operation_graph(parse(text), (8, 40))
    assert ("input", "group(2,1)", "8x40") in _edges(g)
    assert _edges(g).count(("group(2,1)", "linear16", "4x40")) == 2
    assert _edges(g).count(("linear16", "cat(2,1)", "4x16")) == 2
    assert ("cat(2,1)", "output", "8x16") in _edges(g)
    _check_layout(g)
    lay = layout_graph(g)
    xs = {lay.positions[n.id][0] for n in g.nodes if n.label == "linear16"}
    assert len(xs) == 2  # the two branches side by side


def test_routing_tree() -> None:
    g = operation_graph(parse(CONV), (3, 8, 8))
    assert _edges(g) == [
        ("input", "im2col(3,1,1)", "3x8x8"),
        ("im2col(3,1,1)", "linear16", "(S=64, D=27)"),
        ("linear16", "col2im", "(S=64, D=16)"),
        ("col2im", "output", "16x8x8"),
    ]
    assert [n.kind for n in g.nodes[1:4]] == ["pre", COMPUTE, "post"]
    _check_shapes_match_analysis(g, CONV, (3, 8, 8))
    tokens = "routing[permute(2,1), computation[linear8], identity]"
    g = operation_graph(parse(tokens), (4, 40))
    assert _edges(g) == [
        ("input", "permute(2,1)", "4x40"),
        ("permute(2,1)", "linear8", "40x4"),
        ("linear8", "output", "40x8"),
    ]


def test_shared_structure_drawn_once_or_b_times() -> None:
    tree = parse(HEADS)
    g = operation_graph(tree, (1, 40))
    assert _labels(g) == ["input", "clone(4)", "linear16", "cat(4,2)", "output"]
    assert g.nodes[2].copies == 4 and g.nodes[1].copies == 1
    assert [(e.shape, e.copies) for e in g.edges] == [
        ("1x40", 1),
        ("1x40", 4),
        ("1x16", 4),
        ("1x64", 1),
    ]
    (fork,) = _forks(g.body)
    assert fork.copies == 4 and len(fork.branches) == 1
    lay = layout_graph(g)
    assert len(lay.frames) == 1 and lay.frames[0][4] == 4
    _check_layout(g)

    wide = operation_graph(tree, (1, 40), expand_shared=True)
    assert _labels(wide).count("linear16") == 4 and len(wide.edges) == 10
    assert all(n.copies == 1 for n in wide.nodes)
    (fork,) = _forks(wide.body)
    assert fork.copies == 1 and len(fork.branches) == 4
    _check_layout(wide)
    assert not layout_graph(wide).frames
    assert (
        len({layout_graph(wide).positions[n.id][0] for n in wide.nodes if n.label == "linear16"})
        == 4
    )


def test_degenerate_fork_of_identities() -> None:
    text = "sequential[branching(2)[clone(2), computation[identity], computation[identity], add], computation[norm]]"
    g = operation_graph(parse(text), (2, 10))
    assert _labels(g) == ["input", "clone(2)", "add", "norm", "output"]
    assert _edges(g).count(("clone(2)", "add", "2x10")) == 2
    _check_layout(g)


@pytest.mark.parametrize(
    ("name", "shape"), [("cnn1d", (1, 40)), *((n, (3, 28, 28)) for n in SEED_NAMES)]
)
def test_seeds_every_operation_and_tensor(name: str, shape: tuple[int, ...]) -> None:
    tree = seed_tree(name)
    analysis = analyze(tree, shape)
    compiled = sum(i.multiplicity for i in analysis.nodes if isinstance(i.node, Terminal))
    full = operation_graph(tree, shape, expand_shared=True, keep_identity=True)
    assert len(full.nodes) == compiled + 2  # every terminal of the compiled network, input, output
    for g in (full, operation_graph(tree, shape)):
        forks = _forks(g.body)
        assert len(g.edges) == len(g.nodes) - 1 + sum(len(f.branches) - 1 for f in forks)
        outputs = {i.path: i.output for i in analysis.nodes}
        assert all(
            e.feature == (analysis.input if e.source == 0 else outputs[g.nodes[e.source].path])
            for e in g.edges
        )
        _check_layout(g)


def test_invalid_tree_names_the_node() -> None:
    with pytest.raises(InvalidArchitecture, match="conv1d"):
        operation_graph(parse("sequential[computation[conv1d(3,8)], computation[norm]]"), (3, 8, 8))


def test_dot_text() -> None:
    g = operation_graph(parse(HEADS), (1, 40))
    dot = graph_dot(g, 'four "heads"')
    assert dot.startswith("digraph architecture {") and dot.rstrip().endswith("}")
    assert dot.count("->") == len(g.edges) and "subgraph cluster_1" in dot and 'label="x 4"' in dot
    assert '"4 x 1x16"' in dot and r'"four \"heads\""' in dot
    tree = tree_dot(parse(CONV))
    assert tree.count("->") == 4 and 'label="im2col(3,1,1)"' in tree  # routing -> P, C-module, R


# ----------------------------------------------------------------------------------------------
# pictures (matplotlib is imported inside the drawing functions)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_draw_cnn1d_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from einnas.viz.drawing import draw_graph

    out = tmp_path / "sub" / "cnn1d.png"
    assert draw_graph(operation_graph(seed_tree("cnn1d"), (1, 40)), out, "cnn1d") == str(out)
    width, height = _png_size(out)
    assert height > width > 0


def test_draw_resnet18_is_tall(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from einnas.viz.drawing import draw_graph

    g = operation_graph(seed_tree("resnet18"), (3, 28, 28))
    out = tmp_path / "resnet18.png"
    draw_graph(g, out)
    width, height = _png_size(out)
    assert height > 8 * width  # one layer per operation, ~120 layers, never squashed


def test_draw_tree_and_formats(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from einnas.viz.drawing import draw_graph, draw_tree

    tree = parse(RESIDUAL)
    draw_tree(tree, tmp_path / "tree.png", "residual")
    width, height = _png_size(tmp_path / "tree.png")
    assert width > 0 and height > 0
    g = operation_graph(tree, (8, 40))
    draw_graph(g, tmp_path / "g.svg")
    assert (tmp_path / "g.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    draw_tree(tree, tmp_path / "t.pdf")
    assert (tmp_path / "t.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match=r"\.png"):
        draw_graph(g, tmp_path / "g.jpg")
