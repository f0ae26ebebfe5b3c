# ruff: noqa: S603 - runs nginx and servers it configured itself
"""Scale-out on one machine: N instances (uvicorn, production settings) + nginx on one port,
sharing PostgreSQL and Redis. Shows, through nginx only:

1. sockets spread over the instances (nginx reports the upstream it chose);
2. a message sent on a socket held by one instance reaches a socket of the same session held by
   another instance (and the bot's reply too), in order;
3. a REST send through nginx (landing on whichever instance) reaches both sockets;
4. the turns are stored once, numbered 1..N without gaps.

Run by deploy/scale_demo.sh. Loopback only; everything it starts, it stops.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bench import db  # noqa: E402
from bench.common import LOOPBACK, Server, free_port, production_env  # noqa: E402
from bench.run import ensure_model  # noqa: E402


def nginx_config(template: str, ports: list[int], listen: int, prefix: Path) -> str:
    """deploy/nginx.conf with the demo's upstreams and port, runnable without root paths."""
    upstreams = "\n".join(
        f"        server {LOOPBACK}:{p} max_fails=3 fail_timeout=10s;" for p in ports
    )
    text = re.sub(
        r"        server 127\.0\.0\.1:3006[^\n]*@upstreams\n(        server [^\n]*\n)*",
        upstreams + "\n",
        template,
    )
    text = text.replace("listen 8080;  # @listen", f"listen {LOOPBACK}:{listen};")
    # Demo only: say which instance served the request (never expose this in production).
    text = text.replace("# @demo-headers", "add_header X-Upstream $upstream_addr always;")
    text = text.replace("worker_processes auto;", f"worker_processes 1;\npid {prefix}/nginx.pid;")
    text = text.replace(
        "http {\n",
        f"http {{\n    client_body_temp_path {prefix}/body;\n    proxy_temp_path {prefix}/proxy;\n"
        f"    error_log {prefix}/error.log warn;\n",
    )
    return "error_log " + str(prefix / "error.log") + " warn;\n" + text


async def next_event(ws, name: str, timeout: float = 30) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["event"] == name:
                return frame["data"]


