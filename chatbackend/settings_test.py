"""Test settings: only what makes tests fast, never what they verify."""

from chatbackend.env import env_int
from chatbackend.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# In-process tests drive the ASGI app from a new event loop each: a sweeper started in one would
# outlive it. Live servers that a test starts turn it on through the environment.
SESSION_SWEEP_SECONDS = env_int("SESSION_SWEEP_SECONDS", 0)
