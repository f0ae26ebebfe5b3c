"""In-process measurements, run in a child process with the server's production settings
(`python -m bench.inproc SPEC.json`), printing one JSON object:

- agents: the orchestrator's CPU time per turn (thread CPU, so waiting on PostgreSQL is not
  counted), and a whole `message_send` with the real agents and with a constant responder;
- reads: the selectors + serializers behind a 50-message history page and a user's
  unresolved sessions, against the same page served from the Redis cache (the seed's
  "dual-layer caching") — to decide whether that cache earns its place;
- profile: pyinstrument over turns through `message_send`, as text.
"""

import json
import os
import sys
import time


def _setup(spec: dict) -> None:
    os.environ.update(spec["env"])
    os.environ["DB_POOL"] = "false"
    import django

    django.setup()


def _like_server(fn):
    """Run `fn` in a worker thread under a running event loop, as the server runs a turn: the
    after-commit `async_to_sync(group_send)` then uses that loop and its Redis connections
    instead of making a new loop (and connections) per call."""
    import asyncio

    from asgiref.sync import sync_to_async

    async def main():
        return await sync_to_async(fn, thread_sensitive=False)()

    return asyncio.run(main())


def _stats(values: list[float]) -> dict:
    from bench.common import summary

    return summary(values)


def agents(spec: dict) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from agents_app.orchestrator import default_orchestrator
    from messaging_app.services import ReplyDraft, message_send
    from sessions_app.selectors import session_get

    texts, turns = spec["messages"], spec["turns"]
    user = get_user_model().objects.get(username=spec["username"])
    orchestrator = default_orchestrator()
    started = time.perf_counter()
    with transaction.atomic():  # first call loads the NLU model
        session = session_get(actor=user, session_id=spec["sessions"][0], for_update=True)
        orchestrator(session=session, content="hello", message_type="text")
    load_seconds = time.perf_counter() - started

    def orchestrator_times(messages: list[str]) -> tuple[list[float], list[float]]:
        cpu, wall = [], []
        for k in range(turns):
            with transaction.atomic():
                session = session_get(actor=user, session_id=spec["sessions"][0], for_update=True)
                c0, w0 = time.thread_time(), time.perf_counter()
                orchestrator(
                    session=session, content=messages[k % len(messages)], message_type="text"
                )
                cpu.append((time.thread_time() - c0) * 1000)
                wall.append((time.perf_counter() - w0) * 1000)
                transaction.set_rollback(True)
        return cpu, wall

    cpu, wall = orchestrator_times(texts)
    # The seed's questions are ones the TF-IDF model is sure of; customers' questions such as
    # BANKING77's need the sentence encoder more often (a quarter of unseen ones, docs/nlu.md).
    banking77_cpu, _ = orchestrator_times(_banking77_sample(turns))

    def constant(*, session, content, message_type):
        return ReplyDraft(content="Your balance is $5,432.10.", intent="balance_check")

    def send_cpu(responder, session_id, n):
        out = []
        for k in range(n):
            # Process CPU: the fan-out runs on the event loop's thread.
            c0 = time.process_time()
            message_send(
                actor=user,
                session_id=session_id,
                content=texts[k % len(texts)],
                responder=responder,
            )
            out.append((time.process_time() - c0) * 1000)
        return out

    full = _like_server(lambda: send_cpu(None, spec["sessions"][1], turns // 2))
    bare = _like_server(lambda: send_cpu(constant, spec["sessions"][2], turns // 2))
    return {
        "model_load_seconds": load_seconds,
        "orchestrator_cpu_ms": _stats(cpu),
        "orchestrator_wall_ms": _stats(wall),
        "orchestrator_banking77_cpu_ms": _stats(banking77_cpu),
        "message_send_cpu_ms": _stats(full),
        "message_send_constant_responder_cpu_ms": _stats(bare),
    }


def _banking77_sample(size: int) -> list[str]:
    """`size` questions spread evenly over BANKING77's training file, the same each run."""
    from agents_app.nlu import banking77_examples

    texts = [text for text, _ in banking77_examples()]
    return texts[:: max(1, len(texts) // size)][:size]


def reads(spec: dict) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.serializers.json import DjangoJSONEncoder

    from messaging_app.selectors import history_page, with_recent_messages
    from sessions_app.api.serializers import HistoryOutput, SessionListOutput
    from sessions_app.selectors import session_get, sessions_for_user

    user = get_user_model().objects.get(username=spec["username"])
    n = spec["iterations"]

    def history_db():
        session = session_get(actor=user, session_id=spec["history_session"])
        page = history_page(session=session, limit=50, offset=spec["history_offset"])
        body = HistoryOutput(
            {
                "sessionId": session.pk,
                "messages": page.messages,
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
                "hasMore": page.has_more,
            }
        ).data
        return json.dumps(body, cls=DjangoJSONEncoder)

    def unresolved_db():
        sessions = sessions_for_user(actor=user, user_id=user.username, kind="unresolved", limit=10)
        sessions = with_recent_messages(sessions, per_session=5)
        body = SessionListOutput(
            {"userId": user.username, "type": "unresolved", "count": len(sessions),
             "sessions": sessions}
        ).data  # fmt: skip
        return json.dumps(body, cls=DjangoJSONEncoder)

    key_h, key_u = f"bench:hist:{spec['history_session']}", f"bench:unres:{user.username}"
    cache.set(key_h, history_db(), 300)
    cache.set(key_u, unresolved_db(), 300)

    def history_cached():
        # The cheapest a cache can be: ownership still checked against the database (the
        # session row), then the page as stored JSON.
        session_get(actor=user, session_id=spec["history_session"])
        return cache.get(key_h)

    def history_cache_only():
        return cache.get(key_h)

    def unresolved_cached():
        return cache.get(key_u)

    out = {}
    for name, call in [
        ("history_db", history_db),
        ("history_cache_with_owner_check", history_cached),
        ("history_cache_only", history_cache_only),
        ("unresolved_db", unresolved_db),
        ("unresolved_cache_only", unresolved_cached),
    ]:
        for _ in range(20):
            call()
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            call()
            lat.append((time.perf_counter() - t) * 1000)
        out[name] = _stats(lat)
    cache.delete_many([key_h, key_u])
    return out


def profile(spec: dict) -> dict:
    from django.contrib.auth import get_user_model
    from pyinstrument import Profiler

    from messaging_app.api.serializers import turn_json
    from messaging_app.services import ReplyDraft, message_send

    def constant(*, session, content, message_type):
        return ReplyDraft(content="Your balance is $5,432.10.", intent="balance_check")

    responder = constant if spec.get("responder") == "constant" else None
    user = get_user_model().objects.get(username=spec["username"])
    texts = spec["messages"]
    for k in range(5):  # loads the model outside the profile
        message_send(
            actor=user,
            session_id=spec["sessions"][0],
            content=texts[k % len(texts)],
            responder=responder,
        )

    def turns():
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        c0 = time.process_time()
        for k in range(spec["turns"]):
            turn = message_send(
                actor=user,
                session_id=spec["sessions"][0],
                content=texts[k % len(texts)],
                responder=responder,
            )
            json.dumps(turn_json(turn), default=str)
        cpu_ms = (time.process_time() - c0) * 1000 / spec["turns"]
        profiler.stop()
        return profiler, cpu_ms

    profiler, cpu_ms = _like_server(turns)
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    return {"cpu_ms_per_turn": cpu_ms, "text": text}


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    _setup(spec)
    result = {"agents": agents, "reads": reads, "profile": profile}[spec["task"]](spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
