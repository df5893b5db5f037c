"""python manage.py seed_demo — demo partners, people, customers and cases for a laptop (DEBUG only)."""

from __future__ import annotations

import datetime
import os
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from cases import services
from cases.models import (
    Category,
    Cloud,
    Customer,
    Membership,
    Outcome,
    Partner,
    Severity,
    Subscription,
    SupportPlan,
    SupportVehicle,
)
from cases.permissions import Role

DEFAULT_PASSWORD = "demo-portal-2026"  # noqa: S105 - documented demo password, DEBUG only

PARTNERS = [
    {
        "slug": "contoso",
        "name": "Contoso",
        "mpn_id": "1234567",
        "case_prefix": "CON",
        "cloud": Cloud.GLOBAL,
        "support_plan": SupportPlan.PREMIER,
        "support_contact_name": "Contoso Partner Support",
        "support_contact_email": "support@contoso.example",
        "support_contact_phone": "+1 425 555 0100",
        "collections_policy": (
            "Invoices are due 30 days after issue. We remind you at 7 and 21 days; after 45 days unpaid "
            "we may suspend the affected subscriptions until payment arrives."
        ),
        "customers": [
            ("Northwind Traders", "northwind.onmicrosoft.com", "Nancy Davolio", "en"),
            ("Tailspin Toys 株式会社", "tailspintoys.onmicrosoft.com", "山田 花子", "ja"),
            ("Wide World Importers ООО", "wideworld.onmicrosoft.com", "Анна Смирнова", "ru"),
            ("Litware 有限公司", "litware.onmicrosoft.com", "陳 美玲", "zh-hant"),
        ],
    },
    {
        "slug": "fabrikam-china",
        "name": "Fabrikam China",
        "mpn_id": "7654321",
        "case_prefix": "FAB",
        "cloud": Cloud.VIANET,
        "support_plan": SupportPlan.NONE,
        "support_contact_name": "Fabrikam 客户支持",
        "support_contact_email": "support@fabrikam-china.example",
        "support_contact_phone": "+86 10 5555 0100",
        "collections_policy": "账单在开具后 30 天内到期。逾期 45 天未付款的订阅可能会被暂停，付款后恢复。",
        "customers": [
            ("Adatum 科技有限公司", "adatum.partner.onmschina.cn", "王 伟", "zh-hans"),
            ("Proseware 股份有限公司", "proseware.partner.onmschina.cn", "林 志明", "zh-hant"),
            ("Woodgrove Bank", "woodgrove.partner.onmschina.cn", "Ethan Brooks", "en"),
        ],
    },
]

PEOPLE = {
    Role.GLOBAL_ADMIN: "Gabriela Global",
    Role.USER_ADMIN: "Ulrich User",
    Role.HELPDESK_AGENT: "Hana Helpdesk",
    Role.BILLING_ADMIN: "Bruno Billing",
    Role.SALES_AGENT: "Sofia Sales",
}


def demo_email(role: str, partner_slug: str) -> str:
    """global_admin + contoso -> global.admin@contoso.example"""
    return f"{role.replace('_', '.')}@{partner_slug}.example"


