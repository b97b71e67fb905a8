"""ABAC conditions: every operator, load-time checks with paths, and fail-closed evaluation."""

from __future__ import annotations

import ast
import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ostiary.policy import PolicyError, RbacModel, Resource, Role, Subject, parse_condition
from ostiary.policy.attributes import Env

RBAC = RbacModel.build(
    [Role("editor", frozenset({"posts:update"})), Role("admin", includes=frozenset({"editor"}))]
)
ALICE = Subject.of(
    "42",
    roles=["admin"],
    groups=[],
    attributes={"department": "eng", "level": 3, "tags": ["a", "b"], "profile": {"country": "FR"}},
)
POST = Resource.of("posts", 7, owner="42", department="eng", level=2, groups=["eng", "ops"], name="Zed")


def run(
    cond: Any, *, subject: Subject = ALICE, resource: Resource | None = POST, **context: Any
) -> bool | str:
    """True / False, or "error" when evaluation raises (which the engine treats as deny)."""
    compiled = parse_condition(cond)
    env = Env(subject, RBAC.grants(subject.roles, subject.groups), "posts:update", resource, context)
    try:
        return compiled(env)
    except Exception:
        return "error"


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"eq": ["subject.id", "resource.owner"]}, True),
        ({"eq": ["subject.department", "resource.department"]}, True),
        ({"eq": ["subject.department", "ops"]}, False),
        ({"eq": ["subject.profile.country", "FR"]}, True),
        ({"eq": ["resource.type", "posts"]}, True),
        ({"eq": ["resource.id", "7"]}, True),
        ({"eq": ["resource.id", 7]}, False),  # no cross-type equality
        ({"eq": ["subject.level", True]}, False),
        ({"eq": ["action", "posts:update"]}, True),
        ({"eq": [{"literal": "subject.id"}, "subject.id"]}, False),
        ({"ne": ["subject.id", "resource.owner"]}, False),
        ({"lt": ["resource.level", "subject.level"]}, True),
        ({"le": ["resource.level", 2]}, True),
        ({"gt": ["resource.level", 2.5]}, False),
        ({"ge": ["resource.name", "Z"]}, True),
        ({"lt": ["resource.name", "subject.level"]}, "error"),  # str vs int: error, not False
        ({"in": ["subject.department", ["eng", "ops"]]}, True),
        ({"in": ["subject.level", ["3"]]}, False),
        ({"in": ["editor", "subject.roles"]}, True),  # effective roles, via the composite admin
        ({"in": ["subject.department", "resource.groups"]}, True),
        ({"in": ["e", "subject.department"]}, "error"),  # no substring matching
        ({"contains": ["subject.tags", "b"]}, True),
        ({"contains": [["x", "y"], "subject.department"]}, False),
        ({"intersects": ["subject.tags", ["b", "c"]]}, True),
        ({"intersects": ["subject.tags", "resource.groups"]}, False),
        ({"exists": "resource.owner"}, True),
        ({"exists": "resource.missing"}, False),
        ({"all": [{"eq": ["subject.id", "resource.owner"]}, {"gt": ["subject.level", 1]}]}, True),
        ({"all": [{"eq": ["subject.id", "resource.owner"]}, {"gt": ["subject.level", 5]}]}, False),
        ({"any": [{"eq": ["subject.id", "nobody"]}, {"gt": ["subject.level", 1]}]}, True),
        ({"not": {"eq": ["subject.id", "resource.owner"]}}, False),
    ],
)
def test_operators(cond: Any, expected: bool | str) -> None:
    assert run(cond) == expected


@pytest.mark.sec("SEC-59")
@pytest.mark.parametrize(
    "cond",
    [
        {"eq": ["subject.clearance", 3]},
        {"not": {"eq": ["subject.clearance", 3]}},  # not(error) is an error, never True
        {"ne": ["resource.missing", "x"]},
        {"any": [{"eq": ["context.ip", "1.2.3.4"]}, {"eq": ["subject.id", "42"]}]},
        {"eq": ["subject.profile.city", "Paris"]},
        {"eq": ["subject.scopes", "x"]},  # a session has no scopes
    ],
)
def test_missing_attribute_is_an_error(cond: Any) -> None:
    assert run(cond) == "error"


@pytest.mark.sec("SEC-59")
def test_missing_resource_is_an_error() -> None:
    assert run({"eq": ["subject.id", "resource.owner"]}, resource=None) == "error"
    assert run({"eq": ["resource.type", "posts"]}, resource=None) == "error"


def test_null_counts_as_missing() -> None:
    post = Resource.of("posts", 1, owner=None)
    assert run({"ne": ["resource.owner", "x"]}, resource=post) == "error"
    assert run({"exists": "resource.owner"}, resource=post) is False


