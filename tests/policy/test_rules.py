"""Rules: parsing with paths in errors, and the action index (exact, prefix wildcard, global)."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.policy import PolicyError, Rule, RuleSet


def rule(
    rule_id: str, effect: str = "allow", actions: tuple[str, ...] = ("posts:read",), **extra: Any
) -> dict[str, Any]:
    return {"id": rule_id, "effect": effect, "actions": list(actions), **extra}


def test_index_matches_exact_prefix_and_global_patterns_in_declaration_order() -> None:
    rules = RuleSet.from_data(
        [
            rule("all", "deny", ("*",), when={"exists": "context.lockdown"}),
            rule("posts-any", actions=("posts:*",)),
            rule("exact", actions=("posts:update",), requires_permission=True),
            rule("nested", actions=("posts:comments:*",)),
            rule("other", actions=("items:read",)),
        ]
    )
    bucket = rules.for_action("posts:update")
    assert [r.id for r in bucket.denies] == ["all"]
    assert [r.id for r in bucket.grants] == ["posts-any"]
    assert [r.id for r in bucket.restrictions] == ["exact"]
    assert [r.id for r in rules.for_action("posts:comments:delete").grants] == ["posts-any", "nested"]
    assert rules.for_action("items:read").grants[0].id == "other"
    assert rules.for_action("food:view").grants == ()
    assert rules.for_action("posts:update") is bucket  # cached


def test_rule_without_when_is_unconditional() -> None:
    assert Rule.from_data(rule("r")).condition is None


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ("nope", "policies[0]", "object"),
        (rule("r", effect="permit"), "policies[0].effect", "allow"),
        (rule("r", actions=()), "policies[0].actions", "non-empty"),
        (rule("r", actions=("posts:*:x",)), "policies[0].actions[0]", "invalid action pattern"),
        (rule("r", actions=("posts:up*",)), "policies[0].actions[0]", "invalid action pattern"),
        (rule("r", actions=("has space",)), "policies[0].actions[0]", "invalid action pattern"),
        ({**rule("r"), "id": ""}, "policies[0].id", "non-empty"),
        (rule("r", whenn={}), "policies[0].whenn", "unknown key"),
        (rule("r", "deny", requires_permission=True), "policies[0].requires_permission", "only allow"),
        (rule("r", requires_permission="yes"), "policies[0].requires_permission", "boolean"),
        (rule("r", when={"eq": ["subject.id"]}), "policies[0].when.eq", "operands"),
    ],
)
def test_bad_rules_name_the_path(data: Any, path: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        RuleSet.from_data([data])
    assert info.value.field == path


def test_rule_set_must_be_a_list_and_ids_unique() -> None:
    with pytest.raises(PolicyError, match="list"):
        RuleSet.from_data({"id": "r"})
    with pytest.raises(PolicyError, match="duplicate rule id 'r'"):
        RuleSet.from_data([rule("r"), rule("r")])
    assert len(RuleSet.from_data(None)) == 0
