"""Accessibility: axe-core (vendored, tests/e2e/vendor/axe-core) over every portal page and the admin pages the
portal owns, signed out and signed in as each partner role and as staff, in English and Japanese.

Each case is one page for one audience in one language: no critical and no serious violation of WCAG 2.0/2.1 A
and AA, and a failure lists each rule with its impact, help, the elements and the address. The pages are
built once for the module from one seeded partner (a server of the module's own, so that no test flushes the
data the next one reads) and each audience reuses one signed-in browser page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from cases import services
from cases.models import Cloud, Notification, SupportPlan
from cases.permissions import Action, Role, roles_allow
from cases.tokens import make_token
from guidance.models import Article
from portal.models import ApiToken
from tests.cast import force_login_with_code, member, open_dispute
from tests.factories import CustomerFactory, PartnerFactory, SubscriptionFactory, UserFactory

# django_db (not transactional) has the test database set up, and each case's own queries rolled back; the
# seed is committed once, by the module's fixture, and read by the module's server.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
AXE_DIR = Path(__file__).resolve().parent / "vendor" / "axe-core"
AXE_VERSION = "4.14.1"  # as in vendor/axe-core/README.md
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("critical", "serious")
PASSWORD = "correct-horse-battery-staple"
CJK = "ja"

SIGNED_OUT = "signed_out"
STAFF = "staff"
PENDING = "code_owed"  # password given, the two-step code not yet

RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
  });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 160)})),
  }));
}"""


# --- The seeded portal ---------------------------------------------------------------------------------


@dataclass
class Site:
    """What the pages are built from: the server, a session cookie per audience, the seeded objects."""

    url: str
    sessions: dict[str, str] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)


def _session_cookie(user, *, with_code: bool) -> str:
    client = Client()
    if with_code:
        force_login_with_code(client, user)
    else:
        client.force_login(user)  # a user with a factor: the code is owed (portal.mfa)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _seed() -> dict[str, Any]:
    """One partner with a member per role, a customer, cases in each state a page shows, guidance."""
    call_command("import_guidance", str(ROOT / "guidance" / "content"), verbosity=0)
    contoso = PartnerFactory(
        name="Contoso",
        mpn_id="1234567",
        case_prefix="CON",
        cloud=Cloud.GLOBAL,
        support_plan=SupportPlan.PREMIER,
    )
    members = {
        role: member(contoso, role, f"{role.replace('_', '.')}@contoso.example", PASSWORD)
        for role in Role.values
    }
    agent = members[Role.HELPDESK_AGENT]
    customer = CustomerFactory(
        partner=contoso,
        company_name="Tailspin Toys 株式会社",
        tenant_domain="tailspintoys.onmicrosoft.com",
        billing_contact_email="billing@tailspintoys.example",
        preferred_language="ja",
    )
    subscription = SubscriptionFactory(customer=customer, offer="Microsoft 365 E3", quantity=30)
    case = services.case_start(case=open_dispute(agent, customer), actor=agent)
    services.case_comment(case=case, actor=agent, message="Asked Microsoft for the seat history.")

    answers = {}
    for purpose in ("form", "done-en", f"done-{CJK}", "used"):
        resolved = services.case_start(
            case=open_dispute(agent, customer, title=f"Seats billed twice ({purpose})"), actor=agent
        )
        services.case_resolve(
            case=resolved,
            actor=agent,
            resolution_summary="We credited the five cancelled seats.",
            outcome="credit",
            credit_amount=Decimal("412.50"),
        )
        notification = Notification.objects.get(case=resolved)
        answers[purpose] = make_token(notification)
    services.customer_answer(notification=notification, answer="resolved")

    tokens = {role: ApiToken.issue(user=m.user, name="Reporting script")[0] for role, m in members.items()}
    staff = UserFactory(
        email="admin@portal.example",
        full_name="Ada Admin",
        password=PASSWORD,
        is_staff=True,
        is_superuser=True,
    )
    article = (
        Article.objects.filter(cloud=Cloud.GLOBAL, translations__language=CJK)
        .order_by("slug")
        .distinct()
        .first()
    )
    assert article is not None, "the seed guidance has no article translated into Japanese"

    sessions = {role: _session_cookie(m.user, with_code=True) for role, m in members.items()}
    sessions[STAFF] = _session_cookie(staff, with_code=True)
    sessions[PENDING] = _session_cookie(agent.user, with_code=False)
    return {
        "sessions": sessions,
        "case": case,
        "customer": customer,
        "subscription": subscription,
        "members": members,
        "tokens": tokens,
        "answers": answers,
        "article": article,
        "translation": article.translations.get(language=CJK),
    }


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker) -> Iterator[Site]:
    """The seeded portal on a server of this module's own; the database is emptied afterwards."""
    with django_db_blocker.unblock():
        server = LiveServer("localhost")
        server._live_server_modified_settings.enable()
        try:
            # Mail (the resolution e-mails) is sent in-process into Django's test outbox, not to the broker.
            with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
                seeded = _seed()
            yield Site(url=server.url, sessions=seeded.pop("sessions"), objects=seeded)
        finally:
            server._live_server_modified_settings.disable()
            server.stop()
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def pages(browser: Browser, site: Site) -> Iterator[Callable[[str], Page]]:
    """One browser page per audience, signed in by its session cookie, reused across the module."""
    opened: dict[str, Page] = {}

    def page_for(audience: str) -> Page:
        if audience not in opened:
            context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            # In every document before its own scripts, through the DevTools protocol: the pages'
            # Content-Security-Policy allows no inline script, and nothing is fetched.
            context.add_init_script(path=AXE_DIR / "axe.min.js")
            if audience != SIGNED_OUT:
                context.add_cookies(
                    [
                        {
                            "name": settings.SESSION_COOKIE_NAME,
                            "value": site.sessions[audience],
                            "url": site.url,
                        }
                    ]
                )
            opened[audience] = context.new_page()
        return opened[audience]

    yield page_for
    for page in opened.values():
        page.context.close()


