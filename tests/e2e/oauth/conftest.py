"""Fixtures shared by the OAuth end-to-end tests (helpers are in oauth_e2e.py; each module starts
its own server, since each registers its own clients)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from oauth_e2e import RP_NODE


@pytest.fixture(scope="session")
def node_binary() -> Path:
    """node, with rp_node's npm packages (openid-client, oauth4webapi) installed from its
    package-lock.json on first use; node_modules is git-ignored."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed for the openid-client tests (Debian packages nodejs, npm)")
    if not (RP_NODE / "node_modules" / "openid-client" / "package.json").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=RP_NODE,
            check=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
    return Path(node)
