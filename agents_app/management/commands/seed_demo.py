from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents_app.demo_data import DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Create demo users (test/test123, ...) with accounts, cards and transactions."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90, help="days of transaction history")
        parser.add_argument("--reset", action="store_true", help="recreate existing demo data")

    def handle(self, *args, days: int, reset: bool, **options):
        # Known passwords must never reach a real bank's database.
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo refuses to run with production settings")
        summary = seed_demo(days=days, reset=reset)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {summary.users} users set up, {summary.accounts} accounts, "
                f"{summary.cards} cards, {summary.transactions} transactions."
            )
        )
        self.stdout.write("Log in as: " + ", ".join(f"{u}/{p}" for u, p, _ in DEMO_USERS))
