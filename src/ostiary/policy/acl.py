"""Per-resource grants: ACL tuples ``(subject, relation, resource)`` with implied relations.

    acl:
      relations:                      # per resource type; "*" is the default for other types
        "*":   {owner: [editor], editor: [viewer], viewer: []}
      actions:                        # the relation an action needs on the resource
        posts:read: viewer
        posts:update: editor
        posts:delete: owner
      tuples:
        - [user:42, owner, posts:7]
        - [group:eng, viewer, posts:7]

``owner: [editor]`` reads "owner implies editor": a holder of ``owner`` also holds ``editor`` and,
transitively, ``viewer``. A ``group:<name>`` tuple applies to the group's members, including members of
its descendant groups (a member of ``eng/backend`` is a member of ``eng``, see ``model``).

The index is keyed by resource, so a check is one dict look-up plus one per group the subject is in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ostiary.policy.errors import PolicyError, child
from ostiary.policy.model import transitive_closure

DEFAULT_RELATIONS: Mapping[str, Iterable[str]] = {"owner": ["editor"], "editor": ["viewer"], "viewer": []}
_SUBJECT_KINDS = frozenset({"user", "client", "group"})


def _split(ref: object, what: str, path: str) -> tuple[str, str]:
    if not isinstance(ref, str):
        raise PolicyError(f"{what} is a string '<type>:<id>'", path=path)
    kind, sep, ident = ref.partition(":")
    if not sep or not kind or not ident:
        raise PolicyError(f"{what} {ref!r} is not '<type>:<id>'", path=path)
    return kind, ident


@dataclass(frozen=True, slots=True)
class AclTuple:
    subject: str  # "user:42" | "group:eng" | "client:cli"
    relation: str
    resource: str  # "<type>:<id>"

    def __str__(self) -> str:
        return f"{self.subject} {self.relation} {self.resource}"


@dataclass(frozen=True, slots=True)
class AclMatch:
    tuple: AclTuple
    required: str  # the relation the action needed; tuple.relation implies it


class AclIndex:
    """An immutable index of tuples plus the relation schema and the action→relation map."""

    __slots__ = ("_actions", "_granting", "_index", "tuples")

    def __init__(
        self,
        tuples: Iterable[AclTuple] = (),
        *,
        relations: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
        actions: Mapping[str, str] | None = None,
    ) -> None:
        schemas = dict(relations or {"*": DEFAULT_RELATIONS})
        schemas.setdefault("*", DEFAULT_RELATIONS)
        # _granting[type][needed] = relations that imply `needed` (itself included)
        self._granting: dict[str, dict[str, frozenset[str]]] = {}
        for rtype, schema in schemas.items():
            implies = {rel: frozenset(impl) for rel, impl in schema.items()}
            for rel, impl in implies.items():
                for target in sorted(impl - implies.keys()):
                    raise PolicyError(f"unknown relation {target!r}", path=f"acl.relations.{rtype}.{rel}")
            closures = {
                rel: transitive_closure(rel, implies, "relation", f"acl.relations.{rtype}.{rel}")
                for rel in implies
            }
            self._granting[rtype] = {
                needed: frozenset(r for r, c in closures.items() if needed in c) for needed in implies
            }
        self._actions = dict(actions or {})
        for action, rel in self._actions.items():
            known = {r for g in self._granting.values() for r in g}
            if rel not in known:
                raise PolicyError(f"unknown relation {rel!r}", path=f"acl.actions.{action}")
        self.tuples = tuple(tuples)
        index: dict[tuple[str, str], dict[str, dict[str, AclTuple]]] = {}
        for i, t in enumerate(self.tuples):
            path = f"acl.tuples[{i}]"
            kind, _ = _split(t.subject, "subject", child(path, 0))
            if kind not in _SUBJECT_KINDS:
                raise PolicyError(f"unknown subject kind {kind!r}", path=child(path, 0))
            key = _split(t.resource, "resource", child(path, 2))
            if t.relation not in self._schema(key[0]):
                raise PolicyError(f"unknown relation {t.relation!r} for {key[0]}", path=child(path, 1))
            index.setdefault(key, {}).setdefault(t.subject, {})[t.relation] = t
        self._index = index

    @classmethod
    def from_data(cls, data: object, path: str = "acl") -> AclIndex:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise PolicyError("'acl' is an object", path=path)
        for key in data:
            if key not in ("relations", "actions", "tuples"):
                raise PolicyError(f"unknown key {key!r}", path=child(path, str(key)))
        raw = data.get("tuples") or []
        if not isinstance(raw, list):
            raise PolicyError("'tuples' is a list", path=child(path, "tuples"))
        tuples = []
        for i, t in enumerate(raw):
            if not isinstance(t, list | tuple) or len(t) != 3 or not all(isinstance(x, str) for x in t):
                raise PolicyError(
                    "a tuple is [subject, relation, resource]", path=child(child(path, "tuples"), i)
                )
            tuples.append(AclTuple(*t))
        relations, actions = data.get("relations"), data.get("actions")
        if relations is not None and not isinstance(relations, dict):
            raise PolicyError(
                "'relations' maps a resource type to its relations", path=child(path, "relations")
            )
        if actions is not None and not isinstance(actions, dict):
            raise PolicyError("'actions' maps an action to a relation", path=child(path, "actions"))
        return cls(tuples, relations=relations, actions=actions)

    def _schema(self, rtype: str) -> dict[str, frozenset[str]]:
        return self._granting.get(rtype) or self._granting["*"]

    def required_relation(self, action: str) -> str | None:
        return self._actions.get(action)

    def __len__(self) -> int:
        return len(self.tuples)

    def check(
        self, subject_ref: str, groups: Iterable[str], action: str, rtype: str, rid: str
    ) -> AclMatch | None:
        """The tuple that lets this subject (or one of its effective groups) do ``action``, if any."""
        needed = self._actions.get(action)
        if needed is None:
            return None
        by_subject = self._index.get((rtype, rid))
        if not by_subject:
            return None
        granting = self._schema(rtype).get(needed)
        if not granting:
            return None
        for ref in (subject_ref, *(f"group:{g}" for g in sorted(groups))):
            held = by_subject.get(ref)
            if held:
                for rel in sorted(granting & held.keys()):
                    return AclMatch(held[rel], needed)
        return None
