"""Take one e-mail on standard input (an MTA pipe: Postfix's pipe(8), an alias `|manage.py receive_email`).

Exit codes follow sysexits(3), which MTAs understand: 0 once the message is stored (whatever came of threading
it: a failure there is recorded with the message), 65 (EX_DATAERR) for input that is refused (empty, over the
limit, unreadable) so the MTA bounces it, 75 (EX_TEMPFAIL) when the database cannot take it now so the MTA
tries again later. Anything but 0 comes with one line on standard error.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from cases.inbound import InboundError, receive
from cases.models import InboundStatus

EX_DATAERR = 65
EX_TEMPFAIL = 75
CHUNK = 1024 * 1024


class Command(BaseCommand):
    help = "Store one RFC 5322 message read on standard input and thread it into its case."
    stealth_options = ("stdin",)  # call_command(..., stdin=BytesIO(...)) in tests

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--source", default="pipe", help="Where the message came from, as recorded (default: pipe)."
        )

    def handle(self, *args, source: str, **options) -> None:
        stream = options.get("stdin") or sys.stdin
        raw, size = _read(getattr(stream, "buffer", stream))
        try:
            inbound = receive(raw, source=source, size=size)
        except InboundError as error:
            raise CommandError(error.message, returncode=EX_DATAERR) from None
        except DatabaseError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CommandError(
                f"The database cannot store the message now: {first_line}", returncode=EX_TEMPFAIL
            ) from None
        if inbound.status == InboundStatus.REFUSED:
            raise CommandError(f"Refused ({inbound.message_id}): {inbound.reason}", returncode=EX_DATAERR)
        self.stdout.write(f"Stored {inbound.message_id} as #{inbound.pk}: {inbound.status}.")


def _read(stream) -> tuple[bytes, int]:
    """At most one byte over the limit of the message, and its whole size (the rest is read and dropped, so
    the MTA sees the pipe taken)."""
    limit = settings.INBOUND_MAX_BYTES
    raw = stream.read(limit + 1)
    size = len(raw)
    if size > limit:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
    return raw, size
