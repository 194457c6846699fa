"""`--where`: a small row-filter language, parsed with `ast` and evaluated here against a table's columns.

The language: column names (backquoted where they are not identifiers, e.g. `` `val loss` ``), number, string and
boolean literals, comparisons (== != < <= > >=, chained), `in [...]` / `not in [...]` with literal lists, `and`,
`or`, `not` (and `&`, `|`, `~`), parentheses and arithmetic (+ - * / // % **). Nothing else is accepted: no `@`
variables, attribute access, calls, subscripts, lambdas or comprehensions. The string is never handed to
`DataFrame.query`/`eval` (which resolve `@name` to Python objects and so run arbitrary code); a refused filter is an
InputError (exit 2) raised before any file is read.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

import numpy as np

from scaling.errors import InputError

MAX_LENGTH = 2000  # a filter longer than this is refused before parsing (deep nesting costs the parser's stack)

_BOOL_OPS = {ast.And: np.logical_and, ast.Or: np.logical_or}
_BIN_OPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
            ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: np.power,
            ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or}
_COMPARE = {ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less, ast.LtE: np.less_equal,
            ast.Gt: np.greater, ast.GtE: np.greater_equal}
_BACKQUOTED = re.compile(r"`([^`]*)`")


class Filter:
    """A parsed `--where` expression: `Filter(text)` validates (InputError on anything outside the language);
    `mask(columns, path)` evaluates it on {name: list of values} and returns a bool array [rows]."""

    def __init__(self, text: str):
        self.text = text
        if len(text) > MAX_LENGTH:
            raise InputError(f"--where: longer than {MAX_LENGTH} characters")
        self._quoted: dict[str, str] = {}

        def placeholder(match: re.Match) -> str:
            name = f"_bq{len(self._quoted)}_"
            self._quoted[name] = match.group(1)
            return name

        source = _BACKQUOTED.sub(placeholder, text)
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise InputError(f"--where {text!r}: not a filter expression (columns, literals, comparisons, "
                             "and/or/not, in [...], arithmetic)") from None
        for node in ast.walk(tree):
            _check_node(node, text)
        self._tree = tree.body
        self.names = sorted({self._quoted.get(n.id, n.id) for n in ast.walk(tree) if isinstance(n, ast.Name)})

    def mask(self, columns: dict[str, list[Any]], path: str = "") -> np.ndarray:
        missing = [name for name in self.names if name not in columns]
        if missing:
            raise InputError(f"{_at(path)}--where {self.text!r}: column {missing[0]!r} not found "
                             f"(columns: {', '.join(columns)})")
        rows = len(next(iter(columns.values()), []))
        arrays = {name: _as_array(columns[name]) for name in self.names}
        try:
            with np.errstate(all="ignore"):
                value = self._eval(self._tree, arrays)
        except (TypeError, ValueError) as error:  # e.g. a string column minus a number
            raise InputError(f"{_at(path)}--where {self.text!r}: cannot evaluate ({error})".splitlines()[0]) from None
        value = np.asarray(value)
        if value.dtype != bool:
            raise InputError(f"{_at(path)}--where {self.text!r}: the expression is not a condition (true/false per row)")
        return np.broadcast_to(value, (rows,)).copy()

    def _eval(self, node: ast.AST, arrays: dict[str, np.ndarray]):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return arrays[self._quoted.get(node.id, node.id)]
        if isinstance(node, ast.BoolOp):
            values = [np.asarray(self._eval(v, arrays), dtype=bool) for v in node.values]
            out = values[0]
            for value in values[1:]:
                out = _BOOL_OPS[type(node.op)](out, value)
            return out
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand, arrays)
            if isinstance(node.op, (ast.Not, ast.Invert)):
                return np.logical_not(np.asarray(operand, dtype=bool))
            return np.negative(operand) if isinstance(node.op, ast.USub) else np.positive(operand)
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, arrays), self._eval(node.right, arrays)
            if _is_text(left) or _is_text(right):
                raise TypeError("arithmetic needs numbers, not text")
            return _BIN_OPS[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            out = True
            left = self._eval(node.left, arrays)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, arrays)
                out = np.logical_and(out, _compare(op, left, right))
                left = right
            return out
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._eval(item, arrays) for item in node.elts]
        raise InputError(f"--where {self.text!r}: {type(node).__name__} is not allowed")  # unreachable after _check


_ALLOWED = (ast.Expression, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Compare, ast.Name, ast.Constant, ast.List,
            ast.Tuple, ast.Load, ast.And, ast.Or, ast.Not, ast.Invert, ast.USub, ast.UAdd, ast.In, ast.NotIn,
            *_BIN_OPS, *_COMPARE)


def _check_node(node: ast.AST, text: str) -> None:
    if not isinstance(node, _ALLOWED):
        what = {ast.Attribute: "attribute access", ast.Call: "a call", ast.Subscript: "a subscript",
                ast.Lambda: "a lambda"}.get(type(node), type(node).__name__)
        raise InputError(f"--where {text!r}: {what} is not allowed (only columns, literals, comparisons, "
                         "and/or/not, in [...], arithmetic)")
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool)):
        raise InputError(f"--where {text!r}: literal {node.value!r} is not allowed")
    if isinstance(node, ast.Compare):
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)) != isinstance(right, (ast.List, ast.Tuple)):
                raise InputError(f"--where {text!r}: `in` takes a literal list, e.g. arch in ['a', 'b']")
    if isinstance(node, (ast.List, ast.Tuple)):
        for item in node.elts:
            if not (isinstance(item, ast.Constant) or
                    isinstance(item, ast.UnaryOp) and isinstance(item.operand, ast.Constant)):
                raise InputError(f"--where {text!r}: a list may hold only literals")


def _at(path: str) -> str:
    return f"{path}: " if path else ""


def _compare(op: ast.cmpop, left, right) -> np.ndarray:
    if isinstance(op, (ast.In, ast.NotIn)):
        inside = np.zeros(np.shape(left), dtype=bool)
        for item in right:
            inside |= _equal(left, item)
        return ~inside if isinstance(op, ast.NotIn) else inside
    if isinstance(op, ast.Eq):
        return _equal(left, right)
    if isinstance(op, ast.NotEq):
        return ~_equal(left, right)
    if _is_text(left) != _is_text(right):
        raise TypeError("< <= > >= compare numbers with numbers or text with text")
    return _COMPARE[type(op)](left, right)


def _equal(left, right) -> np.ndarray:
    """Elementwise ==; a text and a number are simply unequal (no error), as in pandas."""
    if _is_text(left) != _is_text(right):
        return np.zeros(np.broadcast_shapes(np.shape(left), np.shape(right)), dtype=bool)
    return np.asarray(np.equal(left, right), dtype=bool)


def _is_text(value) -> bool:
    return isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype.kind in "OUS")


def _as_array(values: list[Any]) -> np.ndarray:
    """A column as floats where every value is a number or missing (an empty CSV cell or None: NaN, which no
    comparison keeps), bools as bools, else as text. A collected table leaves a metric empty where a cell has none."""
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.array(values, dtype=bool)
    try:
        return np.array([math.nan if v is None or v == "" else float(v) for v in values], dtype=float)
    except (TypeError, ValueError):
        return np.array(["" if v is None else str(v) for v in values], dtype=str)
