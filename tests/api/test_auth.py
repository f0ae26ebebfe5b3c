from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from chatbackend.auth import Unauthorized, tokens_refresh
from tests.conftest import bearer
from tests.support import at_once

pytestmark = pytest.mark.django_db


def login(api, username="alice", password="alice-pass-123"):
    return api.post("/auth/login", {"username": username, "password": password}, format="json")


def test_login_returns_tokens_and_user(api, user):
    response = login(api)
    assert response.status_code == 200
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 15 * 60
    assert body["user"] == {"userId": "alice", "isStaff": False}
    claims = jwt.decode(
        body["token"],
        settings.JWT_SECRET,
        algorithms=["HS256"],
        audience=settings.SIMPLE_JWT["AUDIENCE"],
        issuer=settings.SIMPLE_JWT["ISSUER"],
    )
    assert claims["user_id"] == str(user.pk)
    assert api.get("/auth/me", **{"HTTP_AUTHORIZATION": f"Bearer {body['token']}"}).json() == {
        "userId": "alice",
        "isStaff": False,
    }


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong-password"), ("nobody", "alice-pass-123")]
)
def test_wrong_credentials_get_the_same_401(api, user, username, password):
    response = login(api, username, password)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert response.json()["error"]["message"] == "Invalid username or password"


def test_login_validates_its_body(api, user):
    response = api.post("/auth/login", {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "password" in response.json()["error"]["details"]["fields"]


def test_tokens_are_not_signed_with_secret_key(api, user):
    token = login(api).json()["token"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"], audience="chat-clients")


def test_refresh_rotates_and_revokes_the_old_refresh_token(api, user):
    first = login(api).json()
    refreshed = api.post("/auth/refresh", {"refreshToken": first["refreshToken"]}, format="json")
    assert refreshed.status_code == 200
    assert refreshed.json()["refreshToken"] != first["refreshToken"]
    assert (
        api.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['token']}").status_code
        == 200
    )

    again = api.post("/auth/refresh", {"refreshToken": first["refreshToken"]}, format="json")
    assert again.status_code == 401
    assert (
        BlacklistedToken.objects.filter(
            token__jti=RefreshToken(refreshed.json()["refreshToken"])["jti"]
        ).count()
        == 0
    )


def test_logout_revokes_the_refresh_token(api, user):
    tokens = login(api).json()
    response = api.post(
        "/auth/logout", {"refreshToken": tokens["refreshToken"]}, format="json", **bearer(user)
    )
    assert response.status_code == 200
    assert BlacklistedToken.objects.count() == 1
    refused = api.post("/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json")
    assert refused.status_code == 401


def test_logout_refuses_someone_elses_refresh_token(api, user, other_user):
    theirs = str(RefreshToken.for_user(other_user))
    response = api.post("/auth/logout", {"refreshToken": theirs}, format="json", **bearer(user))
    assert response.status_code == 401
    assert BlacklistedToken.objects.count() == 0


def test_me_needs_a_token(api):
    response = api.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_deactivated_users_tokens_are_refused(api, user):
    tokens = login(api).json()
    user.is_active = False
    user.save()
    assert api.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {tokens['token']}").status_code == 401
    assert (
        api.post(
            "/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json"
        ).status_code
        == 401
    )


def test_refresh_token_is_not_an_access_token(api, user):
    refresh = str(RefreshToken.for_user(user))
    assert api.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {refresh}").status_code == 401


def test_expired_forged_and_unsigned_tokens_are_refused(api, user):
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(minutes=5))
    claims = dict(AccessToken.for_user(user).payload)
    forged = jwt.encode(claims, "not-the-secret-but-long-enough-for-hs256!", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    wrong_audience = jwt.encode(
        {**claims, "aud": "someone-else"}, settings.JWT_SECRET, algorithm="HS256"
    )
    for token in (str(expired), forged, unsigned, wrong_audience, "garbage"):
        assert api.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401, token


@pytest.mark.parametrize("user_id", ["not-a-number", None, ["1"], "1e3"])
def test_a_signed_token_with_a_user_id_of_the_wrong_kind_is_a_401(api, user, user_id):
    # Only a holder of JWT_SECRET can make one, but the answer must still be a 401, not a 500.
    issued = jwt.decode(str(AccessToken.for_user(user)), options={"verify_signature": False})
    token = jwt.encode({**issued, "user_id": user_id}, settings.JWT_SECRET, algorithm="HS256")
    response = api.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "body", [{}, {"refreshToken": ""}, {"refreshToken": ["x"]}, {"refresh": "x"}]
)
def test_refresh_and_logout_validate_their_body(api, user, body):
    assert api.post("/auth/refresh", body, format="json").status_code == 400
    assert api.post("/auth/logout", body, format="json", **bearer(user)).status_code == 400
    assert BlacklistedToken.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_refresh_token_is_redeemed_once_even_by_concurrent_requests(user):
    refresh = str(RefreshToken.for_user(user))
    issued, errors = at_once(8, lambda _i: tokens_refresh(refresh_token=refresh))
    assert len(issued) == 1
    assert len(errors) == 7 and all(isinstance(e, Unauthorized) for e in errors)


def expired_access(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=5))
    return str(token)


