"""idx_chat_message_session and uniq_chat_message_session_seq were two indexes over
(session_id, sequence_number); the unique one now carries the seed's name and the other goes.

On PostgreSQL this drops the plain index and renames the unique constraint (and its index):
no index is built, so it takes a moment at any table size. Elsewhere (the embedded SQLite
default) Django's own operations do it.
"""

from django.db import migrations, models

OLD_UNIQUE = "uniq_chat_message_session_seq"
SEED_NAME = "idx_chat_message_session"

TO_ONE_INDEX = [
    migrations.RemoveIndex(model_name="chatmessage", name=SEED_NAME),
    migrations.RemoveConstraint(model_name="chatmessage", name=OLD_UNIQUE),
    migrations.AddConstraint(
        model_name="chatmessage",
        constraint=models.UniqueConstraint(fields=["session", "sequence_number"], name=SEED_NAME),
    ),
]


class RenameOnPostgreSQL(migrations.SeparateDatabaseAndState):
    """Django's operations for the state (and for other databases); on PostgreSQL, a rename."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute(f"DROP INDEX {SEED_NAME}")
        schema_editor.execute(
            f"ALTER TABLE chat_messages RENAME CONSTRAINT {OLD_UNIQUE} TO {SEED_NAME}"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute(
            f"ALTER TABLE chat_messages RENAME CONSTRAINT {SEED_NAME} TO {OLD_UNIQUE}"
        )
        schema_editor.execute(
            f"CREATE INDEX {SEED_NAME} ON chat_messages (session_id, sequence_number)"
        )


class Migration(migrations.Migration):
    dependencies = [("messaging_app", "0002_user_id_fits_any_username")]

    operations = [
        RenameOnPostgreSQL(database_operations=TO_ONE_INDEX, state_operations=TO_ONE_INDEX)
    ]
