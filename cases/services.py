"""Every write to cases, customers and partner users. Views and the API call these and nothing else.

Each service checks the actor's role against the permission table, runs in a transaction with the case row
locked, refuses an illegal move with a CaseActionError, and records what happened on the case's timeline.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases import servicelevels
from cases.emails import send_invitation
from cases.models import (
    RESPONSE_TARGETS,
    TRANSITIONS,
    Answer,
    Attachment,
    Case,
    CaseEvent,
    Category,
    Customer,
    CustomerAnswer,
    EventKind,
    InboundEmail,
    Membership,
    Notification,
    NotificationKind,
    NotificationStatus,
    Outcome,
    Partner,
    ServiceLevel,
    Severity,
    Status,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
    SupportPlan,
    SupportVehicle,
    Transition,
    event_says,
)
from cases.permissions import Action, Role, roles_allow
from cases.uploads import clean_filename, inspect_upload
from portal import audit
from portal.models import AuditAction
from portal.storage import StorageUnavailable, reaching_storage
from webhooks import events as webhooks

logger = logging.getLogger(__name__)

# Technical escalation goes through the support plan the partner holds; commercial is open to all.
VEHICLE_PLANS = {
    SupportVehicle.PREMIER: SupportPlan.PREMIER,
    SupportVehicle.ADVANCED: SupportPlan.ADVANCED,
    SupportVehicle.SIGNATURE: SupportPlan.SIGNATURE,
}

TRANSITION_ACTIONS = {
    Transition.START: Action.WORK,
    Transition.ESCALATE: Action.ESCALATE,
    Transition.REQUEST_INFO: Action.ESCALATE,
    Transition.PROVIDE_INFO: Action.ESCALATE,
    Transition.RESOLVE: Action.RESOLVE,
    Transition.CLOSE: Action.RESOLVE,
    Transition.REOPEN: Action.REOPEN,
}


class CaseActionError(Exception):
    """A request the workflow refuses; the message is for the user, the code for machines."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _authorize(actor: Membership, action: str, partner: Partner) -> None:
    if actor.partner_id != partner.pk:
        # Services are reached through partner-scoped lookups; this is the last line of defence.
        raise PermissionDenied(_("That belongs to another partner."))
    if not actor.user.is_active or not roles_allow(actor.roles, action):
        raise PermissionDenied(_("Your role does not allow this."))


def _locked(case: Case) -> Case:
    return Case.objects.select_for_update(of=("self",)).select_related("partner", "customer").get(pk=case.pk)


def _event(case: Case, actor: Membership | None, kind: str, *, message: str = "", **data: Any) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor.user if actor else None,
        message=message,
        data={k: v for k, v in data.items() if v not in (None, "")},
    )


def _check_move(case: Case, transition: str) -> None:
    """Refuse a transition the case's status does not allow (before looking at the rest of the input)."""
    sources, _target = TRANSITIONS[transition]
    if case.status not in sources:
        raise CaseActionError(
            _("A case that is %(status)s cannot be moved this way (%(transition)s).")
            % {
                "status": Status(case.status).label.lower(),
                "transition": Transition(transition).label.lower(),
            },
            code="illegal_transition",
        )


def _move(
    case: Case, actor: Membership | None, transition: str, *, message: str = "", **data: Any
) -> CaseEvent:
    """Apply one transition of the state machine to a locked case and record it."""
    _check_move(case, transition)
    _sources, target = TRANSITIONS[transition]
    previous = case.status
    case.status = target
    event = CaseEvent.objects.create(
        case=case,
        kind=EventKind.STATUS,
        actor=actor.user if actor else None,
        from_status=previous,
        to_status=target,
        message=message,
        data={"transition": transition, **{k: v for k, v in data.items() if v not in (None, "")}},
    )
    webhooks.case_status_changed(case, event)
    # Any move ends a wait (on the customer, or the target's on the partner); a request for information
    # starts one.
    servicelevels.clock_resume(case, actor=event.actor)
    if target == Status.INFO_REQUESTED:
        with translation.override("en"):  # a value of the event's words, kept in English like its message
            target_name = case.get_escalation_target_display()
        servicelevels.clock_pause(case, reason="target", actor=event.actor, target=target_name)
    return event


def _save_timed(case: Case) -> None:
    """Save a case whose clock, status or targets moved, with its due times recomputed."""
    servicelevels.refresh_due_times(case)
    case.save()


def available_transitions(case: Case, membership: Membership) -> list[str]:
    """The transitions the case's status and the member's roles allow now."""
    return [
        transition
        for transition, (sources, _target) in TRANSITIONS.items()
        if case.status in sources
        and roles_allow(membership.roles, TRANSITION_ACTIONS[transition])
        and (transition != Transition.CLOSE or case.loop_closed_at is not None)
    ]


def _allocate_number(partner: Partner) -> str:
    locked = Partner.objects.select_for_update().get(pk=partner.pk)
    number = locked.next_case_number
    locked.next_case_number = number + 1
    locked.save(update_fields=["next_case_number"])
    return f"{locked.case_prefix}-{number}"


def case_create(
    *,
    actor: Membership,
    customer: Customer,
    category: str,
    title: str,
    description: str,
    severity: str = Severity.C,
    subscription: Subscription | None = None,
    invoice_number: str = "",
    disputed_amount: Decimal | None = None,
    currency: str = "",
    billing_period: datetime.date | None = None,
    assignee: Any = None,
    evidence: Sequence[UploadedFile] = (),
    external_reference: str = "",
) -> Case:
    """Open a case on behalf of one of the actor's customers, with its evidence: all of it or nothing."""
    _authorize(actor, Action.OPEN, customer.partner)
    if evidence:
        _authorize(actor, Action.COMMENT, customer.partner)
    with evidence_or_nothing() as stored:
        now = timezone.now()
        case = Case(
            partner=actor.partner,
            customer=customer,
            subscription=subscription,
            category=category,
            title=title.strip(),
            description=description.strip(),
            invoice_number=invoice_number.strip(),
            disputed_amount=disputed_amount,
            currency=currency.upper() if currency else "",
            billing_period=billing_period.replace(day=1) if billing_period else None,
            severity=severity,
            created_by=actor.user,
            created_at=now,
            first_response_due=now + RESPONSE_TARGETS[Severity(severity)],
            number="pending",
        )
        if assignee is not None:
            _check_assignee(actor.partner, assignee)
            case.assignee = assignee
        case.external_reference = _free_external_reference(actor.partner, external_reference)
        case.full_clean(exclude=["number"], validate_constraints=False)
        case.number = _allocate_number(actor.partner)
        servicelevels.refresh_due_times(case, clock=servicelevels.Clock([], None), sent=set())
        _save_external_reference(case, external_reference)
        _event(case, actor, EventKind.CREATED, category=category, severity=severity)
        webhooks.case_created(case, actor)
        for upload in evidence:
            _store_evidence(case, actor, upload, stored)
    return case


