"""The cast shared by every test folder: Contoso with one member per role, and an outsider from Fabrikam China."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cases import services
from cases.models import Category, Cloud, Severity, SupportPlan
from cases.permissions import Role
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    PartnerFactory,
    SubscriptionFactory,
    UserFactory,
)


@pytest.fixture
def contoso(db):
    return PartnerFactory(
        name="Contoso",
        mpn_id="1234567",
        case_prefix="CON",
        cloud=Cloud.GLOBAL,
        support_plan=SupportPlan.PREMIER,
    )


@pytest.fixture
def fabrikam(db):
    return PartnerFactory(
        name="Fabrikam China",
        mpn_id="7654321",
        case_prefix="FAB",
        cloud=Cloud.VIANET,
        support_plan=SupportPlan.NONE,
    )


def member(partner, role: str, email: str, password: str):
    return MembershipFactory(
        partner=partner,
        roles=[role],
        user=UserFactory(email=email, full_name=role.replace("_", " ").title(), password=password),
    )


@pytest.fixture
def global_admin(contoso, password):
    return member(contoso, Role.GLOBAL_ADMIN, "global.admin@contoso.example", password)


@pytest.fixture
def user_admin(contoso, password):
    return member(contoso, Role.USER_ADMIN, "user.admin@contoso.example", password)


@pytest.fixture
def helpdesk_agent(contoso, password):
    return member(contoso, Role.HELPDESK_AGENT, "helpdesk.agent@contoso.example", password)


@pytest.fixture
def billing_admin(contoso, password):
    return member(contoso, Role.BILLING_ADMIN, "billing.admin@contoso.example", password)


@pytest.fixture
def sales_agent(contoso, password):
    return member(contoso, Role.SALES_AGENT, "sales.agent@contoso.example", password)


@pytest.fixture
def outsider(fabrikam, password):
    """A Fabrikam China helpdesk agent: a real partner user, but of another partner."""
    return member(fabrikam, Role.HELPDESK_AGENT, "helpdesk.agent@fabrikam-china.example", password)


@pytest.fixture
def cast(global_admin, user_admin, helpdesk_agent, billing_admin, sales_agent) -> dict:
    return {
        Role.GLOBAL_ADMIN: global_admin,
        Role.USER_ADMIN: user_admin,
        Role.HELPDESK_AGENT: helpdesk_agent,
        Role.BILLING_ADMIN: billing_admin,
        Role.SALES_AGENT: sales_agent,
    }


@pytest.fixture
def customer(contoso):
    return CustomerFactory(
        partner=contoso,
        company_name="Tailspin Toys 株式会社",
        tenant_domain="tailspintoys.onmicrosoft.com",
        billing_contact_email="billing@tailspintoys.example",
        preferred_language="ja",
    )


@pytest.fixture
def subscription(customer):
    return SubscriptionFactory(customer=customer, offer="Microsoft 365 E3", quantity=30)


@pytest.fixture
def fabrikam_customer(fabrikam):
    return CustomerFactory(
        partner=fabrikam,
        company_name="Adatum 科技",
        tenant_domain="adatum.partner.onmschina.cn",
        preferred_language="zh-hans",
    )


def open_dispute(actor, customer, **overrides):
    """Open a billing dispute through the service, as the web form does."""
    fields = {
        "category": Category.BILLING_DISPUTE,
        "title": "Charged for 30 seats, using 25",
        "description": "The October invoice bills 30 seats; the customer cancelled 5 on 2 October.",
        "invoice_number": "G012345678",
        "disputed_amount": Decimal("412.50"),
        "currency": "USD",
        "severity": Severity.B,
    }
    fields.update(overrides)
    return services.case_create(actor=actor, customer=customer, **fields)


@pytest.fixture
def case(helpdesk_agent, customer):
    return open_dispute(helpdesk_agent, customer)


@pytest.fixture
def fabrikam_case(outsider, fabrikam_customer):
    return open_dispute(outsider, fabrikam_customer, currency="CNY", disputed_amount=Decimal("980.00"))


def force_login_with_code(client, user) -> None:
    """client.force_login, and the session counts as having given a two-step code (an authenticator app is
    set up for the user): what a session is after the code step (portal/mfa.py)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.pop("mfa_pending", None)  # the code was given
    session.save()
