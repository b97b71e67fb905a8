"""Factory for multi-worker servers: each worker process builds its own app from the environment."""

from __future__ import annotations

import os

from ostiary.core.settings import Settings
from ostiary.web.server import ServerApp


def build() -> ServerApp:
    demo_users = None
    if os.environ.get("OSTIARY_DEMO") == "1":
        from ostiary.compose.realm import demo_users as load_demo_users

        demo_users = load_demo_users()
    return ServerApp(Settings(), demo_users=demo_users)