# The names of the files stored by the outermost evidence_or_nothing() still open, shared by those inside it.
_stored_files: ContextVar[list[str] | None] = ContextVar("stored_files", default=None)


@contextmanager
def evidence_or_nothing(*, durable: bool = False) -> Iterator[list[str]]:
    """A transaction that also takes back the evidence files stored in it: the database forgets the rows of
    a rolled-back transaction, the file storage would keep their files. Yields the list for the names.

    Nested in another, it shares the outer list: what it stored goes if it rolls back, or if the outer does.
    """
    outer = _stored_files.get()
    stored = outer if outer is not None else []
    start = len(stored)
    token = _stored_files.set(stored) if outer is None else None
    try:
        with transaction.atomic(durable=durable):
            yield stored
    except BaseException:
        _delete_stored(stored[start:])
        del stored[start:]
        raise
    finally:
        if token is not None:
            _stored_files.reset(token)


def _delete_stored(names: list[str]) -> None:
    storage = Attachment._meta.get_field("file").storage
    for name in names:
        try:
            with reaching_storage("delete a rolled-back file"):
                storage.delete(name)
        except StorageUnavailable:
            # The row is gone, so nothing points at the object; the storage's orphan is only space.
            logger.warning("file %s of a rolled-back change is left in the storage", name)


def _save_evidence(
    case: Case, actor: Membership, upload: UploadedFile, kind: tuple[str, str], stored: list[str]
) -> Attachment:
    """Store an inspected upload (its content type and extension) as the case's evidence, on its timeline."""
    content_type, extension = kind
    attachment = Attachment(
        case=case,
        original_name=clean_filename(upload.name or ""),
        content_type=content_type,
        extension=extension,
        size=upload.size,
        uploaded_by=actor.user,
    )
    _store_file(attachment, upload, stored)
    attachment.save()
    _event(case, actor, EventKind.ATTACHMENT, message=attachment.original_name, attachment=attachment.pk)
    return attachment


def _store_file(attachment: Attachment, upload: UploadedFile, stored: list[str]) -> None:
    """Put the upload in the file storage under a name of the portal's own, before its row is saved; the
    name joins `stored` so that a rollback takes the file back (StorageUnavailable: nothing was stored)."""
    with reaching_storage("store an attachment"):
        upload.seek(0)
        attachment.file.save("upload", upload, save=False)
    stored.append(attachment.file.name)


def _store_evidence(case: Case, actor: Membership, upload: UploadedFile, stored: list[str]) -> Attachment:
    """Attach one file to a case being opened: its problem, if any, is the evidence field's."""
    try:
        kind = inspect_upload(upload)
    except ValidationError as error:
        raise ValidationError({"evidence": error.error_list}) from None
    return _save_evidence(case, actor, upload, kind, stored)


def _check_assignee(partner: Partner, user: Any) -> None:
    if not Membership.objects.for_partner(partner).active().filter(user=user).exists():
        raise CaseActionError(
            _("Assign the case to an active member of your organisation."), code="bad_assignee"
        )


@transaction.atomic
def case_assign(*, case: Case, actor: Membership, assignee: Any) -> Case:
    """Give the case to a member of the partner (or to nobody)."""
    _authorize(actor, Action.WORK, case.partner)
    case = _locked(case)
    if assignee is not None:
        _check_assignee(case.partner, assignee)
    case.assignee = assignee
    case.save()
    _event(case, actor, EventKind.ASSIGNED, assignee=assignee.email if assignee else "")
    return case


@transaction.atomic
def case_start(*, case: Case, actor: Membership) -> Case:
    """Start work: the first response to the customer's problem."""
    _authorize(actor, Action.WORK, case.partner)
    case = _locked(case)
    _move(case, actor, Transition.START)
    case.first_response_at = case.first_response_at or timezone.now()
    if case.assignee_id is None:
        case.assignee = actor.user
    _save_timed(case)
    return case


@transaction.atomic
def case_escalate(
    *, case: Case, actor: Membership, support_vehicle: str, severity: str, support_request_number: str = ""
) -> Case:
    """Escalate through the partner support channel to the target the partner's cloud dictates."""
    _authorize(actor, Action.ESCALATE, case.partner)
    case = _locked(case)
    _check_move(case, Transition.ESCALATE)
    partner = case.partner
    if support_vehicle not in SupportVehicle.values:
        raise CaseActionError(_("Choose a support vehicle."), code="bad_vehicle")
    if severity not in Severity.values:
        raise CaseActionError(_("Choose a severity."), code="bad_severity")
    required_plan = VEHICLE_PLANS.get(support_vehicle)
    if required_plan and partner.support_plan != required_plan:
        raise CaseActionError(
            _("Technical escalation through %(vehicle)s needs that support plan; your plan is %(plan)s.")
            % {
                "vehicle": SupportVehicle(support_vehicle).label,
                "plan": SupportPlan(partner.support_plan).label,
            },
            code="vehicle_not_in_plan",
        )
    _move(
        case,
        actor,
        Transition.ESCALATE,
        target=partner.escalation_target,
        vehicle=support_vehicle,
        severity=severity,
        support_request_number=support_request_number.strip(),
    )
    case.escalation_target = partner.escalation_target
    case.support_vehicle = support_vehicle
    case.escalation_severity = severity
    case.support_request_number = support_request_number.strip()
    # The partner's own contact goes on an escalation, never the customer's.
    case.escalation_contact_name = partner.support_contact_name
    case.escalation_contact_email = partner.support_contact_email
    case.escalation_contact_phone = partner.support_contact_phone
    case.escalated_at = timezone.now()
    _save_timed(case)
    webhooks.case_escalated(case, actor)
    return case


