"""RFC 6749 §4: the shape every grant at the token endpoint shares.

A grant receives an already authenticated client, allowed to use this grant type (the token
endpoint checked both), and returns the tokens or raises an `OAuthError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ostiary.oauth2.minting import TokenSet
from ostiary.oauth2.requests import OAuthRequest, Params
from ostiary.storage.interfaces.oauth_clients import Client


@dataclass(frozen=True)
class TokenRequest:
    client: Client
    params: Params  # the form, already free of repeated parameters
    request: OAuthRequest


class Grant(Protocol):
    @property
    def grant_type(self) -> str: ...

    async def handle(self, request: TokenRequest) -> TokenSet: ...
