"""The webhook sweep for the embedded default (`make run`: eager tasks, no worker, no beat).

Nothing else would retry a failed delivery there, so the web process runs the sweep itself on a daemon
timer, every WEBHOOK_SWEEP_SECONDS: the first retry comes within a minute, as on a real worker. The sweep's
attempts claim their rows like a worker's, so the timer and a request delivering at the same moment cannot
send one delivery twice. Off (WEBHOOK_SWEEP_IN_PROCESS=0) wherever a worker and beat run.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_thread: threading.Thread | None = None
_stop = threading.Event()


def _run() -> None:
    from webhooks.tasks import sweep_deliveries

    while not _stop.wait(settings.WEBHOOK_SWEEP_SECONDS):
        try:
            close_old_connections()
            sweep_deliveries()
        except Exception:  # the database away for a moment: the next tick tries again
            logger.warning("in-process webhook sweep failed", exc_info=True)
        finally:
            connection.close()


def ensure_running() -> bool:
    """Start the timer in this process unless it runs already or WEBHOOK_SWEEP_IN_PROCESS is off."""
    global _thread
    if not settings.WEBHOOK_SWEEP_IN_PROCESS:
        return False
    with _lock:
        if _thread is not None and _thread.is_alive():
            return True
        _stop.clear()
        _thread = threading.Thread(target=_run, name="webhook-sweep", daemon=True)
        _thread.start()
    logger.info("webhook sweep runs in-process every %s s", settings.WEBHOOK_SWEEP_SECONDS)
    return True


def stop() -> None:
    """Stop the timer (tests)."""
    global _thread
    _stop.set()
    if _thread is not None:
        _thread.join(timeout=10)
    _thread = None


def start_if_serving() -> None:
    """At start-up of `runserver` (the process that serves, not the autoreloader's parent), start the timer,
    so deliveries left due by an earlier run go out too."""
    if len(sys.argv) < 2 or sys.argv[1] != "runserver":
        return
    if "--noreload" not in sys.argv and os.environ.get("RUN_MAIN") != "true":
        return
    ensure_running()