def _free_external_reference(partner: Partner, reference: str, case: Case | None = None) -> str:
    """The reference, stripped, if no other case of the partner has it (the constraint is the last word)."""
    reference = reference.strip()
    taken = Case.objects.for_partner(partner).filter(external_reference=reference)
    if reference and taken.exclude(pk=case.pk if case else None).exists():
        message = _("Another case already has this external reference.")
        raise ValidationError({"external_reference": [ValidationError(message, code="taken")]})
    return reference


@transaction.atomic
def case_set_external_reference(*, case: Case, actor: Membership, external_reference: str) -> Case:
    """Record the ticket id the partner's own tool gave the case (empty to remove it)."""
    _authorize(actor, Action.COMMENT, case.partner)
    case = _locked(case)
    case.external_reference = _free_external_reference(case.partner, external_reference, case)
    _save_external_reference(case, external_reference, update_fields=["external_reference", "updated_at"])
    return case


def _save_external_reference(case: Case, reference: str, **save: Any) -> None:
    """Save the case; when another case took the same reference in the same moment (the constraint says
    so), the field error the check gives, not a server error."""
    try:
        with transaction.atomic():
            case.save(**save)
    except IntegrityError:
        if case.external_reference:
            _free_external_reference(case.partner, reference, case if case.pk else None)
        raise


@transaction.atomic
def case_record_support_request(*, case: Case, actor: Membership, support_request_number: str) -> Case:
    """Record the support request number Microsoft or 21Vianet gave the escalation."""
    _authorize(actor, Action.ESCALATE, case.partner)
    case = _locked(case)
    number = support_request_number.strip()
    if not number:
        raise CaseActionError(_("Enter the support request number."), code="required")
    if not case.escalation_target:
        raise CaseActionError(_("Only an escalated case has a support request number."), code="not_escalated")
    case.support_request_number = number
    case.save()
    _event(case, actor, EventKind.SUPPORT_REQUEST, support_request_number=number)
    return case


@transaction.atomic
def case_request_info(*, case: Case, actor: Membership, message: str = "") -> Case:
    """Record that Microsoft or 21Vianet asked the partner for more information."""
    _authorize(actor, Action.ESCALATE, case.partner)
    case = _locked(case)
    _move(case, actor, Transition.REQUEST_INFO, message=message.strip())
    _save_timed(case)
    return case


@transaction.atomic
def case_provide_info(*, case: Case, actor: Membership, message: str = "") -> Case:
    """Record that the partner answered the escalation target's request."""
    _authorize(actor, Action.ESCALATE, case.partner)
    case = _locked(case)
    _move(case, actor, Transition.PROVIDE_INFO, message=message.strip())
    _save_timed(case)
    return case


@transaction.atomic
def case_resolve(
    *,
    case: Case,
    actor: Membership,
    resolution_summary: str,
    outcome: str = "",
    credit_amount: Decimal | None = None,
) -> Case:
    """Resolve with a summary (and, for disputes, the outcome); the customer's notification becomes due."""
    _authorize(actor, Action.RESOLVE, case.partner)
    case = _locked(case)
    _check_move(case, Transition.RESOLVE)
    summary = resolution_summary.strip()
    errors: dict[str, list[ValidationError]] = {}
    if not summary:
        errors["resolution_summary"] = [ValidationError(_("Write what was resolved."), code="required")]
    if case.category == Category.BILLING_DISPUTE and outcome not in (Outcome.CREDIT, Outcome.UPHELD):
        errors["outcome"] = [
            ValidationError(_("Say whether a credit was granted or the charge upheld."), code="required")
        ]
    if outcome and outcome not in Outcome.values:
        errors["outcome"] = [ValidationError(_("Choose an outcome."), code="invalid")]
    if outcome == Outcome.CREDIT:
        if credit_amount is None or credit_amount <= 0:
            errors["credit_amount"] = [ValidationError(_("Enter the credit granted."), code="required")]
        elif case.disputed_amount is not None and credit_amount > case.disputed_amount:
            errors["credit_amount"] = [
                ValidationError(_("The credit cannot exceed the disputed amount."), code="too_large")
            ]
    elif credit_amount is not None:
        errors["credit_amount"] = [
            ValidationError(_("A credit amount goes with a granted credit."), code="unexpected")
        ]
    if errors:
        raise ValidationError(errors)

    _move(
        case,
        actor,
        Transition.RESOLVE,
        message=summary,
        outcome=outcome,
        credit_amount=str(credit_amount or ""),
    )
    now = timezone.now()
    case.resolution_summary = summary
    case.outcome = outcome
    case.credit_amount = credit_amount
    case.resolution_round += 1
    case.resolved_at = now
    case.resolved_by = actor.user
    case.loop_closed_at = None
    case.first_response_at = case.first_response_at or now
    _save_timed(case)
    notification = _notify(
        case,
        kind=NotificationKind.RESOLUTION,
        recipient=case.customer.billing_contact_email,
        language=case.customer.preferred_language,
    )
    _event(
        case,
        actor,
        EventKind.NOTIFICATION,
        **event_says("resolution_email_due", recipient=notification.recipient),
        notification=notification.pk,
    )
    return case


@transaction.atomic
def case_mark_customer_informed(*, case: Case, actor: Membership, note: str) -> Case:
    """Record that the partner told the customer about the resolution itself: the loop is closed."""
    _authorize(actor, Action.RESOLVE, case.partner)
    case = _locked(case)
    if case.status != Status.RESOLVED:
        raise CaseActionError(_("Only a resolved case can close the loop."), code="not_resolved")
    if not note.strip():
        raise CaseActionError(_("Say how the customer was informed."), code="required")
    case.loop_closed_at = timezone.now()
    case.save()
    _event(case, actor, EventKind.CUSTOMER_INFORMED, message=note.strip())
    return case


