"""The benchmark's data: a fresh database, partners with 100,000 cases, and 1,000 guidance articles.

Everything is generated from fixed seeds, so two runs load the same rows. Cases go in with COPY and
articles with bulk_create/COPY; only the 1,000 cases the close-the-loop benchmark resolves go through the
portal's own service (services.case_resolve), so their notifications are exactly what the portal writes.
"""

from __future__ import annotations

import datetime
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import psycopg

# Cases per partner: the measured partner first, then the rest of the 100,000 over nine others.
MEASURED_CASES = 10_000
OTHER_PARTNER_CASES = [30_000, 20_000, 15_000, 10_000, 6_000, 4_000, 3_000, 1_500, 500]
MEASURED_CUSTOMERS = 200
MEASURED_MEMBERS = 25
PIPELINE_CASES = 1_000
PIPELINE_WARMUP = 20
ARTICLES = 1_000

LANGUAGES = ("en", "ja", "zh-hans", "zh-hant", "ru")
STATUSES_RECENT = [
    ("new", 20),
    ("in_progress", 30),
    ("escalated", 15),
    ("info_requested", 5),
    ("resolved", 20),
    ("closed", 10),
]
STATUSES_OLD = [
    ("closed", 85),
    ("resolved", 10),
    ("in_progress", 3),
    ("escalated", 2),
]
CATEGORIES = ["billing_dispute", "billing_question", "non_payment"]
TITLES = [
    "Charged for {n} seats, using {m}",
    "Duplicate Azure charge on invoice",
    "Reservation charged twice",
    "Seats billed after cancellation",
    "Currency conversion on invoice",
    "Question about prorated charges",
    "Credit not applied to invoice",
    "Tax charged for exempt customer",
]
ROLES_CYCLE = ["helpdesk_agent", "billing_admin", "sales_agent", "user_admin", "helpdesk_agent"]


@dataclass
class Loaded:
    """What the benchmarks need to know about the data."""

    partner_id: int
    viewer_email: str
    viewer_password: str
    viewer_totp_key: str  # the key of the viewer's authenticator app (hex), to compute its codes
    api_key: str
    article_slugs: list[str]
    pipeline_ids: list[int]  # the notifications the close-the-loop benchmark measures
    warmup_ids: list[int]  # the notifications that warm the worker up first
    counts: dict[str, int]


def recreate_database(url: str) -> None:
    """Drop and create the benchmark database (never the one named in DATABASE_URL for the app)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to recreate database {name!r}")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


def _copy(model, rows: list[dict]) -> None:
    """Insert rows (dicts keyed by column) with COPY, the fastest way into PostgreSQL.

    A column the rows leave out gets the model field's default, the value `Model()` would give it (COPY knows
    nothing of Django's defaults), so a field added later loads as the portal would save it."""
    from django.db import connection

    if not rows:
        return
    columns = list(rows[0])
    defaulted = [
        field
        for field in model._meta.concrete_fields
        if field.column not in columns and not field.primary_key
    ]
    table = model._meta.db_table
    names = ", ".join([*columns, *(field.column for field in defaulted)])
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            # get_default() per row: a callable default (a UUID, a time) gives each row its own.
            copy.write_row([*(row[c] for c in columns), *(field.get_default() for field in defaulted)])


def _make_users(prefix: str, count: int, password_hash: str) -> list:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    names = ["Hana", "Bruno", "Sofia", "Ulrich", "Gabriela", "Kenji", "Mei", "Olga", "Ivan", "Lin"]
    return user_model.objects.bulk_create(
        user_model(
            email=f"{prefix}.{n}@bench.example",
            full_name=f"{names[n % len(names)]} {prefix.title()} {n}",
            password=password_hash,
            language=LANGUAGES[n % len(LANGUAGES)],
        )
        for n in range(count)
    )


def _authenticators(users: list) -> None:
    """Every partner user has an authenticator app set up, as the production settings (MFA_REQUIRED) require;
    these keys are random and known to no one (nobody signs in as these people)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.bulk_create(
        TOTPDevice(user=user, name="authenticator", confirmed=True) for user in users
    )


def enrol_viewer(user) -> str:
    """The measured viewer's authenticator app (a new one, replacing any earlier) and recovery codes, as
    enrolling through the pages leaves them. Returns the app's key (hex): the runner computes its codes."""
    from django.db import transaction
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from portal import mfa

    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=mfa.TOTP_NAME, confirmed=True)
        mfa.new_recovery_codes(user)
    return device.key