# --- The pages -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A page to check: its address (from the seeded objects and the language), the status it answers with,
    and what a person does there first."""

    name: str
    path: Callable[[dict[str, Any], str], str]
    status: int = 200
    action: str | None = None  # the partner action the page needs: only the roles allowed it are checked
    every_role: bool = False  # what the page shows depends on the role: checked as each role that may open it
    prepare: Callable[[Page], None] | None = None
    ready: str | None = None  # a selector that shows the page's scripts have run
    dark: bool = False  # in the dark colour scheme (Django admin follows the system's)


def _article(o: dict[str, Any]) -> str:
    return f"guidance/{o['article'].cloud}/{o['article'].slug}/"


def _answer_resolved(page: Page) -> None:
    page.locator("main input[name=answer][value=resolved]").check()
    page.locator("main form button[type=submit]").click()
    expect(page.locator("main input[name=answer]")).to_have_count(0)  # the thank-you page


def _wrong_password(page: Page) -> None:
    page.locator("main input[name=username]").fill("global.admin@contoso.example")
    page.locator("main input[name=password]").fill("not-the-password")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("main .form-errors")).to_be_visible()


def _empty_case_form(page: Page) -> None:
    page.locator("main form.case-form button[type=submit]").click()
    expect(page.locator("main .field--error").first).to_be_visible()


def _japanese_body_tab(page: Page) -> None:
    """The body's tabs still work, by mouse and by keyboard: Japanese, then on to Russian."""
    tabs = page.locator(".ui-tabs").filter(has=page.locator("textarea[name=body_ja]"))
    tabs.get_by_role("tab", name="ja", exact=True).click()
    expect(page.locator("textarea[name=body_ja]")).to_be_visible()
    page.keyboard.press("ArrowRight")
    expect(page.locator("textarea[name=body_ru]")).to_be_visible()
    expect(tabs.get_by_role("tab", name="ru", exact=True)).to_be_focused()