@transaction.atomic
def case_close(*, case: Case, actor: Membership) -> Case:
    """Close a resolved case once the loop with the customer is closed."""
    _authorize(actor, Action.RESOLVE, case.partner)
    case = _locked(case)
    if case.status == Status.RESOLVED and case.loop_closed_at is None:
        raise CaseActionError(
            _(
                "Close the loop with the customer first: wait for their answer "
                "or record how you informed them."
            ),
            code="loop_open",
        )
    _move(case, actor, Transition.CLOSE)
    case.closed_at = timezone.now()
    _save_timed(case)
    return case


@transaction.atomic
def case_reopen(*, case: Case, actor: Membership, reason: str) -> Case:
    """Reopen a resolved or closed case; it returns to the partner's queue."""
    _authorize(actor, Action.REOPEN, case.partner)
    case = _locked(case)
    _check_move(case, Transition.REOPEN)
    if not reason.strip():
        raise CaseActionError(_("Say why the case is reopened."), code="required")
    _move(case, actor, Transition.REOPEN, message=reason.strip())
    case.closed_at = None
    case.loop_closed_at = None
    _save_timed(case)
    return case


@transaction.atomic
def case_comment(*, case: Case, actor: Membership, message: str) -> CaseEvent:
    """Add an internal note to the case's timeline."""
    _authorize(actor, Action.COMMENT, case.partner)
    case = _locked(case)
    if not message.strip():
        raise CaseActionError(_("Write a note first."), code="required")
    case.save(update_fields=["updated_at"])
    event = _event(case, actor, EventKind.COMMENT, message=message.strip())
    webhooks.case_commented(case, event)
    return event


@transaction.atomic
def case_message_customer(
    *, case: Case, actor: Membership, message: str, wait_for_answer: bool = False
) -> CaseEvent:
    """Write to the customer from the case: an outgoing message on the timeline and its e-mail in the outbox,
    to the billing contact in the customer's language, threaded into the case's conversation. With
    wait_for_answer, the service-level clock pauses until the customer answers (or the case moves on)."""
    _authorize(actor, Action.COMMENT, case.partner)
    case = _locked(case)
    message = message.strip()
    if not message:
        raise CaseActionError(_("Write the message first."), code="required")
    if len(message) > MESSAGE_MAX_LENGTH:
        raise CaseActionError(
            _("The message is too long: at most %(limit)d characters.") % {"limit": MESSAGE_MAX_LENGTH},
            code="max_length",
        )
    customer = case.customer
    if not customer.billing_contact_email:
        raise CaseActionError(_("The customer has no billing contact e-mail address."), code="no_recipient")
    case.save(update_fields=["updated_at"])
    event = _event(
        case, actor, EventKind.PARTNER_MESSAGE, message=message, recipient=customer.billing_contact_email
    )
    # One e-mail per message: its round is the event's id (the outbox keeps one row per case, kind, round and
    # recipient), so the e-mail finds its words on the timeline.
    notification = _notify(
        case,
        kind=NotificationKind.PARTNER_MESSAGE,
        recipient=customer.billing_contact_email,
        language=customer.preferred_language,
        round=event.pk,
    )
    event.data["notification"] = notification.pk
    event.save(update_fields=["data"])
    if wait_for_answer and case.is_open and case.status != Status.INFO_REQUESTED:
        servicelevels.clock_pause(case, reason="customer", actor=actor.user)
        _save_timed(case)
    return event


MESSAGE_MAX_LENGTH = 10_000


def case_attach(*, case: Case, actor: Membership, upload: UploadedFile) -> Attachment:
    """Attach evidence after checking its size and its real type (the file goes if the transaction does)."""
    _authorize(actor, Action.COMMENT, case.partner)
    kind = inspect_upload(upload)
    with evidence_or_nothing() as stored:
        case = _locked(case)
        attachment = _save_evidence(case, actor, upload, kind, stored)
        case.save(update_fields=["updated_at"])
    return attachment


# --- Subscriptions -----------------------------------------------------------------------------


@transaction.atomic
def subscription_suspend(*, subscription: Subscription, actor: Membership, reason: str) -> Subscription:
    """Suspend a customer's subscription for non-payment; a reason is required."""
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer__partner")
        .get(pk=subscription.pk)
    )
    _authorize(actor, Action.SUSPEND, subscription.customer.partner)
    if not reason.strip():
        raise ValidationError(
            {"reason": [ValidationError(_("Give the reason for the suspension."), code="required")]}
        )
    if subscription.status == SubscriptionStatus.SUSPENDED:
        raise CaseActionError(_("The subscription is already suspended."), code="already_suspended")
    return _set_subscription_status(subscription, actor, SubscriptionStatus.SUSPENDED, reason.strip())


@transaction.atomic
def subscription_reactivate(
    *, subscription: Subscription, actor: Membership, reason: str = ""
) -> Subscription:
    """Reactivate a suspended subscription, typically once paid."""
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer__partner")
        .get(pk=subscription.pk)
    )
    _authorize(actor, Action.SUSPEND, subscription.customer.partner)
    if subscription.status == SubscriptionStatus.ACTIVE:
        raise CaseActionError(_("The subscription is already active."), code="already_active")
    return _set_subscription_status(subscription, actor, SubscriptionStatus.ACTIVE, reason.strip())


def _set_subscription_status(
    subscription: Subscription, actor: Membership, status: str, reason: str
) -> Subscription:
    now = timezone.now()
    subscription.status = status
    subscription.status_reason = reason
    subscription.status_since = now
    subscription.status_changed_by = actor.user
    subscription.save()
    SubscriptionEvent.objects.create(
        subscription=subscription, status=status, reason=reason, actor=actor.user, created_at=now
    )
    audit.record(
        AuditAction.SUBSCRIPTION_SUSPENDED
        if status == SubscriptionStatus.SUSPENDED
        else AuditAction.SUBSCRIPTION_REACTIVATED,
        actor=actor.user,
        partner=subscription.customer.partner,
        obj=subscription,
        after={"status": status, "reason": reason},
    )
    return subscription


# --- Partner users -----------------------------------------------------------------------------
# A User admin manages users, but must not make itself (or an accomplice) Global admin, nor lock the partner's
# Global admins out: the role that can do everything is granted and taken away by Global admins only.


def _clean_roles(roles: list[str]) -> list[str]:
    cleaned = [role for role in Role.values if role in set(roles)]
    if not cleaned or len(cleaned) != len(set(roles)):
        raise ValidationError({"roles": [ValidationError(_("Choose at least one role."), code="required")]})
    return cleaned


