from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from sessions_app.models import ChatSession, SessionStatus
from sessions_app.services import sessions_expire_idle


class Command(BaseCommand):
    help = (
        "Mark active sessions idle past their TTL as expired (users can still resume them). "
        "The servers do this themselves every SESSION_SWEEP_SECONDS; with that set to 0, run "
        "this every minute from cron, a systemd timer or a Kubernetes CronJob."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="only count the sessions that would expire"
        )

    def handle(self, *args, dry_run: bool, **options):
        now = timezone.now()
        ttl = int(settings.CHAT_SESSION_TTL.total_seconds() // 60)
        try:
            if dry_run:
                count = ChatSession.objects.filter(
                    status=SessionStatus.ACTIVE, expires_at__lte=now
                ).count()
                self.stdout.write(f"Would expire {count} session(s) idle for over {ttl} min.")
                return
            # One service call: it locks, updates and announces (session:updated) in one go.
            count = sessions_expire_idle(now=now)
        except DatabaseError as exc:
            raise CommandError(f"Could not expire sessions: {exc.__class__.__name__}") from exc
        self.stdout.write(
            self.style.SUCCESS(f"Expired {count} session(s) idle for over {ttl} min.")
        )
