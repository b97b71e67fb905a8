"""The decision point: one immutable snapshot of RBAC, rules and ACLs answering ``decide``.

Algorithm of ``decide(subject, action, resource, context)`` — the first step that settles wins:

1. Scope. If the subject carries scopes (a token or API key) and ``action`` is not one of them:
   deny, ``insufficient_scope``. Scopes only ever narrow; they never grant.
2. Deny rules matching the action, in declaration order: a true condition — or an unconditional
   rule — denies (``deny:rule:<id>``); a condition that *errors* also denies
   (``deny:rule:<id> (error)``): deny overrides every allow and fails closed.
3. RBAC. If an effective role grants the permission named ``action``:
   - with no restricting rule (``requires_permission: true``) for the action: allow
     (``role:<role> grants <action>``);
   - otherwise allow only if one restricting rule's condition is true
     (``role:<role> grants <action> + rule:<id>``); else fall through to 4.
4. Granting allow rules (``requires_permission: false``): the first true one allows (``rule:<id>``).
5. ACL. With a resource and an action mapped to a relation: a tuple on that resource for the subject
   or one of its effective groups, whose relation implies the needed one, allows
   (``acl:<subject> <relation> <resource>``). Restricting rules do not apply to ACL grants: a tuple is
   an explicit, per-resource grant.
6. Otherwise deny: ``default-deny``.

A condition that errors (missing attribute, type mismatch, any exception) never allows: in 2 it
denies, in 3–4 it counts as false. An unexpected exception anywhere in ``decide`` denies with
``decided_by="error"`` (SEC-59). ``explain`` walks every step without short-circuiting and returns the
same decision plus what each step found.

The engine is immutable: on any change of roles, rules or tuples build a new one and swap the
reference (one atomic assignment), so the next request sees the change (SEC-58).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ostiary.policy.acl import AclIndex
from ostiary.policy.attributes import Env
from ostiary.policy.model import EffectiveGrants, RbacModel
from ostiary.policy.rules import Rule, RuleSet
from ostiary.policy.subject import Resource, Subject


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    decided_by: str  # "scope" | "deny-rule" | "role" | "rule" | "acl" | "default" | "error"

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class Step:
    check: str  # "scope" | "deny-rule" | "role" | "restriction" | "allow-rule" | "acl"
    item: str  # what was looked at: "rule:own-posts", "role:editor", "posts:update", …
    outcome: str  # "pass" | "fail" | "true" | "false" | "error" | "skipped"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    steps: tuple[Step, ...]


INSUFFICIENT_SCOPE = Decision(False, "insufficient_scope", "scope")
DEFAULT_DENY = Decision(False, "default-deny", "default")
CLIENT_REGISTRATION = "client-registration"  # what grants a client its own token's scopes


def _holds(rule: Rule, env: Env) -> bool:
    """Allow-side evaluation: an error is false."""
    if rule.condition is None:
        return True
    try:
        return rule.condition.test(env) is True
    except Exception:
        return False


def _outcome(rule: Rule, env: Env) -> tuple[str, str]:
    if rule.condition is None:
        return "true", "unconditional"
    try:
        result = rule.condition.test(env)
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    if result is True or result is False:
        return ("true" if result else "false"), ""
    return "error", f"not a boolean: {type(result).__name__}"


class PolicyEngine:
    __slots__ = ("_decisions", "acl", "rbac", "rules")

    def __init__(
        self, rbac: RbacModel | None = None, rules: RuleSet | None = None, acl: AclIndex | None = None
    ) -> None:
        self.rbac = rbac if rbac is not None else RbacModel.build(())
        self.rules = rules if rules is not None else RuleSet()
        self.acl = acl if acl is not None else AclIndex()
        self._decisions: dict[tuple[str, str, str], Decision] = {}

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> PolicyEngine:
        """From a realm-file-shaped mapping: ``permissions``, ``roles``, ``groups``, ``policies``,
        ``acl``; other keys are ignored."""
        return cls(
            RbacModel.from_data(data),
            RuleSet.from_data(data.get("policies")),
            AclIndex.from_data(data.get("acl")),
        )

    def grants(self, subject: Subject) -> EffectiveGrants:
        return self.rbac.grants(subject.roles, subject.groups)

    def effective_permissions(self, subject: Subject) -> frozenset[str]:
        return self.rbac.grants(subject.roles, subject.groups).permissions

    def decide(
        self,
        subject: Subject,
        action: str,
        resource: Resource | None = None,
        context: Mapping[str, object] | None = None,
    ) -> Decision:
        try:
            scopes = subject.scopes
            if scopes is not None and action not in scopes:
                return INSUFFICIENT_SCOPE
            grants = self.rbac.grants(subject.roles, subject.groups)
            bucket = self.rules.for_action(action)
            env = None
            if bucket.denies:
                env = Env(subject, grants, action, resource, context)
                for rule in bucket.denies:
                    if rule.condition is None:
                        return self._cached("deny", rule.id, "")
                    try:
                        hit = rule.condition.test(env)
                    except Exception:
                        return self._cached("deny", rule.id, " (error)")
                    if hit is not False:  # anything but a clean False denies; a non-boolean is an error
                        return self._cached("deny", rule.id, "" if hit is True else " (error)")
            role = grants.granted_by.get(action)
            if role is None and subject.kind == "client" and scopes is not None:
                # A client acting for itself (client credentials) holds no roles: the scopes an
                # administrator registered for it, granted to its token, are its permissions.
                role = CLIENT_REGISTRATION
            if role is not None:
                if not bucket.restrictions:
                    return self._cached("role", role, action)
                env = env or Env(subject, grants, action, resource, context)
                for rule in bucket.restrictions:
                    if _holds(rule, env):
                        return self._cached("role", role, f"{action} + rule:{rule.id}")
            if bucket.grants:
                env = env or Env(subject, grants, action, resource, context)
                for rule in bucket.grants:
                    if _holds(rule, env):
                        return self._cached("rule", rule.id, "")
            if resource is not None:
                match = self.acl.check(subject.ref, grants.groups, action, resource.type, resource.id)
                if match is not None:
                    return Decision(True, f"acl:{match.tuple}", "acl")
            return DEFAULT_DENY
        except Exception as exc:  # fail closed (SEC-59)
            return Decision(False, f"error: {type(exc).__name__}", "error")

    def _cached(self, kind: str, name: str, extra: str) -> Decision:
        """Shared, immutable Decisions: their number is bounded by the model (roles × permissions,
        rules), and building one costs more than the rest of a fast decision."""
        key = (kind, name, extra)
        decision = self._decisions.get(key)
        if decision is None:
            if kind == "deny":
                decision = Decision(False, f"deny:rule:{name}{extra}", "deny-rule")
            elif kind == "role":
                decision = Decision(True, f"role:{name} grants {extra}", "role")
            else:
                decision = Decision(True, f"rule:{name}", "rule")
            self._decisions[key] = decision
        return decision

    def explain(
        self,
        subject: Subject,
        action: str,
        resource: Resource | None = None,
        context: Mapping[str, object] | None = None,
    ) -> Explanation:
        """Every step of the algorithm with its outcome, and the decision ``decide`` returns."""
        try:
            return self._explain(subject, action, resource, context)
        except Exception as exc:
            return Explanation(Decision(False, f"error: {type(exc).__name__}", "error"), ())

    def _explain(
        self, subject: Subject, action: str, resource: Resource | None, context: Mapping[str, object] | None
    ) -> Explanation:
        steps: list[Step] = []
        found: list[Decision] = []
        if subject.scopes is None:
            steps.append(Step("scope", action, "skipped", "no scopes: first-party session"))
        elif action in subject.scopes:
            steps.append(Step("scope", action, "pass"))
        else:
            steps.append(Step("scope", action, "fail", f"scopes: {' '.join(sorted(subject.scopes))}"))
            found.append(INSUFFICIENT_SCOPE)
        grants = self.rbac.grants(subject.roles, subject.groups)
        bucket = self.rules.for_action(action)
        env = Env(subject, grants, action, resource, context)
        for rule in bucket.denies:
            outcome, detail = _outcome(rule, env)
            steps.append(Step("deny-rule", f"rule:{rule.id}", outcome, detail))
            if outcome != "false":
                suffix = " (error)" if outcome == "error" else ""
                found.append(Decision(False, f"deny:rule:{rule.id}{suffix}", "deny-rule"))
        role = grants.granted_by.get(action)
        roles_text = f"effective roles: {', '.join(sorted(grants.roles)) or '-'}"
        steps.append(Step("role", f"role:{role}" if role else action, "pass" if role else "fail", roles_text))
        if role is not None:
            restricted_ok = None
            for rule in bucket.restrictions:
                outcome, detail = _outcome(rule, env)
                steps.append(Step("restriction", f"rule:{rule.id}", outcome, detail))
                if outcome == "true" and restricted_ok is None:
                    restricted_ok = rule
            if not bucket.restrictions:
                found.append(Decision(True, f"role:{role} grants {action}", "role"))
            elif restricted_ok is not None:
                found.append(Decision(True, f"role:{role} grants {action} + rule:{restricted_ok.id}", "role"))
        for rule in bucket.grants:
            outcome, detail = _outcome(rule, env)
            steps.append(Step("allow-rule", f"rule:{rule.id}", outcome, detail))
            if outcome == "true":
                found.append(Decision(True, f"rule:{rule.id}", "rule"))
        if resource is None:
            steps.append(Step("acl", action, "skipped", "no resource"))
        else:
            match = self.acl.check(subject.ref, grants.groups, action, resource.type, resource.id)
            needed = self.acl.required_relation(action)
            steps.append(
                Step(
                    "acl",
                    resource.ref,
                    "pass" if match else "fail",
                    f"{match.tuple}" if match else f"needs {needed}",
                )
            )
            if match is not None:
                found.append(Decision(True, f"acl:{match.tuple}", "acl"))
        return Explanation(found[0] if found else DEFAULT_DENY, tuple(steps))