def _require_global_admin(actor: Membership, message: str) -> None:
    if Role.GLOBAL_ADMIN not in actor.roles:
        raise PermissionDenied(message)


def _lock_team(partner_id: int) -> None:
    """Lock every membership of the partner, always in the same order, so two changes cannot deadlock.

    Every change of roles or activation takes these locks before it reads the team, so it sees what the change
    before it committed: two Global admins demoting each other at once are served one after the other, and the
    second is no longer a Global admin when its turn comes.
    """
    list(
        Membership.objects.select_for_update()
        .filter(partner_id=partner_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _locked_pair(actor: Membership, membership: Membership) -> tuple[Membership, Membership]:
    """Lock the team, then re-read the actor and the member and check the actor again with current data."""
    _authorize(actor, Action.MANAGE_USERS, membership.partner)
    _lock_team(membership.partner_id)
    rows = Membership.objects.select_related("user", "partner").in_bulk([actor.pk, membership.pk])
    actor, membership = rows[actor.pk], rows[membership.pk]
    _authorize(actor, Action.MANAGE_USERS, membership.partner)
    return actor, membership


def _active_global_admins(partner_id: int) -> set[int]:
    """The memberships of the partner's active Global admins (read with the team locked)."""
    rows = Membership.objects.filter(partner_id=partner_id, user__is_active=True).values_list("pk", "roles")
    return {pk for pk, roles in rows if Role.GLOBAL_ADMIN in roles}


def _keep_a_global_admin(membership: Membership) -> None:
    """Refuse to take the last active Global admin away from the partner (with the team locked)."""
    if membership.user.is_active and _active_global_admins(membership.partner_id) <= {membership.pk}:
        raise CaseActionError(_last_global_admin(), code="last_global_admin")


def _last_global_admin() -> str:
    return _("Every partner needs an active Global admin: make someone else Global admin first.")


@transaction.atomic
def member_invite(
    *, actor: Membership, email: str, full_name: str, roles: list[str], request: Any = None
) -> Membership:
    """Create a partner user with these roles and e-mail them a link to choose a password."""
    _authorize(actor, Action.MANAGE_USERS, actor.partner)
    if Role.GLOBAL_ADMIN in roles:
        _require_global_admin(actor, _("Only a Global admin can grant or remove the Global admin role."))
    user_model = get_user_model()
    email = email.strip().lower()
    if user_model.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            {"email": [ValidationError(_("Someone already uses this e-mail address."), code="taken")]}
        )
    language = translation.get_language()
    user = user_model.objects.create_user(
        email=email,
        password=None,
        full_name=full_name.strip(),
        # The inviter's language is the best first guess for the e-mails the new colleague receives.
        language=language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE,
    )
    membership = Membership.objects.create(
        user=user, partner=actor.partner, roles=_clean_roles(roles), invited_by=actor.user
    )
    transaction.on_commit(lambda: send_invitation(user=user, partner=actor.partner, inviter=actor.user))
    audit.record(
        AuditAction.MEMBER_INVITED, actor=actor.user, partner=actor.partner, obj=user, after={"roles": roles}
    )
    return membership


@transaction.atomic
def member_set_roles(*, actor: Membership, membership: Membership, roles: list[str]) -> Membership:
    """Change a colleague's roles; only a Global admin grants or removes Global admin, nobody their own."""
    roles = _clean_roles(roles)
    actor, membership = _locked_pair(actor, membership)
    if membership.pk == actor.pk:
        raise CaseActionError(_("You cannot change your own roles."), code="self")
    if (Role.GLOBAL_ADMIN in roles) != (Role.GLOBAL_ADMIN in membership.roles):
        _require_global_admin(actor, _("Only a Global admin can grant or remove the Global admin role."))
        if Role.GLOBAL_ADMIN not in roles:
            _keep_a_global_admin(membership)
    before = list(membership.roles)
    membership.roles = roles
    membership.save(update_fields=["roles"])
    audit.record(
        AuditAction.ROLES_CHANGED,
        actor=actor.user,
        partner=membership.partner,
        obj=membership.user,
        before={"roles": before},
        after={"roles": roles},
    )
    return membership


@transaction.atomic
def member_set_active(*, actor: Membership, membership: Membership, active: bool) -> Membership:
    """Deactivate (or reactivate) a colleague: not oneself, and a Global admin only as a Global admin."""
    actor, membership = _locked_pair(actor, membership)
    if membership.user_id == actor.user_id and not active:
        raise CaseActionError(_("You cannot deactivate your own account."), code="self")
    if Role.GLOBAL_ADMIN in membership.roles:
        _require_global_admin(actor, _("Only a Global admin can deactivate or reactivate a Global admin."))
        if not active:
            _keep_a_global_admin(membership)
    user = membership.user
    was_active = user.is_active
    user.is_active = active
    user.save(update_fields=["is_active"])
    if was_active != active:
        audit.record(
            AuditAction.MEMBER_REACTIVATED if active else AuditAction.MEMBER_DEACTIVATED,
            actor=actor.user,
            partner=membership.partner,
            obj=user,
            before={"active": was_active},
            after={"active": active},
        )
    return membership


@transaction.atomic
def member_reset_mfa(*, actor: Membership, membership: Membership) -> Membership:
    """Remove a colleague's second factors (a lost phone): their sessions end, and they sign in with the
    password and set up an app again. Not one's own (the security page does that), and a Global admin's only
    as a Global admin."""
    from portal import mfa

    actor, membership = _locked_pair(actor, membership)
    if membership.user_id == actor.user_id:
        raise CaseActionError(_("Reset your own two-step sign-in on the Two-step sign-in page."), code="self")
    if Role.GLOBAL_ADMIN in membership.roles:
        _require_global_admin(actor, _("Only a Global admin can reset a Global admin's two-step sign-in."))
    mfa.remove_factors(membership.user)
    audit.record(AuditAction.MFA_RESET, actor=actor.user, partner=membership.partner, obj=membership.user)
    return membership


def team_check_global_admin_kept(*, partner: Partner, members: Iterable[tuple[Any, Iterable[str]]]) -> None:
    """Refuse (ValidationError) a new make-up of a partner's team, saved at once in Django admin, that leaves
    no active Global admin where there is one now. members: (user, roles) of every membership that remains.

    Call it inside the transaction that saves the team: the team stays locked until then.
    """
    _lock_team(partner.pk)
    if not _active_global_admins(partner.pk):
        return  # a partner being set up: nobody to protect yet
    global_admins = {user.pk for user, roles in members if user is not None and Role.GLOBAL_ADMIN in roles}
    if not get_user_model().objects.filter(pk__in=global_admins, is_active=True).exists():
        raise ValidationError(_last_global_admin(), code="last_global_admin")


# --- Notifications (the outbox) -------------------------------------------------------------------------


def enqueue_notification(notification_id: int) -> None:
    """Hand a committed notification to Celery (a deliver_outbox run sends it); if the broker or the cache is
    down, the row stays pending for the sweep."""
    from cases.tasks import request_delivery

    try:
        request_delivery()
    except Exception:  # broker unreachable, or an eager run that failed: the sweep sends it later
        logger.warning(
            "could not queue notification %s; the sweep will retry", notification_id, exc_info=True
        )


def _notify(
    case: Case, *, kind: str, recipient: str, language: str, round: int | None = None, **defaults: Any
) -> Notification:
    notification, _created = Notification.objects.get_or_create(
        case=case,
        kind=kind,
        round=case.resolution_round if round is None else round,
        recipient=recipient,
        defaults={"language": language, **defaults},
    )
    transaction.on_commit(lambda: enqueue_notification(notification.pk))
    return notification


def _partner_recipient(case: Case) -> tuple[str, str]:
    """Partner-side notices go to the assignee, else to the partner's support contact."""
    if case.assignee and case.assignee.is_active:
        return case.assignee.email, case.assignee.language
    return case.partner.support_contact_email, "en"


def _past_lease(now: datetime.datetime) -> Q:
    """Claimed for sending longer ago than the lease: the run that claimed it died."""
    lease = datetime.timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)
    return Q(status=NotificationStatus.SENDING, claimed_at__lt=now - lease)


