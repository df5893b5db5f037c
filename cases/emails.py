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


def _amount(amount: Decimal | None, currency: str, language: str) -> str:
    return money(amount, currency, language)


def _render(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    subject = " ".join(render_to_string(f"cases/emails/{kind}_subject.txt", context).split())
    text = render_to_string(f"cases/emails/{kind}.txt", context)
    html = render_to_string(f"cases/emails/{kind}.html", context)
    return subject, text, html


def build_notification_email(notification: Any) -> EmailMultiAlternatives:
    """The e-mail a notification row stands for, in its recipient's language, multipart text and HTML."""
    from cases.tokens import answer_link

    case = notification.case
    partner = case.partner
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
            context["answer_url"] = answer_link(notification)
        subject, text, html = _render(notification.kind, context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[notification.recipient],
        reply_to=[partner.support_contact_email],
        headers={
            "Message-ID": message_id_for(notification),
            "Auto-Submitted": "auto-generated",
            "Content-Language": notification.language,
        },
    )
    message.attach_alternative(html, "text/html")
    return message
