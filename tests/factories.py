"""factory_boy factories for the portal's models."""

from __future__ import annotations

import datetime

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@partner.example")
    full_name = factory.Faker("name")
    password = factory.django.Password("correct-horse-battery-staple")
    is_active = True


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "cases.Partner"
        django_get_or_create = ("mpn_id",)

    name = factory.Sequence(lambda n: f"Partner {n}")
    mpn_id = factory.Sequence(lambda n: f"{1000000 + n}")
    case_prefix = factory.Sequence(lambda n: "P" + "".join(chr(65 + int(d)) for d in f"{n:03d}"))
    cloud = "global"
    support_plan = "none"
    support_contact_name = factory.LazyAttribute(lambda o: f"{o.name} Support")
    support_contact_email = factory.Sequence(lambda n: f"support{n}@partner.example")
    support_contact_phone = "+1 425 555 0100"
    collections_policy = "Invoices are due in 30 days; after 45 days unpaid we may suspend subscriptions."


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "cases.Membership"

    user = factory.SubFactory(UserFactory)
    partner = factory.SubFactory(PartnerFactory)
    roles = factory.LazyFunction(lambda: ["helpdesk_agent"])


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "cases.Customer"

    partner = factory.SubFactory(PartnerFactory)
    company_name = factory.Sequence(lambda n: f"Customer {n} Ltd")
    tenant_domain = factory.Sequence(lambda n: f"customer{n}.onmicrosoft.com")
    billing_contact_name = "Bea Billing"
    billing_contact_email = factory.Sequence(lambda n: f"billing{n}@customer.example")
    preferred_language = "en"


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "cases.Subscription"

    customer = factory.SubFactory(CustomerFactory)
    offer = "Microsoft 365 Business Premium"
    quantity = 10


class CaseFactory(factory.django.DjangoModelFactory):
    """A case written straight to the table (for reads such as reports; the services open real ones)."""

    class Meta:
        model = "cases.Case"

    customer = factory.SubFactory(CustomerFactory)
    partner = factory.SelfAttribute("customer.partner")
    number = factory.Sequence(lambda n: f"RPT-{5000 + n}")
    category = "billing_dispute"
    title = "Charged for 30 seats, using 25"
    description = "The invoice bills more seats than the customer uses."
    invoice_number = "G012345678"
    severity = "B"
    status = "new"
    created_by = factory.SubFactory(UserFactory)
    created_at = factory.LazyFunction(timezone.now)
    first_response_due = factory.LazyAttribute(lambda o: o.created_at + datetime.timedelta(hours=4))


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "cases.Notification"

    case = factory.SubFactory(CaseFactory)
    kind = "resolution"
    round = factory.Sequence(lambda n: n + 1)
    recipient = factory.SelfAttribute("case.customer.billing_contact_email")
    language = "en"
    status = "sent"


class CustomerAnswerFactory(factory.django.DjangoModelFactory):
    """What a customer said about a resolution (with the resolution e-mail it answers)."""

    class Meta:
        model = "cases.CustomerAnswer"

    case = factory.SubFactory(CaseFactory)
    notification = factory.SubFactory(NotificationFactory, case=factory.SelfAttribute("..case"))
    answer = "resolved"
    rating = 5
