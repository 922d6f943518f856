"""The parser on hostile input: every malformed text raises ParseError (with a line and a column)
and nothing else, quickly.

Regressions first (deep nesting used to raise RecursionError, a 4,301-digit integer a plain
ValueError), then hypothesis fuzzing of the *kind* of fault: arbitrary text, and valid texts
truncated, with characters or tokens inserted or deleted, wrapped in deep nesting or given huge
integers.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einnas.grammar import (
    Grammar,
    InvalidArchitecture,
    Module,
    ParseError,
    analyze,
    input_feature,
    parse,
    pretty,
    sample_tree,
    to_text,
)
from einnas.grammar.text import MAX_INT_DIGITS, MAX_NESTING
from einnas.seeds import seed_text

LEAF = "computation[identity]"


def nested(depth: int, kind: str = "sequential") -> str:
    """A valid text ``depth`` modules deep (the innermost computation included)."""
    text = LEAF
    for _ in range(depth - 1):
        if kind == "sequential":
            text = f"sequential[{text}, {LEAF}]"
        elif kind == "branching":
            text = f"branching(2)[clone(2), {text}, {LEAF}, add]"
        else:
            text = f"routing[identity, {text}, identity]"
    return text


# ---------------------------------------------------------------------------------------------
# Regressions


def test_nesting_of_990_levels_is_a_parse_error_not_a_recursion_error() -> None:
    text = "sequential[" * 990 + LEAF + f", {LEAF}]" * 990
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert f"nesting deeper than {MAX_NESTING}" in err.reason
    assert err.line == 1 and err.column == len("sequential[") * MAX_NESTING + 1


@pytest.mark.parametrize("kind", ["sequential", "branching", "routing"])
def test_nesting_at_the_limit_parses_and_every_walk_survives(kind: str) -> None:
    text = nested(MAX_NESTING, kind)

    def below(frames: int) -> Module:  # leave room for a deep caller stack
        return below(frames - 1) if frames else parse(text)

    tree = below(150)
    assert parse(to_text(tree)) == tree and parse(pretty(tree)) == tree
    assert analyze(tree, (1, 40)).depth == MAX_NESTING
    with pytest.raises(ParseError, match="nesting deeper than"):
        parse(nested(MAX_NESTING + 1, kind))


def test_integer_of_4301_digits_is_a_parse_error() -> None:
    big = "9" * 4301
    for text, column in (
        (f"routing[im2col(3,1,{big}), {LEAF}, col2im]", len("routing[im2col(3,1,") + 1),
        (f"branching({big})[clone(2), {LEAF}, {LEAF}, add]", len("branching(") + 1),
        (f"sequential[computation[linear{big}], {LEAF}]", len("sequential[computation[linear") + 1),
        (
            f"sequential[computation[linear_x{big}], {LEAF}]",
            len("sequential[computation[linear_x") + 1,
        ),
    ):
        with pytest.raises(ParseError) as info:
            parse(text)
        assert f"at most {MAX_INT_DIGITS} digits" in info.value.reason
        assert info.value.column == column
        assert len(str(info.value)) < 500  # the message does not repeat the literal


def test_longest_accepted_integer_round_trips() -> None:
    n = "9" * MAX_INT_DIGITS
    tree = parse(f"sequential[computation[linear{n}], {LEAF}]")
    assert to_text(tree) == f"sequential[computation[linear{n}], {LEAF}]"


def test_parse_error_names_line_and_column_of_multi_line_text() -> None:
    text = "sequential[\n  computation[norm],\n  computation[relu]\n]"
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert (err.line, err.column) == (3, 15)
    assert str(err).startswith("line 3 column 15: unknown operation 'relu'")
    lines = str(err).splitlines()
    assert lines[1].strip() == "computation[relu]"
    assert lines[2].index("^") == lines[1].index("relu")


def test_huge_unknown_name_gives_a_short_message() -> None:
    with pytest.raises(ParseError) as info:
        parse(f"sequential[computation[{'x' * 100_000}], {LEAF}]")
    assert len(str(info.value)) < 500


# ---------------------------------------------------------------------------------------------
# Fuzzing: only ParseError, never slow


def _valid_texts() -> list[str]:
    texts = [seed_text(name) for name in ("resnet18", "vit", "cnn1d")]
    for shape in ((3, 28, 28), (1, 40)):
        grammar = Grammar.for_input(shape)
        rng = np.random.default_rng(0)
        texts += [to_text(sample_tree(grammar, input_feature(shape), rng)) for _ in range(8)]
    texts.append(pretty(parse(texts[0])))  # multi-line
    return texts


VALID = _valid_texts()
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOKENS = st.sampled_from(
    [
        "[",
        "]",
        "(",
        ")",
        ",",
        " ",
        "\n",
        "-",
        "-1",
        "0",
        "2",
        "4",
        "8",
        "9" * 5000,
        "sequential",
        "branching",
        "routing",
        "computation",
        "clone",
        "group",
        "cat",
        "add",
        "im2col",
        "col2im",
        "permute",
        "linear",
        "linear64",
        "linear" + "7" * 40,
        "identity",
        "dot_product",
        "\x00",
        "\u00e9",
        "\ufffd",
        "#",
    ]
)


def _parse_only_parse_error(text: str) -> None:
    """``parse(text)`` returns a tree or raises ParseError with a position inside the text; fast."""
    start = time.perf_counter()
    try:
        tree = parse(text)
    except ParseError as e:
        assert e.line >= 1 and e.column >= 1
        assert e.line == text.count("\n", 0, e.position) + 1
        assert 0 <= e.position <= len(text)
    else:
        assert parse(to_text(tree)) == tree
        with contextlib.suppress(InvalidArchitecture):  # no recursion error, whatever the tree
            analyze(tree, (3, 28, 28))
    assert time.perf_counter() - start < 5.0


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text_raises_only_parse_error(text: str) -> None:
    _parse_only_parse_error(text)


@FUZZ
@given(st.lists(TOKENS, max_size=60))
def test_token_soup_raises_only_parse_error(tokens: list[str]) -> None:
    _parse_only_parse_error("".join(tokens))


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_texts_raise_only_parse_error(text: str, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["truncate", "insert", "delete", "replace", "nest", "int"]))
    i = data.draw(st.integers(0, len(text)))
    if kind == "truncate":
        mutated = text[:i]
    elif kind == "insert":
        mutated = text[:i] + data.draw(st.one_of(TOKENS, st.text(max_size=3))) + text[i:]
    elif kind == "delete":
        mutated = text[:i] + text[i + data.draw(st.integers(1, 20)) :]
    elif kind == "replace":
        mutated = text[:i] + data.draw(TOKENS) + text[i + 1 :]
    elif kind == "nest":
        n = data.draw(st.integers(1, 1500))
        mutated = "sequential[" * n + text + f", {LEAF}]" * data.draw(st.integers(0, n))
    else:
        digits = data.draw(st.integers(1, 5000))
        mutated = text[:i] + "1" * digits + text[i:]
    _parse_only_parse_error(mutated)
