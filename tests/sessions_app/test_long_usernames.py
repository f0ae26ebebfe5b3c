"""Django allows 150-character usernames; a chat user id is the username, so it must fit."""

import pytest
from django.contrib.auth import get_user_model

from messaging_app.services import message_send
from sessions_app.models import ChatSession
from tests.conftest import bearer, echo_responder

pytestmark = pytest.mark.django_db

LONGEST = "u" * get_user_model()._meta.get_field("username").max_length  # 150


@pytest.fixture
def long_named(django_user_model):
    return django_user_model.objects.create_user(username=LONGEST, password="long-pass-123")


def test_the_longest_username_opens_and_lists_sessions(api, long_named):
    created = api.post("/api/sessions", {}, format="json", **bearer(long_named))
    assert created.status_code == 201, created.json()
    assert created.json()["userId"] == LONGEST
    assert ChatSession.objects.get(pk=created.json()["sessionId"]).user_id == LONGEST
    listed = api.get(f"/api/users/{LONGEST}/sessions?type=recent", **bearer(long_named))
    assert listed.status_code == 200 and listed.json()["count"] == 1


def test_staff_open_a_session_for_the_longest_username(api, long_named, staff_user):
    created = api.post("/api/sessions", {"userId": LONGEST}, format="json", **bearer(staff_user))
    assert created.status_code == 201, created.json()
    assert created.json()["userId"] == LONGEST


def test_the_longest_username_can_send_a_message(api, long_named):
    created = api.post("/api/sessions", {}, format="json", **bearer(long_named))
    session_id = created.json()["sessionId"]
    turn = message_send(
        actor=long_named, session_id=session_id, content="hi", responder=echo_responder
    )
    assert turn.message.user_id == LONGEST and turn.reply.user_id == LONGEST
