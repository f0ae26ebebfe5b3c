"""`python -m bench.run --quick` runs every phase of `make bench` end to end, tiny, and writes a
report with every figure: the bench itself keeps working."""

import json
import os
import subprocess
import sys

from tests.support import ROOT, database_url


def test_the_quick_bench_runs_every_phase_and_writes_a_report(tmp_path, settings):
    report, figures = tmp_path / "quick.md", tmp_path / "quick.json"
    env = {
        **os.environ,
        # The servers this test run was given (TEST_DATABASE_URL, TEST_REDIS_URL), not the
        # bench's localhost defaults; bench.run creates its database next to `postgres`.
        "BENCH_DATABASE_URL": database_url(settings.DATABASES["default"], dbname="postgres"),
        "BENCH_REDIS_URL": settings.REDIS_URL,
        # Its own database and Redis prefix: never the tests' database, nor a running bench's.
        "BENCH_DATABASE_NAME": "chatbench_smoke",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable, "-m", "bench.run", "--quick"]
    result = subprocess.run(
        [*command, "--out", str(report), "--json", str(figures)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    phases = json.loads(figures.read_text())["phases"]
    for name in ("agents", "reads_small", "saturation", "realistic", "realistic_fit", "rest",
                 "app_ping", "raw_turns", "echo", "idle_app", "idle_echo"):  # fmt: skip
        assert name in phases, name
    # Every turn sent was stored, numbered in order and answered; nothing failed.
    for name in ("saturation", "realistic_fit"):
        counts, checked = phases[name]["counts"], phases[name]["checked"]
        assert counts["sent"] == counts["responses"] > 0, counts
        assert checked["sequence_bad"] == 0 and checked["unanswered"] == 0, checked
    assert phases["rest"]["counts"].get("status:200", 0) > 0
    assert phases["raw_turns"]["throughput"] > 0 and phases["echo"]["throughput"] > 0
    assert phases["idle_app"]["sockets"] > 0

    text = report.read_text()
    for row in ("WS chat turns, realistic", "WS chat turns, saturation", "REST chat turns",
                "History, 50 messages", "unresolved sessions", "Memory per idle WebSocket",
                "Agents (orchestrator) CPU per turn"):  # fmt: skip
        assert row in text, row
