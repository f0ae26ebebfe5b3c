"""/api/chat/message and /api/chat/history: the seed's chat endpoints."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbackend.schema import ERROR_RESPONSES
from messaging_app.api.serializers import SendInput, TurnOutput, turn_json
from messaging_app.selectors import history_page
from messaging_app.services import chat_message_send
from sessions_app.api.serializers import HistoryOutput, HistoryQuery
from sessions_app.selectors import session_get


def history_response(request, session_id) -> Response:
    """The history page body, shared by /api/sessions/{id}/history and /api/chat/history."""
    query = HistoryQuery.parse(request.query_params)
    session = session_get(actor=request.user, session_id=session_id)
    page = history_page(
        session=session,
        limit=query["limit"],
        offset=query["offset"],
        after_seq=query.get("afterSeq"),
    )
    return Response(
        HistoryOutput(
            {
                "sessionId": session.pk,
                "messages": page.messages,
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
                "hasMore": page.has_more,
            }
        ).data
    )


def send_response(request, session_id) -> Response:
    """One chat turn; the body may name the session (`sessionId`) when the URL/header do not."""
    data = SendInput.parse(request.data)
    turn = chat_message_send(
        actor=request.user,
        session_id=session_id or data.get("sessionId"),
        content=data.get("message", data.get("content")),
        message_type=data.get("type"),
        client_message_id=data.get("clientMessageId"),
    )
    return Response(turn_json(turn))


class ChatMessageView(APIView):
    @extend_schema(
        tags=["chat"],
        parameters=[
            OpenApiParameter(
                "X-Session-ID",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Session UUID; or `sessionId` in the body; neither opens a new session",
            )
        ],
        request=SendInput,
        responses={200: TurnOutput, **ERROR_RESPONSES(400, 401, 403, 404, 409, 429, 503)},
        examples=[
            OpenApiExample(
                "send",
                value={"message": "What is my account balance?", "type": "text"},
                request_only=True,
            )
        ],
        summary="Send a message and get the assistant's reply",
    )
    def post(self, request):
        return send_response(request, request.headers.get("X-Session-ID"))


class ChatHistoryQuery(HistoryQuery):
    # A malformed id is a 404 like an unknown one, as in /api/sessions/{id}/history.
    sessionId = serializers.CharField(help_text="Session UUID")


class ChatHistoryView(APIView):
    @extend_schema(
        tags=["chat"],
        parameters=[ChatHistoryQuery],
        responses={200: HistoryOutput, **ERROR_RESPONSES(400, 401, 404)},
        summary="A session's history (same as /api/sessions/{id}/history)",
    )
    def get(self, request):
        query = ChatHistoryQuery.parse(request.query_params)
        return history_response(request, query["sessionId"])
