import os
import subprocess
import sys
import time

import httpx
import pytest

from chatbackend import health
from tests.support import ROOT, LiveServer, ThrowawayPostgres, free_port, live_env


@pytest.fixture
def redis_unreachable(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    health._redis_client.cache_clear()
    yield
    health._redis_client.cache_clear()


@pytest.mark.django_db
def test_health_reports_every_dependency(client):
    response = client.get("/health")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "healthy"
    assert body["dependencies"]["database"]["status"] == "up"
    assert body["dependencies"]["database"]["vendor"] == "postgresql"
    channel_layer = body["dependencies"]["channelLayer"]
    assert set(channel_layer) == {"status", "backend", "latencyMs"}
    assert (channel_layer["status"], channel_layer["backend"]) == (
        "up",
        "ResilientRedisChannelLayer",
    )
    # Really measured: a number (not a bool or a string), and a duration is never negative.
    latency = channel_layer["latencyMs"]
    assert isinstance(latency, int | float) and not isinstance(latency, bool) and latency >= 0
    assert body["memory"]["rssBytes"] > 0
    assert body["websocketConnections"] == 0
    assert body["uptimeSeconds"] >= 0


@pytest.mark.django_db
def test_redis_down_is_degraded_but_serving(client, redis_unreachable):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["dependencies"]["channelLayer"]["status"] == "down"
    not_ready = client.get("/health/ready")
    assert not_ready.status_code == 503 and int(not_ready["Retry-After"]) > 0
    assert client.get("/health/live").status_code == 200


@pytest.mark.django_db
def test_ready_when_everything_answers(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def _wait_for_status(url: str, expected: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, timeout=15)
        if response.status_code == expected or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


@pytest.fixture
def throwaway_postgres():
    pg = ThrowawayPostgres().init()
    pg.start()
    yield pg
    pg.destroy()


def test_health_follows_a_database_outage_without_restart(throwaway_postgres, settings):
    server = LiveServer(
        {
            "DATABASE_URL": throwaway_postgres.url,
            "REDIS_URL": settings.REDIS_URL,
            "DB_POOL_TIMEOUT": "3",
            "DB_CONNECTION_TIMEOUT": "2000",
        }
    ).start()
    try:
        assert httpx.get(f"{server.url}/health", timeout=15).status_code == 200

        throwaway_postgres.stop()
        down = _wait_for_status(f"{server.url}/health", 503)
        assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0
        assert down.json()["status"] == "unhealthy"
        assert down.json()["dependencies"]["database"]["status"] == "down"
        assert httpx.get(f"{server.url}/health/ready", timeout=15).status_code == 503
        assert httpx.get(f"{server.url}/health/live", timeout=15).status_code == 200

        throwaway_postgres.start()
        back = _wait_for_status(f"{server.url}/health", 200)
        assert back.status_code == 200
        assert back.json()["status"] == "healthy"
        assert server.process.poll() is None  # the same process, never restarted
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_the_container_healthcheck_sends_an_allowed_host():
    server = LiveServer(live_env(ALLOWED_HOSTS="chat.bank.example,127.0.0.1")).start()
    check = [sys.executable, str(ROOT / "scripts" / "healthcheck.py")]
    env = {**os.environ, "PORT": str(server.port), "ALLOWED_HOSTS": ".chat.bank.example"}
    try:
        assert subprocess.run(check, env=env, timeout=30).returncode == 0
    finally:
        server.stop()
    assert subprocess.run(check, env=env, timeout=30, capture_output=True).returncode == 1
