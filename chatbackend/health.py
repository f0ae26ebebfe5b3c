"""Health, liveness and readiness: real probes of PostgreSQL and Redis.

/health        200 "healthy" or "degraded" (Redis down: chat still works, fan-out does not);
               503 "unhealthy" when the database cannot be reached (we cannot serve).
/health/live   200 while the process answers at all (restart it when this fails).
/health/ready  200 only when the database (and Redis, if configured) answer.
"""

import logging
import os
import time
from functools import lru_cache

import psutil
import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chatbackend.api import DATABASE_RETRY_AFTER
from chatbackend.connections import open_sockets

logger = logging.getLogger(__name__)


def _timed(probe) -> dict:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # any failure of a dependency is a "down", never a 500
        logger.warning("health probe %s failed: %s", probe.__name__, exc.__class__.__name__)
        return {"status": "down", "error": exc.__class__.__name__}
    return {"status": "up", "latencyMs": round((time.perf_counter() - started) * 1000, 2)}


def _probe_database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        # Drop the broken connection so the next request gets a fresh one from the pool.
        connection.close()
        raise


@lru_cache(maxsize=1)
def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def _probe_redis() -> None:
    _redis_client().ping()


def database_status() -> dict:
    result = _timed(_probe_database)
    result["vendor"] = connection.vendor
    return result


def channel_layer_status() -> dict:
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    if not settings.REDIS_URL:
        return {"status": "up", "backend": backend}
    return {**_timed(_probe_redis), "backend": backend}


@never_cache
@require_GET
def health(request):
    database = database_status()
    channel_layer = channel_layer_status()
    if database["status"] != "up":
        status = "unhealthy"
    elif channel_layer["status"] != "up":
        status = "degraded"
    else:
        status = "healthy"
    process = psutil.Process()
    body = {
        "status": status,
        "uptimeSeconds": round(time.time() - process.create_time(), 1),
        "dependencies": {"database": database, "channelLayer": channel_layer},
        "memory": {"rssBytes": process.memory_info().rss},
        "websocketConnections": open_sockets(),
        "pid": os.getpid(),
    }
    return _unavailable_unless(JsonResponse(body), status != "unhealthy")


@never_cache
@require_GET
def live(request):
    return JsonResponse({"status": "alive"})


@never_cache
@require_GET
def ready(request):
    checks = {"database": database_status(), "channelLayer": channel_layer_status()}
    ready_now = all(check["status"] == "up" for check in checks.values())
    return _unavailable_unless(
        JsonResponse({"status": "ready" if ready_now else "not_ready", "checks": checks}),
        ready_now,
    )


def _unavailable_unless(response: JsonResponse, serving: bool) -> JsonResponse:
    """503 with Retry-After, as every 503 of ours, when this instance should take no traffic."""
    if not serving:
        response.status_code = 503
        response["Retry-After"] = DATABASE_RETRY_AFTER
    return response
