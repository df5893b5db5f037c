"""The README's ten-line receiver, run as it is printed, accepts a real delivery and refuses a forged one."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cases import services as case_services
from tests.conftest import free_port
from tests.integration.conftest import wait_until
from webhooks import services
from webhooks.models import WebhookDelivery
from webhooks.tasks import deliver_webhook

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_receiver() -> str:
    section = README.read_text().split("## API and webhooks", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_readme_receiver_verifies_the_signature(global_admin, case, helpdesk_agent, tmp_path) -> None:
    """Its answer is 204 for the portal's signature and 401 once the secret differs."""
    code = readme_receiver()
    assert len(code.strip().splitlines()) <= 12
    port = free_port()
    endpoint = services.endpoint_create(
        actor=global_admin, url=f"http://127.0.0.1:{port}/", events=["case.commented"]
    )
    code = code.replace('b"whsec_..."', repr(endpoint.secret.encode())).replace(
        '("", 8080)', f'("127.0.0.1", {port})'
    )
    (tmp_path / "receiver.py").write_text(code)
    process = subprocess.Popen(
        [sys.executable, str(tmp_path / "receiver.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        case_services.case_comment(case=case, actor=helpdesk_agent, message="Checked.")
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        wait_until(lambda: _listening(port), 10, "the receiver to start")
        assert deliver_webhook(delivery.pk) == "delivered"
        delivery.refresh_from_db()
        assert delivery.response_code == 204
        endpoint.secret = "whsec_forged"
        endpoint.save(update_fields=["secret"])
        case_services.case_comment(case=case, actor=helpdesk_agent, message="Forged.")
        forged = WebhookDelivery.objects.filter(endpoint=endpoint).latest("pk")
        assert deliver_webhook(forged.pk) == "retry"
        forged.refresh_from_db()
        assert forged.response_code == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "case.commented" in output and "Checked." in output and "Forged." not in output
