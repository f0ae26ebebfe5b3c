from datetime import timedelta

import pytest
from django.utils import timezone

from chatbackend.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from messaging_app.models import ChatMessage
from messaging_app.services import ReplyDraft, message_send, message_staff_reply
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.services import session_create, session_end, session_resolve
from tests.support import at_once

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(user):
    return session_create(actor=user)


def test_a_turn_stores_message_and_reply_in_order(user, session, responder):
    before = timezone.now()
    turn = message_send(actor=user, session_id=session.pk, content="  Hello  ", responder=responder)

    rows = list(ChatMessage.objects.filter(session=session).order_by("sequence_number"))
    assert [(m.sequence_number, m.direction, m.content) for m in rows] == [
        (1, "incoming", "Hello"),
        (2, "outgoing", "echo: Hello"),
    ]
    assert rows[1].parent_message_id == rows[0].message_id
    assert rows[0].intent == rows[1].intent == "echo"
    assert turn.message.pk == rows[0].pk and turn.reply.pk == rows[1].pk
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.message_count == 2
    assert stored.last_activity >= before
    assert stored.expires_at == stored.last_activity + timedelta(minutes=30)


def test_no_reply_is_stored_when_the_responder_stays_quiet(user, session):
    def quiet(*, session, content, message_type):
        session.status = SessionStatus.PENDING
        return ReplyDraft(content=None)

    turn = message_send(actor=user, session_id=session.pk, content="anyone?", responder=quiet)
    assert turn.reply is None
    assert ChatMessage.objects.filter(session=session).count() == 1
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.message_count == 1 and stored.status == SessionStatus.PENDING


def test_resent_client_message_id_returns_the_stored_turn(user, session, responder):
    first = message_send(
        actor=user,
        session_id=session.pk,
        content="hi",
        client_message_id="c-1",
        responder=responder,
    )
    again = message_send(
        actor=user,
        session_id=session.pk,
        content="hi",
        client_message_id="c-1",
        responder=responder,
    )
    assert again.replayed and not first.replayed
    assert again.message.pk == first.message.pk and again.reply.pk == first.reply.pk
    assert ChatMessage.objects.filter(session=session).count() == 2
    assert ChatSession.objects.get(pk=session.pk).message_count == 2


def test_a_replayed_hand_off_turn_returns_no_reply_after_staff_answered(user, staff_user, session):
    # The send was handed to a person and stored no reply; the person's answer follows it and
    # names it as parent, but it is not what the send returned, so a replay must not say so.
    def quiet(*, session, content, message_type):
        session.status = SessionStatus.PENDING
        return ReplyDraft(content=None)

    sent = dict(actor=user, session_id=session.pk, content="help", client_message_id="c-9")
    first = message_send(**sent, responder=quiet)
    answer = message_staff_reply(actor=staff_user, session_id=session.pk, content="Carol here")
    again = message_send(**sent, responder=quiet)

    assert first.reply is None
    assert answer.sequence_number == first.message.sequence_number + 1
    assert again.replayed and again.message.pk == first.message.pk and again.reply is None


def test_reused_client_message_id_with_other_content_is_a_conflict(user, session, responder):
    message_send(
        actor=user,
        session_id=session.pk,
        content="hi",
        client_message_id="c-1",
        responder=responder,
    )
    with pytest.raises(Conflict):
        message_send(
            actor=user,
            session_id=session.pk,
            content="something else",
            client_message_id="c-1",
            responder=responder,
        )
    assert ChatMessage.objects.filter(session=session).count() == 2


@pytest.mark.parametrize(
    "content",
    ["", "   ", "x" * 2001, "nul\x00byte", "lone \ud800 surrogate", 42, None, ["a"]],
)
def test_bad_content_is_refused_and_nothing_is_stored(user, session, responder, content):
    with pytest.raises(ValidationFailed):
        message_send(actor=user, session_id=session.pk, content=content, responder=responder)
    assert ChatMessage.objects.count() == 0
    assert ChatSession.objects.get(pk=session.pk).message_count == 0


