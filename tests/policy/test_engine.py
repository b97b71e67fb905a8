"""The decision algorithm: scope, deny override, RBAC (+ restrictions), allow rules, ACL, default deny."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.policy import Decision, PolicyEngine, Resource, Subject

REALM: dict[str, Any] = {
    "roles": {
        "viewer": {"permissions": ["posts:read"]},
        "editor": {"permissions": ["posts:update", "posts:create"], "includes": ["viewer"]},
        "ops": {"permissions": ["servers:reboot"]},
    },
    "policies": [
        {"id": "after-hours", "effect": "deny", "actions": ["servers:*"],
         "when": {"not": {"time_between": ["context.time", "08:00", "18:00"], "tz": "UTC"}}},
        # `exists` first: a deny rule on an optional attribute must say so, or its absence denies
        {"id": "frozen", "effect": "deny", "actions": ["posts:update"],
         "when": {"all": [{"exists": "resource.state"}, {"eq": ["resource.state", "frozen"]}]}},
        {"id": "edit-own", "effect": "allow", "actions": ["posts:update"], "requires_permission": True,
         "when": {"eq": ["subject.id", "resource.owner"]}},
        {"id": "author-reads-draft", "effect": "allow", "actions": ["drafts:read"],
         "when": {"eq": ["subject.id", "resource.author"]}},
    ],
    "acl": {"actions": {"posts:update": "editor"}, "tuples": [["user:3", "editor", "posts:9"]]},
}  # fmt: skip
ENGINE = PolicyEngine.from_data(REALM)
NOON = {"time": datetime(2025, 3, 3, 12, 0, tzinfo=UTC)}
NIGHT = {"time": datetime(2025, 3, 3, 23, 0, tzinfo=UTC)}


def post(pid: int, owner: str, **attrs: Any) -> Resource:
    return Resource.of("posts", pid, owner=owner, **attrs)


EDITOR = Subject.of("1", roles=["editor"])
OPS = Subject.of("2", roles=["ops"])
NOBODY = Subject.of("3")


@pytest.mark.parametrize(
    ("subject", "action", "resource", "context", "allowed", "reason"),
    [
        (EDITOR, "posts:read", None, None, True, "role:editor grants posts:read"),
        (EDITOR, "posts:update", post(1, "1"), None, True, "role:editor grants posts:update + rule:edit-own"),
        (EDITOR, "posts:update", post(2, "99"), None, False, "default-deny"),
        (EDITOR, "posts:update", None, None, False, "default-deny"),  # restricted action, no resource
        (EDITOR, "posts:update", post(1, "1", state="frozen"), None, False, "deny:rule:frozen"),
        (EDITOR, "posts:delete", post(1, "1"), None, False, "default-deny"),
        (
            NOBODY,
            "posts:update",
            post(9, "99"),
            None,
            True,
            "acl:user:3 editor posts:9",
        ),  # ACL ignores edit-own
        (NOBODY, "posts:read", None, None, False, "default-deny"),
        (NOBODY, "drafts:read", Resource.of("drafts", 1, author="3"), None, True, "rule:author-reads-draft"),
        (NOBODY, "drafts:read", Resource.of("drafts", 1, author="4"), None, False, "default-deny"),
        (OPS, "servers:reboot", None, NOON, True, "role:ops grants servers:reboot"),
        (OPS, "servers:reboot", None, NIGHT, False, "deny:rule:after-hours"),
        (OPS, "servers:reboot", None, None, False, "deny:rule:after-hours (error)"),  # no time: fail closed
    ],
)
def test_decide(
    subject: Subject, action: str, resource: Resource | None, context: Any, allowed: bool, reason: str
) -> None:
    decision = ENGINE.decide(subject, action, resource, context)
    assert (decision.allowed, decision.reason) == (allowed, reason)
    assert bool(decision) is allowed
    assert ENGINE.explain(subject, action, resource, context).decision == decision


@pytest.mark.sec("SEC-59")
def test_deny_rule_that_errors_denies_even_with_the_permission() -> None:
    engine = PolicyEngine.from_data(
        {
            "roles": {"r": {"permissions": ["a:b"]}},
            "policies": [
                {"id": "d", "effect": "deny", "actions": ["a:b"], "when": {"eq": ["subject.dept", "x"]}}
            ],
        }
    )
    decision = engine.decide(Subject.of("1", roles=["r"]), "a:b")
    assert decision == Decision(False, "deny:rule:d (error)", "deny-rule")


@pytest.mark.sec("SEC-55")
def test_token_without_the_scope_is_insufficient_scope_even_with_the_role() -> None:
    token = Subject.of("1", roles=["editor"], scopes=["posts:read"])
    assert ENGINE.decide(token, "posts:read") == Decision(True, "role:editor grants posts:read", "role")
    decision = ENGINE.decide(token, "posts:update", post(1, "1"))
    assert decision == Decision(False, "insufficient_scope", "scope")
    assert ENGINE.explain(token, "posts:update", post(1, "1")).decision == decision


def test_scopes_never_grant_by_themselves() -> None:
    token = Subject.of("3", scopes=["posts:read"])
    assert ENGINE.decide(token, "posts:read").reason == "default-deny"


def test_scope_also_bounds_acl_and_rule_grants() -> None:
    token = Subject.of("3", scopes=["posts:read"])
    assert ENGINE.decide(token, "posts:update", post(9, "99")).reason == "insufficient_scope"
    assert (
        ENGINE.decide(token, "drafts:read", Resource.of("drafts", 1, author="3")).reason
        == "insufficient_scope"
    )


@pytest.mark.sec("SEC-59")
def test_an_exception_inside_the_engine_denies() -> None:
    broken = Subject("1", "user", ["editor"], frozenset())  # type: ignore[arg-type]  # unhashable roles
    assert ENGINE.decide(broken, "posts:read") == Decision(False, "error: TypeError", "error")
    assert ENGINE.explain(broken, "posts:read").decision.allowed is False


@pytest.mark.sec("SEC-59")
def test_a_condition_returning_a_non_boolean_never_allows() -> None:
    engine = PolicyEngine.from_data({"policies": [{"id": "r", "effect": "allow", "actions": ["a:b"]}]})
    rule = engine.rules.rules[0]
    object.__setattr__(rule, "condition", type("C", (), {"test": staticmethod(lambda env: "yes")})())
    assert engine.decide(NOBODY, "a:b").allowed is False


@pytest.mark.sec("SEC-58")
def test_a_new_snapshot_sees_a_removed_role_at_once() -> None:
    before = PolicyEngine.from_data(REALM)
    realm = {**REALM, "roles": {**REALM["roles"], "viewer": {"permissions": []}}}
    after = PolicyEngine.from_data(realm)
    assert before.decide(EDITOR, "posts:read").allowed
    assert not after.decide(EDITOR, "posts:read").allowed


def test_explain_lists_every_step() -> None:
    explanation = ENGINE.explain(EDITOR, "posts:update", post(2, "99", state="draft"))
    steps = [(s.check, s.item, s.outcome) for s in explanation.steps]
    assert steps == [
        ("scope", "posts:update", "skipped"),
        ("deny-rule", "rule:frozen", "false"),
        ("role", "role:editor", "pass"),
        ("restriction", "rule:edit-own", "false"),
        ("acl", "posts:2", "fail"),
    ]
    assert explanation.decision.reason == "default-deny"
    missing = ENGINE.explain(OPS, "servers:reboot")
    assert missing.steps[1].outcome == "error"
    assert "context.time" in missing.steps[1].detail


def test_effective_permissions_of_a_subject() -> None:
    assert ENGINE.effective_permissions(EDITOR) == {"posts:read", "posts:update", "posts:create"}


# -- properties --------------------------------------------------------------------------------------

LEAVES = [
    {"eq": ["subject.id", "resource.owner"]},
    {"eq": ["subject.dept", "resource.dept"]},
    {"in": ["subject.dept", ["eng", "ops"]]},
    {"gt": ["subject.level", 2]},
    {"exists": "resource.owner"},
    {"ip_in": ["context.ip", ["10.0.0.0/8"]]},
]
conditions = st.recursive(
    st.sampled_from(LEAVES),
    lambda inner: st.one_of(
        st.builds(lambda c: {"not": c}, inner),
        st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=4,
)
actions = st.sampled_from(["posts:read", "posts:update", "posts:delete"])
rules = st.builds(
    lambda i, effect, action, when, restrict: {
        "id": f"r{i}",
        "effect": effect,
        "actions": [action],
        **({"when": when} if when is not None else {}),
        **({"requires_permission": True} if restrict and effect == "allow" else {}),
    },
    st.integers(),
    st.sampled_from(["allow", "deny"]),
    st.sampled_from(["posts:read", "posts:update", "posts:*", "*"]),
    st.none() | conditions,
    st.booleans(),
)
subjects = st.builds(
    lambda uid, roles, attrs, scoped: Subject.of(
        uid, roles=roles, attributes=attrs, scopes=["posts:read", "posts:update"] if scoped else None
    ),
    st.sampled_from(["1", "2"]),
    st.lists(st.sampled_from(["viewer", "editor", "ghost"]), max_size=2),
    st.fixed_dictionaries({}, optional={"dept": st.sampled_from(["eng", "hr"]), "level": st.integers(0, 4)}),
    st.booleans(),
)
resources = st.none() | st.builds(
    lambda owner, dept: Resource.of(
        "posts", 9, **{k: v for k, v in {"owner": owner, "dept": dept}.items() if v}
    ),
    st.sampled_from(["1", "2", None]),
    st.sampled_from(["eng", None]),
)
contexts = st.none() | st.fixed_dictionaries(
    {}, optional={"ip": st.sampled_from(["10.1.1.1", "8.8.8.8", "x"])}
)


def _engine(rule_data: list[dict[str, Any]]) -> PolicyEngine:
    unique = list({r["id"]: r for r in rule_data}.values())
    return PolicyEngine.from_data({**REALM, "policies": unique})


@settings(max_examples=300, deadline=None)
@given(st.lists(rules, max_size=4), rules, subjects, actions, resources, contexts)
def test_adding_a_deny_rule_never_turns_a_deny_into_an_allow(
    base: list[dict[str, Any]],
    extra: dict[str, Any],
    subject: Subject,
    action: str,
    resource: Any,
    context: Any,
) -> None:
    extra = {**extra, "id": "extra-deny", "effect": "deny"}
    extra.pop("requires_permission", None)
    before = _engine(base).decide(subject, action, resource, context)
    after = _engine([*base, extra]).decide(subject, action, resource, context)
    if not before.allowed:
        assert not after.allowed


@settings(max_examples=300, deadline=None)
@given(st.lists(rules, max_size=4), subjects, actions, resources, contexts)
def test_explain_agrees_with_decide(
    rule_data: list[dict[str, Any]], subject: Subject, action: str, resource: Any, context: Any
) -> None:
    engine = _engine(rule_data)
    assert engine.explain(subject, action, resource, context).decision == engine.decide(
        subject, action, resource, context
    )


def test_a_client_acting_for_itself_holds_exactly_its_token_scopes() -> None:
    """Client credentials: no roles, so the registered scopes granted to its token are what it may do;
    deny rules still apply, and a user with the same scopes but no role is still refused."""
    engine = PolicyEngine.from_data(
        {
            "permissions": ["items:read", "items:write"],
            "policies": [{"id": "no-writes", "effect": "deny", "actions": ["items:write"]}],
        }
    )
    client = Subject.of("demo-service", kind="client", scopes=["items:read", "items:write"])
    assert engine.decide(client, "items:read").allowed
    assert engine.decide(client, "items:read").decided_by == "role"
    assert not engine.decide(client, "items:write").allowed  # the deny rule wins
    assert not engine.decide(client, "items:delete").allowed  # outside its scopes
    user = Subject.of("u1", kind="user", scopes=["items:read"])
    assert not engine.decide(user, "items:read").allowed
