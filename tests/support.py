"""Helpers that start real processes for tests: a throwaway PostgreSQL and a live server."""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found or not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found[-1]


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own on its own port, never the shared one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="chat-pg-")
        self.data = os.path.join(self.dir, "data")
        # initdb refuses to run as root; run the cluster as the postgres user then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> "ThrowawayPostgres":
        self._run(
            _pg_bin("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        # -l: the server must not inherit our pipes, or waiting for pg_ctl never ends.
        log = os.path.join(self.dir, "server.log")
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class LiveServer:
    """The real ASGI application served by daphne in a subprocess."""

    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        server: str = "daphne",
        output: str | None = None,
    ) -> None:
        self.port = port or free_port()
        self.server = server
        self.output = output  # a file for the server's stdout and stderr (else discarded)
        # The test settings only swap the password hasher, so users made by tests can log in.
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbackend.settings_test", **env}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "LiveServer":
        commands = {
            "daphne": ["daphne", "-p", str(self.port)],
            "uvicorn": ["uvicorn", "--port", str(self.port), "--lifespan", "off"],
        }
        output = open(self.output, "ab") if self.output else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", *commands[self.server], "chatbackend.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=output,
            stderr=subprocess.STDOUT if self.output else subprocess.DEVNULL,
        )
        if self.output:
            output.close()  # the child keeps its own descriptor
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("live server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def migrate(database_url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "DB_POOL": "false"},
        check=True,
        timeout=120,
    )


class ThrowawayRedis:
    """A Redis of its own on its own port (never the shared one), keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "ThrowawayRedis":
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.05)
        raise RuntimeError("throwaway redis did not start")

    def start_on_same_port(self) -> "ThrowawayRedis":
        return self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def make_user_in(database_url: str, username: str, password: str) -> str:
    """Create a user in another database (a throwaway one) and return an access token."""
    code = (
        "import django; django.setup();"
        "from django.contrib.auth import get_user_model;"
        "from rest_framework_simplejwt.tokens import AccessToken;"
        f"u = get_user_model().objects.create_user(username={username!r}, password={password!r});"
        "print(AccessToken.for_user(u))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "DB_POOL": "false",
            "DJANGO_SETTINGS_MODULE": "chatbackend.settings_test",
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip().splitlines()[-1]


# Entries of a Django OPTIONS dict that are Django's own, not libpq connection parameters.
_DJANGO_ONLY_OPTIONS = {"pool", "isolation_level", "server_side_binding", "assume_role"}


def libpq_params(db: dict, dbname: str | None = None) -> dict[str, str]:
    """psycopg.connect() keywords for the server a Django DATABASES entry describes.

    Everything the settings carry (password, sslmode, connect_timeout, ...) goes along, so a
    TEST_DATABASE_URL with a password or options works for helpers as it does for Django.
    `dbname` replaces the entry's NAME (another database on the same server).
    """
    params = {
        "host": db.get("HOST"),
        "port": db.get("PORT"),
        "user": db.get("USER"),
        "password": db.get("PASSWORD"),
        "dbname": dbname or db["NAME"],
    }
    for key, value in (db.get("OPTIONS") or {}).items():
        if key not in _DJANGO_ONLY_OPTIONS and isinstance(value, str | int | float):
            params[key] = value
    return {key: str(value) for key, value in params.items() if value not in (None, "")}


def database_url(db: dict, dbname: str | None = None) -> str:
    """A postgres:// URL (as DATABASE_URL takes) for a Django DATABASES entry, see libpq_params."""
    from urllib.parse import quote, urlencode

    params = libpq_params(db, dbname)
    auth = quote(params.pop("user", ""), safe="")
    if "password" in params:
        auth += ":" + quote(params.pop("password"), safe="")
    host = params.pop("host", "")
    if host.startswith("/"):  # a socket directory: libpq takes it as a parameter
        params["host"], host = host, ""
    elif ":" in host:  # IPv6
        host = f"[{host}]"
    port = params.pop("port", "")
    name = quote(params.pop("dbname"), safe="")
    netloc = (f"{auth}@" if auth else "") + host + (f":{port}" if port else "")
    url = f"postgres://{netloc}/{name}"
    return f"{url}?{urlencode(params)}" if params else url


def live_env(**extra: str) -> dict[str, str]:
    """Environment for a live server on the pytest test database and the shared Redis.

    Only data committed by the test (django_db(transaction=True)) is visible to the server.
    """
    import uuid

    from django.conf import settings

    return {
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        # Rate-limit counters of this test's servers only (shared between the servers started
        # with this env): logins by other tests in the same minute must not count here.
        "CACHE_KEY_PREFIX": f"live-{uuid.uuid4().hex}",
        **extra,
    }


def at_once(count: int, func) -> tuple[list, list[Exception]]:
    """Call `func(i)` from `count` threads released together; its results and its exceptions.

    Each thread closes its own database connection (Django opens one per thread).
    """
    from django.db import connection

    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results.append(func(i))
        except Exception as exc:  # collected for the test to assert on
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def seconds_left_in_message_window(session_id, rate: str = "60/m") -> int:
    """How long the fixed window now counting `session_id`'s messages has to run.

    django-ratelimit's windows end at a second of their own for every key, whatever process
    counts; a test that must not straddle an edge picks a session (or waits) by this.
    """
    from django_ratelimit.core import get_usage

    from chatbackend.ratelimits import _NO_REQUEST

    usage = get_usage(
        _NO_REQUEST, group="chat.messages", key=lambda _g, _r: str(session_id), rate=rate
    )
    return usage["time_left"]


def refused_after_the_first_call(func):
    """`func` answering its first call only; every later one is PermissionDenied, as when a
    staff flag is taken away between two reads."""
    from chatbackend.errors import PermissionDenied

    calls = []

    def first_only(*args, **kwargs):
        calls.append(args)
        if len(calls) > 1:
            raise PermissionDenied("You may not see this session")
        return func(*args, **kwargs)

    return first_only
