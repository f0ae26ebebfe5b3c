# ruff: noqa: E501 - one configuration per line
"""`python -m bench.run --compare`: the serving-stack matrix behind docs/benchmarks.md.

Every configuration runs the same closed-loop WebSocket saturation (100 sockets, limit
lifted) and, for the server kinds, REST turns and idle-socket memory, back to back in one run
on the same database. Configurations that are about the stack (server, workers, pool, consumer,
channel layer) use a constant responder (BENCH_RESPONDER=constant) so the agents' cost, the
same everywhere, does not hide the differences; the server kinds are also run with the agents.
Writes bench/results/compare.md (and compare.json).
"""

import json
import time

from bench.common import ROOT

RESULTS = ROOT / "bench" / "results"
VARIANTS_APP = "bench.asgi_variants:application"

# (label, server kind, workers, env overrides, responder, measure REST, measure idle memory)
MATRIX = [
    ("daphne x1", "daphne", 1, {}, "constant", True, True),
    ("uvicorn x1 (uvloop, httptools, websockets-sansio)", "uvicorn", 1, {}, "constant", True, True),
    ("uvicorn x1 --ws websockets", "uvicorn", 1, {"extra": ["--ws", "websockets"]}, "constant", False, True),
    ("granian x1 (uvloop)", "granian", 1, {}, "constant", True, True),
    ("uvicorn x2", "uvicorn", 2, {}, "constant", True, False),
    ("uvicorn x3", "uvicorn", 3, {}, "constant", True, False),
    ("granian x2", "granian", 2, {}, "constant", True, False),
    ("uvicorn x2, DB_POOL_MAX=4", "uvicorn", 2, {"DB_POOL_MAX": "4"}, "constant", False, False),
    ("uvicorn x2, DB_POOL_MAX=20", "uvicorn", 2, {"DB_POOL_MAX": "20"}, "constant", False, False),
    ("uvicorn x2, consumer: 3 ORM calls per turn", "uvicorn", 2, {"BENCH_CONSUMER": "split"}, "constant", False, False),
    ("uvicorn x2, consumer: one thread per process (Channels default)", "uvicorn", 2, {"BENCH_CONSUMER": "serial"}, "constant", False, False),
    ("uvicorn x2, plain RedisChannelLayer", "uvicorn", 2, {"BENCH_CHANNEL_LAYER": "core"}, "constant", False, False),
    ("uvicorn x2, RedisPubSubChannelLayer", "uvicorn", 2, {"BENCH_CHANNEL_LAYER": "pubsub"}, "constant", False, False),
    ("uvicorn x1, client offers permessage-deflate (as browsers do)", "uvicorn", 1, {"client_deflate": True}, "constant", False, True),
    ("uvicorn x1 --ws-per-message-deflate false, client offers it", "uvicorn", 1, {"client_deflate": True, "extra": ["--ws-per-message-deflate", "false"]}, "constant", False, True),
    ("daphne x1, client offers permessage-deflate", "daphne", 1, {"client_deflate": True}, "constant", False, True),
    ("uvicorn x2, BodySizeLimitMiddleware second in MIDDLEWARE (async chain)", "uvicorn", 2, {"BENCH_MIDDLEWARE": "sync-first"}, "constant", True, False),
    ("daphne x1, real agents", "daphne", 1, {}, "agents", True, False),
    ("uvicorn x1, real agents", "uvicorn", 1, {}, "agents", True, False),
    ("uvicorn x2, real agents", "uvicorn", 2, {}, "agents", True, False),
    ("granian x2, real agents", "granian", 2, {}, "agents", True, False),
]  # fmt: skip
QUICK = {"daphne x1", "uvicorn x1 (uvloop, httptools, websockets-sansio)", "granian x1 (uvloop)"}


