"""Policy decision latency: ostiary's engine vs pycasbin (RBAC) and cedarpy (ABAC), same run, same machine.

Run: ``.venv/bin/python bench/policy_bench.py`` (bounded: well under a minute).

1. rbac-small: Casbin's own "RBAC (small)" benchmark data set — 100 roles (``p, group{i}, data{i/10},
   read``) and 1,000 users (``g, user{i}, group{i/10}``), 1,100 rules — and its query
   ``enforce("user501", "data9", "read")`` (a deny), plus an allowed query (``data5``). In ostiary a
   Casbin role is a role holding the permission ``data{j}:read``; the user→role assignment lives on the
   caller's ``Subject`` (loaded with the session), so the timed path includes a dict look-up of the
   user's Subject to stay comparable with Casbin's in-enforcer ``g`` lookup.
2. rbac-growth: ostiary on Casbin's "RBAC (large)" shape — 10,000 roles, 100,000 users (110,000 rules) —
   against the small set: one hot user, and a round-robin over 100 users with distinct roles. pycasbin
   is not run on the large set: building it alone took over 3 minutes here.
3. abac: four rules (two permits on attributes, two forbids: network range and clearance), compiled
   once, vs ``cedarpy.is_authorized`` with a pre-parsed ``PolicySet`` and ``Entities`` handle.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ostiary.policy import PolicyEngine, RbacModel, Resource, Role, RuleSet, Subject

CASBIN_RBAC_MODEL = """
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"""


def per_call_us(fn: Callable[[], object], *, budget_s: float = 1.0, max_calls: int = 200_000) -> float:
    """Best-of-repeats mean time per call in µs, bounded by calls and by wall time."""
    fn()  # warm caches
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    batch = max(1, min(max_calls // 5, int(budget_s / 5 / one)))
    best = float("inf")
    deadline = time.perf_counter() + budget_s
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / batch / 1000)
        if time.perf_counter() > deadline:
            break
    return best


# -- data sets ---------------------------------------------------------------------------------------


@dataclass
class RbacSet:
    roles: int
    users: int

    @property
    def rules(self) -> int:
        return self.roles + self.users

    def ostiary(self) -> tuple[PolicyEngine, dict[str, Subject]]:
        rbac = RbacModel.build(
            Role(f"group{i}", frozenset({f"data{i // 10}:read"})) for i in range(self.roles)
        )
        subjects = {f"user{i}": Subject.of(f"user{i}", roles=[f"group{i // 10}"]) for i in range(self.users)}
        return PolicyEngine(rbac), subjects

    def casbin(self) -> object:
        import casbin

        model = casbin.model.Model()
        model.load_model_from_text(CASBIN_RBAC_MODEL)
        enforcer = casbin.Enforcer(model)
        enforcer.add_policies([[f"group{i}", f"data{i // 10}", "read"] for i in range(self.roles)])
        enforcer.add_grouping_policies([[f"user{i}", f"group{i // 10}"] for i in range(self.users)])
        return enforcer


def rbac_vs_casbin(data: RbacSet, budget_s: float = 1.0) -> dict[str, float]:
    engine, subjects = data.ostiary()
    enforcer = data.casbin()
    user = f"user{data.users // 2 + 1}"  # "user501" on the small set
    allowed_obj = f"data{(data.users // 2 + 1) // 100}"
    denied_obj = f"data{data.roles // 10 - 1}"  # "data9" on the small set: Casbin's own query
    if denied_obj == allowed_obj:
        denied_obj = "data-none"
    enforce = enforcer.enforce  # type: ignore[attr-defined]
    decide = engine.decide
    # same answers, or the comparison is meaningless
    assert decide(subjects[user], f"{allowed_obj}:read").allowed
    assert enforce(user, allowed_obj, "read")
    assert not decide(subjects[user], f"{denied_obj}:read").allowed
    assert not enforce(user, denied_obj, "read")
    return {
        "ostiary_deny": per_call_us(lambda: decide(subjects[user], f"{denied_obj}:read"), budget_s=budget_s),
        "casbin_deny": per_call_us(
            lambda: enforce(user, denied_obj, "read"), budget_s=budget_s, max_calls=5_000
        ),
        "ostiary_allow": per_call_us(
            lambda: decide(subjects[user], f"{allowed_obj}:read"), budget_s=budget_s
        ),
        "casbin_allow": per_call_us(
            lambda: enforce(user, allowed_obj, "read"), budget_s=budget_s, max_calls=5_000
        ),
    }


def ostiary_rbac(data: RbacSet, budget_s: float = 1.0, spread: int = 100) -> dict[str, float]:
    """One hot user, and a round-robin over ``spread`` users spread evenly over the set, each holding a
    different role: the same working set at every size, so the ratio shows the growth due to the
    number of rules, not to a larger set of active users."""
    engine, subjects = data.ostiary()
    user = f"user{data.users // 2 + 1}"
    obj = f"data{(data.users // 2 + 1) // 100}:read"
    decide = engine.decide
    step = max(1, data.users // spread)
    ring = [(subjects[f"user{i}"], f"data{i // 100}:read") for i in range(0, data.users, step)]
    state = [0]

    def round_robin() -> object:
        i = state[0] = (state[0] + 1) % len(ring)
        subject, action = ring[i]
        return decide(subject, action)

    return {
        "hot": per_call_us(lambda: decide(subjects[user], obj), budget_s=budget_s),
        "spread": per_call_us(round_robin, budget_s=budget_s),
    }


ABAC_RULES = [
    {"id": "dept-read", "effect": "allow", "actions": ["docs:read"],
     "when": {"eq": ["subject.department", "resource.department"]}},
    {"id": "own-update", "effect": "allow", "actions": ["docs:update"],
     "when": {"eq": ["subject.id", "resource.owner"]}},
    {"id": "corp-net", "effect": "deny", "actions": ["docs:*"],
     "when": {"not": {"ip_in": ["context.ip", ["10.0.0.0/8"]]}}},
    {"id": "clearance", "effect": "deny", "actions": ["docs:*"],
     "when": {"gt": ["resource.classification", "subject.clearance"]}},
]  # fmt: skip

CEDAR_POLICIES = """
permit(principal, action == Action::"read", resource) when { principal.department == resource.department };
permit(principal, action == Action::"update", resource) when { resource.owner == principal };
forbid(principal, action, resource) when { !(ip(context.ip).isInRange(ip("10.0.0.0/8"))) };
forbid(principal, action, resource) when { resource.classification > principal.clearance };
"""

CEDAR_ENTITIES = """[
 {"uid": {"type": "User", "id": "alice"}, "attrs": {"department": "eng", "clearance": 2}, "parents": []},
 {"uid": {"type": "Doc", "id": "d1"}, "parents": [],
  "attrs": {"department": "eng", "classification": 1, "owner": {"__entity": {"type": "User", "id": "alice"}}}},
 {"uid": {"type": "Doc", "id": "d2"}, "parents": [],
  "attrs": {"department": "ops", "classification": 3, "owner": {"__entity": {"type": "User", "id": "bob"}}}}
]"""


def abac_vs_cedar(budget_s: float = 1.0) -> dict[str, float]:
    import cedarpy

    engine = PolicyEngine(rules=RuleSet.from_data(ABAC_RULES))
    alice = Subject.of("alice", attributes={"department": "eng", "clearance": 2})
    docs = {
        "d1": Resource.of("docs", "d1", department="eng", classification=1, owner="alice"),
        "d2": Resource.of("docs", "d2", department="ops", classification=3, owner="bob"),
    }
    policies = cedarpy.PolicySet.from_str(CEDAR_POLICIES)
    entities = cedarpy.Entities.from_json_str(CEDAR_ENTITIES)
    context = {"ip": "10.1.2.3"}

    def cedar(action: str, doc: str) -> bool:
        request = {"principal": 'User::"alice"', "action": f'Action::"{action}"',
                   "resource": f'Doc::"{doc}"', "context": context}  # fmt: skip
        return bool(cedarpy.is_authorized(request, policies, entities).allowed)

    def ours(action: str, doc: str) -> bool:
        return engine.decide(alice, f"docs:{action}", docs[doc], context).allowed

    cases = [("read", "d1"), ("update", "d1"), ("read", "d2"), ("update", "d2")]
    for action, doc in cases:  # same answers, or the comparison is meaningless
        assert ours(action, doc) == cedar(action, doc), (action, doc)
    allowed = [c for c in cases if ours(*c)]
    assert allowed == [("read", "d1"), ("update", "d1")]
    ours_us = cedar_us = 0.0
    for action, doc in cases:
        ours_us += per_call_us(partial(ours, action, doc), budget_s=budget_s / 4) / len(cases)
        cedar_us += per_call_us(partial(cedar, action, doc), budget_s=budget_s / 4, max_calls=20_000) / len(
            cases
        )
    return {"ostiary": ours_us, "cedar": cedar_us}


def main(
    budget_s: float = 1.0,
    small: RbacSet | None = None,
    large: RbacSet | None = None,
) -> list[str]:
    """Run all three; returns the printed lines. Smaller sets and budget make a smoke test."""
    lines: list[str] = []

    def out(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    small = small or RbacSet(100, 1_000)
    large = large or RbacSet(10_000, 100_000)
    r = rbac_vs_casbin(small, budget_s)
    for kind in ("deny", "allow"):
        o, c = r[f"ostiary_{kind}"], r[f"casbin_{kind}"]
        out(
            f"rbac-small ({small.rules:,} rules, {kind}): ostiary {o:.2f} µs, casbin {c:.1f} µs → {c / o:.0f}× (target ≥ 20×)"
        )
    s, big = ostiary_rbac(small, budget_s), ostiary_rbac(large, budget_s)
    for kind in ("hot", "spread"):
        out(
            f"rbac-growth ({kind} users): ostiary {s[kind]:.2f} µs at {small.rules:,} rules, {big[kind]:.2f} µs at "
            f"{large.rules:,} → {big[kind] / s[kind]:.2f}× (target ≤ 2×)"
        )
    a = abac_vs_cedar(budget_s)
    out(
        f"abac (4 rules): ostiary {a['ostiary']:.2f} µs, cedarpy {a['cedar']:.1f} µs → "
        f"{a['cedar'] / a['ostiary']:.1f}× (target ≥ 3×)"
    )
    return lines


if __name__ == "__main__":
    main()