def _partner(index: int, name: str, prefix: str, cloud: str = "global"):
    from cases.models import Partner

    return Partner.objects.create(
        name=name,
        mpn_id=f"{7000000 + index}",
        case_prefix=prefix,
        cloud=cloud,
        support_plan="premier",
        support_contact_name=f"{name} Support",
        support_contact_email=f"support@{prefix.lower()}.bench.example",
        collections_policy="Invoices are due 30 days after issue; after 45 days unpaid we may suspend.",
    )


def _customers(partner, count: int, rng: random.Random) -> list:
    from cases.models import Customer, Subscription

    customers = Customer.objects.bulk_create(
        Customer(
            partner=partner,
            company_name=f"{partner.case_prefix} Customer {n:04d} Ltd",
            tenant_domain=f"{partner.case_prefix.lower()}{n}.onmicrosoft.com",
            billing_contact_name="Bea Billing",
            billing_contact_email=f"billing{n}@{partner.case_prefix.lower()}-customer.example",
            preferred_language=LANGUAGES[n % len(LANGUAGES)],
            delinquent=n % 17 == 0,
        )
        for n in range(count)
    )
    Subscription.objects.bulk_create(
        Subscription(customer=customer, offer=offer, quantity=rng.randint(1, 300))
        for customer in customers
        for offer in ("Microsoft 365 E3", "Azure plan")
    )
    return customers


def _case_rows(partner, customers, members, count: int, rng: random.Random, now) -> list[dict]:
    rows = []
    span = datetime.timedelta(days=730)
    for i in range(count):
        age = span * (count - 1 - i) / max(count, 1) + datetime.timedelta(minutes=rng.randint(0, 90))
        created = now - age
        recent = age < datetime.timedelta(days=60)
        status = _weighted(rng, STATUSES_RECENT if recent else STATUSES_OLD)
        category = CATEGORIES[rng.randrange(3)]
        severity = "ABC"[rng.randrange(3)]
        escalated = status in ("escalated", "info_requested") or (
            status in ("resolved", "closed") and rng.random() < 0.3
        )
        resolved = status in ("resolved", "closed")
        resolved_at = created + datetime.timedelta(hours=rng.randint(2, 240)) if resolved else None
        if resolved_at and resolved_at > now:
            resolved_at = now - datetime.timedelta(minutes=rng.randint(1, 600))
        dispute = category == "billing_dispute"
        assignee = members[rng.randrange(len(members))] if rng.random() < 0.9 else None
        rows.append(
            {
                "uuid": uuid.UUID(int=rng.getrandbits(128), version=4),
                "partner_id": partner.pk,
                "number": f"{partner.case_prefix}-{1001 + i}",
                "customer_id": customers[rng.randrange(len(customers))].pk,
                "subscription_id": None,
                "category": category,
                "title": TITLES[rng.randrange(len(TITLES))].format(n=30 + i % 7, m=25 + i % 5),
                "description": "The invoice bills more seats than the customer uses.",
                "invoice_number": f"G{i:07d}" if dispute else "",
                "disputed_amount": Decimal(rng.randint(1000, 500000)) / 100 if dispute else None,
                "currency": "USD" if dispute else "",
                "billing_period": created.date().replace(day=1) if dispute else None,
                "severity": severity,
                "status": status,
                "assignee_id": assignee.pk if assignee else None,
                "created_by_id": members[i % len(members)].pk,
                "created_at": created,
                "updated_at": resolved_at
                or min(now, created + datetime.timedelta(minutes=rng.randint(1, 600))),
                "first_response_due": created + datetime.timedelta(hours={"A": 2, "B": 4, "C": 8}[severity]),
                # Service-level due times as the portal stores them (on the wall clock here: the bench needs
                # their spread, not a calendar); next_due_at only while a target runs.
                "first_response_due_at": created
                + datetime.timedelta(hours={"A": 2, "B": 4, "C": 8}[severity]),
                "resolution_due_at": created
                + datetime.timedelta(hours={"A": 8, "B": 72, "C": 120}[severity]),
                "next_due_at": None
                if resolved
                else created
                + datetime.timedelta(hours={"A": 2, "B": 4, "C": 8}[severity] if status == "new" else 72),
                "first_response_at": None if status == "new" else created + datetime.timedelta(hours=1),
                "escalation_target": "microsoft" if escalated else "",
                "support_vehicle": "commercial" if escalated else "",
                "escalation_severity": severity if escalated else "",
                "support_request_number": f"26{i:014d}" if escalated else "",
                "escalation_contact_name": "",
                "escalation_contact_email": "",
                "escalation_contact_phone": "",
                "escalated_at": created + datetime.timedelta(hours=1) if escalated else None,
                "resolution_summary": "Credit issued." if resolved else "",
                "outcome": ("credit" if dispute else "answered") if resolved else "",
                "credit_amount": None,
                "resolution_round": 1 if resolved else 0,
                "resolved_at": resolved_at,
                "resolved_by_id": members[0].pk if resolved else None,
                "loop_closed_at": resolved_at if status == "closed" else None,
                "closed_at": resolved_at if status == "closed" else None,
            }
        )
    return rows