PARIS = timezone(timedelta(hours=1))  # winter time in Paris
OFFICE = {
    "time_between": ["context.time", "09:00", "17:00"],
    "tz": "Europe/Paris",
    "weekdays": [1, 2, 3, 4, 5],
}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2025, 1, 6, 9, 0, tzinfo=PARIS), True),  # Monday 09:00 Paris: start is inclusive
        (datetime(2025, 1, 6, 16, 59, 59, tzinfo=PARIS), True),
        (datetime(2025, 1, 6, 17, 0, tzinfo=PARIS), False),  # end is exclusive
        (datetime(2025, 1, 6, 8, 30, tzinfo=UTC), True),  # 09:30 in Paris
        (datetime(2025, 1, 4, 12, 0, tzinfo=PARIS), False),  # Saturday
        (datetime(2025, 7, 7, 7, 30, tzinfo=UTC), True),  # summer: 09:30 CEST
        (datetime(2025, 1, 6, 8, 30, tzinfo=PARIS).timestamp(), False),  # epoch seconds
        (int(datetime(2025, 1, 6, 10, 0, tzinfo=PARIS).timestamp()), True),
        (datetime(2025, 1, 6, 10, 0), "error"),  # naive datetime: ambiguous
        ("2025-01-06T10:00:00+01:00", "error"),  # strings are not times
    ],
)
def test_time_between(when: Any, expected: bool | str) -> None:
    assert run(OFFICE, time=when) == expected


def test_time_window_wraps_midnight_and_defaults_to_utc_every_day() -> None:
    night = {"time_between": ["context.time", "22:00", "06:00"]}
    assert run(night, time=datetime(2025, 1, 4, 23, 0, tzinfo=UTC)) is True
    assert run(night, time=datetime(2025, 1, 5, 5, 59, tzinfo=UTC)) is True
    assert run(night, time=datetime(2025, 1, 5, 12, 0, tzinfo=UTC)) is False


@pytest.mark.sec("SEC-59")
def test_time_window_without_a_time_is_an_error() -> None:
    assert run(OFFICE) == "error"


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("10.1.2.3", True),
        ("192.168.1.9", True),
        ("192.168.2.9", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        (ipaddress.ip_address("10.0.0.1"), True),
        ("not-an-ip", "error"),
        (167772161, "error"),  # an int is not an address here
    ],
)
def test_ip_in(ip: Any, expected: bool | str) -> None:
    cond = {"ip_in": ["context.ip", ["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"]]}
    assert run(cond, ip=ip) == expected


@pytest.mark.parametrize(
    ("cond", "path", "message"),
    [
        ({"equals": ["subject.id", "resource.owner"]}, "when.equals", "unknown operator"),
        ({"eq": ["subject.id"]}, "when.eq", "2 operands"),
        ({"eq": "subject.id"}, "when.eq", "2 operands"),
        ({"eq": ["a", "b"], "ne": ["a", "b"]}, "when", "exactly one operator"),
        ({"eq": ["a", "b"], "tz": "UTC"}, "when.tz", "unexpected key"),
        (
            {"all": [{"eq": ["a", "a"]}, {"gt": ["subject.x", "y"]}, {"bogus": 1}]},
            "when.all[2].bogus",
            "unknown",
        ),
        ({"all": []}, "when.all", "non-empty"),
        ({"not": [{"eq": ["a", "a"]}]}, "when.not", "one operator"),
        ({"any": [{"not": {"lt": ["subject.x", True]}}]}, "when.any[0].not.lt", "two numbers or two strings"),
        ({"lt": [1, "a"]}, "when.lt", "two numbers or two strings"),
        ({"in": ["subject.x", "literal-string"]}, "when.in", "list to look in"),
        ({"in": [["a"], "subject.tags"]}, "when.in", "scalar"),
        ({"eq": ["subject.x", None]}, "when.eq[1]", "exists"),
        ({"eq": ["subject.x", {"path": "a"}]}, "when.eq[1]", "operand"),
        ({"eq": ["subject.x", [{"a": 1}]]}, "when.eq[1][0]", "list literals"),
        ({"eq": ["subject.a..b", 1]}, "when.eq[0]", "invalid attribute path"),
        ({"eq": ["action.name", 1]}, "when.eq[0]", "no attributes"),
        ({"eq": ["subject.id.x", 1]}, "when.eq[0]", "no attributes"),
        ({"exists": "owner"}, "when.exists", "one attribute path"),
        ({"time_between": ["context.time", "9am", "17:00"]}, "when.time_between[1]", "HH:MM"),
        ({"time_between": ["context.time", "09:00", "25:00"]}, "when.time_between[2]", "HH:MM"),
        ({"time_between": ["context.time", "09:00", "17:00"], "tz": "Mars/Olympus"}, "when.tz", "time zone"),
        ({"time_between": ["context.time", "09:00", "17:00"], "weekdays": [0]}, "when.weekdays", "ISO"),
        ({"time_between": ["context.time", "09:00"]}, "when.time_between", "takes"),
        ({"ip_in": ["context.ip", ["10.0.0.0/33"]]}, "when.ip_in[1][0]", "invalid CIDR"),
        ({"ip_in": ["context.ip", ["10.0.0.1/8"]]}, "when.ip_in[1][0]", "invalid CIDR"),  # host bits set
        ({"ip_in": ["context.ip", "10.0.0.0/8"]}, "when.ip_in", "takes"),
        ("subject.id == resource.owner", "when", "one operator"),
    ],
)
def test_bad_conditions_fail_at_load_with_the_path(cond: Any, path: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        parse_condition(cond)
    assert info.value.field == path


def test_no_eval_or_exec_in_the_policy_package() -> None:
    package = Path(__file__).resolve().parents[2] / "src" / "ostiary" / "policy"
    sources = list(package.glob("*.py"))
    assert sources
    forbidden = {"eval", "exec", "compile", "__import__", "getattr", "setattr"}
    for source in sources:
        text = source.read_text()
        assert not re.search(r"(?<![.\w])(eval|exec)\s*\(", text), source.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in forbidden, (source.name, node.lineno)
        assert "importlib" not in text, source.name