def notification_claim(*, notification_id: int, now: datetime.datetime | None = None) -> Notification | None:
    """Take a notification for sending, or None if another run has it or it is done (safe to run twice)."""
    now = now or timezone.now()
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("case__partner", "case__customer", "case__assignee")
            .filter(pk=notification_id)
            .filter(Q(status=NotificationStatus.PENDING) | _past_lease(now))
            .first()
        )
        if notification is None:
            return None
        notification.status = NotificationStatus.SENDING
        notification.claimed_at = now
        notification.attempts += 1
        notification.save(update_fields=["status", "claimed_at", "attempts", "updated_at"])
    return notification


def notifications_claim_due(*, limit: int, now: datetime.datetime | None = None) -> list[Notification]:
    """Take up to limit notifications that are due for sending, skipping any another run holds.

    Due: pending and not waiting for a retry, or sending past the lease (a run that died). Each is claimed as
    notification_claim claims one; the rows come back ready to be built into e-mails.
    """
    now = now or timezone.now()
    due = Q(status=NotificationStatus.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    ) | _past_lease(now)
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(due)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Notification.objects.filter(pk__in=ids).update(
            status=NotificationStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
        )
    return list(
        Notification.objects.filter(pk__in=ids)
        .select_related("case__partner", "case__customer", "case__assignee")
        .order_by("pk")
    )


def notifications_release(notifications: list[Notification]) -> None:
    """Put claimed notifications back unattempted (a run stopped before it came to them)."""
    Notification.objects.filter(
        pk__in=[notification.pk for notification in notifications], status=NotificationStatus.SENDING
    ).update(
        status=NotificationStatus.PENDING,
        claimed_at=None,
        attempts=F("attempts") - 1,
        updated_at=timezone.now(),
    )


def notification_mark_sent(*, notification: Notification, message_id: str) -> None:
    """Record a delivery the mail server accepted."""
    now = timezone.now()
    Notification.objects.filter(pk=notification.pk).exclude(status=NotificationStatus.SENT).update(
        status=NotificationStatus.SENT, sent_at=now, message_id=message_id, last_error="", updated_at=now
    )


def notification_mark_retry(*, notification: Notification, error: str, delay: float) -> datetime.datetime:
    """Put a transiently failed notification back in the queue for a later attempt."""
    now = timezone.now()
    due = now + datetime.timedelta(seconds=delay)
    Notification.objects.filter(pk=notification.pk, status=NotificationStatus.SENDING).update(
        status=NotificationStatus.PENDING, last_error=error[:2000], next_attempt_at=due, updated_at=now
    )
    return due


@transaction.atomic
def notification_mark_failed(*, notification: Notification, error: str) -> None:
    """Give up on a notification; the case shows it, and the partner hears of a failed customer e-mail."""
    updated = (
        Notification.objects.filter(pk=notification.pk)
        .exclude(status=NotificationStatus.SENT)
        .update(status=NotificationStatus.FAILED, last_error=error[:2000], updated_at=timezone.now())
    )
    if not updated:
        return
    _record_failure(notification, error)


@transaction.atomic
def notification_bounced(*, notification: Notification, error: str) -> bool:
    """A delivery failure report for an e-mail the mail server had accepted: it failed after all, as a
    refused one does (the case shows it, the partner hears of it). False if it was failed already."""
    updated = (
        Notification.objects.filter(pk=notification.pk)
        .exclude(status=NotificationStatus.FAILED)
        .update(status=NotificationStatus.FAILED, last_error=error[:2000], updated_at=timezone.now())
    )
    if updated:
        _record_failure(notification, error)
    return bool(updated)


def _record_failure(notification: Notification, error: str) -> None:
    case = Case.objects.select_related("partner", "assignee").get(pk=notification.case_id)
    _event(
        case,
        None,
        EventKind.NOTIFICATION,
        **event_says("email_failed", recipient=notification.recipient, error=error[:500]),
        notification=notification.pk,
    )
    webhooks.notification_failed(notification, case, error)
    if notification.kind == NotificationKind.RESOLUTION:
        recipient, language = _partner_recipient(case)
        _notify(
            case,
            kind=NotificationKind.FAILED,
            recipient=recipient,
            language=language,
            round=notification.round,
        )


