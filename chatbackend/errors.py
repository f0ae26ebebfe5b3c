"""The one domain error type; API and WebSocket layers turn it into the contract's error body."""

from typing import Any


class ServiceError(Exception):
    """A refused operation: carries the HTTP status, a stable code, and a message for people."""

    status = 400
    code = "bad_request"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details if details is not None else {}

    def as_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(ServiceError):
    status = 400
    code = "validation_error"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class PermissionDenied(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class ServiceUnavailable(ServiceError):
    status = 503
    code = "service_unavailable"
    retryable = True