def run_compare(bench) -> None:
    bench.setup()
    name = "compare-quick" if bench.quick else "compare"
    only = set(filter(None, (bench.args.only or "").split("|")))
    previous = RESULTS / f"{name}.json"
    # --only re-measures some rows and keeps the others from the last run.
    rows = json.loads(previous.read_text()) if only and previous.exists() else []
    for label, kind, workers, overrides, responder, rest, idle in MATRIX:
        if bench.quick and label not in QUICK:
            continue
        if only and label not in only:
            continue
        env = {k: v for k, v in overrides.items() if k not in ("extra", "client_deflate")}
        deflate = overrides.get("client_deflate", False)
        if responder == "constant":
            env["BENCH_RESPONDER"] = "constant"
        from bench import db

        db.reset_session_contexts(bench.url)
        bench.log(f"-- {label}")
        try:
            srv = bench.server(
                kind, workers, CHAT_MESSAGE_RATE="", app=VARIANTS_APP,
                extra=overrides.get("extra", []), **env,
            )  # fmt: skip
        except (RuntimeError, OSError) as exc:  # e.g. granian not installed
            bench.log(f"{label}: did not start ({exc!r})")
            continue
        row = {"label": label, "kind": kind, "workers": workers, "responder": responder}
        try:
            bench.warm(srv, bench.sessions["sat"], bench.sat_users, sockets=16)
            row["ws"] = bench.phase_saturation(srv, key=f"cmp:{label}:ws")
            if rest:
                row["rest"] = bench.phase_rest(srv, key=f"cmp:{label}:rest")
                row["history"] = bench.phase_history(srv, key=f"cmp:{label}:history")
            srv.stop()
            if idle:
                srv = bench.server(
                    kind, 1, app=VARIANTS_APP, extra=overrides.get("extra", []), **env
                )
                row["idle"] = bench.phase_idle(
                    srv, f"cmp:{label}:idle", bench.sizes["idle"] // 2, compression=deflate
                )
        except Exception as exc:  # one broken configuration must not lose the others
            bench.log(f"{label}: failed: {exc!r}")
            continue
        finally:
            srv.stop()
        rows = [r for r in rows if r["label"] != label] + [row]
        write(bench, rows, name)  # after every row: a crash keeps what was measured


def _lat(d):
    return f"{d['p50']:.1f} / {d['p99']:.1f}" if d and d.get("n") else "-"


def write(bench, rows, name) -> None:
    from bench.run import machine

    order = [m[0] for m in MATRIX]
    rows.sort(key=lambda r: order.index(r["label"]) if r["label"] in order else len(order))
    lines = [
        "# Serving-stack comparison (`python -m bench.run --compare`)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; {machine()}; load generator, "
        "server, PostgreSQL and Redis on the same cores (and whatever else the machine ran: "
        "the last column).",
        "",
        "WS: 100 sockets closed-loop (send, wait for `chat:response`, send again), "
        "per-session limit lifted. REST: 32 keep-alive clients on "
        "`POST /api/sessions/{id}/messages`. Idle: RSS delta per open, authenticated, idle "
        "WebSocket on one process. `constant` = the agents replaced by a constant reply "
        "(isolates the stack); `agents` = the real pipeline.",
        "",
        "| configuration | responder | WS turns/s | WS p50 / p99 ms | server CPU ms/turn (WS) "
        "| REST turns/s | REST p50 / p99 ms | history GET p50 / p99 ms | idle KiB/socket "
        "| machine load (other CPU/s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ws, rest, idle = row.get("ws"), row.get("rest"), row.get("idle")
        cpu = ws["cpu"] if ws else None
        turns = ws["throughput"] * cpu["wall"] if ws else 0
        other = (
            max(0.0, cpu["machine"] - cpu["server"] - cpu["postgres"] - cpu["redis"]
                - cpu["generator"]) / cpu["wall"]
            if cpu else 0
        )  # fmt: skip
        lines.append(
            f"| {row['label']} | {row['responder']} "
            f"| {ws['throughput']:.0f} | {_lat(ws.get('response_ms'))} "
            f"| {cpu['server'] * 1000 / turns if turns else 0:.2f} "
            f"| {rest['throughput']:.0f} | {_lat(rest.get('latency_ms'))} "
            if rest
            else f"| {row['label']} | {row['responder']} | {ws['throughput']:.0f} "
            f"| {_lat(ws.get('response_ms'))} | {cpu['server'] * 1000 / turns if turns else 0:.2f} | - | - "
        )
        history = row.get("history")
        lines[-1] += f"| {_lat(history.get('latency_ms')) if history else '-'} "
        lines[-1] += (
            f"| {idle['per_socket'] / 1024:.1f} " if idle else "| - "
        ) + f"| {other:.2f} |"
    errors = {
        r["label"]: {k: v for k, v in r["ws"]["counts"].items() if k not in ("sent", "responses")}
        for r in rows
    }
    lines += ["", "Errors (anything but sent/responses):", "", "```", json.dumps(errors, indent=1),
              "```", "", "Log:", "", "```", *bench.log_lines, "```", ""]  # fmt: skip
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=1, default=str))
