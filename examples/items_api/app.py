"""Items API: a separate service that accepts ostiary access tokens through `ostiary.sdk`.

    OSTIARY_ISSUER=http://127.0.0.1:8000 uvicorn --factory app:create_app --port 9000

GET /items needs the scope `items:read`, POST /items needs `items:write` (in the demo realm: carol
reads, bob and alice also write). Tokens are verified locally against the issuer's JWKS, which is
fetched once, cached, and refetched when a token names a key the cache does not hold yet.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the `Annotated` dependencies
# defined inside create_app, which it cannot do from strings.
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from ostiary.sdk import JwksCache, JwtAccessTokenVerifier, OstiaryAuth, TokenInfo


class NewItem(BaseModel):
    name: str = Field(min_length=1, max_length=100)


def create_app(
    issuer: str | None = None, audience: str | None = None, *, http: httpx.AsyncClient | None = None
) -> FastAPI:
    """The API for `issuer` (default `$OSTIARY_ISSUER`); tokens must name `audience` (default
    `$ITEMS_API_AUDIENCE`, else the issuer: ostiary's default audience for its access tokens)."""
    issuer = issuer or os.environ.get("OSTIARY_ISSUER")
    if not issuer:
        raise SystemExit("set OSTIARY_ISSUER to the URL of the ostiary server")
    audience = audience or os.environ.get("ITEMS_API_AUDIENCE") or issuer
    jwks = JwksCache(os.environ.get("OSTIARY_JWKS_URI", f"{issuer}/.well-known/jwks.json"), http=http)
    auth = OstiaryAuth(JwtAccessTokenVerifier(issuer, audience, jwks), realm="items")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await jwks.get()  # warm the key cache; if the issuer is down, retried 30 s later
        yield
        await jwks.aclose()

    app = FastAPI(title="Items API", lifespan=lifespan)
    items: list[dict[str, Any]] = [{"id": 1, "name": "hammer", "owner": None}]
    ids = itertools.count(2)

    Reader = Annotated[TokenInfo, Depends(auth.require(scopes="items:read"))]
    Writer = Annotated[TokenInfo, Depends(auth.require(scopes="items:write"))]

    @app.get("/items")
    async def list_items(token: Reader) -> dict[str, Any]:
        return {"items": items, "caller": token.username or token.subject}

    @app.post("/items", status_code=201)
    async def create_item(item: NewItem, token: Writer) -> dict[str, Any]:
        record = {"id": next(ids), "name": item.name, "owner": token.subject}
        items.append(record)
        return record

    return app
