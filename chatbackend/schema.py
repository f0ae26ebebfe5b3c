"""Shared pieces of the OpenAPI document and of input parsing."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

ERROR_DESCRIPTIONS = {
    400: "Invalid input",
    401: "Missing, invalid or expired token",
    403: "Not allowed for this user",
    404: "Not found (or not yours)",
    409: "Conflicts with the current state",
    413: "Request body too large",
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
