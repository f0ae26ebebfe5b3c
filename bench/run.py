# ruff: noqa: S603, E501 - starts its own processes; long log lines
"""`make bench`: measure the chat backend on this machine and write bench/results/latest.md.

    python -m bench.run            # the full run (< 10 minutes), writes bench/results/latest.md
    python -m bench.run --quick    # the same phases, tiny, in seconds (the smoke test)
    python -m bench.run --compare  # serving-stack matrix for docs/benchmarks.md (compare.md)
    python -m bench.run --profile  # py-spy on the server during saturation (profile-*.txt)

It creates its own database (`chatbench`, dropped and recreated each run), migrates and seeds
it with SQL, starts the server with production settings on PostgreSQL and Redis, drives it
from separate load-generator processes on loopback only, and runs the raw baselines (plain
psycopg, a bare ASGI echo) in the same run. Every loop is bounded in count and time.
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import redis

from bench import db, raw_sql
from bench.common import (
    BENCH,
    PYTHON,
    ROOT,
    CpuMeter,
    Server,
    production_env,
    summary,
)

MESSAGES = [
    "What is my account balance?",
    "hi",
    "What accounts do I have?",
    "Show my transactions from last month",
    "thanks",
    "How much is in my savings?",
]
RESULTS = BENCH / "results"


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.started = time.monotonic()
        self.base_url = os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        )
        self.db_name = os.environ.get("BENCH_DATABASE_NAME", "chatbench")
        self.redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
        self.prefix = f"chatbench{os.getpid()}"
        self.tmp = Path(tempfile.mkdtemp(prefix="chatbench-"))
        self.results: dict = {"phases": {}}
        self.log_lines: list[str] = []
        self.servers: list[Server] = []

    # --- helpers ---------------------------------------------------------------------------
    def log(self, text: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f}s] {text}"
        self.log_lines.append(line)
        print(line, flush=True)

    def env(self, **overrides) -> dict:
        env = production_env(
            database_url=self.url, redis_url=self.redis_url, prefix=self.prefix, **overrides
        )
        env["DJANGO_SETTINGS_MODULE"] = "bench.settings_bench"
        if self.nlu_model:
            env["NLU_MODEL_PATH"] = str(self.nlu_model)
        return env

    def server(self, kind=None, workers=None, **overrides) -> Server:
        kind = kind or self.args.server
        workers = workers or self.args.workers
        app = overrides.pop("app", "chatbackend.asgi:application")
        extra = overrides.pop("extra", [])
        srv = Server(
            kind, self.env(**overrides), workers=workers, app=app, extra=extra,
            log_path=str(self.tmp / f"server-{len(self.servers)}.log"),
        )  # fmt: skip
        self.servers.append(srv)
        return srv.start(timeout=300)

    def load(self, specs: list[dict], timeout: float = 240) -> dict:
        """Run one load-generator process per spec at once; merge what they report."""
        procs, paths = [], []
        for i, spec in enumerate(specs):
            path = self.tmp / f"spec-{time.monotonic_ns()}-{i}.json"
            paths.append(path.with_suffix(".out.json"))
            path.write_text(json.dumps({**spec, "out": str(paths[-1])}))
            procs.append(subprocess.Popen([PYTHON, "-m", "bench.load", str(path)], cwd=ROOT))
        outs = []
        for proc, out in zip(procs, paths, strict=True):
            if proc.wait(timeout=timeout) != 0:
                raise RuntimeError(f"load generator failed ({proc.returncode})")
            outs.append(json.loads(out.read_text()))
        merged: dict = {"throughput": 0.0, "counts": {}, "cpu_seconds": 0.0}
        for out in outs:
            merged["throughput"] += out.get("throughput", 0.0)
            merged["cpu_seconds"] += out.get("cpu_seconds", 0.0)
            for key, value in out.get("counts", {}).items():
                merged["counts"][key] = merged["counts"].get(key, 0) + value
            for key in ("ack_ms", "response_ms", "latency_ms"):
                if key in out:
                    merged.setdefault(key, []).extend(out[key])
            for key in ("checked",):
                if key in out:
                    bucket = merged.setdefault(key, {})
                    for k, v in out[key].items():
                        bucket[k] = bucket.get(k, 0) + v
            merged["sockets"] = merged.get("sockets", 0) + out.get("sockets", 0)
            merged["connect_seconds"] = max(
                merged.get("connect_seconds", 0.0), out.get("connect_seconds", 0.0)
            )
        for key in ("ack_ms", "response_ms", "latency_ms"):
            if key in merged:
                merged[key] = summary(merged.pop(key))
        return merged

    def inproc(self, spec: dict) -> dict:
        path = self.tmp / f"inproc-{spec['task']}.json"
        # In-process turns are many per session: the per-session limit would refuse them.
        path.write_text(json.dumps({**spec, "env": self.env(CHAT_MESSAGE_RATE="")}))
        out = subprocess.run(
            [PYTHON, "-m", "bench.inproc", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"inproc {spec['task']} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def tokens(self, usernames: list[str]) -> dict[str, str]:
        from rest_framework_simplejwt.tokens import AccessToken

        class _User:  # what AccessToken.for_user reads, without a query per user
            is_active = True

            def __init__(self, pk):
                self.id = self.pk = pk

        return {u: str(AccessToken.for_user(_User(self.user_ids[u]))) for u in usernames}

    def measured(self, srv: Server, call):
        """Run `call` and report the CPU seconds the server, PostgreSQL and Redis used."""
        pg, rd = CpuMeter("postgres").start(), CpuMeter("redis-server").start()
        s0, w0 = srv.cpu_seconds(), time.perf_counter()
        busy0 = _busy_seconds()
        load1 = os.getloadavg()[0]
        result = call()
        wall = time.perf_counter() - w0
        result["cpu"] = {
            "wall": wall,
            "machine": _busy_seconds() - busy0,
            "load1_before": load1,
            "server": srv.cpu_seconds() - s0,
            "postgres": pg.stop(),
            "redis": rd.stop(),
            "generator": result.get("cpu_seconds", 0.0),
        }
        return result

    # --- setup -----------------------------------------------------------------------------
    def setup(self) -> None:
        self.nlu_model = self.ensure_model()
        self.url = db.create_database(self.base_url, self.db_name)
        env = self.env()
        self.log(f"database {self.db_name} created; migrating")
        self.log(f"migrated in {db.migrate(env):.1f}s")
        n = self.sizes["users"]
        db.seed_users(self.url, n)
        self.user_ids = db.user_ids(self.url)
        os.environ.update({**env, "DB_POOL": "false"})
        import django

        django.setup()
        s = self.sizes
        users = [f"{db.BENCH_USER_PREFIX}{i}" for i in range(n)]
        self.realistic_users = users[: s["realistic"]]
        self.sat_users = users[s["realistic"] : s["realistic"] + s["sat"]]
        self.rest_users = users[1100 : 1100 + s["rest"]] if not self.quick else users[60:70]
        self.raw_users = users[1200:1204] if not self.quick else users[70:74]
        agent_user = users[1300] if not self.quick else users[74]
        self.read_user, self.list_user = (
            (users[1400], users[1401]) if not self.quick else (users[75], users[76])
        )
        self.idle_user = users[-1]
        self.sessions = {
            "realistic": db.create_sessions(self.url, self.realistic_users),
            "sat": db.create_sessions(self.url, self.sat_users),
            "rest": db.create_sessions(self.url, self.rest_users),
            "raw": db.create_sessions(self.url, self.raw_users),
            "agents": db.create_sessions(self.url, [agent_user] * 3),
            "history": db.create_sessions(self.url, [self.read_user])[0],
            "unresolved": db.create_sessions(self.url, [self.list_user] * 20),
        }
        self.agent_user = agent_user
        # 10,000 stored messages: a long conversation to page through, a user with 20
        # unresolved sessions of 20 messages, and filler conversations of 100.
        targets = {self.sessions["history"]: 1000}
        targets |= {sid: 20 for sid in self.sessions["unresolved"]}
        filler_users = [
            users[1500 + (i % 400)] if not self.quick else users[80] for i in range(9900)
        ]
        self.filler = db.create_sessions(self.url, filler_users)
        targets |= {sid: 100 for sid in self.filler[: (10_000 - 1400) // 100]}
        self.log(f"seeded {n} users; {db.fill_messages(self.url, targets):.1f}s for messages")
        self.log(f"chat_messages: {db.count_messages(self.url):,}")
        tokens = self.tokens(
            [*self.realistic_users, *self.sat_users, *self.rest_users, self.read_user,
             self.list_user, self.idle_user, self.agent_user]
        )  # fmt: skip
        self.token = tokens

    def ensure_model(self) -> Path | None:
        return ensure_model(self.log)

    # --- phases ----------------------------------------------------------------------------
    def warm(self, srv: Server, sessions: list[str], users: list[str], sockets: int = 16) -> None:
        """Send a few turns on many sockets so that every worker has loaded the NLU model."""
        pairs = list(zip(sessions, users, strict=True))[:sockets]
        spec = {
            "mode": "ws-chat", "url": srv.ws + "/ws/chat/", "rate": 0, "duration": 3,
            "warmup": 0, "messages": MESSAGES, "drain_timeout": 240,
            "sockets": [{"token": self.token[u], "sessionId": s} for s, u in pairs],
        }  # fmt: skip
        t = time.perf_counter()
        out = self.load([spec], timeout=400)
        self.log(
            f"warm-up: {out['counts'].get('responses', 0)} turns in {time.perf_counter() - t:.1f}s"
        )

    def phase_agents(self) -> None:
        out = self.inproc(
            {"task": "agents", "username": self.agent_user, "sessions": self.sessions["agents"],
             "messages": MESSAGES, "turns": 20 if self.quick else 600}
        )  # fmt: skip
        self.results["phases"]["agents"] = out
        self.log(f"agents: orchestrator CPU {out['orchestrator_cpu_ms']}")

    def phase_reads(self, label: str, srv: Server) -> None:
        dur = 1 if self.quick else 5
        history_path = f"/api/sessions/{self.sessions['history']}/history?limit=50&offset=500"
        list_path = f"/api/users/{self.list_user}/sessions?type=unresolved&limit=10"
        out = {}
        for name, path, user in [
            ("history", history_path, self.read_user),
            ("unresolved", list_path, self.list_user),
        ]:
            spec = {
                "mode": "http", "base": srv.http, "duration": dur, "warmup": 1,
                "requests": [[{"method": "GET", "path": path, "token": self.token[user]}]],
            }  # fmt: skip
            out[name] = self.load([spec])
        out["raw_history"] = raw_sql.history_latency(
            self.url, self.sessions["history"], self.read_user, 500, duration=dur, warmup=1
        )
        out["raw_unresolved"] = raw_sql.unresolved_latency(
            self.url, self.list_user, duration=dur, warmup=1
        )
        out["inproc"] = self.inproc(
            {"task": "reads", "username": self.read_user, "history_session": self.sessions["history"],
             "history_offset": 500, "iterations": 50 if self.quick else 1000}
        )  # fmt: skip
        # The same user owns the list, for the in-process list measurement.
        out["inproc_list"] = self.inproc(
            {"task": "reads", "username": self.list_user,
             "history_session": self.sessions["unresolved"][0], "history_offset": 0,
             "iterations": 50 if self.quick else 1000}
        )  # fmt: skip
        out["explain"] = raw_sql.explain_history(self.url, self.sessions["history"], 500)
        out["messages"] = db.count_messages(self.url)
        self.results["phases"][f"reads_{label}"] = out
        self.log(
            f"reads at {out['messages']:,}: history p99 {out['history']['latency_ms']['p99']:.2f} ms,"
            f" unresolved p99 {out['unresolved']['latency_ms']['p99']:.2f} ms"
        )

    def phase_history(self, srv: Server, key: str, seconds: float = 4) -> dict:
        """GET a 50-message page, one client, closed loop: the REST read path's latency."""
        path = f"/api/sessions/{self.sessions['history']}/history?limit=50&offset=500"
        spec = {"mode": "http", "base": srv.http, "duration": seconds, "warmup": 1,
                "requests": [[{"method": "GET", "path": path, "token": self.token[self.read_user]}]]}  # fmt: skip
        out = self.load([spec])
        self.results["phases"][key] = out
        self.log(f"{key}: {_fmt(out.get('latency_ms'))}")
        return out

    def phase_fill(self) -> None:
        want = self.sizes["big"]
        have = db.count_messages(self.url)
        per = 100
        count = (want - have) // per
        extra = self.filler[(10_000 - 1400) // 100 :][:count]
        if len(extra) < count:
            extra += db.create_sessions(
                self.url,
                [f"{db.BENCH_USER_PREFIX}{1500 + i % 400}" for i in range(count - len(extra))],
            )
        seconds = db.fill_messages(self.url, {sid: per for sid in extra})
        self.log(f"bulk-loaded to {db.count_messages(self.url):,} messages in {seconds:.1f}s")
        self.results["phases"]["fill_seconds"] = seconds

    def phase_raw_turns(self) -> None:
        pairs = list(zip(self.sessions["raw"], self.raw_users, strict=True))
        out = raw_sql.turn_rate(
            self.url, pairs, duration=1 if self.quick else 8, warmup=0.5 if self.quick else 1
        )
        self.results["phases"]["raw_turns"] = out
        self.log(f"raw SQL turn: {out['throughput']:.0f}/s with {len(pairs)} clients")

    def ws_specs(self, srv, sessions, users, *, rate, duration, warmup, procs) -> list[dict]:
        items = [
            {"token": self.token[u], "sessionId": s} for s, u in zip(sessions, users, strict=True)
        ]
        return [
            {"mode": "ws-chat", "url": srv.ws + "/ws/chat/", "rate": rate, "duration": duration,
             "warmup": warmup, "messages": MESSAGES, "drain_timeout": 30,
             "connect_concurrency": 32, "sockets": items[i::procs]}
            for i in range(procs)
        ]  # fmt: skip

    def phase_realistic(self, srv: Server, key: str = "realistic", sockets: int = 0) -> dict:
        """Open loop, one message a second per socket, each socket its own session."""
        sessions, users = self.sessions["realistic"], self.realistic_users
        if sockets:  # fresh sessions of the same users: each session's 60/min stays intact
            users = users[:sockets]
            sessions = db.create_sessions(self.url, users)
        specs = self.ws_specs(
            srv, sessions, users, rate=1,
            duration=2 if self.quick else 20, warmup=0.5 if self.quick else 5, procs=2,
        )  # fmt: skip
        return self.ws_phase(srv, key, specs)

    def ws_phase(self, srv: Server, key: str, specs: list[dict]) -> dict:
        """Run WebSocket chat load `specs` against `srv`, recorded and logged as phase `key`."""
        out = self.measured(srv, lambda: self.load(specs))
        self.results["phases"][key] = out
        self.log(
            f"{key}: {out['sockets']} sockets, {out['throughput']:.0f} turns/s, response "
            f"{_fmt(out.get('response_ms'))}, counts {out['counts']}"
        )
        return out

    def phase_saturation(self, srv: Server, key: str = "saturation") -> dict:
        specs = self.ws_specs(
            srv, self.sessions["sat"], self.sat_users, rate=0,
            duration=2 if self.quick else 15, warmup=0.5 if self.quick else 3, procs=1,
        )  # fmt: skip
        return self.ws_phase(srv, key, specs)

    def phase_rest(self, srv: Server, key: str = "rest") -> dict:
        plans = [
            [{"method": "POST", "path": f"/api/sessions/{s}/messages", "token": self.token[u],
              "body": {"message": MESSAGES[i % len(MESSAGES)]}, "unique_client_id": True}]
            for i, (s, u) in enumerate(zip(self.sessions["rest"], self.rest_users, strict=True))
        ]  # fmt: skip
        spec = {"mode": "http", "base": srv.http, "duration": 2 if self.quick else 15,
                "warmup": 0.5 if self.quick else 3, "requests": plans}  # fmt: skip
        out = self.measured(srv, lambda: self.load([spec]))
        self.results["phases"][key] = out
        self.log(
            f"{key}: {len(plans)} clients, {out['throughput']:.0f} turns/s, "
            f"{_fmt(out.get('latency_ms'))}, counts {out['counts']}"
        )
        return out

    def phase_ping(self, srv: Server, key: str) -> dict:
        spec = {"mode": "ws-echo", "url": srv.ws + "/ws/chat/", "sockets": self.sizes["sat"],
                "duration": 1.5 if self.quick else 8, "warmup": 0.5 if self.quick else 1,
                "token": self.token[self.idle_user]}  # fmt: skip
        out = self.measured(srv, lambda: self.load([spec]))
        self.results["phases"][key] = out
        self.log(f"{key}: {out['throughput']:.0f} msg/s, {_fmt(out.get('latency_ms'))}")
        return out

    def phase_idle(self, srv: Server, key: str, sockets: int, compression: bool = False) -> dict:
        """RSS of the (single) server process before and after `sockets` idle WebSockets."""
        time.sleep(1)
        before = srv.rss()
        procs_n = 2
        procs = []
        for i in range(procs_n):
            path = self.tmp / f"idle-{time.monotonic_ns()}-{i}.json"
            spec = {"mode": "ws-idle", "url": srv.ws + "/ws/chat/", "sockets": sockets // procs_n,
                    "token": self.token[self.idle_user], "connect_concurrency": 50,
                    "compression": compression,
                    "out": str(path.with_suffix(".out.json"))}  # fmt: skip
            path.write_text(json.dumps(spec))
            procs.append(
                subprocess.Popen(
                    [PYTHON, "-m", "bench.load", str(path)], cwd=ROOT, text=True,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                )
            )  # fmt: skip
        ready = 0
        for proc in procs:
            line = proc.stdout.readline()
            ready += json.loads(line)["ready"] if line.strip() else 0
        time.sleep(2)
        after = srv.rss()
        for proc in procs:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write("\n")
                proc.stdin.flush()
            proc.communicate(timeout=120)
        per = (after - before) / max(ready, 1)
        out = {"sockets": ready, "rss_before": before, "rss_after": after, "per_socket": per}
        self.results["phases"][key] = out
        self.log(
            f"{key}: {ready} sockets, {per / 1024:.1f} KiB each (RSS {before / 2**20:.0f}->{after / 2**20:.0f} MiB)"
        )
        return out

    # --- the runs ----------------------------------------------------------------------------
    def run_quick(self) -> None:
        """Every phase once, tiny, on one server: proves the bench works, measures nothing."""
        self.setup()
        self.phase_agents()
        srv = self.server(workers=1, CHAT_MESSAGE_RATE="")
        self.warm(srv, self.sessions["sat"], self.sat_users, sockets=2)
        self.phase_reads("small", srv)
        sat = self.phase_saturation(srv)
        self.phase_realistic(srv)
        fit = max(2, min(self.sizes["realistic"] // 2, int(sat["throughput"] * 0.5)))
        self.phase_realistic(srv, key="realistic_fit", sockets=fit)
        self.phase_rest(srv)
        self.phase_ping(srv, "app_ping")
        self.phase_idle(srv, "idle_app", self.sizes["idle"])
        srv.stop()
        self.phase_raw_turns()
        echo = self.server(workers=1, app="bench.echo_app:application")
        self.phase_ping(echo, "echo")
        self.phase_idle(echo, "idle_echo", self.sizes["idle"])
        echo.stop()

    def run_main(self) -> None:
        if self.quick:
            return self.run_quick()
        self.setup()
        srv = self.server()
        # Two workers, one turn each at least: both load the NLU model before anything is timed.
        self.warm(srv, self.sessions["sat"], self.sat_users, sockets=4)
        self.phase_reads("small", srv)  # first, while the table holds ~10,000 messages
        srv.stop()
        self.phase_agents()
        if not self.quick:
            self.phase_fill()
        db.reset_session_contexts(self.url)
        # Saturation: the limit lifted (the only place CHAT_MESSAGE_RATE="" is used).
        srv = self.server(CHAT_MESSAGE_RATE="")
        self.warm(srv, self.sessions["sat"], self.sat_users, sockets=min(16, self.sizes["sat"]))
        sat = self.phase_saturation(srv)
        self.phase_rest(srv)
        self.phase_ping(srv, "app_ping")
        srv.stop()
        db.reset_session_contexts(self.url)
        # Realistic load with the per-session limit in force (60/min allows one a second).
        srv = self.server()
        self.warm(srv, self.sessions["sat"], self.sat_users, sockets=min(16, self.sizes["sat"]))
        if not self.quick:
            self.phase_reads("big", srv)
        self.phase_realistic(srv)
        # An overloaded server still holds queued frames of sockets that gave up: start afresh.
        srv.stop()
        db.reset_session_contexts(self.url)
        srv = self.server()
        self.warm(srv, self.sessions["sat"], self.sat_users, sockets=min(16, self.sizes["sat"]))
        # The same open-loop load at what this machine sustains: half the saturation rate.
        fit = max(2, min(self.sizes["realistic"] // 2, int(sat["throughput"] * 0.5)))
        self.phase_realistic(srv, key="realistic_fit", sockets=fit)
        srv.stop()
        self.phase_raw_turns()
        echo = self.server(app="bench.echo_app:application")
        self.phase_ping(echo, "echo")
        echo.stop()
        # Memory per idle socket: one process, so RSS is that process's.
        idle_n = self.sizes["idle"]
        srv = self.server(workers=1)
        self.phase_idle(srv, "idle_app", idle_n)
        srv.stop()
        echo = self.server(workers=1, app="bench.echo_app:application")
        self.phase_idle(echo, "idle_echo", idle_n)
        echo.stop()

    def finish(self) -> None:
        for srv in self.servers:
            srv.stop()
        with contextlib.suppress(Exception):
            client = redis.Redis.from_url(self.redis_url)
            for key in client.scan_iter(f"*{self.prefix}*", count=1000):
                client.delete(key)


def _model_is_current(path: Path | None) -> bool:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbackend.settings"}
    if path is not None:
        env["NLU_MODEL_PATH"] = str(path)
    check = subprocess.run(
        [PYTHON, "-c", _MODEL_CHECK], cwd=ROOT, capture_output=True, text=True, env=env,
        timeout=300, check=False,
    )  # fmt: skip
    return check.stdout.strip().endswith("current")


def ensure_model(log=print) -> Path | None:
    """The NLU artifact servers should load: None for the project's own (`make model`) when it
    is current, else a current one trained for the bench. A stale one would make every worker
    train in memory for minutes."""
    if _model_is_current(None):
        return None
    cached = Path(tempfile.gettempdir()) / "chatbench-nlu-model.skops"
    if not _model_is_current(cached):
        log("NLU model missing or stale: training one for the bench (make model)")
        subprocess.run(
            [PYTHON, "manage.py", "train_nlu", "--output", str(cached)],
            cwd=ROOT, check=True, timeout=900, stdout=subprocess.DEVNULL,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatbackend.settings"},
        )  # fmt: skip
    log(f"NLU model: {cached}")
    return cached


_MODEL_CHECK = """
import django; django.setup()
from agents_app import nlu
path = nlu.model_path()
ok = False
if path.exists():
    try:
        model = nlu.TrainedIntentClassifier.load(path)
        ok = model.data_fingerprint == nlu._fingerprint(nlu.training_examples())
    except Exception:
        ok = False
print("current" if ok else "stale")
"""


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def _fmt(lat: dict | None) -> str:
    if not lat or not lat.get("n"):
        return "-"
    return f"p50 {lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} ms"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = psutil.virtual_memory().total / 2**30
    return f"{psutil.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--server", default="uvicorn", choices=["uvicorn", "daphne", "granian"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--out",
        type=Path,
        help="report path (default bench/results/latest.md; --quick: a temp file)",
    )
    parser.add_argument(
        "--json", type=Path, help="the raw figures as JSON (default bench/results/latest.json)"
    )
    parser.add_argument("--compare", action="store_true", help="the serving-stack matrix")
    parser.add_argument("--profile", action="store_true", help="py-spy the server under load")
    parser.add_argument(
        "--responder", default="agents", choices=["agents", "constant"],
        help="--profile: the real agents, or a constant reply (the stack alone)",
    )  # fmt: skip
    parser.add_argument("--only", help="--compare: only these configurations (|-separated)")
    args = parser.parse_args(argv)
    if args.server == "daphne":
        args.workers = 1

    bench = Bench(args)
    bench.sizes = (
        {"users": 200, "realistic": 40, "sat": 10, "rest": 8, "idle": 100, "big": 10_000}
        if args.quick
        else {"users": 2000, "realistic": 1000, "sat": 100, "rest": 32, "idle": 5000,
              "big": 1_000_000}
    )  # fmt: skip
    try:
        if args.compare:
            from bench.compare import run_compare

            run_compare(bench)
        elif args.profile:
            from bench.profile import run_profile

            run_profile(bench)
        else:
            bench.run_main()
            from bench.report import write_report

            quick_out = Path(tempfile.gettempdir()) / "chatbench-quick.md"
            out = args.out or (quick_out if args.quick else RESULTS / "latest.md")
            write_report(bench, out)
            bench.log(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        figures = args.json or (None if args.quick or args.compare or args.profile else (
            RESULTS / "latest.json"
        ))  # fmt: skip
        if figures:
            figures.write_text(json.dumps(bench.results, indent=1, default=str))
    finally:
        bench.finish()
    bench.log(f"done in {time.monotonic() - bench.started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