# The path of statuses a case in each status took, for its timeline.
STATUS_PATHS = {
    "new": [],
    "in_progress": ["in_progress"],
    "escalated": ["in_progress", "escalated"],
    "info_requested": ["in_progress", "escalated", "info_requested"],
    "resolved": ["in_progress", "resolved"],
    "closed": ["in_progress", "resolved", "closed"],
}


def _event_rows(case_rows: list[dict], rng: random.Random) -> list[dict]:
    """A timeline like the portal writes: opened, each status move, some notes and an assignment."""
    import json

    rows = []
    for case in case_rows:
        actor = case["created_by_id"]
        when = case["created_at"]
        events = [("created", "", "", "", {})]
        previous = "new"
        for status in STATUS_PATHS[case["status"]]:
            data = {"target": "microsoft", "vehicle": "commercial"} if status == "escalated" else {}
            events.append(("status", previous, status, "", data))
            previous = status
        for _note in range(rng.randint(0, 4)):
            events.append(("comment", "", "", "Called the customer's billing contact; waiting on usage.", {}))
        if case["assignee_id"]:
            events.append(("assigned", "", "", "", {"assignee": f"user{case['assignee_id']}@bench.example"}))
        for kind, from_status, to_status, message, data in events:
            when = when + datetime.timedelta(minutes=rng.randint(5, 600))
            rows.append(
                {
                    "case_id": case["id"],
                    "kind": kind,
                    "actor_id": actor,
                    "created_at": when,
                    "from_status": from_status,
                    "to_status": to_status,
                    "message": message,
                    "data": json.dumps(data),
                }
            )
    return rows


def _ratings(partner, now, rng: random.Random) -> int:
    """Customer answers (with ratings) for about half the cases resolved in the last 90 days."""
    from cases.models import Case, CustomerAnswer, Notification

    recent = list(
        Case.objects.filter(partner=partner, resolved_at__gte=now - datetime.timedelta(days=90))
        .select_related("customer")
        .only("pk", "resolved_at", "customer__billing_contact_email", "customer__preferred_language")
    )
    chosen = [case for case in recent if rng.random() < 0.5]
    notifications = Notification.objects.bulk_create(
        Notification(
            case=case,
            kind="resolution",
            round=1,
            recipient=case.customer.billing_contact_email,
            language=case.customer.preferred_language,
            status="sent",
            attempts=1,
            sent_at=case.resolved_at,
            created_at=case.resolved_at,
        )
        for case in chosen
    )
    CustomerAnswer.objects.bulk_create(
        CustomerAnswer(
            notification=notification,
            case_id=notification.case_id,
            answer="resolved",
            rating=rng.randint(2, 5),
            created_at=notification.sent_at + datetime.timedelta(hours=3),
        )
        for notification in notifications
    )
    return len(notifications)


