"""Shared pieces of the OpenAPI document and of input parsing."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

ERROR_DESCRIPTIONS = {
    400: "Invalid input",
    401: "Missing, invalid or expired token",
    403: "Not allowed for this user",
    404: "Not found (or not yours)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    415: "Body is not JSON",
    429: "Rate limited; see Retry-After",
    503: "Storage unavailable; nothing was stored; see Retry-After",
}


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField()


class ErrorBody(serializers.Serializer):
    error = ErrorDetail()


def ERROR_RESPONSES(*statuses: int) -> dict[int, OpenApiResponse]:
    """The contract's error body for each status, as drf-spectacular responses."""
    return {
        status: OpenApiResponse(
            ErrorBody,
            description=ERROR_DESCRIPTIONS[status],
            examples=[
                OpenApiExample(
                    f"error {status}",
                    value={
                        "error": {
                            "code": "...",
                            "message": ERROR_DESCRIPTIONS[status],
                            "details": {},
                        }
                    },
                    status_codes=[str(status)],
                    response_only=True,
                )
            ],
        )
        for status in statuses
    }


class InputSerializer(serializers.Serializer):
    """Validates a request body or query and returns plain data; errors become a 400."""

    @classmethod
    def parse(cls, data) -> dict:
        serializer = cls(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class ChatAutoSchema(AutoSchema):
    """drf-spectacular's schema, with what every endpoint of ours does written down.

    - An explicit request body on DELETE is documented (DELETE /api/sessions/{id} takes an
      optional `{reason}`); drf-spectacular drops DELETE bodies by default.
    - Every operation that reads a body can answer 413 (BodySizeLimitMiddleware) and 415
      (not JSON) with the error body.
    """

    body_methods = ("POST", "PUT", "PATCH", "DELETE")

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE" or self.get_request_serializer() is None:
            return super()._get_request_body(direction)
        self.method = "POST"  # the parent documents bodies of unsafe methods only
        try:
            body = super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
        if body is not None:
            body["required"] = False
        return body

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.method in self.body_methods and self.get_request_serializer() is not None:
            for status, response in ERROR_RESPONSES(413, 415).items():
                code = str(status)
                if code not in responses:
                    responses[code] = self._get_response_for_code(response, code, None, direction)
        return responses
