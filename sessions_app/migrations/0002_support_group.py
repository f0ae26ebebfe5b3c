"""The "support" group (see sessions_app/management/support.py, which re-creates it on demand).

Frozen here on purpose: a migration must keep doing what it did when it was written.
Permissions are created by (content type, codename) exactly as Django's post_migrate step
would, so that step finds them and creates nothing twice.
"""

from django.db import migrations

PERMISSIONS = [
    ("sessions_app", "chatsession", "view_chatsession", "Can view chat session"),
    ("messaging_app", "chatmessage", "view_chatmessage", "Can view chat message"),
    ("sessions_app", "chatsession", "reply_chatsession", "Can reply to a user as a person"),
    ("sessions_app", "chatsession", "resolve_chatsession", "Can resolve a chat session"),
    ("sessions_app", "chatsession", "end_chatsession", "Can end a chat session"),
    (
        "sessions_app",
        "chatsession",
        "handback_chatsession",
        "Can hand a chat session back to the bot",
    ),
]


def create_support_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    group, _ = Group.objects.get_or_create(name="support")
    for app_label, model, codename, name in PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def remove_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="support").delete()
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="sessions_app",
        codename__in=[p[2] for p in PERMISSIONS if p[2] != "view_chatsession"],
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0001_initial"),
        ("messaging_app", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_support_group, remove_support_group)]
