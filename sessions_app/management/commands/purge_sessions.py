from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from sessions_app.management.dates import day_count, positive_int
from sessions_app.management.progress import add_progress_argument, progress_bar
from sessions_app.management.retention import purge_plan, sessions_purge_batch


class Command(BaseCommand):
    help = (
        "Delete sessions (and their messages) with no activity for the retention period. "
        "Use --dry-run first to see what would go."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-days",
            type=day_count,
            required=True,
            metavar="DAYS",
            help="retention period: sessions whose last activity is older than this go",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=500,
            help="sessions deleted per transaction (default 500)",
        )
        add_progress_argument(parser)

    def handle(self, *args, older_than_days, dry_run, batch_size, progress, **options):
        cutoff = timezone.now() - timedelta(days=older_than_days)
        try:
            plan = purge_plan(cutoff=cutoff)
        except DatabaseError as exc:
            raise CommandError(f"Could not read sessions: {exc.__class__.__name__}") from exc
        statuses = ", ".join(f"{n} {status}" for status, n in plan.by_status.items()) or "none"
        oldest = plan.oldest_activity.isoformat() if plan.oldest_activity else "-"
        self.stdout.write(
            f"Sessions idle since before {cutoff.isoformat()} ({older_than_days} days): "
            f"{plan.sessions} ({statuses}), {plan.messages} messages; oldest activity {oldest}."
        )
        if dry_run:
            self.stdout.write("Dry run: nothing deleted.")
            return
        if not plan.sessions:
            self.stdout.write(self.style.SUCCESS("Nothing to delete."))
            return

        sessions = messages = 0
        bar = progress_bar(
            self, total=plan.sessions, unit="session", desc="purging", enabled=progress
        )
        try:
            with bar:
                while True:
                    deleted, deleted_messages = sessions_purge_batch(
                        cutoff=cutoff, batch_size=batch_size
                    )
                    if not deleted:
                        break
                    sessions += deleted
                    messages += deleted_messages
                    bar.update(deleted)
        except DatabaseError as exc:
            # Batches already committed stay deleted; running the command again finishes.
            raise CommandError(
                f"Purge stopped by a database error ({exc.__class__.__name__}) after deleting "
                f"{sessions} session(s) and {messages} message(s); run it again to finish."
            ) from exc
        skipped = max(0, plan.sessions - sessions)
        note = f"; {skipped} busy or already gone were left" if skipped else ""
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {sessions} session(s) and {messages} message(s){note}.")
        )
