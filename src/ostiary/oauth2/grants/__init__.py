"""RFC 6749 §4: the grants of the token endpoint, one module each."""

from __future__ import annotations

from ostiary.oauth2.grants.authorization_code import AuthorizationCodeGrant
from ostiary.oauth2.grants.base import Grant, TokenRequest
from ostiary.oauth2.grants.client_credentials import ClientCredentialsGrant

__all__ = ["AuthorizationCodeGrant", "ClientCredentialsGrant", "Grant", "TokenRequest"]
