"""The IMAP poller's settings and lock (the poll itself runs against a real dovecot in
tests/integration/test_imap.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache

from cases.inbound import ImapAccount
from cases.tasks import POLL_LOCK_KEY, poll_inbound_mailbox
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_account_is_read_from_the_url_with_its_escapes_and_defaults() -> None:
    account = ImapAccount.from_url("imaps://replies%40contoso.example:p%2Fss@imap.example/Support%20Replies")
    assert (account.tls, account.host, account.port) == (True, "imap.example", 993)
    assert (account.user, account.password, account.folder) == (
        "replies@contoso.example",
        "p/ss",
        "Support Replies",
    )
    plain = ImapAccount.from_url("imap://u:p@127.0.0.1:1143")
    assert (plain.tls, plain.port, plain.folder) == (False, 1143, "INBOX")


@pytest.mark.parametrize(
    "value",
    ["pop3://u:p@mail.example/INBOX", "imaps:///INBOX", "imaps://mail.example/INBOX", "imap://u@h:x/"],
)
def test_a_bad_imap_url_stops_the_portal_at_start_naming_the_variable(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "INBOUND_IMAP_URL": value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "INBOUND_IMAP_URL" in result.stderr.splitlines()[-1]


def test_without_a_mailbox_the_poll_does_nothing(settings) -> None:
    settings.INBOUND_IMAP_URL = None
    assert poll_inbound_mailbox.apply().get() is None


def test_a_poll_waits_its_turn_while_another_holds_the_lock(settings, caplog) -> None:
    """The lock is in Redis: a second beat's poll does not touch the mailbox (here: one nobody listens on)."""
    settings.INBOUND_IMAP_URL = f"imap://u:p@127.0.0.1:{free_port()}/INBOX"
    cache.set(POLL_LOCK_KEY, "another poll", 60)
    assert poll_inbound_mailbox.apply().get() is None
    assert "another poll is running" in caplog.text and "imap poll failed" not in caplog.text
    assert cache.get(POLL_LOCK_KEY) == "another poll"  # not ours to release


def test_a_failed_poll_releases_its_lock(settings, caplog) -> None:
    settings.INBOUND_IMAP_URL = f"imap://u:p@127.0.0.1:{free_port()}/INBOX"
    assert poll_inbound_mailbox.apply().get() is None
    assert "imap poll failed" in caplog.text
    assert cache.get(POLL_LOCK_KEY) is None
