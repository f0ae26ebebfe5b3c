"""The contract's one error body for every DRF response: {"error": {code, message, details}}."""

import logging

from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chatbackend.errors import ServiceError

logger = logging.getLogger(__name__)
DATABASE_RETRY_AFTER = "5"

DRF_CODES = {
    status.HTTP_400_BAD_REQUEST: "validation_error",
    status.HTTP_401_UNAUTHORIZED: "unauthorized",
    status.HTTP_403_FORBIDDEN: "forbidden",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
}


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        response = Response(exc.as_body(), status=exc.status)
        if exc.retryable:
            response["Retry-After"] = str(getattr(exc, "retry_after", DATABASE_RETRY_AFTER))
        return response
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable; nothing was stored (the transaction rolled back).
        logger.error("database unavailable: %s", exc.__class__.__name__)
        response = Response(
            error_body("service_unavailable", "The service cannot store data right now"),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = DATABASE_RETRY_AFTER
        return response
    if isinstance(exc, DataError):
        # A value our validation let through and PostgreSQL refused; nothing was stored.
        logger.warning("database refused a value: %s", exc.__class__.__name__)
        return Response(
            error_body("validation_error", "A value in this request cannot be stored"),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = DRF_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        message, details = "Invalid input", {"fields": response.data}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        message, details = str(detail) or code, {}
        if isinstance(exc, exceptions.Throttled) and exc.wait:
            details = {"retryAfter": int(exc.wait)}
    response.data = error_body(code, message, details)
    return response


# Django's own error pages (unknown paths, CSRF failures, crashes) answer with the same body.
def _json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def bad_request(request, exception=None):
    return _json_error(400, "bad_request", "Bad request")


def permission_denied(request, exception=None):
    return _json_error(403, "forbidden", "Forbidden")


def page_not_found(request, exception=None):
    return _json_error(404, "not_found", "Not found")


def server_error(request):
    return _json_error(500, "internal_error", "Internal server error")
