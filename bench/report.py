# ruff: noqa: S607, E501 - git for the commit id; Markdown table rows are long
"""bench/results/latest.md from one run's figures."""

import subprocess
from datetime import UTC, datetime

from bench.common import ROOT

TARGETS = {
    "realistic": "1,000 turns/s, p99 <= 50 ms, no errors",
    "saturation": ">= 1,500 turns/s and >= 50 % of raw SQL",
    "rest": ">= 800 turns/s",
    "history_big": "p99 <= 5 ms",
    "idle": "<= 30 KB each (at 10,000)",
    "agents": "<= 2 ms CPU at p99",
}


def _lat(d: dict | None) -> tuple[str, str, str]:
    if not d or not d.get("n"):
        return ("-", "-", "-")
    return tuple(f"{d[k]:.2f}" if d[k] < 10 else f"{d[k]:.1f}" for k in ("p50", "p95", "p99"))


def _ok(flag: bool) -> str:
    return "yes" if flag else "**no**"


def _errors(counts: dict) -> int:
    return sum(
        v
        for k, v in counts.items()
        if k.startswith(("error", "connect", "recv", "send", "timeouts"))
        or (k.startswith("status:") and not k.startswith("status:2"))
    )


def _commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
        text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return out.stdout.strip() + (" + uncommitted changes" if dirty else "")


