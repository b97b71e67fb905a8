"""Migrate the bench database and (re)create the bench client. Usage: setup_client.py ID SECRET"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
import django

django.setup()
from django.core.management import call_command  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

call_command("migrate", verbosity=0)
client_id, secret = sys.argv[1], sys.argv[2]
Application.objects.filter(client_id=client_id).delete()
Application.objects.create(
    client_id=client_id,
    client_secret=secret,
    client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    name="bench",
)
