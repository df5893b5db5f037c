"""The portal's own words on a timeline are written in the reader's language, whoever caused them: a Japanese
colleague resolves, an English and a Russian reader each read the timeline in their own language."""

from __future__ import annotations

import pytest
from django.utils import translation

from cases import services
from cases.models import CaseEvent, EventKind, Notification, NotificationKind
from tests.cast import force_login_with_code

pytestmark = pytest.mark.django_db

SUMMARY = "Microsoft confirmed the seats; the charge stands."


@pytest.fixture
def resolved_in_japanese(case, helpdesk_agent, billing_admin) -> Notification:
    with translation.override("ja"):
        case = services.case_start(case=case, actor=helpdesk_agent)
        case = services.case_resolve(
            case=case, actor=billing_admin, resolution_summary=SUMMARY, outcome="upheld"
        )
    return Notification.objects.get(case=case, kind=NotificationKind.RESOLUTION)


def timeline(client, member, case, language: str) -> str:
    force_login_with_code(client, member.user)
    response = client.get(f"/{language}/cases/{case.number}/")
    assert response.status_code == 200
    html = response.content.decode()
    return html[html.index('data-testid="timeline"') :]


def test_the_resolution_e_mail_event_reads_in_each_readers_language(
    client, helpdesk_agent, resolved_in_japanese
) -> None:
    case, recipient = resolved_in_japanese.case, resolved_in_japanese.recipient
    event = CaseEvent.objects.get(case=case, kind=EventKind.NOTIFICATION)
    # Stored as what it says, with the English words for whatever reads the row without the portal.
    assert event.data["says"] == "resolution_email_due"
    assert event.message == f"Resolution e-mail due to {recipient}"

    assert f"Resolution e-mail due to {recipient}" in timeline(client, helpdesk_agent, case, "en")
    with translation.override("ru"):
        russian = translation.gettext("Resolution e-mail due to %(recipient)s") % {"recipient": recipient}
    assert russian != f"Resolution e-mail due to {recipient}"
    ru_page = timeline(client, helpdesk_agent, case, "ru")
    assert russian in ru_page
    assert "Resolution e-mail due" not in ru_page


def test_a_failed_e_mail_event_names_the_error_in_the_readers_words(
    client, helpdesk_agent, resolved_in_japanese
) -> None:
    with translation.override("ja"):
        services.notification_mark_failed(
            notification=resolved_in_japanese, error="550 5.1.1 mailbox unknown"
        )
    page = timeline(client, helpdesk_agent, resolved_in_japanese.case, "en")
    assert f"E-mail to {resolved_in_japanese.recipient} failed: 550 5.1.1 mailbox unknown" in page


def test_the_api_gives_the_words_in_the_requests_language(
    client, helpdesk_agent, resolved_in_japanese
) -> None:
    """The API's event message is the same text the page shows (English unless the request asks otherwise)."""
    from cases.api import EventSerializer

    event = CaseEvent.objects.get(case=resolved_in_japanese.case, kind=EventKind.NOTIFICATION)
    with translation.override("en"):
        assert (
            EventSerializer(event).data["message"]
            == f"Resolution e-mail due to {resolved_in_japanese.recipient}"
        )
    with translation.override("zh-hans"):
        assert "Resolution e-mail due" not in EventSerializer(event).data["message"]


def test_an_old_event_without_a_key_shows_its_stored_message(case, helpdesk_agent) -> None:
    event = services.case_comment(case=case, actor=helpdesk_agent, message="Called the customer.")
    assert event.text == "Called the customer."
