# ruff: noqa: S608 - constant column lists, values always passed as parameters
"""The database baseline: plain psycopg (async, one connection per client) running the same SQL
as one chat turn and one history read, with no Django, no server and no agents."""

import asyncio
import itertools
import json
import time
import uuid

import psycopg

from bench.common import summary

SESSION_COLUMNS = (
    "session_id, user_id, is_active, is_resolved, status, last_activity, expires_at, "
    "message_count, metadata, conversation_context, state, statistics, security, "
    "resolution_notes, ended_at, ended_reason, created_at, updated_at"
)
MESSAGE_COLUMNS = (
    "message_id, session_id, user_id, direction, content, message_type, metadata, processing, "
    "agent_info, intent, entities, sentiment, confidence_score, processing_time_ms, error_info, "
    "parent_message_id, sequence_number, client_message_id, created_at, updated_at"
)
LOCK = (
    f"SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE session_id = %s AND user_id = %s FOR UPDATE"
)
INSERT = (
    f"INSERT INTO chat_messages ({MESSAGE_COLUMNS}) VALUES "
    "(%s, %s, %s, 'incoming', %s, 'text', %s, NULL, NULL, %s, %s, %s, %s, NULL, NULL, NULL, %s,"
    " %s, now(), now()),"
    "(%s, %s, %s, 'outgoing', %s, 'text', %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s,"
    " NULL, now(), now())"
)
UPDATE = (
    "UPDATE chat_sessions SET message_count = %s, status = 'active', is_active = true,"
    " last_activity = now(), expires_at = now() + interval '30 minutes',"
    " conversation_context = %s, state = %s, updated_at = now() WHERE session_id = %s"
)
HISTORY_SESSION = (
    f"SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE session_id = %s AND user_id = %s"
)
HISTORY = (
    f"SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE session_id = %s AND sequence_number > %s"
    " ORDER BY sequence_number LIMIT %s"
)
UNRESOLVED = (
    f"SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE user_id = %s AND NOT is_resolved"
    " AND NOT (status = 'terminated') ORDER BY last_activity DESC LIMIT 10"
)
RECENT = (
    f"SELECT * FROM (SELECT {MESSAGE_COLUMNS}, ROW_NUMBER() OVER (PARTITION BY session_id"
    " ORDER BY sequence_number DESC) AS rank FROM chat_messages WHERE session_id = ANY(%s)) r"
    " WHERE rank <= 5 ORDER BY session_id, sequence_number"
)
REPLY_META = json.dumps({"quickReplies": ["Recent transactions"], "suggestedActions": []})
AGENT_INFO = json.dumps(
    {"primary": "banking", "agentsInvolved": ["nlp", "nlu", "banking"], "timings": {}}
)


async def _turn(conn, session_id: str, user_id: str) -> None:
    async with conn.transaction():
        cur = await conn.execute(LOCK, [session_id, user_id])
        row = await cur.fetchone()
        count = row[7]
        incoming, outgoing = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            INSERT,
            [
                incoming, session_id, user_id, "What is my account balance?", "{}",
                "balance_check", "[]", "neutral", 0.93, count + 1, uuid.uuid4().hex,
                outgoing, session_id, user_id, "Your balance is $5,432.10.", REPLY_META,
                '{"route": "banking"}', AGENT_INFO, "balance_check", "[]", "neutral", 0.93, 3,
                incoming, count + 2,
            ],
        )  # fmt: skip
        await conn.execute(
            UPDATE, [count + 2, '{"currentIntent": "balance_check"}', "{}", session_id]
        )


async def _history(conn, session_id: str, user_id: str, start: int) -> None:
    cur = await conn.execute(HISTORY_SESSION, [session_id, user_id])
    await cur.fetchone()
    cur = await conn.execute(HISTORY, [session_id, start, 50])
    await cur.fetchall()


async def _unresolved(conn, user_id: str) -> None:
    cur = await conn.execute(UNRESOLVED, [user_id])
    ids = [row[0] for row in await cur.fetchall()]
    cur = await conn.execute(RECENT, [ids])
    await cur.fetchall()


async def _closed_loop(url: str, clients: list, op, duration: float, warmup: float) -> dict:
    lat: list[float] = []
    done = 0
    t0 = time.perf_counter()
    measure_from, measure_to = t0 + warmup, t0 + warmup + duration

    async def client(args):
        nonlocal done
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for _ in itertools.count():
                started = time.perf_counter()
                if started >= measure_to:
                    return
                await op(conn, *args)
                now = time.perf_counter()
                if started >= measure_from and now <= measure_to:
                    lat.append((now - started) * 1000)
                    done += 1

    await asyncio.gather(*(client(args) for args in clients))
    return {"throughput": done / duration, "latency": summary(lat)}


def turn_rate(url: str, sessions: list[tuple[str, str]], *, duration: float, warmup: float) -> dict:
    """Chat-turn transactions per second with one client per (session_id, user_id)."""
    return asyncio.run(_closed_loop(url, sessions, _turn, duration, warmup))


def history_latency(
    url: str, session_id: str, user_id: str, start: int, *, duration: float, warmup: float
) -> dict:
    """One client reading a 50-message page (session row, then the index range)."""
    return asyncio.run(
        _closed_loop(url, [(session_id, user_id, start)], _history, duration, warmup)
    )


def unresolved_latency(url: str, user_id: str, *, duration: float, warmup: float) -> dict:
    """One client reading a user's unresolved sessions with their last 5 messages each."""
    return asyncio.run(_closed_loop(url, [(user_id,)], _unresolved, duration, warmup))


def explain_history(url: str, session_id: str, start: int) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + HISTORY, [session_id, start, 50]
        ).fetchall()
    return "\n".join(r[0] for r in rows)
