"""Canonical text form of einspace trees: printing, pretty printing, parsing, hashing.

Grammar of the text (whitespace between tokens is ignored)::

    module      := "sequential" "[" module "," module "]"
                 | "branching" "(" b ")" "[" terminal "," module ("," module)? "," terminal "]"
                 | "routing" "[" terminal "," module "," terminal "]"
                 | "computation" "[" terminal "]"
    terminal    := NAME ( "(" INT ("," INT)* ")" )?         e.g. add, cat(4,2), im2col(3,1,1)
                 | "linear" INT | "linear_x" INT | "linear_div" INT    e.g. linear64

For b = 2 a branching module lists two inner modules; for b = 4 and 8 it lists the ONE shared
structure that is repeated b times.  ``parse(to_text(t)) == t`` for every tree, and
``to_text`` of a parsed tree is the same string whatever the spacing of the input.
Malformed text raises :class:`ParseError` (and nothing else) naming the line, the column and
what was expected; module nesting deeper than :data:`MAX_NESTING` and integer literals longer
than :data:`MAX_INT_DIGITS` digits are refused with a ParseError as well.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from einnas.grammar.terminals import (
    FAMILY_ROLES,
    Role,
    Terminal,
    branching_factor,
    check_terminal,
    split_glued,
    terminal_text,
)
from einnas.grammar.tree import Branching, Computation, Module, Routing, Sequential

_MODULE_NAMES = ("sequential", "branching", "routing", "computation")


#: Deepest module nesting the parser accepts.  Sampled trees are at most ``Grammar.max_depth``
#: (100) modules deep; the bound keeps every recursive walk of a parsed tree (shape inference,
#: printing, compiling) far below Python's recursion limit.
MAX_NESTING = 200

#: Longest integer literal (digits) the parser converts; every real argument has a few digits.
MAX_INT_DIGITS = 18


class ParseError(ValueError):
    """Malformed architecture text; ``line`` and ``column`` are 1-based.

    Every malformed input raises this (and nothing else), so ``except ValueError`` keeps working.
    """

    def __init__(self, message: str, text: str, position: int) -> None:
        position = max(0, min(position, len(text)))
        line_start = text.rfind("\n", 0, position) + 1
        self.position = position
        self.line = text.count("\n", 0, position) + 1
        self.column = position - line_start + 1
        self.reason = message
        self.text = text
        line_end = text.find("\n", position)
        line_text = text[line_start : len(text) if line_end < 0 else line_end]
        at = position - line_start
        snippet = line_text[max(0, at - 30) : at + 30].replace("\t", " ").replace("\r", " ")
        caret = " " * (min(at, 30)) + "^"
        super().__init__(
            f"line {self.line} column {self.column}: {message}\n  {snippet}\n  {caret}"
        )


# ----------------------------------------------------------------------------------------------
# Printing


def to_text(module: Module) -> str:
    """Canonical one-line text of a tree."""
    out: list[str] = []
    _emit(module, out)
    return "".join(out)


def _emit(m: Module, out: list[str]) -> None:
    # iterative emission would be faster, but depth is bounded (<= ~100 levels)
    if isinstance(m, Sequential):
        out.append("sequential[")
        _emit(m.first, out)
        out.append(", ")
        _emit(m.second, out)
        out.append("]")
    elif isinstance(m, Branching):
        out.append(f"branching({m.factor})[{terminal_text(m.branch)}, ")
        for inner in m.inners:
            _emit(inner, out)
            out.append(", ")
        out.append(terminal_text(m.aggregate))
        out.append("]")
    elif isinstance(m, Routing):
        out.append(f"routing[{terminal_text(m.pre)}, ")
        _emit(m.inner, out)
        out.append(f", {terminal_text(m.post)}]")
    else:
        out.append(f"computation[{terminal_text(m.op)}]")


def pretty(module: Module, indent: str = "  ", width: int = 100) -> str:
    """Multi-line text: a module whose one-line form fits in ``width`` stays on one line."""
    lines: list[str] = []

    def walk(m: Module, level: int, suffix: str) -> None:
        pad = indent * level
        flat = to_text(m)
        if len(pad) + len(flat) + len(suffix) <= width or isinstance(m, Computation):
            lines.append(pad + flat + suffix)
            return
        inner_pad = indent * (level + 1)
        if isinstance(m, Sequential):
            lines.append(pad + "sequential[")
            walk(m.first, level + 1, ",")
            walk(m.second, level + 1, "")
        elif isinstance(m, Branching):
            lines.append(pad + f"branching({m.factor})[")
            lines.append(inner_pad + terminal_text(m.branch) + ",")
            for inner in m.inners:
                walk(inner, level + 1, ",")
            lines.append(inner_pad + terminal_text(m.aggregate))
        elif isinstance(m, Routing):
            lines.append(pad + "routing[")
            lines.append(inner_pad + terminal_text(m.pre) + ",")
            walk(m.inner, level + 1, ",")
            lines.append(inner_pad + terminal_text(m.post))
        lines.append(pad + "]" + suffix)

    walk(module, 0, "")
    return "\n".join(lines)


def arch_hash(module: Module) -> str:
    """Stable content hash (16 hex digits of SHA-256 of the canonical text)."""
    return text_hash(to_text(module))


def text_hash(canonical_text: str) -> str:
    return hashlib.sha256(canonical_text.encode("utf-8")).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# Parsing

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<int>-?\d+)|(?P<punct>[\[\](),])|(?P<bad>\S))"
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # name | int | punct | end
    value: str
    pos: int


def _tokenize(text: str) -> Iterator[_Tok]:
    """The tokens of ``text``, lazily: a parse that fails early does not read the rest."""
    pos = 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None:  # only trailing whitespace left
            break
        kind = m.lastgroup
        assert kind is not None
        start = m.start(kind)
        value = m.group(kind)
        if kind == "bad":
            raise ParseError(
                f"unexpected character {value!r}: expected a name, an integer or one of [ ] ( ) ,",
                text,
                start,
            )
        yield _Tok(kind, value, start)
        pos = m.end()
    yield _Tok("end", "", len(text.rstrip()) if text.strip() else 0)


def _short(value: str, limit: int = 40) -> str:
    """``value`` cut to ``limit`` characters for an error message."""
    return value if len(value) <= limit else value[:limit] + "..."


def _int_literal(value: str, text: str, pos: int) -> int:
    digits = len(value.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ParseError(
            f"integer literal of {digits} digits: at most {MAX_INT_DIGITS} digits are accepted",
            text,
            pos,
        )
    return int(value)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.toks: list[_Tok] = []
        self.i = 0
        self.depth = 0  # modules open around the current position

    def peek(self) -> _Tok:
        while self.i >= len(self.toks):  # the end token is never consumed, so this terminates
            self.toks.append(next(self.tokens))
        return self.toks[self.i]

    def fail(self, message: str, tok: _Tok | None = None) -> ParseError:
        t = tok or self.peek()
        found = "end of text" if t.kind == "end" else repr(_short(t.value))
        return ParseError(f"{message}, found {found}", self.text, t.pos)

    def integer(self, tok: _Tok) -> int:
        """The value of an integer token, refusing literals too long to be a real argument."""
        return _int_literal(tok.value, self.text, tok.pos)

    def expect(self, value: str, what: str) -> None:
        t = self.peek()
        if t.kind != "punct" or t.value != value:
            raise self.fail(f"expected {value!r} {what}")
        self.i += 1

    def parse(self) -> Module:
        if self.peek().kind == "end":
            raise ParseError(
                "empty architecture text: expected a module such as sequential[...]", self.text, 0
            )
        m = self.module("the architecture")
        if self.peek().kind != "end":
            raise self.fail("expected end of text after the complete architecture")
        return m

    def module(self, where: str) -> Module:
        t = self.peek()
        if t.kind != "name" or t.value not in _MODULE_NAMES:
            hint = ""
            if t.kind == "name" and (t.value in FAMILY_ROLES or split_glued(t.value)):
                hint = f" (wrap a bare operation as computation[{t.value}...])"
            raise self.fail(
                f"expected a module (sequential, branching, routing or computation) as {where}{hint}"
            )
        self.i += 1
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ParseError(
                f"nesting deeper than {MAX_NESTING} modules: this architecture text cannot be read",
                self.text,
                t.pos,
            )
        try:
            return self.module_body(t)
        finally:
            self.depth -= 1

    def module_body(self, t: _Tok) -> Module:
        if t.value == "sequential":
            self.expect("[", "after 'sequential'")
            first = self.module("the first child of sequential")
            self.expect(",", "between the two children of sequential")
            second = self.module("the second child of sequential")
            self.expect("]", "to close sequential (it has exactly two children)")
            return Sequential(first, second)
        if t.value == "routing":
            self.expect("[", "after 'routing'")
            pre = self.terminal(Role.PRE, "routing")
            self.expect(",", "after the pre-routing function")
            inner = self.module("the inner module of routing")
            self.expect(",", "after the inner module of routing")
            post = self.terminal(Role.POST, "routing")
            self.expect("]", "to close routing[pre, inner, post]")
            return Routing(pre, inner, post)
        if t.value == "computation":
            self.expect("[", "after 'computation'")
            op = self.terminal(Role.COMPUTE, "computation")
            self.expect("]", "to close computation[...] (it holds one operation)")
            return Computation(op)
        return self.branching(t)

    def branching(self, head: _Tok) -> Module:
        self.expect("(", "after 'branching' (write branching(b)[...])")
        b_tok = self.peek()
        if b_tok.kind != "int":
            raise self.fail("expected the branching factor 2, 4 or 8")
        b = self.integer(b_tok)
        if b not in (2, 4, 8):
            raise self.fail("expected the branching factor 2, 4 or 8", b_tok)
        self.i += 1
        self.expect(")", "after the branching factor")
        self.expect("[", "after branching(b)")
        branch_tok = self.peek()
        branch = self.terminal(Role.BRANCH, "branching")
        if branching_factor(branch) != b:
            raise ParseError(
                f"branching({b}) starts with {terminal_text(branch)}, which makes {branching_factor(branch)} branches: "
                f"expected clone({b}) or group({b},dim)",
                self.text,
                branch_tok.pos,
            )
        self.expect(",", "after the branching function")
        n_inner = 2 if b == 2 else 1
        inners: list[Module] = []
        for k in range(n_inner):
            what = (
                f"inner module {k + 1} of branching({b})"
                if b == 2
                else f"the shared inner module of branching({b})"
            )
            inners.append(self.module(what))
            self.expect(
                ",", f"after {what}" + ("" if b == 2 else " (b = 4/8 list ONE shared module)")
            )
        agg_tok = self.peek()
        agg = self.terminal(Role.AGGREGATE, "branching")
        if agg.family == "cat" and agg.args[0] != b:
            raise ParseError(
                f"{terminal_text(agg)} joins {agg.args[0]} branches but the module has {b}",
                self.text,
                agg_tok.pos,
            )
        if agg.family in ("dot_product", "scaled_dot_product") and b != 2:
            raise ParseError(
                f"{agg.family} merges exactly 2 branches, this module has {b}",
                self.text,
                agg_tok.pos,
            )
        self.expect("]", f"to close branching({b})[...]")
        return Branching(branch, tuple(inners), agg)

    def terminal(self, role: Role, module: str) -> Terminal:
        t = self.peek()
        role_name = {
            Role.BRANCH: "a branching function (clone(b), group(b,dim))",
            Role.AGGREGATE: "an aggregation function (add, cat(b,dim), dot_product, scaled_dot_product)",
            Role.PRE: "a pre-routing function (identity, permute(...), im2col(k,s,p))",
            Role.POST: "a post-routing function (identity, permute(...), col2im)",
            Role.COMPUTE: "a computation function (identity, linear<d>, norm, leakyrelu, softmax, pos_enc, ...)",
        }[role]
        if t.kind != "name":
            raise self.fail(f"expected {role_name} in {module}")
        if t.value in _MODULE_NAMES:
            raise self.fail(f"expected {role_name} in {module}, not a module")
        self.i += 1
        digits = len(t.value) - len(t.value.rstrip("0123456789"))
        if digits > MAX_INT_DIGITS:
            raise ParseError(
                f"integer literal of {digits} digits in {_short(t.value)!r}: "
                f"at most {MAX_INT_DIGITS} digits are accepted",
                self.text,
                t.pos + len(t.value) - digits,
            )
        glued = split_glued(t.value)
        if glued is not None:
            term = Terminal(*glued)
        else:
            args: list[int] = []
            if self.peek().kind == "punct" and self.peek().value == "(":
                self.i += 1
                while True:
                    a = self.peek()
                    if a.kind != "int":
                        raise self.fail(f"expected an integer argument of {_short(t.value)}")
                    args.append(self.integer(a))
                    self.i += 1
                    if self.peek().kind == "punct" and self.peek().value == ",":
                        self.i += 1
                        continue
                    self.expect(")", f"to close the arguments of {_short(t.value)}")
                    break
            term = Terminal(t.value, tuple(args))
        problem = check_terminal(term)
        if problem is not None:
            if term.family not in FAMILY_ROLES:
                problem = (
                    f"unknown operation {_short(term.family)!r}: expected {role_name} in {module}"
                )
            raise ParseError(problem, self.text, t.pos)
        if role not in FAMILY_ROLES[term.family]:
            raise ParseError(f"{terminal_text(term)} is not {role_name}", self.text, t.pos)
        return term


def parse(text: str) -> Module:
    """Parse architecture text into a tree (syntax only; shapes are checked by ``infer``)."""
    return _Parser(text).parse()
