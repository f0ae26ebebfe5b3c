"""The async load generator, run as its own process (`python -m bench.load SPEC.json`) so that it
does not share an event loop, or a GIL, with the server or the bench's controller.

Modes (spec["mode"]):
- ws-chat: sockets send `chat:message` open-loop at `rate` per socket per second (latency is
  measured from the *scheduled* send time, so a slow server cannot hide its queue), or
  closed-loop with rate 0 (send, wait for chat:response, send again: saturation);
- ws-echo: closed-loop frames to an echo endpoint (or `ping` to our app);
- ws-idle: open sockets, print READY, hold them until stdin closes;
- http: closed-loop keep-alive HTTP/1.1 requests (chat turns over REST, history, lists)
  with a tiny raw client: httpx costs more CPU per request than the server we measure.

It writes one JSON object to spec["out"]: counts, errors and latency lists in milliseconds
(ws-idle also prints READY on stdout once its sockets are open).
Only loopback addresses are accepted.
"""

import asyncio
import itertools
import json
import random
import sys
import time
import uuid
from collections import Counter, deque
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"load is only generated against loopback, not {host!r}")


async def _open(url: str, token: str | None, compression: bool):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return await connect(
        url,
        additional_headers=headers,
        compression="deflate" if compression else None,
        ping_interval=None,
        max_size=2**22,
        open_timeout=60,
        close_timeout=2,
    )


async def _open_all(spec: dict, items: list[dict]) -> tuple[list, Counter]:
    limiter = asyncio.Semaphore(spec.get("connect_concurrency", 64))
    errors: Counter = Counter()

    async def one(item):
        async with limiter:
            try:
                return await _open(spec["url"], item.get("token"), spec.get("compression", False))
            except Exception as exc:
                errors[f"connect:{type(exc).__name__}"] += 1
                return None

    sockets = await asyncio.gather(*(one(item) for item in items))
    return sockets, errors


# --- ws-chat -------------------------------------------------------------------------------
async def ws_chat(spec: dict) -> dict:
    items = spec["sockets"]
    rate, duration, warmup = spec["rate"], spec["duration"], spec["warmup"]
    texts = spec["messages"]
    connect_started = time.perf_counter()
    sockets, errors = await _open_all(spec, items)
    connect_seconds = time.perf_counter() - connect_started
    t0 = time.perf_counter() + 0.5
    measure_from, measure_to = t0 + warmup, t0 + warmup + duration
    ack_ms: list[float] = []
    resp_ms: list[float] = []
    counts: Counter = Counter()
    completions: list[float] = []  # times of responses (for throughput in the window)
    checked = {"sequence_ok": 0, "sequence_bad": 0, "answered": 0, "unanswered": 0}

    async def run_socket(index: int, ws, item: dict):
        session_id = item["sessionId"]
        pending: deque = deque()  # (scheduled_at, clientMessageId); frames answer in order
        acked: deque = deque()
        done = asyncio.Event()
        turn_done = asyncio.Event()  # closed loop: the turn in flight was answered
        sent_all = False
        last_seq = None

        async def receiver():
            nonlocal last_seq
            try:
                async for raw in ws:
                    now = time.perf_counter()
                    frame = json.loads(raw)
                    event = frame["event"]
                    if event == "chat:ack":
                        scheduled, cid = pending.popleft()
                        data = frame["data"]
                        if data["clientMessageId"] != cid:
                            counts["ack_mismatch"] += 1
                        seq = data["sequenceNumber"]
                        ok = last_seq is None or seq == last_seq + 2 or seq == last_seq + 1
                        checked["sequence_ok" if ok else "sequence_bad"] += 1
                        last_seq = data["responseSequenceNumber"] or seq
                        acked.append(scheduled)
                        if scheduled >= measure_from:
                            ack_ms.append((now - scheduled) * 1000)
                    elif event == "chat:response":
                        scheduled = acked.popleft()
                        answered = frame["data"]["response"] is not None
                        checked["answered" if answered else "unanswered"] += 1
                        counts["responses"] += 1
                        if scheduled >= measure_from:
                            resp_ms.append((now - scheduled) * 1000)
                        if measure_from <= now <= measure_to:
                            completions.append(now)
                        turn_done.set()
                    elif event == "error":
                        code = frame["data"].get("code")
                        counts[f"error:{code}"] += 1
                        if pending:
                            pending.popleft()
                        turn_done.set()
                    else:
                        counts[f"other:{event}"] += 1
                    if sent_all and not pending and not acked:
                        done.set()
                        return
            except Exception as exc:
                counts[f"recv:{type(exc).__name__}"] += 1
            done.set()

        recv_task = asyncio.create_task(receiver())
        offset = random.random() / rate if rate else 0.0
        for k in itertools.count():
            if rate:
                scheduled = t0 + offset + k / rate
                if scheduled >= measure_to:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                scheduled = time.perf_counter()
                if k == 0 and scheduled < t0:
                    await asyncio.sleep(t0 - scheduled)
                    scheduled = time.perf_counter()
                if scheduled >= measure_to:
                    break
            cid = uuid.uuid4().hex
            pending.append((scheduled, cid))
            body = {"sessionId": session_id, "content": texts[(index + k) % len(texts)]}
            body["clientMessageId"] = cid
            try:
                await ws.send(json.dumps({"event": "chat:message", "data": body}))
            except Exception as exc:
                counts[f"send:{type(exc).__name__}"] += 1
                break
            counts["sent"] += 1
            if not rate:  # closed loop: wait for this turn's answer
                try:
                    await asyncio.wait_for(turn_done.wait(), spec.get("drain_timeout", 20))
                except TimeoutError:
                    break
                turn_done.clear()
        sent_all = True
        if not pending and not acked:
            done.set()
        try:
            await asyncio.wait_for(done.wait(), spec.get("drain_timeout", 20))
        except TimeoutError:
            counts["timeouts"] += len(pending) + len(acked)
        recv_task.cancel()

    live = [(i, ws, item) for i, (ws, item) in enumerate(zip(sockets, items, strict=True)) if ws]
    await asyncio.gather(*(run_socket(i, ws, item) for i, ws, item in live))
    await asyncio.gather(*(ws.close() for _, ws, _ in live), return_exceptions=True)
    counts.update(errors)
    return {
        "mode": "ws-chat",
        "sockets": len(live),
        "connect_seconds": connect_seconds,
        "duration": duration,
        "ack_ms": ack_ms,
        "response_ms": resp_ms,
        "throughput": len(completions) / duration,
        "counts": dict(counts),
        "checked": checked,
    }