def write_report(bench, path) -> None:
    from bench.run import machine

    r = bench.results["phases"]
    args = bench.args
    lines = [
        "# Benchmark results" + (" (--quick: smoke sizes, not figures)" if bench.quick else ""),
        "",
        f"`make bench` (`python -m bench.run`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"commit {_commit()}.",
        "",
        f"- Machine: {machine()}. **The load generator, the server, PostgreSQL and Redis all "
        "share these cores**: every figure is the whole system on one box, and the CPU table "
        "below shows who used what.",
        f"- Server: `{args.server}` x {args.workers} worker process(es), production settings "
        "(`DJANGO_ENV=production`), PostgreSQL + Redis on loopback, `DB_POOL_MAX=10` per "
        "process, the real agents (NLP, NLU, Banking) answering every turn.",
        "- Load: Python asyncio + uvloop generator processes (`bench/load.py`; websockets "
        "client without compression; raw keep-alive HTTP/1.1 for REST). Open-loop latency is "
        "measured from the *scheduled* send time, so queueing is not hidden.",
        "- Baselines, same run: plain psycopg running the same SQL (`bench/raw_sql.py`); a bare "
        "ASGI WebSocket echo (`bench/echo_app.py`) on the same server.",
        "",
        "## Figures",
        "",
        "| figure | result | p50 ms | p95 ms | p99 ms | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    raw = r.get("raw_turns", {})
    raw_rate = raw.get("throughput", 0)
    echo = r.get("echo", {})
    echo_rate = echo.get("throughput", 0)

    real = r.get("realistic")
    if real:
        errs = _errors(real["counts"])
        want = bench.sizes["realistic"]
        p99 = real.get("response_ms", {}).get("p99", float("inf"))
        lines.append(
            f"| WS chat turns, realistic: {real['sockets']} sockets x 1 msg/s, send->`chat:response` "
            f"| {real['throughput']:.0f} turns/s, {errs} errors | {' | '.join(_lat(real.get('response_ms')))} "
            f"| - | - | {TARGETS['realistic']} "
            f"| {_ok(real['throughput'] >= 0.98 * want and p99 <= 50 and errs == 0)} |"
        )
        lines.append(
            f"| ... same turns, send->`chat:ack` | | {' | '.join(_lat(real.get('ack_ms')))} | | | | |"
        )
    fit = r.get("realistic_fit")
    if fit:
        lines.append(
            f"| WS chat turns, open loop at half the saturation rate: {fit['sockets']} sockets x 1 msg/s "
            f"| {fit['throughput']:.0f} turns/s, {_errors(fit['counts'])} errors | {' | '.join(_lat(fit.get('response_ms')))} "
            f"| - | - | (what this machine sustains) | - |"
        )
    sat = r.get("saturation")
    if sat:
        ratio = sat["throughput"] / raw_rate if raw_rate else 0
        lines.append(
            f"| WS chat turns, saturation: {sat['sockets']} sockets closed-loop, limit lifted "
            f"| {sat['throughput']:.0f} turns/s, {_errors(sat['counts'])} errors "
            f"| {' | '.join(_lat(sat.get('response_ms')))} "
            f"| raw SQL turn {raw_rate:.0f}/s (4 clients); echo {echo_rate:.0f} msg/s "
            f"| {ratio:.0%} of SQL; {sat['throughput'] / echo_rate if echo_rate else 0:.1%} of echo "
            f"| {TARGETS['saturation']} | {_ok(sat['throughput'] >= 1500 and ratio >= 0.5)} |"
        )
    rest = r.get("rest")
    if rest:
        lines.append(
            f"| REST chat turns (`POST /api/sessions/{{id}}/messages`), {bench.sizes['rest']} clients "
            f"| {rest['throughput']:.0f} turns/s, {_errors(rest['counts'])} errors "
            f"| {' | '.join(_lat(rest.get('latency_ms')))} | raw SQL turn {raw_rate:.0f}/s "
            f"| {rest['throughput'] / raw_rate if raw_rate else 0:.0%} | {TARGETS['rest']} "
            f"| {_ok(rest['throughput'] >= 800)} |"
        )
    for label in ("small", "big"):
        reads = r.get(f"reads_{label}")
        if not reads:
            continue
        n = reads["messages"]
        hist, raw_h = reads["history"]["latency_ms"], reads["raw_history"]["latency"]
        lines.append(
            f"| History, 50 messages (REST, 1 client), {n:,} stored "
            f"| {reads['history']['throughput']:.0f} req/s | {' | '.join(_lat(hist))} "
            f"| psycopg: p50 {raw_h['p50']:.2f} / p99 {raw_h['p99']:.2f} ms "
            f"| {hist['p50'] / raw_h['p50']:.1f}x at p50 "
            f"| {TARGETS['history_big'] if label == 'big' else '-'} "
            f"| {_ok(hist['p99'] <= 5) if label == 'big' else '-'} |"
        )
        unres, raw_u = reads["unresolved"]["latency_ms"], reads["raw_unresolved"]["latency"]
        lines.append(
            f"| A user's unresolved sessions (10 of 20, last 5 messages each), {n:,} stored "
            f"| {reads['unresolved']['throughput']:.0f} req/s | {' | '.join(_lat(unres))} "
            f"| psycopg: p50 {raw_u['p50']:.2f} / p99 {raw_u['p99']:.2f} ms "
            f"| {unres['p50'] / raw_u['p50']:.1f}x at p50 | - | - |"
        )
    idle, idle_echo = r.get("idle_app"), r.get("idle_echo")
    if idle:
        echo_per = idle_echo["per_socket"] if idle_echo else 0
        lines.append(
            f"| Memory per idle WebSocket, {idle['sockets']:,} open (RSS delta / sockets, 1 process) "
            f"| {idle['per_socket'] / 1024:.1f} KiB | | | | echo app: {echo_per / 1024:.1f} KiB "
            f"| {idle['per_socket'] / echo_per if echo_per else 0:.1f}x | {TARGETS['idle']} "
            f"| {_ok(idle['per_socket'] <= 30_000)} |"
        )
    ag = r.get("agents")
    if ag:
        cpu = ag["orchestrator_cpu_ms"]
        lines.append(
            f"| Agents (orchestrator) CPU per turn, in-process, {cpu['n']} turns "
            f"| | {' | '.join(_lat(cpu))} | whole `message_send` CPU p50 "
            f"{ag['message_send_cpu_ms']['p50']:.2f} ms; with a constant reply "
            f"{ag['message_send_constant_responder_cpu_ms']['p50']:.2f} ms | "
            f"{cpu['p50'] / ag['message_send_cpu_ms']['p50']:.0%} of the turn's CPU "
            f"| {TARGETS['agents']} | {_ok(cpu['p99'] <= 2)} |"
        )
        mixed = ag.get("orchestrator_banking77_cpu_ms")
        if mixed:
            lines.append(
                f"| ... the same, {mixed['n']} questions from BANKING77's training split "
                f"(unseen questions need the sentence encoder more often: docs/nlu.md) "
                f"| | {' | '.join(_lat(mixed))} | | | "
                f"{TARGETS['agents']} | {_ok(mixed['p99'] <= 2)} |"
            )
    ping, echo_ping = r.get("app_ping"), r.get("echo")
    if ping and echo_ping:
        lines.append(
            f"| WS `ping`->`pong` through Channels, 100 sockets closed-loop | {ping['throughput']:.0f} msg/s "
            f"| {' | '.join(_lat(ping.get('latency_ms')))} | echo app {echo_ping['throughput']:.0f} msg/s, "
            f"p99 {echo_ping['latency_ms']['p99']:.2f} ms | {ping['throughput'] / echo_ping['throughput']:.0%} | - | - |"
        )

    lines += ["", "## Where the CPU went (seconds of CPU per second of wall time)", "",
              "| phase | turns/s | server | PostgreSQL | Redis | load generator | everything else on the machine | server CPU ms per turn |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for key in ("realistic", "realistic_fit", "saturation", "rest"):
        ph = r.get(key)
        if not ph or "cpu" not in ph:
            continue
        c = ph["cpu"]
        w = c["wall"] or 1
        turns = ph["throughput"] * w
        lines.append(
            f"| {key} | {ph['throughput']:.0f} | {c['server'] / w:.2f} | {c['postgres'] / w:.2f} "
            f"| {c['redis'] / w:.2f} | {c['generator'] / w:.2f} "
            f"| {max(0.0, c['machine'] - c['server'] - c['postgres'] - c['redis'] - c['generator']) / w:.2f} "
            f"| {c['server'] * 1000 / turns if turns else 0:.2f} |"
        )
    lines += ["", "PostgreSQL and Redis CPU is the whole server's (other databases on the same "
              "server included); the wall time includes connecting and draining.", ""]  # fmt: skip

    for label in ("small", "big"):
        reads = r.get(f"reads_{label}")
        if not reads:
            continue
        ip, il = reads["inproc"], reads["inproc_list"]
        lines += [
            f"## Redis cache vs database path, in-process, {reads['messages']:,} stored messages",
            "",
            "| read | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|",
            f"| history page: database (session row + index range scan + serializers) | {' | '.join(_lat(ip['history_db']))} |",
            f"| history page: cached JSON, ownership still checked on the session row | {' | '.join(_lat(ip['history_cache_with_owner_check']))} |",
            f"| history page: cached JSON alone | {' | '.join(_lat(ip['history_cache_only']))} |",
            f"| unresolved list: database (2 queries + serializers) | {' | '.join(_lat(il['unresolved_db']))} |",
            f"| unresolved list: cached JSON alone | {' | '.join(_lat(il['unresolved_cache_only']))} |",
            "",
        ]  # fmt: skip
    big = r.get("reads_big") or r.get("reads_small")
    if big:
        lines += ["## The history query's plan", "", "```", big["explain"], "```", ""]
    if r.get("fill_seconds"):
        lines.append(
            f"Bulk load (one `INSERT ... SELECT generate_series` per batch): "
            f"{r['fill_seconds']:.1f} s to reach {r['reads_big']['messages']:,} messages."
        )
        lines.append("")
    lines += ["## Counts", "", "```"]
    for key in ("realistic", "realistic_fit", "saturation", "rest", "app_ping", "echo"):
        if key in r:
            lines.append(f"{key}: {r[key].get('counts')} {r[key].get('checked', '')}")
    lines += ["```", "", "## Log", "", "```", *bench.log_lines, "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