@pytest.mark.parametrize(
    "authorization",
    [None, "expired", "Bearer garbage"],
    ids=["no bearer", "expired bearer", "bad bearer"],
)
def test_logout_needs_only_the_refresh_token(api, user, authorization):
    # A client signing out typically holds an expired access token: the refresh token in the
    # body is proof enough, and it must stop working (rotation would otherwise keep it alive).
    tokens = login(api).json()
    headers = {}
    if authorization == "expired":
        headers = {"HTTP_AUTHORIZATION": f"Bearer {expired_access(user)}"}
    elif authorization:
        headers = {"HTTP_AUTHORIZATION": authorization}
    response = api.post(
        "/auth/logout", {"refreshToken": tokens["refreshToken"]}, format="json", **headers
    )
    assert response.status_code == 200
    assert response.json() == {"revoked": True}
    refused = api.post("/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json")
    assert refused.status_code == 401


def test_logout_without_a_bearer_refuses_a_bad_refresh_token(api, user):
    refresh = RefreshToken.for_user(user)
    refresh.set_exp(lifetime=-timedelta(minutes=5))
    for token in (str(refresh), str(AccessToken.for_user(user)), "garbage"):
        response = api.post("/auth/logout", {"refreshToken": token}, format="json")
        assert response.status_code == 401, token
        assert response.json()["error"]["code"] == "invalid_token"
        assert set(response.json()["error"]) == {"code", "message", "details"}
    assert BlacklistedToken.objects.count() == 0


def test_logout_with_an_expired_bearer_may_revoke_only_a_valid_refresh_token(api, user, other_user):
    # An expired Bearer proves nothing, so it neither helps nor hinders: the refresh token
    # decides. Another user's valid refresh token is revoked (its holder could redeem it too).
    theirs = str(RefreshToken.for_user(other_user))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {expired_access(user)}"}
    assert (
        api.post("/auth/logout", {"refreshToken": "x"}, format="json", **headers).status_code == 401
    )
    response = api.post("/auth/logout", {"refreshToken": theirs}, format="json", **headers)
    assert response.status_code == 200
    assert BlacklistedToken.objects.count() == 1


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(api, user, scheme):
    # RFC 7235 §2.1: the authentication scheme is case-insensitive; /mcp already accepted it.
    response = api.get("/auth/me", HTTP_AUTHORIZATION=f"{scheme} {AccessToken.for_user(user)}")
    assert response.status_code == 200
    assert response.json()["userId"] == "alice"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
        ("abc", None),
    ],
)
def test_rest_and_mcp_read_the_same_token_from_a_header(header, token):
    from agents_app.mcp_server import _bearer_token
    from chatbackend.auth import AccessTokenAuthentication

    raw = AccessTokenAuthentication().get_raw_token(header.encode("latin-1"))
    assert (raw.decode("latin-1") if raw else None) == token
    assert _bearer_token({"headers": [(b"authorization", header.encode("latin-1"))]}) == token
