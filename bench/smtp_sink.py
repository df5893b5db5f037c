"""A local SMTP server that accepts every message and counts them (and their Message-IDs), in its own process.

Its own process, so neither the sending side nor the benchmark runner shares an interpreter lock with it.
The parent talks to it over a pipe: "stats" returns the counts, "reset" zeroes them, "stop" ends it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import threading
from dataclasses import dataclass

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Stats:
    messages: int
    unique: int
    recipients: int


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.messages = 0
        self.recipients = 0
        self.ids: set[bytes] = set()

    async def handle_DATA(self, server, session, envelope) -> str:
        found = _MESSAGE_ID.search(envelope.content[:8192])
        with self.lock:
            self.messages += 1
            self.recipients += len(envelope.rcpt_tos)
            if found:
                self.ids.add(found.group(1))
        return "250 Message accepted for delivery"


def _serve(port: int, conn) -> None:
    from aiosmtpd.controller import Controller

    counter = _Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    conn.send("ready")
    try:
        while True:
            command = conn.recv()
            if command == "stats":
                with counter.lock:
                    conn.send((counter.messages, len(counter.ids), counter.recipients))
            elif command == "reset":
                with counter.lock:
                    counter.reset()
                conn.send("ok")
            else:
                break
    finally:
        controller.stop()


class SmtpSink:
    def __init__(self, port: int) -> None:
        self.port = port
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(port, child), daemon=True)
        self.process.start()
        if not self._conn.poll(30) or self._conn.recv() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def stats(self) -> Stats:
        self._conn.send("stats")
        return Stats(*self._conn.recv())

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