def test_content_of_exactly_2000_characters_is_accepted(user, session, responder):
    message_send(actor=user, session_id=session.pk, content="y" * 2000, responder=responder)
    assert ChatMessage.objects.filter(session=session, direction="incoming").get().content == (
        "y" * 2000
    )


def test_another_users_session_is_not_found_and_untouched(other_user, session, responder):
    with pytest.raises(NotFound):
        message_send(actor=other_user, session_id=session.pk, content="hi", responder=responder)
    assert ChatMessage.objects.count() == 0


@pytest.mark.parametrize("close", [session_end, session_resolve])
def test_closed_sessions_refuse_messages(user, session, responder, close):
    close(actor=user, session_id=session.pk)
    with pytest.raises(Conflict):
        message_send(actor=user, session_id=session.pk, content="hi", responder=responder)
    assert ChatMessage.objects.count() == 0


def test_a_message_revives_an_expired_session(user, session, responder):
    ChatSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.EXPIRED, is_active=False, expires_at=timezone.now()
    )
    message_send(actor=user, session_id=session.pk, content="back again", responder=responder)
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.status == SessionStatus.ACTIVE and stored.is_active
    assert stored.expires_at > timezone.now()


def test_a_failing_responder_stores_nothing(user, session):
    def broken(**kwargs):
        raise RuntimeError("agent pipeline exploded")

    with pytest.raises(RuntimeError):
        message_send(actor=user, session_id=session.pk, content="hi", responder=broken)
    assert ChatMessage.objects.count() == 0
    assert ChatSession.objects.get(pk=session.pk).message_count == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_gapless_unique_sequence_numbers(user, responder):
    session = session_create(actor=user)
    threads_count, per_thread = 20, 3

    def send(worker: int) -> None:
        for i in range(per_thread):
            message_send(
                actor=user,
                session_id=session.pk,
                content=f"worker {worker} message {i}",
                responder=responder,
            )

    _, errors = at_once(threads_count, send)
    assert errors == []
    expected = threads_count * per_thread * 2
    sequence = list(
        ChatMessage.objects.filter(session=session)
        .order_by("sequence_number")
        .values_list("sequence_number", flat=True)
    )
    assert sequence == list(range(1, expected + 1))
    assert ChatSession.objects.get(pk=session.pk).message_count == expected
    # Every reply directly follows the message it answers.
    pairs = ChatMessage.objects.filter(session=session, direction="outgoing")
    by_id = {m.pk: m for m in ChatMessage.objects.filter(session=session)}
    assert all(by_id[r.parent_message_id].sequence_number == r.sequence_number - 1 for r in pairs)


def test_staff_reply_is_stored_as_a_person(user, staff_user, session, responder):
    message_send(actor=user, session_id=session.pk, content="help me", responder=responder)
    reply = message_staff_reply(actor=staff_user, session_id=session.pk, content="Hi, I'm Carol")
    stored = ChatMessage.objects.get(pk=reply.pk)
    assert stored.sequence_number == 3 and stored.direction == "outgoing"
    assert stored.agent_info == {"primary": "human", "agentsInvolved": ["human"], "staff": "carol"}
    assert stored.parent_message_id == ChatMessage.objects.get(sequence_number=1).pk
    assert ChatSession.objects.get(pk=session.pk).message_count == 3


def test_only_staff_reply_as_a_person(user, session):
    from chatbackend.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        message_staff_reply(actor=user, session_id=session.pk, content="I am staff, honest")
    assert ChatMessage.objects.count() == 0


def test_staff_cannot_send_as_the_customer(staff_user, session, responder):
    # The agents would act on the customer's accounts in the customer's name.
    with pytest.raises(PermissionDenied):
        message_send(actor=staff_user, session_id=session.pk, content="block my card")
    assert not ChatMessage.objects.exists()
