"""`ostiary login` and `--help` run on developers' machines: the CLI must not load the server stack
(FastAPI, SQLAlchemy, the services) until a command that needs it runs."""

from __future__ import annotations

import subprocess
import sys

SERVER_STACK = ("fastapi", "sqlalchemy", "uvicorn", "ostiary.compose.services", "ostiary.web")


def test_importing_the_cli_leaves_the_server_stack_unloaded() -> None:
    probe = (
        "import sys, ostiary.cli.main\n"
        f"loaded = [m for m in {SERVER_STACK!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
