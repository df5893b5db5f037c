"""The one table that decides what each partner role may do. The README shows it; a test checks every cell."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    GLOBAL_ADMIN = "global_admin", _("Global admin")
    USER_ADMIN = "user_admin", _("User admin")
    HELPDESK_AGENT = "helpdesk_agent", _("Helpdesk agent")
    BILLING_ADMIN = "billing_admin", _("Billing admin")
    SALES_AGENT = "sales_agent", _("Sales agent")


class Action(models.TextChoices):
    VIEW = "view", _("view cases and customers")
    OPEN = "open", _("open cases")
    COMMENT = "comment", _("comment and attach evidence")
    WORK = "work", _("start work on and assign cases")
    ESCALATE = "escalate", _("escalate to Microsoft or 21Vianet")
    RESOLVE = "resolve", _("resolve and close cases")
    REOPEN = "reopen", _("reopen cases")
    SUSPEND = "suspend", _("suspend and reactivate subscriptions")
    MANAGE_USERS = "manage_users", _("invite and deactivate the partner's users")
    AUDIT = "audit", _("read and export the partner's audit trail")
    WEBHOOKS = "webhooks", _("register the partner's webhook endpoints")
    SERVICE_LEVELS = "service_levels", _("set the partner's business hours and service-level targets")
    REPORT = "report", _("read and export the partner's reports")


GA, UA, HA, BA, SA = (
    Role.GLOBAL_ADMIN,
    Role.USER_ADMIN,
    Role.HELPDESK_AGENT,
    Role.BILLING_ADMIN,
    Role.SALES_AGENT,
)

# Partner Center lets Global admins, Helpdesk agents and Sales agents escalate; billing support is open to all
# five roles; non-payment actions belong to Global, User and Billing admins (../shared/DOMAIN.md).
PERMISSIONS: dict[str, frozenset[str]] = {
    Action.VIEW: frozenset({GA, UA, HA, BA, SA}),
    Action.OPEN: frozenset({GA, UA, HA, BA, SA}),
    Action.COMMENT: frozenset({GA, UA, HA, BA, SA}),
    Action.WORK: frozenset({GA, HA, BA}),
    Action.ESCALATE: frozenset({GA, HA, SA}),
    Action.RESOLVE: frozenset({GA, HA, BA}),
    Action.REOPEN: frozenset({GA, HA, BA}),
    Action.SUSPEND: frozenset({GA, UA, BA}),
    Action.MANAGE_USERS: frozenset({GA, UA}),
    # Who signed in from where, who changed whose roles: for the partner's Global admins (an auditor asks).
    Action.AUDIT: frozenset({GA}),
    # Webhooks send the partner's case data to a URL outside the portal: like registering an app for Partner
    # Center's API, that is for Global admins (a User admin manages people, not where the data goes).
    Action.WEBHOOKS: frozenset({GA}),
    # The business calendar and the targets to the partner's customers: the Global admin's settings.
    Action.SERVICE_LEVELS: frozenset({GA}),
    # How disputes went (amounts, credit, times, satisfaction): for whoever answers for the money.
    Action.REPORT: frozenset({GA, BA}),
}


def roles_allow(roles: Iterable[str], action: str) -> bool:
    """Whether any of these roles may perform action."""
    allowed = PERMISSIONS[action]
    return any(role in allowed for role in roles)


def allowed_actions(roles: Iterable[str]) -> frozenset[str]:
    """Every action these roles allow."""
    roles = set(roles)
    return frozenset(action for action, allowed in PERMISSIONS.items() if roles & allowed)