class Command(BaseCommand):
    help = (
        "Create demo partners, users (one per role), customers, subscriptions and cases. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo only runs with DEBUG=1: it creates accounts with a known password.")
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD
        with transaction.atomic():
            self._admin(password)
            for spec in PARTNERS:
                self._partner(spec, password)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(
            f"  Sign in as e.g. helpdesk.agent@contoso.example or admin@portal.example, password {password}"
        )

    def _admin(self, password: str) -> None:
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            email="admin@portal.example",
            defaults={"full_name": "Portal Admin", "is_staff": True, "is_superuser": True},
        )
        if created:
            admin.set_password(password)
            admin.save()

    def _partner(self, spec: dict[str, Any], password: str) -> None:
        fields = {k: v for k, v in spec.items() if k not in ("slug", "customers")}
        partner, _created = Partner.objects.get_or_create(mpn_id=spec["mpn_id"], defaults=fields)
        members: dict[str, Membership] = {}
        user_model = get_user_model()
        for role, name in PEOPLE.items():
            user, created = user_model.objects.get_or_create(
                email=demo_email(role, spec["slug"]), defaults={"full_name": name}
            )
            if created:
                user.set_password(password)
                user.save()
            members[role], _ = Membership.objects.get_or_create(
                user=user, defaults={"partner": partner, "roles": [role]}
            )
        customers = []
        for company, domain, contact, language in spec["customers"]:
            customer, _ = Customer.objects.get_or_create(
                partner=partner,
                tenant_domain=domain,
                defaults={
                    "company_name": company,
                    "billing_contact_name": contact,
                    "billing_contact_email": f"billing@{domain.split('.')[0]}.example",
                    "preferred_language": language,
                },
            )
            customers.append(customer)
            for offer, quantity in (("Microsoft 365 Business Premium", 25), ("Azure plan", 1)):
                Subscription.objects.get_or_create(
                    customer=customer, offer=offer, defaults={"quantity": quantity}
                )
        if not partner.cases.exists():
            self._cases(partner, members, customers)

    def _cases(self, partner: Partner, members: dict[str, Membership], customers: list[Customer]) -> None:
        helpdesk, billing = members[Role.HELPDESK_AGENT], members[Role.BILLING_ADMIN]
        delinquent = customers[-1]
        delinquent.delinquent = True
        delinquent.save(update_fields=["delinquent"])
        services.subscription_suspend(
            subscription=delinquent.subscriptions.get(offer="Azure plan"),
            actor=billing,
            reason="Invoice unpaid for 60 days; reminders sent.",
        )
        currency = "CNY" if partner.cloud == Cloud.VIANET else "USD"

        def dispute(customer: Customer, title: str, amount: str, severity: str = Severity.B):
            return services.case_create(
                actor=helpdesk,
                customer=customer,
                category=Category.BILLING_DISPUTE,
                title=title,
                description="The customer says this charge on the invoice does not match the seats they use.",
                invoice_number=f"G{customer.pk:03d}{timezone.now():%y%m}",
                disputed_amount=Decimal(amount),
                currency=currency,
                billing_period=(timezone.now() - datetime.timedelta(days=31)).date(),
                severity=severity,
            )

        commercial = SupportVehicle.COMMERCIAL
        services.case_create(
            actor=members[Role.SALES_AGENT],
            customer=customers[0],
            category=Category.BILLING_QUESTION,
            title="Question about prorated charges",
            description="Why does the first invoice after adding seats show a partial month?",
        )
        started = dispute(customers[1], "Charged for 30 seats, using 25", "412.50")
        services.case_start(case=started, actor=helpdesk)
        escalated = dispute(customers[2 % len(customers)], "Duplicate Azure charge", "1290.00", Severity.A)
        services.case_start(case=escalated, actor=helpdesk)
        services.case_escalate(
            case=escalated,
            actor=helpdesk,
            support_vehicle=commercial,
            severity=Severity.A,
            support_request_number="2611220040001234",
        )
        waiting = dispute(customers[0], "Reservation charged twice", "980.00")
        services.case_start(case=waiting, actor=helpdesk)
        services.case_escalate(case=waiting, actor=helpdesk, support_vehicle=commercial, severity=Severity.B)
        services.case_request_info(
            case=waiting, actor=helpdesk, message="Asked for the usage export of last month."
        )
        resolved = dispute(customers[1], "Seats billed after cancellation", "150.00")
        services.case_start(case=resolved, actor=helpdesk)
        services.case_resolve(
            case=resolved,
            actor=billing,
            resolution_summary="Credit issued for the cancelled seats.",
            outcome=Outcome.CREDIT,
            credit_amount=Decimal("150.00"),
        )
        closed = dispute(customers[-1], "Currency conversion on invoice", "75.00", Severity.C)
        services.case_start(case=closed, actor=helpdesk)
        services.case_resolve(
            case=closed,
            actor=billing,
            resolution_summary="The rate used was correct; we explained it.",
            outcome=Outcome.UPHELD,
        )
        services.case_mark_customer_informed(
            case=closed, actor=billing, note="Explained on a call with the customer."
        )
        services.case_close(case=closed, actor=billing)
