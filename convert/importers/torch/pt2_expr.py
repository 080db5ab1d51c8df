"""Symbolic-shape expressions of a ``.pt2`` file, parsed without evaluating anything.

torch writes a SymInt's expression as ``expr_str``: sympy's ``srepr`` since torch 2.9
(``Mul(Integer(2), Symbol('s77', positive=True, integer=True))``), plain ``str`` before
(``2*s77``). torch itself hands that string to sympy, which evaluates Python; here a small
grammar accepts only symbols, integers, + - * //, ** by an integer, and the functions in
``_FUNCS``; anything else is refused with the text quoted. The result is printed the way
sympy's ``str`` prints it, which is what the torch-based reader shows as a dimension.
"""
from __future__ import annotations

import re
from typing import Union

MAX_EXPR_CHARS = 4096  # a real shape expression is tens of characters
MAX_EXPR_DEPTH = 64
MAX_INT_DIGITS = 20  # beyond int64: no real shape, and no quadratic int parsing

# srepr spellings (torch's own sympy functions included) -> node kind
_FUNCS = {"Add": "add", "Mul": "mul", "Pow": "pow", "FloorDiv": "floordiv", "CleanDiv": "floordiv",
          "Mod": "mod", "PythonMod": "mod", "Max": "max", "Min": "min"}
_CONSTS = {"Zero": 0, "One": 1, "NegativeOne": -1}
# Symbol(...) keyword assumptions torch writes; values must be True/False.
_ASSUMPTIONS = {"integer", "positive", "nonnegative", "negative", "nonpositive", "real", "finite", "zero",
                "nonzero", "even", "odd"}
_TOKEN = re.compile(r"\s*(?:(?P<int>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>'[A-Za-z_][A-Za-z0-9_]*')"
                    r"|(?P<op>//|\*\*|[-+*(),=]))")

Expr = Union[tuple, int]


class ExprError(ValueError):
    """The expression uses something outside the grammar."""


def parse(text: str) -> Expr:
    """The expression tree of ``text``: ``("sym", name)``, an int, ``(kind, [args])``."""
    if not isinstance(text, str) or len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression of {len(text) if isinstance(text, str) else 'non-string'} "
                        f"characters (limit {MAX_EXPR_CHARS})")
    p = _Parser(text)
    tree = p.expr(0)
    if p.peek() is not None:
        raise ExprError(f"unexpected {p.peek()[1]!r} in {text[:80]!r}")
    return tree