def load_cases(*, viewer_password: str) -> tuple[int, str, str, str, dict[str, int]]:
    """Partners, people, customers and 100,000 cases; returns the measured partner, the viewer's e-mail
    address and authenticator key, the API key, and counts."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from cases.models import Case, CaseEvent, Membership, Partner
    from portal.models import ApiToken

    rng = random.Random(20261122)  # noqa: S311 - reproducible data, not secrets
    now = timezone.now()
    unusable = make_password(None)
    counts: dict[str, int] = {}
    with transaction.atomic():
        measured = _partner(0, "Contoso Bench", "CON")
        members = _make_users("contoso", MEASURED_MEMBERS, unusable)
        viewer = members[0]
        viewer.set_password(viewer_password)
        viewer.save(update_fields=["password"])
        _authenticators(members[1:])
        viewer_totp_key = enrol_viewer(viewer)
        Membership.objects.bulk_create(
            Membership(
                user=user,
                partner=measured,
                roles=["global_admin"] if n == 0 else [ROLES_CYCLE[n % len(ROLES_CYCLE)]],
            )
            for n, user in enumerate(members)
        )
        customers = _customers(measured, MEASURED_CUSTOMERS, rng)
        measured_rows = _case_rows(measured, customers, members, MEASURED_CASES, rng, now)
        _copy(Case, measured_rows)
        ids = dict(Case.objects.filter(partner=measured).values_list("number", "pk"))
        for row in measured_rows:
            row["id"] = ids[row["number"]]
        _copy(CaseEvent, _event_rows(measured_rows, rng))
        Partner.objects.filter(pk=measured.pk).update(next_case_number=1001 + MEASURED_CASES)

        for index, total in enumerate(OTHER_PARTNER_CASES, start=1):
            prefix = "P" + "ABCDEFGHIJ"[index]
            partner = _partner(
                index, f"Partner {prefix} Bench", prefix, "21vianet" if index % 4 == 0 else "global"
            )
            people = _make_users(prefix.lower(), 8, unusable)
            _authenticators(people)
            Membership.objects.bulk_create(
                Membership(user=user, partner=partner, roles=[ROLES_CYCLE[n % len(ROLES_CYCLE)]])
                for n, user in enumerate(people)
            )
            their_customers = _customers(partner, max(20, total // 100), rng)
            _copy(Case, _case_rows(partner, their_customers, people, total, rng, now))
            Partner.objects.filter(pk=partner.pk).update(next_case_number=1001 + total)
        counts["ratings"] = _ratings(measured, now, rng)
        _token, api_key = ApiToken.issue(user=viewer, name="benchmark")
    counts["events"] = CaseEvent.objects.filter(case__partner=measured).count()
    counts["cases"] = Case.objects.count()
    counts["measured_cases"] = Case.objects.filter(partner=measured).count()
    counts["partners"] = Partner.objects.count()
    return measured.pk, viewer.email, viewer_totp_key, api_key, counts


def load_pipeline_cases() -> tuple[list[int], list[int]]:
    """1,020 cases resolved through the portal's service; their notifications are held back (not due).

    Returns (measured notification ids, warm-up notification ids). The benchmark queues them itself,
    with the same call the service makes after commit (services.enqueue_notification).
    """
    from django.db import transaction
    from django.utils import timezone

    from cases import services
    from cases.models import Case, Membership, Notification

    rng = random.Random(7)  # noqa: S311
    now = timezone.now()
    with transaction.atomic():
        partner = _partner(99, "Northwind Pipeline", "NWP")
        people = _make_users("nwp", 3, "!")
        _authenticators(people)
        for n, user in enumerate(people):
            Membership.objects.create(
                user=user, partner=partner, roles=["global_admin" if n == 0 else "billing_admin"]
            )
        customers = _customers(partner, 50, rng)
        rows = _case_rows(partner, customers, people, PIPELINE_CASES + PIPELINE_WARMUP, rng, now)
        for row in rows:
            row.update(
                status="in_progress",
                escalation_target="",
                support_vehicle="",
                escalation_severity="",
                support_request_number="",
                escalated_at=None,
                resolution_summary="",
                outcome="",
                resolution_round=0,
                resolved_at=None,
                resolved_by_id=None,
                loop_closed_at=None,
                closed_at=None,
            )
        _copy(Case, rows)
    actor = Membership.objects.select_related("partner", "user").get(user=people[0])
    for case in Case.objects.filter(partner=partner).select_related("partner", "customer").order_by("pk"):
        dispute = case.category == "billing_dispute"
        services.case_resolve(
            case=case,
            actor=actor,
            resolution_summary="We checked the invoice against the usage file and corrected it.",
            outcome="credit" if dispute else "",
            credit_amount=(case.disputed_amount / 2).quantize(Decimal("0.01")) if dispute else None,
        )
    owed = Notification.objects.filter(case__partner=partner).order_by("pk")
    held = list(owed.values_list("pk", flat=True))
    # Held back until their part of the benchmark: a delivery run sends every notification that is due, so
    # the warm-up would otherwise start on the measured ones. pipeline._release makes them due again. (The
    # delivery run the resolutions asked for waits in Redis with no worker yet; prepare() empties Redis.)
    Notification.objects.filter(pk__in=held).update(next_attempt_at=now + datetime.timedelta(days=365))
    assert Notification.objects.filter(pk__in=held, status="pending").count() == len(held)
    return held[PIPELINE_WARMUP:], held[:PIPELINE_WARMUP]


def load_articles(count: int = ARTICLES) -> list[str]:
    """1,000 articles in five languages, stored as an import of the generated DocFX files stores them."""
    from django.db import transaction
    from django.utils import timezone

    from bench.content import LANGUAGES as ARTICLE_LANGUAGES
    from bench.content import WITH_SPANS, generate
    from guidance.models import Article, Segment, Translation, segments_digest

    now = timezone.now()
    generated = [generate(i, count=count) for i in range(count)]
    articles = []
    for g in generated:
        article = Article(
            slug=g.slug,
            cloud="global",
            asset_id=g.asset_id,
            source_hash=g.source_hash,
            source_date=datetime.date(2024, 3, 1),
            metadata={"assetid": g.asset_id, "openlocfilehash": g.source_hash, "contentlocale": "en-us"},
        )
        for lang in ARTICLE_LANGUAGES:
            suffix = lang.replace("-", "_")
            setattr(article, f"title_{suffix}", g.title[lang])
            setattr(article, f"description_{suffix}", g.description[lang])
            setattr(article, f"body_{suffix}", g.body[lang])
        article.refresh_search_text()
        articles.append(article)
    with transaction.atomic():
        Article.objects.bulk_create(articles, batch_size=200)
        translations = []
        for index, (article, g) in enumerate(zip(articles, generated, strict=True)):
            for lang in ARTICLE_LANGUAGES:
                outdated = lang == "ru" and index % 7 == 0
                translations.append(
                    Translation(
                        article=article,
                        language=lang,
                        translation_type="source"
                        if lang == "en"
                        else ("machine" if lang == "zh-hans" and index % 5 == 0 else "human"),
                        source_hash="0" * 40 if outdated else g.source_hash,
                        source_path=f"generated/{g.slug}.{lang}.md",
                        imported_at=now,
                        imported_digest=article.content_digest(lang),
                        has_segments=lang in WITH_SPANS,
                        segments_digest=segments_digest(
                            [(target, source) for _sid, source, target in g.segments.get(lang, [])]
                        ),
                        segments_current=len(g.segments.get(lang, [])),
                    )
                )
        Translation.objects.bulk_create(translations, batch_size=1000)
        by_key = {(t.article_id, t.language): t.pk for t in translations}
        segment_rows = [
            {
                "translation_id": by_key[(article.pk, lang)],
                "position": position,
                "segment_id": sid,
                "source": source,
                "english": source,
                "target": target,
                "state": "current",
            }
            for article, g in zip(articles, generated, strict=True)
            for lang in WITH_SPANS
            for position, (sid, source, target) in enumerate(g.segments[lang])
        ]
        _copy(Segment, segment_rows)
    return [g.slug for g in generated]


def analyse() -> None:
    """Planner statistics and visibility maps after the bulk load, as autovacuum would make them soon after
    (without the visibility map an index-only scan still visits every row's page)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
