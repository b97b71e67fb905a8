"""The realm file's `policies` and `acl` sections: applied with the rest, idempotent, path-named errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from helpers import Harness, make_app
from ostiary.compose.realm import DEMO_REALM, realm_importer
from ostiary.realm.errors import RealmError
from ostiary.realm.importer import read_realm_file
from ostiary.storage.interfaces.policies import AclRow

REALM: dict[str, Any] = {
    "permissions": ["posts:update", "posts:read"],
    "roles": [{"name": "editor", "permissions": ["posts:update", "posts:read"]}],
    "policies": [
        {"id": "own", "effect": "allow", "actions": ["posts:update"], "requires_permission": True,
         "when": {"eq": ["subject.id", "resource.owner"]}},
        {"id": "office-hours", "effect": "deny", "actions": ["posts:*"],
         "when": {"not": {"time_between": ["context.time", "06:00", "22:00"]}}},
    ],
    "acl": {"actions": {"posts:read": "viewer"}, "tuples": [["group:staff", "viewer", "posts:1"]]},
}  # fmt: skip


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url) as harness:
        yield harness


async def test_import_is_idempotent(app: Harness) -> None:
    importer = realm_importer(app.services)
    first = await importer.import_data(REALM)
    assert first.created == {"permission": 2, "role": 1, "policy": 2, "acl_tuple": 1}
    assert first.updated.get("acl_config") == 1
    version = await app.services.rbac.version()
    again = await importer.import_data(REALM)
    assert not again.changed
    assert await app.services.rbac.version() == version
    snapshot = await app.services.policies.snapshot()
    assert [r.id for r in snapshot.rules] == ["own", "office-hours"]
    assert snapshot.tuples == [AclRow("group:staff", "viewer", "posts:1")]
    assert dict(snapshot.acl.actions) == {"posts:read": "viewer"}
    engine = await app.services.authz.engine()
    assert len(engine.rules) == 2


async def test_the_demo_realm_imports_twice(app: Harness) -> None:
    importer = realm_importer(app.services)
    assert (await importer.import_data(read_realm_file(DEMO_REALM))).changed
    assert not (await importer.import_data(read_realm_file(DEMO_REALM))).changed


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        (
            {
                "policies": [
                    {"id": "x", "effect": "allow", "actions": ["a:b"], "when": {"eq": ["subject.id"]}}
                ]
            },
            "policies[0].when.eq",
        ),
        ({"policies": [{"id": "x", "effect": "maybe", "actions": ["a:b"]}]}, "policies[0].effect"),
        ({"policies": [{"id": "x", "effect": "allow", "actions": ["a:b"], "extra": 1}]}, "policies[0].extra"),
        ({"acl": {"tuples": [["user:1", "boss", "posts:1"]]}}, "acl.tuples[0][1]"),
        ({"acl": {"tuples": [["user:1", "viewer"]]}}, "acl.tuples[0]"),
        ({"acl": {"actions": {"posts:read": "reader"}}}, "acl.actions.posts:read"),
    ],
)
async def test_a_bad_entry_reports_its_path_and_nothing_is_applied(
    app: Harness, patch: dict[str, Any], path: str
) -> None:
    with pytest.raises(RealmError) as caught:
        await realm_importer(app.services).import_data({**REALM, **patch})
    assert caught.value.problems[0][0] == path
    assert (await app.services.rbac.snapshot()).roles == {}
    assert (await app.services.policies.snapshot()).rules == []
