"""Checks for client-supplied JSON that PostgreSQL would refuse or that could exhaust us."""

import json
import math
import unicodedata
from typing import Any

from chatbackend.errors import ValidationFailed

MAX_JSON_DEPTH = 8
MAX_JSON_BYTES = 8 * 1024


def unstorable_text(text: str) -> bool:
    """True for text PostgreSQL cannot take: NUL, or lone surrogates (not encodable as UTF-8)."""
    return "\x00" in text or any(unicodedata.category(ch) == "Cs" for ch in text)


def clean_json_object(value: Any, *, field: str) -> dict:
    """A small JSON object whose keys and strings can be stored as jsonb."""
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be an object", details={"field": field})

    def walk(node: Any, depth: int) -> None:
        if depth > MAX_JSON_DEPTH:
            raise ValidationFailed(f"{field} is nested too deeply", details={"field": field})
        if isinstance(node, str) and unstorable_text(node):
            raise ValidationFailed(
                f"{field} contains NUL or invalid characters", details={"field": field}
            )
        # JSON parsers read 1e400 as infinity, which jsonb (and JSON itself) cannot hold.
        if isinstance(node, float) and not math.isfinite(node):
            raise ValidationFailed(f"{field} numbers must be finite", details={"field": field})
        if isinstance(node, dict):
            for key, item in node.items():
                walk(key, depth + 1)
                walk(item, depth + 1)
        elif isinstance(node, list):
            for item in node:
                walk(item, depth + 1)

    walk(value, 0)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_JSON_BYTES:
        raise ValidationFailed(
            f"{field} is larger than {MAX_JSON_BYTES} bytes", details={"field": field}
        )
    return value
