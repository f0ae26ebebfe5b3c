"""Test settings: only what makes tests fast, never what they verify."""

from chatbackend.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
