"""SQL OAuth client store (RFC 6749 §2, RFC 7591 §2 metadata): one row per client, lists as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.errors import Conflict, NotFound
from ostiary.storage.interfaces.oauth_clients import Client, ClientLifetimes
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_C = t.oauth_clients


def _values(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "secret_digest": client.secret_digest,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": list(client.response_types),
        "scopes": list(client.scopes),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "access_token_format": client.access_token_format,
        "first_party": client.first_party,
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "application_type": client.application_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "lifetimes": asdict(client.lifetimes),
        "disabled": client.disabled,
        "created_at": client.created_at,
        "tokens_not_before": client.tokens_not_before,
    }


def _client(row: RowMapping) -> Client:
    return Client(
        client_id=row["client_id"],
        name=row["name"],
        secret_digest=row["secret_digest"],
        redirect_uris=tuple(row["redirect_uris"]),
        grant_types=tuple(row["grant_types"]),
        response_types=tuple(row["response_types"]),
        scopes=tuple(row["scopes"]),
        token_endpoint_auth_method=row["token_endpoint_auth_method"],
        access_token_format=row["access_token_format"],
        first_party=row["first_party"],
        post_logout_redirect_uris=tuple(row["post_logout_redirect_uris"]),
        application_type=row["application_type"],
        id_token_signed_response_alg=row["id_token_signed_response_alg"],
        # Keys absent from an older row take the dataclass defaults; the caps are re-checked.
        lifetimes=ClientLifetimes(**row["lifetimes"]),
        disabled=row["disabled"],
        created_at=row["created_at"],
        tokens_not_before=row["tokens_not_before"],
    )


class SqlClientStore:
    """Implements ClientStore. `updated_at` (not part of `Client`) records the last write, for admins."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    async def get(self, client_id: str) -> Client | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(_C).where(_C.c.client_id == client_id))).mappings().first()
        return _client(row) if row is not None else None

    async def add(self, client: Client) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(insert(_C).values(**_values(client), updated_at=self._clock.now()))
        except IntegrityError as exc:
            raise Conflict("A client with this client_id already exists.") from exc

    async def update(self, client: Client) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(_C)
                .where(_C.c.client_id == client.client_id)
                .values(**_values(client), updated_at=self._clock.now())
            )
        if result.rowcount != 1:
            raise NotFound("No such client.")

    async def list(self) -> list[Client]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(_C).order_by(_C.c.client_id))).mappings().all()
        return [_client(row) for row in rows]
