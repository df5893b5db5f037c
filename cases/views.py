"""Partner pages: dashboard, cases, customers and the partner's team. Thin: access, form, one service call."""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Avg, Count, Exists, F, OuterRef, Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases import charts, inbound, reports, services
from cases.access import get_for_partner, partner_view, require
from cases.forms import (
    AssignForm,
    AttachmentForm,
    AuditFilterForm,
    CaseFilterForm,
    CaseForm,
    CustomerAnswerForm,
    CustomerMessageForm,
    EscalateForm,
    InviteForm,
    NoteForm,
    OptionalNoteForm,
    ReactivateForm,
    ReportPeriodForm,
    ResolveForm,
    RolesForm,
    ServiceLevelForm,
    SupportRequestForm,
    SuspendForm,
    customer_currency,
    partner_currency,
    subscription_label,
    usual_currencies,
)
from cases.models import (
    AT_RISK_WITHIN,
    OPEN_STATUSES,
    WITH_TARGET_STATUSES,
    Answer,
    Attachment,
    Case,
    CaseEvent,
    Customer,
    CustomerAnswer,
    EventKind,
    InboundEmail,
    InboundStatus,
    Membership,
    Notification,
    NotificationKind,
    NotificationStatus,
    ServiceLevel,
    Status,
    Subscription,
    SubscriptionStatus,
    Transition,
    labels,
)
from cases.paging import CaseRowsPaginator
from cases.permissions import Action, Role, allowed_actions
from cases.servicelevels import CLOCK_EVENT_KINDS, public_holidays_ahead, read_clock
from cases.tokens import AnswerLinkError, read_token
from cases.uploads import download_response
from portal import audit
from portal.models import AuditAction, AuditEvent
from portal.storage import StorageUnavailable, upload_refused

PAGE_SIZE = 25


def _can(request: HttpRequest) -> frozenset[str]:
    return allowed_actions(request.membership.roles)


# --- Dashboard and list ----------------------------------------------------------------------------


