"""ABAC conditions: plain data (from YAML / JSON) type-checked at load and compiled to closures.

Grammar (one operator key per node; no eval, no exec):

    {"all": [cond, ...]}   {"any": [cond, ...]}   {"not": cond}
    {"eq" | "ne": [a, b]}                          scalars of the same kind (1 != "1", True != 1)
    {"lt" | "le" | "gt" | "ge": [a, b]}            two numbers or two strings, else error
    {"in": [needle, haystack]}                     haystack: a literal list or a list-valued path
    {"contains": [haystack, needle]}               the same, operands the other way round
    {"intersects": [collection, collection]}       e.g. ["subject.groups", "resource.groups"]
    {"exists": path}                               the only operator that is false (not error) on a
                                                   missing attribute
    {"time_between": [time, "09:00", "17:00"], "tz": "Europe/Paris", "weekdays": [1, 2, 3, 4, 5]}
                                                   start <= local time < end; start > end wraps past
                                                   midnight; weekdays are ISO (1 = Monday); the time
                                                   is an aware datetime or epoch seconds supplied by
                                                   the caller (``context.time``), never the clock
    {"ip_in": [ip, ["10.0.0.0/8", "2001:db8::/32"]]}

Operands: a string rooted at ``subject.``, ``resource.``, ``context.`` or bare ``action`` is an
attribute path (see ``attributes``); any other JSON value is a literal; ``{"literal": "subject.x"}``
forces a literal. Lists inside operands are literals.

Evaluation semantics: a compiled condition returns True/False or raises. The engine treats a raise —
a missing attribute, a type mismatch, anything — as "error", and an error never allows (SEC-59).
Errors propagate through ``not``, ``all`` and ``any`` (``not`` of an error is an error, not True).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ostiary.policy import operators as ops
from ostiary.policy.attributes import Env
from ostiary.policy.errors import PolicyError, child
from ostiary.policy.operators import Test


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition and the data it came from (shown by ``explain``)."""

    source: object = field(compare=False)
    test: Test = field(compare=False, repr=False)

    def __call__(self, env: Env) -> bool:
        return self.test(env)


def parse_condition(data: object, path: str = "when") -> Condition:
    """Parse and compile; any defect raises ``PolicyError`` naming the path of the bad key."""
    return Condition(data, _node(data, path))


def _all(data: Mapping[str, Any], op: str, path: str) -> Test:
    raw = data[op]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"'{op}' takes a non-empty list of conditions", path=child(path, op))
    tests = tuple(_node(c, child(child(path, op), i)) for i, c in enumerate(raw))
    if op == "all":
        return lambda env: all(t(env) for t in tests)
    return lambda env: any(t(env) for t in tests)


def _not(data: Mapping[str, Any], op: str, path: str) -> Test:
    inner = _node(data[op], child(path, op))
    return lambda env: not inner(env)


_OPERATORS: dict[str, Callable[[Mapping[str, Any], str, str], Test]] = {
    "all": _all, "any": _all, "not": _not,
    "eq": ops.compile_eq, "ne": ops.compile_eq,
    "lt": ops.compile_compare, "le": ops.compile_compare,
    "gt": ops.compile_compare, "ge": ops.compile_compare,
    "in": ops.compile_membership, "contains": ops.compile_membership,
    "intersects": ops.compile_intersects, "exists": ops.compile_exists,
    "time_between": ops.compile_time_between, "ip_in": ops.compile_ip_in,
}  # fmt: skip
_EXTRA_KEYS = {"time_between": frozenset({"tz", "weekdays"})}


def _node(data: object, path: str) -> Test:
    if not isinstance(data, dict) or not data:
        raise PolicyError("a condition is an object with one operator key", path=path)
    found = [k for k in data if k in _OPERATORS]
    if len(found) != 1:
        bad = next((k for k in data if k not in _OPERATORS), None)
        what = f"unknown operator {bad!r}" if not found and bad else "exactly one operator per condition"
        raise PolicyError(what, path=child(path, str(bad)) if bad and not found else path)
    op = found[0]
    for key in data:
        if key != op and key not in _EXTRA_KEYS.get(op, ()):
            raise PolicyError(f"unexpected key {key!r} for '{op}'", path=child(path, str(key)))
    return _OPERATORS[op](data, op, path)
