"""The header's navigation, built from the pages that exist in this installation."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from portal.reversing import url_for


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    description: str | Promise = ""
    staff_only: bool = False
    members_only: bool = False
    section: str = ""
    action: str = ""  # shown only to members whose roles allow this action (cases.permissions)
    # An organisation's settings, visited now and then: in the account menu rather than the main navigation,
    # which then stays one row at 1280 px in every language.
    in_menu: bool = False


NAV_ITEMS = (
    NavItem(
        _("Guidance"),
        "guidance:index",
        _("Read Partner Center billing support guidance in your language."),
        section="guidance",
    ),
    NavItem(
        _("Cases"),
        "cases:dashboard",
        _("Open, work and escalate billing dispute cases for your customers."),
        section="cases",
    ),
    NavItem(
        _("Customers"),
        "cases:customers",
        _("Your customers, their subscriptions and your collections policy."),
        members_only=True,
        section="customers",
    ),
    NavItem(
        _("Team"),
        "cases:team",
        _("The people of your organisation and their roles."),
        members_only=True,
        section="team",
    ),
    NavItem(
        _("Reports"),
        "cases:reports",
        _("How your disputes went: amounts, credit, time to resolution and satisfaction."),
        members_only=True,
        section="reports",
        action="report",
    ),
    NavItem(
        _("Webhooks"),
        "webhooks:list",
        _("Send changes to your cases to your own tools as they happen."),
        members_only=True,
        section="webhooks",
        action="webhooks",
        in_menu=True,
    ),
    NavItem(
        _("Service levels"),
        "cases:service_levels",
        _("Your business hours, holidays and the targets you promise your customers."),
        members_only=True,
        section="service_levels",
        action="service_levels",
        in_menu=True,
    ),
    NavItem(
        _("Admin"),
        "admin:index",
        _("Manage partners, users and guidance translations."),
        staff_only=True,
        section="admin",
    ),
)


def _member_may(user, action: str) -> bool:
    from cases.access import membership_or_none
    from cases.permissions import roles_allow

    membership = membership_or_none(user)
    return membership is not None and roles_allow(membership.roles, action)


def is_member(user) -> bool:
    """Whether the signed-in user belongs to a partner (the membership is then kept on the user)."""
    from cases.access import membership_or_none  # the cases app builds on portal, not the other way

    return membership_or_none(user) is not None


def nav_for(request: HttpRequest) -> list[dict[str, object]]:
    """Return the navigation entries this request's user may see, with the current one marked."""
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    is_staff = signed_in and user.is_staff
    member = signed_in and is_member(user)
    entries = []
    for item in NAV_ITEMS:
        if (item.staff_only and not is_staff) or (item.members_only and not member):
            continue
        if item.action and not _member_may(user, item.action):
            continue
        url = url_for(item.url_name)
        if url is None:
            # An app that has not shipped its pages yet gets no menu entry, never a broken link.
            continue
        entries.append(
            {
                "label": item.label,
                "description": item.description,
                "url": url,
                "current": request.path.startswith(url),
                "in_menu": item.in_menu,
            }
        )
    return entries
