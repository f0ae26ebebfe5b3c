# ruff: noqa: S603 - runs py-spy on a server the bench started
"""`python -m bench.run --profile`: py-spy samples one server process during a closed-loop
WebSocket chat load and REST load, and the collapsed stacks are summarised as inclusive time
per function (where a turn's time goes) in bench/results/profile-<kind>-<responder>.txt,
followed by a pyinstrument tree of `message_send` run in-process.

py-spy samples from outside the process (`--nonblocking`), so the server runs unmodified;
two views: `--gil` (only the thread holding the GIL: where Python CPU goes) and every busy
thread (wall time, waits on PostgreSQL included).
"""

import importlib.util
import re
import subprocess
import threading
from collections import Counter
from pathlib import Path

from bench.common import BIN, ROOT

RESULTS = ROOT / "bench" / "results"

# Inclusive buckets: a sample counts for each bucket whose pattern matches a frame in its
# stack (so they overlap, and nest: "agents" is inside "message_send").
BUCKETS = [
    ("consumer: handle a frame (all of it)", r"handle_frame \(messaging_app/consumers.py"),
    (
        "REST: Django request handling (all of it)",
        r"get_response(_async)? \(django/core/handlers/base.py",
    ),
    ("message_send (service, in the ORM thread)", r"message_send \(messaging_app/services.py"),
    ("  agents: orchestrator", r"__call__ \(agents_app/orchestrator.py"),
    ("    NLU", r"understand \(agents_app/nlu"),
    ("      NLU sentence encoder (ONNX)", r"encode \(agents_app/nlu"),
    ("    NLP", r"analyze \(agents_app/nlp"),
    ("    banking agent", r"handle \(agents_app/banking.py"),
    ("  rate limit (Redis INCR)", r"enforce_message_rate"),
    ("  session row lock (SELECT FOR UPDATE)", r"session_get \(sessions_app/selectors.py"),
    ("  bulk insert", r"bulk_create"),
    ("  session save", r"save \(django/db/models/base.py"),
    ("  commit", r"commit \(django/db/backends/base/base.py"),
    ("  after-commit fan-out (serializers + group_send)", r"announce_turn"),
    ("    async_to_sync wait for group_send", r"_group_send \(messaging_app/events.py"),
    (
        "DRF MessageOutput / SessionOutput serializers",
        r"to_representation \(rest_framework/serializers.py",
    ),
    ("turn_json (reply body)", r"turn_json"),
    ("JSON encode (json.dumps / DjangoJSONEncoder)", r"(dumps \(json|encode \(json|iterencode)"),
    (
        "database driver (psycopg execute / fetch)",
        r"(execute|fetchall|fetchone|_fetch_all) \(psycopg",
    ),
    ("Django ORM SQL compilation", r"as_sql \(django/db/models/sql/compiler.py"),
    (
        "Django DB connection open/close (pool get/put, health check)",
        r"(close_old_connections|ensure_connection|close_if_unusable_or_obsolete)",
    ),
    ("channel layer (channels_redis)", r"channels_redis"),
    (
        "WebSocket protocol (uvicorn/websockets framing)",
        r"(websockets/|uvicorn/protocols/websockets)",
    ),
    ("asgiref sync_to_async / async_to_sync machinery", r"asgiref/sync.py"),
    ("logging", r"logging/__init__.py"),
    ("JWT auth", r"(rest_framework_simplejwt|chatbackend/auth.py)"),
    ("Django middleware chain", r"django/middleware|chatbackend/middleware.py|corsheaders"),
]


def summarise(raw: Path, top: int = 40) -> str:
    stacks: Counter = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks[stack] += int(count)
    total = sum(stacks.values()) or 1
    out = [f"{total} samples (all threads, idle excluded)", "", "inclusive share of samples:"]
    for label, pattern in BUCKETS:
        regex = re.compile(pattern)
        n = sum(c for s, c in stacks.items() if regex.search(s))
        out.append(f"  {100 * n / total:5.1f}%  {label}")
    self_time: Counter = Counter()
    for stack, count in stacks.items():
        leaf = stack.split(";")[-1]
        self_time[re.sub(r":\d+\)", ")", leaf)] += count
    out += ["", f"top {top} functions by self time:"]
    for frame, count in self_time.most_common(top):
        out.append(f"  {100 * count / total:5.1f}%  {frame}")
    return "\n".join(out)


def record(pid: int, seconds: int, path: Path, gil: bool) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "py-spy"), "record", "--pid", str(pid), "--duration", str(seconds),
         "--rate", "250", "--nonblocking", "--format", "raw", "--output", str(path),
         *(["--gil"] if gil else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run_profile(bench) -> None:
    bench.setup()
    kind, responder = bench.args.server, bench.args.responder
    env = {"BENCH_RESPONDER": "constant"} if responder == "constant" else {}
    srv = bench.server(
        workers=1, CHAT_MESSAGE_RATE="", app="bench.asgi_variants:application", **env
    )
    bench.warm(srv, bench.sessions["sat"], bench.sat_users, sockets=8)
    pid = srv.pids()[0]
    reports = []
    seconds = 6 if bench.quick else 12
    for label, gil, phase in [
        ("ws-gil", True, lambda: bench.phase_saturation(srv, key="profiled_ws")),
        ("ws-wall", False, lambda: bench.phase_saturation(srv, key="profiled_ws")),
        ("rest-gil", True, lambda: bench.phase_rest(srv, key="profiled_rest")),
    ]:
        raw = bench.tmp / f"profile-{label}.txt"
        spy = record(pid, seconds, raw, gil)
        result: dict = {}
        thread = threading.Thread(target=lambda r=result, p=phase: r.update(p()))
        thread.start()
        thread.join()
        spy.wait(timeout=60)
        text = summarise(raw)
        what = "GIL holder only: Python CPU" if gil else "every busy thread: wall time"
        reports.append(
            f"== {label}: {kind} x1, {responder}, {result.get('throughput', 0):.0f} turns/s "
            f"under py-spy ({what}) ==\n{text}\n"
        )
        (bench.tmp / f"profile-{kind}-{responder}-{label}.collapsed").write_text(raw.read_text())
    srv.stop()
    from bench.run import MESSAGES

    if importlib.util.find_spec("pyinstrument") is None:
        bench.log("pyinstrument is not installed: no in-process profile")
        (RESULTS / f"profile-{kind}-{responder}.txt").write_text("\n".join(reports))
        return
    turns = bench.inproc(
        {"task": "profile", "username": bench.agent_user, "sessions": bench.sessions["agents"],
         "messages": MESSAGES, "turns": 30 if bench.quick else 200, "responder": responder}
    )  # fmt: skip
    reports.append(
        f"== in-process: message_send, {responder}, pyinstrument (no server; fan-out on a "
        f"running loop as in the server): {turns['cpu_ms_per_turn']:.2f} ms CPU per turn "
        f"under the profiler ==\n{turns['text']}\n"
    )
    out = RESULTS / f"profile-{kind}-{responder}.txt"
    out.write_text("\n".join(reports))
    bench.log(f"wrote {out.relative_to(ROOT)}")
