# ruff: noqa: S603 - the bench starts servers it builds the command lines of
"""What every part of the bench shares: paths, percentiles, the production environment, and
starting/stopping servers (daphne, uvicorn, granian, nginx) on loopback."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


def production_env(*, database_url: str, redis_url: str, prefix: str, **overrides) -> dict:
    """The server's environment: DJANGO_ENV=production with its required secrets, plain HTTP on
    loopback (SECURE_SSL_REDIRECT=false), bench-only Redis prefixes, logs under /tmp."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbackend.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdefghijkl",
        "JWT_SECRET": "bench-only-jwt-secret-not-for-production-0123456789abcdefghijkl",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_PREFIX": f"{prefix}:layer",
        "CACHE_KEY_PREFIX": f"{prefix}:cache",
        "LOG_DIR": str(Path(tempfile.gettempdir()) / "chatbench-logs"),
        "LOG_LEVEL": "INFO",
        "DB_POOL": "true",
        "DB_POOL_MAX": "10",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({k: str(v) for k, v in overrides.items() if v is not None})
    return env


@dataclass
class Server:
    """One ASGI server (one port, maybe several worker processes)."""

    kind: str  # daphne | uvicorn | granian | echo-uvicorn | echo-granian
    env: dict
    port: int = field(default_factory=free_port)
    workers: int = 1
    app: str = "chatbackend.asgi:application"
    extra: list[str] = field(default_factory=list)
    log_path: str | None = None
    process: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        port = str(self.port)
        if self.kind == "daphne":
            # daphne has no worker option: one process per port.
            return [PYTHON, "-m", "daphne", "-b", LOOPBACK, "-p", port, self.app]
        if self.kind == "uvicorn":
            return [
                PYTHON, "-m", "uvicorn", "--host", LOOPBACK, "--port", port,
                "--loop", "uvloop", "--http", "httptools", "--lifespan", "off",
                "--no-access-log", "--log-level", "warning", "--backlog", "4096",
                "--workers", str(self.workers), *self.extra, self.app,
            ]  # fmt: skip
        if self.kind == "granian":
            return [
                str(BIN / "granian"), "--interface", "asginl", "--host", LOOPBACK,
                "--port", port, "--loop", "uvloop", "--log-level", "warning",
                "--backlog", "4096", "--workers", str(self.workers), *self.extra, self.app,
            ]  # fmt: skip
        raise ValueError(self.kind)

    def start(self, timeout: float = 90) -> "Server":
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((LOOPBACK, self.port), 0.5) as sock,
            ):
                sock.sendall(b"GET /health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if sock.recv(64).split(b" ")[1:2] == [b"200"]:
                    return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.kind} did not answer on port {self.port}")

    def pids(self) -> list[int]:
        """The serving processes: the workers, or the one process when there are none."""
        if self.process is None:
            return []
        try:
            parent = psutil.Process(self.process.pid)
            children = parent.children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        workers = [c.pid for c in children if "resource_tracker" not in " ".join(c.cmdline())]
        return workers or [parent.pid]

    def rss(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += psutil.Process(pid).memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def process_cpu_seconds(pid: int) -> float:
    with contextlib.suppress(psutil.NoSuchProcess):
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    return 0.0


def _cpu_by_pid(prefix: str) -> dict[int, float]:
    out = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith(prefix):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                out[proc.pid] = times.user + times.system
    return out


class CpuMeter:
    """CPU seconds used by processes named `prefix` between start() and stop(), per process,
    so that a backend exiting in between does not make the total go negative."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.before: dict[int, float] = {}

    def start(self) -> "CpuMeter":
        self.before = _cpu_by_pid(self.prefix)
        return self

    def stop(self) -> float:
        after = _cpu_by_pid(self.prefix)
        return sum(max(0.0, cpu - self.before.get(pid, 0.0)) for pid, cpu in after.items())


def postgres_cpu_seconds() -> float:
    return sum(_cpu_by_pid("postgres").values())


def redis_cpu_seconds() -> float:
    return sum(_cpu_by_pid("redis-server").values())
