"""Leaf operators of ABAC conditions (``eq``, ``lt``, ``in``, ``time_between``, ``ip_in``, …).

Each ``compile_*`` function type-checks its operands at load (raising ``PolicyError`` with the path) and
returns a closure over precomputed values. The grammar and its semantics are in ``conditions``.
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ostiary.policy.attributes import Env, Getter, MissingAttribute, compile_path, is_path
from ostiary.policy.errors import PolicyError, child

Test = Callable[[Env], bool]


@dataclass(frozen=True, slots=True)
class Operand:
    get: Getter
    literal: bool
    value: object = None


_SCALARS = (str, int, float, bool)


def operand(raw: object, path: str) -> Operand:
    if isinstance(raw, dict):
        if set(raw) != {"literal"}:
            raise PolicyError("an operand is a path, a literal or {'literal': value}", path=path)
        raw = raw["literal"]
    elif isinstance(raw, str) and is_path(raw):
        return Operand(compile_path(raw, path), literal=False)
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            if not isinstance(item, _SCALARS):
                raise PolicyError("list literals hold strings, numbers or booleans", path=child(path, i))
        value: object = tuple(raw)
    elif isinstance(raw, _SCALARS):
        value = raw
    else:
        raise PolicyError(f"unsupported literal {raw!r} (use 'exists' to test for absence)", path=path)
    return Operand(lambda env: value, literal=True, value=value)


def _kind(value: object) -> str:
    t = type(value)
    if t is int or t is float:
        return "number"
    if t is str:
        return "string"
    if t is bool:
        return "bool"
    if t in (list, tuple, set, frozenset):
        return "collection"
    return t.__name__


def _collection(value: object) -> Any:
    if type(value) not in (list, tuple, set, frozenset):
        raise TypeError(f"expected a collection, got {type(value).__name__}")
    return value


def _args(data: Mapping[str, Any], op: str, path: str, n: int) -> list[Operand]:
    raw = data[op]
    if not isinstance(raw, list) or len(raw) != n:
        raise PolicyError(f"'{op}' takes a list of {n} operands", path=child(path, op))
    return [operand(x, child(child(path, op), i)) for i, x in enumerate(raw)]


# -- operators --------------------------------------------------------------------------------------


def compile_eq(data: Mapping[str, Any], op: str, path: str) -> Test:
    a, b = (o.get for o in _args(data, op, path, 2))

    def eq(env: Env) -> bool:
        x, y = a(env), b(env)
        return x == y and (type(x) is type(y) or _kind(x) == _kind(y))

    if op == "eq":
        return eq
    return lambda env: not eq(env)


_ORDERABLE = (int, float, str)
_ORDER = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


def compile_compare(data: Mapping[str, Any], op: str, path: str) -> Test:
    ops = _args(data, op, path, 2)
    kinds = {_kind(o.value) for o in ops if o.literal}
    if not kinds <= {"number", "string"} or len(kinds) > 1:
        raise PolicyError(f"'{op}' compares two numbers or two strings", path=child(path, op))
    a, b, cmp = ops[0].get, ops[1].get, _ORDER[op]

    def test(env: Env) -> bool:
        x, y = a(env), b(env)
        tx = type(x)
        if not (tx is type(y) and tx in _ORDERABLE):
            kx = _kind(x)
            if kx != _kind(y) or kx not in ("number", "string"):
                raise TypeError(f"cannot order {tx.__name__} and {type(y).__name__}")
        return bool(cmp(x, y))

    return test


def compile_membership(data: Mapping[str, Any], op: str, path: str) -> Test:
    ops = _args(data, op, path, 2)
    needle, hay = (ops[0], ops[1]) if op == "in" else (ops[1], ops[0])
    if needle.literal and _kind(needle.value) not in ("number", "string", "bool"):
        raise PolicyError(f"'{op}' needs a scalar to look for", path=child(path, op))
    if hay.literal:
        if not isinstance(hay.value, tuple):
            raise PolicyError(f"'{op}' needs a list to look in", path=child(path, op))
        items = frozenset((v, _kind(v)) for v in hay.value)
        get = needle.get
        return lambda env: ((x := get(env)), _kind(x)) in items
    nget, hget = needle.get, hay.get

    def test(env: Env) -> bool:
        x = nget(env)
        return any(x == v and _kind(x) == _kind(v) for v in _collection(hget(env)))

    return test


def compile_intersects(data: Mapping[str, Any], op: str, path: str) -> Test:
    a, b = _args(data, op, path, 2)
    for o in (a, b):
        if o.literal and not isinstance(o.value, tuple):
            raise PolicyError("'intersects' needs two lists", path=child(path, op))
    ga, gb = a.get, b.get
    return lambda env: not frozenset(_collection(ga(env))).isdisjoint(_collection(gb(env)))


def compile_exists(data: Mapping[str, Any], op: str, path: str) -> Test:
    raw = data[op]
    if not isinstance(raw, str) or not is_path(raw):
        raise PolicyError("'exists' takes one attribute path", path=child(path, op))
    get = compile_path(raw, child(path, op))

    def test(env: Env) -> bool:
        try:
            get(env)
        except MissingAttribute:
            return False
        return True

    return test


def _clock_time(raw: object, path: str) -> int:
    try:
        t = time.fromisoformat(raw) if isinstance(raw, str) and len(raw) in (5, 8) else None
    except ValueError:
        t = None
    if t is None:
        raise PolicyError(f"expected a time 'HH:MM' or 'HH:MM:SS', got {raw!r}", path=path)
    return t.hour * 3600 + t.minute * 60 + t.second


def compile_time_between(data: Mapping[str, Any], op: str, path: str) -> Test:
    raw = data[op]
    if not isinstance(raw, list) or len(raw) != 3:
        raise PolicyError("'time_between' takes [time, 'HH:MM', 'HH:MM']", path=child(path, op))
    when = operand(raw[0], child(child(path, op), 0))
    start = _clock_time(raw[1], child(child(path, op), 1))
    end = _clock_time(raw[2], child(child(path, op), 2))
    tz_name = data.get("tz", "UTC")
    try:
        tz = ZoneInfo(tz_name) if isinstance(tz_name, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    if tz is None:
        raise PolicyError(f"unknown time zone {tz_name!r}", path=child(path, "tz"))
    days_raw = data.get("weekdays", [1, 2, 3, 4, 5, 6, 7])
    if (
        not isinstance(days_raw, list)
        or not days_raw
        or any(type(d) is not int or not 1 <= d <= 7 for d in days_raw)
    ):
        raise PolicyError("'weekdays' is a list of ISO weekdays 1..7", path=child(path, "weekdays"))
    days, get = frozenset(days_raw), when.get

    def test(env: Env) -> bool:
        value = get(env)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime: supply an aware datetime or epoch seconds")
            local = value.astimezone(tz)
        elif type(value) in (int, float):
            local = datetime.fromtimestamp(value, tz)
        else:
            raise TypeError(f"not a time: {type(value).__name__}")
        if local.isoweekday() not in days:
            return False
        s = local.hour * 3600 + local.minute * 60 + local.second
        return start <= s < end if start <= end else (s >= start or s < end)

    return test


def compile_ip_in(data: Mapping[str, Any], op: str, path: str) -> Test:
    raw = data[op]
    if not isinstance(raw, list) or len(raw) != 2 or not isinstance(raw[1], list) or not raw[1]:
        raise PolicyError("'ip_in' takes [ip, ['cidr', ...]]", path=child(path, op))
    addr = operand(raw[0], child(child(path, op), 0))
    nets = []
    for i, cidr in enumerate(raw[1]):
        try:
            nets.append(ipaddress.ip_network(cidr, strict=True))
        except (ValueError, TypeError):
            raise PolicyError(f"invalid CIDR {cidr!r}", path=child(child(child(path, op), 1), i)) from None
    get = addr.get

    @lru_cache(maxsize=4096)  # pure function of the address text: parse each address once
    def within(text: object) -> bool:
        if not isinstance(text, str | ipaddress.IPv4Address | ipaddress.IPv6Address):
            raise TypeError(f"not an IP address: {type(text).__name__}")
        ip = ipaddress.ip_address(text)
        return any(ip in net for net in nets)

    return lambda env: within(get(env))