async def demo(front: str, token: str, session_id: str, instances: int) -> dict:
    url = f"ws://{front}/ws/chat/"
    headers = {"Authorization": f"Bearer {token}"}
    sockets, upstream_of = [], {}
    for _ in range(instances * 2):  # least_conn: new sockets go to the emptiest instance
        ws = await connect(url, additional_headers=headers, compression=None)
        sockets.append(ws)
        upstream_of[ws] = ws.response.headers.get("X-Upstream", "?")
    by_upstream: dict[str, list] = {}
    for ws in sockets:
        by_upstream.setdefault(upstream_of[ws], []).append(ws)
    print(f"{len(sockets)} sockets through nginx {front}, per instance: "
          + ", ".join(f"{u}: {len(v)}" for u, v in sorted(by_upstream.items())))  # fmt: skip
    if len(by_upstream) < 2:
        raise SystemExit("nginx put every socket on one instance: cannot show fan-out")
    (a, sender), (b, watcher) = [(u, v[0]) for u, v in sorted(by_upstream.items())[:2]]
    others = [v[0] for u, v in sorted(by_upstream.items())[2:]]
    for ws in [watcher, *others]:
        await ws.send(json.dumps({"event": "session:join", "data": {"sessionId": session_id}}))
        await next_event(ws, "session:updated")

    started = time.perf_counter()
    await sender.send(json.dumps({"event": "chat:message", "data": {
        "sessionId": session_id, "content": "What is my account balance?",
        "clientMessageId": "scale-demo-1"}}))  # fmt: skip
    ack = await next_event(sender, "chat:ack")
    got = [await next_event(watcher, "chat:message") for _ in range(2)]
    elapsed = (time.perf_counter() - started) * 1000
    print(f"sent on instance {a}: stored as #{ack['sequenceNumber']}, reply "
          f"#{ack['responseSequenceNumber']}")  # fmt: skip
    for event in got:
        m = event["message"]
        print(f"  received on instance {b}: chat:message #{m['sequence_number']} "
              f"{m['direction']}: {m['content'][:70]!r}")  # fmt: skip
    print(f"  (send -> other instance's socket got both messages in {elapsed:.0f} ms)")
    assert [e["message"]["sequence_number"] for e in got] == [1, 2]
    assert got[1]["message"]["message_id"] == ack["responseMessageId"]

    # REST through nginx: whichever instance serves it, both sockets hear about it.
    async with httpx.AsyncClient(base_url=f"http://{front}", headers=headers) as client:
        response = await client.post(
            f"/api/sessions/{session_id}/messages", json={"message": "thanks"}
        )
        response.raise_for_status()
        served_by = response.headers.get("X-Upstream", "?")
    heard = {}
    for name, ws in [("sender's socket", sender), ("watcher's socket", watcher)]:
        heard[name] = [
            (await next_event(ws, "chat:message"))["message"]["sequence_number"] for _ in range(2)
        ]
    print(
        f"REST send served by {served_by}: " + "; ".join(f"{k} got #{v}" for k, v in heard.items())
    )
    assert all(v == [3, 4] for v in heard.values())
    for ws in sockets:
        await ws.close()
    return {"instances": sorted(by_upstream), "sender": a, "watcher": b, "ms": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--server", default="uvicorn", choices=["uvicorn", "daphne", "granian"])
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise SystemExit("nginx is not installed (apt-get install -y nginx)")
    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    url = db.create_database(base, "chatbench_scale")
    prefix = f"chatscale{os.getpid()}"
    env = production_env(
        database_url=url,
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5"),
        prefix=prefix,
        TRUSTED_PROXIES="127.0.0.1",
        DB_POOL_MAX="4",
    )
    model = ensure_model()  # a stale NLU model would make each instance train for minutes
    if model is not None:
        env["NLU_MODEL_PATH"] = str(model)
    db.migrate(env)
    db.seed_users(url, 1)
    session_id = db.create_sessions(url, [f"{db.BENCH_USER_PREFIX}0"])[0]
    tmp = Path(tempfile.mkdtemp(prefix="chatscale-"))
    servers, nginx_proc = [], None
    try:
        os.environ.update({**env, "DB_POOL": "false"})
        import django

        django.setup()
        import logging

        logging.getLogger("httpx").setLevel(logging.WARNING)
        from rest_framework_simplejwt.tokens import AccessToken

        user_id = db.user_ids(url)[f"{db.BENCH_USER_PREFIX}0"]

        class _User:
            is_active = True
            id = pk = user_id

        token = str(AccessToken.for_user(_User()))
        for i in range(args.instances):
            srv = Server(args.server, env, log_path=str(tmp / f"instance-{i}.log"))
            servers.append(srv.start(timeout=300))
            print(f"instance {i + 1}: {args.server} on {srv.http}")
        listen = free_port()
        conf = tmp / "nginx.conf"
        template = (ROOT / "deploy" / "nginx.conf").read_text()
        conf.write_text(nginx_config(template, [s.port for s in servers], listen, tmp))
        subprocess.run([nginx, "-t", "-p", str(tmp), "-c", str(conf)], check=True,
                       capture_output=True)  # fmt: skip
        nginx_proc = subprocess.Popen(
            [nginx, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        front = f"{LOOPBACK}:{listen}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{front}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        print(f"nginx on {front} -> {len(servers)} instances (deploy/nginx.conf)")
        # Warm every instance's agents (the first turn loads the NLU model).
        for srv in servers:
            httpx.post(f"{srv.http}/api/sessions/{session_id}/messages", timeout=300,
                       headers={"Authorization": f"Bearer {token}"},
                       json={"message": "hi"}).raise_for_status()  # fmt: skip
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM chat_messages")
            conn.execute("UPDATE chat_sessions SET message_count = 0, conversation_context = '{}'")
        result = asyncio.run(demo(front, token, session_id, len(servers)))
        with psycopg.connect(url) as conn:
            seqs = [r[0] for r in conn.execute(
                "SELECT sequence_number FROM chat_messages WHERE session_id = %s"
                " ORDER BY sequence_number", [session_id]).fetchall()]  # fmt: skip
        print(f"stored: {len(seqs)} messages, sequence numbers {seqs}")
        assert seqs == list(range(1, len(seqs) + 1))
        print(f"OK: fan-out across instances through nginx works ({result['sender']} -> "
              f"{result['watcher']}), no sticky sessions")  # fmt: skip
        return 0
    finally:
        if nginx_proc is not None:
            nginx_proc.terminate()
            nginx_proc.wait(timeout=10)
        for srv in servers:
            srv.stop()
        with psycopg.connect(db.admin_url(base), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                ["chatbench_scale"],
            )
            admin.execute('DROP DATABASE IF EXISTS "chatbench_scale"')
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
