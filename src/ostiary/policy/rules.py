"""Policy rules (the realm file's ``policies:`` section), indexed by action for O(1) lookup.

    - id: own-posts
      effect: allow            # allow | deny
      actions: [posts:update]  # exact names, or a trailing wildcard segment: "posts:*", "*"
      requires_permission: true
      when: {eq: [subject.id, resource.owner]}
      description: editors update only their own posts

Three kinds of rule, by what they do in ``PolicyEngine.decide``:

- ``deny``: overrides everything when its condition is true — or errors (fail closed).
- ``allow`` granting (``requires_permission: false``, the default): grants the action by itself when
  its condition is true, to any subject (e.g. "the owner may read a draft").
- ``allow`` restricting (``requires_permission: true``): once at least one exists for an action, the
  RBAC permission alone no longer suffices for that action — the subject needs the permission *and*
  one true restricting rule. ("Editors update only their own posts.")

A rule without ``when`` is unconditional. A missing attribute makes a condition an error, and an
erroring deny rule denies: a deny rule on an *optional* attribute says so with ``exists`` first,
``{all: [{exists: resource.state}, {eq: [resource.state, frozen]}]}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ostiary.policy.conditions import Condition, parse_condition
from ostiary.policy.errors import PolicyError, child

Effect = Literal["allow", "deny"]
_PATTERN = re.compile(r"^(\*|[^\s*:]+(:[^\s*:]+)*(:\*)?)$")
_RULE_KEYS = frozenset({"id", "effect", "actions", "when", "requires_permission", "description"})
_CACHE_LIMIT = 10_000  # distinct action names remembered; actions come from code, so this is plenty


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    effect: Effect
    actions: tuple[str, ...]
    condition: Condition | None = None
    requires_permission: bool = False
    description: str = ""

    @classmethod
    def from_data(cls, data: object, path: str = "policies[0]") -> Rule:
        if not isinstance(data, dict):
            raise PolicyError("a rule is an object", path=path)
        for key in data:
            if key not in _RULE_KEYS:
                raise PolicyError(f"unknown key {key!r}", path=child(path, str(key)))
        rule_id = data.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            raise PolicyError("'id' is a non-empty string", path=child(path, "id"))
        effect = data.get("effect")
        if effect not in ("allow", "deny"):
            raise PolicyError("'effect' is 'allow' or 'deny'", path=child(path, "effect"))
        actions = data.get("actions")
        if not isinstance(actions, list) or not actions:
            raise PolicyError("'actions' is a non-empty list", path=child(path, "actions"))
        for i, a in enumerate(actions):
            if not isinstance(a, str) or not _PATTERN.match(a):
                raise PolicyError(f"invalid action pattern {a!r}", path=child(child(path, "actions"), i))
        restricting = data.get("requires_permission", False)
        if not isinstance(restricting, bool):
            raise PolicyError("'requires_permission' is a boolean", path=child(path, "requires_permission"))
        if restricting and effect == "deny":
            raise PolicyError(
                "only allow rules restrict a permission", path=child(path, "requires_permission")
            )
        description = data.get("description", "")
        if not isinstance(description, str):
            raise PolicyError("'description' is a string", path=child(path, "description"))
        when = data.get("when")
        condition = None if when is None else parse_condition(when, child(path, "when"))
        return cls(rule_id, effect, tuple(actions), condition, restricting, description)


@dataclass(frozen=True, slots=True)
class RuleBucket:
    """The rules that apply to one action, by kind, in declaration order."""

    denies: tuple[Rule, ...] = ()
    grants: tuple[Rule, ...] = ()
    restrictions: tuple[Rule, ...] = ()


_EMPTY_BUCKET = RuleBucket()


def _keys(action: str) -> list[str]:
    """The patterns that match ``action``: itself, each ``prefix:*``, and ``*``."""
    parts = action.split(":")
    return [action, *(":".join(parts[:i]) + ":*" for i in range(1, len(parts))), "*"]


class RuleSet:
    """An immutable, indexed set of rules. ``for_action`` is a dict look-up after the first call."""

    __slots__ = ("_by_pattern", "_cache", "_position", "rules")

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules = tuple(rules)
        seen: set[str] = set()
        by_pattern: dict[str, list[Rule]] = {}
        for r in self.rules:
            if r.id in seen:
                raise PolicyError(f"duplicate rule id {r.id!r}", path="policies")
            seen.add(r.id)
            for pattern in dict.fromkeys(r.actions):
                by_pattern.setdefault(pattern, []).append(r)
        self._by_pattern = {k: tuple(v) for k, v in by_pattern.items()}
        self._position = {r.id: i for i, r in enumerate(self.rules)}
        self._cache: dict[str, RuleBucket] = {}

    @classmethod
    def from_data(cls, data: object, path: str = "policies") -> RuleSet:
        if data is None:
            return cls()
        if not isinstance(data, list):
            raise PolicyError("'policies' is a list of rules", path=path)
        return cls(Rule.from_data(item, child(path, i)) for i, item in enumerate(data))

    def __len__(self) -> int:
        return len(self.rules)

    def for_action(self, action: str) -> RuleBucket:
        bucket = self._cache.get(action)
        if bucket is not None:
            return bucket
        matched: dict[str, Rule] = {}
        for key in _keys(action):
            for r in self._by_pattern.get(key, ()):
                matched[r.id] = r
        ordered = sorted(matched.values(), key=lambda r: self._position[r.id])
        bucket = (
            RuleBucket(
                tuple(r for r in ordered if r.effect == "deny"),
                tuple(r for r in ordered if r.effect == "allow" and not r.requires_permission),
                tuple(r for r in ordered if r.requires_permission),
            )
            if ordered
            else _EMPTY_BUCKET
        )
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[action] = bucket  # benign race: both writers store equal buckets
        return bucket

    def by_id(self) -> Mapping[str, Rule]:
        return {r.id: r for r in self.rules}
