"""Canonical text form: round trips, whitespace, hashing, pretty printing, parse errors, and
the shape checker's errors for trees that parse but do not type-check."""

from __future__ import annotations

import re

import pytest

from einnas.grammar import (
    Branching,
    Computation,
    InvalidArchitecture,
    Module,
    ParseError,
    Routing,
    Sequential,
    Terminal,
    analyze,
    arch_hash,
    parse,
    pretty,
    text_hash,
    to_text,
)

T = Terminal

# The example of DECISIONS.md §1, built by hand.
EXAMPLE_TEXT = (
    "sequential[computation[linear64], "
    "branching(2)[clone(2), computation[norm], computation[identity], add]]"
)
EXAMPLE_TREE = Sequential(
    Computation(T("linear", (64,))),
    Branching(
        T("clone", (2,)),
        (Computation(T("norm")), Computation(T("identity"))),
        T("add"),
    ),
)
# Pinned: changing how trees are hashed (or printed) must be a deliberate, visible decision,
# because stored studies identify trials by this hash.
EXAMPLE_HASH = "a27d64fa9ab6b053"

CONV_BLOCK = Branching(
    T("clone", (2,)),
    (
        Sequential(
            Routing(T("im2col", (3, 1, 1)), Computation(T("linear", (64,))), T("col2im")),
            Sequential(Computation(T("norm")), Computation(T("leakyrelu"))),
        ),
        Computation(T("identity")),
    ),
    T("cat", (2, 1)),
)

HAND_WRITTEN: dict[str, Module] = {
    "example": EXAMPLE_TREE,
    "conv_block": CONV_BLOCK,
    "shared_b4": Branching(
        T("group", (4, 1)),
        (Routing(T("permute", (2, 1, 3)), Computation(T("softmax")), T("permute", (2, 1, 3))),),
        T("cat", (4, 1)),
    ),
    "shared_b8": Branching(T("clone", (8,)), (Computation(T("pos_enc")),), T("add")),
    "attention": Routing(
        T("im2col", (4, 4, 0)),
        Branching(
            T("clone", (2,)),
            (
                Computation(T("linear", (32,))),
                Routing(T("permute", (2, 1)), Computation(T("linear", (49,))), T("identity")),
            ),
            T("scaled_dot_product"),
        ),
        T("identity"),
    ),
    "extensions": Sequential(Computation(T("linear_x", (4,))), Computation(T("linear_div", (4,)))),
    "conv1d": Sequential(Computation(T("conv1d", (3, 64))), Computation(T("norm"))),
}


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_round_trip_hand_written(name: str) -> None:
    tree = HAND_WRITTEN[name]
    text = to_text(tree)
    assert parse(text) == tree
    assert to_text(parse(text)) == text
    assert parse(pretty(tree)) == tree
    assert parse(pretty(tree, width=20)) == tree


def test_example_text_is_canonical() -> None:
    assert to_text(EXAMPLE_TREE) == EXAMPLE_TEXT
    assert parse(EXAMPLE_TEXT) == EXAMPLE_TREE


def test_terminal_spellings() -> None:
    tree = parse(
        "routing[im2col(3,2,1), sequential[computation[linear_x4], computation[linear_div2]], col2im]"
    )
    assert isinstance(tree, Routing)
    assert tree.pre == T("im2col", (3, 2, 1))
    assert to_text(tree) == (
        "routing[im2col(3,2,1), sequential[computation[linear_x4], computation[linear_div2]], col2im]"
    )


def _respace(text: str) -> str:
    """The same architecture with arbitrary whitespace and newlines between tokens."""
    out = text.replace(", ", " ,\n\t ").replace("[", " [\n   ").replace("]", "\n ] ")
    return "\n  " + out.replace("(", " ( ").replace(")", "\r\n)") + "  \n\n"


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_whitespace_and_newlines_are_ignored(name: str) -> None:
    tree = HAND_WRITTEN[name]
    text = to_text(tree)
    assert parse(_respace(text)) == tree
    assert parse(text.replace(" ", "")) == tree
    assert to_text(parse(_respace(text))) == text


# ---------------------------------------------------------------------------------------------
# Hashing and pretty printing


def test_arch_hash_is_pinned() -> None:
    assert arch_hash(parse(EXAMPLE_TEXT)) == EXAMPLE_HASH
    assert text_hash(EXAMPLE_TEXT) == EXAMPLE_HASH
    assert re.fullmatch(r"[0-9a-f]{16}", EXAMPLE_HASH)


