"""The instance secret: from OSTIARY_SECRET_KEY, or generated once into the data directory (0600)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from ostiary.core.secrets import InstanceSecret

SECRET_FILE = "secret.key"


def _decode(value: str) -> bytes:
    value = value.strip()
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if len(raw) < InstanceSecret.MIN_BYTES:
        raise ValueError("OSTIARY_SECRET_KEY must encode at least 32 bytes (hex or base64url)")
    return raw


def load_instance_secret(data_dir: Path, configured: str | None) -> InstanceSecret:
    if configured:
        return InstanceSecret(_decode(configured))
    path = data_dir / SECRET_FILE
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{path} is readable by others (mode {oct(mode)}); chmod 600 it")
        return InstanceSecret(_decode(path.read_text()))
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = InstanceSecret.generate()
    # Write a private temp file, then link it into place: the link either creates the complete file
    # or fails because another worker won the race, and then its secret is the one everyone uses.
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(root.hex())
    try:
        os.link(tmp, path)
    except FileExistsError:
        return InstanceSecret(_decode(path.read_text()))
    finally:
        tmp.unlink()
    return InstanceSecret(root)
