"""Chat sessions and their messages follow the account, not the username
(chatbackend.user_identity): retired when it is deleted, moved when it is renamed."""

from chatbackend import user_identity
from sessions_app.services import sessions_move_user, sessions_retire_user


def _account_deleting(sender, username, user_pk, tombstone, **kwargs):
    sessions_retire_user(user_id=username, tombstone=tombstone)


def _username_changed(sender, old, new, user_pk, **kwargs):
    sessions_move_user(old_user_id=old, new_user_id=new)


def connect() -> None:
    user_identity.connect()
    user_identity.account_deleting.connect(_account_deleting, dispatch_uid="chat_sessions_retire")
    user_identity.username_changed.connect(_username_changed, dispatch_uid="chat_sessions_move")
