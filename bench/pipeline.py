"""Close the loop: 1,000 resolution e-mails through Redis, one Celery worker and a local SMTP server.

The baseline is the floor of the work: the same 1,000 rendered messages sent with plain smtplib over one
connection to the same SMTP server. The pipeline adds what exactly-once delivery costs: queueing through
Redis, claiming each notification row, rendering the mail, sending it, and marking the row sent.
"""

from __future__ import annotations

import os
import smtplib
import time
from dataclasses import dataclass

from bench.server import Process, start_worker
from bench.smtp_sink import SmtpSink

# One worker process with four prefork children on two cores: a child spends about half of each task waiting
# on PostgreSQL, Redis and the SMTP server, so four keep both cores busy (measured: 2 children ~75 messages/s,
# 4 105-170, 6 and 8 no more, as the SMTP server, PostgreSQL and the worker's parent crowd the same cores).
WORKER_CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "4"))
POLL = 0.02  # seconds between looks at the SMTP server's count and the rows (each look costs CPU too)
TIMEOUT = 300


@dataclass
class PipelineResult:
    messages: int
    baseline_seconds: float
    pipeline_seconds: float
    delivered: int
    unique: int
    sent_rows: int
    retried_rows: int
    concurrency: int
    queued_seconds: float

    @property
    def baseline_rate(self) -> float:
        return self.messages / self.baseline_seconds

    @property
    def pipeline_rate(self) -> float:
        return self.messages / self.pipeline_seconds


def _rendered(ids: list[int]) -> list[tuple[str, list[str], bytes]]:
    from django.conf import settings

    from cases.emails import build_notification_email
    from cases.models import Notification

    notifications = Notification.objects.filter(pk__in=ids).select_related(
        "case__partner", "case__customer", "case__assignee"
    )
    out = []
    for notification in notifications.order_by("pk"):
        message = build_notification_email(notification)
        out.append(
            (
                message.from_email or settings.DEFAULT_FROM_EMAIL,
                message.recipients(),
                message.message().as_bytes(linesep="\r\n"),
            )
        )
    return out


def _release(ids: list[int]) -> None:
    """Make held-back notifications due (see data.load_pipeline_cases), as a commit makes new ones due."""
    from cases.models import Notification

    Notification.objects.filter(pk__in=ids).update(next_attempt_at=None)


def _wait(sink: SmtpSink, expected: int, ids: list[int], deadline: float) -> None:
    from cases.models import Notification

    while sink.stats().messages < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sink.stats().messages} of {expected} messages arrived in time")
        time.sleep(POLL)
    while Notification.objects.filter(pk__in=ids, status="sent").count() < len(ids):
        if time.monotonic() > deadline:
            raise RuntimeError("the messages arrived but not every notification was marked sent in time")
        time.sleep(POLL)


def run(env: dict[str, str], smtp_port: int, ids: list[int], warmup_ids: list[int]) -> PipelineResult:
    from cases.models import Notification
    from cases.services import enqueue_notification

    sink = SmtpSink(smtp_port)
    worker: Process | None = None
    try:
        messages = _rendered(ids)
        # Baseline: plain smtplib, one connection, the same messages to the same server.
        sink.reset()
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            for sender, recipients, data in messages:
                smtp.sendmail(sender, recipients, data)
        baseline_seconds = time.perf_counter() - started
        if sink.stats().messages != len(messages):
            raise RuntimeError("the SMTP server did not receive every baseline message")

        worker = start_worker(env, WORKER_CONCURRENCY)
        # Warm the worker up (imports, connections, templates) on notifications outside the measurement.
        sink.reset()
        _release(warmup_ids)
        for notification_id in warmup_ids:
            enqueue_notification(notification_id)
        _wait(sink, len(warmup_ids), warmup_ids, time.monotonic() + 120)

        sink.reset()
        started = time.perf_counter()
        _release(ids)
        for notification_id in ids:
            enqueue_notification(notification_id)
        queued_seconds = time.perf_counter() - started
        _wait(sink, len(ids), ids, time.monotonic() + TIMEOUT)
        pipeline_seconds = time.perf_counter() - started
        time.sleep(0.5)  # anything sent twice would arrive now
        stats = sink.stats()
        rows = Notification.objects.filter(pk__in=ids)
        return PipelineResult(
            messages=len(ids),
            baseline_seconds=baseline_seconds,
            pipeline_seconds=pipeline_seconds,
            delivered=stats.messages,
            unique=stats.unique,
            sent_rows=rows.filter(status="sent").count(),
            retried_rows=rows.filter(attempts__gt=1).count(),
            concurrency=WORKER_CONCURRENCY,
            queued_seconds=queued_seconds,
        )
    except Exception:
        if worker is not None:
            print(worker.tail(), flush=True)
        raise
    finally:
        if worker is not None:
            worker.stop()
        sink.stop()
