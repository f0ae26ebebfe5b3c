"""Chat sessions belong to a username (`chat_sessions.user_id`, no foreign key: the seed's
schema), so they must follow the account, not the name.

- An account is deleted: its sessions are retired (open ones end, all are re-keyed to
  `deleted:<pk>`), so a new account that takes the same username starts with nothing.
- An account is renamed: its sessions move to the new username, so the person keeps them and
  a new account with the old name does not get them.
- A username may not contain ':' (Django's validator refuses it already; this holds for every
  save, forms or not), which keeps `deleted:<pk>` out of every account's reach.

Signals see what goes through the ORM one object at a time: `user.delete()`, a queryset's
`.delete()` (Django fetches and signals each row when receivers exist) and `user.save()`.
`QuerySet.update(username=…)`, `bulk_update` and raw SQL bypass them (docs/sessions.md).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models.signals import post_save, pre_delete, pre_save

from sessions_app.services import sessions_move_user, sessions_retire_user

# Set by pre_save on the instance being saved, read (and removed) by post_save.
_RENAMED_FROM = "_chat_sessions_renamed_from"


def _stored_username(model, pk) -> str | None:
    if pk is None:
        return None
    return model._default_manager.filter(pk=pk).values_list(model.USERNAME_FIELD, flat=True).first()


def user_pre_save(sender, instance, update_fields=None, **kwargs):
    field = sender.USERNAME_FIELD
    instance.__dict__.pop(_RENAMED_FROM, None)
    if update_fields is not None and field not in update_fields:
        return  # e.g. last_login on every sign-in: the username is not being written
    new = getattr(instance, field)
    old = _stored_username(sender, instance.pk)
    if new == old:
        return
    if ":" in str(new):
        raise ValidationError(
            "A username may not contain ':' (reserved for retired chat sessions)",
            code="invalid_username",
        )
    if old is not None:
        # Moved in post_save, not here: a save that fails (the new name is taken) must leave
        # the sessions where they are, and post_save only runs once the row is written.
        instance.__dict__[_RENAMED_FROM] = old


def user_post_save(sender, instance, created, **kwargs):
    old = instance.__dict__.pop(_RENAMED_FROM, None)
    if old is not None:
        sessions_move_user(old_user_id=old, new_user_id=getattr(instance, sender.USERNAME_FIELD))


def user_pre_delete(sender, instance, **kwargs):
    # pre_delete runs inside the deletion's transaction: if the delete fails, so does this.
    # The stored username, not the instance's: an unsaved rename must not pick the sessions.
    username = _stored_username(sender, instance.pk)
    if username is not None:
        sessions_retire_user(user_id=username, user_pk=instance.pk)


def connect() -> None:
    user_model = settings.AUTH_USER_MODEL
    pre_save.connect(user_pre_save, sender=user_model, dispatch_uid="chat_sessions_user_pre_save")
    post_save.connect(
        user_post_save, sender=user_model, dispatch_uid="chat_sessions_user_post_save"
    )
    pre_delete.connect(
        user_pre_delete, sender=user_model, dispatch_uid="chat_sessions_user_pre_delete"
    )