def test_arch_hash_is_stable_across_spacing_and_differs_between_trees() -> None:
    assert arch_hash(parse(_respace(EXAMPLE_TEXT))) == EXAMPLE_HASH
    hashes = {arch_hash(t) for t in HAND_WRITTEN.values()}
    assert len(hashes) == len(HAND_WRITTEN)
    # a one-symbol change changes the hash
    changed = EXAMPLE_TEXT.replace("linear64", "linear32")
    assert arch_hash(parse(changed)) != EXAMPLE_HASH
    swapped = EXAMPLE_TEXT.replace(
        "computation[norm], computation[identity]", "computation[identity], computation[norm]"
    )
    assert arch_hash(parse(swapped)) != EXAMPLE_HASH


def test_pretty_is_multiline_for_long_trees_and_parses_back() -> None:
    text = pretty(CONV_BLOCK, width=40)
    lines = text.splitlines()
    assert len(lines) > 1
    assert all(len(line) <= 40 or "computation[" in line for line in lines)
    assert parse(text) == CONV_BLOCK
    # short trees stay on one line
    assert pretty(EXAMPLE_TREE, width=200) == EXAMPLE_TEXT
    # indentation reflects nesting
    assert lines[0] == "branching(2)["
    assert lines[1] == "  clone(2),"
    assert lines[-1] == "]"


# ---------------------------------------------------------------------------------------------
# Parse errors: type, column (1-based) and what was expected


