"""``$(eval EXPR)``: the safe subset of ros2 launch's Python-expression substitution.

ros2 launch evaluates ``$(eval ...)`` with Python's ``eval``. grounded-launch
accepts only expressions made of literals (numbers, strings, ``True``/``False``/
``None``), comparisons (``== != < <= > >= in not in``), boolean operators
(``and or not``), unary ``+ -``, arithmetic (``+ - * / // % **``, with small
exponents), parentheses and ``math.<name>`` constants and functions such as
``math.ceil``; anything else (names, attribute access beyond ``math``, calls of
anything but ``math`` functions, comprehensions, lambdas...) is an error naming
the expression. The result is written like Python's ``str()`` (``True``,
``3``, ``0.5``), as ros2 launch does, so ``if: $(eval '$(var n) > 1')``
works with both launchers.
"""

from __future__ import annotations

import ast
import math
import operator

from .errors import SubstitutionError

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_MAX_EXPONENT = 64


def _math_member(node: ast.AST):
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "math"
        and not node.attr.startswith("_")
        and hasattr(math, node.attr)
    ):
        return getattr(math, node.attr)
    raise ValueError(f"'{ast.unparse(node)}' is not allowed")


def _eval(node: ast.AST):
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float, str, bool, type(None))
    ):
        return node.value
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            value = True
            for item in node.values:
                value = _eval(item)
                if not value:
                    return value
            return value
        value = False
        for item in node.values:
            value = _eval(item)
            if value:
                return value
        return value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponent {right} is too large")
        if isinstance(node.op, ast.Mult) and (isinstance(left, str) or isinstance(right, str)):
            raise ValueError("repeating strings is not allowed")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _eval(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise ValueError(f"comparison '{type(op).__name__}' is not allowed")
            right = _eval(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Tuple):
        return tuple(_eval(item) for item in node.elts)
    if isinstance(node, ast.Attribute):
        return _math_member(node)
    if isinstance(node, ast.Call) and not node.keywords:
        function = _math_member(node.func)
        if not callable(function):
            raise ValueError(f"'{ast.unparse(node.func)}' is not a function")
        return function(*[_eval(arg) for arg in node.args])
    raise ValueError(f"'{ast.unparse(node)}' is not allowed")


def safe_eval(expression: str) -> str:
    """Evaluate ``expression`` (see the module docstring) and return ``str(result)``."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise SubstitutionError(f"$(eval): invalid expression {expression!r}: {exc.msg}") from exc
    try:
        return str(_eval(tree))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise SubstitutionError(
            f"$(eval) cannot evaluate {expression!r}: {exc} (grounded-launch evaluates literals, "
            "comparisons, and/or/not, arithmetic and math.* only)"
        ) from exc