def is_symbol_name(text: str) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", text) is not None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = self._lex(text)
        self.i = 0

    @staticmethod
    def _lex(text: str) -> list[tuple[str, str]]:
        out, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ExprError(f"character {text[pos]!r} at {pos} is outside the expression grammar "
                                f"in {text[:80]!r}")
            kind = m.lastgroup
            out.append((kind, m.group(kind)))
            pos = m.end()
        return out

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None):
        t = self.peek()
        if t is None or (value is not None and t[1] != value) or (kind is not None and t[0] != kind):
            want = value or kind
            raise ExprError(f"expected {want!r}, found {t[1] if t else 'the end'!r} in {self.text[:80]!r}")
        self.i += 1
        return t

    def _depth(self, depth: int) -> int:
        if depth > MAX_EXPR_DEPTH:
            raise ExprError(f"expression nests deeper than {MAX_EXPR_DEPTH} levels")
        return depth + 1

    # infix: sum := term (('+'|'-') term)* ; term := unary (('*'|'//') unary)* ; unary := '-' unary | pow
    def expr(self, depth: int) -> Expr:
        depth = self._depth(depth)
        terms = [self.term(depth)]
        while self.peek() and self.peek()[1] in "+-" and self.peek()[0] == "op":
            sign = self.take()[1]
            t = self.term(depth)
            terms.append(t if sign == "+" else _neg(t))
        return terms[0] if len(terms) == 1 else ("add", terms)

    def term(self, depth: int) -> Expr:
        left = self.unary(depth)
        while self.peek() and self.peek()[1] in ("*", "//"):
            op = self.take()[1]
            right = self.unary(depth)
            left = ("mul", [left, right]) if op == "*" else ("floordiv", [left, right])
        return left

    def unary(self, depth: int) -> Expr:
        if self.peek() and self.peek()[1] == "-":
            self.take()
            return _neg(self.unary(self._depth(depth)))
        base = self.atom(depth)
        if self.peek() and self.peek()[1] == "**":
            self.take()
            exp = self.unary(self._depth(depth))
            if not isinstance(exp, int):
                raise ExprError(f"non-integer power in {self.text[:80]!r}")
            return ("pow", [base, exp])
        return base

    def atom(self, depth: int) -> Expr:
        t = self.take()
        if t[0] == "int":
            return _int(t[1])
        if t[1] == "(":
            e = self.expr(depth)
            self.take(")")
            return e
        if t[0] != "name":
            raise ExprError(f"unexpected {t[1]!r} in {self.text[:80]!r}")
        name = t[1]
        if not (self.peek() and self.peek()[1] == "("):
            if name in _FUNCS or name in ("Symbol", "Integer"):
                raise ExprError(f"{name} without arguments in {self.text[:80]!r}")
            return ("sym", name)
        self.take("(")
        if name == "Symbol":
            return self._symbol()
        if name == "Integer":
            neg = self.peek() and self.peek()[1] == "-"
            if neg:
                self.take()
            value = _int(self.take(kind="int")[1])
            self.take(")")
            return -value if neg else value
        if name in _CONSTS:
            self.take(")")
            return _CONSTS[name]
        if name not in _FUNCS:
            raise ExprError(f"function {name!r} is outside the expression grammar in {self.text[:80]!r}")
        args = [self.expr(depth)]
        while self.peek() and self.peek()[1] == ",":
            self.take()
            args.append(self.expr(depth))
        self.take(")")
        kind = _FUNCS[name]
        if kind in ("pow", "floordiv", "mod") and len(args) != 2:
            raise ExprError(f"{name} takes 2 arguments in {self.text[:80]!r}")
        if kind == "pow" and not isinstance(args[1], int):
            raise ExprError(f"non-integer power in {self.text[:80]!r}")
        return (kind, args)

    def _symbol(self) -> Expr:
        name = self.take(kind="str")[1][1:-1]
        while self.peek() and self.peek()[1] == ",":
            self.take()
            key = self.take(kind="name")[1]
            self.take("=")
            value = self.take(kind="name")[1]
            if key not in _ASSUMPTIONS or value not in ("True", "False"):
                raise ExprError(f"Symbol assumption {key}={value} is outside the grammar")
        self.take(")")
        return ("sym", name)


def _neg(t: Expr) -> Expr:
    return -t if isinstance(t, int) else ("mul", [-1, t])


def _int(digits: str) -> int:
    if len(digits) > MAX_INT_DIGITS:
        raise ExprError(f"integer of {len(digits)} digits in a shape expression")
    return int(digits)


def dim_text(text: str) -> str:
    """The dimension as the torch-based reader shows it: an ``srepr`` expression is
    printed like sympy's ``str``; a plain one (older torch wrote ``str``) is kept."""
    tree = parse(text)
    return to_str(tree) if re.search(r"\b(Symbol|Integer)\(", text) else text.strip()


def symbols(tree: Expr) -> set[str]:
    if isinstance(tree, int):
        return set()
    if tree[0] == "sym":
        return {tree[1]}
    return set().union(*(symbols(a) for a in tree[1]))


# -- printing as sympy's str() does for these forms -------------------------------
def to_str(tree: Expr) -> str:
    if isinstance(tree, int):
        return str(tree)
    kind = tree[0]
    if kind == "sym":
        return tree[1]
    args = tree[1]
    if kind == "add":
        return _add(args)
    if kind == "mul":
        return _mul(args)
    if kind == "pow":
        return f"{_paren(args[0])}**{args[1]}"
    if kind == "floordiv":  # torch's FloorDiv prints as ((a)//(b)) with atoms bare
        return f"(({to_str(args[0])})//({to_str(args[1])}))" if not all(_atomic(a) for a in args) \
            else f"({to_str(args[0])}//{to_str(args[1])})"
    return f"{_NAMES[kind]}({', '.join(to_str(a) for a in args)})"


_NAMES = {"mod": "Mod", "max": "Max", "min": "Min"}


def _atomic(t: Expr) -> bool:
    return isinstance(t, int) and t >= 0 or (isinstance(t, tuple) and t[0] == "sym")


def _paren(t: Expr) -> str:
    return to_str(t) if _atomic(t) else f"({to_str(t)})"


def _flatten(kind: str, args: list) -> list:
    out = []
    for a in args:
        out.extend(_flatten(kind, a[1]) if isinstance(a, tuple) and a[0] == kind else [a])
    return out


