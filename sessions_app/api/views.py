"""Thin views: authenticate (DRF), validate, call one service or selector, serialize."""

from django.http import QueryDict
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbackend.schema import ERROR_RESPONSES
from messaging_app.api.serializers import SendInput, TurnOutput
from messaging_app.api.views import history_response, send_response
from messaging_app.selectors import history_tail, with_recent_messages
from sessions_app.api.serializers import (
    HistoryOutput,
    HistoryQuery,
    ResumeOutput,
    SessionCreateInput,
    SessionEndInput,
    SessionListOutput,
    SessionListQuery,
    SessionOutput,
    SessionResolveInput,
)
from sessions_app.selectors import session_get, sessions_for_user
from sessions_app.services import session_create, session_end, session_resolve, session_resume

RESUME_HISTORY = 50
RECENT_MESSAGES = {"unresolved": 5, "recent": 3, "active": 3}
SESSION_ID = OpenApiParameter("session_id", str, OpenApiParameter.PATH, description="Session UUID")


def _body(request):
    # A bodiless DELETE or POST parses as an empty QueryDict or dict: an empty object. Any JSON
    # body goes to the serializer as it is, so `null`, `[]`, `0` or `false` are 400s like `[1]`.
    data = request.data
    return {} if isinstance(data, QueryDict | dict) and not data else data


class SessionCollectionView(APIView):
    @extend_schema(
        tags=["sessions"],
        request=SessionCreateInput,
        responses={201: SessionOutput, **ERROR_RESPONSES(400, 401, 403)},
        examples=[
            OpenApiExample("create", value={"metadata": {"channel": "web"}}, request_only=True)
        ],
        summary="Create a session (userId defaults to the caller; only staff may name another)",
    )
    def post(self, request):
        data = SessionCreateInput.parse(_body(request))
        session = session_create(
            actor=request.user, user_id=data.get("userId"), metadata=data.get("metadata")
        )
        return Response(SessionOutput(session).data, status=status.HTTP_201_CREATED)


class SessionDetailView(APIView):
    @extend_schema(
        tags=["sessions"],
        parameters=[SESSION_ID],
        responses={200: SessionOutput, **ERROR_RESPONSES(401, 404)},
        summary="Get a session",
    )
    def get(self, request, session_id):
        return Response(SessionOutput(session_get(actor=request.user, session_id=session_id)).data)

    @extend_schema(
        tags=["sessions"],
        parameters=[SESSION_ID],
        request=SessionEndInput,
        responses={200: SessionOutput, **ERROR_RESPONSES(400, 401, 404, 409)},
        summary="End a session: inactive, status terminated, with ended_at and ended_reason",
    )
    def delete(self, request, session_id):
        data = SessionEndInput.parse(_body(request))
        session = session_end(actor=request.user, session_id=session_id, reason=data.get("reason"))
        return Response(SessionOutput(session).data)


class SessionResumeView(APIView):
    @extend_schema(
        tags=["sessions"],
        parameters=[SESSION_ID],
        request=None,
        responses={200: ResumeOutput, **ERROR_RESPONSES(401, 404, 409)},
        summary="Reactivate an unresolved session and get its recent history",
    )
    def post(self, request, session_id):
        session = session_resume(actor=request.user, session_id=session_id)
        history = history_tail(session=session, count=RESUME_HISTORY)
        return Response(
            ResumeOutput(
                {
                    "success": True,
                    "sessionId": session.pk,
                    "session": session,
                    "history": history,
                    "message": "Session resumed successfully. You can continue the conversation.",
                }
            ).data
        )


class SessionResolveView(APIView):
    @extend_schema(
        tags=["sessions"],
        parameters=[SESSION_ID],
        request=SessionResolveInput,
        responses={200: SessionOutput, **ERROR_RESPONSES(400, 401, 404, 409)},
        summary="Mark a session resolved, with notes",
    )
    def post(self, request, session_id):
        data = SessionResolveInput.parse(_body(request))
        session = session_resolve(
            actor=request.user, session_id=session_id, notes=data.get("notes")
        )
        return Response(SessionOutput(session).data)


class SessionHistoryView(APIView):
    @extend_schema(
        tags=["sessions"],
        parameters=[SESSION_ID, HistoryQuery],
        responses={200: HistoryOutput, **ERROR_RESPONSES(400, 401, 404)},
        summary="Page through a session's messages in sequence_number order",
    )
    def get(self, request, session_id):
        return history_response(request, session_id)


class SessionMessagesView(APIView):
    @extend_schema(
        tags=["chat"],
        parameters=[SESSION_ID],
        request=SendInput,
        responses={200: TurnOutput, **ERROR_RESPONSES(400, 401, 403, 404, 409, 429, 503)},
        examples=[
            OpenApiExample(
                "send",
                value={"message": "What is my account balance?", "clientMessageId": "c-42"},
                request_only=True,
            )
        ],
        summary="Send a message in this session and get the assistant's reply",
    )
    def post(self, request, session_id):
        return send_response(request, session_id)


class UserSessionsView(APIView):
    @extend_schema(
        tags=["sessions"],
        parameters=[
            OpenApiParameter("user_id", str, OpenApiParameter.PATH),
            SessionListQuery,
        ],
        responses={200: SessionListOutput, **ERROR_RESPONSES(400, 401, 403)},
        summary="A user's active, unresolved or recent sessions with their latest messages",
    )
    def get(self, request, user_id):
        query = SessionListQuery.parse(request.query_params)
        sessions = sessions_for_user(
            actor=request.user, user_id=user_id, kind=query["type"], limit=query["limit"]
        )
        sessions = with_recent_messages(sessions, per_session=RECENT_MESSAGES[query["type"]])
        return Response(
            SessionListOutput(
                {
                    "userId": user_id,
                    "type": query["type"],
                    "count": len(sessions),
                    "sessions": sessions,
                }
            ).data
        )
