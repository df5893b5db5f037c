"""What cases.services says happened, as webhook events: one call per event, made inside the transaction of
the change, so the deliveries are written (or rolled back) with it.

Bodies name cases by number and carry what a partner's tool needs to decide whether to fetch the case
(GET /api/v1/cases/{number}/): the fields that do not change under it within the same change.
"""

from __future__ import annotations

from typing import Any

from webhooks.models import WebhookEvent
from webhooks.services import webhook_emit


def _moment(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _case(case: Any) -> dict[str, Any]:
    return {
        "number": case.number,
        "title": case.title,
        "category": case.category,
        "status": case.status,
        "severity": case.severity,
        "customer": case.customer_id,
        "assignee": case.assignee.email if case.assignee_id and case.assignee else None,
        "created_at": _moment(case.created_at),
        "api_url": f"/api/v1/cases/{case.number}/",
    }


def _actor(actor: Any) -> str | None:
    user = getattr(actor, "user", actor)
    return getattr(user, "email", None)


def case_created(case: Any, actor: Any = None) -> None:
    webhook_emit(
        partner_id=case.partner_id,
        event=WebhookEvent.CASE_CREATED,
        data=lambda: {
            "case": _case(case),
            "actor": _actor(actor),
            "follow_up_of": case.follow_up_of.number if case.follow_up_of_id else None,
        },
    )


def case_status_changed(case: Any, event: Any) -> None:
    webhook_emit(
        partner_id=case.partner_id,
        event=WebhookEvent.CASE_STATUS_CHANGED,
        data=lambda: {
            "case": _case(case),
            "from_status": event.from_status,
            "to_status": event.to_status,
            "transition": event.data.get("transition"),
            "actor": _actor(event.actor),
            "timeline_event": event.pk,
        },
    )


def case_commented(case: Any, event: Any) -> None:
    webhook_emit(
        partner_id=case.partner_id,
        event=WebhookEvent.CASE_COMMENTED,
        data=lambda: {
            "case": _case(case),
            "note": {
                "id": event.pk,
                "author": _actor(event.actor),
                "message": event.message,
                "created_at": _moment(event.created_at),
            },
        },
    )


def case_escalated(case: Any, actor: Any) -> None:
    webhook_emit(
        partner_id=case.partner_id,
        event=WebhookEvent.CASE_ESCALATED,
        data=lambda: {
            "case": _case(case),
            "escalation_target": case.escalation_target,
            "support_vehicle": case.support_vehicle,
            "escalation_severity": case.escalation_severity,
            "support_request_number": case.support_request_number,
            "actor": _actor(actor),
        },
    )


def notification_failed(notification: Any, case: Any, error: str) -> None:
    webhook_emit(
        partner_id=case.partner_id,
        event=WebhookEvent.NOTIFICATION_FAILED,
        data=lambda: {
            "case": _case(case),
            "notification": {
                "id": notification.pk,
                "kind": notification.kind,
                "recipient": notification.recipient,
                "error": error[:500],
            },
        },
    )


def customer_answered(
    case: Any, *, channel: str, answer: str = "", rating: int | None = None, message: str = ""
) -> None:
    """channel: "link" (the answer page of a resolution e-mail) or "email" (a reply put into the case)."""
    webhook_emit(
        partner_id=case.partner_id,
        event=WebhookEvent.CUSTOMER_ANSWERED,
        data=lambda: {
            "case": _case(case),
            "channel": channel,
            "answer": answer or None,
            "rating": rating,
            "message": message,
        },
    )