# --- ws-echo -------------------------------------------------------------------------------
async def ws_echo(spec: dict) -> dict:
    items = [{"token": spec.get("token")} for _ in range(spec["sockets"])]
    sockets, errors = await _open_all(spec, items)
    duration, warmup = spec["duration"], spec["warmup"]
    payload = spec.get("payload") or json.dumps({"event": "ping", "data": {"ts": 1}})
    t0 = time.perf_counter()
    measure_from, measure_to = t0 + warmup, t0 + warmup + duration
    lat: list[float] = []
    done = 0
    counts: Counter = Counter()

    async def loop(ws):
        nonlocal done
        while True:
            started = time.perf_counter()
            if started >= measure_to:
                return
            try:
                await ws.send(payload)
                await ws.recv()
            except Exception as exc:
                counts[f"error:{type(exc).__name__}"] += 1
                return
            now = time.perf_counter()
            if started >= measure_from and now <= measure_to:
                lat.append((now - started) * 1000)
                done += 1

    live = [ws for ws in sockets if ws]
    await asyncio.gather(*(loop(ws) for ws in live))
    await asyncio.gather(*(ws.close() for ws in live), return_exceptions=True)
    counts.update(errors)
    return {
        "mode": "ws-echo",
        "sockets": len(live),
        "duration": duration,
        "latency_ms": lat,
        "throughput": done / duration,
        "counts": dict(counts),
    }


# --- ws-idle -------------------------------------------------------------------------------
async def ws_idle(spec: dict) -> dict:
    items = [{"token": spec.get("token")} for _ in range(spec["sockets"])]
    started = time.perf_counter()
    sockets, errors = await _open_all(spec, items)
    live = [ws for ws in sockets if ws]
    # Each socket authenticated at the handshake; one ping proves it is served, not queued.
    probe = live[:: max(1, len(live) // 50)]
    for ws in probe:
        await ws.send(json.dumps({"event": "ping", "data": {"ts": 1}}))
        await ws.recv()
    print(json.dumps({"ready": len(live), "seconds": time.perf_counter() - started}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the controller measured; let go
    await asyncio.gather(*(ws.close() for ws in live), return_exceptions=True)
    return {"mode": "ws-idle", "sockets": len(live), "counts": dict(errors)}


# --- http ----------------------------------------------------------------------------------
class RawHttp:
    """Keep-alive HTTP/1.1 over one connection: just enough for our JSON endpoints."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict, body: bytes = b""):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = None, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(p[:-2] for p in parts)
        else:
            data = await self.reader.readexactly(length or 0)
        return status, data


async def http(spec: dict) -> dict:
    base = urlsplit(spec["base"])
    requests = spec["requests"]  # [{method, path, token, body?}]: one list per client
    duration, warmup = spec["duration"], spec["warmup"]
    lat: list[float] = []
    counts: Counter = Counter()
    done = 0
    t0 = time.perf_counter()
    measure_from, measure_to = t0 + warmup, t0 + warmup + duration

    async def client(plan: list[dict]):
        nonlocal done
        conn = RawHttp(base.hostname, base.port)
        for k in itertools.count():
            req = plan[k % len(plan)]
            body = req.get("body")
            payload = b""
            if body is not None:
                if req.get("unique_client_id"):
                    body = {**body, "clientMessageId": uuid.uuid4().hex}
                payload = json.dumps(body).encode()
            started = time.perf_counter()
            if started >= measure_to:
                break
            try:
                status, _ = await conn.request(
                    req["method"], req["path"], {"Authorization": f"Bearer {req['token']}"}, payload
                )
            except Exception as exc:
                counts[f"error:{type(exc).__name__}"] += 1
                conn = RawHttp(base.hostname, base.port)
                await asyncio.sleep(0.05)
                continue
            now = time.perf_counter()
            counts[f"status:{status}"] += 1
            if started >= measure_from and now <= measure_to:
                lat.append((now - started) * 1000)
                if 200 <= status < 300:
                    done += 1
        if conn.writer is not None:
            conn.writer.close()

    await asyncio.gather(*(client(plan) for plan in requests))
    return {
        "mode": "http",
        "clients": len(requests),
        "duration": duration,
        "latency_ms": lat,
        "throughput": done / duration,
        "counts": dict(counts),
    }


MODES = {"ws-chat": ws_chat, "ws-echo": ws_echo, "ws-idle": ws_idle, "http": http}


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    _check_loopback(spec.get("url") or spec.get("base"))
    runner = uvloop.run if uvloop is not None else asyncio.run
    result = runner(MODES[spec["mode"]](spec))
    result["cpu_seconds"] = time.process_time()
    # To a file: a pipe left non-blocking by the event loop may cut a large line short.
    with open(spec["out"], "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
