"""E-mails about partner accounts: one function per e-mail, subject and body from templates."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives, send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import get_language

from cases.currencies import money


def send_invitation(*, user: Any, partner: Any, inviter: Any) -> None:
    """Invite a new partner user to choose a password (the link is a single-use password-reset link)."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    context = {
        "user": user,
        "partner": partner,
        "inviter": inviter,
        "link": f"{settings.PORTAL_BASE_URL}{path}",
        "language": get_language(),
    }
    subject = " ".join(render_to_string("cases/emails/invitation_subject.txt", context).split())
    body = render_to_string("cases/emails/invitation.txt", context)
    send_mail(subject, body, None, [user.email])


# --- Close the loop --------------------------------------------------------------------------------


def message_id_for(notification: Any) -> str:
    """A Message-ID that stays the same for every attempt, so a receiver can drop a duplicate delivery."""
    domain = urlsplit(settings.PORTAL_BASE_URL).hostname or "portal.localhost"
    return f"<case-{notification.case.uuid}.n{notification.pk}.r{notification.round}@{domain}>"


# References lists the thread's root and its latest messages, not every one: some servers refuse long headers.
REFERENCES_KEPT = 10


def _thread(notification: Any) -> list[str]:
    """The Message-IDs a customer e-mail follows in its case's conversation, oldest first: the customer
    e-mails sent before it (the first resolution e-mail is the root) and the customer's received before it."""
    from cases.models import InboundStatus, NotificationStatus

    case = notification.case
    earlier = [
        (other.created_at, other.pk, message_id_for(other))
        for other in case.notifications.all()
        if other.is_customer_facing
        and other.pk < notification.pk
        and other.status != NotificationStatus.FAILED
    ]
    received = case.inbound_emails.filter(
        status=InboundStatus.THREADED, received_at__lt=notification.created_at
    ).values_list("received_at", "pk", "message_id")
    # A message that came without a Message-ID got one of ours (….invalid): nobody else knows it.
    earlier += [row for row in received if not row[2].endswith(".invalid>")]
    return [message_id for _when, _pk, message_id in sorted(earlier)]


def _threading_headers(notification: Any) -> dict[str, str]:
    thread = _thread(notification)
    if not thread:
        return {}
    kept = thread if len(thread) <= REFERENCES_KEPT else [thread[0], *thread[-(REFERENCES_KEPT - 1) :]]
    return {"In-Reply-To": thread[-1], "References": " ".join(kept)}


def _amount(amount: Decimal | None, currency: str, language: str) -> str:
    return money(amount, currency, language)


def _render(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    subject = " ".join(render_to_string(f"cases/emails/{kind}_subject.txt", context).split())
    text = render_to_string(f"cases/emails/{kind}.txt", context)
    html = render_to_string(f"cases/emails/{kind}.html", context)
    return subject, text, html


def build_notification_email(notification: Any) -> EmailMultiAlternatives:
    """The e-mail a notification row stands for, in its recipient's language, multipart text and HTML."""
    from cases.inbound import reply_address
    from cases.models import NotificationKind
    from cases.tokens import answer_link

    case = notification.case
    partner = case.partner
    # Replies by e-mail: a customer e-mail asks for replies at the portal's own address for this case (unless
    # the partner wants them in its own mailbox), and threads into the case's conversation.
    inbound = settings.INBOUND_EMAIL_ADDRESS is not None and notification.is_customer_facing
    reply_to = (reply_address(case) if inbound else None) or partner.support_contact_email
    with translation.override(notification.language):
        context = {
            "notification": notification,
            "case": case,
            "partner": partner,
            "customer": case.customer,
            "disputed": _amount(case.disputed_amount, case.currency, notification.language),
            "credit": _amount(case.credit_amount, case.currency, notification.language),
            "case_url": f"{settings.PORTAL_BASE_URL}{case.get_absolute_url()}",
            "language": notification.language,
        }
        if notification.is_customer_facing:
            context["reply_into_case"] = reply_to != partner.support_contact_email
        if notification.kind == NotificationKind.RESOLUTION:
            context["answer_url"] = answer_link(notification)
        elif notification.kind == NotificationKind.PARTNER_MESSAGE:
            context.update(_partner_message_context(notification))
        if notification.inbound_id is not None:
            context.update(_customer_message_context(notification))
        if notification.kind in (NotificationKind.SLA_WARNING, NotificationKind.SLA_BREACH):
            context.update(_service_level_context(notification))
        subject, text, html = _render(notification.kind, context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[notification.recipient],
        reply_to=[reply_to],
        headers={
            "Message-ID": message_id_for(notification),
            "Auto-Submitted": "auto-generated",
            "Content-Language": notification.language,
            **(_threading_headers(notification) if inbound else {}),
        },
    )
    message.attach_alternative(html, "text/html")
    return message


def _customer_message_context(notification: Any) -> dict[str, Any]:
    """What the assignee's notice of a customer's e-mail tells: the words, whether it reopened the case."""
    from cases.models import EventKind

    inbound = notification.inbound
    case = notification.case
    reopened = case.events.filter(
        kind=EventKind.STATUS, data__transition="reopen", data__inbound=notification.inbound_id
    ).exists()
    opened = case.events.filter(kind=EventKind.CREATED, data__inbound=notification.inbound_id).exists()
    path = reverse("cases:inbound_email", kwargs={"number": case.number, "pk": notification.inbound_id})
    return {
        "inbound": inbound,
        "words": (inbound.reply or inbound.text) if inbound else "",
        "reopened": reopened,
        "follow_up_of": case.follow_up_of if opened else None,
        "message_url": f"{settings.PORTAL_BASE_URL}{path}",
    }


def _partner_message_context(notification: Any) -> dict[str, Any]:
    """A partner user's message to the customer: the words as written on the timeline, and who wrote them."""
    from cases.models import EventKind

    event = (
        notification.case.events.select_related("actor")
        .filter(kind=EventKind.PARTNER_MESSAGE, pk=notification.round)
        .first()
    )
    author = event.actor.get_full_name() if event is not None and event.actor is not None else ""
    return {"words": event.message if event is not None else "", "author": author}


def _service_level_context(notification: Any) -> dict[str, Any]:
    """Which target a service-level warning is about (its round says) and when it is due, in the partner's
    time zone and the recipient's language."""
    from zoneinfo import ZoneInfo

    from babel.dates import format_datetime

    from cases.models import ServiceLevel
    from cases.servicelevels import TARGET_LABELS, target_of_round

    case = notification.case
    kind = target_of_round(notification.round)
    due = {
        "first_response": case.first_response_due_at,
        "resolution": case.resolution_due_at,
        "escalation": case.escalation_response_due_at,
    }.get(kind)
    level = ServiceLevel.for_partner(case.partner)
    locale = translation.to_locale(notification.language)
    when = format_datetime(due, "medium", tzinfo=ZoneInfo(level.time_zone), locale=locale) if due else "—"
    return {"target": str(TARGET_LABELS[kind]), "due": f"{when} ({level.time_zone})"}
