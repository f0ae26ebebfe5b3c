"""openapi.yaml says what the endpoints do: the parts drf-spectacular leaves out by default
(chatbackend.schema.ChatAutoSchema)."""

import yaml

from tests.support import ROOT

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())


def operation(path: str, method: str) -> dict:
    return SPEC["paths"][path][method]


def test_ending_a_session_documents_its_optional_reason():
    body = operation("/api/sessions/{session_id}", "delete")["requestBody"]

    assert body["required"] is False
    schema = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "reason" in SPEC["components"]["schemas"][schema]["properties"]


def test_every_operation_with_a_body_documents_413_and_415():
    with_bodies = [
        (path, method)
        for path, methods in SPEC["paths"].items()
        for method, op in methods.items()
        if "requestBody" in op
    ]

    assert ("/api/chat/message", "post") in with_bodies
    for path, method in with_bodies:
        responses = operation(path, method)["responses"]
        assert {"413", "415"} <= set(responses), (path, method)


def test_sending_documents_that_staff_get_403():
    for path in ("/api/chat/message", "/api/sessions/{session_id}/messages"):
        assert "403" in operation(path, "post")["responses"]


def test_session_status_is_an_enum_of_the_lifecycle():
    assert SPEC["components"]["schemas"]["StatusEnum"]["enum"] == [
        "active",
        "pending",
        "resolved",
        "expired",
        "terminated",
    ]
