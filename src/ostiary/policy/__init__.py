"""Authorization: RBAC (groups → roles → permissions), OAuth scopes, ABAC conditions and ACL tuples.

Pure and deterministic: imports only ``ostiary.core`` and the standard library. Build a
``PolicyEngine`` from plain data (``PolicyEngine.from_data(realm)``) or from the parts, then call
``engine.decide(subject, action, resource, context)``. The decision algorithm is documented in
``ostiary.policy.engine``.
"""

from ostiary.policy.acl import AclIndex, AclTuple
from ostiary.policy.conditions import Condition, parse_condition
from ostiary.policy.engine import Decision, Explanation, PolicyEngine, Step
from ostiary.policy.errors import PolicyError
from ostiary.policy.model import EffectiveGrants, Group, Permission, RbacModel, Role, SubjectGrants
from ostiary.policy.rules import Rule, RuleSet
from ostiary.policy.scopes import PROTOCOL_SCOPES, granted_scopes, scope_covers
from ostiary.policy.subject import Resource, Subject

__all__ = [
    "PROTOCOL_SCOPES",
    "AclIndex",
    "AclTuple",
    "Condition",
    "Decision",
    "EffectiveGrants",
    "Explanation",
    "Group",
    "Permission",
    "PolicyEngine",
    "PolicyError",
    "RbacModel",
    "Resource",
    "Role",
    "Rule",
    "RuleSet",
    "Step",
    "Subject",
    "SubjectGrants",
    "granted_scopes",
    "parse_condition",
    "scope_covers",
]