SIGNED_OUT_PAGES = [
    Check("home", lambda o, lang: f"/{lang}/"),
    Check("guidance", lambda o, lang: f"/{lang}/guidance/"),
    Check("guidance-search", lambda o, lang: f"/{lang}/guidance/?q=invoice"),
    Check("article", lambda o, lang: f"/{lang}/{_article(o)}"),
    Check("article-bilingual", lambda o, lang: f"/{lang}/{_article(o)}?bilingual=1"),
    Check("sign-in", lambda o, lang: f"/{lang}/accounts/login/"),
    Check("sign-in-refused", lambda o, lang: f"/{lang}/accounts/login/", prepare=_wrong_password),
    Check("password-reset", lambda o, lang: f"/{lang}/accounts/password_reset/"),
    Check("password-reset-sent", lambda o, lang: f"/{lang}/accounts/password_reset/done/"),
    Check("password-reset-bad-link", lambda o, lang: f"/{lang}/accounts/reset/MQ/set-password/"),
    Check("answer", lambda o, lang: f"/{lang}/answer/{o['answers']['form']}/"),
    Check(
        "answer-done",
        lambda o, lang: f"/{lang}/answer/{o['answers'][f'done-{lang}']}/",
        prepare=_answer_resolved,
    ),
    Check("answer-used", lambda o, lang: f"/{lang}/answer/{o['answers']['used']}/", status=410),
    Check("answer-bad-link", lambda o, lang: f"/{lang}/answer/not-a-link/", status=404),
    Check("not-found", lambda o, lang: f"/{lang}/no-such-page/", status=404),
    Check("admin-sign-in", lambda o, lang: f"/{lang}/admin/login/"),
]

MEMBER_PAGES = [
    Check("home", lambda o, lang: f"/{lang}/", every_role=True),
    Check("guidance", lambda o, lang: f"/{lang}/guidance/"),
    Check("article", lambda o, lang: f"/{lang}/{_article(o)}"),
    Check("article-bilingual", lambda o, lang: f"/{lang}/{_article(o)}?bilingual=1"),
    Check("dashboard", lambda o, lang: f"/{lang}/cases/", action=Action.VIEW, every_role=True),
    Check("case-list", lambda o, lang: f"/{lang}/cases/all/", action=Action.VIEW),
    Check("case", lambda o, lang: f"/{lang}/cases/{o['case'].number}/", action=Action.VIEW, every_role=True),
    Check("new-case", lambda o, lang: f"/{lang}/cases/new/", action=Action.OPEN),
    Check(
        "new-case-refused",
        lambda o, lang: f"/{lang}/cases/new/",
        action=Action.OPEN,
        prepare=_empty_case_form,
    ),
    Check("customers", lambda o, lang: f"/{lang}/customers/", action=Action.VIEW),
    Check(
        "customer",
        lambda o, lang: f"/{lang}/customers/{o['customer'].pk}/",
        action=Action.VIEW,
        every_role=True,
    ),
    Check(
        "suspend-confirm",
        lambda o, lang: f"/{lang}/customers/{o['customer'].pk}/subscriptions/{o['subscription'].pk}/suspend/",
        action=Action.SUSPEND,
    ),
    Check("team", lambda o, lang: f"/{lang}/team/", action=Action.VIEW, every_role=True),
    Check(
        "deactivate-confirm",
        lambda o, lang: f"/{lang}/team/{o['members'][Role.SALES_AGENT].pk}/?operation=deactivate",
        action=Action.MANAGE_USERS,
    ),
    Check("audit", lambda o, lang: f"/{lang}/team/audit/", action=Action.AUDIT),
    Check("webhooks", lambda o, lang: f"/{lang}/webhooks/", action=Action.WEBHOOKS),
    Check("reports", lambda o, lang: f"/{lang}/reports/", action=Action.REPORT, every_role=True),
    Check(
        "reports-refused-period",
        lambda o, lang: f"/{lang}/reports/?from=2026-10-10&to=2026-10-01",
        action=Action.REPORT,
        status=400,
    ),
    Check("api-tokens", lambda o, lang: f"/{lang}/accounts/api-tokens/"),
    Check(
        "api-token-revoke",
        lambda o, lang: f"/{lang}/accounts/api-tokens/?revoke={o['tokens'][Role.GLOBAL_ADMIN].pk}",
    ),
    Check("two-step", lambda o, lang: f"/{lang}/accounts/mfa/"),
    Check("two-step-setup", lambda o, lang: f"/{lang}/accounts/mfa/totp/"),
    Check("password-change", lambda o, lang: f"/{lang}/accounts/password_change/"),
    Check("not-found", lambda o, lang: f"/{lang}/no-such-page/", status=404),
]

# The page a role meets where it may not go (403): the audit trail, which only Global admins read.
REFUSED = Check("refused", lambda o, lang: f"/{lang}/team/audit/", status=403)

# After the password, before the code.
CODE_STEP = Check("two-step-code", lambda o, lang: f"/{lang}/accounts/mfa/verify/")

