"""The bench's own PostgreSQL database: created, migrated, seeded with SQL (fast, no ORM loops).

Never the test databases: the name is `chatbench` unless BENCH_DATABASE_NAME says otherwise,
and `create_database` refuses names that look like a test database.
"""

import subprocess
import sys
import time

import psycopg

from bench.common import ROOT

BENCH_USER_PREFIX = "bench-u"


def admin_url(base: str) -> str:
    return base.rsplit("/", 1)[0] + "/postgres"


def create_database(base_url: str, name: str) -> str:
    """Drop and recreate database `name`; returns its URL."""
    if name.startswith("test_") or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to use {name!r} as the bench database")
    with psycopg.connect(admin_url(base_url), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def migrate(env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env={**env, "DB_POOL": "false"},
        check=True,
        timeout=300,
    )
    return time.perf_counter() - started


def seed_users(url: str, count: int) -> None:
    """`count` users bench-u0..N-1 (unusable passwords: the bench mints tokens directly), each
    with a checking and a savings account and a debit card, so banking answers are real."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
            SELECT '!bench', false, %s || i, '', '', '', false, true, now()
            FROM generate_series(0, %s - 1) AS i
            """,
            [BENCH_USER_PREFIX, count],
        )
        conn.execute(
            """
            INSERT INTO bank_accounts (id, user_id, account_type, name, number_last4, currency,
                                       balance, credit_limit, created_at)
            SELECT gen_random_uuid(), %s || i, t.kind, t.label, lpad((i %% 10000)::text, 4, '0'),
                   'USD', t.balance, 0, now()
            FROM generate_series(0, %s - 1) AS i,
                 (VALUES ('checking', 'Everyday Checking', 5432.10),
                         ('savings', 'Rainy Day Savings', 12500.00)) AS t(kind, label, balance)
            """,
            [BENCH_USER_PREFIX, count],
        )
        conn.execute(
            """
            INSERT INTO bank_cards (id, user_id, account_id, card_type, last4, status, expires,
                                    updated_at)
            SELECT gen_random_uuid(), a.user_id, a.id, 'debit', a.number_last4, 'active',
                   '08/29', now()
            FROM bank_accounts a WHERE a.account_type = 'checking'
            """
        )
        conn.execute("ANALYZE")


def user_ids(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT username, id FROM auth_user WHERE username LIKE %s", [BENCH_USER_PREFIX + "%"]
        ).fetchall()
    return dict(rows)


def create_sessions(url: str, usernames: list[str]) -> list[str]:
    """One active session per username (in order); returns their ids."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            INSERT INTO chat_sessions (session_id, user_id, is_active, is_resolved, status,
                                       last_activity, expires_at, message_count, metadata,
                                       conversation_context, state, statistics, security,
                                       created_at, updated_at)
            SELECT gen_random_uuid(), u, true, false, 'active', now(),
                   now() + interval '1 day', 0, '{}', '{}', '{}', '{}', '{}', now(), now()
            FROM unnest(%s::text[]) WITH ORDINALITY AS x(u, n)
            ORDER BY n
            RETURNING session_id
            """,
            [usernames],
        ).fetchall()
    return [str(r[0]) for r in rows]


# One stored turn's worth of realistic columns: the user's message and the bot's reply differ
# by direction, content and agent_info.
_MESSAGE_INSERT = """
INSERT INTO chat_messages (message_id, session_id, user_id, direction, content, message_type,
                           metadata, processing, agent_info, intent, entities, sentiment,
                           confidence_score, processing_time_ms, error_info, parent_message_id,
                           sequence_number, client_message_id, created_at, updated_at)
SELECT gen_random_uuid(), s.session_id, s.user_id,
       CASE WHEN n %% 2 = 1 THEN 'incoming' ELSE 'outgoing' END,
       CASE WHEN n %% 2 = 1 THEN 'What is my account balance? (' || n || ')'
            ELSE 'Your Everyday Checking balance is $5,432.10 and your Rainy Day Savings '
                 || 'balance is $12,500.00.' END,
       'text',
       CASE WHEN n %% 2 = 1 THEN NULL
            ELSE '{"quickReplies": ["Recent transactions"], "suggestedActions": []}'::jsonb END,
       NULL,
       CASE WHEN n %% 2 = 1 THEN NULL
            ELSE '{"primary": "banking", "agentsInvolved": ["nlp", "nlu", "banking"],
                   "timings": {"nlp": 0.4, "nlu": 1.1, "banking": 0.6}, "failures": []}'::jsonb
       END,
       'balance_check', '[]'::jsonb, 'neutral', 0.93, CASE WHEN n %% 2 = 1 THEN NULL ELSE 3 END,
       NULL, NULL, n, NULL,
       now() - (s.message_count - n) * interval '1 second',
       now() - (s.message_count - n) * interval '1 second'
FROM chat_sessions s
JOIN LATERAL generate_series(%s + 1, s.message_count) AS n ON true
WHERE s.session_id = ANY(%s::uuid[])
"""


def fill_messages(url: str, targets: dict[str, int]) -> float:
    """Grow each session in `targets` to that many stored messages (gapless numbers, counters
    kept in step), with one generate_series INSERT per distinct starting point; returns seconds.
    """
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        current = dict(
            conn.execute(
                "SELECT session_id::text, message_count FROM chat_sessions"
                " WHERE session_id = ANY(%s::uuid[])",
                [list(targets)],
            ).fetchall()
        )
        by_start: dict[int, list[str]] = {}
        for session_id, want in targets.items():
            have = current[session_id]
            if want > have:
                by_start.setdefault(have, []).append(session_id)
        for start, ids in by_start.items():
            with conn.transaction():
                for session_id in ids:
                    conn.execute(
                        "UPDATE chat_sessions SET message_count = %s WHERE session_id = %s",
                        [targets[session_id], session_id],
                    )
                conn.execute(_MESSAGE_INSERT, [start, ids])
        conn.execute("ANALYZE chat_messages")
        conn.execute("ANALYZE chat_sessions")
    return time.perf_counter() - started


def count_messages(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM chat_messages").fetchone()[0]


def reset_session_contexts(url: str) -> None:
    """Between load phases: back to a plain active state (no half-finished banking flow)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE chat_sessions SET status = 'active', is_active = true,"
            " conversation_context = '{}', state = '{}' WHERE status <> 'active'"
            " OR state <> '{}'::jsonb"
        )
