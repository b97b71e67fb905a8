"""The one error of the policy layer: bad policy data, reported with the path of the offending key."""

from __future__ import annotations

from ostiary.core.errors import ValidationFailed


class PolicyError(ValidationFailed):
    """Policy data that cannot be loaded: an unknown reference, a cycle, a bad operator or operand.

    ``field`` is a JSON-path-like location (``policies[2].when.all[0].eq``) so an admin can find the key
    in the realm file or the admin-API payload.
    """

    code = "invalid_policy"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message, field=path)
        self.path = path


def child(path: str, key: str | int) -> str:
    """``child("a", "b") == "a.b"``; ``child("a", 0) == "a[0]"``; ``child("", "b") == "b"``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key
