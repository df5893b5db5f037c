"""Signed, expiring links for the customer's answer to a resolution (CustomerAnswer makes them single-use)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation

SALT = "cases.customer-answer"


class AnswerLinkError(Exception):
    """The link is not one the portal made, or it has expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "invalid" or "expired"


def make_token(notification: Any) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object({"n": notification.pk, "r": notification.round})


def read_token(token: str) -> dict[str, int]:
    """The notification id and round inside a token, or AnswerLinkError."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        return signer.unsign_object(token, max_age=settings.CUSTOMER_ANSWER_DAYS * 86400)
    except signing.SignatureExpired:
        raise AnswerLinkError("expired") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise AnswerLinkError("invalid") from None


def answer_link(notification: Any) -> str:
    """The absolute address of the answer page, in the customer's language."""
    with translation.override(notification.language):
        path = reverse("cases:answer", kwargs={"token": make_token(notification)})
    return f"{settings.PORTAL_BASE_URL}{path}"
