"""The CLI's stored logins: `$XDG_CONFIG_HOME/ostiary/credentials.json` (default `~/.config/…`),
keyed by issuer.

The file is created with mode 0600 from its first byte (`os.open(…, 0o600)` on a fresh temporary
file, then an atomic `os.replace`), in a 0700 directory: a crash mid-write leaves the old file
intact, and there is no instant at which another user could open it.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from rich.console import Console

_err_console = Console(stderr=True)


class LoginError(Exception):
    """A failure to show the user as is (no token or secret in the message)."""


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"  # XDG: ignore relative
    return root / "ostiary" / "credentials.json"


class CredentialStore:
    """`{"version": 1, "credentials": {issuer: entry}}` in one private file, rewritten atomically."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or credentials_path()

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LoginError(f"cannot read {self.path}: {exc}") from None
        if self.path.stat().st_mode & 0o077:
            _err_console.print(f"[yellow]warning[/yellow] {self.path} is readable by others; fix: chmod 600")
        entries = data.get("credentials") if isinstance(data, dict) else None
        return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}

    def save(self, issuer: str, entry: dict[str, Any]) -> None:
        entries = self.load()
        entries[issuer] = entry
        self._write(entries)

    def remove(self, issuer: str) -> bool:
        entries = self.load()
        if entries.pop(issuer, None) is None:
            return False
        self._write(entries)
        return True

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise LoginError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"version": 1, "credentials": entries}, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise LoginError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            raise


def credential_entry(body: dict[str, Any], client_id: str, source: str, now: float) -> dict[str, Any]:
    """What is stored for a token response (or a pasted token): never more than the client needs."""
    expires_in = body.get("expires_in")
    entry = {
        "access_token": body["access_token"],
        "token_type": "Bearer",
        "client_id": client_id,
        "obtained_at": int(now),
        "source": source,
        "expires_at": int(now + expires_in) if isinstance(expires_in, int) else None,
        "scope": body.get("scope") if isinstance(body.get("scope"), str) else None,
    }
    if isinstance(body.get("refresh_token"), str):
        entry["refresh_token"] = body["refresh_token"]
    return entry
