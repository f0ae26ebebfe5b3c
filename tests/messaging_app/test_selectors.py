import pytest

from chatbackend.errors import ValidationFailed
from messaging_app.selectors import history_page, recent_messages_by_session
from messaging_app.services import message_send
from sessions_app.services import session_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def session_with_turns(user, responder):
    session = session_create(actor=user)
    for i in range(5):
        message_send(actor=user, session_id=session.pk, content=f"m{i}", responder=responder)
    session.refresh_from_db()
    return session


def test_history_pages_in_sequence_order(session_with_turns, django_assert_num_queries):
    with django_assert_num_queries(1):
        page = history_page(session=session_with_turns, limit=4, offset=0)
    assert [m.sequence_number for m in page.messages] == [1, 2, 3, 4]
    assert page.total == 10 and page.has_more

    last = history_page(session=session_with_turns, limit=4, offset=8)
    assert [m.sequence_number for m in last.messages] == [9, 10]
    assert not last.has_more


def test_history_after_seq_returns_what_was_missed(session_with_turns):
    page = history_page(session=session_with_turns, limit=50, after_seq=7)
    assert [m.sequence_number for m in page.messages] == [8, 9, 10]
    assert not page.has_more


@pytest.mark.parametrize(
    ("limit", "offset", "after_seq"), [(0, 0, None), (501, 0, None), (10, -1, None), (10, 0, -5)]
)
def test_history_rejects_out_of_range_paging(session_with_turns, limit, offset, after_seq):
    with pytest.raises(ValidationFailed):
        history_page(session=session_with_turns, limit=limit, offset=offset, after_seq=after_seq)


def test_recent_messages_for_many_sessions_in_one_query(
    user, responder, session_with_turns, django_assert_num_queries
):
    second = session_create(actor=user)
    message_send(actor=user, session_id=second.pk, content="only one", responder=responder)
    empty = session_create(actor=user)
    with django_assert_num_queries(1):
        grouped = recent_messages_by_session(
            session_ids=[session_with_turns.pk, second.pk, empty.pk], per_session=3
        )
    assert [m.sequence_number for m in grouped[session_with_turns.pk]] == [8, 9, 10]
    assert [m.content for m in grouped[second.pk]] == ["only one", "echo: only one"]
    assert grouped[empty.pk] == []
