"""Progress bars for long ops commands, always on stderr so stdout stays clean for data.

tqdm: small, no dependencies of its own, widely used and maintained, and it already does what
ops need here (rate, ETA, unknown totals, and staying quiet when stderr is not a terminal, so
cron mail and CI logs do not fill with carriage returns).
"""

import argparse
import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: only when stderr is a terminal)",
    )


def progress_bar(
    command: BaseCommand, *, total: int | None, unit: str, desc: str, enabled: bool | None
) -> tqdm:
    # The raw stream, not Django's OutputWrapper: that appends a newline to every write, which
    # would turn each redraw of the bar into a new line.
    stream = getattr(command.stderr, "_out", sys.stderr)
    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        file=stream,
        disable=None if enabled is None else not enabled,
        unit_scale=True,
        mininterval=0.5,
        dynamic_ncols=True,
        leave=True,
    )
