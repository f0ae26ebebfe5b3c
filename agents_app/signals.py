"""Bank accounts, cards and transfers follow the customer's account, not the username
(chatbackend.user_identity): a deleted account's are re-keyed out of every account's reach, a
renamed account's move with it. Audit records stay as written; each change adds one."""

from agents_app.services import bank_data_move_user, bank_data_retire_user
from chatbackend import user_identity


def _account_deleting(sender, username, user_pk, tombstone, **kwargs):
    bank_data_retire_user(user_id=username, tombstone=tombstone, user_pk=user_pk)


def _username_changed(sender, old, new, user_pk, **kwargs):
    bank_data_move_user(old_user_id=old, new_user_id=new, user_pk=user_pk)


def connect() -> None:
    user_identity.connect()
    user_identity.account_deleting.connect(_account_deleting, dispatch_uid="bank_data_retire")
    user_identity.username_changed.connect(_username_changed, dispatch_uid="bank_data_move")
