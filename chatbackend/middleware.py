"""One log line per request, tagged with a request id the client can quote to support."""

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

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
