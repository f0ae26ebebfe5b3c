"""The migrations build the seed's schema exactly: a fresh database, read back from the catalog."""

import uuid

import psycopg
import pytest
from django.conf import settings

from tests.support import database_url, libpq_params, migrate

SEED_SESSION_COLUMNS = {
    "session_id": "uuid",
    # Wider than the seed's 100: a Django username may be 150 characters (docs/decisions.md).
    "user_id": "character varying(150)",
    "is_active": "boolean",
    "is_resolved": "boolean",
    "status": "character varying(50)",
    "last_activity": "timestamp with time zone",
    "expires_at": "timestamp with time zone",
    "message_count": "integer",
    "metadata": "jsonb",
    "conversation_context": "jsonb",
    "state": "jsonb",
    "statistics": "jsonb",
    "security": "jsonb",
    "resolution_notes": "text",
    "ended_at": "timestamp with time zone",
    "ended_reason": "character varying(255)",
    "created_at": "timestamp with time zone",
    "updated_at": "timestamp with time zone",
}
SEED_MESSAGE_COLUMNS = {
    "message_id": "uuid",
    "session_id": "uuid",
    "user_id": "character varying(150)",  # as chat_sessions.user_id
    "direction": "character varying(20)",
    "content": "text",
    "message_type": "character varying(50)",
    "metadata": "jsonb",
    "processing": "jsonb",
    "agent_info": "jsonb",
    "intent": "character varying(100)",
    "entities": "jsonb",
    "sentiment": "character varying(50)",
    "confidence_score": "double precision",
    "processing_time_ms": "integer",
    "error_info": "jsonb",
    "parent_message_id": "uuid",
    "sequence_number": "integer",
    "created_at": "timestamp with time zone",
    "updated_at": "timestamp with time zone",
}
SEED_INDEXES = {
    "idx_chat_session_user_active": ("chat_sessions", "(user_id, is_active)"),
    "idx_chat_session_user_unresolved": ("chat_sessions", "(user_id, is_resolved, is_active)"),
    "idx_chat_message_session": ("chat_messages", "(session_id, sequence_number)"),
    "idx_chat_message_user": ("chat_messages", "(user_id, created_at)"),
}


@pytest.fixture(scope="module")
def fresh_db():
    """An empty database migrated from nothing by `manage.py migrate`."""
    # The test server exactly as configured (password and options too), another database.
    base = settings.DATABASES["default"]
    name = f"schema_probe_{uuid.uuid4().hex[:8]}"
    admin_params = libpq_params(base, dbname="postgres")
    with psycopg.connect(**admin_params, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate(database_url(base, dbname=name))
        with psycopg.connect(**libpq_params(base, dbname=name)) as conn:
            yield conn
    finally:
        with psycopg.connect(**admin_params, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _columns(conn, table):
    rows = conn.execute(
        """
        SELECT column_name, format_type(a.atttypid, a.atttypmod), is_nullable, column_default
        FROM information_schema.columns c
        JOIN pg_attribute a ON a.attrelid = c.table_name::regclass AND a.attname = c.column_name
        WHERE c.table_name = %s
        """,
        [table],
    ).fetchall()
    return {name: (col_type, nullable, default) for name, col_type, nullable, default in rows}


@pytest.mark.parametrize(
    ("table", "expected"),
    [("chat_sessions", SEED_SESSION_COLUMNS), ("chat_messages", SEED_MESSAGE_COLUMNS)],
)
def test_every_seed_column_has_its_type(fresh_db, table, expected):
    columns = _columns(fresh_db, table)
    assert {name: columns[name][0] for name in expected if name in columns} == expected


def test_seed_defaults_live_in_the_database(fresh_db):
    sessions = _columns(fresh_db, "chat_sessions")
    messages = _columns(fresh_db, "chat_messages")
    assert sessions["is_active"][2] == "true"
    assert sessions["is_resolved"][2] == "false"
    assert sessions["status"][2].startswith("'active'")
    assert sessions["message_count"][2] == "0"
    assert "statement_timestamp()" in sessions["created_at"][2].lower()
    assert messages["message_type"][2].startswith("'text'")
    assert sessions["last_activity"][1] == "NO"
    assert messages["sequence_number"][1] == "NO"


def test_messages_cascade_in_the_database(fresh_db):
    rule = fresh_db.execute(
        """
        SELECT rc.delete_rule, ccu.table_name, ccu.column_name
        FROM information_schema.referential_constraints rc
        JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = rc.constraint_name
        JOIN information_schema.constraint_column_usage ccu
          ON ccu.constraint_name = rc.unique_constraint_name
        WHERE kcu.table_name = 'chat_messages' AND kcu.column_name = 'session_id'
        """
    ).fetchone()
    assert rule == ("CASCADE", "chat_sessions", "session_id")

    # And it really cascades when a session is deleted with plain SQL, outside Django.
    session_id, message_id = uuid.uuid4(), uuid.uuid4()
    fresh_db.execute(
        "INSERT INTO chat_sessions (session_id, user_id, last_activity) VALUES (%s, 'u', now())",
        [session_id],
    )
    fresh_db.execute(
        "INSERT INTO chat_messages (message_id, session_id, user_id, direction, content,"
        " sequence_number) VALUES (%s, %s, 'u', 'incoming', 'hi', 1)",
        [message_id, session_id],
    )
    fresh_db.execute("DELETE FROM chat_sessions WHERE session_id = %s", [session_id])
    left = fresh_db.execute(
        "SELECT count(*) FROM chat_messages WHERE message_id = %s", [message_id]
    )
    assert left.fetchone()[0] == 0
    fresh_db.rollback()


def test_the_four_seed_indexes_exist_by_name(fresh_db):
    rows = fresh_db.execute(
        "SELECT indexname, tablename, indexdef FROM pg_indexes"
        " WHERE tablename IN ('chat_sessions', 'chat_messages')"
    ).fetchall()
    found = {name: (table, definition) for name, table, definition in rows}
    for name, (table, columns) in SEED_INDEXES.items():
        assert name in found, name
        assert found[name][0] == table
        assert found[name][1].endswith(f"USING btree {columns}")


def test_contract_constraints_exist(fresh_db):
    rows = fresh_db.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chat_messages'"
    ).fetchall()
    found = dict(rows)
    # The seed's index, unique: gapless numbering needs it, and no second index repeats it.
    assert "UNIQUE" in found["idx_chat_message_session"]
    columns = [definition.split(" USING btree ")[1] for definition in found.values()]
    assert len(columns) == len(set(columns)), found
    assert "(session_id, client_message_id)" in found["uniq_chat_message_client_id"]
    assert "WHERE (client_message_id IS NOT NULL)" in found["uniq_chat_message_client_id"]
