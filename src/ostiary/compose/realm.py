"""Wires the realm importer to the services, and knows the bundled demo realm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ostiary.compose.clients import build_client_registry
from ostiary.compose.not_before import UserTokenRevoker
from ostiary.compose.services import Services
from ostiary.realm.importer import RealmImporter, read_realm_file
from ostiary.storage.interfaces.realm import RealmChanges

DEMO_REALM = Path(__file__).resolve().parent.parent / "realm" / "demo.yaml"


def realm_importer(services: Services) -> RealmImporter:
    user_tokens = UserTokenRevoker(services.users, services.tokens.refresh, services.clock)

    async def end_sessions(user_id: str) -> int:
        # A disabled user is out at once (SEC-12), and stays out if enabled again later: the
        # sessions end, and the tokens through the user's not-before and refresh families.
        await user_tokens.revoke_user(user_id, reason="user_disabled")
        return await services.sessions.revoke_user(user_id)

    return RealmImporter(
        services.users,
        services.rbac,
        services.realm_writer,
        services.hashers,
        services.policy,
        services.clock,
        on_disabled=end_sessions,
        policies=services.policies,
        clients=build_client_registry(services),
    )


async def import_realm_file(services: Services, path: Path) -> RealmChanges:
    return await realm_importer(services).import_data(read_realm_file(path))


def demo_users() -> list[dict[str, str]]:
    """The demo accounts as shown on the login page in demo mode."""
    data: Any = read_realm_file(DEMO_REALM)
    return [
        {"username": u["username"], "password": u["password"], "role": ", ".join(u.get("roles", []))}
        for u in data.get("users", [])
    ]