@transaction.atomic
def notification_resend(*, notification: Notification, actor: Membership) -> Notification:
    """Send a failed notification again (the partner's "send again")."""
    _authorize(actor, Action.RESOLVE, notification.case.partner)
    notification = Notification.objects.select_for_update().get(pk=notification.pk)
    if notification.status != NotificationStatus.FAILED:
        raise CaseActionError(_("Only a failed e-mail can be sent again."), code="not_failed")
    notification.status = NotificationStatus.PENDING
    notification.attempts = 0
    notification.next_attempt_at = None
    notification.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
    _event(
        notification.case,
        actor,
        EventKind.NOTIFICATION,
        **event_says("email_queued_again", recipient=notification.recipient),
        notification=notification.pk,
    )
    transaction.on_commit(lambda: enqueue_notification(notification.pk))
    return notification


def notifications_due(*, now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of notifications a lost message left behind: pending past due, or sending past the lease."""
    now = now or timezone.now()
    grace = datetime.timedelta(seconds=settings.NOTIFICATION_PENDING_GRACE_SECONDS)
    pending = Q(status=NotificationStatus.PENDING) & (
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, updated_at__lte=now - grace)
    )
    stuck = _past_lease(now)
    return list(
        Notification.objects.filter(pending | stuck).order_by("pk").values_list("pk", flat=True)[:limit]
    )


# --- The customer's answer ------------------------------------------------------------------------


class StaleAnswer(CaseActionError):
    """The case moved on since the e-mail was sent; the answer no longer applies."""


def answer_applies(notification: Notification, case: Case | None = None) -> bool:
    """Whether the case is still as the resolution e-mail left it (same round, resolved or closed)."""
    case = case or notification.case
    return case.resolution_round == notification.round and case.status in (Status.RESOLVED, Status.CLOSED)


@transaction.atomic
def customer_answer(
    *, notification: Notification, answer: str, comment: str = "", rating: int | None = None
) -> CustomerAnswer:
    """Record the customer's answer: "resolved" closes the loop and the case, "not resolved" reopens it."""
    notification = Notification.objects.select_for_update().get(pk=notification.pk)
    if CustomerAnswer.objects.filter(notification=notification).exists():
        raise CaseActionError(_("This link has already been used."), code="used")
    case = _locked(notification.case)
    if not answer_applies(notification, case):
        raise StaleAnswer(_("This case has changed since the e-mail was sent."), code="stale")
    errors: dict[str, list[ValidationError]] = {}
    if answer not in Answer.values:
        errors["answer"] = [ValidationError(_("Choose an answer."), code="required")]
    if answer == Answer.NOT_RESOLVED and not comment.strip():
        errors["comment"] = [ValidationError(_("Tell us what is still wrong."), code="required")]
    if rating is not None and not 1 <= rating <= 5:
        errors["rating"] = [ValidationError(_("Rate from 1 to 5."), code="invalid")]
    if errors:
        raise ValidationError(errors)

    record = CustomerAnswer.objects.create(
        notification=notification, case=case, answer=answer, comment=comment.strip(), rating=rating
    )
    _event(
        case,
        None,
        EventKind.CUSTOMER_ANSWERED,
        message=comment.strip(),
        answer=answer,
        rating=rating,
    )
    webhooks.customer_answered(case, channel="link", answer=answer, rating=rating, message=comment.strip())
    if answer == Answer.RESOLVED:
        case.loop_closed_at = case.loop_closed_at or timezone.now()
        if case.status == Status.RESOLVED:
            _move(
                case,
                None,
                Transition.CLOSE,
                **event_says("loop_closed"),
            )
            case.closed_at = timezone.now()
        _save_timed(case)
    else:
        _reopen_for_customer(case, message=comment.strip())
        recipient, language = _partner_recipient(case)
        _notify(case, kind=NotificationKind.REOPENED, recipient=recipient, language=language)
    return record


def _reopen_for_customer(case: Case, *, message: str = "", **data: Any) -> None:
    """The customer says the resolution did not hold (the answer link's "not resolved", a reply by e-mail):
    the locked case goes back into the partner's queue."""
    _move(case, None, Transition.REOPEN, message=message, **data)
    case.closed_at = None
    case.loop_closed_at = None
    _save_timed(case)


# --- The customer's e-mail (cases/inbound.py stores and threads it; this is what it does to the case) -----


def case_customer_message(
    *,
    case: Case,
    inbound: InboundEmail,
    attachments: Iterable[UploadedFile] = (),
    actor: Membership | None = None,
) -> tuple[Case, list[dict[str, Any]]]:
    """Add a customer's e-mail to its case: a customer message on the timeline, its attachments as evidence
    and a notice to the assignee; a resolved case reopens, a closed one gets a follow-up case instead.

    actor: the partner user who accepted a message from an unverified sender (None: the sender is known).
    Returns the case the message landed on and the attachments refused as evidence, with why.
    """
    with evidence_or_nothing() as stored:
        if actor is not None:
            _authorize(actor, Action.COMMENT, case.partner)
        case = _locked(case)
        while case.status == Status.CLOSED and (newest := case.follow_ups.order_by("-pk").first()):
            case = _locked(newest)  # the customer answers an old thread: the latest follow-up hears of it
        if case.status == Status.CLOSED:
            case = _follow_up(case, inbound)
        accepted = {"accepted_by": actor.user.email} if actor else {}
        _event(
            case,
            None,
            EventKind.CUSTOMER_MESSAGE,
            message=inbound.reply or inbound.text,
            inbound=inbound.pk,
            sender=inbound.sender,
            **accepted,
        )
        webhooks.customer_answered(case, channel="email", message=inbound.reply or inbound.text)
        if case.status == Status.RESOLVED:
            _reopen_for_customer(case, **event_says("reopened_by_email"), inbound=inbound.pk)
        elif case.clock_paused_at is not None and case.status != Status.INFO_REQUESTED:
            servicelevels.clock_resume(case)  # the customer answered: the wait on them is over
            _save_timed(case)
        else:
            case.save(update_fields=["updated_at"])
        refused = [_email_evidence(case, inbound, upload, stored) for upload in attachments]
        recipient, language = _partner_recipient(case)
        # One notice per message: its round is the message's id (the outbox keeps one row per case, kind,
        # round and recipient).
        _notify(
            case,
            kind=NotificationKind.CUSTOMER_MESSAGE,
            recipient=recipient,
            language=language,
            round=inbound.pk,
            inbound=inbound,
        )
    return case, [refusal for refusal in refused if refusal]


def _follow_up(closed: Case, inbound: InboundEmail) -> Case:
    """A new case for the customer's e-mail about a closed one, with the same customer, dispute and people."""
    now = timezone.now()
    assignee = closed.assignee
    if (
        assignee is not None
        and not Membership.objects.for_partner(closed.partner).active().filter(user=assignee).exists()
    ):
        assignee = None
    case = Case(
        partner=closed.partner,
        customer=closed.customer,
        subscription=closed.subscription,
        category=closed.category,
        title=closed.title,
        description=(inbound.reply or inbound.text or inbound.subject or closed.title)[:20000],
        invoice_number=closed.invoice_number,
        disputed_amount=closed.disputed_amount,
        currency=closed.currency,
        billing_period=closed.billing_period,
        severity=closed.severity,
        assignee=assignee,
        # Nobody at the partner opened it; the person who opened the case it follows stands for the partner.
        created_by_id=closed.created_by_id,
        created_at=now,
        first_response_due=now + RESPONSE_TARGETS[Severity(closed.severity)],
        follow_up_of=closed,
        number="pending",
    )
    case.full_clean(exclude=["number"])
    case.number = _allocate_number(closed.partner)
    servicelevels.refresh_due_times(case, clock=servicelevels.Clock([], None), sent=set())
    case.save()
    _event(
        case,
        None,
        EventKind.CREATED,
        **event_says("follow_up_of", number=closed.number),
        category=case.category,
        severity=case.severity,
        follow_up_of=closed.number,
        inbound=inbound.pk,
    )
    webhooks.case_created(case)
    _event(closed, None, EventKind.CUSTOMER_MESSAGE, **event_says("follow_up_opened", number=case.number))
    closed.save(update_fields=["updated_at"])
    return case


def _email_evidence(
    case: Case, inbound: InboundEmail, upload: UploadedFile, stored: list[str]
) -> dict[str, Any] | None:
    """Keep one attachment of the customer's e-mail as evidence after the uploads' checks; None when kept,
    else what the refusal says (in English, translated where shown: InboundEmail.attachment_refusals)."""
    name = clean_filename(upload.name or "")
    try:
        content_type, extension = inspect_upload(upload)
    except ValidationError as error:
        with translation.override("en"):
            message = str(error.message)
        return {"name": name, "code": error.code, "message": message, "params": error.params or {}}
    attachment = Attachment(
        case=case,
        original_name=name,
        content_type=content_type,
        extension=extension,
        size=upload.size,
        uploaded_by=None,
    )
    _store_file(attachment, upload, stored)
    attachment.save()
    _event(case, None, EventKind.ATTACHMENT, message=name, attachment=attachment.pk, inbound=inbound.pk)
    return None


# --- Service levels: warnings before and at a breach (cases/servicelevels.py keeps the due times) -----------


def service_checks_due(*, now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of the cases whose next service-level check has come (index case_service_check)."""
    return list(
        Case.objects.filter(service_check_at__lte=now or timezone.now())
        .order_by("service_check_at")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def case_check_service_levels(*, case_id: int, now: datetime.datetime | None = None) -> list[Notification]:
    """Warn the assignee (or the partner's support contact) of each running target of the case at 75 % of its
    time and at its breach, once per threshold, in their working hours unless the severity is A; then set the
    next check. Safe to run twice: a threshold already told is not told again."""
    now = now or timezone.now()
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("partner", "assignee")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        return []
    level = ServiceLevel.for_partner(case.partner)
    calendar = servicelevels.calendar_for(level)
    clock = servicelevels.read_clock(case)
    sent = servicelevels.sent_warnings(case)
    owed: list[tuple[str, int]] = []
    for target in servicelevels.targets(case, level, clock):
        if not target.running:
            continue
        round_ = servicelevels.warning_round(case, target.kind)
        if (NotificationKind.SLA_BREACH, round_) in sent:
            continue
        due = target.due(calendar, clock.pauses)
        warn = target.due(calendar, clock.pauses, servicelevels.WARN_AT)
        if due is not None and due <= now:
            owed.append((NotificationKind.SLA_BREACH, round_))
        elif warn is not None and warn <= now and (NotificationKind.SLA_WARNING, round_) not in sent:
            owed.append((NotificationKind.SLA_WARNING, round_))
    fields = servicelevels.refresh_due_times(case, level=level, calendar=calendar, clock=clock, sent=sent)
    if owed and case.severity != Severity.A and not servicelevels.is_working_time(level, now):
        # Outside the partner's working hours: the warnings wait for the next opening.
        case.service_check_at = servicelevels.next_working_time(level, now)
        case.save(update_fields=fields)
        return []
    recipient, language = _partner_recipient(case)
    notifications = [
        _notify(case, kind=kind, recipient=recipient, language=language, round=round_)
        for kind, round_ in owed
    ]
    fields = servicelevels.refresh_due_times(
        case, level=level, calendar=calendar, clock=clock, sent=sent | set(owed)
    )
    case.save(update_fields=fields)
    return notifications


@transaction.atomic
def service_level_update(*, actor: Membership | None, level: ServiceLevel) -> ServiceLevel:
    """Save a partner's calendar and targets (from its Global admin's settings page, or staff in admin) and
    recompute the due times of its open cases after commit."""
    if actor is not None:
        _authorize(actor, Action.SERVICE_LEVELS, level.partner)
    level.full_clean()
    level.save()
    partner_id = level.partner_id
    transaction.on_commit(lambda: _refresh_partner_later(partner_id))
    return level


def _refresh_partner_later(partner_id: int) -> None:
    from cases.tasks import refresh_partner_due_times

    try:
        refresh_partner_due_times.delay(partner_id)
    except Exception:  # broker unreachable: recompute now rather than leave stale due times
        logger.warning("could not queue the due-time refresh of partner %s; running it here", partner_id)
        servicelevels.partner_refresh_due_times(partner=Partner.objects.get(pk=partner_id))
