"""What a live client can do, independent of transport: `/ws/chat/` (consumers.py) and
`/socket.io/` (socketio/handlers.py) call these, each through one `database_sync_to_async` per
event, so both transports store, number, limit and answer exactly alike."""

from chatbackend.errors import ValidationFailed
from messaging_app.api.serializers import message_json, turn_json
from messaging_app.selectors import history_page
from messaging_app.services import chat_message_send
from sessions_app.api.serializers import SessionOutput
from sessions_app.selectors import session_get


def history(user, data: dict) -> dict:
    session = session_get(actor=user, session_id=data.get("sessionId"))
    limit, after_seq = data.get("limit", 50), data.get("afterSeq")
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise ValidationFailed("limit must be an integer", details={"field": "limit"})
    if after_seq is not None and (not isinstance(after_seq, int) or isinstance(after_seq, bool)):
        raise ValidationFailed("afterSeq must be an integer", details={"field": "afterSeq"})
    page = history_page(session=session, limit=limit, after_seq=after_seq)
    return {
        "sessionId": str(session.pk),
        "messages": [message_json(m) for m in page.messages],
        "hasMore": page.has_more,
    }


def join(user, data: dict) -> dict:
    return SessionOutput(session_get(actor=user, session_id=data.get("sessionId"))).data


def send(user, data: dict, origin: str) -> dict:
    turn = chat_message_send(
        actor=user,
        session_id=data.get("sessionId"),
        content=data.get("content", data.get("message")),
        message_type=data.get("type"),
        client_message_id=data.get("clientMessageId"),
        origin=origin,
    )
    return turn_json(turn) | {"replayed": turn.replayed}
