import anyio
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from agents_app.mcp_server import run_stdio


class Command(BaseCommand):
    help = "Serve the bank's MCP tools over stdio for one user (for desktop MCP clients)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username whose data the tools use")

    def handle(self, *args, user: str, **options):
        found = get_user_model().objects.filter(username=user, is_active=True).first()
        # The same answer for unknown and inactive users, as at login.
        if found is None:
            raise CommandError(f"no active user {user!r}")
        connection.close()  # the tools use their own threads' connections from here on
        # stdout now carries only JSON-RPC frames; anything else (logs) goes to stderr.
        anyio.run(run_stdio, found.get_username())
