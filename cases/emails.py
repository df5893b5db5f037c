"""E-mails about partner accounts: one function per e-mail, subject and body from templates."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import get_language


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
