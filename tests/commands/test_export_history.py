import csv
import io
import json
import os
import subprocess
import sys
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError

from messaging_app.api.serializers import MessageOutput
from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession
from tests.commands.conftest import make_session
from tests.support import ROOT

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def history():
    """alice on the 10th and 12th, bob on the 11th: two messages each."""
    return {
        "alice-10": make_session("alice", created=DAY),
        "bob-11": make_session("bob", created=DAY + timedelta(days=1)),
        "alice-12": make_session("alice", created=DAY + timedelta(days=2)),
    }


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_jsonl_to_stdout_holds_every_message_as_the_api_shows_it(run, history):
    result = run("export_history", "--output", "-", "--format", "jsonl")
    records = jsonl(result.stdout)  # stdout is nothing but the export
    assert len(records) == 6
    first = ChatMessage.objects.get(session=history["alice-10"], sequence_number=1)
    api = json.loads(json.dumps(MessageOutput(first).data))
    assert records[0] == api
    assert [r["created_at"][:10] for r in records] == ["2026-03-10"] * 2 + ["2026-03-11"] * 2 + [
        "2026-03-12"
    ] * 2
    assert "Exported 6 message(s) as jsonl to stdout" in result.stderr


def test_by_user_and_date_range(run, history):
    result = run(
        "export_history", "--user", "alice", "--since", "2026-03-11", "--until", "2026-03-13"
    )
    records = jsonl(result.stdout)
    assert {r["session_id"] for r in records} == {str(history["alice-12"].pk)}
    assert [r["sequence_number"] for r in records] == [1, 2]


def test_several_users_and_an_iso_time(run, history):
    result = run(
        "export_history",
        "--user",
        "alice",
        "--user",
        "bob",
        "--until",
        "2026-03-11T09:00:00+00:00",
    )
    assert {r["session_id"] for r in jsonl(result.stdout)} == {str(history["alice-10"].pk)}


def test_csv_to_a_file(run, history, tmp_path):
    target = tmp_path / "history.csv"
    result = run("export_history", "--format", "csv", "--output", str(target), "--user", "bob")
    with target.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["content"] for r in rows] == ["message 1 of bob", "message 2 of bob"]
    assert rows[0]["session_id"] == str(history["bob-11"].pk)
    assert rows[0]["entities"] == "" and rows[0]["metadata"] == "{}"
    assert f"Exported 2 message(s) as csv to {target}" in result.stdout
    assert not (tmp_path / "history.csv.partial").exists()
    assert target.stat().st_mode & 0o777 == 0o600  # customers' words: the owner's eyes only


def test_csv_can_defuse_spreadsheet_formulas(run, user, tmp_path):
    session = make_session("alice", created=DAY, messages=1)
    ChatMessage.objects.filter(session=session).update(content='=HYPERLINK("http://x")')
    plain = run("export_history", "--format", "csv").stdout
    safe = run("export_history", "--format", "csv", "--spreadsheet-safe").stdout
    assert next(csv.DictReader(io.StringIO(plain)))["content"].startswith("=")
    assert next(csv.DictReader(io.StringIO(safe)))["content"].startswith("'=")


def test_progress_goes_to_stderr_and_stdout_stays_clean(run, history):
    result = run("export_history", "--progress")
    assert len(jsonl(result.stdout)) == 6
    assert "exporting" in result.stderr and "100%" in result.stderr


def test_a_failed_export_leaves_no_partial_file_and_keeps_the_old_one(
    run, history, tmp_path, monkeypatch
):
    target = tmp_path / "history.jsonl"
    target.write_text("previous export\n")

    def disk_full(self, values):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(
        "messaging_app.management.commands.export_history.JsonLinesWriter.row", disk_full
    )
    with pytest.raises(CommandError, match="No space left"):
        run("export_history", "--output", str(target))
    assert target.read_text() == "previous export\n"
    assert list(tmp_path.iterdir()) == [target]


def test_since_must_come_before_until(run):
    with pytest.raises(CommandError, match="--since must be before --until"):
        run("export_history", "--since", "2026-03-12", "--until", "2026-03-11")


def test_it_exits_non_zero_when_it_cannot_write():
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DB_POOL": "false",
    }
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "export_history",
            "--output",
            "/nonexistent-directory/history.jsonl",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Export failed" in done.stderr and done.stdout == ""


def test_export_of_100k_messages_stays_in_bounded_memory(run, tmp_path):
    total, batch = 100_000, 10_000
    session = ChatSession.objects.create(user_id="bulk", message_count=total)
    rows = [
        ChatMessage(
            session_id=session.pk,
            user_id="bulk",
            direction="incoming" if seq % 2 else "outgoing",
            content="",
            intent="balance_inquiry",
            sentiment="neutral",
            confidence_score=0.9,
            agent_info={"primary": "banking", "agentsInvolved": ["nlp", "nlu", "banking"]},
            metadata={"quickReplies": ["Show transactions"], "suggestedActions": []},
            sequence_number=seq,
        )
        for seq in range(1, batch + 1)
    ]
    for start in range(0, total, batch):
        # The same objects batch after batch with new keys: building 100,000 model instances
        # would double the test's time and test nothing more.
        for offset, row in enumerate(rows, start=start + 1):
            row.message_id = uuid.uuid4()
            row.sequence_number = offset
            row.content = f"Message number {offset}: what is the balance of my savings account?"
            row.created_at = DAY + timedelta(seconds=offset)
            row._state.adding = True
        ChatMessage.objects.bulk_create(rows)
    target = tmp_path / "all.jsonl"

    tracemalloc.start()
    try:
        run("export_history", "--format", "jsonl", "--output", str(target), "--no-progress")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    with target.open(encoding="utf-8") as stream:
        lines = sum(1 for _ in stream)
    assert lines == total
    size = target.stat().st_size
    # Holding every row would take several times the file's size; streaming takes one chunk.
    assert peak < 30 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert peak < size / 4, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.1f} MiB export"