def _mul(args: list) -> str:
    factors = _flatten("mul", args)
    coeff = 1
    rest = []
    for f in factors:
        if isinstance(f, int):
            coeff *= f
        else:
            rest.append(f)
    if not rest:
        return str(coeff)
    body = "*".join(_paren(f) if isinstance(f, tuple) and f[0] == "add" else to_str(f)
                    for f in sorted(rest, key=to_str))
    if coeff == 1:
        return body
    if coeff == -1:
        return f"-{body}"
    return f"{coeff}*{body}"


def _add(args: list) -> str:
    terms = _flatten("add", args)
    const = sum(t for t in terms if isinstance(t, int))
    rest = sorted((t for t in terms if not isinstance(t, int)), key=lambda t: to_str(t).lstrip("-"))
    parts = [to_str(t) for t in rest] + ([str(const)] if const or not rest else [])
    text = parts[0]
    for p in parts[1:]:
        text += f" - {p[1:]}" if p.startswith("-") else f" + {p}"
    return text


# -- guard code ------------------------------------------------------------------
# torch.export records input-size relations as Python source (``guards_code``) and
# compiles it into a check when the program's module is built. Accepted: comparisons,
# ``and``/``or``/``not`` and integer arithmetic over sizes and strides of the inputs,
# e.g. ``((4*L['y'].size()[0] + 4*L['x'].size()[0]) % (2*L['x'].size()[0])) == 0``.
_GUARD_TOKEN = re.compile(r"\s*(?:(?P<int>\d+)|(?P<word>and|or|not)\b|(?P<input>L(?:\[(?:'[A-Za-z_]\w*'|\d+)\])+)"
                          r"|(?P<attr>\.(?:size|stride)\(\)\[\d+\]|\.(?:dim|storage_offset)\(\))"
                          r"|(?P<op>==|!=|<=|>=|//|\*\*|[-+*%<>()]))")


def parse_guard(text: str) -> None:
    """Raise ExprError unless ``text`` is a size relation in the guard grammar."""
    if not isinstance(text, str) or len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"guard of {len(text) if isinstance(text, str) else 'non-string'} characters")
    tokens, pos = [], 0
    while text[pos:].strip():
        m = _GUARD_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"character {text[pos]!r} at {pos} is outside the guard grammar in {text[:80]!r}")
        tokens.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    # Shape check: operands and operators alternate, brackets balance, attributes follow inputs.
    depth, want_operand, prev = 0, True, None
    for kind, tok in tokens:
        if kind == "attr":
            if prev != "input":
                raise ExprError(f"{tok!r} not after an input in {text[:80]!r}")
        elif tok == "(" or (want_operand and (tok == "not" or tok == "-")):
            depth += tok == "("
            if depth > MAX_EXPR_DEPTH:
                raise ExprError(f"guard nests deeper than {MAX_EXPR_DEPTH} levels")
            if not want_operand:
                raise ExprError(f"unexpected {tok!r} in {text[:80]!r}")
        elif tok == ")":
            depth -= 1
            if depth < 0 or want_operand:
                raise ExprError(f"unbalanced ')' in {text[:80]!r}")
        elif kind in ("int", "input"):
            if not want_operand:
                raise ExprError(f"two operands in a row in {text[:80]!r}")
            if kind == "int" and len(tok) > MAX_INT_DIGITS:
                raise ExprError(f"integer of {len(tok)} digits in a guard")
            want_operand = False
        else:  # a binary operator or and/or
            if want_operand:
                raise ExprError(f"unexpected {tok!r} in {text[:80]!r}")
            want_operand = True
        prev = kind
    if depth or want_operand:
        raise ExprError(f"incomplete guard {text[:80]!r}")


def evaluate(tree: Expr, values: dict[str, int]) -> int | None:
    """The integer value of ``tree`` with symbols from ``values``; None while a symbol is
    unknown (a pinned ``--input-shape`` size substituted into a dimension)."""
    if isinstance(tree, int):
        return tree
    if tree[0] == "sym":
        return values.get(tree[1])
    args = [evaluate(a, values) for a in tree[1]]
    if any(a is None for a in args):
        return None
    kind = tree[0]
    if kind == "add":
        return sum(args)
    if kind == "mul":
        out = 1
        for a in args:
            out *= a
        return out
    if kind == "pow":
        return args[0] ** args[1] if 0 <= args[1] <= 64 else None
    if kind in ("floordiv", "mod"):
        if args[1] == 0:
            return None
        return args[0] // args[1] if kind == "floordiv" else args[0] % args[1]
    return max(args) if kind == "max" else min(args)
