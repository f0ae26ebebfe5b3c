"""One log line per request, tagged with a request id the client can quote to support."""

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from chatbackend.api import error_body
from chatbackend.logging import request_id_var

logger = logging.getLogger("chatbackend.requests")

# A client may pass its own id for tracing; anything else is replaced so that log lines
# cannot be forged or bloated through the header.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        started, token = self._start(request)
        try:
            return self._finish(request, self.get_response(request), started)
        finally:
            request_id_var.reset(token)

    async def __acall__(self, request):
        started, token = self._start(request)
        try:
            return self._finish(request, await self.get_response(request), started)
        finally:
            request_id_var.reset(token)

    def _start(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        return time.perf_counter(), request_id_var.set(request.request_id)

    def _finish(self, request, response, started):
        response["X-Request-ID"] = request.request_id
        elapsed_ms = (time.perf_counter() - started) * 1000
        # request.path, never the full URL: query strings may carry tokens (?token=).
        logger.info(
            "%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed_ms
        )
        return response


class BodySizeLimitMiddleware:
    """413 with the contract's error body for request bodies over DATA_UPLOAD_MAX_MEMORY_SIZE.

    DRF's parsers stream the body and never hit Django's own limit, so it is enforced here,
    before any view: by Content-Length, or by reading a body sent without one.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = request.META.get("CONTENT_LENGTH") or ""
        try:
            too_big = int(declared) > limit if declared else False
            if not declared and request.method in {"POST", "PUT", "PATCH", "DELETE"}:
                request.body  # noqa: B018 - reading it applies Django's limit
        except ValueError:
            return JsonResponse(error_body("bad_request", "Invalid Content-Length"), status=400)
        except RequestDataTooBig:
            too_big = True
        if too_big:
            return JsonResponse(
                error_body("payload_too_large", f"Request body is limited to {limit} bytes"),
                status=413,
            )
        return self.get_response(request)