ADMIN_PAGES = [
    Check("admin-index", lambda o, lang: f"/{lang}/admin/"),
    Check("admin-guidance", lambda o, lang: f"/{lang}/admin/guidance/"),
    Check("admin-articles", lambda o, lang: f"/{lang}/admin/guidance/article/"),
    Check(
        "admin-article",
        lambda o, lang: f"/{lang}/admin/guidance/article/{o['article'].pk}/change/",
        ready=".ui-tabs-nav [role=tab]",
        prepare=_japanese_body_tab,
    ),
    Check("admin-translations", lambda o, lang: f"/{lang}/admin/guidance/translation/"),
    Check(
        "admin-translation",
        lambda o, lang: f"/{lang}/admin/guidance/translation/{o['translation'].pk}/change/",
    ),
    Check("admin-cases", lambda o, lang: f"/{lang}/admin/cases/case/"),
    Check("admin-case", lambda o, lang: f"/{lang}/admin/cases/case/{o['case'].pk}/change/"),
    Check("admin-partner", lambda o, lang: f"/{lang}/admin/cases/partner/{o['case'].partner_id}/change/"),
    Check("admin-customer", lambda o, lang: f"/{lang}/admin/cases/customer/{o['customer'].pk}/change/"),
    Check("admin-articles-dark", lambda o, lang: f"/{lang}/admin/guidance/article/", dark=True),
    Check(
        "admin-article-dark",
        lambda o, lang: f"/{lang}/admin/guidance/article/{o['article'].pk}/change/",
        ready=".ui-tabs-nav [role=tab]",
        dark=True,
    ),
]


def _plan() -> Iterator[tuple[str, str, Check]]:
    """Each language: every page signed out; every partner page as a Global admin (who may open them all),
    and those whose content depends on the role as each other role that may open them; the refused page; the
    code step; the admin pages as staff. Grouped by audience, so that each browser page is reused in turn."""
    for language in ("en", CJK):
        yield from ((language, SIGNED_OUT, check) for check in SIGNED_OUT_PAGES)
        for role in Role.values:
            for check in MEMBER_PAGES:
                allowed = check.action is None or roles_allow([role], check.action)
                if allowed and (role == Role.GLOBAL_ADMIN or (check.every_role and language == "en")):
                    yield language, role, check
        yield language, Role.SALES_AGENT, REFUSED
        yield language, PENDING, CODE_STEP
        yield from ((language, STAFF, check) for check in ADMIN_PAGES)


def _cases() -> Iterator[Any]:
    for language, audience, check in _plan():
        yield pytest.param(language, audience, check, id=f"{language}-{audience}-{check.name}")


# --- The check -----------------------------------------------------------------------------------------


def _axe(page: Page) -> list[dict[str, Any]]:
    assert page.evaluate("window.axe && axe.version") == AXE_VERSION, "axe-core is not in the page"
    return page.evaluate(RUN_AXE, TAGS)


def report(violations: list[dict[str, Any]], url: str) -> str:
    """One paragraph per rule: id, impact, help, where to read more, then each element."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        lines.extend(f"    {node['target']}    {node['html']}" for node in v["nodes"])
        lines.append(f"    at {url}")
    return "\n".join(lines)


@pytest.mark.parametrize(("language", "audience", "check"), list(_cases()))
def test_page_has_no_critical_or_serious_violations(
    pages: Callable[[str], Page], site: Site, language: str, audience: str, check: Check
) -> None:
    """axe-core finds nothing critical or serious on the page, for this audience and language."""
    page = pages(audience)
    path = check.path(site.objects, language)
    page.emulate_media(color_scheme="dark" if check.dark else "light")
    response = page.goto(path)
    assert response is not None
    assert response.status == check.status, f"{path}: status {response.status}, expected {check.status}"
    # A lost session would check the sign-in page instead, and pass.
    assert page.url == site.url + path, f"{path} led to {page.url}"
    expect(page.locator("html")).to_have_attribute("lang", re.compile(f"^{language}"))
    if check.ready:
        expect(page.locator(check.ready).first).to_be_visible()
    if check.prepare:
        check.prepare(page)
    # Checked as a person reads it: every disclosure (the case's action forms, "Cannot scan it?") open.
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")

    violations = _axe(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{len(blocking)} critical or serious rule(s) fail:\n" + report(blocking, page.url)
