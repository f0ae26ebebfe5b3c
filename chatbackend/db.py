"""Small database helpers shared by the apps."""

from django.db import models


class SeedIndex(models.Index):
    """An index that keeps the seed schema's exact name.

    Django caps index names at 30 characters for Oracle's sake; the seed's
    `idx_chat_session_user_unresolved` is 32, and PostgreSQL allows 63.
    """

    max_name_length = 63
