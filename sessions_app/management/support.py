"""The "support" group: what support staff may do in the admin.

They may read sessions and transcripts, reply to users as a person, resolve, end and hand
sessions back to the bot; they may not add, edit or delete anything. The same permissions are
created by migration 0002; `manage.py support_group` re-creates them, since a database flush
(or a restore without auth tables) drops groups and permissions that no model declares.
"""

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

SUPPORT_GROUP = "support"

# Beyond Django's defaults: one permission per thing a person can do to a session. They live in
# the database only (sessions_app.models declares none), so no model migration is involved.
SESSION_PERMISSIONS = {
    "reply_chatsession": "Can reply to a user as a person",
    "resolve_chatsession": "Can resolve a chat session",
    "end_chatsession": "Can end a chat session",
    "handback_chatsession": "Can hand a chat session back to the bot",
}

# (app_label, model, codename, name): everything the group is granted.
SUPPORT_PERMISSIONS = [
    ("sessions_app", "chatsession", "view_chatsession", "Can view chat session"),
    ("messaging_app", "chatmessage", "view_chatmessage", "Can view chat message"),
    *(
        ("sessions_app", "chatsession", codename, name)
        for codename, name in SESSION_PERMISSIONS.items()
    ),
]


def session_permission(codename: str) -> str:
    """The `user.has_perm` name of one of SESSION_PERMISSIONS."""
    return f"sessions_app.{codename}"


@transaction.atomic
def support_group_ensure() -> Group:
    """Create the group and its permissions if missing; grant exactly SUPPORT_PERMISSIONS."""
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    permissions = []
    for app_label, model, codename, name in SUPPORT_PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        permissions.append(permission)
    # `set`, not `add`: a permission granted by hand (delete, say) is taken away again.
    group.permissions.set(permissions)
    return group
