"""Configuration comes from the environment; each case runs in a fresh interpreter."""

import json
import os
import secrets
import subprocess
import sys

from tests.support import ROOT

PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"),
    "port": db.get("PORT"), "user": db.get("USER"), "options": db.get("OPTIONS", {}),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "cache": settings.CACHES["default"]["BACKEND"], "port_setting": settings.PORT,
    "log_level": settings.LOG_LEVEL, "jwt": settings.JWT_SECRET,
}))
"""
BLANK = {
    name: ""
    for name in ("DATABASE_URL", "REDIS_URL", "DB_HOST", "JWT_SECRET", "SECRET_KEY", "DJANGO_ENV")
}


def run_with(env: dict[str, str], code: str = PROBE) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in BLANK}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "chatbackend.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(env: dict[str, str]) -> dict:
    result = run_with(env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_nothing_set_runs_embedded():
    config = probe({})
    assert config["engine"] == "django.db.backends.sqlite3"
    assert config["layer"] == "channels.layers.InMemoryChannelLayer"
    assert config["cache"].endswith("LocMemCache")
    assert config["port_setting"] == 3006


def test_seed_db_variables_build_a_pooled_postgres_connection():
    config = probe(
        {
            "DB_HOST": "db.internal",
            "DB_PORT": "6543",
            "DB_NAME": "poc_banking",
            "DB_USER": "chat",
            "DB_PASSWORD": "pw",
            "DB_SSL": "true",
            "DB_POOL_MAX": "20",
            "DB_POOL_MIN": "5",
            "PORT": "4000",
            "LOG_LEVEL": "debug",
        }
    )
    assert config["engine"] == "django.db.backends.postgresql"
    assert (config["host"], config["port"], config["name"], config["user"]) == (
        "db.internal",
        6543,
        "poc_banking",
        "chat",
    )
    assert config["options"]["sslmode"] == "require"
    assert config["options"]["pool"]["max_size"] == 20
    assert config["options"]["pool"]["min_size"] == 5
    assert config["port_setting"] == 4000
    assert config["log_level"] == "DEBUG"


def test_redis_url_switches_channel_layer_and_cache():
    config = probe({"REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert config["layer"] == "chatbackend.channel_layer.ResilientRedisChannelLayer"
    assert config["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "jwt"
    secret_file.write_text("from-a-file-secret\n")
    assert probe({"JWT_SECRET_FILE": str(secret_file)})["jwt"] == "from-a-file-secret"


def test_production_refuses_to_start_without_secrets():
    result = run_with({"DJANGO_ENV": "production", "ALLOWED_HOSTS": "chat.example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in BLANK},
            "DJANGO_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "JWT_SECRET": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "chat.example.com",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
