"""Plain data (a parsed realm file or admin-API payload) to an ``RbacModel``, with paths in errors.

permissions:                     # optional catalogue: name -> description (or a list of names)
  posts:read: Read posts
roles:                           # name -> {permissions, includes, description}, or a list of
  viewer: {permissions: [posts:read]}           # objects with a "name" key
  editor: {permissions: [posts:create, posts:update], includes: [viewer]}
groups:
  staff: {roles: [viewer]}
  staff-eu: {roles: [], parent: staff}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ostiary.policy.errors import PolicyError, child
from ostiary.policy.model import Group, Permission, RbacModel, Role, check_permission_name


def _entries(data: object, path: str) -> Iterator[tuple[str, dict[str, object], str]]:
    """Yield (name, spec, path) from ``{name: spec}`` or ``[{"name": ..., ...}]``."""
    if data is None:
        return
    if isinstance(data, dict):
        for name, spec in data.items():
            p = child(path, str(name))
            spec = {} if spec is None else spec
            if not isinstance(name, str) or not name or not isinstance(spec, dict):
                raise PolicyError("expected name: {…}", path=p)
            yield name, spec, p
    elif isinstance(data, list):
        for i, spec in enumerate(data):
            p = child(path, i)
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
                raise PolicyError("expected an object with a 'name'", path=p)
            yield str(spec["name"]), {k: v for k, v in spec.items() if k != "name"}, p
    else:
        raise PolicyError("expected a mapping or a list", path=path)


def _names(spec: Mapping[str, object], key: str, path: str) -> frozenset[str]:
    raw = spec.get(key) or []
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise PolicyError(f"'{key}' is a list of names", path=child(path, key))
    return frozenset(raw)


def _check_keys(spec: Mapping[str, object], allowed: frozenset[str], path: str) -> None:
    for key in spec:
        if key not in allowed:
            raise PolicyError(f"unknown key {key!r}", path=child(path, str(key)))


def _description(spec: Mapping[str, object], path: str) -> str:
    value = spec.get("description", "")
    if not isinstance(value, str):
        raise PolicyError("'description' is a string", path=child(path, "description"))
    return value


def rbac_from_data(data: Mapping[str, object], *, path: str = "", cache_size: int = 4096) -> RbacModel:
    raw_perms = data.get("permissions")
    catalogue: list[Permission] | None = None
    if isinstance(raw_perms, list):
        catalogue = [
            Permission(check_permission_name(p, child(child(path, "permissions"), i)))
            for i, p in enumerate(raw_perms)
        ]
    elif isinstance(raw_perms, dict):
        catalogue = []
        for name, desc in raw_perms.items():
            p = child(child(path, "permissions"), str(name))
            if desc is not None and not isinstance(desc, str):
                raise PolicyError("a permission maps to its description", path=p)
            catalogue.append(Permission(check_permission_name(name, p), desc or ""))
    elif raw_perms is not None:
        raise PolicyError("expected a mapping or a list", path=child(path, "permissions"))

    roles = []
    for name, spec, p in _entries(data.get("roles"), child(path, "roles")):
        _check_keys(spec, frozenset({"permissions", "includes", "description"}), p)
        perms = _names(spec, "permissions", p)
        raw_list: list[object] = spec.get("permissions") or []  # type: ignore[assignment]  # checked above
        for i, perm in enumerate(raw_list):
            check_permission_name(perm, child(child(p, "permissions"), i))
        roles.append(Role(name, perms, _names(spec, "includes", p), _description(spec, p)))

    groups = []
    for name, spec, p in _entries(data.get("groups"), child(path, "groups")):
        _check_keys(spec, frozenset({"roles", "parent", "description"}), p)
        parent = spec.get("parent")
        if parent is not None and (not isinstance(parent, str) or not parent):
            raise PolicyError("'parent' is a group name", path=child(p, "parent"))
        groups.append(Group(name, _names(spec, "roles", p), parent, _description(spec, p)))
    return RbacModel.build(roles, groups, catalogue, cache_size=cache_size)
