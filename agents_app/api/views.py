from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from agents_app.status import agents_status
from chatbackend.schema import ERROR_RESPONSES


class AgentStatusOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    handles = serializers.ListField(child=serializers.CharField())
    up = serializers.BooleanField()
    details = serializers.JSONField()


class AgentListOutput(serializers.Serializer):
    agents = AgentStatusOutput(many=True)


class AgentListView(APIView):
    @extend_schema(
        tags=["agents"],
        responses={200: AgentListOutput, **ERROR_RESPONSES(401)},
        summary="Each agent, what it handles, and whether it is up",
    )
    def get(self, request):
        return Response(AgentListOutput({"agents": agents_status()}).data)
