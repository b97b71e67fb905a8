"""django-oauth-toolkit configured like ostiary's bench clients (bench/oauth_bench.py).

One confidential client_credentials client; DOT's defaults otherwise (SQLite, opaque access tokens
stored in its AccessToken table, client secrets hashed with Django's default password hasher as DOT
3.x does when `hash_client_secret` is left on). Served by gunicorn with one sync worker.
"""

import os
from pathlib import Path

DATA = Path(os.environ.get("DOT_BENCH_DATA", "/tmp/ostiary-bench-dot"))
DATA.mkdir(parents=True, exist_ok=True)

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "urls"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]
MIDDLEWARE: list[str] = []
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA / "db.sqlite3")}}
OAUTH2_PROVIDER = {
    "SCOPES": {"items:read": "Read items", "introspection": "Introspect tokens"},
    "ACCESS_TOKEN_EXPIRE_SECONDS": 600,
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {"version": 1, "disable_existing_loggers": True}
