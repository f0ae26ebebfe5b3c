import pytest

from messaging_app.services import ReplyDraft, message_send
from sessions_app.management.support import support_group_ensure
from sessions_app.services import session_create


@pytest.fixture
def support_user(django_user_model):
    """Staff in the "support" group and nothing more: not a superuser, no direct permissions."""
    # Ensured rather than assumed: a transactional test's flush drops groups made by migrations.
    group = support_group_ensure()
    user = django_user_model.objects.create_user(
        username="sam", password="sam-pass-123", is_staff=True
    )
    user.groups.add(group)
    return user


def analysed_responder(*, session, content, message_type):
    """Answers like the agent pipeline does: with intent, confidence and sentiment."""
    return ReplyDraft(
        content=f"About '{content}': here is what I found.",
        intent="balance_inquiry",
        confidence=0.87,
        sentiment="neutral",
        agent_info={"primary": "banking", "agentsInvolved": ["nlp", "nlu", "banking"]},
    )


def converse(user, *contents):
    """A session of `user` with one stored turn (message + reply) per content."""
    session = session_create(actor=user)
    for content in contents:
        message_send(
            actor=user, session_id=session.pk, content=content, responder=analysed_responder
        )
    session.refresh_from_db()
    return session
