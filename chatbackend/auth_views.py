"""/auth/login, /auth/refresh, /auth/logout, /auth/me."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbackend.auth import (
    AccessTokenAuthentication,
    IssuedTokens,
    tokens_login,
    tokens_refresh,
    tokens_revoke,
)
from chatbackend.schema import ERROR_RESPONSES, InputSerializer


class LoginInput(InputSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class RefreshInput(InputSerializer):
    refreshToken = serializers.CharField(max_length=2000)


class UserOutput(serializers.Serializer):
    userId = serializers.CharField(source="username")
    isStaff = serializers.BooleanField(source="is_staff")


class TokensOutput(serializers.Serializer):
    token = serializers.CharField(source="access")
    refreshToken = serializers.CharField(source="refresh")
    expiresIn = serializers.IntegerField(source="expires_in")
    tokenType = serializers.SerializerMethodField()
    user = UserOutput()

    def get_tokenType(self, tokens) -> str:
        return "Bearer"


def _tokens(issued: IssuedTokens) -> Response:
    return Response(TokensOutput(issued).data)


TOKENS_EXAMPLE = OpenApiExample(
    "tokens",
    value={
        "token": "eyJhbGciOiJIUzI1NiIs...",
        "refreshToken": "eyJhbGciOiJIUzI1NiIs...",
        "expiresIn": 900,
        "tokenType": "Bearer",
        "user": {"userId": "test", "isStaff": False},
    },
    response_only=True,
)


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        request=LoginInput,
        responses={200: TokensOutput, **ERROR_RESPONSES(400, 401, 429)},
        examples=[
            OpenApiExample(
                "login", value={"username": "test", "password": "test123"}, request_only=True
            ),
            TOKENS_EXAMPLE,
        ],
        auth=[],
        summary="Log in with username and password",
    )
    def post(self, request):
        data = LoginInput.parse(request.data)
        return _tokens(tokens_login(request=request, **data))


class RefreshView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        request=RefreshInput,
        responses={200: TokensOutput, **ERROR_RESPONSES(400, 401)},
        examples=[TOKENS_EXAMPLE],
        auth=[],
        summary="Exchange a refresh token for new tokens (the old refresh token is revoked)",
    )
    def post(self, request):
        data = RefreshInput.parse(request.data)
        return _tokens(tokens_refresh(refresh_token=data["refreshToken"]))


class LogoutView(APIView):
    # The refresh token in the body is the credential: logging out must work once the access
    # token has expired (clients often still attach it). A valid Bearer, if sent, still ties
    # the refresh token to its owner.
    permission_classes = [AllowAny]

    def get_authenticators(self):
        return [AccessTokenAuthentication(optional=True)]

    @extend_schema(
        tags=["auth"],
        request=RefreshInput,
        responses={
            200: inline_serializer("LogoutOutput", {"revoked": serializers.BooleanField()}),
            **ERROR_RESPONSES(400, 401),
        },
        summary="Revoke a refresh token",
        description=(
            "The refresh token is the credential, so this works after the access token has "
            "expired. A Bearer access token is optional; a valid one makes the call refuse a "
            "refresh token that is not the caller's own, an invalid one is ignored."
        ),
    )
    def post(self, request):
        data = RefreshInput.parse(request.data)
        caller = request.user if request.auth is not None else None  # None: no valid Bearer
        tokens_revoke(refresh_token=data["refreshToken"], user=caller)
        return Response({"revoked": True})


class MeView(APIView):
    @extend_schema(tags=["auth"], responses={200: UserOutput, **ERROR_RESPONSES(401)})
    def get(self, request):
        return Response(UserOutput(request.user).data)
