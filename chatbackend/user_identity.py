"""Our tables key their rows by username (the seed's `user_id` columns, no foreign key), so
those rows must follow the account, not the name. This module watches the user model and
tells each app, which moves or retires its own rows:

- `account_deleting(username, user_pk, tombstone)`: an account is about to be deleted, inside
  the deletion's transaction. Its rows are kept (a bank keeps records) but re-keyed to
  `tombstone` (`deleted:<pk>`), so a new account that takes the same username starts with
  nothing of the old person's.
- `username_changed(old, new, user_pk)`: an account was renamed (sent once the row is written, so a
  save that fails moves nothing). The person keeps their rows; a new account with the old
  name does not get them.

A username may not contain ':' (Django's validator refuses it already; this holds for every
save, forms or not), which keeps `deleted:<pk>` out of every account's reach.

Signals see what goes through the ORM one object at a time: `user.delete()`, a queryset's
`.delete()` (Django fetches and signals each row when receivers exist) and `user.save()`.
`QuerySet.update(username=…)`, `bulk_update` and raw SQL bypass them (docs/sessions.md).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import Signal

account_deleting = Signal()  # username, user_pk, tombstone
username_changed = Signal()  # old, new, user_pk

RETIRED_USER_PREFIX = "deleted:"

# Set by pre_save on the instance being saved, read (and removed) by post_save.
_RENAMED_FROM = "_user_identity_renamed_from"


def retired_user_id(user_pk) -> str:
    return f"{RETIRED_USER_PREFIX}{user_pk}"


def _stored_username(model, pk) -> str | None:
    if pk is None:
        return None
    return model._default_manager.filter(pk=pk).values_list(model.USERNAME_FIELD, flat=True).first()


def _user_pre_save(sender, instance, update_fields=None, raw=False, **kwargs):
    field = sender.USERNAME_FIELD
    instance.__dict__.pop(_RENAMED_FROM, None)
    if raw:
        return  # loaddata: fixtures carry every table as it was, already keyed
    if update_fields is not None and field not in update_fields:
        return  # e.g. last_login on every sign-in: the username is not being written
    new = getattr(instance, field)
    old = _stored_username(sender, instance.pk)
    if new == old:
        return
    if ":" in str(new):
        raise ValidationError(
            "A username may not contain ':' (reserved for retired accounts' records)",
            code="invalid_username",
        )
    if old is not None:
        # Announced in post_save, not here: a save that fails (the new name is taken) must
        # leave everything where it is, and post_save only runs once the row is written.
        instance.__dict__[_RENAMED_FROM] = old


def _user_post_save(sender, instance, created, **kwargs):
    old = instance.__dict__.pop(_RENAMED_FROM, None)
    if old is not None:
        new = getattr(instance, sender.USERNAME_FIELD)
        # Every app's rows move together or not at all. The user row itself is only in the
        # same transaction if the caller opened one (the admin does; a shell must, or a failed
        # move leaves the account renamed with its rows under the old name: docs/sessions.md).
        with transaction.atomic():
            username_changed.send(sender, old=old, new=new, user_pk=instance.pk)


def _user_pre_delete(sender, instance, **kwargs):
    # pre_delete runs inside the deletion's transaction: if the delete fails, so does this.
    # The stored username, not the instance's: an unsaved rename must not pick the rows.
    username = _stored_username(sender, instance.pk)
    if username is not None:
        account_deleting.send(
            sender, username=username, user_pk=instance.pk, tombstone=retired_user_id(instance.pk)
        )


def connect() -> None:
    """Watch the user model (idempotent: each app that listens calls it from ready())."""
    user_model = settings.AUTH_USER_MODEL
    pre_save.connect(_user_pre_save, sender=user_model, dispatch_uid="user_identity_pre_save")
    post_save.connect(_user_post_save, sender=user_model, dispatch_uid="user_identity_post_save")
    pre_delete.connect(_user_pre_delete, sender=user_model, dispatch_uid="user_identity_pre_delete")
