"""/mcp is routed before Django, so it makes Django's own transport checks itself: Host against
ALLOWED_HOSTS, a browser Origin against ALLOWED_ORIGINS, and the request size limit."""

import httpx
import pytest
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken

from tests.support import LiveServer, live_env

pytestmark = pytest.mark.django_db(transaction=True)

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def server(django_db_setup):
    live = LiveServer(live_env(ALLOWED_HOSTS="127.0.0.1")).start()
    yield live
    live.stop()


@pytest.fixture
def bearer(django_user_model) -> dict[str, str]:
    user = get_user_model().objects.create_user(username="mia", password="mia-pass-123")
    return {**ACCEPT, "Authorization": f"Bearer {AccessToken.for_user(user)}"}


def test_a_host_not_allowed_is_refused(server, bearer):
    response = httpx.post(
        f"{server.url}/mcp", json=LIST_TOOLS, headers={**bearer, "Host": "evil.example"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_browser_origin_must_be_listed(server, bearer):
    refused = httpx.post(
        f"{server.url}/mcp", json=LIST_TOOLS, headers={**bearer, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    listed = httpx.post(
        f"{server.url}/mcp", json=LIST_TOOLS, headers={**bearer, "Origin": "http://localhost:3006"}
    )
    assert listed.status_code == 200 and listed.json()["result"]["tools"]


def test_a_body_over_the_limit_is_413_and_a_normal_one_is_served(server, bearer):
    padding = {**LIST_TOOLS, "params": {"_meta": {"pad": "x" * 70_000}}}
    too_big = httpx.post(f"{server.url}/mcp", json=padding, headers=bearer)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    served = httpx.post(f"{server.url}/mcp", json=LIST_TOOLS, headers=bearer)
    assert served.status_code == 200 and served.json()["result"]["tools"]
