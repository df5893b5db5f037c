"""Replies by IMAP with real parts: Debian's dovecot on a free port with a throw-away mailbox, the poll task run
by a real Celery worker, the test PostgreSQL. Each reply lands once on its case, quotes cut, and moves to the
done folder; a message seen again (a poll that died before moving it) is one entry still."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted

from cases import services
from cases.emails import message_id_for
from cases.inbound import reply_address
from cases.models import (
    EventKind,
    InboundEmail,
    InboundStatus,
    Notification,
    NotificationKind,
    Status,
)
from cases.tasks import poll_inbound_mailbox
from tests.cast import open_dispute
from tests.conftest import free_port
from tests.factories import CustomerFactory
from tests.integration.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "portal", "imap-test-secret"
DONE = "Processed"
POLL_TIMEOUT = 60

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {home}/run
state_dir = {home}/state
instance_name = portal-test-{port}
log_path = {home}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_uid = nobody
mail_gid = nogroup
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {home}/passwd
}}
userdb {{
  driver = static
  args = home={home}/mail/%u
}}
mail_location = maildir:{home}/mail/%u/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@dataclass
class Dovecot:
    home: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def start(self) -> None:
        (self.home / "mail").mkdir(parents=True)
        shutil.chown(self.home / "mail", "nobody", "nogroup")  # dovecot never opens mail as root
        (self.home / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        config = self.home / "dovecot.conf"
        config.write_text(CONFIG.format(home=self.home, port=self.port))
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        wait_until(self._answers, 15, f"dovecot on port {self.port}: {self.log()}")

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log()
        try:
            with self.mailbox():
                return True
        except OSError:
            return False

    def mailbox(self, folder: str = "INBOX") -> MailBoxUnencrypted:
        return MailBoxUnencrypted("127.0.0.1", self.port, timeout=10).login(USER, PASSWORD, folder)

    def uids(self, folder: str) -> list[str]:
        with self.mailbox() as box:
            if not box.folder.exists(folder):
                return []
            box.folder.set(folder)
            return box.uids("ALL")

    def log(self) -> str:
        path = self.home / "dovecot.log"
        return path.read_text() if path.exists() else "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not os.path.exists(DOVECOT):
        # Failing, not skipping: a missing server would hide the only test of the IMAP intake.
        pytest.fail("dovecot is not installed: `apt-get install dovecot-imapd` (.ci/run installs it)")
    # Not tmp_path: its parents are 0700, and dovecot's login and mail processes run as unprivileged users.
    home = Path(tempfile.mkdtemp(prefix="portal-dovecot-"))
    home.chmod(0o755)
    server = Dovecot(home=home, port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


# Replies as each language's mail clients write them: the new words, then the quoted resolution e-mail.
REPLIES = {
    "en": (
        "The credit is still missing from the November invoice.\n\nBest regards,\nBea\n\n"
        "On Mon, 3 Nov 2025 at 10:00, Contoso Support <support@portal.example> wrote:\n"
        "> Contoso has resolved your billing case.\n",
        "The credit is still missing from the November invoice.",
    ),
    "ja": (
        "クレジットがまだ反映されていません。\n\n"
        "2025年11月3日(月) 10:00 Contoso Support <support@portal.example>:\n"
        "> Contoso がお客様の請求ケースを解決しました。\n",
        "クレジットがまだ反映されていません。",
    ),
    "zh-hans": (
        "退款仍未到账。\n\n"
        "Contoso Support <support@portal.example> 于2025年11月3日周一 10:00写道：\n"
        "> Contoso 已解决您的账单案例。\n",
        "退款仍未到账。",
    ),
    "zh-hant": (
        "退款仍未入帳。\n\n"
        "Contoso Support <support@portal.example> 於 2025年11月3日 週一 上午10:00 寫道：\n"
        "> Contoso 已解決您的帳單案例。\n",
        "退款仍未入帳。",
    ),
    "ru": (
        "Возврат так и не поступил.\n\nС уважением,\nБеа\n\n"
        "пн, 3 нояб. 2025 г. в 10:00, Contoso Support <support@portal.example>:\n"
        "> Contoso решила ваш вопрос по счёту.\n",
        "Возврат так и не поступил.",
    ),
}


def resolved_case(contoso, helpdesk_agent, billing_admin, language: str):
    customer = CustomerFactory(
        partner=contoso,
        preferred_language=language,
        tenant_domain=f"{language}.tailspintoys.example",
        billing_contact_email=f"billing@{language}.tailspintoys.example",
    )
    case = open_dispute(helpdesk_agent, customer)
    services.case_start(case=case, actor=helpdesk_agent)
    services.case_resolve(
        case=case, actor=billing_admin, resolution_summary="The charge stands.", outcome="upheld"
    )
    resolution = Notification.objects.get(case=case, kind=NotificationKind.RESOLUTION)
    services.notification_mark_sent(notification=resolution, message_id=message_id_for(resolution))
    case.refresh_from_db()
    return case, resolution


def reply(case, resolution, language: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Bea Billing <{case.customer.billing_contact_email}>"
    message["To"] = reply_address(case)
    message["Subject"] = f"Re: Resolved: {case.title}"
    message["Message-ID"] = f"<imap-{language}@mail.tailspintoys.example>"
    message["In-Reply-To"] = resolution.message_id
    message.set_content(REPLIES[language][0])
    return message.as_bytes(policy=policy.SMTP)


def finished_polls(worker) -> int:
    return sum("poll_inbound_mailbox[" in line and "succeeded" in line for line in worker.logs().splitlines())


def test_replies_in_five_languages_are_polled_once_each_and_moved(
    publish_to,
    smtp_sink,
    worker_factory,
    dovecot,
    monkeypatch,
    settings,
    contoso,
    helpdesk_agent,
    billing_admin,
) -> None:
    """A real worker polls the mailbox: each reply lands once on its case, its quote cut, the case back in
    progress, the message in the done folder; a second poll with one message seen again adds nothing."""
    settings.INBOUND_EMAIL_ADDRESS = "support@portal.example"
    cases = {
        language: resolved_case(contoso, helpdesk_agent, billing_admin, language) for language in REPLIES
    }
    with dovecot.mailbox() as box:
        for language, (case, resolution) in cases.items():
            box.append(reply(case, resolution, language), "INBOX")
    assert len(dovecot.uids("INBOX")) == 5

    # The worker signs and reads case tokens with the same key, and its beat stays out of the way.
    monkeypatch.setenv("SECRET_KEY", settings.SECRET_KEY)
    monkeypatch.setenv("INBOUND_EMAIL_ADDRESS", settings.INBOUND_EMAIL_ADDRESS)
    monkeypatch.setenv("INBOUND_IMAP_URL", dovecot.url)
    monkeypatch.setenv("INBOUND_IMAP_POLL_SECONDS", "3600")
    smtp_sink.start()
    worker = worker_factory()
    worker.start()

    poll_inbound_mailbox.delay()
    wait_until(lambda: finished_polls(worker) == 1, POLL_TIMEOUT, f"the first poll: {worker.logs()}")
    assert InboundEmail.objects.filter(source="imap").count() == 5
    for language, (case, _resolution) in cases.items():
        [inbound] = InboundEmail.objects.filter(case=case)
        assert inbound.status == InboundStatus.THREADED, (language, inbound.reason)
        assert inbound.reply == REPLIES[language][1], language
        assert inbound.text == REPLIES[language][0].strip()
        case.refresh_from_db()
        assert case.status == Status.IN_PROGRESS, language
        [event] = case.events.filter(kind=EventKind.CUSTOMER_MESSAGE)
        assert event.message == REPLIES[language][1]
    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids(DONE)) == 5

    # A poll that died after storing, before moving: the message is there again.
    case, resolution = cases["ru"]
    with dovecot.mailbox() as box:
        box.append(reply(case, resolution, "ru"), "INBOX")
    poll_inbound_mailbox.delay()
    wait_until(lambda: finished_polls(worker) == 2, POLL_TIMEOUT, f"the second poll: {worker.logs()}")
    assert InboundEmail.objects.count() == 5
    assert case.events.filter(kind=EventKind.CUSTOMER_MESSAGE).count() == 1
    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids(DONE)) == 6
    assert "1 duplicate" in worker.logs()


def test_a_poll_of_a_mailbox_that_is_away_logs_and_ends(dovecot, settings, caplog) -> None:
    """Dovecot stopped: the poll logs why and returns, no exception for Celery to retry in a loop."""
    settings.INBOUND_IMAP_URL = dovecot.url
    dovecot.stop()
    assert poll_inbound_mailbox.apply().get() is None
    assert "imap poll failed" in caplog.text