def _col(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based column of the ``occurrence``-th ``needle`` in ``text``."""
    pos = -1
    for _ in range(occurrence):
        pos = text.index(needle, pos + 1)
    return pos + 1


C_ID = "computation[identity]"
C_NORM = "computation[norm]"

MALFORMED: list[tuple[str, str, int, list[str]]] = [
    # (kind, text, expected column, substrings the message must contain)
    ("empty", "", 1, ["empty", "expected a module"]),
    ("blank", "  \n\t ", 1, ["empty", "expected a module"]),
    (
        "unknown module",
        f"convolution[{C_ID}]",
        1,
        [
            "expected a module",
            "sequential, branching, routing or computation",
            "found 'convolution'",
        ],
    ),
    (
        "unknown operation",
        f"sequential[{C_ID}, computation[relu]]",
        _col(f"sequential[{C_ID}, computation[relu]]", "relu"),
        ["unknown operation 'relu'", "expected a computation function"],
    ),
    (
        "missing closing bracket",
        f"sequential[{C_ID}, {C_NORM}",
        len(f"sequential[{C_ID}, {C_NORM}") + 1,
        ["expected ']'", "close sequential", "found end of text"],
    ),
    (
        "missing closing bracket of routing",
        f"routing[identity, {C_NORM}, identity  ",
        len(f"routing[identity, {C_NORM}, identity") + 1,
        ["expected ']'", "close routing", "found end of text"],
    ),
    (
        "trailing text",
        f"sequential[{C_ID}, {C_NORM}] {C_NORM}",
        len(f"sequential[{C_ID}, {C_NORM}] ") + 1,
        ["expected end of text", "found 'computation'"],
    ),
    (
        "sequential with one child",
        f"sequential[{C_ID}]",
        len(f"sequential[{C_ID}") + 1,
        ["expected ','", "two children of sequential", "found ']'"],
    ),
    (
        "sequential with three children",
        f"sequential[{C_ID}, {C_NORM}, {C_NORM}]",
        len(f"sequential[{C_ID}, {C_NORM}") + 1,
        ["expected ']'", "exactly two children", "found ','"],
    ),
    (
        "branching factor 3",
        f"branching(3)[clone(2), {C_ID}, {C_NORM}, add]",
        11,
        ["expected the branching factor 2, 4 or 8", "found '3'"],
    ),
    (
        "branching factor missing",
        f"branching[clone(2), {C_ID}, {C_NORM}, add]",
        10,
        ["expected '('", "branching(b)", "found '['"],
    ),
    (
        "branching(2) with clone(4)",
        f"branching(2)[clone(4), {C_ID}, {C_NORM}, add]",
        14,
        ["clone(4)", "4 branches", "expected", "clone(2)"],
    ),
    (
        "cat(4,2) in branching(2)",
        f"branching(2)[clone(2), {C_ID}, {C_NORM}, cat(4,2)]",
        _col(f"branching(2)[clone(2), {C_ID}, {C_NORM}, cat(4,2)]", "cat"),
        ["cat(4,2) joins 4 branches", "has 2"],
    ),
    (
        "dot_product in branching(4)",
        f"branching(4)[clone(4), {C_ID}, dot_product]",
        _col(f"branching(4)[clone(4), {C_ID}, dot_product]", "dot_product"),
        ["dot_product merges exactly 2 branches", "has 4"],
    ),
    (
        "b=4 with two inner modules",
        f"branching(4)[clone(4), {C_ID}, {C_NORM}, add]",
        _col(f"branching(4)[clone(4), {C_ID}, {C_NORM}, add]", "computation", 2),
        ["expected an aggregation function", "not a module", "found 'computation'"],
    ),
    (
        "b=2 with one inner module",
        f"branching(2)[clone(2), {C_ID}, add]",
        _col(f"branching(2)[clone(2), {C_ID}, add]", "add"),
        ["expected a module", "inner module 2 of branching(2)", "found 'add'"],
    ),
    (
        "add as pre-routing",
        f"routing[add, {C_NORM}, identity]",
        9,
        ["add is not a pre-routing function", "identity, permute(...), im2col(k,s,p)"],
    ),
    (
        "col2im as pre-routing",
        f"routing[col2im, {C_NORM}, identity]",
        9,
        ["col2im is not a pre-routing function", "im2col(k,s,p)"],
    ),
    (
        "im2col as post-routing",
        f"routing[identity, {C_NORM}, im2col(3,1,1)]",
        _col(f"routing[identity, {C_NORM}, im2col(3,1,1)]", "im2col"),
        ["im2col(3,1,1) is not a post-routing function", "col2im"],
    ),
    (
        "linear as branching function",
        f"branching(2)[linear64, {C_ID}, {C_NORM}, add]",
        14,
        ["linear64 is not a branching function", "clone(b), group(b,dim)"],
    ),
    (
        "module as a terminal",
        f"routing[{C_ID}, {C_NORM}, identity]",
        9,
        ["expected a pre-routing function", "not a module", "found 'computation'"],
    ),
    (
        "bare terminal in a module slot",
        f"sequential[linear64, {C_NORM}]",
        12,
        ["expected a module", "first child of sequential", "computation[linear64"],
    ),
    (
        "non-integer argument",
        f"routing[im2col(3,x,1), {C_NORM}, col2im]",
        18,
        ["expected an integer argument of im2col", "found 'x'"],
    ),
    (
        "unclosed argument list",
        f"routing[im2col(3,1,1, {C_NORM}, col2im]",
        _col(f"routing[im2col(3,1,1, {C_NORM}, col2im]", "computation"),
        ["expected an integer argument of im2col", "found 'computation'"],
    ),
    (
        "wrong arity",
        f"routing[im2col(3,1), {C_NORM}, col2im]",
        9,
        ["im2col takes 3 argument(s), got 2"],
    ),
    (
        "invalid permutation",
        f"routing[permute(1,1,2), {C_NORM}, identity]",
        9,
        ["permute(1,1,2)", "not a permutation of 1..3"],
    ),
    (
        "branching factor of clone",
        f"branching(2)[clone(3), {C_ID}, {C_NORM}, add]",
        14,
        ["clone(3)", "branching factor must be one of 2, 4, 8"],
    ),
    (
        "group dimension",
        f"branching(2)[group(2,4), {C_ID}, {C_NORM}, add]",
        14,
        ["group(2,4)", "dimension must be 1, 2 or 3"],
    ),
    (
        "unexpected character",
        f"sequential[{C_ID}, # {C_NORM}]",
        _col(f"sequential[{C_ID}, # {C_NORM}]", "#"),
        ["unexpected character '#'", "expected a name, an integer"],
    ),
    (
        "linear0",
        f"sequential[computation[linear0], {C_NORM}]",
        24,
        ["linear0", "width must be >= 1"],
    ),
    (
        "negative argument",
        f"routing[im2col(-3,1,1), {C_NORM}, col2im]",
        9,
        ["must be non-negative"],
    ),
    (
        "computation with two operations",
        "computation[norm, leakyrelu]",
        17,
        ["expected ']'", "holds one operation", "found ','"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "text", "column", "needles"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_parse_errors(kind: str, text: str, column: int, needles: list[str]) -> None:
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert type(err) is ParseError
    assert err.column == column, f"{kind}: column {err.column} != {column}: {err}"
    for needle in needles:
        assert needle in err.reason, f"{kind}: {needle!r} not in {err.reason!r}"
    # the rendered message names the column and points at it
    assert str(err).startswith(f"line 1 column {column}: ")
    assert str(err).splitlines()[-1].strip() == "^"


def test_at_least_ten_kinds_of_parse_error() -> None:
    assert len({m[0] for m in MALFORMED}) >= 10


def test_parse_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse("sequential[")


# ---------------------------------------------------------------------------------------------
# Trees that parse but do not type-check


INVALID: list[tuple[str, str, tuple[int, ...], list[str]]] = [
    (
        "col2im without im2col",
        "sequential[computation[norm], routing[identity, computation[linear16], col2im]]",
        (3, 28, 28),
        ["col2im", "im2col"],
    ),
    (
        "col2im nested one routing deeper",
        "routing[im2col(3,1,1), routing[identity, computation[linear16], col2im], identity]",
        (3, 28, 28),
        ["col2im", "im2col"],
    ),
    (
        "col2im with L != H'*W'",
        "routing[im2col(3,1,1), routing[permute(2,1), computation[linear16], permute(2,1)], col2im]",
        (3, 28, 28),
        ["col2im needs L = 28*28 = 784", "L = 16"],
    ),
    (
        "add of different shapes",
        "branching(2)[clone(2), computation[linear64], computation[identity], add]",
        (3, 28, 28),
        ["add needs equal shapes", "im[3, 28, 64]", "im[3, 28, 28]"],
    ),
    (
        "group not divisible",
        "branching(2)[group(2,2), computation[identity], computation[identity], add]",
        (1, 27, 18),
        ["group(2,2)", "not divisible by 2"],
    ),
    (
        "group by 8 of 12 channels",
        "branching(8)[group(8,1), computation[identity], cat(8,1)]",
        (12, 18, 18),
        ["group(8,1)", "(12) is not divisible by 8"],
    ),
    (
        "cat of different shapes",
        "branching(2)[clone(2), computation[linear64], computation[identity], cat(2,1)]",
        (3, 28, 28),
        ["cat(2,1)", "shapes differ outside dimension 1"],
    ),
    (
        "matmul of incompatible shapes",
        "branching(2)[clone(2), computation[linear64], computation[identity], dot_product]",
        (3, 28, 28),
        ["dot_product", "cannot multiply"],
    ),
    (
        "branches end in different modes",
        "branching(2)[clone(2), routing[im2col(1,1,0), computation[identity], identity], computation[identity], add]",
        (3, 28, 28),
        ["different modes"],
    ),
    (
        "kernel larger than the image",
        "routing[im2col(16,16,0), computation[linear16], col2im]",
        (1, 12, 12),
        ["im2col(16,16,0)", "smaller than the kernel 16"],
    ),
    (
        "image permute on tokens",
        "routing[im2col(3,1,1), routing[permute(1,3,2), computation[identity], identity], col2im]",
        (3, 28, 28),
        ["permute(1,3,2)", "col[784, 27]"],
    ),
    (
        "conv1d on an image",
        "sequential[computation[conv1d(3,32)], computation[norm]]",
        (3, 28, 28),
        ["conv1d(3,32)", "1D image feature"],
    ),
    (
        "a whole network that is one computation",
        "computation[linear64]",
        (3, 28, 28),
        ["single computation"],
    ),
]


@pytest.mark.parametrize(("kind", "text", "shape", "needles"), INVALID, ids=[m[0] for m in INVALID])
def test_analyze_rejects_shape_invalid_trees(
    kind: str, text: str, shape: tuple[int, ...], needles: list[str]
) -> None:
    tree = parse(text)  # syntactically fine
    with pytest.raises(InvalidArchitecture) as info:
        analyze(tree, shape)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{kind}: {needle!r} not in {message!r}"
    assert info.value.reason in message


def test_invalid_architecture_names_the_node() -> None:
    tree = parse("sequential[computation[norm], routing[identity, computation[linear16], col2im]]")
    with pytest.raises(InvalidArchitecture) as info:
        analyze(tree, (3, 28, 28))
    assert info.value.path == (1, 2)
    assert str(info.value).startswith("node at path 1.2 (col2im): ")


def test_valid_hand_written_trees_analyze() -> None:
    a = analyze(CONV_BLOCK, (3, 28, 28))
    assert a.output.mode == "im"
    assert a.output.shape == (64 + 3, 28, 28)
    # linear(27 -> 64) and a 64-channel batch norm
    assert a.params == 27 * 64 + 64 + 2 * 64
    a1 = analyze(HAND_WRITTEN["conv1d"], (1, 40))
    assert a1.output.shape == (64, 40)
    assert a1.params == 1 * 3 * 64 + 64 + 2 * 64
