"""seed_demo: the demo partners, one user per role, customers in five languages, cases in every state."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from cases.models import Case, Customer, Membership, Partner, Status, Subscription
from cases.permissions import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("seed_demo", verbosity=0)


def test_demo_partners_and_one_user_per_role(seeded) -> None:
    """Contoso (global, Premier) and Fabrikam China (21Vianet) each have one user per role."""
    contoso = Partner.objects.get(name="Contoso")
    fabrikam = Partner.objects.get(name="Fabrikam China")
    assert (contoso.cloud, contoso.support_plan) == ("global", "premier")
    assert fabrikam.cloud == "21vianet"
    emails = set(Membership.objects.values_list("user__email", flat=True))
    for role in Role.values:
        name = role.replace("_", ".")
        assert f"{name}@contoso.example" in emails
        assert f"{name}@fabrikam-china.example" in emails
    assert Membership.objects.get(user__email="billing.admin@contoso.example").roles == ["billing_admin"]


def test_demo_password_signs_everyone_in(seeded) -> None:
    """Every demo account, the staff admin included, uses the default demo password."""
    assert authenticate(
        RequestFactory().post("/en/accounts/login/"),
        username="helpdesk.agent@fabrikam-china.example",
        password="demo-portal-2026",
    )
    admin = authenticate(
        RequestFactory().post("/en/accounts/login/"),
        username="admin@portal.example",
        password="demo-portal-2026",
    )
    assert admin and admin.is_staff and admin.is_superuser


def test_customers_cover_all_five_languages_and_one_subscription_is_suspended(seeded) -> None:
    """Customers prefer each of the five languages; a delinquent one has a suspended subscription."""
    assert set(Customer.objects.values_list("preferred_language", flat=True)) == {
        "en",
        "zh-hant",
        "zh-hans",
        "ja",
        "ru",
    }
    assert Subscription.objects.filter(status="suspended").count() >= 1
    assert Customer.objects.filter(delinquent=True).exists()


def test_cases_in_every_state_for_each_partner(seeded) -> None:
    """Each partner has cases in every status, so every page has something to show."""
    for partner in Partner.objects.all():
        statuses = set(Case.objects.filter(partner=partner).values_list("status", flat=True))
        assert statuses == set(Status.values), partner


def test_running_again_changes_nothing(seeded) -> None:
    """The command is safe to run again."""
    counts = (
        Partner.objects.count(),
        Membership.objects.count(),
        Customer.objects.count(),
        Case.objects.count(),
    )
    call_command("seed_demo", verbosity=0)
    assert counts == (
        Partner.objects.count(),
        Membership.objects.count(),
        Customer.objects.count(),
        Case.objects.count(),
    )


def test_password_comes_from_demo_password(settings, monkeypatch) -> None:
    """DEMO_PASSWORD overrides the default."""
    settings.DEBUG = True
    monkeypatch.setenv("DEMO_PASSWORD", "another-Secret-9")
    call_command("seed_demo", verbosity=0)
    assert authenticate(
        RequestFactory().post("/en/accounts/login/"),
        username="sales.agent@contoso.example",
        password="another-Secret-9",
    )


def test_refuses_to_run_without_debug(settings) -> None:
    """With DEBUG off the command stops: it would create accounts with a known password."""
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", verbosity=0)
    assert not Partner.objects.exists()
