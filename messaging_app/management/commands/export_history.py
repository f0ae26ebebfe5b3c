import csv
import json
import os
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from messaging_app.api.serializers import MESSAGE_FIELDS
from messaging_app.models import ChatMessage
from sessions_app.management.dates import date_or_datetime
from sessions_app.management.progress import add_progress_argument, progress_bar

# The contract's message JSON (snake_case, as the API returns it), plus the client's id.
FIELDS = [*MESSAGE_FIELDS, "client_message_id"]
JSON_FIELDS = {"entities", "agent_info", "metadata"}
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def plain(value):
    """UUIDs and times as the API writes them; everything else is JSON already."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


class JsonLinesWriter:
    # Only these columns need converting; the rest are JSON-ready (this runs once per row).
    CONVERT = [i for i, name in enumerate(FIELDS) if name.endswith(("_id", "_at"))]

    def __init__(self, stream):
        self.stream = stream
        self.encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def header(self):
        pass

    def row(self, values: tuple):
        values = list(values)
        for i in self.CONVERT:
            values[i] = plain(values[i])
        self.stream.write(self.encode(dict(zip(FIELDS, values, strict=True))) + "\n")


class CsvWriter:
    def __init__(self, stream, *, spreadsheet_safe: bool):
        self.writer = csv.writer(stream)
        self.spreadsheet_safe = spreadsheet_safe

    def header(self):
        self.writer.writerow(FIELDS)

    def cell(self, name: str, value):
        if value is None:
            return ""
        if name in JSON_FIELDS:
            return json.dumps(value, ensure_ascii=False, default=str)
        value = plain(value)
        if self.spreadsheet_safe and isinstance(value, str) and value.startswith(FORMULA_START):
            return "'" + value
        return value

    def row(self, values: tuple):
        self.writer.writerow(
            [self.cell(name, value) for name, value in zip(FIELDS, values, strict=True)]
        )


class Command(BaseCommand):
    help = (
        "Export chat messages as JSON lines or CSV, by user and date range, streamed in "
        "constant memory (to a file, or to stdout with --output -)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--user",
            action="append",
            default=[],
            dest="users",
            metavar="USER_ID",
            help="only this user's messages (repeatable; default: everyone)",
        )
        parser.add_argument(
            "--since", type=date_or_datetime, metavar="DATE", help="from this time (inclusive)"
        )
        parser.add_argument(
            "--until", type=date_or_datetime, metavar="DATE", help="up to this time (exclusive)"
        )
        parser.add_argument(
            "--format", dest="output_format", choices=["jsonl", "csv"], default="jsonl"
        )
        parser.add_argument(
            "--output",
            default="-",
            metavar="PATH",
            help="file to write (written beside it, then renamed when complete); - for stdout",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=2000,
            help="rows fetched from the database at a time (default 2000)",
        )
        parser.add_argument(
            "--spreadsheet-safe",
            action="store_true",
            help="CSV: prefix cells starting with = + - @ with ' so spreadsheets do not run them",
        )
        add_progress_argument(parser)

    def handle(self, *args, **options):
        since, until = options["since"], options["until"]
        if since and until and since >= until:
            raise CommandError("--since must be before --until")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1")
        messages = ChatMessage.objects.all()
        if options["users"]:
            messages = messages.filter(user_id__in=options["users"])
        if since:
            messages = messages.filter(created_at__gte=since)
        if until:
            messages = messages.filter(created_at__lt=until)
        # Chronological; a turn's two messages share a time, so sequence breaks the tie.
        rows = messages.order_by("created_at", "session_id", "sequence_number").values_list(*FIELDS)

        to_stdout = options["output"] == "-"
        target = None if to_stdout else Path(options["output"])
        partial = None if target is None else target.with_name(target.name + ".partial")
        started = time.monotonic()
        try:
            if to_stdout:
                # Raw stdout: Django's wrapper would add a newline after every write.
                written = self.export(rows, getattr(self.stdout, "_out", sys.stdout), options)
            else:
                # Owner-only from the first byte: transcripts are customers' private words,
                # and the machine's umask would let every local account read them.
                descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(descriptor, "w", encoding="utf-8", newline="") as stream:
                    written = self.export(rows, stream, options)
                os.replace(partial, target)  # readers never see a half-written file
        except (DatabaseError, OSError) as exc:
            if partial is not None:
                partial.unlink(missing_ok=True)
            raise CommandError(f"Export failed: {exc.__class__.__name__}: {exc}") from exc

        where = "stdout" if to_stdout else str(target)
        summary = (
            f"Exported {written} message(s) as {options['output_format']} to {where} "
            f"in {time.monotonic() - started:.1f}s "
            f"(users: {', '.join(options['users']) or 'all'}; "
            f"since: {since.isoformat() if since else '-'}; "
            f"until: {until.isoformat() if until else '-'})."
        )
        # With the export itself on stdout, the summary must not end up inside it.
        (self.stderr if to_stdout else self.stdout).write(summary)

    def export(self, rows, stream, options) -> int:
        writer = (
            CsvWriter(stream, spreadsheet_safe=options["spreadsheet_safe"])
            if options["output_format"] == "csv"
            else JsonLinesWriter(stream)
        )
        writer.header()
        written = 0
        # In a transaction the server-side cursor streams rows as they are read; outside one,
        # Django declares it WITH HOLD and PostgreSQL first copies the whole result.
        with transaction.atomic():
            total = rows.count() if self.wants_progress(options) else None
            bar = progress_bar(
                self, total=total, unit="msg", desc="exporting", enabled=options["progress"]
            )
            with bar:
                for values in rows.iterator(chunk_size=options["chunk_size"]):
                    writer.row(values)
                    written += 1
                    if written % 1000 == 0:
                        bar.update(1000)
                bar.update(written % 1000)
        return written

    def wants_progress(self, options) -> bool:
        if options["progress"] is not None:
            return options["progress"]
        stream = getattr(self.stderr, "_out", sys.stderr)
        return hasattr(stream, "isatty") and stream.isatty()
