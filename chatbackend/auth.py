"""Tokens: issuing, refreshing, revoking and validating JWTs for REST, WebSocket and MCP.

simplejwt signs with JWT_SECRET (HS256 only, so `alg=none` and other algorithms fail) and
checks expiry, issuer, audience and token type (a refresh token is not an access token).
"""

from dataclasses import dataclass

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from chatbackend.errors import ServiceError
from chatbackend.net import client_ip
from chatbackend.ratelimits import login_attempt


class TokenRejected(Exception):
    """A missing, malformed, expired, forged, wrong-type or deactivated-user token."""


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


@dataclass(frozen=True)
class IssuedTokens:
    access: str
    refresh: str
    expires_in: int
    user: AbstractBaseUser


def bearer_token(header: str | bytes | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for another scheme or none.

    RFC 7235 §2.1 makes the scheme case-insensitive, so `bearer` and `BEARER` count as well:
    REST and /mcp parse the header here so that no transport refuses what another accepts.
    """
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    scheme, _, credentials = (header or "").strip().partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


def _user_for_claims(token) -> AbstractBaseUser:
    return _active_user(token.get(api_settings.USER_ID_CLAIM))


def _active_user(user_id) -> AbstractBaseUser:
    try:
        user = get_user_model().objects.get(**{api_settings.USER_ID_FIELD: user_id})
    except (get_user_model().DoesNotExist, ValueError, TypeError):
        raise TokenRejected("unknown user") from None
    if not user.is_active:
        raise TokenRejected("inactive user")
    return user


class AccessTokenAuthentication(JWTAuthentication):
    """REST's Bearer authentication: simplejwt reads and checks the token, and the user comes
    from the same lookup as the sockets' and MCP's (a user id the database cannot even compare,
    in a token signed with our key, is a 401 like any bad token, not a 500)."""

    def __init__(self, *args, optional: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # optional=True: a missing, expired or otherwise bad Bearer is ignored rather than a
        # 401, for /auth/logout (its credential is the refresh token in the body). A flag, not
        # a subclass, so the OpenAPI document keeps one jwtAuth scheme.
        self.optional = optional

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except AuthenticationFailed:  # simplejwt's InvalidToken included
            if self.optional:
                return None
            raise

    def get_raw_token(self, header: bytes) -> bytes | None:
        # simplejwt compares the scheme case-sensitively with AUTH_HEADER_TYPES.
        token = bearer_token(header)
        return token.encode("latin-1") if token else None

    def get_user(self, validated_token):
        try:
            return _user_for_claims(validated_token)
        except TokenRejected as exc:
            raise InvalidToken(str(exc)) from None


class AccessTokenScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of AccessTokenAuthentication: simplejwt's own (jwtAuth)."""

    target_class = AccessTokenAuthentication


def _access_token(raw: str | bytes | None) -> AccessToken:
    if not raw:
        raise TokenRejected("missing token")
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    try:
        return AccessToken(raw)
    except (TokenError, InvalidToken) as exc:
        raise TokenRejected("invalid token") from exc


def user_for_access_token(raw: str | bytes | None) -> AbstractBaseUser:
    """The active user an access token belongs to; TokenRejected otherwise."""
    return _user_for_claims(_access_token(raw))


@dataclass(frozen=True)
class SocketLogin:
    """Who a live socket acts for, and until when (Unix time) its access token is valid."""

    user: AbstractBaseUser
    expires_at: float


def socket_login(raw: str | bytes | None) -> SocketLogin:
    """user_for_access_token, with the token's expiry: a socket is closed when it passes."""
    token = _access_token(raw)
    return SocketLogin(_user_for_claims(token), float(token["exp"]))


def user_reloaded(user) -> AbstractBaseUser:
    """A live socket's user as the database has it now; TokenRejected once deactivated.

    A socket outlives many requests: an account deactivated, or a staff flag taken away, while
    it is open must count from its next event, as it would on the next REST request.
    """
    return _active_user(getattr(user, api_settings.USER_ID_FIELD))


def _issue(refresh: RefreshToken, user) -> IssuedTokens:
    access = refresh.access_token
    return IssuedTokens(
        access=str(access),
        refresh=str(refresh),
        expires_in=int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
        user=user,
    )


def tokens_login(*, username: str, password: str, request=None) -> IssuedTokens:
    """Tokens for valid credentials; one answer for unknown users and wrong passwords.

    Only failures count against the login limits, so the owner's own logins never use them up.
    """
    ip = client_ip(request) if request else "-"
    with login_attempt(username=username, ip=ip) as attempt:
        user = authenticate(request, username=username, password=password)
        if user is None or not user.is_active:
            attempt.failed()
            raise Unauthorized("Invalid username or password", code="invalid_credentials")
    return _issue(RefreshToken.for_user(user), user)


def tokens_refresh(*, refresh_token: str) -> IssuedTokens:
    """A new access token and a rotated refresh token; the old refresh token is revoked."""
    try:
        refresh = RefreshToken(refresh_token)
        user = _user_for_claims(refresh)
    except (TokenError, InvalidToken, TokenRejected):
        raise Unauthorized("Invalid or expired refresh token", code="invalid_token") from None
    # The blacklist row is the redemption: of two requests racing with one token, only the one
    # that creates it gets new tokens (the unique key makes the other find it), so a stolen
    # refresh token cannot be turned into several live ones.
    _, redeemed = refresh.blacklist()
    if not redeemed:
        raise Unauthorized("Invalid or expired refresh token", code="invalid_token")
    refresh.set_jti()
    refresh.set_exp()
    refresh.set_iat()
    refresh.outstand()
    return _issue(refresh, user)


def tokens_revoke(*, refresh_token: str, user=None) -> None:
    """Log out: the refresh token can no longer be used.

    Holding a valid refresh token is proof enough (whoever holds it could as well redeem it),
    so `user` is optional; when the caller is known, the token must be the caller's own, so a
    signed-in user cannot end someone else's sign-in with a token they should not have.
    """
    try:
        refresh = RefreshToken(refresh_token)
    except (TokenError, InvalidToken):
        raise Unauthorized("Invalid or expired refresh token", code="invalid_token") from None
    if user is not None and str(refresh.get(api_settings.USER_ID_CLAIM)) != str(user.pk):
        raise Unauthorized("Invalid or expired refresh token", code="invalid_token")
    refresh.blacklist()
