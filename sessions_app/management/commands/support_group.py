from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from sessions_app.management.support import SUPPORT_GROUP, SUPPORT_PERMISSIONS, support_group_ensure


class Command(BaseCommand):
    help = (
        f'Create (or repair) the "{SUPPORT_GROUP}" group: view sessions and transcripts, reply, '
        "resolve, end and hand back; never add, change or delete. Optionally add staff to it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--add",
            action="append",
            default=[],
            metavar="USERNAME",
            help="put this user in the group and make them staff (repeatable)",
        )

    def handle(self, *args, add: list[str], **options):
        try:
            self._ensure_and_add(add)
        except DatabaseError as exc:  # one line, as every command says why it failed
            raise CommandError(f"The database refused: {exc.__class__.__name__}") from exc

    @transaction.atomic
    def _ensure_and_add(self, add: list[str]) -> None:
        users = get_user_model().objects.filter(username__in=add)
        missing = sorted(set(add) - {u.get_username() for u in users})
        if missing:
            # Checked first: a typo in one name must not leave the others half given access.
            raise CommandError(f"No such user: {', '.join(missing)}; nobody was added")
        group = support_group_ensure()
        self.stdout.write(
            f'Group "{group.name}" has {len(SUPPORT_PERMISSIONS)} permissions: '
            + ", ".join(codename for _, _, codename, _ in SUPPORT_PERMISSIONS)
        )
        for user in users:
            # The admin only lets staff in; group membership alone would not be enough.
            if not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            user.groups.add(group)
            self.stdout.write(f"Added {user.get_username()} to {group.name}")
