"""`ostiary import FILE`: load a realm (permissions, roles, groups, users, policies, acl) in one transaction.

Idempotent: a user whose stored hash already verifies the file's password keeps that hash, so a
second run changes nothing. References and cycles are checked against the union of the file and
what is already stored, before anything is written; nothing is half-applied.

OAuth clients (`clients:`) are checked with everything else before anything is written, then
upserted through the ClientRegistry after that transaction, one client at a time. A client without
`client_secret` in the file is public — unless it is stored as confidential: then it keeps its
secret (a file never downgrades a client silently; `token_endpoint_auth_method: none` does).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ostiary.authn.accounts import new_user_id, validate_username
from ostiary.authn.hashing_pool import AsyncPasswordHashers
from ostiary.authn.password_policy import PasswordPolicy
from ostiary.core.clock import Clock
from ostiary.core.errors import ValidationFailed
from ostiary.oauth2.client_registry import ClientRegistry, ClientSpec, InvalidClientMetadata, PlannedClient
from ostiary.policy.acl import AclIndex, AclTuple
from ostiary.policy.errors import PolicyError
from ostiary.policy.model import Group, Permission, RbacModel, Role
from ostiary.policy.rules import RuleSet
from ostiary.realm.errors import RealmError
from ostiary.realm.schema import ClientEntry, RealmFile, UserEntry
from ostiary.storage.interfaces.policies import AclConfig, AclRow, PolicyRuleStore, RuleRow
from ostiary.storage.interfaces.rbac import GroupRow, RbacStore, RoleRow
from ostiary.storage.interfaces.realm import RealmChanges, RealmPlan, RealmUser, RealmWriter
from ostiary.storage.interfaces.users import UserStore

MAX_REALM_BYTES = 16 * 1024 * 1024


def parse_realm_text(text: str, *, suffix: str = ".yaml") -> Mapping[str, Any]:
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise RealmError(
            [("(root)", f"not valid {'JSON' if suffix == '.json' else 'YAML'}: {exc}")]
        ) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise RealmError([("(root)", "the realm must be a mapping with permissions, roles, groups, users")])
    return data


def read_realm_file(path: Path) -> Mapping[str, Any]:
    if path.stat().st_size > MAX_REALM_BYTES:
        raise RealmError([("(root)", "the file is larger than 16 MiB")])
    return parse_realm_text(path.read_text(encoding="utf-8"), suffix=path.suffix.lower())


class RealmImporter:
    def __init__(
        self,
        users: UserStore,
        rbac: RbacStore,
        writer: RealmWriter,
        hashers: AsyncPasswordHashers,
        policy: PasswordPolicy,
        clock: Clock,
        on_disabled: Callable[[str], Awaitable[object]] | None = None,
        policies: PolicyRuleStore | None = None,
        clients: ClientRegistry | None = None,
    ) -> None:
        self._policies = policies
        self._clients = clients
        self._users = users
        self._rbac = rbac
        self._writer = writer
        self._hashers = hashers
        self._policy = policy
        self._clock = clock
        self._on_disabled = on_disabled

    async def import_data(self, data: Mapping[str, Any]) -> RealmChanges:
        try:
            realm = RealmFile.model_validate(data)
        except ValidationError as exc:
            raise RealmError.from_validation(exc) from None
        await self._check_references(realm)
        rules, acl_config, acl_tuples = await self._plan_policies(realm)
        users = [await self._plan_user(i, entry) for i, entry in enumerate(realm.users)]
        clients = await self._plan_clients(realm)
        plan = RealmPlan(
            permissions={p.name: p.description for p in realm.permission_entries()},
            roles=[
                RoleRow(r.name, r.description, frozenset(r.permissions), frozenset(r.includes))
                for r in realm.roles
            ],
            groups=[GroupRow(g.name, g.description, frozenset(g.roles), g.parent) for g in realm.groups],
            users=users,
            rules=rules,
            acl_tuples=acl_tuples,
            acl_config=acl_config,
        )
        changes = await self._writer.apply(plan, now=self._clock.now(), new_user_id=new_user_id)
        if self._clients is not None:  # clients were refused above when there is no registry
            for planned in clients:
                outcome = await self._clients.apply(planned)
                if outcome != "unchanged":
                    changes.add("client", created=outcome == "created")
        if self._on_disabled is not None:
            for entry in realm.users:
                stored = await self._users.find_by_login(entry.username) if entry.disabled else None
                if stored is not None:
                    await self._on_disabled(stored.id)  # a disabled user's sessions end now (SEC-12)
        return changes

    async def _check_references(self, realm: RealmFile) -> None:
        stored = await self._rbac.snapshot()
        permissions = {name: Permission(name, d) for name, d in stored.permissions.items()}
        permissions.update({p.name: Permission(p.name, p.description) for p in realm.permission_entries()})
        roles = {r.name: Role(r.name, r.permissions, r.includes) for r in stored.roles.values()}
        roles.update(
            {r.name: Role(r.name, frozenset(r.permissions), frozenset(r.includes)) for r in realm.roles}
        )
        groups = {g.name: Group(g.name, g.roles, g.parent) for g in stored.groups.values()}
        groups.update({g.name: Group(g.name, frozenset(g.roles), g.parent) for g in realm.groups})
        try:
            RbacModel.build(roles.values(), groups.values(), permissions.values())
        except PolicyError as exc:
            raise RealmError([(exc.path or "(root)", exc.message)]) from None
        problems = []
        for i, user in enumerate(realm.users):
            problems += [(f"users[{i}].roles", f"unknown role {r!r}") for r in user.roles if r not in roles]
            problems += [
                (f"users[{i}].groups", f"unknown group {g!r}") for g in user.groups if g not in groups
            ]
        if problems:
            raise RealmError(problems)

    async def _plan_policies(self, realm: RealmFile) -> tuple[list[RuleRow], AclConfig | None, list[AclRow]]:
        """Parse ``policies`` and ``acl`` with the engine's parsers; check tuples against the schema.

        An ``acl`` section with ``relations`` or ``actions`` defines the whole ACL schema (what it
        omits is the default); without them the stored schema stays.
        """
        if (realm.policies or realm.acl) and self._policies is None:
            raise RealmError([("policies", "this importer has no policy store")])
        acl = dict(realm.acl or {})
        stored = await self._policies.snapshot() if self._policies is not None and acl else None
        if stored is not None and "relations" not in acl and "actions" not in acl:
            # tuples only: check them against the stored schema
            acl.update(relations=stored.acl.relations, actions=dict(stored.acl.actions))
        try:
            RuleSet.from_data(realm.policies)
            AclIndex.from_data(acl or None)
        except PolicyError as exc:
            raise RealmError([(exc.path or "(root)", exc.message)]) from None
        rules = [
            RuleRow(
                id=r["id"],
                effect=r["effect"],
                actions=tuple(r["actions"]),
                condition=r.get("when"),
                requires_permission=bool(r.get("requires_permission", False)),
                description=r.get("description", ""),
            )
            for r in realm.policies
        ]
        raw = realm.acl or {}
        config = None
        if "relations" in raw or "actions" in raw:
            config = AclConfig(relations=raw.get("relations"), actions=dict(raw.get("actions") or {}))
        tuples = [AclRow(*t) for t in raw.get("tuples") or []]
        if stored is not None and config is not None and stored.tuples:
            try:  # the stored tuples must still fit the file's schema
                AclIndex(
                    (AclTuple(r.subject, r.relation, r.resource) for r in stored.tuples),
                    relations=config.relations,
                    actions=config.actions,
                )
            except PolicyError as exc:
                raise RealmError([("acl.relations", f"a stored tuple does not fit: {exc.message}")]) from None
        return rules, config, tuples

    async def _plan_clients(self, realm: RealmFile) -> list[PlannedClient]:
        if not realm.clients:
            return []
        if self._clients is None:
            raise RealmError([("clients", "this importer has no client registry")])
        problems: list[tuple[str, str]] = []
        planned: list[PlannedClient] = []
        first_at: dict[str, int] = {}
        for i, entry in enumerate(realm.clients):
            path = f"clients[{i}]"
            if entry.client_id in first_at:
                problems.append(
                    (
                        f"{path}.client_id",
                        f"{entry.client_id!r} is also defined at clients[{first_at[entry.client_id]}]",
                    )
                )
                continue
            first_at[entry.client_id] = i
            try:
                planned.append(await self._clients.plan_put(await self._client_spec(entry)))
            except InvalidClientMetadata as exc:
                problems += [(f"{path}.{field}", message) for field, message in exc.problems]
        if problems:
            raise RealmError(problems)
        return planned

    async def _client_spec(self, entry: ClientEntry) -> ClientSpec:
        method = entry.token_endpoint_auth_method
        if method is None and entry.client_secret is not None:
            method = "client_secret_basic"
        elif method is None:
            stored = await self._clients.find(entry.client_id) if self._clients is not None else None
            # A stored confidential client keeps its secret and method; otherwise no secret = public.
            method = stored.token_endpoint_auth_method if stored is not None else "none"
        return ClientSpec(
            client_id=entry.client_id,
            name=entry.name,
            redirect_uris=tuple(entry.redirect_uris),
            grant_types=tuple(entry.grant_types),
            scopes=tuple(entry.scopes),
            token_endpoint_auth_method=method,
            access_token_format=entry.access_token_format,
            first_party=entry.first_party,
            post_logout_redirect_uris=tuple(entry.post_logout_redirect_uris),
            application_type=entry.application_type,
            id_token_signed_response_alg=entry.id_token_signed_response_alg,
            lifetimes=dict(entry.lifetimes),
            disabled=entry.disabled,
            client_secret=entry.client_secret,
        )

    async def _plan_user(self, index: int, entry: UserEntry) -> RealmUser:
        path = f"users[{index}]"
        try:
            username = validate_username(entry.username)
        except ValidationFailed as exc:
            raise RealmError([(f"{path}.username", exc.message)]) from None
        password_hash: str | None = None
        if entry.password_hash is not None:
            if not self._hashers.hashers.is_valid_encoding(entry.password_hash):
                raise RealmError([(f"{path}.password_hash", "not an argon2, bcrypt or Django pbkdf2 hash")])
            password_hash = entry.password_hash
        elif entry.password is not None:
            try:
                self._policy.check(entry.password, username=username, email=entry.email)
            except ValidationFailed as exc:
                raise RealmError([(f"{path}.password", exc.message)]) from None
            existing = await self._users.find_by_login(username)
            current = existing.password_hash if existing else None
            if current is None or not (await self._hashers.verify(entry.password, current)).ok:
                password_hash = await self._hashers.hash(entry.password)
        return RealmUser(
            username=username,
            email=entry.email,
            password_hash=password_hash,
            roles=frozenset(entry.roles),
            groups=frozenset(entry.groups),
            disabled=entry.disabled,
        )