@require_safe
@partner_view
def dashboard(request: HttpRequest) -> HttpResponse:
    require(request.membership, Action.VIEW)
    now = timezone.now()
    week_start = (now - datetime.timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    cases = Case.objects.for_partner(request.membership.partner)
    due_soon = now + AT_RISK_WITHIN  # as CaseQuerySet.at_risk
    # Two small index-only reads instead of one pass over every case of the partner: the open cases
    # (partner, status, next_due_at) give four counts, and (partner, resolved_at) the fifth. "At risk" reads
    # the stored due times of the running targets (cases/servicelevels.py): no arithmetic per row.
    # (Counting the status column, which the index holds, rather than the id, which it does not.)
    counts = cases.open().aggregate(
        open=Count("status"),
        escalated=Count("status", filter=Q(status__in=WITH_TARGET_STATUSES)),
        waiting=Count("status", filter=Q(status=Status.INFO_REQUESTED)),
        at_risk=Count("status", filter=Q(next_due_at__lte=due_soon)),
    )
    counts["resolved_week"] = cases.resolved_since(week_start).count()
    satisfaction = CustomerAnswer.objects.filter(
        case__partner=request.membership.partner,
        rating__isnull=False,
        created_at__gte=now - datetime.timedelta(days=90),
    ).aggregate(average=Avg("rating"), count=Count("pk"))
    mine = (
        cases.open().filter(assignee=request.user).order_by(F("next_due_at").asc(nulls_last=True)).rows()[:10]
    )
    at_risk = cases.at_risk(now).order_by("next_due_at").rows()[:10]
    return render(
        request,
        "cases/dashboard.html",
        {
            "counts": counts,
            "satisfaction": satisfaction,
            "mine": mine,
            "at_risk": at_risk,
            "can": _can(request),
            "now": now,
            "statuses": labels(Status),
        },
    )


def _filtered_cases(request: HttpRequest, form: CaseFilterForm):
    cases = Case.objects.for_partner(request.membership.partner)
    if form.is_bound:
        form.is_valid()  # fills cleaned_data with the filters that are valid
    # A bad value in one filter drops that filter only; the valid ones still apply.
    cleaned = getattr(form, "cleaned_data", {})
    data = {name: cleaned.get(name) or "" for name in form.fields}
    if data["q"]:
        q = data["q"]
        cases = cases.filter(
            Q(number__iexact=q) | Q(title__icontains=q) | Q(customer__company_name__icontains=q)
        )
    if data["status"] == "open":
        cases = cases.open()
    elif data["status"] == "with_target":
        cases = cases.escalated()
    elif data["status"]:
        cases = cases.filter(status=data["status"])
    if data["category"]:
        cases = cases.filter(category=data["category"])
    if data["customer"]:
        cases = cases.filter(customer=data["customer"])
    elif data["customer_name"]:  # typed without picking one (no JavaScript): every customer it names
        cases = cases.filter(customer__company_name__icontains=data["customer_name"])
    if data["assignee"]:
        cases = cases.filter(assignee=data["assignee"])
    if data["due"] == "at_risk":
        cases = cases.at_risk()
    elif data["due"] == "past_due":
        cases = cases.past_due()
    if data["escalated"] == "yes":
        cases = cases.exclude(escalation_target="")
    elif data["escalated"] == "no":
        cases = cases.filter(escalation_target="")
    return cases.order_by(*form.ordering())


@require_safe
@partner_view
def case_list(request: HttpRequest) -> HttpResponse:
    require(request.membership, Action.VIEW)
    form = CaseFilterForm(request.GET or None, partner=request.membership.partner)
    page = CaseRowsPaginator(_filtered_cases(request, form), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    picked = form.cleaned_data.get("customer") if form.is_bound else None
    return render(
        request,
        "cases/case_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can": _can(request),
            "statuses": labels(Status),
            "customer_name": picked.company_name if picked else form["customer_name"].value() or "",
        },
    )


# --- Creating and reading a case -------------------------------------------------------------------


@partner_view
def case_create(request: HttpRequest) -> HttpResponse:
    require(request.membership, Action.OPEN)
    partner = request.membership.partner
    status = 200
    if request.method != "POST":
        initial = {}
        customer_id = request.GET.get("customer", "")
        if customer_id.isascii() and customer_id.isdigit() and len(customer_id) <= 18:
            initial["customer"] = Customer.objects.for_partner(partner).filter(pk=customer_id).first()
        form = CaseForm(partner=partner, initial=initial)
    elif "refresh" in request.POST:  # without JavaScript: show the typed customer's subscriptions
        form = CaseForm(request.POST, partner=partner)
        form.refresh()
        if request.FILES:
            form.add_error("evidence", _("Choose the files again: a page shown again cannot keep them."))
    else:
        form = CaseForm(request.POST, request.FILES, partner=partner)
        if form.is_valid():
            try:
                case = services.case_create(actor=request.membership, **form.service_kwargs())
            except ValidationError as error:
                _add_errors(form, error)
            except services.CaseActionError as error:
                form.add_error(None, error.message)
            except StorageUnavailable:
                form.add_error("evidence", upload_refused())
                status = 503
            else:
                messages.success(request, _("Case %(number)s opened.") % {"number": case.number})
                return redirect(case)
    return render(request, "cases/case_form.html", {"form": form, "can": _can(request)}, status=status)


def _add_errors(form, error: ValidationError) -> None:
    """A service's ValidationError on the form: each field's on its field, the rest above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _detail_context(request: HttpRequest, case: Case, **forms: Any) -> dict[str, Any]:
    partner = request.membership.partner
    defaults = {
        "escalate_form": EscalateForm(partner=partner, initial={"severity": case.severity}),
        "resolve_form": ResolveForm(),
        "assign_form": AssignForm(partner=partner, initial={"assignee": case.assignee_id}),
        "support_request_form": SupportRequestForm(
            initial={"support_request_number": case.support_request_number}
        ),
        "comment_form": NoteForm(),
        "message_form": CustomerMessageForm(),
        "note_form": OptionalNoteForm(),
        "reason_form": NoteForm(),
        "attachment_form": AttachmentForm(),
    }
    defaults.update(forms)
    # The customer's answers come with the notifications they answer (one query for both).
    notifications = list(case.notifications.select_related("answer"))
    answered = [n.answer for n in notifications if hasattr(n, "answer")]  # none: RelatedObjectDoesNotExist
    answers = sorted(answered, key=lambda answer: answer.created_at, reverse=True)
    # Only the answers to the resolution the case shows; earlier rounds' answers stay on the timeline.
    current = [answer for answer in answers if answer.notification.round == case.resolution_round]
    events = _timeline(list(case.events.select_related("actor")), answers)
    # Whether the escalation target still owes its response, from the timeline already read (no query).
    clock = read_clock(case, [event for event in events if event.kind in CLOCK_EVENT_KINDS])
    return {
        "escalation_waiting": case.status == Status.ESCALATED and clock.escalation_answered_at is None,
        "case": case,
        "events": events,
        "attachments": case.attachments.all(),
        # The resolution's own e-mails; the conversation (customer and partner messages) is on the timeline.
        "notifications": [n for n in notifications if n.kind in RESOLUTION_LOOP_KINDS],
        "answers": current,
        "loop": _loop(case, current[0] if current else None),
        "reopened": _last_reopened(events),
        "answer_labels": labels(Answer),
        "unverified": (
            case.inbound_emails.filter(status=InboundStatus.UNVERIFIED).order_by("received_at")
            if getattr(case, "has_unverified", True)
            else []
        ),
        "notification_statuses": {n.pk: n.status for n in notifications},
        "notification_labels": labels(NotificationStatus),
        "transitions": services.available_transitions(case, request.membership),
        "statuses": labels(Status),
        "event_kinds": labels(EventKind),
        "can": _can(request),
        "now": timezone.now(),
        **defaults,
    }


def _timeline(events: list[CaseEvent], answers: list[CustomerAnswer]) -> list[CaseEvent]:
    """The events, with the customer's answer attached (event.answer) to the event it wrote and to the move it
    caused, so the page credits both to the address that answered instead of "the portal"."""
    # customer_answer writes one CUSTOMER_ANSWERED event per answer, then at once its move (close or
    # reopen), with the case locked: the n-th such event is the n-th answer, and the move is the next event.
    # A customer's e-mail reply that reopens the case is likewise followed at once by its move (event.sender).
    oldest_first = iter(sorted(answers, key=lambda answer: answer.created_at))
    last = None
    sender = None
    for event in events:
        event.answer = None
        event.sender = None
        if event.kind == EventKind.CUSTOMER_ANSWERED:
            event.answer = last = next(oldest_first, None)
            continue
        if event.kind == EventKind.CUSTOMER_MESSAGE:
            sender = event.data.get("sender")
            continue
        if event.actor_id is None and event.kind == EventKind.STATUS:
            if last is not None:
                event.answer = last
                # Its message repeats the customer's comment; the portal's own words (event.text) are kept.
                event.message = ""
            elif sender:
                event.sender = sender
        last = sender = None
    return events


# The notifications the resolution panel lists: the resolution e-mail and what its loop led to.
RESOLUTION_LOOP_KINDS = frozenset(
    {NotificationKind.RESOLUTION, NotificationKind.REOPENED, NotificationKind.FAILED}
)


def _last_reopened(events: list[CaseEvent]) -> CaseEvent | None:
    return next((e for e in reversed(events) if e.data.get("transition") == Transition.REOPEN), None)


def _loop(case: Case, answer: CustomerAnswer | None) -> str:
    """Where the loop with the customer stands for the resolution shown, given the latest answer to it."""
    if answer is not None and answer.answer == Answer.NOT_RESOLVED:
        return "not_resolved"
    if case.is_open:
        return "reopened"  # the partner reopened the case after this resolution
    if case.loop_closed_at and answer is not None:
        return "confirmed"
    if case.loop_closed_at:
        return "informed"  # the partner told the customer itself
    return "waiting"


def _case(request: HttpRequest, number: str) -> Case:
    """The member's case with what its page shows of its relations (customer, people, subscription)."""
    unverified = InboundEmail.objects.filter(case=OuterRef("pk"), status=InboundStatus.UNVERIFIED)
    cases = Case.objects.select_related("customer", "assignee", "subscription", "resolved_by").annotate(
        has_unverified=Exists(unverified)  # in the same query: the list is read only when there is one
    )
    case = get_for_partner(request.membership, cases, number=number)
    case.partner = request.membership.partner  # the same row, already read with the membership
    return case


@require_safe
@partner_view
def case_detail(request: HttpRequest, number: str) -> HttpResponse:
    require(request.membership, Action.VIEW)
    case = _case(request, number)
    return render(request, "cases/case_detail.html", _detail_context(request, case))


# --- Case actions (POST only) ----------------------------------------------------------------------


Done = Callable[[Any], str]  # what the service returned -> the success message, in the user's language


def _run(
    request: HttpRequest, case: Case, action, done: Done, form_name: str | None = None, form=None
) -> HttpResponse:
    """Call one service; on success say what was done, on refusal why, and on bad input re-render the page
    with the form's errors."""
    try:
        result = action()
    except services.CaseActionError as error:
        messages.error(request, error.message)
    except ValidationError as error:
        if form is None or form_name is None:
            messages.error(request, " ".join(error.messages))
        else:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            case.refresh_from_db()
            return _invalid(request, case, form_name, form)
    else:
        messages.success(request, done(result))
    return redirect(case)


def _invalid(request: HttpRequest, case: Case, name: str, form, *, status: int = 400) -> HttpResponse:
    messages.error(request, _("Please correct the errors below."))
    return render(
        request, "cases/case_detail.html", _detail_context(request, case, **{name: form}), status=status
    )


def _form_action(
    request: HttpRequest, number: str, form_name: str | None, make_form, call, done: Done
) -> HttpResponse:
    """The shape of every case action: load the case, validate the form, call one service, say what it did."""
    case = _case(request, number)
    form = make_form(request) if make_form else None
    if form is not None and not form.is_valid():
        return _invalid(request, case, form_name, form)
    data = form.cleaned_data if form is not None else {}
    return _run(request, case, lambda: call(case, request.membership, data), done, form_name, form)


def _escalate_form(request: HttpRequest) -> EscalateForm:
    return EscalateForm(request.POST, partner=request.membership.partner)


def _target(case: Case) -> str:
    return case.get_escalation_target_display()


# transition -> (form name on the page, form factory, service call, success message from the moved case)
TRANSITION_ACTIONS = {
    Transition.START: (
        None,
        None,
        lambda case, actor, data: services.case_start(case=case, actor=actor),
        lambda case: _("Work started on case %(number)s.") % {"number": case.number},
    ),
    Transition.ESCALATE: (
        "escalate_form",
        _escalate_form,
        lambda case, actor, data: services.case_escalate(case=case, actor=actor, **data),
        lambda case: _("Case %(number)s escalated to %(target)s.")
        % {"number": case.number, "target": _target(case)},
    ),
    Transition.REQUEST_INFO: (
        "note_form",
        lambda request: OptionalNoteForm(request.POST),
        lambda case, actor, data: services.case_request_info(case=case, actor=actor, message=data["message"]),
        lambda case: _("Recorded: %(target)s asked for information on case %(number)s.")
        % {"number": case.number, "target": _target(case)},
    ),
    Transition.PROVIDE_INFO: (
        "note_form",
        lambda request: OptionalNoteForm(request.POST),
        lambda case, actor, data: services.case_provide_info(case=case, actor=actor, message=data["message"]),
        lambda case: _("Case %(number)s is back with %(target)s.")
        % {"number": case.number, "target": _target(case)},
    ),
    Transition.RESOLVE: (
        "resolve_form",
        lambda request: ResolveForm(request.POST),
        lambda case, actor, data: services.case_resolve(case=case, actor=actor, **data),
        # case_resolve always queues the resolution e-mail to the customer's billing contact.
        lambda case: _("Case %(number)s resolved. The resolution e-mail to %(recipient)s is queued.")
        % {"number": case.number, "recipient": case.customer.billing_contact_email},
    ),
    Transition.CLOSE: (
        None,
        None,
        lambda case, actor, data: services.case_close(case=case, actor=actor),
        lambda case: _("Case %(number)s closed.") % {"number": case.number},
    ),
    Transition.REOPEN: (
        "reason_form",
        lambda request: NoteForm(request.POST),
        lambda case, actor, data: services.case_reopen(case=case, actor=actor, reason=data["message"]),
        lambda case: _("Case %(number)s reopened.") % {"number": case.number},
    ),
}


@require_POST
@partner_view
def case_transition(request: HttpRequest, number: str, transition: str) -> HttpResponse:
    if transition not in TRANSITION_ACTIONS:
        raise Http404
    form_name, make_form, call, done = TRANSITION_ACTIONS[transition]
    return _form_action(request, number, form_name, make_form, call, done)


@require_POST
@partner_view
def case_assign(request: HttpRequest, number: str) -> HttpResponse:
    return _form_action(
        request,
        number,
        "assign_form",
        lambda request: AssignForm(request.POST, partner=request.membership.partner),
        lambda case, actor, data: services.case_assign(case=case, actor=actor, assignee=data["assignee"]),
        lambda case: _("Case %(number)s assigned to %(name)s.")
        % {"number": case.number, "name": case.assignee.get_full_name()}
        if case.assignee
        else _("Case %(number)s no longer has an assignee.") % {"number": case.number},
    )


@require_POST
@partner_view
def case_support_request(request: HttpRequest, number: str) -> HttpResponse:
    return _form_action(
        request,
        number,
        "support_request_form",
        lambda request: SupportRequestForm(request.POST),
        lambda case, actor, data: services.case_record_support_request(case=case, actor=actor, **data),
        lambda case: _("Support request number %(support_request)s saved for case %(number)s.")
        % {"support_request": case.support_request_number, "number": case.number},
    )


@require_POST
@partner_view
def case_customer_informed(request: HttpRequest, number: str) -> HttpResponse:
    return _form_action(
        request,
        number,
        "reason_form",
        lambda request: NoteForm(request.POST),
        lambda case, actor, data: services.case_mark_customer_informed(
            case=case, actor=actor, note=data["message"]
        ),
        lambda case: _("The loop with the customer is closed."),
    )


@require_POST
@partner_view
def case_comment(request: HttpRequest, number: str) -> HttpResponse:
    return _form_action(
        request,
        number,
        "comment_form",
        lambda request: NoteForm(request.POST),
        lambda case, actor, data: services.case_comment(case=case, actor=actor, message=data["message"]),
        lambda event: _("Note added."),
    )


@require_POST
@partner_view
def case_message(request: HttpRequest, number: str) -> HttpResponse:
    """A partner user writes to the customer: the e-mail goes out through the outbox."""
    return _form_action(
        request,
        number,
        "message_form",
        lambda request: CustomerMessageForm(request.POST),
        lambda case, actor, data: services.case_message_customer(
            case=case, actor=actor, message=data["message"], wait_for_answer=data["wait_for_answer"]
        ),
        lambda event: _("Message to %(recipient)s queued.") % {"recipient": event.data["recipient"]},
    )


@require_POST
@partner_view
def inbound_accept(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    """Vouch for a message from an unverified sender: it then does what the customer's own would."""
    case = _case(request, number)
    unverified = get_for_partner(request.membership, InboundEmail, pk=pk, case=case)
    try:
        accepted = inbound.inbound_accept(inbound=unverified, actor=request.membership)
    except services.CaseActionError as error:
        messages.error(request, error.message)
        return redirect(case)
    done = _("The message from %(sender)s is added to the case.") % {"sender": unverified.sender}
    messages.success(request, done)
    return redirect(accepted.case)


@require_POST
@partner_view
def case_attach(request: HttpRequest, number: str) -> HttpResponse:
    case = _case(request, number)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        return _invalid(request, case, "attachment_form", form)
    try:
        services.case_attach(case=case, actor=request.membership, upload=form.cleaned_data["file"])
    except ValidationError as error:
        form.add_error("file", error)
        return _invalid(request, case, "attachment_form", form)
    except StorageUnavailable:
        form.add_error("file", upload_refused())
        return _invalid(request, case, "attachment_form", form, status=503)
    messages.success(request, _("Evidence attached."))
    return redirect(case)


@require_safe
@partner_view
def attachment_download(request: HttpRequest, number: str, pk: int) -> FileResponse:
    require(request.membership, Action.VIEW)
    attachment = get_for_partner(request.membership, Attachment, pk=pk, case__number=number)
    return download_response(attachment)


@require_safe
@partner_view
def inbound_email(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    """A customer's e-mail on the case as it came: what they wrote this time, the whole text, the evidence."""
    require(request.membership, Action.VIEW)
    inbound = get_for_partner(
        request.membership, InboundEmail.objects.select_related("case"), pk=pk, case__number=number
    )
    kept = CaseEvent.objects.filter(
        case_id=inbound.case_id, kind=EventKind.ATTACHMENT, data__inbound=inbound.pk
    ).values_list("data__attachment", flat=True)
    context = {
        "case": inbound.case,
        "inbound": inbound,
        "status": labels(InboundStatus)[inbound.status],
        "attachments": Attachment.objects.filter(case_id=inbound.case_id, pk__in=list(kept)),
    }
    return render(request, "cases/inbound_message.html", context)


# --- Customers -------------------------------------------------------------------------------------


@require_safe
@partner_view
def customer_list(request: HttpRequest) -> HttpResponse:
    require(request.membership, Action.VIEW)
    customers = (
        Customer.objects.for_partner(request.membership.partner)
        .order_by("company_name")
        .annotate(
            open_cases=Count("cases", filter=Q(cases__status__in=OPEN_STATUSES), distinct=True),
            suspended=Count(
                "subscriptions", filter=Q(subscriptions__status=SubscriptionStatus.SUSPENDED), distinct=True
            ),
        )
    )
    query = request.GET.get("q", "").strip()[:100]
    if query:
        customers = customers.search(query)
    page = Paginator(customers, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cases/customer_list.html", {"page": page, "query": query, "can": _can(request)})


CUSTOMER_SEARCH_LIMIT = 20


@require_safe
@partner_view
def customer_search(request: HttpRequest) -> JsonResponse:
    """The customer picker's suggestions: the partner's customers whose name or tenant contains q."""
    require(request.membership, Action.VIEW)
    query = request.GET.get("q", "").strip()[:100]
    customers = Customer.objects.for_partner(request.membership.partner).order_by("company_name", "pk")
    if query:
        customers = customers.search(query)
    results = [
        {"id": pk, "name": name, "tenant": tenant}
        for pk, name, tenant in customers.values_list("pk", "company_name", "tenant_domain")[
            :CUSTOMER_SEARCH_LIMIT
        ]
    ]
    return JsonResponse({"results": results}, json_dumps_params={"ensure_ascii": False})


@require_safe
@partner_view
def customer_subscriptions(request: HttpRequest, pk: int) -> JsonResponse:
    """The new-case form's choices for one customer: its subscriptions, and the currency to offer."""
    require(request.membership, Action.VIEW)
    customer = get_for_partner(request.membership, Customer.objects.only("pk", "partner_id"), pk=pk)
    subscriptions = customer.subscriptions.order_by("offer", "pk").only("pk", "offer", "quantity", "status")
    return JsonResponse(
        {
            "subscriptions": [
                {
                    "id": s.pk,
                    "label": subscription_label(s),
                    "suspended": s.status == SubscriptionStatus.SUSPENDED,
                }
                for s in subscriptions
            ],
            "currency": customer_currency(customer)
            or partner_currency(request.membership.partner, usual_currencies(request.membership.partner)),
        },
        json_dumps_params={"ensure_ascii": False},
    )


def _customer_context(request: HttpRequest, customer: Customer, **forms: Any) -> dict[str, Any]:
    return {
        "customer": customer,
        "partner": request.membership.partner,
        "subscriptions": customer.subscriptions.prefetch_related("events__actor"),
        "cases": customer.cases.order_by("-created_at", "-pk").rows()[:20],
        "statuses": labels(Status),
        "can": _can(request),
        "suspend_form": forms.get("suspend_form") or SuspendForm(),
        "blank_suspend_form": SuspendForm(),
        "reactivate_form": ReactivateForm(),
        "bad_subscription": forms.get("subscription"),
    }


@require_safe
@partner_view
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.membership, Action.VIEW)
    customer = get_for_partner(request.membership, Customer, pk=pk)
    return render(request, "cases/customer_detail.html", _customer_context(request, customer))


def _confirmed(request: HttpRequest) -> bool:
    """Only the confirmation page's own POST acts; a GET, or a POST without `confirm`, shows that page."""
    return request.method == "POST" and request.POST.get("confirm") == "1"


@require_http_methods(["GET", "POST"])
@partner_view
def subscription_status(request: HttpRequest, pk: int, subscription_pk: int, action: str) -> HttpResponse:
    customer = get_for_partner(request.membership, Customer, pk=pk)
    subscription = get_for_partner(request.membership, Subscription, pk=subscription_pk, customer=customer)
    if action not in ("suspend", "reactivate"):
        raise Http404
    require(request.membership, Action.SUSPEND)
    if action == "suspend":
        return _subscription_suspend(request, customer, subscription)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = ReactivateForm(request.POST)
    form.is_valid()
    return _subscription_change(
        request,
        customer,
        lambda: services.subscription_reactivate(
            subscription=subscription, actor=request.membership, reason=form.cleaned_data.get("reason", "")
        ),
        _("Subscription reactivated."),
    )


def _subscription_suspend(
    request: HttpRequest, customer: Customer, subscription: Subscription
) -> HttpResponse:
    """Suspend after a page that says what the portal records, and what it leaves to Partner Center."""
    form = SuspendForm(request.POST if request.method == "POST" else None)
    valid = form.is_valid()
    if valid and _confirmed(request):
        return _subscription_change(
            request,
            customer,
            lambda: services.subscription_suspend(
                subscription=subscription, actor=request.membership, reason=form.cleaned_data["reason"]
            ),
            _("Subscription suspended."),
        )
    if form.is_bound and not valid and not _confirmed(request):
        # Posted from the customer page without a reason: the error goes where the reason is typed.
        messages.error(request, _("Please correct the errors below."))
        context = _customer_context(request, customer, suspend_form=form, subscription=subscription)
        return render(request, "cases/customer_detail.html", context, status=400)
    context = {
        "customer": customer,
        "subscription": subscription,
        "partner": request.membership.partner,
        "form": form,
        "reason": form.cleaned_data["reason"] if valid else None,
    }
    return render(
        request, "cases/subscription_suspend_confirm.html", context, status=400 if form.errors else 200
    )


def _subscription_change(request: HttpRequest, customer: Customer, call, done: str) -> HttpResponse:
    try:
        call()
    except services.CaseActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect(customer)


# --- The partner's team ----------------------------------------------------------------------------


@partner_view
def team(request: HttpRequest) -> HttpResponse:
    require(request.membership, Action.VIEW)
    form = _invite_form(request, request.POST or None)
    if request.method == "POST":
        require(request.membership, Action.MANAGE_USERS)
        if form.is_valid():
            try:
                membership = services.member_invite(actor=request.membership, **form.cleaned_data)
            except PermissionDenied as error:
                form.add_error("roles", str(error))
                return _team_page(request, form, status=403)
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field, errors)
            else:
                messages.success(
                    request,
                    _("%(email)s was invited and will receive a link to choose a password.")
                    % {"email": membership.user.email},
                )
                return redirect("cases:team")
    return _team_page(request, form)


def _invite_form(request: HttpRequest, data: Any = None) -> InviteForm:
    locked = frozenset() if _is_global_admin(request) else frozenset({Role.GLOBAL_ADMIN})
    return InviteForm(data, locked_roles=locked)


def _is_global_admin(request: HttpRequest) -> bool:
    return Role.GLOBAL_ADMIN in request.membership.roles


def _team_page(request: HttpRequest, form: InviteForm, status: int = 200) -> HttpResponse:
    members = (
        Membership.objects.for_partner(request.membership.partner)
        .select_related("user")
        .annotate(has_mfa=Exists(TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True)))
        .order_by("user__email")
    )
    can = _can(request)
    return render(
        request,
        "cases/team.html",
        {
            "members": members,
            "form": form,
            "can_manage": Action.MANAGE_USERS in can,
            # The page offers only what the services allow; they refuse the rest whatever is posted.
            "me": request.membership,
            "is_global_admin": _is_global_admin(request),
            "global_admin": Role.GLOBAL_ADMIN,
            "roles_form": RolesForm,
            "can": can,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@partner_view
def member_update(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_for_partner(request.membership, Membership.objects.select_related("user"), pk=pk)
    require(request.membership, Action.MANAGE_USERS)
    operation = (request.POST if request.method == "POST" else request.GET).get("operation")
    if operation not in ("deactivate", "activate", "roles"):
        raise Http404
    if operation == "deactivate" and not _confirmed(request):
        return render(request, "cases/member_deactivate_confirm.html", {"member": membership})
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    email = membership.user.email
    try:
        if operation == "roles":
            form = RolesForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Choose at least one role."), code="required")
            services.member_set_roles(
                actor=request.membership, membership=membership, roles=form.cleaned_data["roles"]
            )
            done = _("Roles updated.")
        else:
            services.member_set_active(
                actor=request.membership, membership=membership, active=operation == "activate"
            )
            if operation == "activate":
                done = _("%(email)s was reactivated and can sign in again.") % {"email": email}
            else:
                done = _("%(email)s was deactivated and can no longer sign in.") % {"email": email}
    # A refusal shows the team page as it now is, with why, and a status that says what kind of no it was.
    except PermissionDenied as error:
        return _member_refused(request, str(error) or _("Your role does not allow this."), 403)
    except services.CaseActionError as error:
        return _member_refused(request, error.message, 409)
    except ValidationError as error:
        return _member_refused(request, " ".join(error.messages), 400)
    messages.success(request, done)
    return redirect("cases:team")


AUDIT_PAGE_SIZE = 50
AUDIT_CSV_COLUMNS = (
    "sequence", "created_at", "actor_email", "address", "user_agent", "action",
    "object_type", "object_id", "object_repr", "before", "after", "previous_hash", "hash",
)  # fmt: skip


def _audit_events(request: HttpRequest) -> tuple[AuditFilterForm, Any]:
    require(request.membership, Action.AUDIT)
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.filter(partner=request.membership.partner).order_by("-created_at", "-pk")
    return form, form.filter(events)


@require_safe
@partner_view
def audit_trail(request: HttpRequest) -> HttpResponse:
    """The partner's audit trail for its Global admins: filters, pages, and the same rows as CSV."""
    form, events = _audit_events(request)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cases/audit.html",
        {"form": form, "page": page, "query": query.urlencode(), "labels": dict(AuditAction.choices)},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(name: str, header: Iterable[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A CSV download streamed a row at a time: UTF-8 with a byte-order mark (so spreadsheet programs read
    CJK names), never stored by a cache."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff" + writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@partner_view
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered trail as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read CJK names); the
    export is itself an event on the trail, written before the file is streamed."""
    _form, events = _audit_events(request)
    audit.record(
        AuditAction.EXPORTED,
        actor=request.user,
        partner=request.membership.partner,
        after={"filters": {k: v for k, v in request.GET.items() if k != "page"}, "rows": events.count()},
        request=request,
    )

    def rows():
        for event in events.iterator(chunk_size=1000):
            values = [getattr(event, column) for column in AUDIT_CSV_COLUMNS]
            yield [json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for v in values]

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    name = f"audit-{request.membership.partner.case_prefix.lower()}-{stamp}.csv"
    return _csv_response(name, AUDIT_CSV_COLUMNS, rows())


@require_POST
@partner_view
def member_mfa_reset(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_for_partner(request.membership, Membership, pk=pk)
    require(request.membership, Action.MANAGE_USERS)
    try:
        services.member_reset_mfa(actor=request.membership, membership=membership)
    except PermissionDenied as error:
        return _member_refused(request, str(error) or _("Your role does not allow this."), 403)
    except services.CaseActionError as error:
        return _member_refused(request, error.message, 409)
    messages.success(
        request,
        _("Two-step sign-in was reset for %(email)s: they sign in with their password and set up a new app.")
        % {"email": membership.user.email},
    )
    return redirect("cases:team")


def _member_refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    messages.error(request, message)
    return _team_page(request, _invite_form(request), status=status)


@require_POST
@partner_view
def notification_resend(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    case = _case(request, number)
    notification = get_for_partner(request.membership, Notification, pk=pk, case=case)
    return _run(
        request,
        case,
        lambda: services.notification_resend(notification=notification, actor=request.membership),
        lambda notification: _("The e-mail to %(recipient)s is queued again.")
        % {"recipient": notification.recipient},
    )


# --- The customer's answer (no sign-in: the signed link is the key) ---------------------------------


def customer_answer(request: HttpRequest, token: str) -> HttpResponse:
    try:
        payload = read_token(token)
    except AnswerLinkError as error:
        return render(
            request,
            "cases/answer_problem.html",
            {"reason": error.reason},
            status=410 if error.reason == "expired" else 404,
        )
    notification = (
        Notification.objects.select_related("case__partner", "case__customer")
        .filter(pk=payload.get("n"), round=payload.get("r"))
        .first()
    )
    if notification is None:
        return render(request, "cases/answer_problem.html", {"reason": "invalid"}, status=404)
    case = notification.case
    context = {"case": case, "partner": case.partner, "notification": notification}
    if CustomerAnswer.objects.filter(notification=notification).exists():
        return render(request, "cases/answer_problem.html", {**context, "reason": "used"}, status=410)
    if not services.answer_applies(notification):
        return render(request, "cases/answer_problem.html", {**context, "reason": "stale"}, status=409)
    initial = {"answer": request.GET.get("answer")} if request.GET.get("answer") in Answer.values else {}
    form = CustomerAnswerForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            record = services.customer_answer(notification=notification, **form.cleaned_data)
        except services.StaleAnswer:
            return render(request, "cases/answer_problem.html", {**context, "reason": "stale"}, status=409)
        except services.CaseActionError:
            return render(request, "cases/answer_problem.html", {**context, "reason": "used"}, status=410)
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return render(request, "cases/answer_done.html", {**context, "record": record})
    return render(
        request, "cases/answer_form.html", {**context, "form": form}, status=400 if form.errors else 200
    )


# --- Service levels (the Global admin's settings) -----------------------------------------------------------


@partner_view
def service_levels(request: HttpRequest) -> HttpResponse:
    """The partner's business calendar and targets; saving recomputes the open cases' due times."""
    require(request.membership, Action.SERVICE_LEVELS)
    level = ServiceLevel.for_partner(request.membership.partner)
    form = ServiceLevelForm(request.POST or None, instance=level)
    if request.method == "POST" and form.is_valid():
        try:
            services.service_level_update(actor=request.membership, level=form.save(commit=False))
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Service levels saved; the open cases' due times follow them."))
            return redirect("cases:service_levels")
    return render(
        request,
        "cases/service_levels.html",
        {
            "form": form,
            "partner": request.membership.partner,
            "holidays": public_holidays_ahead(level),
            "severities": ("a", "b", "c"),
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


def _report_period(request: HttpRequest) -> tuple[ReportPeriodForm, reports.Period | None]:
    """The period asked for (?from=&to=; the last 90 days by default), or None and the form's errors."""
    require(request.membership, Action.REPORT)
    form = ReportPeriodForm(request.GET, today=timezone.localdate())
    if not form.is_valid():
        return form, None
    return form, reports.Period(form.cleaned_data["from"], form.cleaned_data["to"])


@require_safe
@partner_view
def report(request: HttpRequest) -> HttpResponse:
    """The partner's report for a period: charts with their numbers beside them, and the CSV of its cases."""
    form, period = _report_period(request)
    if period is None:
        return render(request, "cases/reports.html", {"form": form, "report": None}, status=400)
    figures = reports.report_for(request.membership.partner, period)
    shown = ReportPeriodForm({"from": period.start, "to": period.end}, today=form.today)
    return render(
        request,
        "cases/reports.html",
        {
            "form": shown,
            "report": figures,
            "charts": charts.for_report(figures),
            "group_label": charts.target_group_label,
            "outcomes": charts.target_outcome_labels(),
            "week_label": charts.week_label,
            "query": f"from={period.start.isoformat()}&to={period.end.isoformat()}",
        },
    )


@require_safe
@partner_view
def report_export(request: HttpRequest) -> HttpResponse:
    """The cases opened in the period as CSV, streamed a chunk of rows at a time (UTF-8 with a byte-order
    mark, as the audit trail's export)."""
    form, period = _report_period(request)
    if period is None:
        return render(request, "cases/reports.html", {"form": form, "report": None}, status=400)
    partner = request.membership.partner
    name = f"cases-{partner.case_prefix.lower()}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return _csv_response(name, reports.CSV_COLUMNS, reports.export_lines(partner, period))
